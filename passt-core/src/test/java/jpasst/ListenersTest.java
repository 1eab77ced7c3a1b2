package jpasst;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

import jpasst.conf.Conf;
import jpasst.sys.Descriptors;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;

class ListenersTest {
    private static final int SO_ACCEPTCONN = 30;

    /**
     * -t with more ports than {@link Listeners#PARALLEL_FROM} (two threads make them): every
     * port is bound once, each socket listens, and their descriptors come in a few runs of
     * ascending numbers, as the launcher hands them down to its daemon; made for a daemon to
     * inherit, they lack close-on-exec, which the daemon sets again on each run.
     */
    @Test
    void thousandsOfForwardedPortsAreBoundOnceEachOnAFewRunsOfDescriptors() throws Exception {
        Path dir = Files.createTempDirectory("jpasst-listeners");
        Conf.Builder b = ipv4At(dir);
        // below the ephemeral range (32768-60999 here): the outgoing connections of whatever else
        // runs on the machine take ports there, and a port in use cannot be bound
        int first = 12000, count = 1000;
        b.tcpSpecs = List.of(first + "-" + (first + count - 1));
        Listeners l = Listeners.open(b.build(), true, true);
        try (Arena a = Arena.ofConfined()) {
            // another test may hold one of these ports for a moment: passt skips such a port
            assertTrue(l.tcp.length > count - 20, l.tcp.length + " of " + count + " ports bound");
            assertTrue(count > Listeners.PARALLEL_FROM);
            MemorySegment sa = a.allocate(SockAddr.STORAGE, 8), len = a.allocate(ValueLayout.JAVA_INT),
                    val = a.allocate(ValueLayout.JAVA_INT);
            boolean[] seen = new boolean[count];
            int lastFd = -1;
            for (int fd : l.tcp) {
                len.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
                assertEquals(0, Sockets.getsockname(fd, sa, len));
                int port = SockAddr.port(sa);
                assertTrue(port >= first && port < first + count, "port " + port);
                assertFalse(seen[port - first], "port " + port + " bound twice");
                seen[port - first] = true;
                assertTrue(fd > lastFd, "descriptor " + fd + " after " + lastFd);
                len.set(ValueLayout.JAVA_INT, 0, 4);
                assertEquals(0, Sockets.getsockopt(fd, Sockets.SOL_SOCKET, SO_ACCEPTCONN, val, len));
                assertEquals(1, val.get(ValueLayout.JAVA_INT, 0), "socket of port " + port + " listens");
                assertEquals(0, Descriptors.fcntl(fd, Descriptors.F_GETFD, 0), "descriptor " + fd + " survives exec");
                lastFd = fd;
            }
            String runs = Daemon.Handover.runs(l.tcp);
            assertTrue(runs.split(",").length <= 8, "handed down as " + runs);
            new Daemon.Handover(-1, -1, -1, l.tcp, new int[0], -1, -1).closeOnExec();
            for (int fd : l.tcp) {
                assertEquals(Descriptors.FD_CLOEXEC, Descriptors.fcntl(fd, Descriptors.F_GETFD, 0), "descriptor " + fd);
            }
        } finally {
            release(l, dir);
        }
    }

    /** Forwarded ports bound for the daemon itself (the foreground, tests) are close-on-exec. */
    @Test
    void forwardedPortsOfAServingProcessAreCloseOnExec() throws Exception {
        Path dir = Files.createTempDirectory("jpasst-listeners");
        Conf.Builder b = ipv4At(dir);
        b.tcpSpecs = List.of("12990-12999");
        b.udpSpecs = List.of("12990-12999");
        Listeners l = Listeners.open(b.build());
        try {
            assertTrue(l.tcp.length > 0 && l.udp.length > 0);
            for (int[] fds : new int[][] {l.tcp, l.udp}) {
                for (int fd : fds) {
                    assertEquals(Descriptors.FD_CLOEXEC, Descriptors.fcntl(fd, Descriptors.F_GETFD, 0), "descriptor " + fd);
                }
            }
        } finally {
            release(l, dir);
        }
    }

