package jpasst.glue;

import jpasst.glue.PasstEndpoint.StopOutcome;
import jpasst.glue.TestDaemons.TestDaemon;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The endpoint API against a real daemon: /usr/bin/passt, and our jar once it is enabled in
 * jpasst.glue.daemons (see {@link TestDaemons}).
 */
class PasstEndpointTest {

    @TempDir
    Path tempDir;

    private PasstEndpoint start(TestDaemon daemon, String... passtOptions) throws IOException {
        return PasstEndpoint.start(new PasstEndpoint.Options(daemon.command())
                .passtOptions(List.of(passtOptions))
                .runtimeParent(TestFiles.traversableParent(tempDir)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void pidFileNamesALiveDetachedDaemonNotTheLauncher(TestDaemon daemon) throws IOException {
        try (PasstEndpoint endpoint = start(daemon, "-q")) {
            assertTrue(endpoint.isAlive());
            assertEquals(Long.toString(endpoint.pid()), Files.readString(endpoint.pidFile()).trim());
            ProcessHandle process = ProcessHandle.of(endpoint.pid()).orElseThrow();
            // The launcher was our child and has exited; the daemon it left was reparented away from us.
            assertNotEquals(Optional.of(ProcessHandle.current()), process.parent());
            assertTrue(endpoint.startTime().isPresent());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void socketListensInsideAPrivateRuntimeDirectory(TestDaemon daemon) throws IOException {
        try (PasstEndpoint endpoint = start(daemon, "-q")) {
            PosixFileAttributes socket = Files.readAttributes(endpoint.socketPath(), PosixFileAttributes.class,
                    LinkOption.NOFOLLOW_LINKS);
            assertTrue(socket.isOther(), "not a socket: " + endpoint.socketPath());
            assertEquals(endpoint.runtimeDirectory(), endpoint.socketPath().getParent());
            assertEquals("rwx------", PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(endpoint.runtimeDirectory())));
            String expectedOwner = "root".equals(System.getProperty("user.name")) ? "nobody" : System.getProperty("user.name");
            assertEquals(expectedOwner, Files.getOwner(endpoint.runtimeDirectory()).getName());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void qemuArgumentsPointAtTheDaemonsSocket(TestDaemon daemon) throws IOException {
        try (PasstEndpoint endpoint = start(daemon, "-q")) {
            assertEquals(List.of("-netdev", "stream,id=jpasst0,server=off,addr.type=unix,addr.path=" + endpoint.socketPath(),
                            "-device", "virtio-net-pci,netdev=jpasst0"),
                    endpoint.qemuArguments(QemuVersion.of("7.2")));
            assertEquals(List.of("-netdev", "socket,id=jpasst0,fd=5", "-device", "virtio-net-pci,netdev=jpasst0"),
                    endpoint.qemuArguments(QemuVersion.of("6.2")));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void passtOptionsReachTheDaemon(TestDaemon daemon) throws IOException {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        try (PasstEndpoint endpoint = start(daemon, "-q", "-t", Integer.toString(port));
             Socket client = new Socket()) {
            client.connect(new InetSocketAddress("127.0.0.1", port), 2000);
            assertTrue(client.isConnected(), "daemon " + endpoint.pid() + " does not forward port " + port);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void stopsWithSigquitAndRemovesSocketPidFileAndDirectory(TestDaemon daemon) throws IOException {
        PasstEndpoint endpoint = start(daemon, "-q");
        assertEquals(StopOutcome.STOPPED_BY_SIGQUIT, endpoint.stop());
        assertFalse(endpoint.isAlive());
        assertFalse(LinuxProcess.isRunning(endpoint.pid(), Optional.empty()));
        assertFalse(Files.exists(endpoint.socketPath()));
        assertFalse(Files.exists(endpoint.pidFile()));
        assertFalse(Files.exists(endpoint.runtimeDirectory()));
        assertEquals(StopOutcome.ALREADY_STOPPED, endpoint.stop());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void savedStateLoadsIntoAnEndpointThatControlsTheSameDaemon(TestDaemon daemon) throws IOException {
        PasstEndpoint original = start(daemon, "-q");
        try {
            Path stateFile = tempDir.resolve("endpoint.json");
            original.save(stateFile);
            Map<String, Object> json = Json.parseObject(Files.readString(stateFile));
            assertEquals(original.pid(), json.get("pid"));

            PasstEndpoint loaded = PasstEndpoint.load(stateFile);
            assertEquals(original.pid(), loaded.pid());
            assertEquals(original.startTime(), loaded.startTime());
            assertEquals(original.socketPath(), loaded.socketPath());
            assertEquals(original.pidFile(), loaded.pidFile());
            assertEquals(original.runtimeDirectory(), loaded.runtimeDirectory());
            assertEquals(original.daemon(), loaded.daemon());
            assertEquals(original.passtOptions(), loaded.passtOptions());
            assertEquals(original.qemuArguments(QemuVersion.of("9.2")), loaded.qemuArguments(QemuVersion.of("9.2")));
            assertTrue(loaded.isAlive());

            assertEquals(StopOutcome.STOPPED_BY_SIGQUIT, loaded.stop());
            assertFalse(original.isAlive());
            assertFalse(Files.exists(original.socketPath()));
        } finally {
            original.stop();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void stateOfAStoppedDaemonLoadsAsNotAlive(TestDaemon daemon) throws IOException {
        PasstEndpoint endpoint = start(daemon, "-q");
        Path stateFile = tempDir.resolve("endpoint.json");
        endpoint.save(stateFile);
        endpoint.stop();
        PasstEndpoint loaded = PasstEndpoint.load(stateFile);
        assertFalse(loaded.isAlive());
        assertEquals(StopOutcome.ALREADY_STOPPED, loaded.stop());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void rejectedOptionFailsTheStartWithTheDaemonsOwnComplaint(TestDaemon daemon) throws IOException {
        Path parent = TestFiles.traversableParent(tempDir);
        DaemonStartException e = assertThrows(DaemonStartException.class, () -> PasstEndpoint.start(
                new PasstEndpoint.Options(daemon.command()).passtOptions(List.of("--no-such-option")).runtimeParent(parent)));
        assertTrue(e.getMessage().contains("exited with status"), e.getMessage());
        assertTrue(e.daemonOutput().contains("no-such-option"), e.daemonOutput());
        assertEquals(0, TestFiles.entriesIn(parent), "the runtime directory was left behind");
    }
}
