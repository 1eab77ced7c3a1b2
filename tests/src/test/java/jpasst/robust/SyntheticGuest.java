package jpasst.robust;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BooleanSupplier;

/**
 * A guest without a VM: it speaks QEMU's stream protocol (4-byte length, Ethernet frame) on the
 * daemon's UNIX socket, gets its address by DHCP, and runs any number of TCP connections to the
 * gateway (the host's loopback) with a small TCP of its own, all on the calling thread.
 *
 * The TCP is the minimum a well-behaved peer needs, written to be obviously right rather than
 * fast: window scaling, MSS, in-order receive with cumulative ACKs (out-of-order data is dropped
 * and acknowledged again), go-back-N retransmission on a timer (200 ms, doubling to 3 s), and
 * zero-window probes as Linux sends them (a bare ACK one byte behind). Each connection carries
 * one transfer ({@link Payloads}): the header and upload, a FIN, then the download until the
 * daemon's FIN; the download's sha256 decides whether it arrived intact.
 */
final class SyntheticGuest implements AutoCloseable {
    static final long MAC = 0x5254_00ab_cdefL;
    private static final int ETH = 14, IP = 20, TCP = 20;
    private static final int SYN = 2, RST = 4, PSH = 8, ACK = 16, FIN = 1;
    private static final int OUR_WS = 7;
    private static final long RTO_MIN = 200_000_000L, RTO_MAX = 3_000_000_000L, SYN_RTO = 1_000_000_000L;
    private static final int MAX_IN_FLIGHT = 1 << 20;

    enum State { SYN_SENT, ESTABLISHED, DONE, RESET, FAILED }

    /** One TCP connection and its transfer. */
    final class Conn {
        final int id, gport, sport, up, down;
        int dst;
        final byte[] header;
        final long upLen;
        State state = State.SYN_SENT;
        boolean started, gotSynAckFirst;
        int iss, sndUna, sndNxt, sndMax, peerWnd, peerWs;
        boolean finSent, finAcked;
        int rcvNxt;
        long rcvd;
        boolean finRcvd, mismatch, ackDue;
        long firstMismatch = -1;
        final MessageDigest sha = Payloads.sha256();
        long lastProgress, rto = RTO_MIN;
        String why;
        int liveIndex = -1;

        Conn(int id, int gport, int sport, int up, int down) {
            rto = SYN_RTO; // as Linux: one second for the SYN
            this.id = id;
            this.gport = gport;
            this.sport = sport;
            this.up = up;
            this.down = down;
            this.header = Payloads.header(up, down, id);
            this.upLen = 8L + Payloads.SIZES[up];
        }

        /** Lets the transfer begin (connections can be opened first and held). */
        void start() {
            started = true;
        }

        boolean intact() {
            return state == State.DONE && !mismatch;
        }

        long offset(int seq) {
            return (seq - (iss + 1)) & 0xffffffffL;
        }

        byte streamByte(long off) {
            return off < 8 ? header[(int) off] : Payloads.data(up)[(int) (off - 8)];
        }

        @Override
        public String toString() {
            return "conn " + id + " port " + gport + " " + state + " sent " + offset(sndUna) + "/" + upLen
                    + " got " + rcvd + "/" + Payloads.SIZES[down] + (finRcvd ? " FIN in" : "") + (finAcked ? " FIN acked" : "")
                    + " window " + peerWnd + (firstMismatch >= 0 ? " first wrong byte at " + firstMismatch : "")
                    + (why != null ? " (" + why + ")" : "");
        }
    }

    private final SocketChannel ch;
    private final Selector selector;
    private final byte[] inArr = new byte[32 << 20];
    private final ByteBuffer in = ByteBuffer.wrap(inArr);
    private final byte[] outArr = new byte[32 << 20];
    private final ByteBuffer out = ByteBuffer.wrap(outArr);
    private final Conn[] byPort = new Conn[65536];
    private final List<Conn> live = new ArrayList<>();
    private final int mss;
    private int addr, gw;
    private long daemonMac = 0xffff_ffff_ffffL;
    private int nextPort = 10000, nextId;
    private boolean eof;
    private long lastTimerScan, rotation;
    private byte[] dhcpReply;

