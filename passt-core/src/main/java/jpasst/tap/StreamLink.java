package jpasst.tap;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.conf.Conf;
import jpasst.conf.ConfException;
import jpasst.link.FrameBatch;
import jpasst.link.FramesFromGuest;
import jpasst.link.Link;
import jpasst.link.Pcap;
import jpasst.link.Receiver;
import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.packet.Net;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Memory;
import jpasst.sys.Msghdr;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;
import jpasst.sys.SocketOptions;
import jpasst.util.Log;

/**
 * The guest link over QEMU's stream protocol on a UNIX socket, as passt's tap.c in passt mode.
 *
 * Each Ethernet frame travels with a 4-byte big-endian length in front. Input is read in large
 * chunks into one preallocated buffer; the complete frames in it go to the {@link Receiver} as
 * one batch, where they lie (no copy), and a partial frame at the end is carried over to the
 * next read. A length below 14 or above 65535 cannot be a frame: the stream has lost its
 * framing, so the connection is reset ("bad frame size") and the next client is awaited, as
 * passt does.
 *
 * Output is batched: producers reserve room for frames in the output buffer, write them in
 * place and commit them (the length prefix is written here); the daemon {@link #flush}es once
 * per batch of events, so many frames leave in one write (one sendmsg around the room that
 * frames shorter than their reservation leave: {@link #commit(FrameBatch, int)}). If QEMU
 * does not keep up, the rest waits for EPOLLOUT; when even the buffer is full, new frames are
 * dropped (TCP recovers them, as with passt's full queues), and once the buffer has drained the
 * producers that came short hear "room again" ({@link Receiver#roomAgain}), an event the loop
 * delivers ({@link EventLoop#post}).
 *
 * One client at a time: a second connection is accepted and closed. When the client leaves the
 * daemon waits for the next one, or exits with --one-off / --fd.
 *
 * Hot path: no allocation per frame; both buffers are off-heap and preallocated.
 */
public final class StreamLink implements Link {
    public static final int MIN_FRAME = 14, MAX_FRAME = 65535;
    /**
     * Output: 2 MB, 32 frames at MTU 65520, written in one go (the socket's buffer is made large).
     * A larger queue only delays every other flow's frames behind one bulk transfer's (8 MB is
     * 6 ms at 10 Gbit/s) and, once a bulk transfer fills it, stays resident.
     * Input: 256 KB a read, 4 frames at MTU 65520 or 170 at 1500. What a read brings is sent on
     * to the host sockets before the next read, and at this size the kernel's copy out finds it
     * still in the CPU's cache: against 1 MB reads (three A/B runs each, synthetic guest), TCP
     * guest → host 65520 0.177–0.179 → 0.166–0.173 CPU-s/GB and 29.5–30.2 → 30.4–31.7 Gbit/s,
     * 1500 0.238–0.244 → 0.218–0.227 CPU-s/GB; 128 KB reads were worse at 65520 (0.189–0.196),
     * too few frames a read. With the socket's buffer made large, an 8 MB buffer was filled by
     * every read of a bulk transfer, and all of it stayed resident (peak RSS 61 → 67 MB).
     */
    static final int IN_SIZE = 256 << 10;
    public static final int OUT_SIZE = 2 << 20;
    /**
     * Gaps the output may hold (see {@link #commit(FrameBatch, int)}); past that many until the
     * queue drains, a frame is moved back against the one before it instead.
     */
    static final int MAX_GAPS = 128;
    /**
     * What a host socket read brought is written at once when what is queued reaches this many
     * bytes, not at the end of the loop's batch: the kernel's copy out of the buffer then finds
     * it still in the CPU's cache. Written at the batch's end, a flow's 64 datagrams of 32000
     * bytes made 1 MB writes over 2 MB of buffer, each datagram copied in and out through memory
     * (UDP host → guest, 32000 B, three A/B runs: 25.9–26.1 → 27.9–29.8 Gbit/s, 0.202–0.205 →
     * 0.178–0.187 CPU-s/GB; upstream passt writes after each recvmmsg). For TCP the same holds
     * with reads of at most {@link #READ_LIMIT}; with TCP reads of up to the whole buffer it did
     * not. Small frames still leave many to a write.
     */
    static final int WRITE_AT = 256 << 10;
    /**
     * The most a TCP read brings ({@link #readLimit}): 512 KB, written at once ({@link #WRITE_AT})
     * while it is in the cache, rather than up to 2 MB written at the batch's end (TCP host →
     * guest, three A/B runs each: 65520 0.191–0.205 → 0.141–0.159 CPU-s/GB, 1500 0.243–0.282 →
     * 0.216–0.241, and 27.3–32.0 → 31.2–35.1 Gbit/s; a limit alone, without the early write,
     * changed nothing).
     */
    static final int READ_LIMIT = 512 << 10;

