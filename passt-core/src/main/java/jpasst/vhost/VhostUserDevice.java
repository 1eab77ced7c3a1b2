package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.link.FrameBatch;
import jpasst.link.FramesFromGuest;
import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
import jpasst.packet.Ip6;
import jpasst.packet.TcpHdr;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Sockets;
import jpasst.sys.SocketOptions;
import jpasst.util.Log;

/**
 * A vhost-user-net back-end serving one front-end (QEMU) on the event loop: the guest's frames
 * are read from its transmit queue and written into its receive queue, in its own memory.
 *
 * The connection: the vhost-user socket (a listening one, {@link #listen}, or an inherited
 * connected one, {@link #adopt}) and the transmit queue's kick eventfd are in the one epoll loop;
 * messages go to {@link VhostUserSession}, which keeps the rings, the memory table and the
 * negotiated features. One front-end at a time: a second connection is accepted and closed. When
 * the front-end leaves, or breaks the protocol (one log line says how), its memory is unmapped,
 * its eventfds closed, its rings forgotten, {@link #onGone} runs, and the next front-end is
 * served (with one-off: {@link #onOneOffExit}).
 *
 * Frames from the guest: a kick runs {@link #onTx}, which takes the frames waiting with
 * {@link #popTx} into a {@link FramesFromGuest} batch, where they lie in guest memory, and gives
 * their buffers back with {@link #releaseTx}; if it stopped with frames left, the device runs it
 * again after the batch of events (and when it asks, {@link #resumeTx}). While the transmit queue
 * is started but disabled, or nobody listens, frames are taken and discarded, as the protocol
 * says.
 *
 * Frames to the guest: {@link #reserveRx} pops receive buffers for frames that a host socket
 * read fills in place and describes them in the producer's {@link FrameBatch} (headers in one
 * piece, payload in as many pieces as guest buffers); {@link #commitRx} hands the filled ones to
 * the guest and gives the rest back; {@link #sendRx} copies one frame (ARP, DHCP, NDP...). Both
 * write the virtio-net header (num_buffers with MRG_RXBUF, DATA_VALID) and pad frames shorter
 * than 60 bytes. What they filled becomes visible to the guest at {@link #publish} (used->idx,
 * then the call eventfd), run after every batch of events of the loop, so a batch of frames
 * costs one interrupt. When the guest has no receive buffers left, reservations fall short; once
 * it posts some (its kick of the receive queue, watched only then), {@link #onRxRoom} runs, from
 * the loop, never from inside a reservation.
 *
 * A ring the guest broke (see {@link Virtqueue}) is reported on the ring's err eventfd and the
 * connection is reset after the handler that found it returns, not from inside it; so is guest
 * memory that vanished under its mapping (a truncated file: see {@link #memoryFault}).
 *
 * Hot path (popTx, releaseTx, sendRx, reserveRx, commitRx, publish, kicks): no allocation per
 * frame (the chains of a pass and of a reservation are kept in {@link TxPass} and
 * {@link RxReservation}, preallocated).
 */
public final class VhostUserDevice implements VhostUserSession.KickWatch {
    /** Dropped chains logged as warnings per connection; after that, at debug level. */
    private static final int DROPS_LOGGED = 10;
    private static final int MIN_ETHERNET = 14;
    /** Padding for frames shorter than 60 bytes. */
    private static final MemorySegment ZEROS = Arena.global().allocate(VirtioNetHeader.MIN_FRAME, 8);

    private final EventLoop loop;
    private final Arena arena = Arena.ofShared();
    private final MessageChannel ch = new MessageChannel();
    private final VhostUserSession session;
    private final Virtqueue rx, tx;
    private final RxReservation rxRes = new RxReservation();
    private final TxPass txPass = new TxPass();
    private final FrameBatch single = new FrameBatch(1, 256);
    private final Pieces discarded = new Pieces(Virtqueue.MAX_PIECES);
    private final SocketOptions options = new SocketOptions();

    private Runnable onTx, onRxRoom = () -> {}, onGone = () -> {}, onOneOffExit = () -> {};
    private boolean oneOff;
    private int listenFd = -1, conn = -1;
    private String socketPath;
    private long listenPausedUntil;
    private int generation;
    private String failure;
    private boolean txPending, rxStarved, rxArmed;
    private long framesIn, framesOut, framesGathered, framesScattered, dropped, resets;
    /** Whether TCP frames scattered over several buffers are handed over where they lie (see {@link #passScatteredTcp}). */
    private boolean scatteredTcp = true;

    public VhostUserDevice(EventLoop loop) {
        this.loop = loop;
        session = new VhostUserSession(arena, this);
        rx = session.rx;
        tx = session.tx;
        loop.handler(Refs.VHOST_LISTEN, (ref, ev) -> accept());
        loop.handler(Refs.VHOST, this::onSocket);
        loop.handler(Refs.VHOST_KICK, this::onKick);
        loop.onEndOfBatch(this::endOfBatch);
        loop.onTick(this::tick);
    }

    // ---- wiring

