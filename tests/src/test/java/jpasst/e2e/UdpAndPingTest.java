package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;
import jpasst.guest.vm.RunningGuest;

/**
 * UDP and ICMP echo with a real guest: a datagram to the gateway's address reaches a host service
 * on loopback and its answer comes back; a {@code -u} port delivers a host's datagram to a
 * listener in the guest and the guest's answer to the sender; ping to the gateway is answered
 * through a ping socket; and a thousand guest source ports leave no socket behind once their
 * (shortened) timeout has passed.
 *
 * <p>The guest is busybox, whose {@code nc} has no UDP: it gets the host's socat (with its
 * libraries) for single datagrams, and {@code udpburst} (tests/src/test/c, built here with
 * {@code gcc -static}) for the thousand flows. busybox {@code ping} uses a raw socket, which the
 * guest's root may; on the host the daemon needs {@code net.ipv4.ping_group_range}, which the ping
 * test opens and restores.
 */
class UdpAndPingTest {
    private static final Path SOCAT = Path.of("/usr/bin/socat");
    private static final Path PING_RANGE = Path.of("/proc/sys/net/ipv4/ping_group_range");
    private static final String GW = "GW=$(ip route | awk '/^default/ {print $3; exit}')\nmark GW \"$GW\"\n";

    /** A UDP echo server on 127.0.0.1 (where the gateway's address leads), on a thread. */
    static final class Echo implements AutoCloseable {
        final DatagramSocket socket;
        final List<InetSocketAddress> senders = new CopyOnWriteArrayList<>();

