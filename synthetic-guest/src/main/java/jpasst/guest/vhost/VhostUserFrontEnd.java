package jpasst.guest.vhost;

import jpasst.guest.sys.Native;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static jpasst.guest.vhost.Wire.LE16;
import static jpasst.guest.vhost.Wire.LE32;
import static jpasst.guest.vhost.Wire.LE64;

/**
 * A vhost-user front-end, what QEMU's vhost-user-net is to a back-end, for tests and benchmarks
 * without a VM: guest RAM in a memfd ({@link GuestRam}), the two virtqueues laid out in it
 * ({@link SplitRing}: 0 receives, 1 transmits), QEMU's messages in QEMU's order with the
 * descriptors (memory, kick/call/err eventfds) sent by SCM_RIGHTS, frames sent on the transmit
 * queue and taken from the receive queue as a guest's virtio-net driver does.
 *
 * <ul>
 * <li>{@link #connect} sends what QEMU sends when the chardev connects: GET_FEATURES,
 *     GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM (if MQ is offered), SET_OWNER,
 *     GET_FEATURES, and per ring SET_VRING_CALL (a masked notifier) and SET_VRING_ERR;</li>
 * <li>{@link #start} what it sends when the guest's driver is ready: SET_FEATURES, SET_MEM_TABLE,
 *     per ring SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL,
 *     then SET_VRING_ENABLE; receive buffers are posted before;</li>
 * <li>{@link #stop} SET_VRING_ENABLE(0) and GET_VRING_BASE per ring; {@link #disconnect} closes
 *     the socket; {@link #connect} and {@link #start} again resume the same rings where they
 *     were (the bases from GET_VRING_BASE, or, after a back-end that vanished, used->idx, as
 *     QEMU does).</li>
 * </ul>
 * With REPLY_ACK, the requests QEMU waits for (SET_MEM_TABLE, SET_VRING_ENABLE, SET_FEATURES
 * while logging) carry NEED_REPLY and the answer is checked; without it a GET_FEATURES stands in
 * as QEMU's barrier.
 *
 * Frames: {@link #send} copies a frame behind a virtio-net header into a transmit buffer (the
 * layout of its descriptors is an option: one, the header apart, or scattered), {@link #kick}
 * publishes a batch and kicks once; {@link #poll} / {@link #receive} take frames from the receive
 * queue, honouring num_buffers (a frame spread over several buffers with MRG_RXBUF is gathered),
 * and post the buffers again. The used entries are checked as they come (a head that was never
 * posted, more bytes than the buffer): a back-end that breaks the rules fails the test.
 *
 * For hostile tests, messages can be sent raw ({@link #sendRaw}) and the rings written past
 * every rule ({@link #ring}).
 *
 * Frame path (send, kick, poll with a sink that keeps nothing): no allocation per frame.
 */
public final class VhostUserFrontEnd implements AutoCloseable {
    /** How the front-end sets itself up; the defaults are a small Linux guest's. */
    public static final class Options {
        public int ringSize = 256;
        /** Size of each receive buffer (Linux posts about 1.5 KiB with MRG_RXBUF). */
        public int rxBufferSize = 1536;
        public boolean mergeable = true;
        /** Ack VIRTIO_NET_F_CSUM when offered, as a Linux guest does (then it may send with NEEDS_CSUM). */
        public boolean checksumOffload = false;
        /**
         * Ack GUEST_CSUM, GUEST_TSO4 and GUEST_TSO6 when offered, as a Linux guest does: it then
         * takes TCP frames of many segments (gso_type TCPV4/TCPV6, gso_size the segment size);
         * with {@link #checksumOffload}, HOST_TSO4 and HOST_TSO6 too (they require CSUM): it may
         * then send such frames.
         */
        public boolean segmentationOffload = false;
        public boolean replyAck = true;
        /** Negotiate VHOST_USER_F_PROTOCOL_FEATURES when offered (QEMU does; an older front-end would not). */
        public boolean protocolFeatures = true;
        public long memory = 64L << 20;
        public int regions = 1;
        /** Guest-physical bytes between two regions (0: they continue each other). */
        public long regionGap = 0;
        /** Buffers may cross from one region into the next (only sensible without a gap). */
        public boolean buffersCrossRegions = false;
        /** Transmit buffers: room for the virtio-net header and the largest frame sent. */
        public int txBufferSize = Wire.NET_HDR + 65535;
        /** Descriptors per transmitted frame: 1 (header and frame), 2 (header apart), more (frame scattered). */
        public int txDescriptors = 1;
        /**
         * If not 0, frames longer than an Ethernet frame of MTU 1500 go as Linux sends a large TCP
         * frame: their first {@code txLinear} bytes in the buffer with the virtio-net header (the
         * headers, in the skb's linear part), the rest in pieces of 4 KiB (its page fragments);
         * shorter ones in one buffer, as Linux sends them whole in the linear part. Set
         * {@link #txDescriptors} to the most descriptors a frame then takes (17 for 64 KiB).
         */
        public int txLinear = 0;
        public int timeoutMs = 5000;
    }

