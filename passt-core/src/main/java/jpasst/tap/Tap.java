package jpasst.tap;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.conf.Conf;
import jpasst.conf.ConfException;
import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.packet.Net;
import jpasst.sys.Errno;
import jpasst.sys.Libc;
import jpasst.sys.SockAddr;
import jpasst.util.Log;

/**
 * The guest side: QEMU's stream protocol over a UNIX socket, as passt's tap.c in passt mode.
 *
 * Each Ethernet frame travels with a 4-byte big-endian length in front. Input is read in large
 * chunks into one preallocated buffer; every complete frame in it goes to the {@link Handler}
 * where it lies (no copy), and a partial frame at the end is carried over to the next read.
 * A length below 14 or above 65535 cannot be a frame: the stream has lost its framing, so the
 * connection is reset ("bad frame size") and the next client is awaited, as passt does.
 *
 * Output is batched: producers {@link #reserve} room for a frame in the output buffer, write it
 * in place and {@link #commit} it; the daemon {@link #flush}es once per batch of events (see
 * {@link jpasst.Passt}), so many frames leave in one write. If QEMU does not keep up, the rest waits for EPOLLOUT; when even
 * the buffer is full, new frames are dropped (TCP recovers them, as with passt's full queues).
 *
 * One client at a time: a second connection is accepted and closed. When the client leaves the
 * daemon waits for the next one, or exits with --one-off / --fd.
 *
 * Hot path: no allocation per frame; both buffers are off-heap and preallocated.
 */
public final class Tap {
    public interface Handler {
        /** One frame from the guest, {@code len} bytes at {@code off} of {@code buf}. */
        void frame(MemorySegment buf, long off, int len);

        /** The guest's connection is gone: flows that belong to it must go too. */
        void guestGone();

        /**
         * The frames of one read have all been handed over, and the buffer they lie in is about
         * to be reused: whatever still points into it (data queued for a host socket) goes now.
         */
        default void framesDone() {}
    }

    /** Receives every frame crossing the guest side, both ways (the pcap writer). */
    public interface Capture {
        void frame(MemorySegment buf, long off, int len);
    }

    public static final int MIN_FRAME = 14, MAX_FRAME = 65535;
    /**
     * Output: 2 MB, 32 frames at MTU 65520, written in one go (the socket's buffer is made large).
     * A larger queue only delays every other flow's frames behind one bulk transfer's (8 MB is
     * 6 ms at 10 Gbit/s) and, once a bulk transfer fills it, stays resident.
     * Input: 1 MB a read, 16 frames at MTU 65520 or 700 at 1500, enough for a TCP flow's segments
     * to leave in one sendmsg. With the socket's buffer made large, an 8 MB buffer was filled by
     * every read of a bulk transfer, and all of it stayed resident (peak RSS 61 → 67 MB).
     */
    static final int IN_SIZE = 1 << 20, OUT_SIZE = 2 << 20;

    private final Conf conf;
    private final EventLoop loop;
    private final Handler handler;
    private final Arena arena = Arena.ofShared();
    // mapped, not allocated: only the part a busy guest fills becomes resident (RSS)
    private final MemorySegment in = Libc.mmapAnonymous(IN_SIZE + 4 + MAX_FRAME, arena);
    private final MemorySegment out = Libc.mmapAnonymous(OUT_SIZE, arena);
    private final MemorySegment scratch = arena.allocate(SockAddr.STORAGE, 8);
    private final MemorySegment scratchLen = arena.allocate(8, 8);
    private volatile Capture capture; // set once at start-up (tests: from another thread)
    private Runnable onOneOffExit = () -> {};
    private Runnable onDrained = () -> {};

    private int listenFd = -1;
    private long listenPausedUntil; // 0: listening (see pauseListening)
    private boolean warnedListenPaused;
    private int conn = -1;
    private String socketPath;
    private int inFill;
    private int outHead, outTail;
    private boolean waitingOut;
    private boolean starved;      // a producer was short of room since the output last drained
    private long framesIn, framesOut, framesDropped, badFrames;

