package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The daemon lifecycle Kata Containers (and libvirt) rely on: {@code <daemon> -P PIDFILE -s SOCKET}
 * without {@code -f} returns 0 once the daemon is ready, the pid file names the daemon (a different,
 * live process), the socket accepts connections, and SIGQUIT (what Kata sends to stop it) ends the
 * daemon within seconds. For jpasst SIGQUIT is also the JVM's thread-dump signal: the daemon must
 * replace that, so no "Full thread dump" may appear and the process must really end.
 */
class KataDaemonLifecycleTest {
    private static final Duration PROMPTLY = Duration.ofSeconds(3);

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void launcherExitsZeroAndPidFileNamesALiveDaemonThatIsNotTheLauncher(Daemon.Kind kind) {
        try (Daemon daemon = Daemon.start(kind)) {
            assertEquals(0, daemon.launcherExitCode(), daemon.describe());
            assertNotEquals(daemon.launcherPid(), daemon.pid(), "pid file names the launcher itself\n" + daemon.describe());
            assertTrue(daemon.isRunning(), "process named by the pid file is not running\n" + daemon.describe());
            assertTrue(daemon.isListening(), "socket not listening once the launcher returned\n" + daemon.describe());
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void socketAcceptsAUnixConnectionOnceTheLauncherHasReturned(Daemon.Kind kind) throws IOException {
        try (Daemon daemon = Daemon.start(kind);
             SocketChannel client = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            assertTrue(client.connect(UnixDomainSocketAddress.of(daemon.socket())), daemon.describe());
            assertTrue(client.isConnected(), daemon.describe());
            assertTrue(daemon.isRunning(), "daemon ended after a client connected\n" + daemon.describe());
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void sigquitEndsTheDaemonPromptlyWithoutAThreadDump(Daemon.Kind kind) {
        try (Daemon daemon = Daemon.start(kind)) {
            assertTrue(daemon.isRunning(), daemon.describe());
            long sent = System.nanoTime();
            boolean ended = daemon.signalAndAwaitEnd(Processes.SIGQUIT, PROMPTLY);
            Duration took = Duration.ofNanos(System.nanoTime() - sent);
            assertTrue(ended, "daemon still running " + PROMPTLY + " after SIGQUIT\n" + daemon.describe());
            String output = daemon.stdout() + daemon.stderr();
            assertFalse(output.contains("Full thread dump"), "SIGQUIT produced a JVM thread dump\n" + daemon.describe());
            assertTrue(took.compareTo(PROMPTLY) <= 0, "took " + took);
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void preCreatedEmptyPidFileIsFilledWithTheDaemonPid(Daemon.Kind kind) throws IOException {
        try (Daemon daemon = Daemon.options(kind).preCreateEmptyPidFile().start()) {
            String content = Files.readString(daemon.pidFile(), StandardCharsets.US_ASCII);
            assertEquals(Long.toString(daemon.pid()), content.strip(), "pid file content\n" + daemon.describe());
            assertNotEquals(daemon.launcherPid(), daemon.pid(), daemon.describe());
            assertTrue(daemon.isRunning(), daemon.describe());
            assertTrue(daemon.isListening(), daemon.describe());
        }
    }

    /** Not Kata's flow, but the harness's {@code -f} variant: the launched process is the daemon. */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void foregroundDaemonListensAsTheLaunchedProcessAndEndsOnSigquit(Daemon.Kind kind) {
        try (Daemon daemon = Daemon.startForeground(kind)) {
            assertEquals(daemon.launcherPid(), daemon.pid(), daemon.describe());
            assertTrue(daemon.isListening(), daemon.describe());
            assertTrue(daemon.signalAndAwaitEnd(Processes.SIGQUIT, PROMPTLY),
                    "foreground daemon still running after SIGQUIT\n" + daemon.describe());
            assertFalse((daemon.stdout() + daemon.stderr()).contains("Full thread dump"), daemon.describe());
        }
    }
}