    /** Receives frames where they lie; must not keep {@code seg} past the call. */
    public interface FrameSink {
        void frame(MemorySegment seg, long off, int len);
    }

    public final Options options;
    private final GuestRam ram;
    private final SplitRing[] rings = new SplitRing[2];
    private final int[] kickFd = new int[2], callFd = new int[2], errFd = new int[2], maskedCallFd = new int[2];
    private final long[] rxBuffer;
    private final int[] rxBufferOfHead;
    private final long[] txBuffer;
    private final int[] txBufferOfHead;
    private final int[] txFree;
    private int txFreeCount;
    private long txInFlight;
    private final int[] savedBase = {-1, -1};
    private final Arena arena = Arena.ofShared();
    private final MemorySegment msg = arena.allocate(Wire.HEADER_SIZE + 1024, 8);
    private final MemorySegment msghdr = arena.allocate(56, 8), iov = arena.allocate(16, 8),
            control = arena.allocate(16 + 4 * 16, 8), pollfd = arena.allocate(8, 8), eight = arena.allocate(8, 8),
            callBuf = arena.allocate(8, 8);
    private final MemorySegment gather;
    private final long[] chainOff = new long[64];
    private final int[] chainLen = new int[64];
    private int sock = -1;
    private long features, protocolFeatures, offeredProtocolFeatures;
    private boolean started, rxPosted;
    private int lastNumBuffers, lastHeaderFlags, lastGsoType, lastGsoSize, lastHdrLen;

    public VhostUserFrontEnd(Options o) {
        options = o;
        ram = new GuestRam(o.memory, o.regions, o.regionGap);
        for (int q = 0; q < 2; q++) rings[q] = new SplitRing(ram, o.ringSize);
        for (int q = 0; q < 2; q++) {
            kickFd[q] = Native.check(Native.eventfd(), "eventfd");
            callFd[q] = Native.check(Native.eventfd(), "eventfd");
            errFd[q] = Native.check(Native.eventfd(), "eventfd");
            maskedCallFd[q] = Native.check(Native.eventfd(), "eventfd");
        }
        rxBuffer = new long[o.ringSize];
        for (int i = 0; i < o.ringSize; i++) rxBuffer[i] = ram.alloc(o.rxBufferSize, 64, o.buffersCrossRegions);
        rxBufferOfHead = new int[o.ringSize];
        txBuffer = new long[o.ringSize];
        for (int i = 0; i < o.ringSize; i++) txBuffer[i] = ram.alloc(o.txBufferSize, 64, o.buffersCrossRegions);
        txBufferOfHead = new int[o.ringSize];
        java.util.Arrays.fill(txBufferOfHead, -1); // -1: a chain the hostile tests wrote raw
        txFree = new int[o.ringSize];
        for (int i = 0; i < o.ringSize; i++) txFree[i] = i;
        txFreeCount = o.ringSize;
        gather = arena.allocate(14 + 40 + 65535 + Wire.NET_HDR, 8); // the largest frame a back-end sends: IPv6, 64 KiB of payload
        eight.set(ValueLayout.JAVA_LONG, 0, 1L);
        msghdr.set(ValueLayout.JAVA_LONG, 16, iov.address());
        msghdr.set(ValueLayout.JAVA_LONG, 24, 1L);
    }

    public VhostUserFrontEnd() {
        this(new Options());
    }

    public GuestRam ram() {
        return ram;
    }

    /** Ring {@code q} ({@link Wire#RX} or {@link Wire#TX}), to look at or to write raw. */
    public SplitRing ring(int q) {
        return rings[q];
    }

    public long features() {
        return features;
    }

    /** The protocol features negotiated (offered by the back-end and wanted here). */
    public long protocolFeatures() {
        return protocolFeatures;
    }

    /** The protocol features the back-end offered. */
    public long offeredProtocolFeatures() {
        return offeredProtocolFeatures;
    }

    public int kickDescriptor(int q) {
        return kickFd[q];
    }

