package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.link.FrameBatch;
import jpasst.link.FramesFromGuest;
import jpasst.link.Link;
import jpasst.link.Pcap;
import jpasst.link.Receiver;
import jpasst.loop.EventLoop;
import jpasst.util.Log;

/**
 * The guest link over vhost-user ({@code --vhost-user}), as passt's vu_common.c is: frames go
 * straight between the guest's virtqueues, in its own memory, and the flows' host sockets, over
 * a {@link VhostUserDevice} that speaks the protocol with QEMU.
 *
 * <p><b>From the guest</b>: a kick of the transmit queue hands up to 1024 frames (and up to
 * {@link #PASS_BYTES} of them) to the {@link Receiver} as one {@link FramesFromGuest} batch, where
 * they lie in guest memory; the flows queue their TCP payloads from there and send them with one
 * sendmsg per connection before the receiver returns (no copy in user space: a TCP frame the guest
 * scattered over several buffers comes as its first buffer, copied, and its payload where it lies;
 * other scattered frames are gathered), and only then are the chains returned to the guest and the
 * guest signalled. The device goes on with the rest of the queue after the batch of events.
 *
 * <p><b>To the guest, filled in place</b> (TCP data, UDP datagrams): the device pops receive
 * buffers straight into the producer's {@link FrameBatch}, the headers after the virtio-net
 * header in the first buffer, the payload in as many pieces as guest buffers (MRG_RXBUF); the
 * producer's recvmsg writes into them (the kernel's copy is the only one) and the commit writes
 * the virtio-net header (num_buffers, DATA_VALID, and for a TCP frame of many segments its GSO
 * type and segment size: {@link #largeTcpFrames}) and returns what was not used.
 *
 * <p><b>To the guest, one piece</b> (ARP, DHCP, NDP, DHCPv6, TCP control segments, ICMP):
 * {@link #reserve(int)} takes receive buffers for the frame at once (so that "no room" is known
 * before the producer builds anything) and hands out a staging buffer of ours; the commit copies
 * the frame into the buffers. One user-space copy, as passt's vu_send_single.
 *
 * <p>The frames are marked DATA_VALID, so the guest does not check TCP and UDP checksums and the
 * producers skip them ({@link #checksumsNeeded()}), unless a capture runs: a pcap file should
 * hold frames a reader can verify. {@code --pcap} records every frame both ways, a frame in
 * pieces as its pieces in order.
 *
 * <p>Room again when the guest posts receive buffers after a reservation came short; guest gone
 * when the front-end leaves (its memory unmapped, its eventfds closed; the next front-end gets a
 * working link, or with {@code --one-off} the loop stops). A fault in guest memory while a
 * producer writes into it (a front-end that truncated its memory file) resets the front-end,
 * through the loop's fault handler, instead of ending the loop.
 *
 * <p>Everything runs on the loop thread. Hot path: no allocation per frame.
 */
public final class VhostUserLink implements Link {
    /**
     * Frame bytes one pass over the transmit queue takes at most (the frame that reaches it is
     * the last): what a pass sends is acknowledged and its buffers go back to the guest sooner,
     * so the guest goes on writing frames while the daemon sends, instead of waiting for a pass
     * over everything it queued. The device goes on with the rest after the batch of events. A/B
     * of the jars without and with it, synthetic guest (1024-entry ring, 64 KiB frames), 3
     * alternated runs: TCP guest→host 38–43 → 49–50 Gbit/s at MTU 65520, 37–40 → 49–51 at MTU
     * 1500 (segmentation offload), CPU per GB the same (0.11–0.12 s/GB); UDP and
     * request/response the same within the runs' spread. 2 MB gained nothing for TCP; 16 frames
     * a pass, whatever their size, cost UDP half its throughput.
     */
    static final long PASS_BYTES = 1 << 20;
    private final Conf conf;
    private final VhostUserDevice device;
    private final Pcap capture; // null: none
    private final int listenFd; // -1: --fd
    private final String socketPath;
    private final FramesFromGuest in = new FramesFromGuest();
    /** One-piece frames: built in the staging buffer, copied into the buffers of {@link #single}. */
    private final MemorySegment staging = Arena.ofAuto().allocate(VhostUserSession.MAX_RX_FRAME, 64);
    private final FrameBatch single = new FrameBatch(1, 256);
    private boolean singleReserved;
    private Receiver receiver;

