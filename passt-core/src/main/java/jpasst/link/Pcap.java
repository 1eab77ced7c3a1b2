package jpasst.link;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Instant;

import jpasst.packet.Checksum;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
import jpasst.packet.Ip6;
import jpasst.packet.TcpHdr;
import jpasst.packet.UdpHdr;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.util.Log;

/**
 * {@code -p FILE}: every frame crossing the guest side, both ways, in a classic pcap file
 * (pcap-savefile(5)) that tcpdump, tshark and Wireshark read: the 24-byte file header (magic
 * a1b2c3d4 in our byte order, version 2.4, snaplen 65535, LINKTYPE_ETHERNET), then per frame a
 * 16-byte record header (seconds, microseconds, captured length, length) and the frame.
 *
 * passt writes each frame with its own system calls as it passes. Here frames are copied into one
 * preallocated off-heap buffer and the buffer is written with one write(2) when it is full, at
 * least once a second ({@link #tick}, called after each batch of events), and when the daemon
 * exits ({@link #flush}, from the shutdown path that SIGTERM, SIGQUIT and --one-off take). The
 * frame path allocates nothing: timestamps come from System.nanoTime() added to the wall-clock
 * time read once when the file is opened.
 *
 * The file is opened (created 0600, truncated) before privileges are dropped, by the launching
 * command as passt opens it before it forks, so a daemon started as root may write it anywhere
 * root may. If it cannot be opened, that is said and the daemon runs without a capture, as passt.
 *
 * Either link records through it: a frame in one piece with {@link #frame}, a frame scattered
 * over several buffers (vhost-user) as its pieces in order ({@link #begin}, then {@link #piece}),
 * or frame {@code i} of a {@link FrameBatch} ({@link #frame(FrameBatch, int)}). Everything runs
 * on the loop thread, the last flush too (signals reach the loop as an event).
 */
public final class Pcap implements AutoCloseable {
    static final int MAGIC = 0xa1b2c3d4, VERSION_MAJOR = 2, VERSION_MINOR = 4;
    static final int SNAPLEN = 65535, LINKTYPE_ETHERNET = 1;
    static final int FILE_HEADER = 24, RECORD_HEADER = 16;
    static final int BUFFER = 4 << 20;
    static final long FLUSH_INTERVAL_NS = 1_000_000_000L;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final String path;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buf = arena.allocate(BUFFER, 64);
    private final long wallNanosAtOpen, nanoTimeAtOpen;
    private int fd;
    private int fill;
    private int pieceRoom; // bytes of the current record still to come (see begin)
    private long lastFlush;
    private long frames, bytesWritten, writeErrors;

    private Pcap(String path, int fd) {
        this.path = path;
        this.fd = fd;
        Instant now = Instant.now();
        this.nanoTimeAtOpen = System.nanoTime();
        this.wallNanosAtOpen = now.getEpochSecond() * 1_000_000_000L + now.getNano();
        this.lastFlush = nanoTimeAtOpen;
        buf.set(INT, 0, MAGIC);
        buf.set(SHORT, 4, (short) VERSION_MAJOR);
        buf.set(SHORT, 6, (short) VERSION_MINOR);
        buf.set(INT, 8, 0);          // thiszone: UTC
        buf.set(INT, 12, 0);         // sigfigs
        buf.set(INT, 16, SNAPLEN);
        buf.set(INT, 20, LINKTYPE_ETHERNET);
        fill = FILE_HEADER;
    }

    /**
     * Creates (or truncates) {@code path} and starts the capture with its file header; null, with
     * an error logged, if the file cannot be opened (passt carries on without a capture too).
     */
    public static Pcap open(String path) {
        int fd = openFile(path);
        return fd < 0 ? null : start(path, fd);
    }

    /**
     * Creates (or truncates) the capture file, as passt's pcap_init(): its descriptor, or -1 with
     * the error logged. The launching process opens it and hands it to the daemon.
     */
    public static int openFile(String path) {
        int fd;
        try (Arena a = Arena.ofConfined()) {
            fd = Descriptors.open(a.allocateFrom(path),
                    Descriptors.O_CREAT | Descriptors.O_TRUNC | Descriptors.O_WRONLY | Descriptors.O_CLOEXEC, 0600);
        }
        if (fd < 0) {
            Log.error("Couldn't open pcap file " + path + ": " + Errno.text(fd));
            return -1;
        }
        Log.info("Saving packet capture to " + path);
        return fd;
    }

    /** Starts the capture in {@code fd}, the file {@link #openFile} opened, with its file header. */
    public static Pcap start(String path, int fd) {
        Pcap p = new Pcap(path, fd);
        p.flush(); // the header, so that even a capture without frames is a valid file
        return p;
    }

    public String path() {
        return path;
    }

    /** Records a frame of {@code len} bytes at {@code off} of {@code s}. */
    public void frame(MemorySegment s, long off, int len) {
        begin(len);
        piece(s, off, len);
    }

