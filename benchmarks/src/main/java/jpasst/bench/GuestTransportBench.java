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
import jpasst.guest.GuestStack;
import jpasst.guest.StreamTransport;
import jpasst.guest.TcpApp;
import jpasst.guest.TcpConn;
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
 * UDP datagrams and TCP data through the whole daemon over either guest transport, each way,
 * with synthetic-guest's stack as the guest on the benchmark's own thread: over vhost-user the
 * guest's frames lie in its transmit virtqueue and the daemon writes its frames into the guest's
 * receive virtqueue (synthetic-guest's front-end, what QEMU is); over the stream socket they cross
 * QEMU's framing. The daemon's loop runs on this thread too ({@link EventLoop#runOnce}, between
 * the guest's rounds), and the host's sockets on the loopback are read and written here with the
 * daemon's own FFM calls. So JMH's {@code -prof gc} counts the daemon's allocations and the
 * guest's together: ≈ 0 B/op says that neither the daemon's vhost-user paths nor its stream paths
 * (nor the guest) allocate per datagram or per 64 KiB of TCP. The system calls are real; ns/op
 * includes them and the guest's work.
 *
 * One operation: one UDP datagram of 64 bytes from the guest to the host's socket, or from the
 * host's socket to the guest; or 64 KiB over one TCP connection, the guest's written and
 * acknowledged (the daemon acknowledges what the host's kernel took), or the host's written and
 * received by the guest.
 */
public class GuestTransportBench extends JmhSettings {
    private static final int PAYLOAD = 64, GUEST_PORT = 40000, CHUNK = 65536;

    @Param({"vhost-user", "stream"})
    public String transport;

    Passt passt;
    GuestStack g;
    TcpConn conn;
    int udpFd, listenFd, tcpFd = -1, udpPort;
    MemorySegment buf;
    long datagrams;

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
        buf = Arena.ofAuto().allocate(CHUNK, 64);

        // the host's end: a UDP socket and a listening TCP socket on the loopback
        udpFd = Sockets.socket(Sockets.AF_INET, Sockets.SOCK_DGRAM | Sockets.SOCK_NONBLOCK, 0);
        udpPort = bindLoopback(udpFd);
        listenFd = Sockets.socket(Sockets.AF_INET, Sockets.SOCK_STREAM | Sockets.SOCK_NONBLOCK, 0);
        int tcpPort = bindLoopback(listenFd);
        check(Sockets.listen(listenFd, 4), "listen");

        // the guest connects, takes its lease, resolves the gateway and opens a TCP connection to
        // the host's port, on a thread of its own meanwhile: those steps wait for the daemon's
        // answers, and the daemon's loop runs here (the host's accept too)
        CompletableFuture<GuestStack> ready = CompletableFuture.supplyAsync(() -> {
            try {
                Transport t = c.vhostUser ? VhostTransport.connect(socket.toString(), VhostTransport.bulkOptions(), 5_000)
                        : StreamTransport.connect(socket.toString(), 5_000);
                GuestStack s = new GuestStack(t);
                if (!s.dhcp(5_000) || !s.arpGateway(5_000)) throw new IllegalStateException("no lease or no gateway");
                s.udpApp((sport, dport, seg, off, len) -> datagrams++);
                conn = s.connect(tcpPort, 65480, new TcpApp() { });
                if (!s.pollUntil(() -> conn.state() == TcpConn.ESTABLISHED, 5_000)) {
                    throw new IllegalStateException("not established: " + conn);
                }
                return s;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!ready.isDone() || tcpFd < 0) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("the guest is not ready");
            runLoop();
            if (tcpFd < 0) tcpFd = Sockets.accept4(listenFd, MemorySegment.NULL, MemorySegment.NULL, Sockets.SOCK_NONBLOCK);
        }
        g = ready.join();

        // the first datagram opens the UDP flow: the host's socket answers to where it came from
        g.sendUdp(GUEST_PORT, udpPort, PAYLOAD);
        MemorySegment from = Arena.ofAuto().allocate(SockAddr.STORAGE, 8);
        MemorySegment fromLen = Arena.ofAuto().allocate(4, 4);
        fromLen.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
        long n;
        while ((n = Sockets.recvfrom(udpFd, buf.address(), buf.byteSize(), 0, from, fromLen)) == -Errno.EAGAIN) {
            g.poll(0);
            runLoop();
        }
        check((int) Math.min(n, 0), "recvfrom");
        check(Sockets.connect(udpFd, from, fromLen.get(ValueLayout.JAVA_INT, 0)), "connect");
        if (!udpGuestToHost() || !udpHostToGuest()) throw new IllegalStateException("UDP does not cross");
    }

    private static int bindLoopback(int fd) {
        MemorySegment sa = Arena.ofAuto().allocate(SockAddr.STORAGE, 8);
        check(Sockets.bind(fd, sa, SockAddr.in4(sa, 0x7f00_0001, 0)), "bind");
        MemorySegment len = Arena.ofAuto().allocate(4, 4);
        len.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
        check(Sockets.getsockname(fd, sa, len), "getsockname");
        return SockAddr.port(sa);
    }

    private static void check(int r, String what) {
        if (r < 0) throw new IllegalStateException(what + ": " + Errno.text(r));
    }

    /** One round of the daemon's loop, waiting at most a millisecond for something to do. */
    private void runLoop() {
        passt.loop.wakeAt(System.nanoTime() + 1_000_000L);
        passt.loop.runOnce();
    }

    @Benchmark
    public boolean udpGuestToHost() {
        g.sendUdp(GUEST_PORT, udpPort, PAYLOAD);
        for (int i = 0; i < 1000; i++) {
            g.poll(0);
            runLoop();
            if (Sockets.recv(udpFd, buf, buf.byteSize(), Sockets.MSG_DONTWAIT) == PAYLOAD) return true;
        }
        return false;
    }

    @Benchmark
    public boolean udpHostToGuest() {
        long before = datagrams;
        Sockets.send(udpFd, buf, PAYLOAD, 0);
        for (int i = 0; i < 1000; i++) {
            runLoop();
            g.poll(0);
            if (datagrams != before) return true;
        }
        return false;
    }

    @Benchmark
    public boolean tcpGuestToHost() {
        long target = conn.acknowledged() + CHUNK;
        conn.write(CHUNK);
        for (int i = 0; i < 100_000; i++) {
            g.poll(0);
            runLoop();
            while (Sockets.recv(tcpFd, buf, buf.byteSize(), Sockets.MSG_DONTWAIT) > 0) {
                // the host takes it all
            }
            if (conn.acknowledged() >= target) return true;
        }
        return false;
    }

    @Benchmark
    public boolean tcpHostToGuest() {
        long target = conn.received() + CHUNK;
        long written = 0;
        for (int i = 0; i < 100_000; i++) {
            if (written < CHUNK) {
                long n = Sockets.send(tcpFd, buf.address(), CHUNK - written, Sockets.MSG_DONTWAIT);
                if (n > 0) written += n;
            }
            runLoop();
            g.poll(0);
            if (conn.received() >= target) return true;
        }
        return false;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        g.close();
        Descriptors.close(tcpFd);
        Descriptors.close(listenFd);
        Descriptors.close(udpFd);
    }
}