    long framesIn, framesOut, retransmits, synRetransmits, probes, resetsIn, bytesDownIntact;

    SyntheticGuest(Path socket, int mss) throws IOException {
        this.mss = mss;
        ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
        ch.configureBlocking(false);
        selector = Selector.open();
        ch.register(selector, SelectionKey.OP_READ);
        in.flip();
    }

    int address() {
        return addr;
    }

    int gateway() {
        return gw;
    }

    boolean disconnected() {
        return eof;
    }

    // ------------------------------------------------------------------ DHCP

    /** DISCOVER, OFFER, REQUEST, ACK: learns the address, the gateway and the daemon's MAC. */
    void dhcp(long timeoutMs) throws IOException {
        int xid = ThreadLocalRandom.current().nextInt();
        sendDhcp(xid, 1, 0, 0);
        byte[] offer = awaitDhcp(xid, 2, timeoutMs);
        int yiaddr = i32(offer, ETH + IP + 8 + 16);
        int server = option(offer, 54);
        sendDhcp(xid, 3, yiaddr, server);
        byte[] ack = awaitDhcp(xid, 5, timeoutMs);
        addr = i32(ack, ETH + IP + 8 + 16);
        gw = option(ack, 3);
        daemonMac = mac(ack, 6);
    }

    private byte[] awaitDhcp(int xid, int type, long timeoutMs) throws IOException {
        dhcpReply = null;
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (System.nanoTime() < deadline && !eof) {
            poll(20);
            byte[] r = dhcpReply;
            if (r != null && i32(r, ETH + IP + 8 + 4) == xid && dhcpType(r) == type) return r;
        }
        throw new IOException("no DHCP reply of type " + type + " within " + timeoutMs + " ms");
    }

    private void sendDhcp(int xid, int type, int requested, int server) {
        ByteBuffer b = ByteBuffer.allocate(300);
        b.put((byte) 1).put((byte) 1).put((byte) 6).put((byte) 0).putInt(xid).putShort((short) 0)
                .putShort((short) 0x8000).putInt(0).putInt(0).putInt(0).putInt(0);
        b.putShort((short) (MAC >>> 32)).putInt((int) MAC);
        b.position(236);
        b.putInt(0x63825363).put((byte) 53).put((byte) 1).put((byte) type);
        if (requested != 0) b.put((byte) 50).put((byte) 4).putInt(requested);
        if (server != 0) b.put((byte) 54).put((byte) 4).putInt(server);
        b.put((byte) 55).put((byte) 2).put((byte) 1).put((byte) 3).put((byte) 255);
        byte[] bootp = b.array();
        int len = ETH + IP + 8 + bootp.length;
        int at = reserve(len);
        ethIp(at, 0xffff_ffff_ffffL, 17, 0, 0xffffffff, 8 + bootp.length);
        int u = at + ETH + IP;
        put16(outArr, u, 68);
        put16(outArr, u + 2, 67);
        put16(outArr, u + 4, 8 + bootp.length);
        put16(outArr, u + 6, 0);
        System.arraycopy(bootp, 0, outArr, u + 8, bootp.length);
        int c = checksum(outArr, u, 8 + bootp.length, pseudo(0, 0xffffffff, 17, 8 + bootp.length));
        put16(outArr, u + 6, c == 0 ? 0xffff : c);
        commit(len);
    }

    // ------------------------------------------------------------------ TCP

    /** Opens a connection to the gateway's {@code port} carrying the given transfer; SYN sent. */
    Conn connect(int port, int up, int down) {
        return connect(gw, port, up, down);
    }

    /** The same to any IPv4 address {@code dst}. */
    Conn connect(int dst, int port, int up, int down) {
        int gport = nextPort;
        for (int tries = 0; byPort[gport] != null; tries++) {
            if (tries > 60000) throw new IllegalStateException("no free guest port");
            gport = gport >= 60999 ? 10000 : gport + 1;
        }
        nextPort = gport >= 60999 ? 10000 : gport + 1;
        Conn c = new Conn(nextId++, gport, port, up, down);
        c.dst = dst;
        c.iss = ThreadLocalRandom.current().nextInt();
        c.sndUna = c.iss;
        c.sndNxt = c.iss + 1;
        c.sndMax = c.sndNxt;
        c.lastProgress = System.nanoTime();
        byPort[gport] = c;
        c.liveIndex = live.size();
        live.add(c);
        sendSyn(c);
        return c;
    }

