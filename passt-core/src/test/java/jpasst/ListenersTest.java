package jpasst;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
     * A thousand forwarded ports are bound by two threads (over {@link Listeners#PARALLEL_FROM}):
     * each bound socket listens on its port, in port order, on ascending descriptors, which the
     * launcher hands down to its daemon as runs of numbers.
     */
    @Test
    void thousandsOfForwardedPortsAreBoundInPortOrderOnAscendingDescriptors() throws Exception {
        Path dir = Files.createTempDirectory("jpasst-listeners");
        Conf.Builder b = new Conf.Builder();
        b.v6 = false;
        b.socketPath = dir.resolve("s").toString();
        // below the ephemeral range (32768-60999 here): the outgoing connections of whatever else
        // runs on the machine take ports there, and a port in use cannot be bound
        int first = 12000, count = 1000;
        b.tcpSpecs = List.of(first + "-" + (first + count - 1));
        Listeners l = Listeners.open(b.build());
        try (Arena a = Arena.ofConfined()) {
            // another test may hold one of these ports for a moment: passt skips such a port
            assertTrue(l.tcp.length > count - 20, l.tcp.length + " of " + count + " ports bound");
            assertTrue(count > Listeners.PARALLEL_FROM);
            MemorySegment sa = a.allocate(SockAddr.STORAGE, 8), len = a.allocate(ValueLayout.JAVA_INT),
                    val = a.allocate(ValueLayout.JAVA_INT);
            int lastPort = 0, lastFd = -1;
            for (int fd : l.tcp) {
                len.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
                assertEquals(0, Sockets.getsockname(fd, sa, len));
                int port = SockAddr.port(sa);
                assertTrue(port > lastPort && port < first + count, "port " + port + " after " + lastPort);
                assertTrue(fd > lastFd, "descriptor " + fd + " after " + lastFd);
                len.set(ValueLayout.JAVA_INT, 0, 4);
                assertEquals(0, Sockets.getsockopt(fd, Sockets.SOL_SOCKET, SO_ACCEPTCONN, val, len));
                assertEquals(1, val.get(ValueLayout.JAVA_INT, 0), "socket of port " + port + " listens");
                lastPort = port;
                lastFd = fd;
            }
        } finally {
            for (int fd : l.tcp) Descriptors.close(fd);
            Descriptors.close(l.tap);
            Files.deleteIfExists(Path.of(l.socketPath));
            Files.deleteIfExists(dir);
        }
    }
}