    /** The eventfd the back-end signals for ring {@code q} once started (its "call"). */
    public int callDescriptor(int q) {
        return callFd[q];
    }

    /** The vhost-user socket (-1 when not connected). */
    public int socketDescriptor() {
        return sock;
    }

    // ---- the connection and QEMU's sequence

    /** Connects to the back-end's socket and sends QEMU's connect-time messages. */
    public void connect(String path) throws IOException {
        sock = Native.socket(Native.AF_UNIX, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0);
        if (sock < 0) throw new IOException("socket: " + Native.strerror(-sock));
        int r = Native.connectUnix(sock, path);
        if (r < 0) {
            Native.close(sock);
            sock = -1;
            throw new IOException("connect to " + path + ": " + Native.strerror(-r));
        }
        handshake();
    }

    /**
     * Takes {@code fd}, a socket already connected to the back-end (one end of a socketpair whose
     * other end the back-end got as {@code --fd}, as QEMU 10.1's {@code -netdev passt,vhost-user=on}
     * does it), and sends QEMU's connect-time messages on it. The front-end owns it from now on.
     */
    public void adopt(int fd) throws IOException {
        sock = fd;
        handshake();
    }

    /** Only the socket: the messages are the test's to send ({@link #handshake}, {@link #sendRaw}...). */
    public void connectRaw(String path) throws IOException {
        sock = Native.socket(Native.AF_UNIX, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0);
        int r = Native.connectUnix(sock, path);
        if (r < 0) throw new IOException("connect to " + path + ": " + Native.strerror(-r));
    }

    /** QEMU's connect-time messages (vhost_dev_init). */
    public void handshake() throws IOException {
        features = getU64(Wire.GET_FEATURES);
        protocolFeatures = 0;
        if ((features & 1L << Wire.F_PROTOCOL_FEATURES) != 0 && options.protocolFeatures) {
            long offered = offeredProtocolFeatures = getU64(Wire.GET_PROTOCOL_FEATURES);
            long wanted = 1L << Wire.PF_LOG_SHMFD | 1L << Wire.PF_RARP | 1L << Wire.PF_MQ
                    | (options.replyAck ? 1L << Wire.PF_REPLY_ACK : 0);
            protocolFeatures = offered & wanted;
            setU64(Wire.SET_PROTOCOL_FEATURES, protocolFeatures, false);
            if ((protocolFeatures & 1L << Wire.PF_MQ) != 0) {
                long queues = getU64(Wire.GET_QUEUE_NUM);
                if (queues < 1) throw new IOException("the back-end offers " + queues + " queue pairs");
            }
        }
        message(Wire.SET_OWNER, 0, 0, false);
        long again = getU64(Wire.GET_FEATURES);
        if (again != features) throw new IOException("GET_FEATURES answered 0x" + Long.toHexString(features)
                + ", then 0x" + Long.toHexString(again));
        for (int q = 0; q < 2; q++) {
            ringFile(Wire.SET_VRING_CALL, q, maskedCallFd[q]);
            ringFile(Wire.SET_VRING_ERR, q, errFd[q]);
        }
    }

    /** The features this front-end acks: VERSION_1, PROTOCOL_FEATURES, MRG_RXBUF and CSUM if wanted. */
    public long ackedFeatures() {
        long want = 1L << Wire.F_VERSION_1 | (options.protocolFeatures ? 1L << Wire.F_PROTOCOL_FEATURES : 0)
                | (options.mergeable ? 1L << Wire.F_MRG_RXBUF : 0) | (options.checksumOffload ? 1L << Wire.F_CSUM : 0)
                | (options.segmentationOffload ? 1L << Wire.F_GUEST_CSUM | 1L << Wire.F_GUEST_TSO4 | 1L << Wire.F_GUEST_TSO6 : 0)
                | (options.segmentationOffload && options.checksumOffload ? 1L << Wire.F_HOST_TSO4 | 1L << Wire.F_HOST_TSO6 : 0);
        return features & want;
    }

    /** The guest's driver is ready (DRIVER_OK): QEMU's vhost_dev_start sequence. */
    public void start() throws IOException {
        if (!rxPosted) postRxBuffers();
        setU64(Wire.SET_FEATURES, ackedFeatures(), false);
        setMemTable();
        for (int q = 0; q < 2; q++) {
            int base = savedBase[q] >= 0 ? savedBase[q] : rings[q].usedIndex();
            state(Wire.SET_VRING_NUM, q, options.ringSize, false);
            state(Wire.SET_VRING_BASE, q, base, false);
            setVringAddr(q);
            ringFile(Wire.SET_VRING_KICK, q, kickFd[q]);
            ringFile(Wire.SET_VRING_CALL, q, callFd[q]);
        }
        if (ringsNeedEnabling()) { // without PROTOCOL_FEATURES the rings are enabled from the start
            for (int q = 0; q < 2; q++) state(Wire.SET_VRING_ENABLE, q, 1, true);
        }
        savedBase[0] = savedBase[1] = -1;
        started = true;
    }