    /** Runs when the guest kicked its transmit queue: take the frames with {@link #popTx}. */
    public void onTx(Runnable r) {
        onTx = r;
    }

    /** Runs when receive buffers are back after a reservation fell short. */
    public void onRxRoom(Runnable r) {
        onRxRoom = r;
    }

    /** Runs when the front-end has gone (flows of the guest go too). */
    public void onGone(Runnable r) {
        onGone = r;
    }

    /** With one-off, the first front-end leaving runs {@code r} (the daemon exits). */
    public void oneOff(boolean on, Runnable r) {
        oneOff = on;
        onOneOffExit = r;
    }

    /** Serves front-ends connecting to {@code fd}, a UNIX socket listening at {@code path}. */
    public void listen(int fd, String path) {
        listenFd = fd;
        socketPath = path;
        Errno.check(loop.add(fd, Epoll.EPOLLIN, EventLoop.ref(Refs.VHOST_LISTEN, fd)), "epoll_ctl");
    }

    /** Serves the front-end on {@code fd}, a connected socket (--fd). */
    public void adopt(int fd) {
        int fl = Errno.check(Descriptors.fcntl(fd, Descriptors.F_GETFL, 0), "--fd " + fd);
        Descriptors.fcntl(fd, Descriptors.F_SETFL, fl | Descriptors.O_NONBLOCK);
        connected(fd);
    }

    public String socketPath() {
        return socketPath;
    }

    // ---- the connection

    private void accept() {
        int fd = Sockets.accept4(listenFd, MemorySegment.NULL, MemorySegment.NULL, Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC);
        if (fd == -Errno.EMFILE || fd == -Errno.ENFILE) {
            if (listenPausedUntil == 0) {
                Log.warn("vhost-user: can't accept a connection on " + socketPath + ": " + Errno.text(fd)
                        + ", trying again in a second");
                loop.remove(listenFd);
            }
            listenPausedUntil = loop.now() + 1_000_000_000L;
            loop.wakeAt(listenPausedUntil);
            return;
        }
        if (fd < 0) return;
        if (conn >= 0) {
            Log.info("vhost-user: refusing a second front-end, one is connected");
            Descriptors.close(fd);
            return;
        }
        connected(fd);
        if (oneOff) loop.remove(listenFd);
    }

    private void tick(long now) {
        if (listenPausedUntil != 0 && now - listenPausedUntil >= 0 && listenFd >= 0) {
            listenPausedUntil = 0;
            loop.add(listenFd, Epoll.EPOLLIN, EventLoop.ref(Refs.VHOST_LISTEN, listenFd));
        }
    }

    private void connected(int fd) {
        conn = fd;
        generation++;
        failure = null;
        dropped = 0;
        ch.attach(fd);
        int peer = options.peerPid(fd);
        Log.info(peer > 0 ? "vhost-user: accepted connection from PID " + peer : "vhost-user: accepted connection");
        Errno.check(loop.add(fd, Epoll.EPOLLIN | Epoll.EPOLLRDHUP, EventLoop.ref(Refs.VHOST, generation & 0xffff_ffffL)),
                "epoll_ctl");
    }

    public boolean connected() {
        return conn >= 0;
    }

    private void socketEvents(long ref, int ev) {
        if (conn < 0 || EventLoop.value(ref) != (generation & 0xffff_ffffL)) return;
        if ((ev & Epoll.EPOLLIN) != 0) {
            try {
                for (int i = 0; i < 64 && conn >= 0; i++) {
                    int r = ch.read();
                    if (r == MessageChannel.AGAIN) break;
                    if (r == MessageChannel.CLOSED) {
                        disconnect(ch.closedWhy());
                        return;
                    }
                    try {
                        session.handle(ch);
                    } finally {
                        ch.done();
                    }
                    checkFailure();
                }
            } catch (VhostUserException e) {
                resets++;
                disconnect(e.getMessage() + ", resetting connection");
                return;
            }
        } else if ((ev & (Epoll.EPOLLHUP | Epoll.EPOLLERR | Epoll.EPOLLRDHUP)) != 0) {
            disconnect("closed by the front-end");
            return;
        }
        if (conn >= 0 && rxStarved && rxUsable()) armRxKick();
    }

    /** The front-end is gone or broke the protocol: everything it set up goes. */
    private void disconnect(String why) {
        if (conn < 0) return;
        Log.info("vhost-user: " + why);
        loop.remove(conn);
        Descriptors.close(conn);
        ch.detach();
        conn = -1;
        for (Virtqueue q : new Virtqueue[] {rx, tx}) {
            kick(q, -1);
            if (q.callFd >= 0) Descriptors.close(q.callFd);
            if (q.errFd >= 0) Descriptors.close(q.errFd);
        }
        session.reset();
        generation++;
        failure = null;
        txPending = rxArmed = false; // rxStarved stays: producers resume with the next front-end
        onGone.run();
        if (oneOff) {
            Log.info("vhost-user: front-end gone, exiting");
            onOneOffExit.run();
        }
    }

