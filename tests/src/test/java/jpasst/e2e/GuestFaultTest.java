package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;
import jpasst.guest.vm.RunningGuest;

/**
 * Guest faults (issue 8, part 2): QEMU killed with SIGKILL in the middle of a download, several
 * times over, against a daemon started without {@code --one-off}. Each time the daemon must let
 * go of the dead guest's flows (the host server sees its connection reset or closed), get back to
 * exactly the descriptors it had before the first guest came, and serve the next guest: a new
 * QEMU gets its DHCP lease and downloads a file intact. {@code -Djpasst.faults=N} (default 2)
 * kills; the line starting with "FAULTS" gives the figures.
 *
 * <p>jpasst only: the reference passt (Debian 0.0~git20230309) left the connection of the second
 * killed guest open towards the host (seen here: still unclosed 15 s after the kill).
 */
class GuestFaultTest {
    static final int FAULTS = Integer.getInteger("jpasst.faults", 2);

    /** Serves an endless stream on each connection, counting bytes; notes when a connection dies. */
    static final class EndlessServer implements AutoCloseable {
        final ServerSocket socket;
        final AtomicInteger connections = new AtomicInteger(), ended = new AtomicInteger();
        final AtomicLong sent = new AtomicLong();

        EndlessServer() throws IOException {
            socket = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
            Thread t = new Thread(this::serve, "endless");
            t.setDaemon(true);
            t.start();
        }

        private void serve() {
            byte[] chunk = new byte[65536];
            new Random(4).nextBytes(chunk);
            while (!socket.isClosed()) {
                try {
                    Socket c = socket.accept();
                    connections.incrementAndGet();
                    Thread w = new Thread(() -> {
                        try (c; OutputStream o = c.getOutputStream()) {
                            o.write(("HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n").getBytes());
                            while (true) {
                                o.write(chunk);
                                sent.addAndGet(chunk.length);
                            }
                        } catch (IOException gone) {
                            ended.incrementAndGet();
                        }
                    }, "endless-writer");
                    w.setDaemon(true);
                    w.start();
                } catch (IOException e) {
                    return;
                }
            }
        }

        int port() {
            return socket.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    static long fds(long pid) throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return s.count();
        }
    }

    static long awaitFds(long pid, long atMost, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long n;
        while ((n = fds(pid)) > atMost && System.nanoTime() < deadline) Processes.sleep(Duration.ofMillis(100));
        return n;
    }

    private static final String GATEWAY = "GW=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')";

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#jpasst")
    void qemuKilledMidDownloadAgainAndAgainLeavesNothingBehindAndTheNextGuestIsServed(Target target) throws Exception {
        byte[] file = TcpTransferTest.random(1 << 20, 5);
        com.sun.net.httpserver.HttpServer http = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        http.createContext("/file.bin", ex -> {
            ex.sendResponseHeaders(200, file.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(file);
            }
        });
        http.start();
        try (EndlessServer endless = new EndlessServer(); Daemon daemon = Daemon.start(target)) {
            assertTrue(daemon.awaitServing(Duration.ofSeconds(30)), daemon.describe());
            long before = fds(daemon.pid());
            long started = System.nanoTime();
            for (int i = 1; i <= FAULTS; i++) {
                int endedBefore = endless.ended.get();
                try (RunningGuest guest = Guest.builder(daemon)
                        .script("dhcp4 >/dev/null && " + GATEWAY + " && mark LEASE $GW && "
                                + "(wget -q -O /tmp/stream http://$GW:" + endless.port() + "/ &) && "
                                + "while true; do mark GOT $(wc -c < /tmp/stream 2>/dev/null || echo 0); sleep 0.3; done")
                        .start()) {
                    guest.awaitMarker("LEASE", Duration.ofSeconds(60));
                    // mid-transfer: the guest has a good part of the stream, and more is coming
                    long deadline = System.nanoTime() + 60_000_000_000L;
                    while (Long.parseLong(guest.awaitMarker("GOT", Duration.ofSeconds(30))) < (1 << 20)) {
                        assertTrue(System.nanoTime() < deadline, "the download did not get going\n" + guest.console());
                        Processes.sleep(Duration.ofMillis(100));
                    }
                    guest.kill();
                }
                // the dead guest's connection to the host is closed by the daemon
                long deadline = System.nanoTime() + 15_000_000_000L;
                while (endless.ended.get() == endedBefore && System.nanoTime() < deadline) Processes.sleep(Duration.ofMillis(50));
                assertEquals(endedBefore + 1, endless.ended.get(), "fault " + i + ": the host side of the dead guest's flow stays open\n"
                        + daemon.describe());
                assertEquals(before, awaitFds(daemon.pid(), before, Duration.ofSeconds(15)),
                        "fault " + i + ": descriptors of the daemon before the first guest and after the kill");
                assertTrue(daemon.isRunning(), daemon.describe());
            }
            // a new guest is served as if nothing had happened
            GuestRun run = Guest.builder(daemon)
                    .timeout(Duration.ofSeconds(90))
                    .script("dhcp4 >/dev/null && " + GATEWAY + " && mark SHA $(wget -q -O - http://$GW:"
                            + http.getAddress().getPort() + "/file.bin | sha256sum | cut -d' ' -f1)")
                    .run();
            assertEquals(TcpTransferTest.sha256(file), run.marker("SHA"), run.consoleForMessage());
            long after = awaitFds(daemon.pid(), before, Duration.ofSeconds(15));
            System.out.printf("FAULTS %s: %d QEMU kills mid-download survived (%d MB streamed to the dead guests); "
                            + "daemon descriptors %d before, %d after; then a new guest got its lease and 1 MB intact; %.0f s%n",
                    target, FAULTS, endless.sent.get() >> 20, before, after, (System.nanoTime() - started) / 1e9);
            assertEquals(before, after, "descriptors after the last guest");
            assertTrue(daemon.isRunning());
        } finally {
            http.stop(0);
        }
    }
}
