package jpasst.tap;

import static jpasst.guest.Frames.GUEST_MAC;
import static jpasst.guest.Frames.arpRequest;
import static jpasst.guest.Frames.ip;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;

import org.junit.jupiter.api.Test;

import jpasst.guest.Frames;
import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;

/**
 * QEMU's stream framing over a real UNIX socket: frames split anywhere, many frames per write,
 * bad lengths, one client at a time, and --one-off. ARP requests serve as the probe frames:
 * each gets exactly one reply, so replies count the frames the daemon took in.
 */
class TapFramingTest {
    private static byte[] probe(int n) {
        return arpRequest(GUEST_MAC, ip("192.0.2.2"), ip("203.0.113.0") + n);
    }

    private static byte[] framed(byte[] f) {
        return ByteBuffer.allocate(4 + f.length).putInt(f.length).put(f).array();
    }

    @Test
    void frameSplitAtEveryByteOffsetIsReassembled() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            byte[] whole = framed(probe(10));
            long written = 0;
            for (int cut = 1; cut < whole.length; cut++) {
                byte[] a = java.util.Arrays.copyOfRange(whole, 0, cut);
                byte[] b = java.util.Arrays.copyOfRange(whole, cut, whole.length);
                g.writeRaw(a);
                long first = written += a.length;
                assertTrue(p.await(() -> p.stream().bytesIn() == first, 2000), "the daemon read the first part alone");
                g.writeRaw(b);
                written += b.length;
                byte[] reply = g.receive(2000);
                assertNotNull(reply, "no reply with the frame cut at byte " + cut);
                assertEquals(0x0806, Frames.u16(reply, 12));
            }
            assertEquals(0, p.query(() -> p.stream().badFrames()));
        }
    }

    @Test
    void manyFramesInOneWriteAreAllHandled() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            for (int i = 0; i < 200; i++) all.writeBytes(framed(probe(10 + i % 200)));
            g.writeRaw(all.toByteArray());
            for (int i = 0; i < 200; i++) {
                byte[] reply = g.receive(2000);
                assertNotNull(reply, "reply " + i + " missing");
                assertEquals(ip("203.0.113.0") + 10 + i % 200, Frames.i32(reply, 14 + 14), "replies keep order");
            }
        }
    }

    @Test
    void lengthBelowEthernetHeaderResetsConnectionAndNextClientIsServed() throws Exception {
        try (InProcessPasst p = new InProcessPasst()) {
            try (GuestLink bad = p.connect()) {
                bad.writeRaw(new byte[] {0, 0, 0, 13, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13});
                assertTrue(bad.closedByPeer(2000), "a 13-byte frame must reset the connection");
            }
            try (GuestLink good = p.connect()) {
                good.send(probe(1));
                assertNotNull(good.receive(2000), "the daemon keeps serving after a bad client");
            }
            assertEquals(1, p.query(() -> p.stream().badFrames()));
        }
    }

    @Test
    void lengthAbove65535ResetsConnection() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink bad = p.connect()) {
            bad.writeRaw(new byte[] {0, 1, 0, 0});
            assertTrue(bad.closedByPeer(2000));
        }
    }

    @Test
    void maximumFrameOf65535BytesIsAccepted() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            byte[] big = new byte[65535];
            System.arraycopy(probe(3), 0, big, 0, 42); // an ARP request padded to the maximum
            g.send(big);
            assertNotNull(g.receive(2000));
            g.send(probe(4));
            assertNotNull(g.receive(2000));
        }
    }

    @Test
    void secondClientIsAcceptedAndClosedWhileFirstKeepsWorking() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink first = p.connect()) {
            first.send(probe(1));
            assertNotNull(first.receive(2000));
            try (GuestLink second = p.connect()) {
                assertTrue(second.closedByPeer(2000), "second client must be closed");
            }
            first.send(probe(2));
            assertNotNull(first.receive(2000), "first client unaffected");
        }
    }

    @Test
    void oneOffExitsWhenTheClientLeaves() throws Exception {
        try (InProcessPasst p = new InProcessPasst(c -> c.oneOff = true)) {
            try (GuestLink g = p.connect()) {
                g.send(probe(1));
                assertNotNull(g.receive(2000));
            }
            assertTrue(p.awaitStop(3000), "loop must end after the one client left");
        }
    }

    @Test
    void withoutOneOffTheDaemonWaitsForTheNextClient() throws Exception {
        try (InProcessPasst p = new InProcessPasst()) {
            for (int i = 0; i < 3; i++) {
                try (GuestLink g = p.connect()) {
                    g.send(probe(i));
                    assertNotNull(g.receive(2000), "client " + i);
                }
            }
            assertEquals(false, p.awaitStop(100));
        }
    }

    @Test
    void frameOfOnlyAnEthernetHeaderIsDroppedQuietly() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            g.send(new byte[14]);
            assertNull(g.receive(200));
            g.send(probe(5));
            byte[] r = g.receive(2000);
            assertNotNull(r);
            assertArrayEquals(new byte[] {(byte) 0x52, 0x54, 0, 0x12, 0x34, 0x56}, java.util.Arrays.copyOf(r, 6));
        }
    }
}