    /** {@link VhostUserSession.KickWatch}: (un)registers a ring's kick eventfd. */
    @Override
    public void kick(Virtqueue q, int fd) {
        if (q.kickFd >= 0) {
            loop.remove(q.kickFd);
            Descriptors.close(q.kickFd);
        }
        q.kickFd = fd;
        if (q == rx) rxArmed = false;
        if (fd < 0) return;
        int events = q == tx ? Epoll.EPOLLIN : 0; // the receive queue's kicks matter only when starved
        int r = loop.add(fd, events, kickRef(q));
        if (r < 0) throw new VhostUserException("the " + q.name + "'s kick descriptor cannot be watched: " + Errno.text(r));
    }

    private long kickRef(Virtqueue q) {
        return EventLoop.ref(Refs.VHOST_KICK, (generation & 0xffff_ffffL) << 8 | q.index);
    }

    private void kicked(long ref, int ev) {
        long v = EventLoop.value(ref);
        if (conn < 0 || v >>> 8 != (generation & 0xffff_ffffL)) return;
        Virtqueue q = (v & 0xff) == 0 ? rx : tx;
        if (q.kickFd < 0) return;
        if ((ev & (Epoll.EPOLLERR | Epoll.EPOLLHUP)) != 0 || !q.clearKick()) {
            fail(q, "the " + q.name + "'s kick descriptor is not an eventfd that works");
        } else if (q == tx) {
            serveTx();
        } else if (!rxStarved) {
            disarmRxKick();
        }
        // else the end of the batch looks for the buffers, resumes the producers and disarms;
        // a kick counted before the ring ran dry must not disarm it before the guest's next one
        checkFailure();
    }

    /**
     * A problem that ends the connection, found in the middle of a handler: the ring goes quiet
     * now, the connection is reset when the handler is done ({@link #checkFailure}).
     */
    private void fail(Virtqueue q, String why) {
        if (failure != null) return;
        failure = why;
        if (q != null) q.signalError();
    }

    private void checkFailure() {
        if (failure != null && conn >= 0) {
            resets++;
            Log.warn("vhost-user: " + failure + ", resetting connection");
            disconnect("connection reset");
        }
    }

    private void dropped(Virtqueue q) {
        dropped++;
        if (dropped <= DROPS_LOGGED) {
            Log.warn("vhost-user: dropped " + q.problem + (dropped == DROPS_LOGGED ? " (further drops at debug level)" : ""));
        } else if (Log.debugEnabled()) {
            Log.debug("vhost-user: dropped " + q.problem);
        }
    }

    private void batchDone() {
        if (conn < 0) return;
        publishAll();
        if (txPending && failure == null) {
            txPending = false;
            serveTx();
            publishAll();
        }
        if (rxStarved && rxUsable() && rx.hasAvailable()) {
            rxStarved = false;
            disarmRxKick();
            onRxRoom.run();
            publishAll();
        }
        checkFailure();
    }

    private void publishAll() {
        if (conn < 0) return;
        if (rxRes.batch != null) giveRx(rxRes.batch, 0); // reserved and never committed (see reserveRx)
        if (rx.mapped()) {
            rx.flush();
            rx.notifyGuest();
        }
        if (tx.mapped()) {
            tx.flush();
            tx.notifyGuest();
        }
        session.log.kick();
    }

    // ---- frames from the guest

    private boolean txUsable() {
        return conn >= 0 && failure == null && tx.ready() && tx.enabled;
    }

    /** Whether the transmit queue is running: {@link #popTx} can return frames. */
    public boolean txReady() {
        return txUsable();
    }

    private void serveTx() {
        if (onTx == null || !tx.enabled) {
            discardTx();
            return;
        }
        long before = framesIn;
        onTx.run();
        if (framesIn != before && txUsable() && tx.hasAvailable()) {
            resumeTx(); // the consumer stopped early: it goes on after this batch of events
        }
    }

    /**
     * Runs {@link #onTx} again after this batch of events: for a consumer that stopped taking
     * frames (the host side pushed back) and can take more now.
     */
    public void resumeTx() {
        txPending = true;
        loop.wakeAt(loop.now());
    }

    /** A started ring that is disabled, or nobody to take the frames: they are consumed and dropped. */
    private void discardTx() {
        Pieces p = discarded;
        while (conn >= 0 && failure == null && tx.ready()) {
            p.clear();
            int h = tx.pop(p);
            if (h == Virtqueue.DROPPED) continue;
            if (h == Virtqueue.BROKEN) {
                fail(tx, tx.problem);
                break;
            }
            if (h < 0) break;
            tx.fill(h, 0);
        }
        p.clear();
        if (tx.mapped()) {
            tx.flush();
            tx.notifyGuest();
        }
    }