    /** The device stops (the guest's driver resets it, or QEMU stops the VM): the ring bases come back. */
    public int[] stop() throws IOException {
        if (ringsNeedEnabling()) {
            for (int q = 0; q < 2; q++) state(Wire.SET_VRING_ENABLE, q, 0, true);
        }
        for (int q = 0; q < 2; q++) {
            state(Wire.GET_VRING_BASE, q, 0, false);
            readReply(Wire.GET_VRING_BASE, 8);
            int index = msg.get(LE32, Wire.HEADER_SIZE);
            if (index != q) throw new IOException("GET_VRING_BASE for ring " + q + " answered for ring " + index);
            savedBase[q] = msg.get(LE32, Wire.HEADER_SIZE + 4);
        }
        started = false;
        return savedBase.clone();
    }

    private boolean ringsNeedEnabling() {
        return (ackedFeatures() & 1L << Wire.F_PROTOCOL_FEATURES) != 0;
    }

    /** Closes the socket (QEMU killed, or its chardev disconnected). */
    public void disconnect() {
        if (sock >= 0) Native.close(sock);
        sock = -1;
        started = false;
    }

    public boolean connected() {
        return sock >= 0;
    }

    private void postRxBuffers() {
        SplitRing rx = rings[Wire.RX];
        for (int i = 0; i < options.ringSize && rx.free() > 0; i++) {
            int h = rx.add1(rxBuffer[i], options.rxBufferSize, true);
            rxBufferOfHead[h] = i;
        }
        rx.publish();
        rxPosted = true;
    }

    /** SET_MEM_TABLE alone (hostile tests build the rest of the sequence themselves). */
    public void sendMemTable() throws IOException {
        setMemTable();
    }

    private void setMemTable() throws IOException {
        int n = ram.regions;
        clearPayload(8 + 32 * n);
        msg.set(LE32, Wire.HEADER_SIZE, n);
        int[] fds = new int[n];
        for (int r = 0; r < n; r++) {
            long at = Wire.HEADER_SIZE + 8 + 32L * r;
            msg.set(LE64, at, ram.regionGpa(r));
            msg.set(LE64, at + 8, ram.regionSize);
            msg.set(LE64, at + 16, ram.qva(r * ram.regionSize));
            msg.set(LE64, at + 24, r * ram.regionSize);
            fds[r] = ram.fd;
        }
        message(Wire.SET_MEM_TABLE, 8 + 32 * n, 0, true, fds);
    }

    private void setVringAddr(int q) throws IOException {
        SplitRing ring = rings[q];
        clearPayload(40);
        msg.set(LE32, Wire.HEADER_SIZE, q);
        msg.set(LE32, Wire.HEADER_SIZE + 4, 0);
        msg.set(LE64, Wire.HEADER_SIZE + 8, ram.qva(ring.descOff));
        msg.set(LE64, Wire.HEADER_SIZE + 16, ram.qva(ring.usedOff));
        msg.set(LE64, Wire.HEADER_SIZE + 24, ram.qva(ring.availOff));
        msg.set(LE64, Wire.HEADER_SIZE + 32, ram.gpa(ring.usedOff));
        message(Wire.SET_VRING_ADDR, 40, 0, false);
    }

    private void state(int request, int q, int num, boolean waitForIt) throws IOException {
        msg.set(LE32, Wire.HEADER_SIZE, q);
        msg.set(LE32, Wire.HEADER_SIZE + 4, num);
        message(request, 8, 0, waitForIt);
    }

    private void ringFile(int request, int q, int fd) throws IOException {
        msg.set(LE64, Wire.HEADER_SIZE, fd < 0 ? q | Wire.VRING_NOFD : q);
        message(request, 8, 0, false, fd < 0 ? new int[0] : new int[] {fd});
    }

    private long getU64(int request) throws IOException {
        message(request, 0, 0, false);
        readReply(request, 8);
        return msg.get(LE64, Wire.HEADER_SIZE);
    }

