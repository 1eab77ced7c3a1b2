package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

import jpasst.Listeners;
import jpasst.Passt;
import jpasst.conf.Conf;
import jpasst.guest.StreamTransport;
import jpasst.guest.Transport;
import jpasst.guest.VhostTransport;
import jpasst.loop.EventLoop;
import jpasst.sys.Descriptors;
import jpasst.sys.Errno;
import jpasst.sys.SockAddr;
import jpasst.sys.Sockets;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * A UDP datagram through the whole daemon over either guest transport, each way, with the guest
 * side played by synthetic-guest's transports on the benchmark's own thread: over vhost-user the
 * frame lies in the guest's transmit virtqueue and the daemon's answer is written into its
 * receive virtqueue (synthetic-guest's front-end, what QEMU is); over the stream socket it
 * crosses QEMU's framing. One operation is one datagram: the guest writes its frame and kicks
 * (or writes), the daemon's loop runs once ({@link EventLoop#runOnce}) and sends it from the
 * flow's socket, the host's socket on the loopback receives it; or the host sends one, the loop
 * runs once and puts its frame to the guest, the guest takes it. Everything is on this thread,
 * so JMH's {@code -prof gc} counts the daemon's allocations and the guest's together: 0 B/op
 * says that neither the daemon's vhost-user path nor its stream path allocates per datagram
 * (and that the guest side does not either). The system calls are real; ns/op includes them.
 */
public class GuestTransportBench extends JmhSettings {
    private static final int PAYLOAD = 64, GUEST_PORT = 40000;

    @Param({"vhost-user", "stream"})
    public String transport;

    Passt passt;
    Transport guest;
    int hostFd;
    MemorySegment frame, buf;
    int frameLen;
    long received;
    private final Transport.Receiver count = (s, off, len, vouched) -> received++;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        Conf.Builder c = BenchFrames.conf();
        c.v6 = false;
        c.vhostUser = transport.equals("vhost-user");
        Path socket = Files.createTempDirectory("jpasst-bench").resolve("passt.socket");
        c.socketPath = socket.toString();
        Conf conf = c.build();
        passt = new Passt(conf, new EventLoop(), Listeners.open(conf), null);
        passt.start();

        // the host's end: a UDP socket on the loopback, at the port the guest sends to
        hostFd = Sockets.socket(Sockets.AF_INET, Sockets.SOCK_DGRAM | Sockets.SOCK_NONBLOCK, 0);
        MemorySegment sa = Arena.ofAuto().allocate(SockAddr.STORAGE, 8);
        int len = SockAddr.in4(sa, 0x7f00_0001, 0);
        check(Sockets.bind(hostFd, sa, len), "bind");
        MemorySegment saLen = Arena.ofAuto().allocate(4, 4);
        saLen.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
        check(Sockets.getsockname(hostFd, sa, saLen), "getsockname");
        int hostPort = SockAddr.port(sa);

        // the guest connects; a front-end's handshake waits for the daemon's answers, so the
        // loop runs here meanwhile (woken every 10 ms at least)
        CompletableFuture<Transport> connecting = CompletableFuture.supplyAsync(() -> {
            try {
                return c.vhostUser ? VhostTransport.connect(socket.toString(), VhostTransport.bulkOptions(), 5_000)
                        : StreamTransport.connect(socket.toString(), 5_000);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!connecting.isDone()) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("the guest did not connect");
            passt.loop.wakeAt(System.nanoTime() + 10_000_000L);
            passt.loop.runOnce();
        }
        guest = connecting.join();

        frame = Arena.ofAuto().allocate(2048, 64);
        frameLen = BenchFrames.udp4(frame, 0, GUEST_PORT, hostPort, PAYLOAD);
        buf = Arena.ofAuto().allocate(65536, 64);

        // the first datagram opens the flow; the host's socket answers to where it came from
        if (!guestToHost()) throw new IllegalStateException("the first datagram did not reach the host");
        MemorySegment from = Arena.ofAuto().allocate(SockAddr.STORAGE, 8);
        saLen.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
        sendOne();
        long n;
        for (int i = 0; (n = Sockets.recvfrom(hostFd, buf.address(), buf.byteSize(), 0, from, saLen)) == -Errno.EAGAIN; i++) {
            runLoop(i);
        }
        check((int) Math.min(n, 0), "recvfrom");
        check(Sockets.connect(hostFd, from, saLen.get(ValueLayout.JAVA_INT, 0)), "connect");
        if (!hostToGuest()) throw new IllegalStateException("the host's datagram did not reach the guest");
    }

    private static void check(int r, String what) {
        if (r < 0) throw new IllegalStateException(what + ": " + Errno.text(r));
    }

    /** The guest's frame out: written into the transport, committed, pushed (one write or one kick). */
    private void sendOne() {
        long at;
        while ((at = guest.reserve(frameLen)) < 0) guest.poll(count, 0); // transmit buffers back
        MemorySegment.copy(frame, 0, guest.out(), at, frameLen);
        guest.commit(at, frameLen);
        guest.flush();
    }

    /** One datagram guest → host: true once the host's socket has it. */
    private boolean guestToHost() {
        sendOne();
        for (int i = 0; i < 1000; i++) {
            runLoop(i);
            if (Sockets.recv(hostFd, buf, buf.byteSize(), Sockets.MSG_DONTWAIT) == PAYLOAD) return true;
        }
        return false;
    }

    /** One datagram host → guest: true once the guest has its frame. */
    private boolean hostToGuest() {
        long before = received;
        Sockets.send(hostFd, buf, PAYLOAD, 0);
        for (int i = 0; i < 1000; i++) {
            runLoop(i);
            guest.poll(count, 0);
            if (received != before) return true;
        }
        return false;
    }

    /**
     * One round of the daemon's loop: the first waits for the event that is surely coming (the
     * guest's kick or write, the host's datagram); a later one (what the first handled was not
     * all of it) no longer than a millisecond.
     */
    private void runLoop(int round) {
        if (round > 0) passt.loop.wakeAt(System.nanoTime() + 1_000_000L);
        passt.loop.runOnce();
    }

    @Benchmark
    public boolean udpGuestToHost() {
        return guestToHost();
    }

    @Benchmark
    public boolean udpHostToGuest() {
        return hostToGuest();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        guest.close();
        Descriptors.close(hostFd);
    }
}