    private int takeTx(FramesFromGuest in, int max, long maxBytes) {
        TxPass t = txPass;
        long bytes = 0;
        if (t.frames != 0) throw new IllegalStateException("popTx with the last pass not released");
        in.clear();
        if (!txUsable()) return 0;
        int limit = Math.min(max, FramesFromGuest.MAX);
        boolean offload = session.checksumOffload();
        Pieces p = t.pieces;
        while (t.frames < limit && bytes < maxBytes) {
            p.clear();
            int h = tx.pop(p);
            if (h == Virtqueue.DROPPED) {
                dropped(tx);
                continue;
            }
            if (h == Virtqueue.BROKEN) {
                fail(tx, tx.problem);
                break;
            }
            if (h < 0) break;
            long frameLen = tx.chainBytes - VirtioNetHeader.SIZE;
            if (frameLen < MIN_ETHERNET || frameLen > VhostUserSession.MAX_FRAME) {
                tx.fill(h, 0);
                tx.problem = "a frame of " + frameLen + " bytes on the transmit queue";
                dropped(tx);
                continue;
            }
            // (the header's first byte is in the chain's first buffer: none is empty)
            boolean checksumPending = offload
                    && (p.seg[0].get(ValueLayout.JAVA_BYTE, p.off[0]) & VirtioNetHeader.F_NEEDS_CSUM) != 0;
            int k = 0;
            long skip = VirtioNetHeader.SIZE;
            while (skip >= p.len[k]) {
                skip -= p.len[k];
                k++;
            }
            int head = (int) (p.len[k] - skip);
            if (head >= frameLen) {
                in.add(p.seg[k], p.off[k] + skip, (int) frameLen, checksumPending);
            } else if (checksumPending && scatteredTcp && head <= MAX_HEAD && t.scratchUsed + head <= t.scratch.byteSize()
                    && tcpHeadersWithin(p.seg[k], p.off[k] + skip, head, t.scratch, t.scratchUsed)) {
                // a TCP segment whose payload goes on in further buffers (Linux: its headers in
                // the first, the data in pages): its first buffer copied (the headers are then
                // ours, checked once), the payload handed over where it lies
                if (p.count - k - 1 > in.tailRoom()) {
                    tx.rewind(1); // no room to describe it this time: the next pass takes it
                    break;
                }
                in.add(t.scratch, t.scratchUsed, head, true);
                for (int j = k + 1; j < p.count; j++) in.addTail(p.seg[j].address() + p.off[j], p.len[j]);
                t.scratchUsed += (head + 7) & ~7L;
                framesScattered++;
            } else {
                if (t.scratchUsed + frameLen > t.scratch.byteSize()) {
                    tx.rewind(1); // scattered, and no room to copy it this time: the next pass takes it
                    break;
                }
                gather(p, k, skip, frameLen, t.scratch, t.scratchUsed);
                in.add(t.scratch, t.scratchUsed, (int) frameLen, checksumPending);
                t.scratchUsed += (frameLen + 7) & ~7L;
                framesGathered++;
            }
            t.head[t.frames++] = h;
            bytes += frameLen;
        }
        p.clear();
        if (t.frames > 0) {
            GuestMemory m = session.memory();
            m.pin();
            t.pinned = m;
            t.generation = generation;
            framesIn += t.frames;
        }
        return t.frames;
    }

    /**
     * Copies the {@code len} bytes at {@code off} of {@code s} to {@code at} of {@code copy} and
     * tells whether the copy holds a whole Ethernet, IPv4 or IPv6 and TCP header (of a TCP
     * segment: no IPv6 extension headers).
     */
    static boolean tcpHeadersWithin(MemorySegment s, long off, int len, MemorySegment copy, long at) {
        if (len < Eth.LEN + Ip4.MIN_LEN + TcpHdr.MIN_LEN) return false;
        MemorySegment.copy(s, off, copy, at, len);
        return tcpHeaders(copy, at, len);
    }

    static boolean tcpHeaders(MemorySegment s, long off, int len) {
        int type = Eth.type(s, off), l4;
        if (type == Eth.TYPE_IPV4) {
            int ihl = Ip4.headerLength(s, off + Eth.LEN);
            if (ihl < Ip4.MIN_LEN || Ip4.proto(s, off + Eth.LEN) != 6) return false;
            l4 = Eth.LEN + ihl;
        } else if (type == Eth.TYPE_IPV6) {
            if (len < Eth.LEN + Ip6.LEN + TcpHdr.MIN_LEN || Ip6.nextHeader(s, off + Eth.LEN) != 6) return false;
            l4 = Eth.LEN + Ip6.LEN;
        } else {
            return false;
        }
        if (len < l4 + TcpHdr.MIN_LEN) return false;
        int hl = TcpHdr.headerLength(s, off + l4);
        return hl >= TcpHdr.MIN_LEN && len >= l4 + hl;
    }

    /** The largest first buffer of a scattered TCP frame that is copied rather than the whole frame gathered. */
    static final int MAX_HEAD = 2048;

    private static void gather(Pieces p, int k, long skip, long len, MemorySegment dst, long dstOff) {
        long done = 0;
        for (; done < len; k++) {
            long n = Math.min(p.len[k] - skip, len - done);
            MemorySegment.copy(p.seg[k], p.off[k] + skip, dst, dstOff + done, n);
            done += n;
            skip = 0;
        }
    }

