package jpasst.glue;

import jpasst.glue.TestDaemons.TestDaemon;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * passt-qemu's two commands. {@code args} runs in this JVM; {@code run} runs as its own JVM, as
 * users run it, with QEMU frozen by {@code -S} (nothing boots) and its monitor on a UNIX socket.
 */
class LauncherTest {

    @TempDir
    Path tempDir;

    private PasstEndpoint daemon;

    @BeforeEach
    void startReferenceDaemon() throws IOException {
        daemon = PasstEndpoint.start(new PasstEndpoint.Options(DaemonCommand.passtBinary("/usr/bin/passt"))
                .passtOptions(List.of("-q")).runtimeParent(TestFiles.traversableParent(tempDir)));
    }

    @AfterEach
    void stopReferenceDaemon() throws IOException {
        daemon.stop();
    }

    private record Result(int status, String out, String err) {
    }

    private static Result execute(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Launcher.execute(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void argsPrintsOneLineOfStreamArgumentsForARunningDaemon() {
        Result result = execute("args", "-s", daemon.socketPath().toString(), "--qemu-version", "9.2", "--reconnect", "5");
        assertEquals(0, result.status(), result.err());
        assertEquals("-netdev stream,id=jpasst0,server=off,addr.type=unix,addr.path=" + daemon.socketPath()
                + ",reconnect-ms=5000 -device virtio-net-pci,netdev=jpasst0\n", result.out());
    }

    @Test
    void argsAsksTheInstalledQemuForItsVersion() throws Exception {
        Result result = execute("args", "-s", daemon.socketPath().toString());
        assertEquals(0, result.status(), result.err());
        assertEquals(daemon.qemuArgs(QemuVersion.detect("qemu-system-x86_64")).build().shellLine() + "\n", result.out());
    }

    @Test
    void argsJsonLineSplitsBackIntoJsonObjects() throws Exception {
        Result result = execute("args", "-s", daemon.socketPath().toString(), "--qemu-version", "10.1", "--json",
                "--guest-mac", "52:54:00:12:34:56");
        assertEquals(0, result.status(), result.err());
        List<String> words = ShellQuoteTest.splitWithShell(result.out().strip());
        assertEquals(4, words.size(), words.toString());
        assertEquals("stream", Json.parseObject(words.get(1)).get("type"));
        assertEquals(Map.of("driver", "virtio-net-pci", "netdev", "jpasst0", "mac", "52:54:00:12:34:56"),
                Json.parseObject(words.get(3)));
    }

    @Test
    void argsForQemuBefore72PrintsTheSocketFdFormAndExplainsTheHandoff() {
        Result result = execute("args", "-s", daemon.socketPath().toString(), "--qemu-version", "6.2");
        assertEquals(0, result.status(), result.err());
        assertEquals("-netdev socket,id=jpasst0,fd=5 -device virtio-net-pci,netdev=jpasst0\n", result.out());
        assertTrue(result.err().contains("passed as fd 5"), result.err());
    }

    @Test
    void argsForVhostUserNeedsTheGuestMemory() {
        assertEquals(Launcher.EXIT_USAGE, execute("args", "-s", daemon.socketPath().toString(), "--vhost-user").status());
        Result result = execute("args", "-s", daemon.socketPath().toString(), "--qemu-version", "9.2",
                "--vhost-user", "--memory", "1G");
        assertEquals(0, result.status(), result.err());
        assertTrue(result.out().contains("-object memory-backend-memfd,id=jpasst0-memory,share=on,size=1G"), result.out());
    }

    @Test
    void argsRefusesAPathWithoutSocket() {
        Result result = execute("args", "-s", tempDir.resolve("absent.socket").toString(), "--qemu-version", "9.2");
        assertEquals(Launcher.EXIT_FAILURE, result.status());
        assertTrue(result.err().contains("no socket at"), result.err());
    }

    @Test
    void argsReportsAVersionTooOldForTheAskedReconnect() {
        Result result = execute("args", "-s", daemon.socketPath().toString(), "--qemu-version", "7.2", "--reconnect", "5");
        assertEquals(Launcher.EXIT_FAILURE, result.status());
        assertTrue(result.err().contains("arrived in 8.0"), result.err());
    }

    @Test
    void usageMistakesExitWithStatus2() {
        assertEquals(Launcher.EXIT_USAGE, execute().status());
        assertEquals(Launcher.EXIT_USAGE, execute("args").status());
        assertEquals(Launcher.EXIT_USAGE, execute("args", "-s").status());
        assertEquals(Launcher.EXIT_USAGE, execute("args", "-s", "x", "--bogus").status());
        assertEquals(Launcher.EXIT_USAGE, execute("run", "-q").status());
        assertEquals(Launcher.EXIT_USAGE, execute("run", "--reconnect", "soon", "--", "qemu").status());
        assertEquals(Launcher.EXIT_USAGE, execute("frobnicate").status());
        assertEquals(0, execute("--help").status());
    }

    // ---- run, in its own JVM ----

    private Process launcher(List<String> runArguments, Map<String, String> systemProperties) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED"));
        systemProperties.forEach((k, v) -> command.add("-D" + k + "=" + v));
        command.addAll(List.of("-cp", System.getProperty("jpasst.glue.classes", "target/classes"),
                Launcher.class.getName(), "run"));
        command.addAll(runArguments);
        return new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(tempDir.resolve("launcher.out").toFile())
                .redirectError(tempDir.resolve("launcher.err").toFile())
                .start();
    }

    private String launcherOutput() {
        return "stdout:\n" + PausedQemu.readLog(tempDir.resolve("launcher.out"))
                + "\nstderr:\n" + PausedQemu.readLog(tempDir.resolve("launcher.err"));
    }

    private List<String> runArguments(String daemonSpec, Path stateFile, Path monitor, String... extra) {
        List<String> args = new ArrayList<>(List.of("--daemon", daemonSpec, "--state", stateFile.toString()));
        args.addAll(List.of(extra));
        args.addAll(List.of("-q", "--"));
        args.addAll(PausedQemu.command(monitor));
        return args;
    }

    /** Waits for run's state file and returns the endpoint it describes. */
    private PasstEndpoint awaitState(Path stateFile, Process launcher) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.exists(stateFile)) {
                return PasstEndpoint.load(stateFile);
            }
            if (!launcher.isAlive()) {
                fail("launcher exited " + launcher.exitValue() + " before saving its state:\n" + launcherOutput());
            }
            Thread.sleep(20);
        }
        fail("no state file from the launcher:\n" + launcherOutput());
        return null;
    }

    private ProcessHandle qemuChildOf(Process launcher) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline) {
            Optional<ProcessHandle> qemu = launcher.toHandle().children()
                    .filter(p -> p.info().command().orElse("").contains("qemu-system")).findFirst();
            if (qemu.isPresent()) {
                return qemu.get();
            }
            Thread.sleep(20);
        }
        fail("the launcher started no QEMU:\n" + launcherOutput());
        return null;
    }

    private int awaitExit(Process launcher) throws InterruptedException {
        assertTrue(launcher.waitFor(30, TimeUnit.SECONDS), "launcher still runs:\n" + launcherOutput());
        return launcher.exitValue();
    }

    /**
     * Ends a launcher a failed test left running: SIGTERM first, so its shutdown hook stops QEMU and
     * the daemon; SIGKILL (which skips the hook) only for what is left after that.
     */
    private static void tearDown(Process launcher) throws InterruptedException {
        if (launcher.isAlive()) {
            launcher.destroy();
            if (!launcher.waitFor(15, TimeUnit.SECONDS)) {
                launcher.descendants().forEach(ProcessHandle::destroyForcibly);
                launcher.destroyForcibly();
            }
        }
    }

    private static void assertStoppedAndCleanedUp(PasstEndpoint endpoint, Path stateFile) {
        assertFalse(LinuxProcess.isRunning(endpoint.pid(), Optional.empty()), "daemon " + endpoint.pid() + " still runs");
        assertFalse(Files.exists(endpoint.socketPath()), "socket left behind");
        assertFalse(Files.exists(endpoint.runtimeDirectory()), "runtime directory left behind");
        assertFalse(Files.exists(stateFile), "state file left behind");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void runWiresQemuToTheDaemonAndStopsTheDaemonWhenQemuQuits(TestDaemon daemonUnderTest) throws Exception {
        daemonUnderTest.command();
        Path stateFile = tempDir.resolve("state.json");
        Path monitor = tempDir.resolve("monitor.sock");
        Process launcher = launcher(runArguments(daemonUnderTest.spec(), stateFile, monitor), Map.of());
        try {
            PasstEndpoint endpoint = awaitState(stateFile, launcher);
            assertTrue(endpoint.isAlive());
            try (PausedQemu.Monitor hmp = PausedQemu.Monitor.connect(monitor, launcher.toHandle(),
                    tempDir.resolve("launcher.err"))) {
                hmp.awaitNetworkInfo(Duration.ofSeconds(15), "type=stream", endpoint.socketPath().toString());
                hmp.quit();
            }
            assertEquals(0, awaitExit(launcher), launcherOutput());
            assertStoppedAndCleanedUp(endpoint, stateFile);
        } finally {
            tearDown(launcher);
        }
    }

    @Test
    void runHandsQemuAConnectedSocketAsFd5WhenAsked() throws Exception {
        Path stateFile = tempDir.resolve("state.json");
        Path monitor = tempDir.resolve("monitor.sock");
        Process launcher = launcher(runArguments("/usr/bin/passt", stateFile, monitor, "--socket-fd"), Map.of());
        try {
            PasstEndpoint endpoint = awaitState(stateFile, launcher);
            try (PausedQemu.Monitor hmp = PausedQemu.Monitor.connect(monitor, launcher.toHandle(),
                    tempDir.resolve("launcher.err"))) {
                hmp.awaitNetworkInfo(Duration.ofSeconds(15), "type=socket", "fd=5");
                hmp.quit();
            }
            assertEquals(0, awaitExit(launcher), launcherOutput());
            assertStoppedAndCleanedUp(endpoint, stateFile);
        } finally {
            tearDown(launcher);
        }
    }

    @Test
    void runExitsWithQemusStatusWhenQemuIsKilled() throws Exception {
        Path stateFile = tempDir.resolve("state.json");
        Process launcher = launcher(runArguments("/usr/bin/passt", stateFile, tempDir.resolve("monitor.sock")), Map.of());
        try {
            PasstEndpoint endpoint = awaitState(stateFile, launcher);
            qemuChildOf(launcher).destroyForcibly();
            assertEquals(128 + 9, awaitExit(launcher), launcherOutput());
            assertStoppedAndCleanedUp(endpoint, stateFile);
        } finally {
            tearDown(launcher);
        }
    }

    @Test
    void runExitsWithQemusStatusWhenQemuRejectsItsArguments() throws Exception {
        Path stateFile = tempDir.resolve("state.json");
        List<String> args = runArguments("/usr/bin/passt", stateFile, tempDir.resolve("monitor.sock"));
        args.add("-no-such-qemu-option");
        Process launcher = launcher(args, Map.of());
        try {
            assertEquals(1, awaitExit(launcher), launcherOutput());
            assertTrue(launcherOutput().contains("no-such-qemu-option"), launcherOutput());
            assertFalse(Files.exists(stateFile));
        } finally {
            tearDown(launcher);
        }
    }

    @Test
    void terminatingTheLauncherStopsQemuAndTheDaemon() throws Exception {
        Path stateFile = tempDir.resolve("state.json");
        Process launcher = launcher(runArguments("/usr/bin/passt", stateFile, tempDir.resolve("monitor.sock")), Map.of());
        try {
            PasstEndpoint endpoint = awaitState(stateFile, launcher);
            ProcessHandle qemu = qemuChildOf(launcher);
            launcher.destroy();
            awaitExit(launcher);
            assertTrue(qemu.onExit().get(10, TimeUnit.SECONDS) != null);
            assertStoppedAndCleanedUp(endpoint, stateFile);
        } finally {
            tearDown(launcher);
        }
    }

    @Test
    void runWithoutABuiltJarNamesTheJarAndTheDaemonOption() throws Exception {
        Process launcher = launcher(List.of("--", "qemu-system-x86_64"), Map.of("jpasst.home", tempDir.toString()));
        assertEquals(Launcher.EXIT_FAILURE, awaitExit(launcher));
        String err = PausedQemu.readLog(tempDir.resolve("launcher.err"));
        assertTrue(err.contains(tempDir.resolve("passt-core/target/passt.jar").toString()) && err.contains("--daemon"), err);
    }

    @Test
    void runRefusesVhostUserWhenTheDaemonDoesNotOfferIt() throws Exception {
        Process launcher = launcher(List.of("--daemon", "/usr/bin/passt", "--vhost-user", "--", "qemu-system-x86_64"), Map.of());
        assertEquals(Launcher.EXIT_FAILURE, awaitExit(launcher));
        assertTrue(launcherOutput().contains("does not offer vhost-user"), launcherOutput());
    }
}