    private void sendSyn(Conn c) {
        int len = ETH + IP + TCP + 8;
        int at = reserve(len);
        int t = ethIp(at, daemonMac, 6, addr, c.dst, TCP + 8);
        tcpHeader(t, c.gport, c.sport, c.iss, 0, SYN, 65535, TCP + 8);
        outArr[t + 20] = 2;
        outArr[t + 21] = 4;
        put16(outArr, t + 22, mss);
        outArr[t + 24] = 1;
        outArr[t + 25] = 3;
        outArr[t + 26] = 3;
        outArr[t + 27] = OUR_WS;
        tcpChecksum(t, TCP + 8, c.dst);
        commit(len);
    }

    /** A segment of {@code c} with {@code n} bytes of its upload stream from sequence {@code seq}. */
    private void segment(Conn c, int seq, int flags, int n) {
        int len = ETH + IP + TCP + n;
        int at = reserve(len);
        int t = ethIp(at, daemonMac, 6, addr, c.dst, TCP + n);
        tcpHeader(t, c.gport, c.sport, seq, c.rcvNxt, flags, 65535, TCP);
        long off = c.offset(seq);
        int p = t + TCP, i = 0;
        for (; i < n && off + i < 8; i++) outArr[p + i] = c.header[(int) (off + i)];
        if (i < n) System.arraycopy(Payloads.data(c.up), (int) (off + i - 8), outArr, p + i, n - i);
        tcpChecksum(t, TCP + n, c.dst);
        commit(len);
        c.ackDue = false;
    }

    private void tcpHeader(int t, int sport, int dport, int seq, int ack, int flags, int window, int hdrLen) {
        put16(outArr, t, sport);
        put16(outArr, t + 2, dport);
        put32(outArr, t + 4, seq);
        put32(outArr, t + 8, ack);
        outArr[t + 12] = (byte) (hdrLen / 4 << 4);
        outArr[t + 13] = (byte) flags;
        put16(outArr, t + 14, window);
        put16(outArr, t + 16, 0);
        put16(outArr, t + 18, 0);
    }

    private void tcpChecksum(int t, int len, int dst) {
        put16(outArr, t + 16, checksum(outArr, t, len, pseudo(addr, dst, 6, len)));
    }

    /** Sends what each connection may: data within the window, FIN, ACKs, probes; runs the timers. */
    private void transmit() {
        long now = System.nanoTime();
        boolean scan = now - lastTimerScan > 20_000_000L;
        if (scan) lastTimerScan = now;
        int count = live.size();
        int first = count == 0 ? 0 : (int) (rotation++ % count); // who goes first changes, so nobody starves
        for (int k = 0; k < count; k++) {
            Conn c = live.get((first + k) % count);
            if (room() < 70_000) return;
            if (c.state == State.SYN_SENT) {
                if (scan && now - c.lastProgress > c.rto) {
                    c.lastProgress = now;
                    c.rto = Math.min(c.rto * 2, RTO_MAX);
                    synRetransmits++;
                    sendSyn(c);
                }
                continue;
            }
            if (c.state != State.ESTABLISHED) continue;
            if (c.started) {
                if (scan && c.sndUna != c.sndMax && now - c.lastProgress > c.rto) {
                    // go back to the first byte not acknowledged
                    c.sndNxt = c.sndUna;
                    if (!c.finAcked) c.finSent = false;
                    c.lastProgress = now;
                    c.rto = Math.min(c.rto * 2, RTO_MAX);
                    retransmits++;
                }
                int window = Math.min(c.peerWnd, MAX_IN_FLIGHT);
                while (room() >= 70_000) {
                    long off = c.offset(c.sndNxt);
                    int inFlight = c.sndNxt - c.sndUna;
                    if (off >= c.upLen || inFlight >= window) break;
                    int n = (int) Math.min(Math.min(mss, c.upLen - off), window - inFlight);
                    segment(c, c.sndNxt, ACK | PSH, n);
                    c.sndNxt += n;
                    if (c.sndNxt - c.sndMax > 0) c.sndMax = c.sndNxt;
                }
                if (!c.finSent && c.offset(c.sndNxt) == c.upLen) {
                    segment(c, c.sndNxt, ACK | FIN, 0);
                    c.sndNxt++;
                    if (c.sndNxt - c.sndMax > 0) c.sndMax = c.sndNxt;
                    c.finSent = true;
                }
                if (scan && c.peerWnd == 0 && c.sndUna == c.sndMax && c.offset(c.sndNxt) < c.upLen
                        && now - c.lastProgress > c.rto) {
                    // zero window: probe as Linux does, with a bare ACK one byte behind
                    segment(c, c.sndUna - 1, ACK, 0);
                    c.lastProgress = now;
                    c.rto = Math.min(c.rto * 2, RTO_MAX);
                    probes++;
                }
            }
            if (c.ackDue) segment(c, c.sndNxt, ACK, 0);
        }
    }

