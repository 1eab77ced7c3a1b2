package jpasst.glue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * No daemon here offers vhost-user (the 2023 passt predates it), so this checks what can be
 * checked: the installed QEMU parses the vhost-user arguments and gets as far as connecting to the
 * backend. The chardev is given a reconnect delay so that its missing socket does not stop QEMU
 * before -netdev, -object and -numa are read; then QEMU keeps reporting that it cannot connect.
 * A misspelt option would instead end QEMU at once with a parse error.
 */
class InstalledQemuParsesVhostUserArgumentsTest {

    @TempDir
    Path tempDir;

    @Test
    void keyValueFormParsesUpToTheMissingBackend() throws Exception {
        assertParsesUpToBackend(false);
    }

    @Test
    void jsonFormParsesUpToTheMissingBackend() throws Exception {
        assertParsesUpToBackend(true);
    }

    private void assertParsesUpToBackend(boolean json) throws Exception {
        QemuNetworkArgs network = QemuNetworkArgs.forSocket(tempDir.resolve("nobody-listens.socket"))
                .qemuVersion(QemuVersion.detect(PausedQemu.QEMU)).form(NetdevForm.VHOST_USER)
                .guestRamBytes(256L << 20).reconnect(Duration.ofSeconds(1)).json(json).build();
        Path log = tempDir.resolve("qemu.log");
        List<String> command = PausedQemu.command(tempDir.resolve("monitor.sock"));
        command.addAll(List.of("-m", "256M"));
        command.addAll(network.arguments());
        Process qemu = PausedQemu.start(command, log);
        try {
            long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
            while (System.nanoTime() < deadline) {
                String said = Files.readString(log);
                if (said.contains("Unable to connect character device jpasst0-chardev")) {
                    assertFalse(said.contains("Parameter"), said);
                    return;
                }
                if (!qemu.isAlive()) {
                    fail("QEMU stopped before trying the backend:\n" + said);
                }
                Thread.sleep(50);
            }
            fail("QEMU never tried the vhost-user backend:\n" + Files.readString(log));
        } finally {
            qemu.destroyForcibly();
            qemu.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
