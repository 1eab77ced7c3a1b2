package jpasst.glue;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The version matrix: what each QEMU release gets, checked against QEMU's documented boundaries. */
class QemuNetworkArgsTest {

    private static final Path SOCKET = Path.of("/run/jpasst-1/passt.socket");
    private static final Duration FIVE_SECONDS = Duration.ofSeconds(5);

    private static QemuNetworkArgs.Builder forQemu(String version) {
        return QemuNetworkArgs.forSocket(SOCKET).qemuVersion(QemuVersion.of(version));
    }

    @Test
    void qemu6GetsTheSocketFdFormWithQrapsDescriptor() {
        QemuNetworkArgs args = forQemu("6.2.0").build();
        assertEquals(NetdevForm.SOCKET_FD, args.form());
        assertEquals(OptionalInt.of(5), args.fdToPass());
        assertEquals(List.of("-netdev", "socket,id=jpasst0,fd=5", "-device", "virtio-net-pci,netdev=jpasst0"),
                args.arguments());
    }

    @Test
    void qemu6CannotHaveStreamOrJsonOrReconnect() {
        assertThrows(IllegalArgumentException.class, () -> forQemu("6.2").form(NetdevForm.STREAM).build());
        assertThrows(IllegalArgumentException.class, () -> forQemu("6.2").json(true).build());
        assertThrows(IllegalArgumentException.class, () -> forQemu("6.2").reconnect(FIVE_SECONDS).build());
    }

    @Test
    void qemu71IsStillBeforeStream() {
        assertEquals(NetdevForm.SOCKET_FD, forQemu("7.1.0").build().form());
    }

    @Test
    void qemu72GetsStreamWithoutReconnect() {
        QemuNetworkArgs args = forQemu("7.2.22").build();
        assertEquals(NetdevForm.STREAM, args.form());
        assertEquals(OptionalInt.empty(), args.fdToPass());
        assertEquals(List.of("-netdev", "stream,id=jpasst0,server=off,addr.type=unix,addr.path=/run/jpasst-1/passt.socket",
                "-device", "virtio-net-pci,netdev=jpasst0"), args.arguments());
    }

    @Test
    void qemu72RefusesReconnectWhichArrivedIn80() {
        Exception e = assertThrows(IllegalArgumentException.class, () -> forQemu("7.2").reconnect(FIVE_SECONDS).build());
        assertTrue(e.getMessage().contains("8.0"), e.getMessage());
    }

    @Test
    void qemu80ReconnectsInSeconds() {
        assertEquals("stream,id=jpasst0,server=off,addr.type=unix,addr.path=/run/jpasst-1/passt.socket,reconnect=5",
                forQemu("8.0.0").reconnect(FIVE_SECONDS).build().arguments().get(1));
    }

    @Test
    void qemu91StillReconnectsInSeconds() {
        assertTrue(forQemu("9.1.2").reconnect(FIVE_SECONDS).build().arguments().get(1).endsWith(",reconnect=5"));
    }

    @Test
    void qemu92ReconnectsInMilliseconds() {
        assertTrue(forQemu("9.2.0").reconnect(FIVE_SECONDS).build().arguments().get(1).endsWith(",reconnect-ms=5000"));
    }

    @Test
    void qemu101ReconnectsInMilliseconds() {
        assertTrue(forQemu("10.1.0").reconnect(Duration.ofMillis(1500)).build().arguments().get(1)
                .endsWith(",reconnect-ms=1500"));
    }

    @Test
    void subSecondDelayRoundsUpToOneSecondBefore92() {
        // reconnect=0 would mean "never reconnect".
        assertTrue(forQemu("8.2").reconnect(Duration.ofMillis(200)).build().arguments().get(1).endsWith(",reconnect=1"));
        assertTrue(forQemu("8.2").reconnect(Duration.ofMillis(2500)).build().arguments().get(1).endsWith(",reconnect=3"));
    }

    @Test
    void guestMacGoesOnTheDevice() {
        assertEquals("virtio-net-pci,netdev=jpasst0,mac=52:54:00:12:34:56",
                forQemu("9.2").guestMac("52:54:00:12:34:56").build().arguments().get(3));
    }

    @Test
    void commaInSocketPathIsDoubledForQemusOptionParser() {
        QemuNetworkArgs args = QemuNetworkArgs.forSocket(Path.of("/tmp/a,b/passt.socket"))
                .qemuVersion(QemuVersion.of("9.2")).build();
        assertTrue(args.arguments().get(1).endsWith("addr.path=/tmp/a,,b/passt.socket"), args.arguments().get(1));
    }

    @Test
    void socketFdFormCanBeForcedOnNewQemuWithAnotherDescriptor() {
        QemuNetworkArgs args = forQemu("10.1").form(NetdevForm.SOCKET_FD).socketFd(7).build();
        assertEquals(OptionalInt.of(7), args.fdToPass());
        assertEquals("socket,id=jpasst0,fd=7", args.arguments().get(1));
        assertThrows(IllegalArgumentException.class, () -> forQemu("10.1").form(NetdevForm.SOCKET_FD).socketFd(2).build());
    }

