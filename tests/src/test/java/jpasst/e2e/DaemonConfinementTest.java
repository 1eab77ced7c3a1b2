package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What isolates a running jpasst daemon, checked from outside as an administrator would (README,
 * Security), for a daemon started by root (as Kata and libvirt start it: it becomes nobody) and
 * one started by a regular user (rootless podman, libvirt's session mode):
 * no other process of the daemon's user can attach to its JVM (jcmd) or read its /proc files,
 * which are root's; no_new_privs and a seccomp filter are on; root's daemon has user, mount, IPC
 * and UTS namespaces of its own and sees only what it still needs; and whatever the entry
 * ({@code ./passt}, {@code java -jar}, daemonized or {@code -f}, {@code --fd}), the serving JVM
 * runs with the daemon's JVM flags, a foreground one under the pid it was started with.
 *
 * Needs root (to start daemons as other users, and to look at them).
 */
class DaemonConfinementTest {
    /** A regular user without a passwd entry. */
    static final int USER = 1234, NOBODY = 65534;

    enum Start {
        ROOT(NOBODY), USER(DaemonConfinementTest.USER);

        /** Whom the daemon runs as. */
        final int uid;

        Start(int uid) {
            this.uid = uid;
        }

        Daemon launch(String... args) {
            Daemon.Options o = Daemon.options(Daemon.Kind.JPASST).arguments(args);
            if (this == USER) o.prefix(asUser(uid));
            Daemon d = o.start();
            assertTrue(d.awaitServing(Duration.ofSeconds(30)), "the daemon serves\n" + d.describe());
            return d;
        }
    }

    @BeforeEach
    void root() {
        assumeTrue(Processes.effectiveUid() == 0, "needs root");
    }

    @ParameterizedTest(name = "started by {0}")
    @EnumSource(Start.class)
    void itsProcFilesAreRootsAndNoNewPrivsAndTheFilterAreOn(Start start) throws Exception {
        try (Daemon d = start.launch()) {
            Map<String, String> status = status(d.pid());
            assertEquals(start.uid + "\t" + start.uid + "\t" + start.uid + "\t" + start.uid, status.get("Uid"));
            assertEquals("1", status.get("NoNewPrivs"), d.describe());
            assertEquals("2", status.get("Seccomp"), "a seccomp filter\n" + d.describe());
            for (String file : new String[] {"mem", "environ", "maps"}) {
                Path p = Path.of("/proc", Long.toString(d.pid()), file);
                assertEquals(0, (int) Files.getAttribute(p, "unix:uid"), p + " is root's");
            }
            Result environ = run(asUserCommand(start.uid, "cat", "/proc/" + d.pid() + "/environ"));
            assertNotEquals(0, environ.exit(), "another process of the daemon's user reads its environment: "
                    + environ);
            assertTrue(d.isRunning());
        }
    }

    @ParameterizedTest(name = "started by {0}")
    @EnumSource(Start.class)
    void anotherProcessOfItsUserCannotAttachToItsJvmAndItHasNoPerfData(Start start) throws Exception {
        try (Daemon d = start.launch()) {
            String maps = Files.readString(Path.of("/proc", Long.toString(d.pid()), "maps"));
            assertFalse(maps.contains("hsperfdata"), "a perf data file is mapped");
            Result listed = run(List.of(jdkTool("jcmd"), "-l"));
            assertFalse(listed.out().lines().anyMatch(l -> l.startsWith(d.pid() + " ")),
                    "jcmd -l lists the daemon: " + listed);
            List<String> jcmd = asUserCommand(start.uid, jdkTool("jcmd"), "-J-Dsun.tools.attach.attachTimeout=3000",
                    Long.toString(d.pid()), "VM.version");
            Result attach = run(jcmd);
            assertNotEquals(0, attach.exit(), "jcmd attached: " + attach);
            assertFalse(attach.out().contains("JDK "), "jcmd got an answer: " + attach);
        }
    }

    @Test
    void rootsDaemonHasNamespacesOfItsOwnAndSeesOnlyWhatItStillNeeds() throws Exception {
        try (Daemon d = Start.ROOT.launch()) {
            for (String ns : new String[] {"user", "mnt", "ipc", "uts"}) {
                assertNotEquals(namespace("self", ns), namespace(Long.toString(d.pid()), ns), ns + " namespace");
            }
            assertEquals(namespace("self", "net"), namespace(Long.toString(d.pid()), "net"), "the host's network");
            assertEquals("0 0 4294967295", Files.readString(Path.of("/proc", Long.toString(d.pid()), "uid_map"))
                    .strip().replaceAll("\\s+", " "), "ids as on the host");
            // its root: the JDK's native libraries and /dev/null, nothing else
            Path root = Path.of("/proc", Long.toString(d.pid()), "root");
            Path javaHome = Path.of(System.getProperty("java.home"));
            Set<String> expected = new TreeSet<>(Set.of("dev", javaHome.getName(0).toString()));
            assertEquals(expected, names(root), "the daemon's root directory");
            assertEquals(Set.of("null"), names(root.resolve("dev")));
            assertEquals(Set.of("lib"), names(root.resolve(javaHome.toString().substring(1))));
            assertTrue(Files.isRegularFile(root.resolve(javaHome.toString().substring(1)).resolve("lib/libnio.so")));
        }
    }

    @Test
    void aRegularUsersDaemonStaysInTheHostsNamespaces() throws Exception {
        try (Daemon d = Start.USER.launch()) {
            for (String ns : new String[] {"user", "mnt", "net"}) {
                assertEquals(namespace("self", ns), namespace(Long.toString(d.pid()), ns), ns + " namespace");
            }
        }
    }

    /**
     * The JVM options of the serving process, read from its /proc/PID/cmdline, are the same
     * whatever the entry: the launcher's own (./passt's C1-only flags, a user's) never serve.
     */
    @Test
    void theServingJvmRunsWithTheDaemonsFlagsWhateverTheEntry() throws Exception {
        String root = System.getProperty("jpasst.root");
        String passt = Path.of(root, "passt").toAbsolutePath().normalize().toString();
        Map<String, List<String>> flags = new LinkedHashMap<>();
        try (Daemon d = Start.ROOT.launch()) {
            flags.put("java -jar", jvmOptions(d.pid()));
        }
        try (Daemon d = Daemon.options(Daemon.Kind.JPASST).foreground().start()) {
            flags.put("java -jar -f", servingAs(d, d.launcherPid()));
        }
        List<String> java = Daemon.Kind.JPASST.command(); // java -jar passt.jar
        try (Daemon d = Daemon.options(Daemon.Kind.JPASST).foreground().program(java.get(0),
                "-XX:TieredStopAtLevel=1", "-XX:-DisableAttachMechanism", "-jar", java.get(2)).start()) {
            flags.put("java -jar -f, with flags of its own", servingAs(d, d.launcherPid()));
        }
        try (Daemon d = Daemon.options(Daemon.Kind.JPASST).environment("JAVA_TOOL_OPTIONS",
                "-XX:-DisableAttachMechanism -XX:TieredStopAtLevel=1").start()) {
            assertTrue(d.awaitServing(Duration.ofSeconds(30)), d.describe());
            flags.put("java -jar, JAVA_TOOL_OPTIONS", jvmOptions(d.pid()));
            assertFalse(Files.readString(Path.of("/proc", Long.toString(d.pid()), "environ"))
                    .contains("JAVA_TOOL_OPTIONS"), "the daemon's environment passes the JVM options on");
        }
        try (Daemon d = Daemon.options(Daemon.Kind.JPASST).program(passt).start()) {
            assertTrue(d.awaitServing(Duration.ofSeconds(30)), d.describe());
            flags.put("./passt", jvmOptions(d.pid()));
        }
        try (Daemon d = Daemon.options(Daemon.Kind.JPASST).foreground().program(passt).start()) {
            flags.put("./passt -f", servingAs(d, d.launcherPid()));
        }
        flags.put("--fd 3", fdEntry());

        List<String> daemonized = flags.get("java -jar");
        assertTrue(daemonized.contains("-XX:+DisableAttachMechanism") && daemonized.contains("-XX:-UsePerfData"),
                "attach and perf data off: " + daemonized);
        for (Map.Entry<String, List<String>> e : flags.entrySet()) {
            assertEquals(daemonized, e.getValue(), e.getKey() + ": the serving JVM's flags\n" + flags);
            assertFalse(e.getValue().contains("-XX:TieredStopAtLevel=1"), e.getKey());
        }
    }

    // ---- helpers ----

    /** A foreground daemon once it serves, which must be the process started ({@code pid}): its JVM options. */
    private static List<String> servingAs(Daemon d, long pid) throws IOException {
        assertEquals(pid, d.pid());
        assertTrue(d.awaitServing(Duration.ofSeconds(30)), d.describe());
        return jvmOptions(pid);
    }

    /** QEMU 10.1's way in: --fd 3 from a socketpair, daemonized; the daemon's JVM options. */
    private static List<String> fdEntry() throws Exception {
        Path dir = Files.createTempDirectory("jpasst-fd-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path pid = dir.resolve("passt.pid");
        List<String> command = new ArrayList<>(Daemon.Kind.JPASST.command());
        command.addAll(List.of("--quiet", "--pid", pid.toString(), "--fd", "3"));
        try (SocketPairSpawn guest = SocketPairSpawn.start(command, 3, dir.resolve("out"), dir.resolve("err"))) {
            assertEquals(Integer.valueOf(0), guest.awaitExit(Duration.ofSeconds(30)), Files.readString(dir.resolve("err")));
            long daemon = Daemon.readPid(pid);
            assertTrue(Processes.await(() -> Processes.waitsInEpoll(daemon), Duration.ofSeconds(30)));
            return jvmOptions(daemon);
        } finally {
            long daemon = Daemon.readPid(pid);
            if (daemon > 1 && Processes.isRunning(daemon)) Processes.signal(daemon, Processes.SIGKILL);
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }

    /** The JVM options on {@code pid}'s command line: the words between java and -jar. */
    static List<String> jvmOptions(long pid) throws IOException {
        String[] words = new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                StandardCharsets.UTF_8).split("\0");
        assertTrue(words[0].endsWith("/java"), "a JVM: " + String.join(" ", words));
        List<String> options = new ArrayList<>();
        for (int i = 1; i < words.length && !words[i].equals("-jar"); i++) options.add(words[i]);
        return options;
    }

    static Map<String, String> status(long pid) throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        for (String l : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            int colon = l.indexOf(':');
            if (colon > 0) m.put(l.substring(0, colon), l.substring(colon + 1).strip());
        }
        return m;
    }

    private static String namespace(String pid, String ns) throws IOException {
        return Files.readSymbolicLink(Path.of("/proc", pid, "ns", ns)).toString();
    }

    private static Set<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return new TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
        }
    }

    private static String jdkTool(String name) {
        return Path.of(System.getProperty("java.home"), "bin", name).toString();
    }

    /** setpriv's words to run what follows as {@code uid} (group the same number, no other groups). */
    static String[] asUser(int uid) {
        return new String[] {"setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--"};
    }

    private static List<String> asUserCommand(int uid, String... command) {
        List<String> c = new ArrayList<>(List.of(asUser(uid)));
        c.addAll(List.of(command));
        return c;
    }

    record Result(int exit, String out) {
        @Override
        public String toString() {
            return "exit " + exit + ":\n" + out;
        }
    }

    static Result run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("still running after 60 s: " + command);
        }
        return new Result(p.exitValue(), out);
    }
}