    private final Conf conf;
    private final EventLoop loop;
    private final Pcap capture; // null: none
    private final int listenFd; // -1: --fd
    private final String socketPath;
    private final Arena arena = Arena.ofShared();
    // mapped, not allocated: only the part a busy guest fills becomes resident (RSS)
    private final MemorySegment in = Memory.mmapAnonymous(IN_SIZE + 4 + MAX_FRAME, arena);
    private final MemorySegment out = Memory.mmapAnonymous(OUT_SIZE, arena);
    private final MemorySegment scratch = arena.allocate(SockAddr.STORAGE, 8);
    private final SocketOptions options = new SocketOptions();
    private final FramesFromGuest batch = new FramesFromGuest();
    private Receiver receiver;

    private long listenPausedUntil; // 0: listening (see pauseListening)
    private boolean warnedListenPaused;
    private int conn = -1;
    private String failure;         // a write failed: the connection closes at the next safe point
    private int inFill;
    private int captured;           // input before this offset went to the capture already
    private int outHead, outTail;
    private int queued;             // bytes of frames (with their length prefixes) between outHead and outTail
    /**
     * Bytes of the queue that are not frames, from {@code gapFrom[k]} to {@code gapTo[k]}, in
     * order, the first {@code gapFirst} of them written past already; written around with one
     * sendmsg over the runs between them ({@link #runs}).
     */
    private final int[] gapFrom = new int[MAX_GAPS], gapTo = new int[MAX_GAPS];
    private int gapFirst, gapCount;
    private final MemorySegment runs = arena.allocate((long) Msghdr.IOVEC * (MAX_GAPS + 1), 8);
    private final MemorySegment runsMsg = arena.allocate(Msghdr.SIZE, 8);
    private boolean notSocket;      // --fd of something that is not a socket: no sendmsg, no gaps
    private boolean batchReserved;  // a producer's FrameBatch holds room until its commit
    private boolean waitingOut;
    private boolean starved;        // a producer came short of room since the output last drained
    private boolean roomPosted;
    private long framesIn, framesOut, framesDropped, badFrames;
    private long bytesIn;           // read from the guest's connection (this one: 0 when it goes)
    private boolean closed;

    /**
     * A link on {@code listenFd}, a UNIX socket listening at {@code socketPath} (bound by
     * {@code jpasst.Listeners}, maybe in the launching process), or with {@code listenFd} -1 on
     * the connected socket of --fd ({@link Conf#fd}). Frames both ways go to {@code capture}
     * too, unless it is null.
     */
    public StreamLink(Conf conf, EventLoop loop, Pcap capture, int listenFd, String socketPath) {
        if (listenFd < 0 && conf.fd < 0) throw new IllegalStateException("neither a listening socket nor --fd");
        this.conf = conf;
        this.loop = loop;
        this.capture = capture;
        this.listenFd = listenFd;
        this.socketPath = socketPath;
        loop.handler(Refs.TAP_LISTEN, (ref, ev) -> acceptClient());
        loop.handler(Refs.TAP, this::onEvents);
        loop.handler(Refs.TAP_ROOM, (ref, ev) -> {
            roomPosted = false;
            if (conn >= 0) receiver.roomAgain();
        });
        loop.onTick(this::tick);
    }

    @Override
    public void start(Receiver r) {
        if (receiver != null) throw new IllegalStateException("started already");
        receiver = r;
        if (listenFd >= 0) {
            Errno.check(loop.add(listenFd, Epoll.EPOLLIN, EventLoop.ref(Refs.TAP_LISTEN, listenFd)), "epoll_ctl");
        } else {
            adopt(conf.fd);
        }
    }

    /** Where the listening socket is bound; null with --fd. */
    public String socketPath() {
        return socketPath;
    }

    @Override
    public boolean connected() {
        return conn >= 0;
    }

    private void adopt(int fd) {
        int fl = Descriptors.fcntl(fd, Descriptors.F_GETFL, 0);
        if (fl < 0) throw new ConfException("Invalid --fd " + fd + ": " + Errno.text(fl));
        Descriptors.fcntl(fd, Descriptors.F_SETFL, fl | Descriptors.O_NONBLOCK);
        Descriptors.fcntl(fd, Descriptors.F_SETFD, Descriptors.FD_CLOEXEC);
        conn = fd;
        Errno.check(loop.add(conn, Epoll.EPOLLIN | Epoll.EPOLLRDHUP, EventLoop.ref(Refs.TAP, conn)), "epoll_ctl");
    }

