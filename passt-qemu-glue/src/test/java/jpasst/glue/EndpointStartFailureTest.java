package jpasst.glue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How start-up failures are caught. The misbehaving "daemons" are small /bin/sh programs that
 * receive the same arguments passt would ({@code ... -P PIDFILE -s SOCKET}, so $2 is the pid file):
 * the only way to produce a launcher that hangs or lies about its pid on purpose.
 */
class EndpointStartFailureTest {

    @TempDir
    Path tempDir;

    private static DaemonCommand shell(String script) {
        return DaemonCommand.of("/bin/sh", "-c", script, "sh");
    }

    private DaemonStartException startFails(DaemonCommand daemon, Duration timeout, Path parent) {
        return assertThrows(DaemonStartException.class, () -> PasstEndpoint.start(
                new PasstEndpoint.Options(daemon).runtimeParent(parent).startTimeout(timeout)));
    }

    @Test
    void launcherThatNeverExitsTimesOutAndIsKilled() throws Exception {
        Path parent = TestFiles.traversableParent(tempDir);
        long started = System.nanoTime();
        DaemonStartException e = startFails(shell("echo starting; exec sleep 30"), Duration.ofMillis(500), parent);
        assertTrue(Duration.ofNanos(System.nanoTime() - started).compareTo(Duration.ofSeconds(5)) < 0);
        assertTrue(e.getMessage().contains("did not exit within 500 ms"), e.getMessage());
        assertTrue(e.daemonOutput().contains("starting"), e.daemonOutput());
        assertEquals(0, TestFiles.entriesIn(parent));
    }

    @Test
    void launcherExitingZeroWithoutPidFileIsAnError() throws Exception {
        Path parent = TestFiles.traversableParent(tempDir);
        DaemonStartException e = startFails(DaemonCommand.of("/bin/true"), Duration.ofSeconds(5), parent);
        assertTrue(e.getMessage().contains("wrote no pid file"), e.getMessage());
        assertEquals(0, TestFiles.entriesIn(parent));
    }

    @Test
    void pidFileNamingTheLauncherItselfIsRejected() throws Exception {
        DaemonStartException e = startFails(shell("echo $$ > \"$2\""), Duration.ofSeconds(5),
                TestFiles.traversableParent(tempDir));
        assertTrue(e.getMessage().contains("names the launching process"), e.getMessage());
    }

    @Test
    void pidFileNamingAFinishedProcessIsRejected() throws Exception {
        DaemonStartException e = startFails(shell("true & p=$!; wait $p; echo $p > \"$2\""), Duration.ofSeconds(5),
                TestFiles.traversableParent(tempDir));
        assertTrue(e.getMessage().contains("which is not running"), e.getMessage());
    }

    @Test
    void pidFileNamingThisJvmIsRejectedWithoutSignallingIt() throws Exception {
        DaemonStartException e = startFails(shell("echo " + ProcessHandle.current().pid() + " > \"$2\""),
                Duration.ofSeconds(5), TestFiles.traversableParent(tempDir));
        assertTrue(e.getMessage().contains("names this very process"), e.getMessage());
    }

    @Test
    void pidFileWithGarbageIsRejected() throws Exception {
        DaemonStartException e = startFails(shell("echo not-a-pid > \"$2\""), Duration.ofSeconds(5),
                TestFiles.traversableParent(tempDir));
        assertTrue(e.getMessage().contains("'not-a-pid', not a pid"), e.getMessage());
    }

    @Test
    void daemonThatRunsWithoutSocketIsRejectedAndKilled() throws Exception {
        Path parent = TestFiles.traversableParent(tempDir);
        Path pidCopy = tempDir.resolve("daemon.pid");
        DaemonStartException e = startFails(shell("sleep 30 & echo $! > \"$2\"; echo $! > " + pidCopy),
                Duration.ofSeconds(5), parent);
        assertTrue(e.getMessage().contains("there is no socket"), e.getMessage());
        long pid = Long.parseLong(Files.readString(pidCopy).trim());
        assertTrue(LinuxProcess.awaitExit(pid, Optional.empty(), 5000), "the socketless daemon " + pid + " still runs");
        assertFalse(LinuxProcess.isRunning(pid, Optional.empty()));
    }

    @Test
    void optionsTheEndpointManagesAreRefusedBeforeAnythingStarts() {
        for (List<String> options : List.of(List.of("-s", "/tmp/x"), List.of("--socket=/tmp/x"), List.of("-P", "/tmp/p"),
                List.of("-f"), List.of("--foreground"), List.of("--fd", "3"))) {
            assertThrows(IllegalArgumentException.class, () -> PasstEndpoint.start(
                    new PasstEndpoint.Options(DaemonCommand.of("/bin/true")).passtOptions(options)), options.toString());
        }
    }

    @Test
    void missingDaemonProgramIsReportedByName() {
        assertThrows(IllegalArgumentException.class, () -> DaemonCommand.parse("no-such-passt-binary"));
        assertThrows(IllegalArgumentException.class, () -> DaemonCommand.parse("/nonexistent/passt.jar"));
    }
}