    @Test
    void vhostUserBacksAllGuestRamWithASharedMemfd() {
        QemuNetworkArgs args = forQemu("9.2").form(NetdevForm.VHOST_USER).guestRamBytes(4L << 30).build();
        assertEquals(List.of(
                "-chardev", "socket,id=jpasst0-chardev,path=/run/jpasst-1/passt.socket",
                "-netdev", "vhost-user,id=jpasst0,chardev=jpasst0-chardev",
                "-object", "memory-backend-memfd,id=jpasst0-memory,share=on,size=4G",
                "-numa", "node,memdev=jpasst0-memory",
                "-device", "virtio-net-pci,netdev=jpasst0"), args.arguments());
        assertEquals(OptionalInt.empty(), args.fdToPass());
    }

    @Test
    void vhostUserWithoutRamSizeIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> forQemu("9.2").form(NetdevForm.VHOST_USER).build());
    }

    @Test
    void vhostUserChardevReconnectFollowsThe92Boundary() {
        assertTrue(forQemu("8.0").form(NetdevForm.VHOST_USER).guestRamBytes(1L << 30).reconnect(FIVE_SECONDS).build()
                .arguments().get(1).endsWith(",reconnect=5"));
        assertTrue(forQemu("9.2").form(NetdevForm.VHOST_USER).guestRamBytes(1L << 30).reconnect(FIVE_SECONDS).build()
                .arguments().get(1).endsWith(",reconnect-ms=5000"));
    }

    @Test
    void jsonStreamFormIsWhatLibvirtWrites() {
        List<String> args = forQemu("9.2").json(true).reconnect(FIVE_SECONDS).guestMac("52:54:00:12:34:56").build().arguments();
        assertEquals("{\"type\":\"stream\",\"addr\":{\"type\":\"unix\",\"path\":\"/run/jpasst-1/passt.socket\"},"
                + "\"server\":false,\"reconnect-ms\":5000,\"id\":\"jpasst0\"}", args.get(1));
        assertEquals("{\"driver\":\"virtio-net-pci\",\"netdev\":\"jpasst0\",\"mac\":\"52:54:00:12:34:56\"}", args.get(3));
    }

    @Test
    void jsonReconnectIsANumberOfSecondsBefore92() {
        Map<String, Object> netdev = Json.parseObject(forQemu("8.0").json(true).reconnect(FIVE_SECONDS).build().arguments().get(1));
        assertEquals(5L, netdev.get("reconnect"));
    }

    @Test
    void jsonKeepsCommasInPathsAsTheyAre() {
        QemuNetworkArgs args = QemuNetworkArgs.forSocket(Path.of("/tmp/a,b/passt.socket"))
                .qemuVersion(QemuVersion.of("9.2")).json(true).build();
        assertEquals(Map.of("type", "unix", "path", "/tmp/a,b/passt.socket"), Json.parseObject(args.arguments().get(1)).get("addr"));
    }

    @Test
    void jsonSocketFdFormNamesTheDescriptorAsAString() {
        assertEquals("{\"type\":\"socket\",\"fd\":\"5\",\"id\":\"jpasst0\"}",
                forQemu("7.2").form(NetdevForm.SOCKET_FD).json(true).build().arguments().get(1));
    }

    @Test
    void jsonVhostUserKeepsChardevAndNumaInKeyValueForm() {
        List<String> args = forQemu("10.1").form(NetdevForm.VHOST_USER).guestRamBytes(512L << 20).json(true).build().arguments();
        assertEquals("socket,id=jpasst0-chardev,path=/run/jpasst-1/passt.socket", args.get(1));
        assertEquals("{\"type\":\"vhost-user\",\"chardev\":\"jpasst0-chardev\",\"id\":\"jpasst0\"}", args.get(3));
        assertEquals("{\"qom-type\":\"memory-backend-memfd\",\"id\":\"jpasst0-memory\",\"share\":true,\"size\":536870912}",
                args.get(5));
        assertEquals("node,memdev=jpasst0-memory", args.get(7));
    }

    @Test
    void shellLineQuotesJsonSoTheShellPassesItThrough() throws Exception {
        QemuNetworkArgs args = forQemu("9.2").json(true).build();
        assertEquals(args.arguments(), ShellQuoteTest.splitWithShell(args.shellLine()));
    }

    @Test
    void rejectsMalformedIdsAndMacs() {
        assertThrows(IllegalArgumentException.class, () -> forQemu("9.2").netdevId("0net").build());
        assertThrows(IllegalArgumentException.class, () -> forQemu("9.2").netdevId("a,b").build());
        assertThrows(IllegalArgumentException.class, () -> forQemu("9.2").guestMac("52:54:00:12:34").build());
    }

    @Test
    void aQemuVersionIsRequired() {
        assertThrows(NullPointerException.class, () -> QemuNetworkArgs.forSocket(SOCKET).build());
    }
}