    private void onTcp(byte[] f, int t, int len) {
        int sport = u16(f, t), dport = u16(f, t + 2);
        Conn c = byPort[dport];
        if (c == null || c.sport != sport) return;
        int seq = i32(f, t + 4), ack = i32(f, t + 8);
        int hl = (f[t + 12] & 0xf0) >>> 2;
        int flags = f[t + 13] & 0xff;
        int window = u16(f, t + 14);
        int dataLen = len - hl;
        if ((flags & RST) != 0) {
            resetsIn++;
            end(c, State.RESET, c.state == State.SYN_SENT ? "reset instead of SYN-ACK"
                    : "reset: RST seq " + (seq - c.rcvNxt) + " from the next expected, ack " + c.offset(ack)
                    + " of our stream; we had sent " + c.offset(c.sndMax) + ", acknowledged " + c.offset(c.sndUna)
                    + (c.finSent ? ", our FIN sent" : "") + " (" + (System.nanoTime() - c.lastProgress) / 1_000_000
                    + " ms since the last progress)");
            return;
        }
        long now = System.nanoTime();
        if (c.state == State.SYN_SENT) {
            if ((flags & (SYN | ACK)) != (SYN | ACK) || ack != c.iss + 1) return;
            c.peerWs = synOption(f, t, hl, 3);
            if (c.peerWs < 0) c.peerWs = 0;
            c.rcvNxt = seq + 1;
            c.sndUna = ack;
            c.peerWnd = window; // not scaled in a SYN
            c.state = State.ESTABLISHED;
            c.lastProgress = now;
            c.rto = RTO_MIN;
            c.ackDue = true;
            return;
        }
        if (c.state != State.ESTABLISHED) return;
        if ((flags & ACK) != 0) {
            c.peerWnd = window << c.peerWs;
            if (ack - c.sndUna > 0 && ack - c.sndMax <= 0) {
                c.sndUna = ack;
                if (c.sndNxt - ack < 0) c.sndNxt = ack;
                c.lastProgress = now;
                c.rto = RTO_MIN;
                if (c.finSent && ack == c.iss + 1 + (int) c.upLen + 1) c.finAcked = true;
            }
        }
        if (dataLen > 0 || (flags & FIN) != 0) c.ackDue = true;
        if (dataLen > 0) {
            if (seq == c.rcvNxt) {
                byte[] want = Payloads.data(c.down);
                if (c.rcvd + dataLen > want.length) {
                    c.mismatch = true;
                    if (c.firstMismatch < 0) c.firstMismatch = Math.max(c.rcvd, want.length);
                } else {
                    int m = Arrays.mismatch(f, t + hl, t + hl + dataLen, want, (int) c.rcvd, (int) c.rcvd + dataLen);
                    if (m >= 0) {
                        c.mismatch = true;
                        if (c.firstMismatch < 0) c.firstMismatch = c.rcvd + m;
                    }
                }
                c.sha.update(f, t + hl, dataLen);
                c.rcvd += dataLen;
                c.rcvNxt += dataLen;
            } else {
                return; // out of order or old: acknowledged again, the daemon resends
            }
        }
        if ((flags & FIN) != 0 && seq + dataLen == c.rcvNxt && !c.finRcvd) {
            c.finRcvd = true;
            c.rcvNxt++;
        }
        if (c.finRcvd && c.finAcked) {
            boolean whole = c.rcvd == Payloads.SIZES[c.down]
                    && MessageDigest.isEqual(c.sha.digest(), Payloads.sha(c.down));
            if (!whole) c.mismatch = true;
            else bytesDownIntact += c.rcvd;
            if (c.ackDue) segment(c, c.sndNxt, ACK, 0); // the last ACK, if the daemon's FIN came just now
            end(c, State.DONE, whole ? null : "download corrupted or short: " + c.rcvd + " bytes");
        }
    }

