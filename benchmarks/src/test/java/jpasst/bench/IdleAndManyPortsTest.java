package jpasst.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * {@code --idle} and {@code --ports} against a real daemon: Debian's passt (which ./test installs),
 * small sizes. Root, as the comparison itself (network namespaces, daemons that become nobody).
 */
class IdleAndManyPortsTest {
    private static final Compare.Spec PASST = Compare.Spec.of(Compare.DEBIAN, List.of("/usr/bin/passt"));

    @Test
    void idleDaemonsAreMeasuredThenStopped() throws Exception {
        assertTrue(Files.isExecutable(Path.of("/usr/bin/passt")), "the reference passt (apt-get install passt)");
        Results r = new Results();
        String note = Idle.run(PASST, 2, 1, r, false);
        assertTrue(r.median(Compare.DEBIAN, "idle.pss") > 1, r.raw());
        assertTrue(r.median(Compare.DEBIAN, "idle.anon") > 0, r.raw());
        assertTrue(r.median(Compare.DEBIAN, "idle.ticks") >= 0, r.raw());
        assertTrue(r.median(Compare.DEBIAN, "idle.wakeups") >= 0, r.raw());
        assertTrue(note.contains("one idle passt-2023 daemon"), note);
        long pid = Long.parseLong(note.substring(note.indexOf("(pid ") + 5, note.indexOf(')')));
        assertFalse(Proc.alive(pid), "stopped with SIGQUIT");
    }

    @Test
    void manyPortsLaunchBindsTwoSocketsAPortInItsOwnNamespace() throws Exception {
        assertTrue(Files.isExecutable(Path.of("/usr/bin/passt")), "the reference passt (apt-get install passt)");
        Results r = new Results();
        int failuresBefore = Compare.failures().size();
        try (ManyPorts m = ManyPorts.setUp(50, false)) {
            m.run(PASST, 1, r, false);
        }
        assertEquals(List.of(), Compare.failures().subList(failuresBefore, Compare.failures().size()),
                "every launch bound all 100 sockets");
        assertEquals(1, r.all(Compare.DEBIAN, "ports.launch").size(), r.raw());
        assertTrue(r.median(Compare.DEBIAN, "ports.answer") >= r.median(Compare.DEBIAN, "ports.launch"), r.raw());
        assertTrue(r.median(Compare.DEBIAN, "ports.pss") > 1, r.raw());
    }

    /**
     * With IPv6 on too, jpasst binds a dual-stack socket per port and protocol, as passt: the
     * 100 sockets of 50 ports, not 200 (plus the few a daemon holds besides).
     */
    @Test
    void withIpv6TooJpasstBindsOneDualStackSocketAPortAndProtocol() throws Exception {
        Path jar = Path.of("../passt-core/target/passt.jar").toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(jar), jar + " (built before this module)");
        Compare.Spec jpasst = Compare.Spec.of(Compare.SUBJECT,
                List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", jar.toString()));
        Results r = new Results();
        int failuresBefore = Compare.failures().size();
        try (ManyPorts m = ManyPorts.setUp(50, true)) {
            m.run(jpasst, 1, r, false);
        }
        assertEquals(List.of(), Compare.failures().subList(failuresBefore, Compare.failures().size()),
                "the launch bound all 100 sockets");
        double sockets = r.median(Compare.SUBJECT, "ports.sockets");
        assertTrue(sockets >= 100 && sockets < 110, sockets + " sockets: " + r.raw());
    }
}
