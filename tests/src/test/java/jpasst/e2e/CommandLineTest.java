package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What a user sees from the command itself: --help, --version, the errors and their exit
 * status, --runas, -l. Where the reference passt (Debian 2023) behaves as current passt, both run;
 * where current passt changed (-h prints to standard output and exits 0; --print-capabilities),
 * jpasst only, or jpasst against the upstream passt of 2026 (../shared/reference) when it is there.
 */
class CommandLineTest {
    record Result(int exit, String out, String err) {
        String describe() {
            return "exit " + exit + "\n----- stdout -----\n" + out + "----- stderr -----\n" + err + "-----";
        }
    }

    static Result run(Daemon.Kind kind, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(kind.command());
        command.addAll(List.of(args));
        Path err = Files.createTempFile("cli", ".err"), out = Files.createTempFile("cli", ".out");
        try {
            Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            p.getOutputStream().close();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", command) + " did not finish in 30 s");
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.ISO_8859_1),
                    Files.readString(err, StandardCharsets.ISO_8859_1));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    @Test
    void helpGoesToStandardOutputAndExitsZero() throws Exception {
        Result r = run(Daemon.Kind.JPASST, "--help");
        assertEquals(0, r.exit(), r.describe());
        assertTrue(r.out().startsWith("Usage: passt [OPTION]...\n"), r.describe());
        assertTrue(r.out().contains("--map-host-loopback ADDR"), r.describe());
        assertEquals("", r.err(), r.describe());
        assertEquals(0, run(Daemon.Kind.JPASST, "-h").exit());
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void versionNamesPasstAndExitsZero(Daemon.Kind kind) throws Exception {
        Result r = run(kind, "--version");
        assertEquals(0, r.exit(), r.describe());
        assertTrue(r.out().startsWith("passt "), r.describe());
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void unknownOptionIsGetoptsMessageThenTheUsageAndExitOne(Daemon.Kind kind) throws Exception {
        Result r = run(kind, "--bogus");
        assertEquals(1, r.exit(), r.describe());
        // getopt names the program as invoked (the reference: /usr/bin/passt)
        assertTrue(r.err().matches("(?s)(\\S*/)?passt: unrecognized option '--bogus'\n.*"), r.describe());
        assertTrue(r.err().matches("(?s).*Usage: (\\S*/)?passt \\[OPTION\\]\\.\\.\\..*"), r.describe());
        Result missing = run(kind, "-s");
        assertEquals(1, missing.exit(), missing.describe());
        assertTrue(missing.err().matches("(?s)(\\S*/)?passt: option requires an argument -- 's'\n.*"), missing.describe());
    }

    @Test
    void badValuesSayWhyAndExitOneWithoutAUsage() throws Exception {
        Result mtu = run(Daemon.Kind.JPASST, "-m", "lots");
        assertEquals(1, mtu.exit(), mtu.describe());
        assertEquals("Invalid MTU: lots\n", mtu.err(), mtu.describe());
        Result big = run(Daemon.Kind.JPASST, "-m", "70000");
        assertEquals("MTU 70000 too large (max 65521)\n", big.err(), big.describe());
        Result extra = run(Daemon.Kind.JPASST, "-f", "stray");
        assertEquals(1, extra.exit(), extra.describe());
        assertEquals("Extra non-option argument: stray\n", extra.err(), extra.describe());
        Result log = run(Daemon.Kind.JPASST, "-l", "/nonexistent-dir/x.log", "-s", "/tmp/jpasst-cli-test.socket");
        assertEquals(1, log.exit(), log.describe());
        assertTrue(log.err().contains("Couldn't open log file /nonexistent-dir/x.log: No such file or directory"),
                log.describe());
        Result runas = run(Daemon.Kind.JPASST, "--runas", "no-such-user-here");
        assertEquals(1, runas.exit(), runas.describe());
        assertEquals("Invalid --runas option: no-such-user-here\n", runas.err(), runas.describe());
    }

    /**
     * The vhost-user back-end convention (QEMU's vhost-user.rst, "Backend program conventions"):
     * {@code --print-capabilities} prints what upstream passt prints, word for word and on the
     * same stream (passt logs it on standard error), and exits 0, whatever comes before or after.
     */
    @Test
    void printCapabilitiesSaysWhatUpstreamPasstSays() throws Exception {
        String expected = "{\n  \"type\": \"net\"\n}\n";
        for (String[] args : new String[][] {{"--print-capabilities"}, {"-q", "--print-capabilities"},
                {"--vhost-user", "--print-capabilities", "--bogus"}}) {
            Result caps = run(Daemon.Kind.JPASST, args);
            assertEquals(0, caps.exit(), caps.describe());
            assertEquals(expected, caps.err(), caps.describe());
            assertEquals("", caps.out(), caps.describe());
            if (Files.isExecutable(Daemon.Kind.upstreamBinary())) {
                assertEquals(run(Daemon.Kind.UPSTREAM, args), caps, "jpasst and upstream passt, " + String.join(" ", args));
            }
        }
    }

    /**
     * -f --stats: once something happened (a guest connecting), a line of event counts on standard
     * error; upstream passt of 2026-03 too when it is there (Debian's of 2023 has no --stats).
     */
    @Test
    void statsPrintEventCountsOnStandardErrorOnceSomethingHappens() throws Exception {
        statsAfterAConnection(Daemon.Kind.JPASST);
        if (Files.isExecutable(Daemon.Kind.upstreamBinary())) statsAfterAConnection(Daemon.Kind.UPSTREAM);
    }

    private static void statsAfterAConnection(Daemon.Kind kind) throws Exception {
        try (Daemon daemon = Daemon.startForeground(kind, "--stats", "1");
             java.nio.channels.SocketChannel guest = java.nio.channels.SocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            guest.connect(java.net.UnixDomainSocketAddress.of(daemon.socket()));
            boolean counts = Processes.await(() -> daemon.stderr().lines()
                    .anyMatch(l -> l.matches("( +[0-9]+)+") && l.matches(".*[1-9].*")), Duration.ofSeconds(10));
            assertTrue(counts, kind + ": no line of event counts\n" + daemon.describe());
        }
    }

    @Test
    void whatJpasstCannotDoFailsLoudly() throws Exception {
        Result pasta = run(Daemon.Kind.JPASST, "--netns", "x");
        assertEquals(1, pasta.exit(), pasta.describe());
        assertEquals("--netns is for pasta mode only\n", pasta.err(), pasta.describe());
    }

    /** Started as root, --runas names the user the daemon runs as once its socket is bound. */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void runasChangesTheDaemonsUser(Daemon.Kind kind) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Processes.effectiveUid() == 0, "needs root");
        try (Daemon daemon = Daemon.start(kind, "--runas", "65534:65534")) {
            Path proc = Path.of("/proc/" + daemon.pid() + "/status");
            // jpasst's daemon changes user once its JVM has started (passt: before it forks)
            Processes.await(() -> read(proc).contains("\nUid:\t65534\t"), Duration.ofSeconds(10));
            String status = Files.readString(proc);
            assertTrue(status.lines().anyMatch(l -> l.matches("Uid:\\s+65534\\s+65534\\s+65534\\s+65534")),
                    status + daemon.describe());
            assertTrue(status.lines().anyMatch(l -> l.matches("Gid:\\s+65534\\s+65534\\s+65534\\s+65534")),
                    status + daemon.describe());
        }
    }

