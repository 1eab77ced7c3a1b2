package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * jpasst's launch, as passt's: whatever can fail happens in the launching command, which binds
 * the daemon's sockets, starts the daemon with them and exits at once, without waiting for the
 * daemon's JVM. So when the command returns the socket listens already (connections queue until
 * the daemon takes them), the pid file names the daemon; a port that cannot be bound is the
 * command's error and leaves no daemon; the daemon serves the very sockets its launcher bound,
 * binding none of its own; and a SIGQUIT sent the moment the command has returned (Kata's way to
 * stop passt), while the daemon's JVM is still starting, still ends the daemon.
 */
class LaunchHandoverTest {
    private static final Duration SETTLED = Duration.ofSeconds(20);

    @Test
    void launcherReturnsWithTheSocketListeningAndTheDaemonsPidInThePidFile() {
        try (Daemon daemon = Daemon.start(Daemon.Kind.JPASST)) {
            // checked before anything else: the daemon's JVM is most likely still starting
            assertTrue(daemon.isListening(), "not listening when the launcher returned\n" + daemon.describe());
            assertEquals(0, daemon.launcherExitCode(), daemon.describe());
            assertNotEquals(daemon.launcherPid(), daemon.pid(), daemon.describe());
            assertTrue(daemon.isRunning(), daemon.describe());
            assertTrue(socketInodes(daemon.pid()).containsAll(listeningUnix(daemon.socket())),
                    "the daemon holds the listening socket\n" + daemon.describe());
        }
    }

