package jpasst.flow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

import jpasst.testutil.GuestLink;
import jpasst.testutil.GuestTcp;
import jpasst.testutil.GuestTcp.Conn;
import jpasst.testutil.GuestTcp.Seg;
import jpasst.testutil.InProcessPasst;

/**
 * The per-segment path of the TCP translation allocates nothing: bytes allocated by the daemon's
 * loop thread (HotSpot's per-thread allocation counter) across tens of thousands of data segments
 * each way, after a warm-up, stay below 8 bytes per segment on average, where one object per
 * segment (16 bytes at least) or every other segment would fail.
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

    /**
     * Runs {@code step} (which moves {@code perStep} segments) through the warm-up, then measures
     * the loop thread's allocation over {@link #MEASURED} segments three times: the JIT may still
     * be at work in one window (CI machines are slow), an allocation per segment shows in all of
     * them. Returns the smallest figure.
     */
    static long measure(InProcessPasst p, String what, Step step, int perStep) throws IOException {
        for (int i = 0; i < WARMUP; i += perStep) step.run();
        long best = Long.MAX_VALUE;
        for (int window = 0; window < 3; window++) {
            long mark = allocated(p.loopThread());
            for (int i = 0; i < MEASURED; i += perStep) step.run();
            long bytes = allocated(p.loopThread()) - mark;
            System.out.printf("TCP allocation, %s: %d bytes for %d segments%n", what, bytes, MEASURED);
            best = Math.min(best, bytes);
        }
        return best;
    }

    static long allocated(Thread t) {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getThreadAllocatedBytes(t.threadId());
    }

    @Test
    void guestToHostSegmentsAllocateNothingOnTheLoopThread() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink link = p.connect();
             ServerSocket host = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            GuestTcp g = new GuestTcp(link);
            Conn c = g.conn4(40999, host.getLocalPort());
            c.connect(MSS, 7, 2000);
            Socket s = host.accept();
            AtomicLong received = new AtomicLong();
            Thread reader = Thread.ofPlatform().daemon().start(() -> {
                byte[] buf = new byte[1 << 16];
                try (InputStream in = s.getInputStream()) {
                    for (int n; (n = in.read(buf)) > 0; ) received.addAndGet(n);
                } catch (IOException e) {
                    // closed at the end
                }
            });
            byte[] chunk = new byte[64 * MSS];
            long bytes = measure(p, "guest to host", () -> TcpTest.upload(c, chunk, MSS, 5000), 64);
            long total = (c.sndNxt - (c.iss + 1)) & 0xffffffffL;
            for (int i = 0; i < 200 && received.get() < total; i++) Thread.sleep(10);
            assertEquals(total, received.get(), "bytes the host received");
            s.close();
            reader.join(2000);
            assertEquals(0, p.passt.loop.failures());
            assertTrue(bytes < 8L * MEASURED, bytes + " bytes allocated by the loop thread for " + MEASURED + " segments");
        }
    }

    @Test
    void hostToGuestSegmentsAllocateNothingOnTheLoopThread() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink link = p.connect();
             ServerSocket host = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            GuestTcp g = new GuestTcp(link);
            Conn c = g.conn4(40998, host.getLocalPort());
            c.connect(MSS, 7, 2000);
            Socket s = host.accept();
            AtomicBoolean stop = new AtomicBoolean();
            Thread writer = Thread.ofPlatform().daemon().start(() -> {
                byte[] buf = new byte[1 << 16];
                try (OutputStream out = s.getOutputStream()) {
                    while (!stop.get()) out.write(buf);
                } catch (IOException e) {
                    // closed at the end
                }
            });
            int[] segments = {0};
            long bytes = measure(p, "host to guest", () -> {
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
            s.close();
            writer.join(2000);
            assertEquals(0, p.passt.loop.failures());
            assertTrue(bytes < 8L * MEASURED, bytes + " bytes allocated by the loop thread for " + MEASURED + " segments");
        }
    }
}