    private void giveTx() {
        TxPass t = txPass;
        if (t.frames > 0 && t.generation == generation && conn >= 0 && tx.mapped()) {
            for (int i = 0; i < t.frames; i++) tx.fill(t.head[i], 0);
            tx.flush();
            tx.notifyGuest();
        }
        abandon(t);
    }

    // ---- frames to the guest

    private boolean rxUsable() {
        return conn >= 0 && failure == null && rx.ready() && rx.enabled;
    }

    /** Whether the receive queue is running: frames can be sent to the guest. */
    public boolean rxReady() {
        return rxUsable();
    }

    /** Whether a frame may span several receive buffers (VIRTIO_NET_F_MRG_RXBUF negotiated). */
    public boolean mergeable() {
        return session.mergeable();
    }

    /** Whether the guest takes TCP frames of many segments over IPv6 ({@code v6}) or IPv4 (GUEST_TSO6/4). */
    public boolean segmentationOffload(boolean v6) {
        return session.segmentationOffload(v6);
    }

    private boolean copyRx(MemorySegment src, long off, int len) {
        if (len <= 0 || len > VhostUserSession.MAX_RX_FRAME) throw new IllegalArgumentException("frame of " + len + " bytes");
        FrameBatch b = single;
        if (takeRx(b, 0, len, 1) == 0) return false;
        if (b.capacity(0) < len) { // without MRG_RXBUF, one buffer smaller than the frame
            giveRx(b, 0);
            rx.problem = "a frame of " + len + " bytes, larger than a receive buffer (no MRG_RXBUF)";
            dropped(rx);
            return false;
        }
        copyIn(b, 0, src, off, len);
        b.payloadLength(0, len);
        giveRx(b, 1);
        return true;
    }

    /**
     * Copies {@code len} bytes at {@code off} of {@code src} into the payload pieces of frame
     * {@code i} of {@code b}, in order (a frame reserved without headers: all of it).
     */
    public static void copyIn(FrameBatch b, int i, MemorySegment src, long off, int len) {
        for (int p = b.firstPiece(i), end = b.endPiece(i); p < end && len > 0; p++) {
            int n = Math.min(b.pieceLength(p), len);
            MemorySegment.copy(src, off, b.pieceSegment(p), b.pieceOffset(p), n);
            off += n;
            len -= n;
        }
    }

    private int takeRx(FrameBatch b, int hdrLen, int maxPayload, int count) {
        RxReservation r = rxRes;
        if (r.batch != null) giveRx(r.batch, 0); // reserved and never committed: nothing was sent
        if (hdrLen < 0 || maxPayload < 0 || hdrLen + maxPayload > VhostUserSession.MAX_RX_FRAME) {
            throw new IllegalArgumentException("frames of " + hdrLen + " + " + maxPayload + " bytes");
        }
        b.clear(hdrLen);
        if (!rxUsable()) {
            starve();
            return 0;
        }
        boolean mrg = session.mergeable();
        long headRoom = VirtioNetHeader.SIZE + hdrLen;
        long want = VirtioNetHeader.SIZE + Math.max(hdrLen + maxPayload, VirtioNetHeader.MIN_FRAME);
        long least = VirtioNetHeader.SIZE + Math.max(hdrLen, VirtioNetHeader.MIN_FRAME);
        r.hdrLen = hdrLen;
        r.batch = b;
        int f = 0;
        count = Math.min(count, Math.min(b.maxFrames(), RxReservation.MAX_FRAMES));
        while (f < count && b.pieces() < b.maxPieces()) {
            int first = r.chains;
            long room = 0;
            int status = 0;
            while (room < want) {
                if (r.chains == RxReservation.MAX_CHAINS) {
                    status = Virtqueue.NO_ROOM;
                    break;
                }
                int start = r.pieces.count;
                int h = rx.pop(r.pieces);
                if (h == Virtqueue.DROPPED) {
                    dropped(rx);
                    continue;
                }
                if (h < 0) {
                    status = h;
                    break;
                }
                long bytes = rx.chainBytes;
                if ((r.chains == first && r.pieces.len[start] < headRoom) || (!mrg && bytes < least)) {
                    // it could never carry a frame: back to the guest, or it would be popped again and again
                    rx.problem = !mrg && bytes < least
                            ? "a receive buffer of " + bytes + " bytes, too small for any frame (no MRG_RXBUF)"
                            : "a receive buffer of " + r.pieces.len[start] + " bytes, too small for the "
                                    + headRoom + " bytes of a frame's headers";
                    r.pieces.count = start;
                    rx.fill(h, 0);
                    dropped(rx);
                    continue;
                }
                int c = r.chains++;
                r.head[c] = h;
                r.pieceStart[c] = start;
                r.pieceEnd[c] = r.pieces.count;
                r.chainBytes[c] = bytes;
                r.fromSpare[c] = rx.chainFromSpare;
                r.serial[c] = rx.availPops();
                room += bytes;
                if (!mrg) break;
            }
            if (status == Virtqueue.BROKEN) {
                fail(rx, rx.problem);
                giveBack(r, first);
                break;
            }
            if (room < want && (mrg || r.chains == first)) {
                // the guest's buffers ran out: a last, smaller frame in what there is, as passt's
                // vu_collect() does (a datagram larger than that is dropped by its producer)
                boolean partial = mrg && r.chains > first && room >= Math.max(least, headRoom + 1);
                if (!partial) giveBack(r, first);
                if (status == Virtqueue.EMPTY) starve();
                if (partial && frame(r, b, f, first, (int) Math.min(maxPayload, room - headRoom), headRoom)) f++;
                break;
            }
            if (!frame(r, b, f, first, (int) Math.min(maxPayload, room - headRoom), headRoom)) break;
            f++;
        }
        r.frames = f;
        if (r.chains == 0) {
            r.clear();
        } else {
            GuestMemory m = session.memory();
            m.pin();
            r.pinned = m;
            r.generation = generation;
        }
        return f;
    }