    private void setU64(int request, long v, boolean waitForIt) throws IOException {
        msg.set(LE64, Wire.HEADER_SIZE, v);
        message(request, 8, 0, waitForIt);
    }

    private void clearPayload(int len) {
        msg.asSlice(Wire.HEADER_SIZE, len).fill((byte) 0);
    }

    /**
     * Sends {@code request} with the {@code size} payload bytes already in the buffer. If the
     * front-end waits for it: with REPLY_ACK, NEED_REPLY and a 0 answer; else a GET_FEATURES.
     */
    private void message(int request, int size, int extraFlags, boolean waitForIt, int... fds) throws IOException {
        boolean ack = waitForIt && (protocolFeatures & 1L << Wire.PF_REPLY_ACK) != 0;
        msg.set(LE32, 0, request);
        msg.set(LE32, 4, Wire.FLAG_VERSION_1 | extraFlags | (ack ? Wire.FLAG_NEED_REPLY : 0));
        msg.set(LE32, 8, size);
        write(msg, Wire.HEADER_SIZE + size, fds);
        if (ack) {
            readReply(request, 8);
            long v = msg.get(LE64, Wire.HEADER_SIZE);
            if (v != 0) throw new IOException("the back-end refused request " + request + " (" + v + ")");
        } else if (waitForIt) {
            getU64(Wire.GET_FEATURES);
        }
    }

    private void write(MemorySegment buf, long len, int[] fds) throws IOException {
        if (sock < 0) throw new IOException("not connected");
        iov.set(ValueLayout.JAVA_LONG, 0, buf.address());
        iov.set(ValueLayout.JAVA_LONG, 8, len);
        if (fds.length > 0) {
            long cmsgLen = 16 + 4L * fds.length;
            control.fill((byte) 0);
            control.set(ValueLayout.JAVA_LONG, 0, cmsgLen);
            control.set(ValueLayout.JAVA_INT, 8, Native.SOL_SOCKET);
            control.set(ValueLayout.JAVA_INT, 12, Native.SCM_RIGHTS);
            for (int i = 0; i < fds.length; i++) control.set(ValueLayout.JAVA_INT, 16 + 4L * i, fds[i]);
            msghdr.set(ValueLayout.JAVA_LONG, 32, control.address());
            msghdr.set(ValueLayout.JAVA_LONG, 40, (cmsgLen + 7) & ~7L);
        } else {
            msghdr.set(ValueLayout.JAVA_LONG, 32, 0L);
            msghdr.set(ValueLayout.JAVA_LONG, 40, 0L);
        }
        long n = Native.sendmsg(sock, msghdr, Native.MSG_NOSIGNAL);
        if (n != len) throw new IOException("sendmsg: " + (n < 0 ? Native.strerror((int) -n) : n + " of " + len + " bytes"));
    }

    /** Reads the reply to {@code request}, checking its header and that the payload is {@code size} bytes. */
    private void readReply(int request, int size) throws IOException {
        readFully(msg, 0, Wire.HEADER_SIZE);
        int req = msg.get(LE32, 0), flags = msg.get(LE32, 4), len = msg.get(LE32, 8);
        if (req != request || (flags & Wire.FLAG_REPLY) == 0 || (flags & 3) != 1) {
            throw new IOException("expected a reply to " + request + ", got request " + req + " with flags 0x"
                    + Integer.toHexString(flags));
        }
        if (len != size) throw new IOException("reply to " + request + " of " + len + " bytes, expected " + size);
        readFully(msg, Wire.HEADER_SIZE, len);
    }

    private void readFully(MemorySegment buf, long off, long len) throws IOException {
        long deadline = System.nanoTime() + options.timeoutMs * 1_000_000L;
        while (len > 0) {
            int wait = (int) Math.max(0, (deadline - System.nanoTime()) / 1_000_000L);
            int p = Native.pollIn(pollfd, sock, wait);
            if (p == 0) throw new IOException("no reply from the back-end within " + options.timeoutMs + " ms");
            if (p < 0 && p != -Native.EINTR) throw new IOException("poll: " + Native.strerror(-p));
            if (p < 0) continue;
            long n = Native.recv(sock, buf.asSlice(off, len), len, 0);
            if (n == 0) throw new IOException("the back-end closed the connection");
            if (n < 0) {
                if (n == -Native.EINTR || n == -Native.EAGAIN) continue;
                throw new IOException("recv: " + Native.strerror((int) -n));
            }
            off += n;
            len -= n;
        }
    }

    // ---- frames to the back-end (transmit queue)