    public Tap(Conf conf, EventLoop loop, Handler handler) {
        this.conf = conf;
        this.loop = loop;
        this.handler = handler;
        loop.handler(Refs.TAP_LISTEN, (ref, ev) -> acceptClient());
        loop.handler(Refs.TAP, this::onEvents);
        loop.onTick(this::tick);
    }

    /** Called when output that had to wait for EPOLLOUT has all been written. */
    public void onDrained(Runnable r) {
        Runnable prev = onDrained;
        onDrained = () -> {
            prev.run();
            r.run();
        };
    }

    public void capture(Capture c) {
        this.capture = c;
    }

    public void onOneOffExit(Runnable r) {
        this.onOneOffExit = r;
    }

    public String socketPath() {
        return socketPath;
    }

    public boolean connected() {
        return conn >= 0;
    }

    /** With --fd: serves the guest on that connected socket. */
    public void start() {
        if (conf.fd < 0) throw new IllegalStateException("no --fd: see listen()");
        adopt(conf.fd);
    }

    /**
     * Serves the guest on {@code fd}, a UNIX socket listening at {@code path} (bound by
     * {@link jpasst.Listeners}, maybe in the launching process): one client at a time.
     */
    public void listen(int fd, String path) {
        listenFd = fd;
        socketPath = path;
        Errno.check(loop.add(listenFd, Libc.EPOLLIN, EventLoop.ref(Refs.TAP_LISTEN, listenFd)), "epoll_ctl");
    }

    private void adopt(int fd) {
        int fl = Libc.fcntl(fd, Libc.F_GETFL, 0);
        if (fl < 0) throw new ConfException("Invalid --fd " + fd + ": " + Errno.text(fl));
        Libc.fcntl(fd, Libc.F_SETFL, fl | Libc.O_NONBLOCK);
        Libc.fcntl(fd, Libc.F_SETFD, Libc.FD_CLOEXEC);
        conn = fd;
        Errno.check(loop.add(conn, Libc.EPOLLIN | Libc.EPOLLRDHUP, EventLoop.ref(Refs.TAP, conn)), "epoll_ctl");
    }

