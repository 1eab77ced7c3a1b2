package jpasst.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.guest.vhost.GuestRam;
import jpasst.guest.vhost.SplitRing;
import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.guest.vhost.Wire;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;

/**
 * The dirty-page log of a live migration, as QEMU drives it: SET_LOG_BASE (a shared bitmap, one
 * bit per 4 KiB page), SET_LOG_FD, SET_FEATURES with VHOST_F_LOG_ALL and SET_VRING_ADDR again
 * with the log flag on the running rings. From then on every page the device writes (a frame in
 * a receive buffer, the used rings) is marked, and the log eventfd signalled.
 */
@Timeout(60)
class DirtyLogTest {
    static byte[] payload(long... v) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) b.putLong(x);
        return b.array();
    }

    static boolean marked(MemorySegment bitmap, long gpa) {
        long page = gpa >>> 12;
        return (bitmap.get(ValueLayout.JAVA_BYTE, page >>> 3) & (1 << (page & 7))) != 0;
    }

    static void setAddr(VhostUserFrontEnd fe, int q, int flags) throws Exception {
        SplitRing r = fe.ring(q);
        GuestRam ram = fe.ram();
        ByteBuffer a = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
        a.putInt(q).putInt(flags).putLong(ram.qva(r.descOffset())).putLong(ram.qva(r.usedOffset()))
                .putLong(ram.qva(r.availOffset())).putLong(ram.gpa(r.usedOffset()));
        fe.sendRaw(Wire.SET_VRING_ADDR, Wire.FLAG_VERSION_1 | Wire.FLAG_NEED_REPLY, a.array(), 40);
        assertEquals(0, fe.readU64Reply(Wire.SET_VRING_ADDR));
    }

    @Test
    void duringAMigrationEveryPageTheDeviceWritesIsMarkedAndTheLogSignalled() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd(); GuestRam log = new GuestRam(4096, 1, 0)) {
            byte[] before = VhostUserDeviceTest.frame(100, 1);
            fe.sendNow(before);
            assertArrayEquals(before, fe.receive(3000));
            int logFd = Errno.check(Descriptors.eventfd(0, Descriptors.EFD_NONBLOCK | Descriptors.EFD_CLOEXEC), "eventfd");
            fe.sendRaw(Wire.SET_LOG_BASE, Wire.FLAG_VERSION_1, payload(4096, 0), 16, log.descriptor());
            assertEquals(0, fe.readU64Reply(Wire.SET_LOG_BASE), "SET_LOG_BASE is answered with a u64");
            fe.sendRaw(Wire.SET_LOG_FD, Wire.FLAG_VERSION_1, new byte[0], 0, logFd);
            fe.sendRaw(Wire.SET_FEATURES, Wire.FLAG_VERSION_1, payload(fe.ackedFeatures() | 1L << Wire.F_LOG_ALL), 8);
            for (int q = 0; q < 2; q++) setAddr(fe, q, 1);
            MemorySegment bitmap = log.memory();
            assertEquals(0, bitmap.get(ValueLayout.JAVA_LONG, 0), "pages marked before anything was written");

            byte[] f = VhostUserDeviceTest.frame(9000, 2); // six receive buffers
            fe.sendNow(f);
            assertArrayEquals(f, fe.receive(3000));
            GuestRam ram = fe.ram();
            assertTrue(marked(bitmap, ram.gpa(fe.ring(Wire.RX).usedOffset())), "the receive queue's used ring");
            assertTrue(marked(bitmap, ram.gpa(fe.ring(Wire.TX).usedOffset())), "the transmit queue's used ring");
            assertFalse(marked(bitmap, ram.gpa(fe.ring(Wire.TX).descOffset())), "a page the device never writes");
            int pages = Long.bitCount(bitmap.get(ValueLayout.JAVA_LONG, 0)) + Long.bitCount(bitmap.get(ValueLayout.JAVA_LONG, 8));
            assertTrue(pages >= 2 + 3, pages + " pages marked: the two used rings and the buffers of 9 KiB");
            // The device signals the log once it has published the used ring, so the frame may
            // arrive here a moment before the signal: a round trip to the device first (it
            // answers only after the batch that published has ended).
            fe.barrier();
            MemorySegment v = java.lang.foreign.Arena.global().allocate(8, 8);
            assertEquals(8, Descriptors.read(logFd, v, 8), "the log eventfd was not signalled");

            fe.sendRaw(Wire.SET_FEATURES, Wire.FLAG_VERSION_1, payload(fe.ackedFeatures()), 8);
            fe.barrier();
            bitmap.fill((byte) 0);
            fe.sendNow(f);
            assertArrayEquals(f, fe.receive(3000));
            assertEquals(0, bitmap.get(ValueLayout.JAVA_LONG, 0), "pages marked after the migration");
            Descriptors.close(logFd);
        }
    }
}