    /**
     * Describes chains {@code first..} of {@code r} to {@code b} as frame {@code f}: its headers
     * right after the virtio-net header in the first buffer, its payload pieces after them, up to
     * {@code cap} bytes; the chains the frame does not need go back. If the batch has not the
     * pieces for all of it, the first frame is made smaller and any later one is left for the
     * next reservation (false).
     */
    private boolean frame(RxReservation r, FrameBatch b, int f, int first, int cap, long headRoom) {
        Pieces p = r.pieces;
        int room = b.maxPieces() - b.pieces(), need = 0;
        int one = r.pieceStart[first];
        if (cap > 0 && room > 0 && r.chains == first + 1 && r.pieceEnd[first] == one + 1) {
            // the common case, a frame in one buffer (its length was checked against the headers
            // when popped, and the payload was capped to what follows them)
            r.frame(f, first);
            b.addFrame(p.seg[one], p.off[one] + VirtioNetHeader.SIZE);
            b.addPiece(p.seg[one], p.off[one] + headRoom, cap);
            return true;
        }
        long skip = headRoom, left = cap;
        for (int k = r.pieceStart[first], end = r.pieceEnd[r.chains - 1]; k < end && left > 0; k++) {
            if (skip >= p.len[k]) {
                skip -= p.len[k];
                continue;
            }
            if (need == room) {
                if (f > 0) {
                    giveBack(r, first);
                    return false;
                }
                cap -= (int) left; // the first frame: as much as the batch can describe
                break;
            }
            left -= Math.min(p.len[k] - skip, left);
            need++;
            skip = 0;
        }
        long bytes = Math.max(headRoom + cap, VirtioNetHeader.SIZE + VirtioNetHeader.MIN_FRAME), have = 0;
        int c = first;
        while (c < r.chains && have < bytes) have += r.chainBytes[c++];
        giveBack(r, c);
        r.frame(f, first);
        int h = r.headerPiece(f);
        b.addFrame(p.seg[h], p.off[h] + VirtioNetHeader.SIZE);
        skip = headRoom;
        left = cap;
        for (int k = h, end = r.endPiece(f); k < end && left > 0; k++) {
            if (skip >= p.len[k]) {
                skip -= p.len[k];
                continue;
            }
            int n = (int) Math.min(p.len[k] - skip, left);
            b.addPiece(p.seg[k], p.off[k] + skip, n);
            left -= n;
            skip = 0;
        }
        return true;
    }

    /** Gives back chains {@code from..} of {@code r}, last popped first. */
    private void giveBack(RxReservation r, int from) {
        for (int c = r.chains - 1; c >= from; c--) giveBackChain(r, c);
        if (from < r.chains) r.pieces.count = r.pieceStart[from];
        r.chains = Math.min(r.chains, from);
    }

    /** A chain reserved and not used: rewound if it was the last popped, else kept as a spare. */
    private void giveBackChain(RxReservation r, int c) {
        if (!r.fromSpare[c] && r.serial[c] == rx.availPops()) {
            rx.rewind(1);
        } else {
            rx.spare(r.head[c]);
        }
    }

    private void starve() {
        rxStarved = true;
        if (rxUsable()) armRxKick();
    }

    private void armRxKick() {
        if (rxArmed || rx.kickFd < 0) return;
        rxArmed = loop.modify(rx.kickFd, Epoll.EPOLLIN, kickRef(rx)) == 0;
    }

    private void disarmRxKick() {
        if (!rxArmed || rx.kickFd < 0) return;
        loop.modify(rx.kickFd, 0, kickRef(rx));
        rxArmed = false;
    }