    private void acceptClient() {
        int fd = Libc.accept4(listenFd, MemorySegment.NULL, MemorySegment.NULL,
                Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
        if (fd == -Errno.EMFILE || fd == -Errno.ENFILE) {
            pauseListening(Errno.text(fd));
            return;
        }
        if (fd < 0) return;
        if (conn >= 0) {
            Log.debug("Refusing a second guest connection: one client at a time");
            Libc.close(fd);
            return;
        }
        conn = fd;
        inFill = 0;
        outHead = outTail = 0;
        waitingOut = starved = false;
        largeBuffers(fd);
        int peer = peerPid(fd);
        Log.info(peer > 0 ? "accepted connection from PID " + peer : "accepted connection");
        loop.add(conn, Libc.EPOLLIN | Libc.EPOLLRDHUP, EventLoop.ref(Refs.TAP, conn));
        if (conf.oneOff) {
            loop.remove(listenFd);
        }
    }

    /**
     * Out of descriptors, a connection to the socket path cannot be accepted (not even to close
     * it) and stays pending, keeping the listening socket readable: rather than spin on it, stop
     * listening for a second, or until the guest we have leaves.
     */
    private void pauseListening(String why) {
        if (listenPausedUntil == 0) {
            if (!warnedListenPaused) {
                Log.warn("Can't accept a connection on " + socketPath + ": " + why + ", trying again in a second");
                warnedListenPaused = true;
            }
            loop.remove(listenFd);
        }
        listenPausedUntil = loop.now() + 1_000_000_000L;
        loop.wakeAt(listenPausedUntil);
    }

    private void resumeListening() {
        if (listenPausedUntil == 0 || listenFd < 0) return;
        listenPausedUntil = 0;
        loop.add(listenFd, Libc.EPOLLIN, EventLoop.ref(Refs.TAP_LISTEN, listenFd));
    }

    private void tick(long now) {
        if (listenPausedUntil != 0 && now - listenPausedUntil >= 0) resumeListening();
    }

    /**
     * As passt: the socket's buffers as large as the system allows (net.core.rmem_max and
     * wmem_max; the kernel clamps), or a write of a batch of frames to the guest would take
     * only the default 208 kB and wait for EPOLLOUT for the rest.
     */
    private void largeBuffers(int fd) {
        scratch.set(ValueLayout.JAVA_INT, 0, Integer.MAX_VALUE / 2);
        Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, scratch, 4);
        Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, scratch, 4);
    }

    private int peerPid(int fd) {
        final int soPeercred = 17;
        scratchLen.set(ValueLayout.JAVA_INT, 0, 12);
        if (Libc.getsockopt(fd, Libc.SOL_SOCKET, soPeercred, scratch, scratchLen) < 0) return -1;
        return scratch.get(ValueLayout.JAVA_INT, 0);
    }

    private void onEvents(long ref, int ev) {
        if (conn < 0) return;
        if ((ev & Libc.EPOLLOUT) != 0) flush();
        if ((ev & Libc.EPOLLIN) != 0) readFrames();
        if (conn >= 0 && (ev & (Libc.EPOLLHUP | Libc.EPOLLERR)) != 0 && (ev & Libc.EPOLLIN) == 0) {
            closeClient("Client connection closed");
        }
    }

    private void readFrames() {
        for (int rounds = 0; rounds < 4 && conn >= 0; rounds++) {
            long want = IN_SIZE - inFill;
            long n = Libc.read(conn, in.address() + inFill, want);
            if (n == 0) {
                closeClient("Client connection closed");
                return;
            }
            if (n < 0) {
                if (n == -Errno.EAGAIN || n == -Errno.EINTR) return;
                closeClient("Client connection error: " + Errno.text((int) n));
                return;
            }
            inFill += (int) n;
            if (!consume()) return;
            if (n < want) return; // the socket had less than we could take: drained
        }
    }

    /** Hands every complete frame to the handler; returns false if the connection was reset. */
    boolean consume() {
        int pos = 0;
        try {
            while (inFill - pos >= 4) {
                int len = in.get(Net.INT, pos);
                if (len < MIN_FRAME || len > MAX_FRAME) {
                    badFrames++;
                    closeClient("Bad frame size from guest (" + Integer.toUnsignedString(len) + "), resetting connection");
                    return false;
                }
                if (inFill - pos - 4 < len) break;
                framesIn++;
                int at = pos + 4;
                // Past the frame before handing it over: if a handler bug throws (the loop counts
                // and logs it), that frame is lost, not handed over again with all before and
                // after it on every read from then on.
                pos += 4 + len;
                if (capture != null) capture.frame(in, at, len);
                handler.frame(in, at, len);
                if (conn < 0) return false;
            }
        } finally {
            if (conn >= 0 && pos > 0) {
                try {
                    handler.framesDone();
                } finally {
                    if (conn >= 0) { // (a write error while it sent may have closed the connection)
                        int rest = inFill - pos;
                        if (rest > 0) MemorySegment.copy(in, pos, in, 0, rest);
                        inFill = rest;
                    }
                }
            }
        }
        return true;
    }

    private void closeClient(String why) {
        if (conn < 0) return;
        Log.info(why);
        loop.remove(conn);
        Libc.close(conn);
        conn = -1;
        inFill = 0;
        outHead = outTail = 0;
        waitingOut = starved = false;
        handler.guestGone();
        if (conf.oneOff) {
            Log.info("Client connection closed, exiting");
            onOneOffExit.run();
        } else {
            resumeListening(); // the guest's descriptors are free again
        }
    }

    // ---- output ----

    /** The output buffer frames are written into, at offsets returned by {@link #reserve}. */
    public MemorySegment out() {
        return out;
    }

    /**
     * Room for one frame of {@code len} bytes: returns the offset in {@link #out()} to write it at,
     * or -1 if there is no guest or no room (the frame is then dropped by the caller).
     */
    public long reserve(int len) {
        if (conn < 0) return -1;
        if (outTail + 4 + len > OUT_SIZE) {
            flush();
            if (outHead > 0 && outHead < outTail) {
                MemorySegment.copy(out, outHead, out, 0, outTail - outHead);
                outTail -= outHead;
                outHead = 0;
            }
            if (outTail + 4 + len > OUT_SIZE) {
                framesDropped++;
                starved = true;
                return -1;
            }
        }
        return outTail + 4;
    }

    /**
     * Free room for frames, so producers can hold back instead of dropping: the room after the
     * queued frames. The room before them, already written, is not counted: using it means
     * moving what is queued to the front (up to the whole buffer, for every batch of a bulk
     * transfer: 10% of the daemon's time at MTU 65520); the buffer starts over at its front when
     * it has drained, and producers that were short of room are then resumed ({@link #onDrained}).
     */
    public int room() {
        if (conn < 0) return 0;
        int r = OUT_SIZE - outTail - 4;
        if (r < 4 + MAX_FRAME) starved = true;
        return Math.max(0, r);
    }

    /** Queues the frame written at {@code off} (as returned by {@link #reserve}). */
    public void commit(long off, int len) {
        out.set(Net.INT, off - 4, len);
        outTail = (int) off + len;
        framesOut++;
        if (capture != null) capture.frame(out, off, len);
    }

    /**
     * Forgets the frames queued and not written yet. Not for the daemon: benchmarks that measure
     * frame synthesis reuse the output buffer with it instead of writing the frames out.
     */
    public void discardQueued() {
        outHead = outTail = 0;
    }

    /**
     * Writes out what is queued, as far as the socket takes it. Once all of it is written,
     * producers that waited for room go on ({@link #onDrained}), and what they queue is written
     * too, a few rounds at most; anything left then waits for EPOLLOUT.
     */
    public void flush() {
        for (int round = 0; round < 4 && conn >= 0; round++) {
            if (!writeQueued()) return; // EAGAIN: EPOLLOUT brings us back; or the client is gone
            boolean resume = waitingOut || starved;
            if (waitingOut) {
                waitingOut = false;
                loop.modify(conn, Libc.EPOLLIN | Libc.EPOLLRDHUP, EventLoop.ref(Refs.TAP, conn));
            }
            starved = false;
            if (!resume) return;
            onDrained.run();
            if (outHead == outTail) return;
        }
        if (conn >= 0 && outHead < outTail && !waitingOut) {
            waitingOut = true;
            loop.modify(conn, Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLOUT, EventLoop.ref(Refs.TAP, conn));
        }
    }

    /** Writes what is queued; true if all of it went (the buffer is then empty). */
    private boolean writeQueued() {
        while (outHead < outTail) {
            long n = Libc.send(conn, out.address() + outHead, outTail - outHead,
                    Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
            if (n == -Errno.ENOTSOCK_FALLBACK) {
                n = Libc.write(conn, out.address() + outHead, outTail - outHead);
            }
            if (n < 0) {
                if (n == -Errno.EAGAIN) {
                    if (!waitingOut) {
                        waitingOut = true;
                        loop.modify(conn, Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLOUT, EventLoop.ref(Refs.TAP, conn));
                    }
                    return false;
                }
                if (n == -Errno.EINTR) continue;
                closeClient("Client connection error: " + Errno.text((int) n));
                return false;
            }
            outHead += (int) n;
        }
        outHead = outTail = 0;
        return true;
    }

    public long framesIn() {
        return framesIn;
    }

    public long framesOut() {
        return framesOut;
    }

    public long framesDropped() {
        return framesDropped;
    }

    public long badFrames() {
        return badFrames;
    }

    public void close() {
        if (conn >= 0) Libc.close(conn);
        if (listenFd >= 0) Libc.close(listenFd);
        conn = listenFd = -1;
    }
}
