package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.Passt;
import jpasst.link.FramesFromGuest;
import jpasst.sys.Descriptors;
import jpasst.sys.Msghdr;
import jpasst.sys.SockAddr;
import jpasst.sys.Sockets;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * UDP through the whole daemon as assembled by {@link Passt}, both ways, 32 datagrams of 1472
 * bytes a time over one flow to a socket on the host's loopback (opened by the trial's setup):
 * <ul>
 * <li>{@code guestToHost}: a batch of the link's frames dispatched (checksum, flow lookup) and,
 *     at the batch's end, sent with one sendmmsg (the host socket's receive queue overflows
 *     and drops: the benchmark measures the daemon, not the reader);
 * <li>{@code hostToGuest}: the host socket sends 32 datagrams to the flow's socket (one
 *     sendmmsg, counted in), one loop round reads them with recvmmsg into 32 frames and writes
 *     them to the guest's socket, which the benchmark drains.
 * </ul>
 * Nothing here allocates per operation: with {@code -prof gc} both show the 1 to 3 B/op that
 * JMH's own bookkeeping spreads over operations this long ({@code harnessOnly}, which spins as
 * long and calls nothing, shows the same). An operation is invoked a few thousand times a
 * second, so the warm-up is long enough for C2 to compile the path (after the three warm-up
 * iterations of the other benchmarks, C1's code still ran here and allocated ~40 B/op).
 */
@Warmup(iterations = 10, time = 1)
public class UdpPathBench extends JmhSettings {
    static final int DATAGRAMS = 32, SIZE = 1472;

    Passt passt;
    int peerFd, hostFd;
    int frameLen;
    MemorySegment frames, in, hostMmsg, hostIov, flowAddr;
    final FramesFromGuest batch = new FramesFromGuest();

    @Setup(Level.Trial)
    public void setup() throws Exception {
        int[] guest = new int[1];
        passt = BenchFrames.daemonOnSocketpair(guest);
        peerFd = guest[0];

        // the host's end: a UDP socket on loopback the guest's flow connects to
        hostFd = Sockets.socket(Sockets.AF_INET, Sockets.SOCK_DGRAM | Sockets.SOCK_NONBLOCK, 0);
        MemorySegment sa = Arena.ofAuto().allocate(SockAddr.STORAGE, 8);
        SockAddr.in4(sa, 0x7f000001, 0);
        Sockets.bind(hostFd, sa, SockAddr.IN_SIZE);
        MemorySegment saLen = Arena.ofAuto().allocate(8, 8);
        saLen.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
        Sockets.getsockname(hostFd, sa, saLen);
        int port = SockAddr.port(sa);

        frames = Arena.ofAuto().allocate((long) DATAGRAMS * 2048, 64);
        for (int i = 0; i < DATAGRAMS; i++) frameLen = BenchFrames.udp4(frames, i * 2048L, 40000, port, SIZE);
        in = Arena.ofAuto().allocate(4 << 20, 64);
        guestToHost(); // opens the flow
        flowAddr = Arena.ofAuto().allocate(SockAddr.STORAGE, 8);
        saLen.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
        if (Sockets.recvfrom(hostFd, in.address(), in.byteSize(), 0, flowAddr, saLen) != SIZE) {
            throw new IllegalStateException("no datagram from the daemon's flow");
        }
        // what the host sends back: 32 datagrams to the flow's socket
        hostIov = Arena.ofAuto().allocate((long) Msghdr.IOVEC * DATAGRAMS, 8);
        hostMmsg = Arena.ofAuto().allocate((long) Msghdr.MMSG * DATAGRAMS, 8);
        for (int i = 0; i < DATAGRAMS; i++) {
            Msghdr.iovec(hostIov, i, in.address(), SIZE);
            Msghdr.mmsg(hostMmsg, i, flowAddr.address(), SockAddr.IN_SIZE, hostIov.address() + (long) Msghdr.IOVEC * i, 1);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        passt.close();
        Descriptors.close(peerFd);
        Descriptors.close(hostFd);
    }

    @Benchmark
    public long guestToHost() {
        batch.clear();
        for (int i = 0; i < DATAGRAMS; i++) batch.add(frames, i * 2048L, frameLen);
        passt.dispatch.receive(batch);
        return passt.udp.toHost();
    }

    /** No daemon: spins about as long as the operations above, to show what JMH's own per-iteration allocation comes to per operation. */
    @Benchmark
    public void harnessOnly() {
        org.openjdk.jmh.infra.Blackhole.consumeCPU(100_000);
    }

    @Benchmark
    public long hostToGuest() {
        Sockets.sendmmsg(hostFd, hostMmsg.address(), DATAGRAMS, 0);
        passt.loop.runOnce();
        while (Sockets.recv(peerFd, in.address(), in.byteSize(), Sockets.MSG_DONTWAIT) > 0) {
            // the guest's side drained
        }
        return passt.udp.toGuest();
    }
}
