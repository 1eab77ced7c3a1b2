package jpasst.guest;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.guest.net.Bytes;
import jpasst.guest.sys.Native;
import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.guest.vhost.Wire;

/**
 * vhost-user seen from the guest: a {@link VhostUserFrontEnd} (what QEMU is to the daemon) whose
 * rings the guest's driver fills and drains, as a Linux virtio-net driver with NAPI does.
 *
 * Frames out are written straight into free transmit buffers in guest memory and published with
 * one kick per {@link #flush} (none if the daemon asked for no kicks). Frames in are taken from
 * the receive queue where the daemon wrote them (a frame spread over several buffers with
 * MRG_RXBUF is gathered first) and the buffers posted again. Like NAPI, the driver turns the
 * daemon's interrupts (writes to the call eventfds) off while it polls and on only before it
 * sleeps, checking the rings once more after turning them on; so a busy guest costs the daemon
 * no signals, which is how a real guest meets it.
 *
 * The daemon's DATA_VALID flag is passed on ({@link Transport.Receiver}): its frames' TCP and
 * UDP checksums are then not to be checked. Where the daemon offers checksum offload and the
 * options take it ({@link #checksumOffload}), TCP and UDP frames go with NEEDS_CSUM, their
 * checksums left to the device, as a Linux guest sends them.
 *
 * Frame path: no allocation.
 */
public final class VhostTransport implements Transport {
    private final VhostUserFrontEnd fe;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment pollfds, drain;
    private final VhostUserFrontEnd.FrameSink sink;
    private Receiver receiver;
    private int handed;
    private boolean committed, eof;
    public long framesOut, framesIn;
    /** Frames sent with their TCP or UDP checksum left to the device (NEEDS_CSUM). */
    public long checksumsLeft;
    /**
     * TCP frames of many segments received (a GSO type in their header), and of those, the ones
     * Linux's virtio_net_hdr_to_skb would refuse or take for one segment: a type that does not
     * match the frame, a segment size of 0, headers longer than the frame, no more payload
     * than one segment; {@link #largestSegmentedFrame} in bytes.
     */
    public long segmentedFrames, badSegmentedFrames;
    /** TCP frames of many segments sent (HOST_TSO4/6). */
    public long segmentedFramesOut;
    public int largestSegmentedFrame;

    public VhostTransport(VhostUserFrontEnd fe) {
        this.fe = fe;
        pollfds = arena.allocate(3 * 8, 8);
        drain = arena.allocate(256, 8);
        sink = (s, off, len) -> {
            framesIn++;
            handed++;
            if (fe.lastGsoType() != Wire.GSO_NONE) checkSegmented(s, off, len);
            receiver.frame(s, off, len, (fe.lastHeaderFlags() & Wire.NET_HDR_F_DATA_VALID) != 0);
        };
        fe.ring(Wire.RX).interrupts(false);
        fe.ring(Wire.TX).interrupts(false);
    }

    private void checkSegmented(MemorySegment s, long off, int len) {
        segmentedFrames++;
        largestSegmentedFrame = Math.max(largestSegmentedFrame, len);
        boolean tso = (fe.ackedFeatures() & 1L << Wire.F_GUEST_CSUM) != 0;
        int type = s.get(Bytes.BE16, off + 12) & 0xffff, l4, payload;
        if (type == 0x0800 && len >= 34) {
            int ihl = (s.get(ValueLayout.JAVA_BYTE, off + 14) & 0xf) * 4;
            tso &= fe.lastGsoType() == Wire.GSO_TCPV4 && (fe.ackedFeatures() & 1L << Wire.F_GUEST_TSO4) != 0
                    && s.get(ValueLayout.JAVA_BYTE, off + 14 + 9) == 6;
            l4 = 14 + ihl;
            payload = (s.get(Bytes.BE16, off + 16) & 0xffff) - ihl;
        } else if (type == 0x86dd && len >= 54) {
            tso &= fe.lastGsoType() == Wire.GSO_TCPV6 && (fe.ackedFeatures() & 1L << Wire.F_GUEST_TSO6) != 0
                    && s.get(ValueLayout.JAVA_BYTE, off + 14 + 6) == 6;
            l4 = 54;
            payload = s.get(Bytes.BE16, off + 18) & 0xffff;
        } else {
            badSegmentedFrames++;
            return;
        }
        int thl = len >= l4 + 20 ? ((s.get(ValueLayout.JAVA_BYTE, off + l4 + 12) & 0xf0) >>> 4) * 4 : 0;
        payload -= thl;
        int size = fe.lastGsoSize();
        if (!tso || thl < 20 || size == 0 || fe.lastHdrLen() > len || payload <= size) badSegmentedFrames++;
    }