    /**
     * As passt, which closes the files it inherits: descriptors the launcher's caller left open
     * (a shell's, here 3, below the launcher's own, and 200, above them) do not reach the daemon,
     * which holds only what its launcher handed down; nor do the launcher's own (the pid file,
     * the SIGQUIT pipe's write end but as the daemon's standard output).
     */
    @Test
    void descriptorsTheCallerLeftOpenDoNotReachTheDaemon() {
        for (boolean foreground : new boolean[] {false, true}) {
            Daemon.Options o = Daemon.options(Daemon.Kind.JPASST)
                    .prefix("/bin/bash", "-c", "exec 3</etc/hostname 200</etc/hostname; exec \"$@\"", "sh");
            if (foreground) o.foreground();
            try (Daemon daemon = o.start()) {
                assertTrue(daemon.awaitServing(SETTLED), daemon.describe());
                String mode = foreground ? "-f: " : "";
                for (int fd : new int[] {3, 200}) {
                    Path link = Path.of("/proc/" + daemon.pid() + "/fd/" + fd);
                    assertFalse(Files.exists(link) && readLink(link).equals("/etc/hostname"), mode
                            + "the daemon holds its caller's descriptor " + fd + "\n" + daemon.describe());
                }
                Path fds = Path.of("/proc/" + daemon.pid() + "/fd");
                String quitPipe = readLink(fds.resolve("1"));
                assertTrue(quitPipe.startsWith("pipe:"), mode + "standard output: " + quitPipe);
                try (var each = Files.list(fds)) {
                    for (Path fd : each.toList()) {
                        String target = readLink(fd);
                        assertFalse(target.equals(daemon.pidFile().toString()), mode + "the daemon holds the pid file as "
                                + fd.getFileName() + "\n" + daemon.describe());
                        String n = fd.getFileName().toString();
                        assertFalse(target.equals(quitPipe) && !n.equals("1") && writeEnd(daemon.pid(), n), mode
                                + "the daemon holds the SIGQUIT pipe's write end as " + n + " besides 1\n" + daemon.describe());
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        }
    }

    /** Whether descriptor {@code fd} of {@code pid} is open for writing only (a pipe's write end). */
    private static boolean writeEnd(long pid, String fd) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/fdinfo/" + fd))) {
            if (line.startsWith("flags:")) return (Integer.parseInt(line.substring(6).trim(), 8) & 3) == 1;
        }
        return false;
    }

    private static String readLink(Path link) {
        try {
            return Files.readSymbolicLink(link).toString();
        } catch (IOException e) {
            return "";
        }
    }

    @Test
    void aForwardedTcpPortInUseFailsTheLauncherAndLeavesNoDaemon() throws Exception {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(0));
            int port = taken.getLocalPort();
            assertLaunchFails("-t", port, "Failed to bind any port for '-t " + port + "', exiting");
        }
    }

    /**
     * A socket bound at the path but not listening yet (a -f daemon's, whose JVM is still
     * starting: it listens once it serves) is in use, not a stale socket file to replace.
     */
    @Test
    void aSocketPathBoundButNotListeningYetIsInUse() throws Exception {
        Path dir = Files.createTempDirectory("jpasst-launch-");
        Path path = dir.resolve("s");
        try (java.nio.channels.SocketChannel bound = java.nio.channels.SocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            bound.bind(java.net.UnixDomainSocketAddress.of(path));
            CommandLineTest.Result r = CommandLineTest.run(Daemon.Kind.JPASST, "-q", "-f", "-s", path.toString());
            assertEquals(1, r.exit(), r.describe());
            assertEquals("Socket path " + path + " already in use\n", r.err(), r.describe());
        } finally {
            deleteTree(dir);
        }
    }

    /** As passt: a forwarded port taken in one address family only is served in the other. */
    @Test
    void aForwardedTcpPortTakenForIpv4OnlyIsServedOverIpv6() throws Exception {
        try (java.nio.channels.ServerSocketChannel taken =
                     java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.INET)) {
            taken.bind(new InetSocketAddress(0)); // an AF_INET socket: IPv4 only
            int port = ((InetSocketAddress) taken.getLocalAddress()).getPort();
            try (Daemon daemon = Daemon.start(Daemon.Kind.JPASST, "-t", Integer.toString(port))) {
                assertEquals(0, daemon.launcherExitCode(), daemon.describe());
                assertTrue(Processes.await(() -> {
                    Set<Long> held = socketInodes(daemon.pid());
                    held.retainAll(inet("tcp", port, "0A"));
                    return !held.isEmpty();
                }, SETTLED), "the daemon listens on no socket of port " + port + "\n" + daemon.describe());
                assertTrue(daemon.isRunning(), daemon.describe());
            }
        }
    }

    @Test
    void aForwardedUdpPortInUseFailsTheLauncherWithPasstsMessageAndLeavesNoDaemon() throws Exception {
        try (DatagramSocket taken = new DatagramSocket(0)) { // both IP versions, no SO_REUSEADDR
            int port = taken.getLocalPort();
            assertLaunchFails("-u", port, "Failed to bind port " + port + " (Address already in use) for option '-u "
                    + port + "', exiting");
        }
    }

    @Test
    void theDaemonServesTheSocketsItsLauncherBoundAndBindsNoneOfItsOwn() throws Exception {
        int tcp = freeTcpPort(), udp = freeUdpPort();
        Path log = Files.createTempDirectory("jpasst-launch-").resolve("passt.log");
        try (Daemon daemon = Daemon.start(Daemon.Kind.JPASST, "-l", log.toString(),
                "-t", Integer.toString(tcp), "-u", Integer.toString(udp))) {
            Set<Long> bound = new TreeSet<>(listeningUnix(daemon.socket()));
            bound.addAll(inet("tcp", tcp, "0A"));
            bound.addAll(inet("udp", udp, "07"));
            assertTrue(inet("tcp", tcp, "0A").size() >= 1 && inet("udp", udp, "07").size() >= 1, "bound: " + bound);
            // the daemon says where it serves once it has taken the sockets over
            assertTrue(Processes.await(() -> read(log).contains("You can now start qemu"), SETTLED), read(log));
            Set<Long> listening = new TreeSet<>(listeningUnix(null));
            listening.addAll(inet("tcp", -1, "0A"));
            listening.addAll(inet("udp", -1, "07"));
            Set<Long> held = socketInodes(daemon.pid());
            held.retainAll(listening);
            assertEquals(bound, held, "the daemon's listening sockets are exactly those its launcher bound\n"
                    + daemon.describe());
            try (Socket c = new Socket()) { // served: accepted, and closed as there is no guest
                c.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), tcp), 5000);
                c.setSoTimeout(5000);
                assertEquals(-1, c.getInputStream().read());
            }
        } finally {
            deleteTree(log.getParent());
        }
    }

    /**
     * SIGQUIT at several moments of the daemon's start-up, from the instant the launcher returned:
     * the daemon ends its own way (it says so in its log, and exits 0), however early.
     */
    @Test
    void sigquitRightAfterTheLauncherReturnsEndsTheDaemonItsOwnWay() throws Exception {
        for (int delayMs : new int[] {0, 0, 0, 5, 10, 30, 60, 100, 200}) {
            Path log = Files.createTempDirectory("jpasst-launch-").resolve("passt.log");
            try (Daemon daemon = Daemon.start(Daemon.Kind.JPASST, "-l", log.toString())) {
                Processes.sleep(Duration.ofMillis(delayMs));
                assertTrue(daemon.signalAndAwaitEnd(Processes.SIGQUIT, SETTLED),
                        "still running after a SIGQUIT " + delayMs + " ms after the launcher returned\n"
                                + daemon.describe());
                assertTrue(read(log).contains("Received SIGQUIT, exiting"),
                        "SIGQUIT " + delayMs + " ms after the launcher returned: not the daemon's own exit\n"
                                + read(log) + daemon.describe());
                assertFalse((daemon.stdout() + daemon.stderr()).contains("Full thread dump"), daemon.describe());
            } finally {
                deleteTree(log.getParent());
            }
        }
    }

    // ---- helpers ----

    /** {@code -q -s S -P P OPTION PORT} exits 1 with {@code message} alone, and no daemon runs. */
    private static void assertLaunchFails(String option, int port, String message) throws Exception {
        Path dir = Files.createTempDirectory("jpasst-launch-");
        try {
            CommandLineTest.Result r = CommandLineTest.run(Daemon.Kind.JPASST, "-q", "-s", dir.resolve("s").toString(),
                    "-P", dir.resolve("p").toString(), option, Integer.toString(port));
            assertEquals(1, r.exit(), r.describe());
            assertEquals(message + "\n", r.err(), r.describe());
            assertNoDaemon(dir);
        } finally {
            deleteTree(dir);
        }
    }

    /** No process runs with the directory's socket path on its command line. */
    private static void assertNoDaemon(Path dir) throws IOException {
        String path = dir.resolve("s").toString();
        List<String> left = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                String cmdline = new String(readBytes(p.resolve("cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
                if (cmdline.contains(path)) left.add(p.getFileName() + ": " + cmdline);
            }
        }
        assertEquals(List.of(), left, "processes left behind");
        assertEquals("", read(dir.resolve("p")).strip(), "pid file");
    }

    /** Inodes of listening UNIX stream sockets, those bound at {@code path} or (null) all. */
    static Set<Long> listeningUnix(Path path) {
        Set<Long> s = new TreeSet<>();
        for (String line : read(Path.of("/proc/net/unix")).lines().skip(1).toList()) {
            String[] f = line.strip().split("\\s+");
            if (f.length < 7 || (Long.parseLong(f[3], 16) & 0x10000) == 0) continue;
            if (path == null || (f.length >= 8 && f[7].equals(path.toString()))) s.add(Long.parseLong(f[6]));
        }
        return s;
    }

    /** Inodes of IPv4 and IPv6 {@code proto} sockets in {@code state} on {@code port} (-1: any). */
    static Set<Long> inet(String proto, int port, String state) {
        Set<Long> s = new TreeSet<>();
        for (String table : new String[] {proto, proto + "6"}) {
            for (String line : read(Path.of("/proc/net", table)).lines().skip(1).toList()) {
                String[] f = line.strip().split("\\s+");
                String local = f[1];
                int p = Integer.parseInt(local.substring(local.indexOf(':') + 1), 16);
                if (f[3].equals(state) && (port < 0 || p == port)) s.add(Long.parseLong(f[9]));
            }
        }
        return s;
    }

    /** Inodes of the sockets among a process's open descriptors. */
    static Set<Long> socketInodes(long pid) {
        Set<Long> s = new TreeSet<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[")) s.add(Long.parseLong(target.substring(8, target.length() - 1)));
                } catch (IOException gone) {
                    // closed meanwhile
                }
            }
        } catch (IOException e) {
            throw new AssertionError("cannot list the descriptors of " + pid, e);
        }
        return s;
    }

    static int freeTcpPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static int freeUdpPort() throws IOException {
        try (DatagramSocket s = new DatagramSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static String read(Path file) {
        return new String(readBytes(file), StandardCharsets.ISO_8859_1);
    }

    private static byte[] readBytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            return new byte[0];
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
