package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.Inet4Address;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import jpasst.guest.Frames;
import jpasst.guest.Match;
import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.guest.vhost.Wire;

/**
 * QEMU 10.1's {@code -netdev passt}: QEMU creates the pid file empty, makes a UNIX socketpair and
 * runs {@code passt --quiet --pid P --fd 3} with one end as descriptor 3, waits for that command to
 * exit (passt daemonizes), reads the daemon's pid from P and then speaks the stream protocol over
 * the other end. This test does exactly that (see {@link SocketPairSpawn}), then plays the guest:
 * a DHCP DISCOVER and REQUEST over the socketpair, whose OFFER and ACK must carry the host's
 * address. When our end closes, the daemon must exit (--fd implies --one-off).
 *
 * <p>With {@code vhost-user=on} QEMU 10.1 (net/passt.c) runs {@code passt --vhost-user --quiet
 * --pid P --fd 3} the same way and speaks vhost-user over its end. The QEMU here (10.0) has no
 * {@code -netdev passt}, and its {@code -chardev socket,fd=N} refuses the descriptors vhost-user
 * passes ("does not support FD passing"), so the front-end of synthetic-guest plays QEMU on the
 * socketpair: the whole handshake, guest memory, rings, then DHCP through the virtqueues.
 */
class QemuNetdevPasstTest {
    static final long GUEST_MAC = Frames.GUEST_MAC;

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"REFERENCE", "JPASST"})
    void quietPidFd3FromASocketpairServesDhcpAndEndsWithTheConnection(Daemon.Kind kind) throws Exception {
        Path dir = qemusDirectory();
        Path pid = dir.resolve("passt.pid"), out = dir.resolve("stdout"), err = dir.resolve("stderr");
        List<String> command = new ArrayList<>(kind.command());
        command.addAll(List.of("--quiet", "--pid", pid.toString(), "--fd", "3"));
        long daemonPid = -1;
        try (SocketPairSpawn guest = SocketPairSpawn.start(command, 3, out, err)) {
            String context = "\ncommand: " + String.join(" ", command) + "\n--- stdout\n" + read(out)
                    + "--- stderr\n" + read(err);
            Integer exit = guest.awaitExit(Duration.ofSeconds(30));
            assertEquals(Integer.valueOf(0), exit, "the launching command's exit status" + context);
            daemonPid = Daemon.readPid(pid);
            assertTrue(daemonPid > 1, "pid file filled: \"" + read(pid) + "\"" + context);
            assertNotEquals(guest.pid(), daemonPid, "the pid file names the daemon, not the launcher");
            assertTrue(Processes.isRunning(daemonPid), "daemon running" + context);

            Inet4Address host = HostNetwork.ipv4().address();
            int xid = 0x4a505353;
            guest.send(dhcp(xid, 1, null));
            byte[] offer = awaitDhcp(guest, xid, 2);
            assertNotNull(offer, "no DHCPOFFER over the socketpair" + context);
            assertEquals(host.getHostAddress(), yiaddr(offer), "offered address = the host's");
            guest.send(dhcp(xid, 3, host.getAddress()));
            byte[] ack = awaitDhcp(guest, xid, 5);
            assertNotNull(ack, "no DHCPACK over the socketpair" + context);
            assertEquals(host.getHostAddress(), yiaddr(ack));
        }
        // our end is closed: the guest is gone, and with --fd the daemon goes too
        assertEndsWithItsFd(daemonPid, dir, err);
    }

    @Test
    void vhostUserQuietPidFd3FromASocketpairServesDhcpThroughTheVirtqueuesAndEndsWithTheConnection() throws Exception {
        Path dir = qemusDirectory();
        Path pid = dir.resolve("passt.pid"), out = dir.resolve("stdout"), err = dir.resolve("stderr");
        List<String> command = new ArrayList<>(Daemon.Kind.JPASST.command());
        command.addAll(List.of("--vhost-user", "--quiet", "--pid", pid.toString(), "--fd", "3"));
        long daemonPid = -1;
        try (SocketPairSpawn spawn = SocketPairSpawn.start(command, 3, out, err);
             VhostUserFrontEnd qemu = new VhostUserFrontEnd()) {
            String context = "\ncommand: " + String.join(" ", command) + "\n--- stdout\n" + read(out)
                    + "--- stderr\n" + read(err);
            assertEquals(Integer.valueOf(0), spawn.awaitExit(Duration.ofSeconds(30)), "the launching command's exit status" + context);
            daemonPid = Daemon.readPid(pid);
            assertTrue(daemonPid > 1 && Processes.isRunning(daemonPid), "daemon running: \"" + read(pid) + "\"" + context);
            qemu.adopt(spawn.release());
            qemu.start();
            Inet4Address host = HostNetwork.ipv4().address();
            int xid = 0x4a505354;
            assertTrue(qemu.send(dhcp(xid, 1, null)));
            qemu.kick(Wire.TX);
            byte[] offer = null;
            for (long deadline = System.nanoTime() + 10_000_000_000L; offer == null && System.nanoTime() < deadline; ) {
                byte[] f = qemu.receive(1000);
                if (f != null && isDhcp(f, xid, 2)) offer = f;
            }
            assertNotNull(offer, "no DHCPOFFER through the receive queue" + context);
            assertEquals(host.getHostAddress(), yiaddr(offer), "offered address = the host's");
        }
        // QEMU is gone: the daemon, whose --fd it was, goes too
        assertEndsWithItsFd(daemonPid, dir, err);
    }

    /** The daemon ends within 5 s of its --fd socket's other end closing; the directory goes. */
    static void assertEndsWithItsFd(long daemonPid, Path dir, Path err) throws IOException {
        try {
            assertTrue(Processes.awaitEnd(daemonPid, Duration.ofSeconds(5)),
                    "daemon still running 5 s after its --fd socket closed\n--- stderr\n" + read(err));
        } finally {
            if (daemonPid > 1 && Processes.isRunning(daemonPid)) Processes.signal(daemonPid, Processes.SIGKILL);
            deleteTree(dir);
        }
    }

    /**
     * What QEMU prepares before it runs passt: a directory anyone may write to (passt started as
     * root writes as nobody) with the pid file created empty in it.
     */
    static Path qemusDirectory() throws IOException {
        Path dir = Files.createTempDirectory("jpasst-fd-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path pid = dir.resolve("passt.pid");
        Files.createFile(pid);
        Files.setPosixFilePermissions(pid, PosixFilePermissions.fromString("rw-rw-rw-"));
        return dir;
    }

    /** Whether {@code f} is a DHCP reply of {@code type} for {@code xid}. */
    static boolean isDhcp(byte[] f, int xid, int type) {
        return Match.dhcp(type).test(f) && Frames.i32(f, 14 + 20 + 8 + 4) == xid;
    }

    /** Frames until a DHCP reply of {@code type} for {@code xid}; null after 10 s. */
    static byte[] awaitDhcp(SocketPairSpawn link, int xid, int type) throws IOException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            byte[] f = link.receive(1000);
            if (f != null && isDhcp(f, xid, type)) return f;
        }
        return null;
    }

    static String yiaddr(byte[] f) {
        int bootp = 14 + (f[14] & 0x0f) * 4 + 8;
        return (f[bootp + 16] & 0xff) + "." + (f[bootp + 17] & 0xff) + "." + (f[bootp + 18] & 0xff) + "."
                + (f[bootp + 19] & 0xff);
    }

    /** A broadcast DHCP message of {@code type} (1 DISCOVER, 3 REQUEST) from a guest without an address. */
    static byte[] dhcp(int xid, int type, byte[] requested) {
        byte[] parameters = Frames.opt(55, 1, 3, 6, 26);
        byte[] bootp = requested == null ? Frames.dhcp(xid, GUEST_MAC, 0, true, Frames.opt(53, type), parameters)
                : Frames.dhcp(xid, GUEST_MAC, 0, true, Frames.opt(53, type), Frames.opt(50, requested[0] & 0xff,
                        requested[1] & 0xff, requested[2] & 0xff, requested[3] & 0xff), parameters);
        return Frames.dhcpFrame(bootp);
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