    /**
     * With both address families on, as passt: a port on any address is one IPv6 socket with
     * IPV6_V6ONLY off, which IPv4 and IPv6 peers both reach; a port bound to an address is its
     * family's alone.
     */
    @Test
    void withBothFamiliesAPortOnAnyAddressIsOneDualStackSocket() throws Exception {
        Path dir = Files.createTempDirectory("jpasst-listeners");
        Conf.Builder b = bothFamiliesAt(dir);
        int port = freeTcpPort(), bound = freeTcpPort();
        b.tcpSpecs = List.of(Integer.toString(port), "127.0.0.1/" + bound);
        Listeners l = Listeners.open(b.build());
        try (Arena a = Arena.ofConfined()) {
            assertEquals(2, l.tcp.length, "one socket per port");
            MemorySegment sa = a.allocate(SockAddr.STORAGE, 8), len = a.allocate(8), opt = a.allocate(8);
            int dual = -1;
            for (int fd : l.tcp) {
                int fams = jpasst.flow.ForwardSockets.familiesOf(fd, sa, len, opt);
                if (SockAddr.port(sa) == port) {
                    assertEquals(jpasst.flow.ListenerSlots.BOTH, fams, "the port on any address");
                    dual = fd;
                } else {
                    assertEquals(jpasst.flow.ListenerSlots.IPV4, fams, "the port bound to 127.0.0.1");
                }
            }
            for (String host : new String[] {"127.0.0.1", "::1"}) {
                try (java.net.Socket s = new java.net.Socket(host, port)) {
                    // (connected: the handshake is done, the connection waits in the backlog)
                    int c = Sockets.accept4(dual, MemorySegment.NULL, MemorySegment.NULL, Sockets.SOCK_CLOEXEC);
                    assertTrue(c >= 0, "a peer at " + host + " is accepted: " + c);
                    Descriptors.close(c);
                }
            }
        } finally {
            release(l, dir);
        }
    }

    /**
     * A port whose IPv4 side another socket holds cannot be one dual-stack socket: as passt, it
     * falls back to a socket per family, and the IPv6 one binds alone.
     */
    @Test
    void aPortWhoseIpv4SideIsTakenFallsBackToAnIpv6SocketAlone() throws Exception {
        Path dir = Files.createTempDirectory("jpasst-listeners");
        Conf.Builder b = bothFamiliesAt(dir);
        try (java.net.ServerSocket taken = new java.net.ServerSocket()) {
            taken.bind(new java.net.InetSocketAddress("127.0.0.1", 0));
            int port = taken.getLocalPort();
            b.tcpSpecs = List.of(Integer.toString(port));
            Listeners l = Listeners.open(b.build());
            try (Arena a = Arena.ofConfined()) {
                assertEquals(1, l.tcp.length);
                MemorySegment sa = a.allocate(SockAddr.STORAGE, 8), len = a.allocate(8), opt = a.allocate(8);
                assertEquals(jpasst.flow.ListenerSlots.IPV6, jpasst.flow.ForwardSockets.familiesOf(l.tcp[0], sa, len, opt));
                assertEquals(port, SockAddr.port(sa));
            } finally {
                release(l, dir);
            }
        }
    }

    private static int freeTcpPort() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** A configuration with both address families (the host's IPv6 or not) and the guest's socket in {@code dir}. */
    private static Conf.Builder bothFamiliesAt(Path dir) {
        Conf.Builder b = new Conf.Builder();
        b.v4 = b.v6 = true;
        b.socketPath = dir.resolve("s").toString();
        return b;
    }

    /** Closes what {@code l} opened and removes its socket file and {@code dir}. */
    private static void release(Listeners l, Path dir) throws java.io.IOException {
        for (int fd : l.tcp) Descriptors.close(fd);
        for (int fd : l.udp) Descriptors.close(fd);
        Descriptors.close(l.tap);
        Files.deleteIfExists(Path.of(l.socketPath));
        Files.deleteIfExists(dir);
    }

    /** A configuration with IPv4 alone and the guest's socket in {@code dir}. */
    private static Conf.Builder ipv4At(Path dir) {
        Conf.Builder b = new Conf.Builder();
        b.v6 = false;
        b.socketPath = dir.resolve("s").toString();
        return b;
    }
}