    private void giveRx(FrameBatch b, int frames) {
        RxReservation r = rxRes;
        if (r.batch != b) {
            // nothing reserved for it (none could be), or the front-end left and took its buffers
            if (frames > 0 && r.batch == null && b.frames() == 0) throw new IllegalArgumentException(frames + " of 0 frames");
            return;
        }
        if (frames < 0 || frames > r.frames) throw new IllegalArgumentException(frames + " of " + r.frames + " frames");
        if (r.generation != generation || conn < 0 || !rx.mapped()) { // the front-end left meanwhile
            abandon(r);
            return;
        }
        DirtyLog log = session.log;
        Pieces p = r.pieces;
        int mss = b.segmentSize() > 0 && session.segmentationOffload(b.segmentsV6()) ? b.segmentSize() : 0;
        int gsoType = b.segmentsV6() ? VirtioNetHeader.GSO_TCPV6 : VirtioNetHeader.GSO_TCPV4;
        for (int f = 0; f < frames; f++) {
            long frameLen = r.hdrLen + (long) b.payloadLength(f);
            long bytes = VirtioNetHeader.SIZE + Math.max(frameLen, VirtioNetHeader.MIN_FRAME);
            if (frameLen < VirtioNetHeader.MIN_FRAME) pad(r, f, VirtioNetHeader.SIZE + frameLen, VirtioNetHeader.MIN_FRAME - frameLen);
            int buffers = 0;
            long left = bytes;
            for (int c = r.firstChain[f], end = c + r.chainCount[f]; c < end && left > 0; c++) {
                int n = (int) Math.min(r.chainBytes[c], left);
                rx.fill(r.head[c], n);
                if (log.logging()) markWritten(r, c, n, log);
                r.head[c] = -1;
                buffers++;
                left -= n;
            }
            int h = r.headerPiece(f);
            if (mss > 0 && b.payloadLength(f) > mss) {
                VirtioNetHeader.write(p.seg[h], p.off[h], buffers, gsoType, r.hdrLen, mss);
            } else {
                VirtioNetHeader.write(p.seg[h], p.off[h], buffers);
            }
        }
        framesOut += frames;
        for (int c = r.chains - 1; c >= 0; c--) {
            if (r.head[c] >= 0) giveBackChain(r, c);
        }
        abandon(r);
    }

    private static void markWritten(RxReservation r, int c, long n, DirtyLog log) {
        Pieces p = r.pieces;
        for (int k = r.pieceStart[c]; k < r.pieceEnd[c] && n > 0; k++) {
            long m = Math.min(p.len[k], n);
            log.mark(p.gpa[k], m);
            n -= m;
        }
    }

    /** Zeros {@code len} bytes of frame {@code f} at {@code at}, counted from its virtio-net header. */
    private static void pad(RxReservation r, int f, long at, long len) {
        Pieces p = r.pieces;
        for (int k = r.headerPiece(f), end = r.endPiece(f); k < end && len > 0; k++) {
            if (at >= p.len[k]) {
                at -= p.len[k];
                continue;
            }
            long n = Math.min(p.len[k] - at, len);
            MemorySegment.copy(ZEROS, 0, p.seg[k], p.off[k] + at, n);
            len -= n;
            at = 0;
        }
    }

    // ---- a front-end whose memory vanishes under its mapping

    /*
     * A front-end can shrink the file behind a region after SET_MEM_TABLE; the next access to a
     * page past its new end raises SIGBUS, which HotSpot turns into an InternalError ("a fault
     * occurred in an unsafe memory access operation") at the access, compiled code included. It
     * is the front-end's fault like any other breach: the connection is reset. Every entry into
     * the device (the loop's events, the frame API) catches it; any other InternalError is a
     * JVM problem and goes on.
     */

    private static final String MEMORY_GONE = "the front-end's memory went away under its mapping (a region's file was truncated?)";

    static boolean isMemoryFault(InternalError e) {
        String m = e.getMessage();
        return m != null && m.contains("unsafe memory access");
    }

    private void memoryFault(InternalError e) {
        if (!isMemoryFault(e)) throw e;
        fail(null, MEMORY_GONE);
    }

    private void onSocket(long ref, int ev) {
        try {
            socketEvents(ref, ev);
        } catch (InternalError e) {
            memoryFault(e);
            checkFailure();
        }
    }

    private void onKick(long ref, int ev) {
        try {
            kicked(ref, ev);
        } catch (InternalError e) {
            memoryFault(e);
            checkFailure();
        }
    }

    private void endOfBatch() {
        try {
            batchDone();
        } catch (InternalError e) {
            memoryFault(e);
            checkFailure();
        }
    }

    /** Makes what was filled visible to the guest and signals it (used->idx, call eventfd, dirty log). */
    public void publish() {
        try {
            publishAll();
        } catch (InternalError e) {
            memoryFault(e);
        }
    }

    /**
     * Takes up to {@code max} frames from the transmit queue into {@code in} (emptied first),
     * and no more once they hold {@code maxBytes} (the frame that reaches it is the last);
     * returns how many. They lie in guest memory (one scattered over several buffers is copied
     * into scratch space) and stay valid until {@link #releaseTx}, which must come before the
     * next popTx. Chains that are not frames (shorter than an Ethernet header, longer than 64
     * KiB, buffers outside guest memory...) are returned to the guest and logged.
     */
    public int popTx(FramesFromGuest in, int max, long maxBytes) {
        try {
            return takeTx(in, max, maxBytes);
        } catch (InternalError e) {
            memoryFault(e);
            abandon(txPass);
            in.clear();
            return 0;
        }
    }