    /**
     * A link on {@code listenFd}, a UNIX socket listening at {@code socketPath} (bound by
     * {@code jpasst.Listeners}, maybe in the launching process), or with {@code listenFd} -1 on
     * the connected socket of --fd ({@link Conf#fd}). Frames both ways go to {@code capture}
     * too, unless it is null.
     */
    public VhostUserLink(Conf conf, EventLoop loop, Pcap capture, int listenFd, String socketPath) {
        if (listenFd < 0 && conf.fd < 0) throw new IllegalStateException("neither a listening socket nor --fd");
        this.conf = conf;
        this.capture = capture;
        this.listenFd = listenFd;
        this.socketPath = socketPath;
        device = new VhostUserDevice(loop);
        device.passScatteredTcp(capture == null); // a capture records frames in one piece
        device.onTx(this::fromGuest);
        device.onRxRoom(() -> receiver.roomAgain());
        device.onGone(() -> {
            singleReserved = false;
            receiver.guestGone();
        });
        device.oneOff(conf.oneOff, loop::stop);
        loop.onFault(device::faulted);
    }

    @Override
    public void start(Receiver r) {
        if (receiver != null) throw new IllegalStateException("started already");
        receiver = r;
        if (listenFd >= 0) {
            device.listen(listenFd, socketPath);
        } else {
            device.adopt(conf.fd);
        }
    }

    /** Where the listening socket is bound; null with --fd. */
    public String socketPath() {
        return socketPath;
    }

    /** The vhost-user device (tests: its counters). */
    public VhostUserDevice device() {
        return device;
    }

    @Override
    public boolean connected() {
        return device.connected();
    }

    // ---- from the guest

    /**
     * The frame's way in: the frames waiting in the transmit queue go to the receiver, which
     * dispatches them and sends what the flows queued from them before it returns; then their
     * buffers go back to the guest. A receiver that throws (a bug) loses the frame it threw on:
     * the others are handed over again, and the first error goes on to the loop, which logs it.
     */
    private void fromGuest() {
        int n = device.popTx(in, FramesFromGuest.MAX, PASS_BYTES);
        if (n == 0) return;
        RuntimeException failed = null;
        try {
            if (capture != null) {
                while (in.next()) {
                    if (in.checksumPending()) {
                        capture.frameCompletingChecksum(in.segment(), in.offset(), in.length());
                    } else {
                        capture.frame(in.segment(), in.offset(), in.length());
                    }
                }
                in.rewind(0);
            }
            while (true) {
                try {
                    receiver.receive(in);
                    break;
                } catch (RuntimeException e) {
                    if (failed == null) failed = e;
                    int at = in.taken(); // (the frame it threw on is the one before)
                    if (at == 0 || at >= n) break;
                    in.rewind(at);
                }
            }
        } finally {
            device.releaseTx();
        }
        if (failed != null) throw failed;
    }

    // ---- to the guest, one piece

    @Override
    public long reserve(int len) {
        // a frame reserved and never committed (a producer that then had nothing to send) is
        // simply forgotten, as over the stream socket: its buffers go back with this reservation
        singleReserved = false;
        if (device.reserveRx(single, 0, len, 1) == 0) return -1;
        if (single.capacity(0) < len) { // without MRG_RXBUF, a buffer smaller than the frame
            device.commitRx(single, 0);
            return -1;
        }
        singleReserved = true;
        return 0;
    }

    @Override
    public MemorySegment out() {
        return staging;
    }

    @Override
    public void commit(long frame, int len) {
        if (!singleReserved) return; // the front-end left meanwhile
        singleReserved = false;
        VhostUserDevice.copyIn(single, 0, staging, frame, len);
        single.payloadLength(0, len);
        if (capture != null) capture.frame(staging, frame, len);
        device.commitRx(single, 1);
    }

    // ---- to the guest, filled in place

    @Override
    public int reserve(FrameBatch batch, int hdrLen, int maxPayload, int count) {
        singleReserved = false; // (forgotten, see reserve(int))
        return device.reserveRx(batch, hdrLen, maxPayload, count);
    }

    @Override
    public void commit(FrameBatch batch, int frames) {
        if (capture != null) {
            for (int i = 0; i < frames; i++) capture.frame(batch, i);
        }
        device.commitRx(batch, frames);
    }

    @Override
    public boolean checksumsNeeded() {
        return capture != null;
    }

    @Override
    public boolean largeTcpFrames(boolean v6) {
        return device.segmentationOffload(v6);
    }

    @Override
    public int readLimit() {
        return Integer.MAX_VALUE;
    }

    @Override
    public void flush() {
        singleReserved = false; // (what was reserved and not committed goes back now)
        device.publish();
    }

    @Override
    public void close() {
        device.close();
        if (Log.debugEnabled()) {
            Log.debug("vhost-user: " + device.framesIn() + " frames from the guest (" + device.framesGathered()
                    + " gathered from several buffers, " + device.framesScattered() + " TCP ones taken in pieces), "
                    + device.framesOut() + " to it, " + device.resets() + " connections reset");
        }
    }
}