    /**
     * A front-end with options {@code o} connected to the daemon's vhost-user socket at
     * {@code path} (waiting up to {@code timeoutMs} for it to listen), its rings started.
     */
    public static VhostTransport connect(String path, VhostUserFrontEnd.Options o, long timeoutMs) throws IOException {
        VhostUserFrontEnd fe = new VhostUserFrontEnd(o);
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        try {
            while (true) {
                try {
                    fe.connect(path);
                    break;
                } catch (IOException e) {
                    if (System.nanoTime() > deadline) throw e;
                    Thread.sleep(5);
                }
            }
            fe.start();
        } catch (IOException | RuntimeException e) {
            fe.close();
            throw e;
        } catch (InterruptedException e) {
            fe.close();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        return new VhostTransport(fe);
    }

    /**
     * The front-end options of a guest that moves bulk data: 1024 descriptors per ring (QEMU's
     * largest), receive buffers that hold a whole frame of 64 KiB (an IPv6 one included), and
     * guest memory for them.
     */
    public static VhostUserFrontEnd.Options bulkOptions() {
        VhostUserFrontEnd.Options o = new VhostUserFrontEnd.Options();
        o.ringSize = 1024;
        o.rxBufferSize = (Wire.NET_HDR + 14 + 40 + 65535 + 63) & ~63;
        o.txBufferSize = o.rxBufferSize;
        o.memory = 256L << 20;
        // as a Linux guest: it takes checksum offload where the device offers it (jpasst does,
        // upstream passt does not) and then leaves its TCP and UDP checksums to the device,
        o.checksumOffload = true;
        // and TCP frames of many segments where the device offers them (jpasst does, upstream
        // passt does not): a frame per 64 KiB of data to it, whatever the MSS
        o.segmentationOffload = true;
        return o;
    }

    public VhostUserFrontEnd frontEnd() {
        return fe;
    }

    @Override
    public String name() {
        return "vhost-user";
    }

    @Override
    public MemorySegment out() {
        return fe.ram().memory();
    }

    @Override
    public long reserve(int len) {
        return fe.reserveTx(len);
    }

    @Override
    public void commit(long off, int len) {
        fe.commitTx(off, len);
        committed = true;
        framesOut++;
    }

    @Override
    public boolean checksumOffload() {
        return (fe.ackedFeatures() & 1L << Wire.F_CSUM) != 0;
    }

    @Override
    public void commitLeavingChecksum(long off, int len, int csumStart, int csumOffset) {
        commitLeavingChecksum(off, len, csumStart, csumOffset, Wire.GSO_NONE, 0, 0);
    }

    private void commitLeavingChecksum(long off, int len, int csumStart, int csumOffset, int gsoType, int hdrLen, int gsoSize) {
        fe.commitTx(off, len, Wire.NET_HDR_F_NEEDS_CSUM, csumStart, csumOffset, gsoType, hdrLen, gsoSize);
        committed = true;
        framesOut++;
        checksumsLeft++;
    }

    @Override
    public boolean segmentationOffload(boolean v6) {
        long both = 1L << Wire.F_CSUM | 1L << (v6 ? Wire.F_HOST_TSO6 : Wire.F_HOST_TSO4);
        return (fe.ackedFeatures() & both) == both;
    }

    @Override
    public void commitSegmented(long off, int len, int csumStart, int csumOffset, boolean v6, int hdrLen, int gsoSize) {
        commitLeavingChecksum(off, len, csumStart, csumOffset, v6 ? Wire.GSO_TCPV6 : Wire.GSO_TCPV4, hdrLen, gsoSize);
        segmentedFramesOut++;
    }

    @Override
    public boolean flush() {
        if (committed) {
            fe.kick(Wire.TX);
            committed = false;
        }
        return true;
    }

    @Override
    public long queued() {
        fe.reapTx();
        return fe.txInFlight();
    }

    @Override
    public boolean closed() {
        return eof;
    }

    @Override
    public int poll(Receiver r, int timeoutMs) {
        if (eof) throw new IllegalStateException("the daemon closed the vhost-user connection");
        flush();
        receiver = r;
        handed = 0;
        fe.reapTx();
        fe.poll(sink, Integer.MAX_VALUE);
        if (handed == 0 && timeoutMs > 0) {
            // NAPI: interrupts on, look again, sleep; then off while the rings are drained
            fe.ring(Wire.RX).interrupts(true);
            boolean txWaiting = fe.txInFlight() > 0;
            if (txWaiting) fe.ring(Wire.TX).interrupts(true);
            if (fe.ring(Wire.RX).usedPending() == 0) sleep(timeoutMs, txWaiting);
            fe.ring(Wire.RX).interrupts(false);
            fe.ring(Wire.TX).interrupts(false);
            fe.reapTx();
            fe.poll(sink, Integer.MAX_VALUE);
        }
        receiver = null;
        if (eof) throw new IllegalStateException("the daemon closed the vhost-user connection");
        return handed;
    }

    /** Waits for a call on the receive ring (or the transmit ring), or for the back-end to close the socket. */
    private void sleep(int timeoutMs, boolean tx) {
        int n = 0;
        n = pollfd(n, fe.callDescriptor(Wire.RX), Native.POLLIN);
        n = pollfd(n, fe.socketDescriptor(), Native.POLLIN);
        if (tx) n = pollfd(n, fe.callDescriptor(Wire.TX), Native.POLLIN);
        if (Native.poll(pollfds, n, timeoutMs) <= 0) return;
        for (int i = 0; i < n; i++) {
            int fd = pollfds.get(ValueLayout.JAVA_INT, 8L * i);
            int ev = pollfds.get(ValueLayout.JAVA_SHORT, 8L * i + 6);
            if (ev == 0) continue;
            if (fd == fe.socketDescriptor()) {
                long got = Native.recv(fd, drain, drain.byteSize(), Native.MSG_DONTWAIT);
                if (got == 0 || (got < 0 && got != -Native.EAGAIN && got != -Native.EINTR)) eof = true;
            } else {
                Native.read(fd, drain, 8); // the eventfd's count
            }
        }
    }

    private int pollfd(int i, int fd, int events) {
        pollfds.set(ValueLayout.JAVA_INT, 8L * i, fd);
        pollfds.set(ValueLayout.JAVA_SHORT, 8L * i + 4, (short) events);
        pollfds.set(ValueLayout.JAVA_SHORT, 8L * i + 6, (short) 0);
        return i + 1;
    }

    @Override
    public void close() {
        fe.close();
        arena.close();
    }
}