    /**
     * Records a frame whose TCP or UDP checksum the guest left to the device (vhost-user's
     * NEEDS_CSUM: the field holds only the pseudo-header's sum): the record carries the checksum
     * the frame would have on a wire, so that a reader verifies it as it verifies the others.
     */
    public void frameCompletingChecksum(MemorySegment s, long off, int len) {
        begin(len);
        long at = fill;
        piece(s, off, len);
        if (fill - at == len) completeChecksum(buf, at, len);
    }

    private static void completeChecksum(MemorySegment f, long at, int len) {
        long ip = at + Eth.LEN, l4, pseudo;
        int proto, l4Len;
        if (len >= Eth.LEN + Ip4.MIN_LEN && Eth.type(f, at) == Eth.TYPE_IPV4) {
            int hl = Ip4.headerLength(f, ip), total = Ip4.totalLength(f, ip);
            if (hl < Ip4.MIN_LEN || total < hl || total > len - Eth.LEN || Ip4.isFragment(f, ip)) return;
            proto = Ip4.proto(f, ip);
            l4 = ip + hl;
            l4Len = total - hl;
            pseudo = Checksum.pseudo4(Ip4.src(f, ip), Ip4.dst(f, ip), proto, l4Len);
        } else if (len >= Eth.LEN + Ip6.LEN && Eth.type(f, at) == Eth.TYPE_IPV6) {
            int plen = Ip6.payloadLength(f, ip);
            if (plen > len - Eth.LEN - Ip6.LEN) return;
            long ul = Ip6.upperLayer(f, ip, Ip6.LEN + plen);
            if (ul < 0) return;
            proto = (int) (ul >>> 32);
            l4 = ip + (int) ul;
            l4Len = Ip6.LEN + plen - (int) ul;
            pseudo = Checksum.pseudo6(Ip6.srcHi(f, ip), Ip6.srcLo(f, ip), Ip6.dstHi(f, ip), Ip6.dstLo(f, ip), proto, l4Len);
        } else {
            return;
        }
        if (proto == 6 && l4Len >= TcpHdr.MIN_LEN) {
            TcpHdr.checksum(f, l4, l4Len, pseudo);
        } else if (proto == 17 && l4Len >= UdpHdr.LEN) {
            UdpHdr.checksum(f, l4, l4Len, pseudo);
        }
    }

    /** Records frame {@code i} of {@code b}: its headers, then its payload pieces. */
    public void frame(FrameBatch b, int i) {
        int left = b.payloadLength(i);
        begin(b.headerLength() + left);
        piece(b.header(i), b.headerOffset(i), b.headerLength());
        for (int p = b.firstPiece(i); p < b.endPiece(i) && left > 0; p++) {
            int n = Math.min(b.pieceLength(p), left);
            piece(b.pieceSegment(p), b.pieceOffset(p), n);
            left -= n;
        }
    }

    /**
     * Starts the record of a frame of {@code len} bytes, whose bytes follow in order with
     * {@link #piece} (those past the snap length are left out).
     */
    public void begin(int len) {
        pieceRoom = 0;
        if (fd < 0) return;
        int caplen = Math.min(len, SNAPLEN);
        if (fill + RECORD_HEADER + caplen > BUFFER) flushLocked();
        long t = wallNanosAtOpen + (System.nanoTime() - nanoTimeAtOpen);
        long base = fill;
        buf.set(INT, base, (int) (t / 1_000_000_000L));
        buf.set(INT, base + 4, (int) (t % 1_000_000_000L / 1000));
        buf.set(INT, base + 8, caplen);
        buf.set(INT, base + 12, len);
        fill += RECORD_HEADER;
        pieceRoom = caplen;
        frames++;
    }

    /** The next {@code len} bytes of the frame {@link #begin} started. */
    public void piece(MemorySegment s, long off, int len) {
        int n = Math.min(len, pieceRoom);
        if (n <= 0) return;
        MemorySegment.copy(s, off, buf, fill, n);
        fill += n;
        pieceRoom -= n;
    }

    /** After a batch of events: writes out what waits once a second has passed since the last write. */
    public void tick(long now) {
        if (fill > 0 && now - lastFlush >= FLUSH_INTERVAL_NS) flushLocked();
    }

    /** Writes out everything buffered. */
    public void flush() {
        flushLocked();
    }

    private void flushLocked() {
        lastFlush = System.nanoTime();
        if (fd < 0 || fill == 0) {
            fill = 0;
            return;
        }
        long done = 0;
        while (done < fill) {
            long n = Descriptors.write(fd, buf.address() + done, fill - done);
            if (n == -Errno.EINTR) continue;
            if (n <= 0) {
                if (writeErrors++ == 0) {
                    Log.warn("Cannot write to pcap file " + path + ": " + Errno.text(n < 0 ? (int) n : Errno.EIO)
                            + "; frames are lost from the capture");
                }
                break;
            }
            done += n;
        }
        bytesWritten += done;
        fill = 0;
    }

    public long frames() {
        return frames;
    }

    public long bytesWritten() {
        return bytesWritten;
    }

    /** Flushes and closes the file. */
    @Override
    public void close() {
        if (fd < 0) return;
        flushLocked();
        Descriptors.close(fd);
        fd = -1;
        arena.close();
    }
}