    private void acceptClient() {
        int fd = Sockets.accept4(listenFd, MemorySegment.NULL, MemorySegment.NULL,
                Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC);
        if (fd == -Errno.EMFILE || fd == -Errno.ENFILE) {
            pauseListening(Errno.text(fd));
            return;
        }
        if (fd < 0) return;
        if (conn >= 0) {
            Log.debug("Refusing a second guest connection: one client at a time");
            Descriptors.close(fd);
            return;
        }
        conn = fd;
        resetBuffers();
        largeBuffers(fd);
        int peer = options.peerPid(fd);
        Log.info(peer > 0 ? "accepted connection from PID " + peer : "accepted connection");
        loop.add(conn, Epoll.EPOLLIN | Epoll.EPOLLRDHUP, EventLoop.ref(Refs.TAP, conn));
        if (conf.oneOff) {
            loop.remove(listenFd);
        }
    }

    private void resetBuffers() {
        bytesIn = 0;
        inFill = captured = 0;
        outHead = outTail = queued = 0;
        gapFirst = gapCount = 0;
        notSocket = false;
        failure = null;
        batchReserved = waitingOut = starved = false;
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
        loop.add(listenFd, Epoll.EPOLLIN, EventLoop.ref(Refs.TAP_LISTEN, listenFd));
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
        Sockets.setsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_RCVBUF, scratch, 4);
        Sockets.setsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_SNDBUF, scratch, 4);
    }

    private void onEvents(long ref, int ev) {
        if (conn < 0) return;
        if ((ev & Epoll.EPOLLOUT) != 0) writeQueued();
        if ((ev & Epoll.EPOLLIN) != 0 && failure == null) readFrames();
        if (failure != null) {
            closeClient(failure);
        } else if (conn >= 0 && (ev & (Epoll.EPOLLHUP | Epoll.EPOLLERR)) != 0 && (ev & Epoll.EPOLLIN) == 0) {
            closeClient("Client connection closed");
        }
    }

    // ---- input

    private void readFrames() {
        for (int rounds = 0; rounds < 4 && conn >= 0 && failure == null; rounds++) {
            long want = IN_SIZE - inFill;
            long n = Descriptors.read(conn, in.address() + inFill, want);
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
            bytesIn += n;
            if (!handOver()) return;
            if (n < want) return; // the socket had less than we could take: drained
        }
    }

    /**
     * The frame's way in: the complete frames in the input buffer go to the receiver, a batch
     * at a time, where they lie; it dispatches them and sends what the flows queued from them
     * before it returns. Then their bytes are dropped from the buffer, and what is left (a
     * partial frame; frames after one the receiver threw on) moves to its front for the next
     * read. Returns false if the connection was reset (a bad length) or has gone meanwhile.
     */
    boolean handOver() {
        int pos = 0; // input before this was handed over and taken
        try {
            while (true) {
                batch.clear();
                int end = pos;
                boolean badLength = false;
                while (!batch.full() && inFill - end >= 4) {
                    int len = in.get(Net.INT, end);
                    if (len < MIN_FRAME || len > MAX_FRAME) {
                        badLength = true;
                        break;
                    }
                    if (inFill - end - 4 < len) break;
                    if (capture != null && end >= captured) capture.frame(in, end + 4, len);
                    batch.add(in, end + 4, len);
                    end += 4 + len;
                }
                captured = Math.max(captured, end);
                if (batch.count() > 0) {
                    framesIn += batch.count();
                    boolean returned = false;
                    try {
                        receiver.receive(batch);
                        returned = true;
                    } finally {
                        // (a receiver that threw, a bug, loses the frame it threw on, no more)
                        pos = returned ? end : past(pos, batch.taken());
                    }
                }
                if (conn < 0) return false;
                if (badLength) {
                    badFrames++;
                    closeClient("Bad frame size from guest ("
                            + Integer.toUnsignedString(in.get(Net.INT, end)) + "), resetting connection");
                    return false;
                }
                if (!batch.full()) return true;
            }
        } finally {
            if (conn >= 0 && pos > 0) {
                int rest = inFill - pos;
                if (rest > 0) MemorySegment.copy(in, pos, in, 0, rest);
                inFill = rest;
                captured = Math.max(0, captured - pos);
            }
        }
    }

    /** The input offset after the {@code frames} frames that start at {@code pos}. */
    private int past(int pos, int frames) {
        for (int i = 0; i < frames; i++) pos += 4 + in.get(Net.INT, pos);
        return pos;
    }

    private void closeClient(String why) {
        if (conn < 0) return;
        Log.info(why);
        loop.remove(conn);
        Descriptors.close(conn);
        conn = -1;
        resetBuffers();
        receiver.guestGone();
        if (conf.oneOff) {
            Log.info("Client connection closed, exiting");
            loop.stop();
        } else {
            resumeListening(); // the guest's descriptors are free again
        }
    }

    // ---- output

    @Override
    public MemorySegment out() {
        return out;
    }

    @Override
    public long reserve(int len) {
        if (conn < 0 || failure != null) return -1;
        if (batchReserved) throw new IllegalStateException("a frame reserved while a batch holds the output buffer");
        if (outTail + 4 + len > OUT_SIZE) {
            writeQueued(); // room at the front once it has all gone
            closeGaps();   // and the gaps' room after it
            if (outHead > 0 && outHead < outTail) { // what is left moves to the front
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

    @Override
    public void commit(long frame, int len) {
        out.set(Net.INT, frame - 4, len);
        outTail = (int) frame + len;
        queued += 4 + len;
        framesOut++;
        if (capture != null) capture.frame(out, frame, len);
    }

    /**
     * Frames for a host socket read, one after the other after the queued ones, each a length
     * prefix, {@code hdrLen} bytes of headers and its payload in one piece. Only the room after
     * the queued frames is used: making room before them means moving what is queued to the
     * front (up to the whole buffer, for every read of a bulk transfer: 10% of the daemon's time
     * at MTU 65520). Without room for one frame, what is queued is written first; once the
     * buffer has drained, the producer that came short hears "room again".
     */
    @Override
    public int reserve(FrameBatch b, int hdrLen, int maxPayload, int count) {
        b.clear(hdrLen);
        if (conn < 0 || failure != null) return 0;
        int stride = 4 + hdrLen + maxPayload;
        if (outTail + stride > OUT_SIZE && outHead < outTail) writeQueued();
        // the guest is behind and what waits for it has gaps: they are room (each frame moves once)
        if (gapFirst < gapCount && (OUT_SIZE - outTail) / stride < count) closeGaps();
        int n = Math.min(Math.min(count, (OUT_SIZE - outTail) / stride), Math.min(b.maxFrames(), b.maxPieces()));
        if (n < count && n < Math.min(b.maxFrames(), b.maxPieces())) starved = true;
        if (n <= 0) return 0;
        long hdr = outTail + 4;
        for (int i = 0; i < n; i++, hdr += stride) {
            b.addFrame(out, hdr);
            b.addPiece(out, hdr + hdrLen, maxPayload);
        }
        batchReserved = true;
        return n;
    }

    /**
     * A frame shorter than its reservation (a datagram smaller than the largest) leaves unused
     * room before the next frame of the batch. That frame stays where it was received, and the
     * room is a gap the write goes around (one sendmsg over the runs between gaps), as passt
     * writes its frames from where each lies: moving it back was a copy of nearly every
     * datagram from a host socket of 32000 bytes each. Past {@link #MAX_GAPS}, or on a --fd
     * that is not a socket, the frame is moved back.
     */
    @Override
    public void commit(FrameBatch b, int frames) {
        batchReserved = false;
        if (conn < 0) return;
        int at = outTail; // where the next length prefix goes
        for (int i = 0; i < frames; i++) {
            long hdr = b.headerOffset(i);
            int len = b.headerLength() + b.payloadLength(i);
            if (hdr != at + 4) {
                if (gapCount < MAX_GAPS && !notSocket) {
                    gapFrom[gapCount] = at;
                    gapTo[gapCount] = (int) hdr - 4;
                    gapCount++;
                    at = (int) hdr - 4;
                } else {
                    MemorySegment.copy(out, hdr, out, at + 4, len);
                }
            }
            out.set(Net.INT, at, len);
            if (capture != null) capture.frame(out, at + 4, len);
            at += 4 + len;
            queued += 4 + len;
        }
        outTail = at;
        framesOut += frames;
        // (not while the guest is behind: the write waits for EPOLLOUT, and trying it again
        // after every read would only meet EAGAIN)
        if (queued >= WRITE_AT && !waitingOut && failure == null) writeQueued();
    }

    @Override
    public boolean checksumsNeeded() {
        return true;
    }

    @Override
    public boolean largeTcpFrames(boolean v6) {
        return false;
    }

    @Override
    public int readLimit() {
        return READ_LIMIT;
    }

    /**
     * Free room for frames after the queued ones (tests: an idle daemon has it all). Not what
     * producers use: they reserve, and learn from the reserve how much there was.
     */
    public int room() {
        return conn < 0 ? 0 : Math.max(0, OUT_SIZE - outTail - 4);
    }

    /**
     * Forgets the frames queued and not written yet. Not for the daemon: benchmarks that measure
     * frame synthesis reuse the output buffer with it instead of writing the frames out.
     */
    public void discardQueued() {
        outHead = outTail = queued = 0;
        gapFirst = gapCount = 0;
    }

    /** Writes out what is queued, as far as the socket takes it; the rest waits for EPOLLOUT. */
    @Override
    public void flush() {
        if (conn < 0) return;
        if (failure == null) writeQueued();
        if (failure != null) closeClient(failure);
    }

    /**
     * Writes what is queued; true if all of it went (the buffer is then empty, and producers
     * that came short hear "room again"). On EAGAIN it asks for EPOLLOUT; a failure marks the
     * connection, which closes at the next safe point (not in the middle of a producer's call).
     */
    private boolean writeQueued() {
        while (outHead < outTail) {
            long n;
            if (gapFirst < gapCount) {
                n = Sockets.sendmsg(conn, runsMessage(), Sockets.MSG_DONTWAIT | Sockets.MSG_NOSIGNAL);
                if (n == -Errno.ENOTSOCK_FALLBACK) {
                    notSocket = true;
                    closeGaps();
                    continue;
                }
            } else if (notSocket) {
                n = Descriptors.write(conn, out.address() + outHead, outTail - outHead);
            } else {
                n = Sockets.send(conn, out.address() + outHead, outTail - outHead, Sockets.MSG_DONTWAIT | Sockets.MSG_NOSIGNAL);
                if (n == -Errno.ENOTSOCK_FALLBACK) {
                    notSocket = true;
                    continue;
                }
            }
            if (n < 0) {
                if (n == -Errno.EAGAIN) {
                    if (!waitingOut) {
                        waitingOut = true;
                        loop.modify(conn, Epoll.EPOLLIN | Epoll.EPOLLRDHUP | Epoll.EPOLLOUT, EventLoop.ref(Refs.TAP, conn));
                    }
                    return false;
                }
                if (n == -Errno.EINTR) continue;
                failure = "Client connection error: " + Errno.text((int) n);
                return false;
            }
            advance(n);
        }
        outHead = outTail = queued = 0;
        gapFirst = gapCount = 0;
        if (waitingOut) {
            waitingOut = false;
            loop.modify(conn, Epoll.EPOLLIN | Epoll.EPOLLRDHUP, EventLoop.ref(Refs.TAP, conn));
        }
        if (starved) {
            starved = false;
            if (!roomPosted) {
                roomPosted = true;
                loop.post(EventLoop.ref(Refs.TAP_ROOM, 0));
            }
        }
        return true;
    }

    /** A message over the queue's runs, from {@link #outHead} around each gap to {@link #outTail}. */
    private MemorySegment runsMessage() {
        int iovs = 0, pos = outHead;
        for (int k = gapFirst; k < gapCount; k++) {
            Msghdr.iovec(runs, iovs++, out.address() + pos, gapFrom[k] - pos);
            pos = gapTo[k];
        }
        Msghdr.iovec(runs, iovs++, out.address() + pos, outTail - pos);
        return Msghdr.set(runsMsg, runs.address(), iovs);
    }

    /** {@link #outHead} past {@code n} bytes written, and past the gaps they reach. */
    private void advance(long n) {
        queued -= (int) n;
        int pos = outHead;
        while (gapFirst < gapCount && n >= gapFrom[gapFirst] - pos) {
            n -= gapFrom[gapFirst] - pos;
            pos = gapTo[gapFirst++];
        }
        outHead = pos + (int) n;
        if (gapFirst == gapCount) gapFirst = gapCount = 0;
    }

    /** Moves what is queued after each gap back against what comes before it: no gaps left. */
    private void closeGaps() {
        if (gapFirst == gapCount) return;
        int to = gapFrom[gapFirst];
        for (int k = gapFirst; k < gapCount; k++) {
            int end = k + 1 < gapCount ? gapFrom[k + 1] : outTail;
            MemorySegment.copy(out, gapTo[k], out, to, end - gapTo[k]);
            to += end - gapTo[k];
        }
        outTail = to;
        gapFirst = gapCount = 0;
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

    /** Bytes read from the guest's connection so far (0 without one). */
    public long bytesIn() {
        return bytesIn;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (conn >= 0) Descriptors.close(conn);
        if (listenFd >= 0) Descriptors.close(listenFd);
        conn = -1;
    }
}