    private void end(Conn c, State s, String why) {
        c.state = s;
        c.why = why;
        byPort[c.gport] = null;
        Conn last = live.remove(live.size() - 1);
        if (last != c) {
            live.set(c.liveIndex, last);
            last.liveIndex = c.liveIndex;
        }
        c.liveIndex = -1;
    }

    /** Gives up on a connection (a test's deadline passed). */
    void abandon(Conn c, String why) {
        if (c.state == State.SYN_SENT || c.state == State.ESTABLISHED) end(c, State.FAILED, why);
    }

    /** Sends an RST for every open connection and forgets them. */
    void resetAll() {
        for (Conn c : new ArrayList<>(live)) {
            if (c.state == State.ESTABLISHED) {
                if (room() < 1000) flush();
                segment(c, c.sndNxt, RST | ACK, 0);
            }
            end(c, State.FAILED, "reset by the test");
        }
        flush();
    }

    int liveConnections() {
        return live.size();
    }

    // ------------------------------------------------------------------ frames in and out

    /** One round: write what is queued, wait up to {@code waitMs} for input, handle it, send more. */
    void poll(long waitMs) throws IOException {
        flush();
        if (eof) return;
        selector.select(Math.max(1, waitMs));
        selector.selectedKeys().clear();
        readFrames();
        transmit();
        flush();
    }