        Echo() throws SocketException {
            socket = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
            socket.setReceiveBufferSize(4 << 20); // a burst of a thousand must not overflow it
            Thread t = new Thread(() -> {
                byte[] buf = new byte[65536];
                while (!socket.isClosed()) {
                    DatagramPacket p = new DatagramPacket(buf, buf.length);
                    try {
                        socket.receive(p);
                        senders.add((InetSocketAddress) p.getSocketAddress());
                        socket.send(new DatagramPacket(buf, p.getLength(), p.getSocketAddress()));
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "udp-echo");
            t.setDaemon(true);
            t.start();
        }

        int port() {
            return socket.getLocalPort();
        }

        @Override
        public void close() {
            socket.close();
        }
    }

    private static int freeUdpPort() throws SocketException {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress("0.0.0.0", 0))) {
            return s.getLocalPort();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void udpRequestToGatewayIsAnsweredByHostLoopbackService(Target target) throws Exception {
        try (Echo echo = new Echo(); Daemon daemon = Daemon.start(target)) {
            GuestRun guest = Guest.builder(daemon)
                    .hostProgram(SOCAT)
                    .script("dhcp4\n" + GW
                            + "R=$(echo hello-over-udp | socat -T 3 - UDP:$GW:" + echo.port() + " 2>&1)\n"
                            + "mark UDP_REPLY \"$R\"\n")
                    .run();
            assertEquals("hello-over-udp", guest.marker("UDP_REPLY"),
                    daemon.describe() + guest.consoleForMessage());
            assertEquals(1, echo.senders.size(), "one datagram reached the host service");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void datagramToForwardedPortReachesGuestListenerAndItsAnswerTheSender(Target target) throws Exception {
        int hostPort = freeUdpPort();
        try (Daemon daemon = Daemon.start(target, "-u", hostPort + ":5000");
             DatagramSocket host = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            host.setSoTimeout(200);
            AtomicBoolean running = new AtomicBoolean(true);
            List<String> answers = new CopyOnWriteArrayList<>();
            Thread sender = new Thread(() -> {
                byte[] msg = "hello-guest".getBytes(StandardCharsets.US_ASCII);
                byte[] buf = new byte[256];
                while (running.get()) {
                    try {
                        host.send(new DatagramPacket(msg, msg.length, new InetSocketAddress("127.0.0.1", hostPort)));
                        DatagramPacket r = new DatagramPacket(buf, buf.length);
                        host.receive(r);
                        answers.add(new String(buf, 0, r.getLength(), StandardCharsets.US_ASCII).strip()
                                + " from port " + r.getPort());
                    } catch (SocketTimeoutException e) {
                        // again: the guest may not listen yet
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "udp-sender");
            sender.setDaemon(true);
            sender.start();
            GuestRun guest;
            try {
                guest = Guest.builder(daemon)
                        .hostProgram(SOCAT)
                        .script("dhcp4\n"
                                + "socat -T 20 UDP-RECVFROM:5000 SYSTEM:'tee /tmp/got' 2>/tmp/socat.err\n"
                                + "mark GOT \"$(cat /tmp/got)\"\n"
                                + "sleep 1\n")
                        .run();
            } finally {
                running.set(false);
                sender.join(2000);
            }
            String context = daemon.describe() + guest.consoleForMessage();
            assertEquals("hello-guest", guest.marker("GOT"), "the guest's listener got the datagram" + context);
            assertTrue(answers.contains("hello-guest from port " + hostPort),
                    "the guest's answer came back from the forwarded port: " + answers + context);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void pingToGatewayIsAnswered(Target target) throws Exception {
        assumeTrue(Files.isWritable(PING_RANGE), "needs root to open " + PING_RANGE);
        String saved = Files.readString(PING_RANGE).strip().replace('\t', ' ');
        try {
            Files.writeString(PING_RANGE, "0 2147483647");
            try (Daemon daemon = Daemon.start(target)) {
                GuestRun guest = Guest.run(daemon, "dhcp4\n" + GW
                        + "ping -c 3 -W 3 $GW > /tmp/ping 2>&1; cat /tmp/ping\n"
                        + "mark PING \"$(grep 'packets received' /tmp/ping)\"\n"
                        + "mark PING_SEQ \"$(grep -c 'seq=' /tmp/ping)\"\n");
                String context = daemon.describe() + guest.consoleForMessage();
                assertEquals("3 packets transmitted, 3 packets received, 0% packet loss", guest.marker("PING"), context);
                assertEquals("3", guest.marker("PING_SEQ"), context);
            }
        } finally {
            Files.writeString(PING_RANGE, saved);
        }
    }

    /** Refused ping sockets: one clear warning, no replies, and the daemon keeps serving. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#jpasst")
    void refusedPingSocketsAreReportedAndTheDaemonCarriesOn(Target target, @TempDir Path dir) throws Exception {
        assumeTrue(Files.isWritable(PING_RANGE), "needs root to close " + PING_RANGE);
        String saved = Files.readString(PING_RANGE).strip().replace('\t', ' ');
        Path log = dir.resolve("jpasst.log");
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        try (Echo echo = new Echo()) {
            Files.writeString(PING_RANGE, "1 0");
            try (Daemon daemon = Daemon.start(target, "-l", log.toString())) {
                GuestRun guest = Guest.builder(daemon)
                        .hostProgram(SOCAT)
                        .script("dhcp4\n" + GW
                                + "ping -c 2 -W 2 $GW > /tmp/ping 2>&1; cat /tmp/ping\n"
                                + "mark PING \"$(grep 'packets received' /tmp/ping)\"\n"
                                + "R=$(echo still-here | socat -T 3 - UDP:$GW:" + echo.port() + " 2>&1)\n"
                                + "mark UDP_REPLY \"$R\"\n")
                        .run();
                String text = Files.readString(log);
                String context = daemon.describe() + "\n----- log -----\n" + text + guest.consoleForMessage();
                assertEquals("2 packets transmitted, 0 packets received, 100% packet loss", guest.marker("PING"), context);
                assertEquals("still-here", guest.marker("UDP_REPLY"), context);
                assertTrue(daemon.isRunning(), context);
                assertEquals(1, text.lines().filter(l -> l.contains("net.ipv4.ping_group_range")).count(), context);
            }
        } finally {
            Files.writeString(PING_RANGE, saved);
        }
    }

    /**
     * A thousand guest source ports make a thousand flows, each a socket in the daemon (the host
     * service sees a thousand senders); with the timeout shortened to 3 s they are all gone while
     * the guest is still connected (a guest that leaves takes its flows with it, which would
     * prove nothing): it waits, listening on a forwarded port, until the host has seen the
     * daemon's last UDP socket go and tells it so. The reference passt has no such option (its
     * timeout is 180 s): jpasst only.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#jpasst")
    void thousandSourcePortsLeaveNoSocketsAfterTheTimeout(Target target, @TempDir Path dir) throws Exception {
        Path burst = buildUdpBurst(dir);
        int donePort = TcpTransferTest.freePort();
        try (Echo echo = new Echo(); Daemon daemon = Daemon.start(target, "--udp-timeout", "3", "-t", donePort + ":8081");
             RunningGuest guest = Guest.builder(daemon)
                     .file("/udpburst", 0755, Files.readAllBytes(burst))
                     .script("dhcp4\n" + GW
                             // the gateway's MAC first: datagrams sent while the guest still asks
                             // for it wait in its neighbour queue, which keeps only the last 277
                             + "arping -c 1 -w 5 -I $(netif) $GW >/dev/null\n"
                             + "mark BURST \"$(/udpburst $GW " + echo.port() + " 20000 1000)\"\n"
                             + "nc -l -p 8081 >/dev/null\n" // until the host says the flows are gone
                             + "mark STILL_HERE 1\n")
                     .start()) {
            long pid = daemon.pid();
            assertEquals("sent=1000 replies=1000", guest.awaitMarker("BURST", Duration.ofSeconds(90)),
                    daemon.describe() + guest.console());
            assertEquals(1000, new HashSet<>(echo.senders).size(), "1000 distinct sources at the host service");
            long deadline = System.nanoTime() + 30_000_000_000L;
            long sockets;
            while ((sockets = udpSocketsOf(pid)) > 0 && System.nanoTime() < deadline) Processes.sleep(Duration.ofMillis(100));
            assertEquals(0, sockets, "the daemon's UDP sockets left 30 s after the burst\n" + daemon.describe());
            assertTrue(guest.isRunning(), "the guest left before its flows expired: " + guest.console());
            TcpTransferTest.done(donePort);
            assertEquals("1", guest.awaitMarker("STILL_HERE", Duration.ofSeconds(30)), "the guest was connected throughout");
            assertTrue(daemon.isRunning());
        }
    }

    /** The daemon's UDP sockets: its descriptors' socket inodes found in /proc/net/udp{,6}. */
    static long udpSocketsOf(long pid) {
        Set<String> inodes = new HashSet<>();
        for (String table : List.of("/proc/net/udp", "/proc/net/udp6")) {
            try (Stream<String> lines = Files.lines(Path.of(table))) {
                lines.skip(1).forEach(l -> inodes.add(l.strip().split("\\s+")[9]));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        long n = 0;
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[") && inodes.contains(target.substring(8, target.length() - 1))) n++;
                } catch (IOException gone) {
                    // closed meanwhile
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return n;
    }

    /** tests/src/test/c/udpburst.c, built static for the guest; skips the test without gcc. */
    static Path buildUdpBurst(Path dir) throws IOException, InterruptedException {
        String root = System.getProperty("jpasst.root");
        Path source = (root != null ? Path.of(root, "tests") : Path.of("")).toAbsolutePath()
                .resolve("src/test/c/udpburst.c");
        if (!Files.exists(source)) source = Path.of("src/test/c/udpburst.c").toAbsolutePath();
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "needs gcc to build " + source);
        Path out = dir.resolve("udpburst");
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/gcc", "-static", "-O2", "-o", out.toString(), source.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assumeTrue(p.waitFor() == 0, "cannot build udpburst (static libc missing?): " + output);
        return out;
    }
}
