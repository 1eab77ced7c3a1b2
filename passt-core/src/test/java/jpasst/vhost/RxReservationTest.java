package jpasst.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.link.FrameBatch;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Msghdr;
import jpasst.sys.Sockets;

/**
 * Receive buffers reserved for frames that a host socket read fills in place: recvmsg takes the
 * batch's iovecs as they are, frames span several guest buffers (MRG_RXBUF), and the buffers not
 * needed go back, rewound when they were the last taken, kept as spares when not.
 */
@Timeout(60)
class RxReservationTest {
    static final int HDR = 54;

    static byte[] header(int i) {
        byte[] h = new byte[HDR];
        Arrays.fill(h, (byte) (0xa0 + i));
        return h;
    }

    static List<byte[]> drain(VhostUserFrontEnd fe, int frames) {
        List<byte[]> got = new ArrayList<>();
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (got.size() < frames && System.nanoTime() < deadline) {
            fe.receive((s, off, len) -> got.add(s.asSlice(off, len).toArray(ValueLayout.JAVA_BYTE)), frames - got.size(), 200);
        }
        return got;
    }

    @Test
    void oneRecvmsgFillsSeveralFramesInPlaceAndTheUnusedTailIsRewound() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd(); Arena a = Arena.ofShared()) {
            MemorySegment fds = a.allocate(8, 4);
            Errno.check(Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM, 0, fds), "socketpair");
            int in = fds.get(ValueLayout.JAVA_INT, 0), out = fds.get(ValueLayout.JAVA_INT, 4);
            byte[] data = VhostUserDeviceTest.frame(10_000, 42);
            MemorySegment src = a.allocate(data.length);
            MemorySegment.copy(data, 0, src, ValueLayout.JAVA_BYTE, 0, data.length);
            assertEquals(data.length, Descriptors.write(out, src, data.length));
            FrameBatch b = new FrameBatch(8, 256);
            MemorySegment msghdr = a.allocate(Msghdr.SIZE, 8);

            rig.onLoop(() -> {
                assertEquals(3, rig.device.reserveRx(b, HDR, 4000, 3));
                for (int i = 0; i < 3; i++) {
                    assertEquals(4000, b.capacity(i));
                    MemorySegment.copy(header(i), 0, b.header(i), ValueLayout.JAVA_BYTE, b.headerOffset(i), HDR);
                }
                assertTrue(b.pieces() > 3, "frames of 4000 bytes span several buffers of 1536");
                msghdr.set(ValueLayout.JAVA_LONG, Msghdr.IOV, b.iovecAddress(1));
                msghdr.set(ValueLayout.JAVA_LONG, Msghdr.IOVLEN, b.pieces());
                long n = Sockets.recvmsg(in, msghdr, Sockets.MSG_DONTWAIT);
                assertEquals(10_000, n);
                b.payloadLength(0, 4000);
                b.payloadLength(1, 4000);
                b.payloadLength(2, 2000);
                rig.device.commitRx(b, 3);
                Virtqueue rx = rig.device.rxQueue();
                assertEquals(0, rx.inUse(), "the third frame's unused buffer was not given back");
                assertEquals(0, rx.spares());
                
            });
            List<byte[]> got = drain(fe, 3);
            assertEquals(3, got.size());
            for (int i = 0; i < 3; i++) {
                byte[] expect = new byte[HDR + (i < 2 ? 4000 : 2000)];
                System.arraycopy(header(i), 0, expect, 0, HDR);
                System.arraycopy(data, 4000 * i, expect, HDR, expect.length - HDR);
                assertArrayEquals(expect, got.get(i), "frame " + i);
            }
            Descriptors.close(in);
            Descriptors.close(out);
        }
    }

    @Test
    void buffersLeftInTheMiddleOfABatchAreSparesThatTheNextFrameTakesFirst() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd()) {
            FrameBatch b = new FrameBatch(8, 256);
            rig.onLoop(() -> {
                assertEquals(3, rig.device.reserveRx(b, HDR, 4000, 3));
                int[] len = {100, 4000, 100};
                for (int i = 0; i < 3; i++) {
                    MemorySegment.copy(header(i), 0, b.header(i), ValueLayout.JAVA_BYTE, b.headerOffset(i), HDR);
                    int left = len[i];
                    for (int p = b.firstPiece(i); p < b.endPiece(i) && left > 0; p++) {
                        int n = Math.min(left, b.pieceLength(p));
                        b.pieceSegment(p).asSlice(b.pieceOffset(p), n).fill((byte) i);
                        left -= n;
                    }
                    b.payloadLength(i, len[i]);
                }
                rig.device.commitRx(b, 3);
                Virtqueue rx = rig.device.rxQueue();
                assertEquals(2, rx.spares(), "frame 0's two unused buffers, in the middle");
                assertEquals(2, rx.inUse());
                byte[] big = VhostUserDeviceTest.frame(3000, 9);
                assertTrue(rig.device.sendRx(MemorySegment.ofArray(big), 0, big.length));
                assertEquals(0, rx.spares(), "the spares were not taken first");
                assertEquals(0, rx.inUse());
            });
            List<byte[]> got = drain(fe, 4);
            assertEquals(4, got.size());
            assertEquals(HDR + 100, got.get(0).length);
            assertEquals(HDR + 4000, got.get(1).length);
            assertEquals(HDR + 100, got.get(2).length);
            assertArrayEquals(VhostUserDeviceTest.frame(3000, 9), got.get(3));
            for (int i = 0; i < 3; i++) assertEquals((byte) i, got.get(i)[HDR + 50]);
        }
    }

    @Test
    void nothingCommittedGivesEveryBufferBack() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd()) {
            FrameBatch b = new FrameBatch(32, 1024);
            rig.onLoop(() -> {
                Virtqueue rx = rig.device.rxQueue();
                int before = rx.lastAvail();
                assertEquals(32, rig.device.reserveRx(b, HDR, 1400, 32));
                rig.device.commitRx(b, 0);
                assertEquals(before, rx.lastAvail());
                assertEquals(0, rx.inUse());
            });
        }
    }

    @Test
    void aReservationNeverCommittedGoesBackWithTheNextOneOrAtTheEndOfTheBatch() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd()) {
            FrameBatch b = new FrameBatch(8, 256), other = new FrameBatch(8, 256);
            rig.onLoop(() -> {
                Virtqueue rx = rig.device.rxQueue();
                int before = rx.lastAvail();
                assertEquals(2, rig.device.reserveRx(b, HDR, 4000, 2));
                assertEquals(2, rig.device.reserveRx(other, HDR, 4000, 2), "the next reservation is made");
                assertEquals(6, rx.inUse(), "the first one's buffers went back: the second holds six");
                rig.device.commitRx(b, 0); // (late: nothing of it is outstanding)
                assertEquals(6, rx.inUse());
                rig.device.publish(); // the end of the batch
                assertEquals(0, rx.inUse(), "what was never committed went back");
                assertEquals(before, rx.lastAvail());
            });
            byte[] f = VhostUserDeviceTest.frame(300, 1);
            fe.sendNow(f);
            assertArrayEquals(f, fe.receive(3000), "the guest's buffers are all there to be used");
        }
    }

    @Test
    void aReservationEndsWithASmallerFrameWhereTheGuestsBuffersEnd() throws Exception {
        VhostUserFrontEnd.Options o = new VhostUserFrontEnd.Options();
        o.ringSize = 16; // 16 buffers of 1536 bytes: 5 frames of 12 + 54 + 4000 bytes need 15
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd(o)) {
            FrameBatch b = new FrameBatch(8, 256);
            rig.onLoop(() -> {
                assertEquals(6, rig.device.reserveRx(b, HDR, 4000, 8), "five frames, and one in the last buffer");
                for (int i = 0; i < 5; i++) assertEquals(4000, b.capacity(i));
                assertEquals(1536 - 12 - HDR, b.capacity(5));
                rig.device.commitRx(b, 0);
                assertEquals(0, rig.device.rxQueue().inUse());
            });
        }
    }
}
