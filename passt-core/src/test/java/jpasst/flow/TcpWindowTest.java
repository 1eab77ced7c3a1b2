package jpasst.flow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

import org.junit.jupiter.api.Test;

import jpasst.loop.EventLoop;
import jpasst.sys.Descriptors;
import jpasst.sys.SockAddr;
import jpasst.sys.Sockets;

/**
 * The room {@link TcpWindow} offers the guest from a host socket's memory counters: scaled by
 * the payload share of what is queued, and not shut by memory the socket keeps queued after all
 * its data was acknowledged; and, on a real socket, worked out again only once something was
 * written to the socket.
 */
class TcpWindowTest {
    @Test
    void roomIsTheFreeMemoryScaledByThePayloadShareOfTheQueue() {
        assertEquals(600_000, TcpWindow.room(1_000_000, 1_000_000, 600_000));
    }

    @Test
    void aQueueTooShortToTellLeavesThreeQuartersOfTheFreeMemory() {
        assertEquals(750_000, TcpWindow.room(1_000_000, 20_000, 15_000));
    }

    /**
     * Measured over vhost-user at MTU 1500: SIOCOUTQ 0 with 850 KB still queued. The share said
     * no room, a zero window with the buffer nearly free, and no EPOLLOUT to come to reopen it.
     */
    @Test
    void memoryQueuedWithAllItsDataAcknowledgedDoesNotShutTheWindow() {
        assertEquals(3_344_722L * 3 / 4, TcpWindow.room(3_344_722, 849_582, 0));
        assertEquals(3_344_722L * 3 / 4, TcpWindow.room(3_344_722, 849_582, 1460));
    }

    /**
     * Between two writes to the socket its memory can only be freed: the window worked out after
     * the last one still holds and is not asked again; a write (the guest's data written, which
     * advances seqFromTap) makes it be worked out again.
     */
    @Test
    void theWindowIsWorkedOutAgainOnlyOnceDataWasWrittenToTheSocket() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"));
             Arena a = Arena.ofConfined()) {
            int fd = Sockets.socket(Sockets.AF_INET, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0);
            MemorySegment sa = a.allocate(SockAddr.STORAGE, 8);
            int len = SockAddr.in4(sa, 0x7f000001, listener.getLocalPort());
            assertEquals(0, Sockets.connect(fd, sa, len));
            EventLoop loop = new EventLoop();
            try (Socket peer = listener.accept()) {
                Flows flows = new Flows(16, 16, 16);
                int f = flows.open(Flows.TCP);
                flows.fd(f, fd);
                TcpConn c = new TcpConn(f);
                c.reset();
                c.events = TcpConn.ESTABLISHED;
                c.wsToTap = TcpToGuest.WS_TO_TAP;
                TcpWindow window = new TcpWindow(loop, flows);
                int first = window.toGuest(c);
                assertTrue(first > 0, "an empty socket's window: " + first);

                // as much as the socket takes (the peer does not read), written as if from
                // elsewhere: the window kept
                MemorySegment data = a.allocate(1 << 20);
                long sent = 0;
                for (long n; (n = Sockets.send(fd, data.address(), data.byteSize(), Sockets.MSG_DONTWAIT)) > 0; ) {
                    sent += n;
                }
                assertEquals(first, window.toGuest(c), "nothing written by the connection: the same window");

                c.seqFromTap += (int) sent; // the connection's own write
                int after = window.toGuest(c);
                assertTrue(after < first, "worked out again after the write: " + after + " < " + first);
            } finally {
                Descriptors.close(fd);
                loop.close();
            }
        }
    }
}