    /** Polls until {@code done} or {@code ms} pass; true if done. */
    boolean runUntil(BooleanSupplier done, long ms) throws IOException {
        long deadline = System.nanoTime() + ms * 1_000_000;
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline || eof) return done.getAsBoolean();
            poll(5);
        }
        return true;
    }

    private void readFrames() throws IOException {
        for (int round = 0; round < 64; round++) {
            in.compact();
            int n;
            try {
                n = ch.read(in);
            } finally {
                in.flip();
            }
            if (n < 0) {
                eof = true;
                return;
            }
            while (in.remaining() >= 4) {
                int p = in.position();
                int len = i32(inArr, p);
                if (in.remaining() < 4 + len) break;
                frame(inArr, p + 4, len);
                in.position(p + 4 + len);
            }
            if (n == 0) return;
        }
    }

    private void frame(byte[] f, int at, int len) {
        framesIn++;
        if (len < ETH + IP || u16(f, at + 12) != 0x0800) return;
        int ip = at + ETH;
        int ihl = (f[ip] & 0xf) * 4;
        int total = Math.min(u16(f, ip + 2), len - ETH);
        int proto = f[ip + 9] & 0xff;
        int l4 = ip + ihl;
        if (proto == 6 && total >= ihl + TCP) {
            onTcp(f, l4, total - ihl);
        } else if (proto == 17 && total >= ihl + 8 && u16(f, l4) == 67) {
            dhcpReply = Arrays.copyOfRange(f, at, at + len);
        }
    }

    private int room() {
        return out.capacity() - out.position();
    }

    private int reserve(int len) {
        if (room() < 4 + len) flush();
        if (room() < 4 + len) throw new IllegalStateException("guest output full");
        int at = out.position();
        put32(outArr, at, len);
        return at + 4;
    }

    private void commit(int len) {
        out.position(out.position() + 4 + len);
        framesOut++;
    }

    private void flush() {
        out.flip();
        try {
            while (out.hasRemaining()) {
                if (ch.write(out) == 0) break;
            }
        } catch (IOException e) {
            eof = true;
            out.clear();
            return;
        }
        out.compact();
    }

    /** Ethernet and IPv4 headers at {@code at}; returns the offset of the transport header. */
    private int ethIp(int at, long dstMac, int proto, int src, int dst, int l4Len) {
        put16(outArr, at, (int) (dstMac >>> 32));
        put32(outArr, at + 2, (int) dstMac);
        put16(outArr, at + 6, (int) (MAC >>> 32));
        put32(outArr, at + 8, (int) MAC);
        put16(outArr, at + 12, 0x0800);
        int ip = at + ETH;
        put16(outArr, ip, 0x4500);
        put16(outArr, ip + 2, IP + l4Len);
        put32(outArr, ip + 4, 0x4000); // id 0, DF
        outArr[ip + 8] = 64;
        outArr[ip + 9] = (byte) proto;
        put16(outArr, ip + 10, 0);
        put32(outArr, ip + 12, src);
        put32(outArr, ip + 16, dst);
        put16(outArr, ip + 10, checksum(outArr, ip, IP, 0));
        return ip + IP;
    }

    // ------------------------------------------------------------------ bytes

    static int checksum(byte[] b, int off, int len, long acc) {
        int end = off + (len & ~1);
        for (int i = off; i < end; i += 2) acc += ((b[i] & 0xff) << 8) | (b[i + 1] & 0xff);
        if ((len & 1) != 0) acc += (b[off + len - 1] & 0xff) << 8;
        while ((acc >>> 16) != 0) acc = (acc & 0xffff) + (acc >>> 16);
        return (int) (~acc & 0xffff);
    }

    static long pseudo(int src, int dst, int proto, int len) {
        return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
    }

    private static int synOption(byte[] f, int t, int hl, int kind) {
        for (int p = t + TCP; p < t + hl; ) {
            int k = f[p] & 0xff;
            if (k == 0) break;
            if (k == 1) {
                p++;
                continue;
            }
            if (p + 1 >= t + hl) break;
            int l = f[p + 1] & 0xff;
            if (l < 2) break;
            if (k == kind) return kind == 3 ? f[p + 2] & 0xff : u16(f, p + 2);
            p += l;
        }
        return -1;
    }

    private static int option(byte[] f, int code) {
        for (int p = ETH + IP + 8 + 240; p + 1 < f.length; ) {
            int c = f[p] & 0xff;
            if (c == 0) {
                p++;
                continue;
            }
            if (c == 255) break;
            if (c == code) return i32(f, p + 2);
            p += 2 + (f[p + 1] & 0xff);
        }
        return 0;
    }

    private static int dhcpType(byte[] f) {
        for (int p = ETH + IP + 8 + 240; p + 1 < f.length; ) {
            int c = f[p] & 0xff;
            if (c == 0) {
                p++;
                continue;
            }
            if (c == 255) break;
            if (c == 53) return f[p + 2] & 0xff;
            p += 2 + (f[p + 1] & 0xff);
        }
        return -1;
    }

    static int u16(byte[] b, int p) {
        return (b[p] & 0xff) << 8 | (b[p + 1] & 0xff);
    }

    static int i32(byte[] b, int p) {
        return (b[p] & 0xff) << 24 | (b[p + 1] & 0xff) << 16 | (b[p + 2] & 0xff) << 8 | (b[p + 3] & 0xff);
    }

    private static long mac(byte[] b, int p) {
        return (long) u16(b, p) << 32 | (i32(b, p + 2) & 0xffffffffL);
    }

    static void put16(byte[] b, int p, int v) {
        b[p] = (byte) (v >>> 8);
        b[p + 1] = (byte) v;
    }

    static void put32(byte[] b, int p, int v) {
        b[p] = (byte) (v >>> 24);
        b[p + 1] = (byte) (v >>> 16);
        b[p + 2] = (byte) (v >>> 8);
        b[p + 3] = (byte) v;
    }

    @Override
    public void close() throws IOException {
        selector.close();
        ch.close();
    }
}
