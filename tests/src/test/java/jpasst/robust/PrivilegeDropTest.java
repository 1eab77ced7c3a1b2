package jpasst.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import jpasst.e2e.Daemon;
import jpasst.e2e.Processes;

/**
 * Least privilege (issue 8, part 5), against the reference passt and jpasst alike: started as
 * root, the daemon ends up as {@code nobody} (or what {@code --runas} names, USER:GROUP or
 * UID:GID) with no capabilities and no supplementary groups, after binding what needs root (a
 * forwarded port below 1024 still answers); {@code ss} shows it listening on the ports it was
 * asked for and its UNIX socket, nothing else; the files it creates (pid file, log, capture)
 * have mode 0600, as passt's.
 *
 * One difference is by design: passt 2023 gives up root before writing the pid file (so the file
 * belongs to nobody), jpasst after (it belongs to root; the daemon never writes it again).
 *
 * Needs root: skipped otherwise.
 */
class PrivilegeDropTest {
    @BeforeEach
    void root() {
        assumeTrue(Processes.effectiveUid() == 0, "needs root");
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void startedAsRootItBecomesNobodyAfterBindingAPrivilegedPortAndListensOnlyWhereAsked(Daemon.Kind kind) throws Exception {
        int tcp = freePrivilegedPort(), udp = freeUdpPort();
        try (Daemon d = Daemon.start(kind, "-t", Integer.toString(tcp), "-u", Integer.toString(udp))) {
            int[] nobody = ids("nobody", "/etc/passwd");
            Status s = statusOnceDropped(d.pid());
            assertEquals(List.of(nobody[0], nobody[0], nobody[0], nobody[0]), s.uids, "Uid: real, effective, saved, fs\n" + d.describe());
            assertEquals(List.of(nobody[1], nobody[1], nobody[1], nobody[1]), s.gids, "Gid");
            assertEquals("", s.groups, "supplementary groups");
            assertEquals(0L, s.capEff, "effective capabilities");
            assertEquals(0L, s.capPrm, "permitted capabilities");
            try (Socket c = new Socket()) {
                c.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), tcp), 2000); // bound as root
            }
            Set<String> listening = listening(d.pid());
            Set<String> expected = new TreeSet<>(Set.of("tcp:" + tcp, "udp:" + udp, "u_str:" + d.socket()));
            assertEquals(expected, ports(listening), "listening sockets: " + listening);
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void withoutForwardedPortsItListensOnItsSocketAlone(Daemon.Kind kind) throws Exception {
        try (Daemon d = Daemon.start(kind)) {
            Set<String> listening = listening(d.pid());
            assertEquals(Set.of("u_str:" + d.socket()), ports(listening), "listening sockets: " + listening);
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void filesItCreatesHavePasstsModes(Daemon.Kind kind) throws Exception {
        Path dir = Files.createTempDirectory("jpasst-files-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path log = dir.resolve("passt.log"), pcap = dir.resolve("passt.pcap");
        try (Daemon d = Daemon.start(kind, "-l", log.toString(), "-p", pcap.toString())) {
            assertEquals("rw-------", mode(d.pidFile()), "pid file");
            assertEquals("rw-------", mode(log), "log file");
            assertEquals("rw-------", mode(pcap), "capture file");
        } finally {
            for (Path p : new Path[] {log, pcap, dir}) Files.deleteIfExists(p);
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void runasTakesUserAndGroupNamesOrNumbers(Daemon.Kind kind) throws Exception {
        int[] daemonUser = ids("daemon", "/etc/passwd");
        int daemonGroup = ids("daemon", "/etc/group")[0];
        try (Daemon d = Daemon.start(kind, "--runas", "daemon:daemon")) {
            Status s = statusOnceDropped(d.pid());
            assertEquals(daemonUser[0], s.uids.get(1), d.describe());
            assertEquals(daemonGroup, s.gids.get(1));
            assertEquals(0L, s.capEff);
        }
        try (Daemon d = Daemon.start(kind, "--runas", "1234:4321")) {
            Status s = statusOnceDropped(d.pid());
            assertEquals(List.of(1234, 1234, 1234, 1234), s.uids, d.describe());
            assertEquals(List.of(4321, 4321, 4321, 4321), s.gids);
            assertEquals("", s.groups);
        }
    }

    // ---- helpers ----

    record Status(List<Integer> uids, List<Integer> gids, String groups, long capEff, long capPrm) {}

    /**
     * {@link #status} once the daemon is no longer root (or after 10 s): jpasst's daemon changes
     * user once its JVM has started, shortly after the launcher returned (passt: before it forks).
     */
    static Status statusOnceDropped(long pid) throws IOException {
        Processes.await(() -> {
            try {
                return status(pid).uids.get(1) != 0;
            } catch (IOException | RuntimeException gone) {
                return true;
            }
        }, Duration.ofSeconds(10));
        return status(pid);
    }

    static Status status(long pid) throws IOException {
        List<Integer> uids = List.of(), gids = List.of();
        String groups = null;
        long capEff = -1, capPrm = -1;
        for (String l : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            String v = l.substring(l.indexOf(':') + 1).strip();
            if (l.startsWith("Uid:")) uids = numbers(v);
            else if (l.startsWith("Gid:")) gids = numbers(v);
            else if (l.startsWith("Groups:")) groups = v;
            else if (l.startsWith("CapEff:")) capEff = Long.parseLong(v, 16);
            else if (l.startsWith("CapPrm:")) capPrm = Long.parseLong(v, 16);
        }
        return new Status(uids, gids, groups, capEff, capPrm);
    }

    private static List<Integer> numbers(String v) {
        List<Integer> l = new ArrayList<>();
        for (String w : v.split("\\s+")) l.add(Integer.parseInt(w));
        return l;
    }

    /** {uid or gid, primary gid} of a name in /etc/passwd or /etc/group. */
    static int[] ids(String name, String file) throws IOException {
        for (String l : Files.readAllLines(Path.of(file))) {
            String[] f = l.split(":", -1);
            if (f[0].equals(name)) return new int[] {Integer.parseInt(f[2]), f.length > 3 && !f[3].isEmpty() && file.endsWith("passwd") ? Integer.parseInt(f[3]) : -1};
        }
        throw new AssertionError(name + " not in " + file);
    }

    /** Listening TCP, UDP and UNIX stream sockets of {@code pid}, per ss: "netid local-address". */
    static Set<String> listening(long pid) throws Exception {
        Process ss = new ProcessBuilder("ss", "-H", "-l", "-n", "-p", "-t", "-u", "-x").redirectErrorStream(true).start();
        String out = new String(ss.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(ss.waitFor(10, TimeUnit.SECONDS) && ss.exitValue() == 0, "ss failed: " + out);
        Set<String> mine = new TreeSet<>();
        for (String line : out.split("\n")) {
            if (!line.contains("pid=" + pid + ",")) continue;
            String[] w = line.strip().split("\\s+");
            mine.add(w[0] + " " + w[4]);
        }
        return mine;
    }

    /** "netid:port" (or "u_str:path") of each listening socket, whatever address it is bound to. */
    static Set<String> ports(Set<String> listening) {
        Set<String> s = new TreeSet<>();
        for (String l : listening) {
            String[] w = l.split(" ");
            s.add(w[0] + ":" + (w[0].startsWith("u_") ? w[1] : w[1].substring(w[1].lastIndexOf(':') + 1)));
        }
        return s;
    }

    static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    static int freePrivilegedPort() {
        for (int p = 1023; p > 600; p--) {
            try (ServerSocket s = new ServerSocket()) {
                s.bind(new InetSocketAddress(p));
                return p;
            } catch (IOException taken) {
                // next
            }
        }
        throw new AssertionError("no free port below 1024");
    }

    static int freeUdpPort() throws IOException {
        try (java.net.DatagramSocket s = new java.net.DatagramSocket(0)) {
            return s.getLocalPort();
        }
    }
}