    /** Tx chains the back-end returned are taken back; returns how many. */
    public int reapTx() {
        SplitRing tx = rings[Wire.TX];
        int n = 0;
        for (int h; (h = tx.nextUsed()) >= 0; n++) {
            if (tx.lastLength() != 0) {
                throw new IllegalStateException("the back-end wrote " + tx.lastLength() + " bytes into transmit chain " + h);
            }
            if (txBufferOfHead[h] >= 0) {
                txFree[txFreeCount++] = txBufferOfHead[h];
                txInFlight -= tx.chainBytes(h) - Wire.NET_HDR;
            }
            txBufferOfHead[h] = -1;
        }
        return n;
    }

    /**
     * Room for a frame of {@code len} bytes in a transmit buffer: the offset in
     * {@link GuestRam#memory()} where its bytes go (behind the virtio-net header), or -1 if no
     * transmit buffer is free even after taking back the used ones. The frame is written there in
     * place, then {@link #commitTx}; a reservation not committed costs nothing.
     */
    public long reserveTx(int len) {
        if (len + Wire.NET_HDR > options.txBufferSize) throw new IllegalArgumentException("frame of " + len + " bytes");
        if (txFreeCount == 0 || rings[Wire.TX].free() < options.txDescriptors) reapTx();
        if (txFreeCount == 0 || rings[Wire.TX].free() < options.txDescriptors) return -1;
        return txBuffer[txFree[txFreeCount - 1]] + Wire.NET_HDR;
    }

    /**
     * Adds the frame of {@code len} bytes written at {@code at} (from {@link #reserveTx}) to the
     * transmit queue, behind a zeroed virtio-net header; the back-end sees it after {@link #kick}.
     */
    public void commitTx(long at, int len) {
        commitTx(at, len, 0, 0, 0);
    }

    /**
     * {@link #commitTx(long, int)} behind a header with {@code flags}, {@code csumStart} and
     * {@code csumOffset} (NEEDS_CSUM: the checksum at csumStart + csumOffset is left to the device).
     */
    public void commitTx(long at, int len, int flags, int csumStart, int csumOffset) {
        commitTx(at, len, flags, csumStart, csumOffset, Wire.GSO_NONE, 0, 0);
    }

    /** The same, for a TCP frame of many segments: {@code gsoType}, headers of {@code hdrLen} bytes, segments of {@code gsoSize}. */
    public void commitTx(long at, int len, int flags, int csumStart, int csumOffset, int gsoType, int hdrLen, int gsoSize) {
        int b = txFree[--txFreeCount];
        long hdr = txBuffer[b];
        if (at != hdr + Wire.NET_HDR) throw new IllegalStateException("not the reserved transmit buffer");
        MemorySegment m = ram.mem;
        m.set(LE64, hdr, 0L);
        m.set(LE32, hdr + 8, 0);
        m.set(ValueLayout.JAVA_BYTE, hdr + Wire.NET_HDR_FLAGS, (byte) flags);
        m.set(ValueLayout.JAVA_BYTE, hdr + Wire.NET_HDR_GSO_TYPE, (byte) gsoType);
        m.set(LE16, hdr + Wire.NET_HDR_HDR_LEN, (short) hdrLen);
        m.set(LE16, hdr + Wire.NET_HDR_GSO_SIZE, (short) gsoSize);
        m.set(LE16, hdr + Wire.NET_HDR_CSUM_START, (short) csumStart);
        m.set(LE16, hdr + Wire.NET_HDR_CSUM_OFFSET, (short) csumOffset);
        int h;
        int parts = options.txLinear > 0 ? 1 : options.txDescriptors;
        if (options.txLinear > 0 && len > Math.max(1514, options.txLinear)) {
            chainOff[0] = hdr;
            chainLen[0] = Wire.NET_HDR + options.txLinear;
            int n = 1;
            for (long done = options.txLinear; done < len; done += 4096) {
                chainOff[n] = at + done;
                chainLen[n++] = (int) Math.min(4096, len - done);
            }
            h = rings[Wire.TX].add(chainOff, chainLen, n, false);
        } else if (parts == 1) {
            h = rings[Wire.TX].add1(hdr, Wire.NET_HDR + len, false);
        } else {
            chainOff[0] = hdr;
            chainLen[0] = Wire.NET_HDR;
            int pieces = Math.min(parts - 1, len);
            long done = 0;
            for (int i = 0; i < pieces; i++) {
                long n = i == pieces - 1 ? len - done : len / pieces;
                chainOff[1 + i] = at + done;
                chainLen[1 + i] = (int) n;
                done += n;
            }
            h = rings[Wire.TX].add(chainOff, chainLen, 1 + pieces, false);
        }
        txBufferOfHead[h] = b;
        txInFlight += len;
    }