    /**
     * The frames of the last {@link #popTx} have been handled: their buffers go back to the
     * guest (published and signalled now: the guest frees its transmitted frames on that), and
     * whatever pointed into them must not be used any more.
     */
    public void releaseTx() {
        try {
            giveTx();
        } catch (InternalError e) {
            memoryFault(e);
            abandon(txPass);
        }
    }

    /**
     * Copies one frame of {@code len} bytes into the guest's receive buffers; false if it could
     * not (no guest, no receive buffers: then {@link #onRxRoom} runs once there are some).
     */
    public boolean sendRx(MemorySegment src, long off, int len) {
        try {
            return copyRx(src, off, len);
        } catch (InternalError e) {
            memoryFault(e);
            abandon(rxRes);
            return false;
        }
    }

    /**
     * Reserves receive buffers for up to {@code count} frames of {@code hdrLen} header bytes and
     * up to {@code maxPayload} payload bytes each, and describes them in {@code b} (emptied
     * first): each frame's headers in one piece, its payload as the pieces of one or more guest
     * buffers. Returns how many frames it could (0: none); fewer than asked when the guest has
     * not posted enough buffers, and then {@link #onRxRoom} runs once it has. A frame may offer
     * less payload room than asked ({@link FrameBatch#capacity}): without MRG_RXBUF it is one
     * guest buffer, the last one when the guest's buffers run out takes what is left, and a
     * batch with too few pieces for the guest's buffers describes less. One
     * reservation at a time: {@link #commitRx} ends it; one that is never committed (a producer
     * that reserved and then had nothing to send, as the stream socket allows) goes back to the
     * ring at the next reservation or at the end of the batch of events.
     */
    public int reserveRx(FrameBatch b, int hdrLen, int maxPayload, int count) {
        try {
            return takeRx(b, hdrLen, maxPayload, count);
        } catch (InternalError e) {
            memoryFault(e);
            abandon(rxRes);
            return 0;
        }
    }

    /**
     * Hands the first {@code frames} frames of {@code b} to the guest with the payload lengths
     * set ({@link FrameBatch#payloadLength}): the virtio-net header in front of each (num_buffers,
     * DATA_VALID), frames shorter than 60 bytes padded; the buffers of the others go back to the
     * ring. Visible to the guest at the next {@link #publish}.
     */
    public void commitRx(FrameBatch b, int frames) {
        try {
            giveRx(b, frames);
        } catch (InternalError e) {
            memoryFault(e);
            abandon(rxRes);
        }
    }

    /**
     * A fault in guest memory outside the device (a producer writing headers into reserved
     * buffers, a consumer reading a frame): if it is one ({@code e} is HotSpot's error for a
     * SIGBUS in an access to a mapping), whatever was reserved or popped is let go and the
     * connection is reset; true if so. For the event loop's fault handler.
     */
    public boolean faulted(InternalError e) {
        if (!isMemoryFault(e)) return false;
        abandon(rxRes);
        abandon(txPass);
        if (conn >= 0) {
            fail(null, MEMORY_GONE);
            checkFailure();
        }
        return true;
    }

    private static void abandon(TxPass t) {
        if (t.pinned != null) t.pinned.unpin();
        t.clear();
    }

    private static void abandon(RxReservation r) {
        if (r.pinned != null) r.pinned.unpin();
        r.clear();
    }

    // ---- counters and the end

    /** The receive queue (tests). */
    Virtqueue rxQueue() {
        return rx;
    }

    /** The front-end's memory table now (tests). */
    GuestMemory memory() {
        return session.memory();
    }

    public long framesIn() {
        return framesIn;
    }

    public long framesOut() {
        return framesOut;
    }

    /** TCP frames from the guest scattered over several buffers, handed over with only their first buffer copied. */
    public long framesScattered() {
        return framesScattered;
    }

    /**
     * Whether a TCP frame the guest scattered over several buffers, with its checksum left to
     * the device, goes to the receiver where it lies, its payload's further pieces as a tail
     * ({@link FramesFromGuest#tailCount}); if not, it is gathered into one piece, as every other
     * scattered frame is (a capture wants frames in one piece). On by default.
     */
    public void passScatteredTcp(boolean on) {
        scatteredTcp = on;
    }

    /** Frames from the guest that were scattered over several buffers and copied to be handed over. */
    public long framesGathered() {
        return framesGathered;
    }

    /** Chains dropped on this connection (bad buffers, frames too short or long). */
    public long dropped() {
        return dropped;
    }

    /** Connections reset for breaking the protocol. */
    public long resets() {
        return resets;
    }

    public void close() {
        disconnect("closing");
        if (listenFd >= 0) {
            loop.remove(listenFd);
            Descriptors.close(listenFd);
        }
        listenFd = -1;
        ch.close();
        arena.close();
    }
}
