package jpasst.glue;

import jpasst.glue.TestDaemons.TestDaemon;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The installed QEMU, frozen before its first instruction ({@code -S}; no VM boots), takes the
 * arguments this module writes and reaches the daemon: by itself with -netdev stream (key=value
 * and JSON), and through a socket handed over as fd 5 the way qrap did.
 */
class QemuConnectsToEndpointTest {

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(15);

    @TempDir
    Path tempDir;

    private PasstEndpoint startDaemon(TestDaemon daemon) throws Exception {
        return PasstEndpoint.start(new PasstEndpoint.Options(daemon.command()).passtOptions(List.of("-q"))
                .runtimeParent(TestFiles.traversableParent(tempDir)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void qemuConnectsWithStreamArguments(TestDaemon daemon) throws Exception {
        try (PasstEndpoint endpoint = startDaemon(daemon)) {
            QemuVersion installed = QemuVersion.detect(PausedQemu.QEMU);
            assertQemuReachesDaemon(endpoint.qemuArgs(installed).build().arguments(), "type=stream", endpoint.socketPath().toString());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void qemuConnectsWithJsonStreamArguments(TestDaemon daemon) throws Exception {
        try (PasstEndpoint endpoint = startDaemon(daemon)) {
            QemuVersion installed = QemuVersion.detect(PausedQemu.QEMU);
            List<String> json = endpoint.qemuArgs(installed).json(true).guestMac("52:54:00:12:34:56").build().arguments();
            assertQemuReachesDaemon(json, "type=stream", endpoint.socketPath().toString(), "macaddr=52:54:00:12:34:56");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.glue.TestDaemons#selected")
    void qemuTakesTheSocketHandedOverAsFd5(TestDaemon daemon) throws Exception {
        try (PasstEndpoint endpoint = startDaemon(daemon)) {
            QemuNetworkArgs network = endpoint.qemuArgs(QemuVersion.of("6.2")).build();
            Path monitor = tempDir.resolve("monitor.sock");
            List<String> command = PausedQemu.command(monitor);
            command.addAll(network.arguments());
            SocketHandoff.HandedOffProcess qemu =
                    SocketHandoff.start(command, endpoint.socketPath(), network.fdToPass().getAsInt());
            try (PausedQemu.Monitor hmp = PausedQemu.Monitor.connect(monitor,
                    ProcessHandle.of(qemu.pid()).orElseThrow(), tempDir.resolve("none.log"))) {
                hmp.awaitNetworkInfo(CONNECT_TIMEOUT, "type=socket", "fd=5");
                hmp.quit();
            } finally {
                qemu.terminate();
            }
            assertEquals(0, qemu.waitFor());
        }
    }

    private void assertQemuReachesDaemon(List<String> networkArguments, String... expected) throws Exception {
        Path monitor = tempDir.resolve("monitor.sock");
        Path log = tempDir.resolve("qemu.log");
        List<String> command = PausedQemu.command(monitor);
        command.addAll(networkArguments);
        Process qemu = PausedQemu.start(command, log);
        try (PausedQemu.Monitor hmp = PausedQemu.Monitor.connect(monitor, qemu.toHandle(), log)) {
            hmp.awaitNetworkInfo(CONNECT_TIMEOUT, expected);
            hmp.quit();
            assertTrue(qemu.waitFor(10, TimeUnit.SECONDS), "QEMU ignored quit");
            assertEquals(0, qemu.exitValue(), PausedQemu.readLog(log));
        } finally {
            qemu.destroyForcibly();
        }
    }
}