    /** Frame bytes in transmit buffers the back-end has not returned yet. */
    public long txInFlight() {
        return txInFlight;
    }

    /**
     * Queues one frame ({@code len} bytes at {@code off} of {@code src}) behind a zeroed virtio-net
     * header; false if no transmit buffer is free even after taking back the used ones. The back-end
     * sees it after {@link #kick}.
     */
    public boolean send(MemorySegment src, long off, int len) {
        long at = reserveTx(len);
        if (at < 0) return false;
        MemorySegment.copy(src, off, ram.mem, at, len);
        commitTx(at, len);
        return true;
    }

    public boolean send(byte[] frame) {
        return send(MemorySegment.ofArray(frame), 0, frame.length);
    }

    /** Publishes what was added to ring {@code q} and kicks the back-end, unless it asked not to be. */
    public void kick(int q) {
        SplitRing r = rings[q];
        r.publish();
        if (r.kickWanted()) Native.write(kickFd[q], eight, 8);
    }

    /** Kicks ring {@code q} without publishing anything (hostile tests publish raw indices themselves). */
    public void kickRaw(int q) {
        Native.write(kickFd[q], eight, 8);
    }

    /** Sends one frame and kicks. */
    public void sendNow(byte[] frame) {
        if (!send(frame)) throw new IllegalStateException("no free transmit buffer");
        kick(Wire.TX);
    }

    /**
     * Sends one frame whose transport checksum (at {@code csumStart} + {@code csumOffset}) is left
     * to the device, NEEDS_CSUM in its header, as Linux sends with VIRTIO_NET_F_CSUM; and kicks.
     */
    public void sendLeavingChecksum(byte[] frame, int csumStart, int csumOffset) {
        long at = reserveTx(frame.length);
        if (at < 0) throw new IllegalStateException("no free transmit buffer");
        MemorySegment.copy(MemorySegment.ofArray(frame), 0, ram.mem, at, frame.length);
        commitTx(at, frame.length, Wire.NET_HDR_F_NEEDS_CSUM, csumStart, csumOffset);
        kick(Wire.TX);
    }

    // ---- frames from the back-end (receive queue)

    /**
     * Takes up to {@code max} frames the back-end put in the receive queue, each handed to
     * {@code sink} (in place if in one buffer, gathered if spread over several), and posts the
     * buffers again; returns how many. Does not wait.
     */
    public int poll(FrameSink sink, int max) {
        SplitRing rx = rings[Wire.RX];
        int frames = 0;
        boolean reposted = false;
        while (frames < max) {
            int h = rx.nextUsed();
            if (h < 0) break;
            int len = rx.lastLength();
            long at = rxBuffer[rxBufferOfHead[h]];
            if (len < Wire.NET_HDR) throw new IllegalStateException("a received buffer of " + len + " bytes, shorter than its header");
            MemorySegment m = ram.mem;
            int buffers = m.get(LE16, at + Wire.NET_HDR_NUM_BUFFERS) & 0xffff;
            lastHeaderFlags = m.get(ValueLayout.JAVA_BYTE, at + Wire.NET_HDR_FLAGS) & 0xff;
            lastGsoType = m.get(ValueLayout.JAVA_BYTE, at + Wire.NET_HDR_GSO_TYPE) & 0xff;
            lastHdrLen = m.get(LE16, at + Wire.NET_HDR_HDR_LEN) & 0xffff;
            lastGsoSize = m.get(LE16, at + Wire.NET_HDR_GSO_SIZE) & 0xffff;
            lastNumBuffers = buffers;
            if (buffers < 1 || (!mergeableNegotiated() && buffers != 1)) {
                throw new IllegalStateException("a received frame with num_buffers " + buffers);
            }
            if (buffers == 1) {
                sink.frame(m, at + Wire.NET_HDR, len - Wire.NET_HDR);
                repost(h);
            } else {
                long total = len - Wire.NET_HDR;
                MemorySegment.copy(m, at + Wire.NET_HDR, gather, 0, total);
                repost(h);
                for (int i = 1; i < buffers; i++) {
                    int h2 = rx.nextUsed();
                    if (h2 < 0) throw new IllegalStateException("a frame of " + buffers + " buffers, only " + i + " published");
                    int l2 = rx.lastLength();
                    if (total + l2 > gather.byteSize()) throw new IllegalStateException("a received frame larger than an IPv6 packet of 64 KiB");
                    MemorySegment.copy(m, rxBuffer[rxBufferOfHead[h2]], gather, total, l2);
                    total += l2;
                    repost(h2);
                }
                sink.frame(gather, 0, (int) total);
            }
            reposted = true;
            frames++;
        }
        if (reposted) kick(Wire.RX);
        return frames;
    }

