package jpasst.glue;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class QemuVersionTest {

    @Test
    void readsDebianQemuVersionLine() {
        String output = """
                QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)
                Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers
                """;
        assertEquals(new QemuVersion(7, 2, 22), QemuVersion.parseVersionOutput(output));
    }

    @Test
    void readsVersionLineWithoutMicro() {
        assertEquals(new QemuVersion(10, 1, 0), QemuVersion.parseVersionOutput("QEMU emulator version 10.1"));
    }

    @Test
    void acceptsShortAndReleaseCandidateVersions() {
        assertEquals(new QemuVersion(9, 2, 0), QemuVersion.of("9.2"));
        assertEquals(new QemuVersion(10, 1, 0), QemuVersion.of("10.1.0-rc0"));
    }

    @Test
    void rejectsTextThatIsNoVersion() {
        assertThrows(IllegalArgumentException.class, () -> QemuVersion.of("latest"));
        assertThrows(IllegalArgumentException.class, () -> QemuVersion.parseVersionOutput("qemu-img version 7.2.0"));
    }

    @Test
    void ordersNumericallyNotAlphabetically() {
        assertTrue(QemuVersion.of("10.0").atLeast(QemuVersion.of("9.2")));
        assertTrue(QemuVersion.of("9.2").atLeast(QemuVersion.STREAM_RECONNECT_MS));
        assertFalse(QemuVersion.of("9.1.3").atLeast(QemuVersion.STREAM_RECONNECT_MS));
        assertFalse(QemuVersion.of("7.1.9").atLeast(QemuVersion.STREAM_NETDEV));
    }

    @Test
    void detectsTheInstalledQemu() throws Exception {
        QemuVersion installed = QemuVersion.detect("qemu-system-x86_64");
        assertTrue(installed.atLeast(new QemuVersion(2, 0, 0)), "implausible version " + installed);
    }

    @Test
    void detectingAMissingQemuSaysWhichCommandFailed() {
        Exception e = assertThrows(java.io.IOException.class, () -> QemuVersion.detect("/nonexistent/qemu-system-x86_64"));
        assertTrue(e.getMessage().contains("/nonexistent/qemu-system-x86_64"), e.getMessage());
    }
}
