package jpasst.flow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import jpasst.guest.GuestLink;
import jpasst.guest.GuestTcp;
import jpasst.guest.GuestTcp.Conn;
import jpasst.guest.GuestTcp.Seg;
import jpasst.testutil.InProcessPasst;
import jpasst.testutil.LoopAllocation;

/**
 * The per-segment path of the TCP translation allocates nothing, over either guest transport (the
 * stream socket; vhost-user, where the frames lie in the guest's virtqueues): bytes allocated by
 * the daemon's loop thread (HotSpot's per-thread allocation counter) across tens of thousands of
 * data segments each way, after a warm-up and once the JIT is done ({@link LoopAllocation}), stay
 * below 8 bytes per segment on average, where one object per segment (16 bytes at least) or every
 * other segment would fail.
 *
 * <p>What remains is not per segment: FFM allocates a 40-byte segment view for the captured errno
 * of a downcall, which C2 removes by escape analysis wherever it inlines the whole downcall, and
 * does not in a few deep call chains (measured: 1 to 5 bytes per segment, about one object per
 * host-socket read or loop iteration).
 */
class TcpAllocationTest {
    static final int MSS = 1400, WARMUP = 100_032, MEASURED = 64_000;

    interface Step {
        void run() throws IOException;
    }

    /** Runs {@code step} (which moves {@code perStep} segments) through the warm-up, then measures {@link #MEASURED} segments at a time as {@link LoopAllocation} does. */
    static long measure(InProcessPasst p, String what, Step step, int perStep) throws Exception {
        for (int i = 0; i < WARMUP; i += perStep) step.run();
        return LoopAllocation.steadyState(p.loopThread(), what, MEASURED, () -> {
            for (int i = 0; i < MEASURED; i += perStep) step.run();
        });
    }

    /**
     * A daemon, a guest link to it, and one connection from the guest's {@code guestPort} to a
     * server on the host's 127.0.0.1 (backlog 1), through the handshake (MSS {@link #MSS}, window
     * scale 7) and accepted by the host ({@code s}). Closing it closes all.
     */
    private record Connection(InProcessPasst p, GuestLink link, ServerSocket host, Conn c, Socket s)
            implements AutoCloseable {
        static Connection open(int guestPort, boolean vhostUser) throws Exception {
            InProcessPasst p = vhostUser ? InProcessPasst.vhostUser(conf -> { }, null) : new InProcessPasst();
            GuestLink link = null;
            ServerSocket host = null;
            try {
                link = p.connect();
                host = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"));
                Conn c = new GuestTcp(link).conn4(guestPort, host.getLocalPort());
                c.connect(MSS, 7, 2000);
                return new Connection(p, link, host, c, host.accept());
            } catch (Throwable e) {
                if (host != null) host.close();
                if (link != null) link.close();
                p.close();
                throw e;
            }
        }

        @Override
        public void close() throws Exception {
            try (p; link; host; s) {
                // closed in reverse order: the host's end of the connection first, the daemon last
            }
        }
    }

    /** What the host does with its end of the connection, given a 64 KiB buffer. */
    interface HostEnd {
        void run(InputStream in, OutputStream out, byte[] buf) throws IOException;
    }

    /** Runs {@code work} on a thread of its own with the host's end of {@code t}, which it closes when done. */
    static Thread onHostThread(Connection t, HostEnd work) {
        return Thread.ofPlatform().daemon().start(() -> {
            try (InputStream in = t.s().getInputStream(); OutputStream out = t.s().getOutputStream()) {
                work.run(in, out, new byte[1 << 16]);
            } catch (IOException e) {
                // closed at the end
            }
        });
    }

    @ParameterizedTest(name = "vhost-user {0}")
    @ValueSource(booleans = {false, true})
    void guestToHostSegmentsAllocateNothingOnTheLoopThread(boolean vhostUser) throws Exception {
        try (Connection t = Connection.open(vhostUser ? 40997 : 40999, vhostUser)) {
            AtomicLong received = new AtomicLong();
            Thread reader = onHostThread(t, (in, out, buf) -> {
                for (int n; (n = in.read(buf)) > 0; ) {
                    received.addAndGet(n);
                    synchronized (received) {
                        received.notifyAll();
                    }
                }
            });
            Conn c = t.c();
            byte[] chunk = new byte[64 * MSS];
            long bytes = measure(t.p(), "TCP guest to host" + (vhostUser ? ", vhost-user" : ""), () -> TcpTest.upload(c, chunk, MSS, 5000), 64);
            long total = (c.sndNxt - (c.iss + 1)) & 0xffffffffL;
            long deadline = System.nanoTime() + 2_000_000_000L;
            synchronized (received) { // the host reads what the daemon wrote (it acknowledged it all)
                while (received.get() < total && System.nanoTime() < deadline) received.wait(100);
            }
            assertEquals(total, received.get(), "bytes the host received");
            t.s().close();
            reader.join(2000);
            assertEquals(0, t.p().query(() -> t.p().passt.loop.failures()));
            assertTrue(bytes < 8L * MEASURED, bytes + " bytes allocated by the loop thread for " + MEASURED + " segments");
        }
    }

    @ParameterizedTest(name = "vhost-user {0}")
    @ValueSource(booleans = {false, true})
    void hostToGuestSegmentsAllocateNothingOnTheLoopThread(boolean vhostUser) throws Exception {
        try (Connection t = Connection.open(vhostUser ? 40996 : 40998, vhostUser)) {
            AtomicBoolean stop = new AtomicBoolean();
            Thread writer = onHostThread(t, (in, out, buf) -> {
                while (!stop.get()) out.write(buf);
            });
            Conn c = t.c();
            int[] segments = {0};
            long bytes = measure(t.p(), "TCP host to guest" + (vhostUser ? ", vhost-user" : ""), () -> {
                Seg d = null;
                for (int wait = 0; d == null || d.len() == 0; wait++) {
                    d = c.receive(20);
                    if (d == null) {
                        assertTrue(wait < 100, "data stopped after " + segments[0] + " segments");
                        c.ack(); // the delayed ACK of a guest that got nothing more for a while
                    }
                }
                if (d.seq() == c.rcvNxt) c.rcvNxt += d.len();
                if (++segments[0] % 8 == 0) c.ack(); // a delayed-ACK guest
            }, 1);
            stop.set(true);
            t.s().close();
            writer.join(2000);
            assertEquals(0, t.p().query(() -> t.p().passt.loop.failures()));
            assertTrue(bytes < 8L * MEASURED, bytes + " bytes allocated by the loop thread for " + MEASURED + " segments");
        }
    }
}