    private void repost(int head) {
        int b = rxBufferOfHead[head];
        int h = rings[Wire.RX].add1(rxBuffer[b], options.rxBufferSize, true);
        rxBufferOfHead[h] = b;
    }

    private boolean mergeableNegotiated() {
        return (ackedFeatures() & 1L << Wire.F_MRG_RXBUF) != 0;
    }

    /** Waits up to {@code timeoutMs} for at least one frame, then takes what is there, as {@link #poll}. */
    public int receive(FrameSink sink, int max, long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (true) {
            int n = poll(sink, max);
            if (n > 0) return n;
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) return 0;
            if (Native.pollIn(pollfd, callFd[Wire.RX], (int) Math.min(left, 100)) > 0) {
                Native.read(callFd[Wire.RX], callBuf, 8);
            }
        }
    }

    /** One frame, copied, or null after {@code timeoutMs}. */
    public byte[] receive(long timeoutMs) {
        byte[][] got = new byte[1][];
        receive((seg, off, len) -> got[0] = seg.asSlice(off, len).toArray(ValueLayout.JAVA_BYTE), 1, timeoutMs);
        return got[0];
    }

    /** num_buffers and the flags of the last frame received. */
    public int lastNumBuffers() {
        return lastNumBuffers;
    }

    public int lastHeaderFlags() {
        return lastHeaderFlags;
    }

    /** gso_type, gso_size and hdr_len of the last frame received. */
    public int lastGsoType() {
        return lastGsoType;
    }

    public int lastGsoSize() {
        return lastGsoSize;
    }

    public int lastHdrLen() {
        return lastHdrLen;
    }

    /** Whether the back-end signalled ring {@code q}'s err eventfd (clears it). */
    public boolean errorSignalled(int q) {
        return Native.read(errFd[q], callBuf, 8) == 8;
    }

    // ---- hostile

    /**
     * Sends a message as given: {@code declaredSize} in the header whatever the payload's length,
     * {@code fds} beside it.
     */
    public void sendRaw(int request, int flags, byte[] payload, int declaredSize, int... fds) throws IOException {
        msg.set(LE32, 0, request);
        msg.set(LE32, 4, flags);
        msg.set(LE32, 8, declaredSize);
        MemorySegment.copy(payload, 0, msg, ValueLayout.JAVA_BYTE, Wire.HEADER_SIZE, payload.length);
        write(msg, Wire.HEADER_SIZE + payload.length, fds);
    }

    /** Reads a reply's u64 (a REPLY_ACK answer, a GET_FEATURES...). */
    public long readU64Reply(int request) throws IOException {
        readReply(request, 8);
        return msg.get(LE64, Wire.HEADER_SIZE);
    }

    /** A GET_FEATURES round trip: the back-end has handled everything sent before. */
    public long barrier() throws IOException {
        return getU64(Wire.GET_FEATURES);
    }

    /**
     * Reads and drops whatever the back-end sent (replies the hostile tests do not wait for);
     * false if it closed the connection.
     */
    public boolean drainReplies() {
        if (sock < 0) return false;
        while (true) {
            long n = Native.recv(sock, gather, gather.byteSize(), Native.MSG_DONTWAIT);
            if (n == -Native.EAGAIN) return true;
            if (n == -Native.EINTR) continue;
            if (n <= 0) return false;
        }
    }

    /** Whether the back-end closes the connection within {@code timeoutMs} (anything it sends is skipped). */
    public boolean closedByBackEnd(long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        MemorySegment sink = gather;
        while (System.nanoTime() < deadline) {
            int p = Native.pollIn(pollfd, sock, (int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000L));
            if (p <= 0) continue;
            long n = Native.recv(sock, sink, 256, 0);
            if (n == 0 || (n < 0 && n != -Native.EAGAIN && n != -Native.EINTR)) return true;
        }
        return false;
    }

    @Override
    public void close() {
        disconnect();
        for (int q = 0; q < 2; q++) {
            Native.close(kickFd[q]);
            Native.close(callFd[q]);
            Native.close(errFd[q]);
            Native.close(maskedCallFd[q]);
        }
        ram.close();
        arena.close();
    }
}