    /** -l: the daemon's messages go to the file, with passt's header and entry format. */
    @Test
    void logFileHasPasstsHeaderAndEntries() throws Exception {
        Path dir = Files.createTempDirectory("jpasst-log-");
        Path log = dir.resolve("passt.log");
        try (Daemon daemon = Daemon.start(Daemon.Kind.JPASST, "-l", log.toString(), "--log-size", "65536")) {
            // the daemon writes its log once its JVM has started (passt's parent writes the start)
            Processes.await(() -> read(log).contains("You can now start qemu"), Duration.ofSeconds(10));
            List<String> lines = Files.readAllLines(log);
            assertTrue(lines.get(0).matches("passt jpasst-\\S+: \\S+ \\(\\d+\\)"), lines.get(0));
            assertTrue(lines.stream().anyMatch(l -> l.matches("\\d+\\.\\d{4}: info:    UNIX domain socket bound at "
                    + daemon.socket())), String.join("\n", lines));
            assertTrue(lines.stream().anyMatch(l -> l.matches("\\d+\\.\\d{4}: info:    MAC:")), String.join("\n", lines));
            assertTrue(daemon.signalAndAwaitEnd(Processes.SIGTERM, Duration.ofSeconds(5)), daemon.describe());
        } finally {
            Files.deleteIfExists(log);
            Files.deleteIfExists(dir);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }

    /** A capture file that cannot be created is an error message, not a reason to stop (as passt). */
    @Test
    void unwritablePcapIsReportedAndTheDaemonServesAnyway() throws Exception {
        try (Daemon daemon = Daemon.start(Daemon.Kind.JPASST, "-p", "/nonexistent-dir/x.pcap")) {
            assertTrue(daemon.isListening(), daemon.describe());
            assertTrue(daemon.stderr().contains("Couldn't open pcap file /nonexistent-dir/x.pcap"), daemon.describe());
            assertFalse(daemon.stderr().contains("Exception"), daemon.describe());
        }
    }
}
