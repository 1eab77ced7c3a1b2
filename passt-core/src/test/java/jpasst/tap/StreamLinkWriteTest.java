package jpasst.tap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import jpasst.conf.Conf;
import jpasst.link.FrameBatch;
import jpasst.link.FramesFromGuest;
import jpasst.link.Receiver;
import jpasst.loop.EventLoop;
import jpasst.sys.Descriptors;
import jpasst.sys.Errno;
import jpasst.sys.Sockets;

/**
 * When the stream link writes what is queued: at the end of the loop's batch ({@link StreamLink#flush}),
 * or at once when what reads brought adds up to {@link StreamLink#WRITE_AT} bytes (written while
 * it is still in the CPU's cache), datagrams each in room for the largest or TCP segments back
 * to back. QEMU's end is the other half of a real socket pair.
 */
class StreamLinkWriteTest {
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment buf = arena.allocate(4 << 20);
    private int daemonEnd = -1, qemuEnd = -1;
    private StreamLink link;

    @BeforeEach
    void connect() {
        MemorySegment fds = arena.allocate(ValueLayout.JAVA_INT, 2);
        Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0, fds);
        daemonEnd = fds.get(ValueLayout.JAVA_INT, 0);
        qemuEnd = fds.get(ValueLayout.JAVA_INT, 4);
        Conf.Builder c = new Conf.Builder();
        c.fd = daemonEnd;
        link = new StreamLink(c.build(), new EventLoop(), null, -1, null);
        link.start(new Receiver() {
            @Override
            public void receive(FramesFromGuest frames) {
            }

            @Override
            public void guestGone() {
            }

            @Override
            public void roomAgain() {
            }
        });
    }

    @AfterEach
    void close() {
        link.close();
        Descriptors.close(qemuEnd);
        arena.close();
    }

    /** Bytes waiting at QEMU's end now (read without waiting), or 0. */
    private long waiting() {
        long n = Sockets.recv(qemuEnd, buf.address(), buf.byteSize(), Sockets.MSG_DONTWAIT);
        if (n == -Errno.EAGAIN) return 0;
        assertTrue(n >= 0, "recv: " + n);
        return n;
    }

    /** Reserves {@code count} frames for datagrams of up to 65 000 bytes, and commits each with {@code payload}. */
    private void datagrams(FrameBatch b, int count, int payload) {
        assertEquals(count, link.reserve(b, 42, 65_000, count));
        for (int i = 0; i < count; i++) b.payloadLength(i, payload);
        link.commit(b, count);
    }

    @Test
    void aReadsLargeDatagramsAreWrittenAtOnceAndSmallOnesAtTheBatchsEnd() {
        FrameBatch b = new FrameBatch(32, 32);
        datagrams(b, 4, 1000);
        assertEquals(0, waiting(), "4 small datagrams wait for the end of the batch");
        link.flush();
        assertEquals(4 * (4 + 42 + 1000), waiting());

        int big = StreamLink.WRITE_AT / 32_000 + 1;
        datagrams(b, big, 32_000);
        assertTrue(waiting() > 0, big + " datagrams of 32000 bytes are written before the batch ends");
    }

    @Test
    void aTcpReadOfTheLinksReadLimitIsWrittenAtOnce() {
        assertTrue(link.readLimit() >= StreamLink.WRITE_AT, "a read as large as the limit reaches the write's size");
        FrameBatch b = new FrameBatch(1024, 1024);
        int frames = link.readLimit() / 1460;
        assertEquals(frames, link.reserve(b, 54, 1460, frames));
        for (int i = 0; i < frames; i++) b.payloadLength(i, 1460);
        link.commit(b, frames);
        assertTrue(waiting() > 0, frames + " full segments are written before the batch ends");
    }
}
