package jpasst.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.guest.vhost.SplitRing;
import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.guest.vhost.Wire;
import jpasst.link.FrameBatch;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Sockets;

/**
 * A front-end that breaks the protocol, message by message and ring by ring. Each breach either
 * resets the connection (the ring or the session cannot be trusted) or costs one frame (a bad
 * buffer), with a log line; never a crash, never an event the loop had to drop, and the next
 * front-end is served.
 */
@Timeout(60)
class HostileFrontEndTest {
    interface Hostile {
        void act(VhostUserFrontEnd fe) throws Exception;
    }

    static byte[] u64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    static byte[] state(int index, int num) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(index).putInt(num).array();
    }

    static int eventfd() {
        return Errno.check(Descriptors.eventfd(0, Descriptors.EFD_CLOEXEC), "eventfd");
    }

    /** {@code hostile} on a front-end (handshake done, rings running if {@code started}) resets the connection. */
    static void assertReset(VhostRig rig, boolean started, Hostile hostile) throws Exception {
        long resets = rig.onLoop(rig.device::resets);
        try (VhostUserFrontEnd fe = new VhostUserFrontEnd()) {
            fe.connect(rig.socket.toString());
            if (started) fe.start();
            hostile.act(fe);
            assertTrue(fe.closedByBackEnd(3000), "the connection was not reset");
        }
        assertTrue(rig.await(() -> !rig.device.connected(), 3000));
        assertEquals(resets + 1, rig.onLoop(rig.device::resets));
        assertServed(rig);
    }

    /** A well-behaved front-end gets frames through. */
    static void assertServed(VhostRig rig) throws Exception {
        try (VhostUserFrontEnd fe = rig.frontEnd()) {
            byte[] f = VhostUserDeviceTest.frame(200, 77);
            fe.sendNow(f);
            assertArrayEquals(f, fe.receive(3000), "the next front-end is not served");
        }
        assertTrue(rig.await(() -> !rig.device.connected(), 3000));
        assertEquals(0, rig.loop.failures(), "events the loop had to drop");
    }

    @Test
    void messagesOfTheWrongSizeOrWithTheWrongDescriptorsResetTheConnection() throws Exception {
        try (VhostRig rig = new VhostRig()) {
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_FEATURES, 1, new byte[4], 4));
            assertReset(rig, false, fe -> fe.sendRaw(Wire.GET_FEATURES, 1, new byte[8], 8));
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_VRING_NUM, 1, new byte[12], 12));
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_VRING_ADDR, 1, new byte[8], 8));
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_MEM_TABLE, 1, new byte[40], 40));
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_OWNER, 1, new byte[0], 5000));
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_VRING_KICK, 1, u64(1), 8)); // no descriptor, no NOFD bit
            assertReset(rig, false, fe -> {
                int e = eventfd();
                fe.sendRaw(Wire.SET_OWNER, 1, new byte[0], 0, e); // a descriptor where none belongs
                Descriptors.close(e);
            });
            assertReset(rig, false, fe -> {
                int[] fds = new int[8];
                for (int i = 0; i < 8; i++) fds[i] = eventfd();
                fe.sendRaw(Wire.SET_VRING_CALL, 1, u64(0), 8, fds); // eight where one belongs
                for (int fd : fds) Descriptors.close(fd);
            });
            assertReset(rig, false, fe -> fe.sendRaw(Wire.GET_FEATURES, 3, new byte[0], 0)); // protocol version 3
        }
    }

    @Test
    void valuesOutsideTheProtocolResetTheConnection() throws Exception {
        try (VhostRig rig = new VhostRig()) {
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_FEATURES, 1, u64(1L << 15 | 1L << 30), 8)); // no VERSION_1
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_FEATURES, 1, u64(1L << 32 | 1L << 5), 8)); // not offered
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_PROTOCOL_FEATURES, 1, u64(1L << 19), 8)); // DEVICE_STATE
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_VRING_NUM, 1, state(0, 1000), 8));
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_VRING_NUM, 1, state(2, 256), 8)); // a third ring
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_VRING_BASE, 1, state(0, 70_000), 8));
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_VRING_ENABLE, 1, state(1, 2), 8));
            assertReset(rig, false, fe -> fe.sendRaw(Wire.SET_VRING_CALL, 1, u64(0x1100), 8)); // stray bits
            assertReset(rig, true, fe -> fe.sendRaw(Wire.SET_VRING_NUM, 1, state(0, 64), 8)); // on a running ring
        }
    }

    @Test
    void anUnknownRequestIsRefusedAndTheConnectionStays() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd()) {
            fe.sendRaw(99, Wire.FLAG_VERSION_1 | Wire.FLAG_NEED_REPLY, new byte[16], 16);
            assertEquals(1, fe.readU64Reply(99), "a failure code for a request with NEED_REPLY");
            fe.sendRaw(20, Wire.FLAG_VERSION_1, u64(1500), 8); // NET_SET_MTU: not negotiated
            fe.barrier();
            byte[] f = VhostUserDeviceTest.frame(100, 1);
            fe.sendNow(f);
            assertArrayEquals(f, fe.receive(3000));
            assertEquals(0, rig.onLoop(rig.device::resets));
        }
    }

    @Test
    void brokenRingsResetTheConnectionAndSignalTheRingsErrorDescriptor() throws Exception {
        try (VhostRig rig = new VhostRig()) {
            Hostile[] breaches = {
                fe -> fe.ring(Wire.TX).rawAvail(300), // a head past the ring
                fe -> {
                    SplitRing tx = fe.ring(Wire.TX);
                    int h = tx.add1(fe.ram().alloc(100, 64, false), 100, false);
                    tx.rawDescriptor(h, 0, 100, 1, h); // a chain pointing at itself
                },
                fe -> {
                    SplitRing tx = fe.ring(Wire.TX);
                    int h = tx.add1(fe.ram().alloc(100, 64, false), 100, false);
                    tx.rawDescriptor(h, fe.ram().gpa(0), 100, 1, 300); // next past the ring
                },
            };
            for (Hostile breach : breaches) {
                assertReset(rig, true, fe -> {
                    breach.act(fe);
                    fe.kick(Wire.TX);
                    assertTrue(fe.closedByBackEnd(3000));
                    assertTrue(fe.errorSignalled(Wire.TX), "the err eventfd was not signalled");
                });
            }
            assertReset(rig, true, fe -> {
                fe.ring(Wire.TX).rawAvailIndex(fe.ring(Wire.TX).availIndex() + 300); // avail->idx far ahead
                fe.kickRaw(Wire.TX);
            });
        }
    }

    @Test
    void badBuffersCostTheirFrameOnlyAndComeBackToTheGuest() throws Exception {
        VhostUserFrontEnd.Options o = new VhostUserFrontEnd.Options();
        o.regions = 2;
        o.regionGap = 1 << 20;
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd(o)) {
            SplitRing tx = fe.ring(Wire.TX);
            long inGap = fe.ram().regionGpa(1) - (1 << 19);
            long ok = fe.ram().gpa(fe.ram().alloc(2000, 64, false));
            int[][] bad = {
                {0, 100, 0}, // (gpa chosen below) in the gap between the regions
                {1, 0, 0}, // zero length
                {1, 80_000, 0}, // longer than a frame
                {1, 100, Wire.DESC_F_WRITE}, // device-writable on the transmit queue
                {1, 10, 0}, // shorter than a virtio-net header and an Ethernet header
            };
            for (int[] b : bad) {
                int h = tx.add1(0, 1, false);
                tx.rawDescriptor(h, b[0] == 0 ? inGap : ok, b[1], b[2], 0);
            }
            byte[] f = VhostUserDeviceTest.frame(300, 3);
            assertTrue(fe.send(f));
            fe.kick(Wire.TX);
            assertArrayEquals(f, fe.receive(3000), "the good frame after the bad ones");
            assertEquals(bad.length + 1, fe.reapTx(), "every chain comes back");
            assertTrue(rig.onLoop(rig.device::connected));
            assertEquals(bad.length, rig.onLoop(rig.device::dropped));
            assertEquals(1, rig.received.size());
            assertFalse(fe.errorSignalled(Wire.TX));
        }
    }

    @Test
    void aRingOutsideGuestMemoryIsRefusedAtSetUp() throws Exception {
        try (VhostRig rig = new VhostRig()) {
            assertReset(rig, false, fe -> {
                fe.sendRaw(Wire.SET_FEATURES, 1, u64(fe.ackedFeatures()), 8);
                fe.sendMemTable();
                fe.sendRaw(Wire.SET_VRING_NUM, 1, state(0, 256), 8);
                ByteBuffer a = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
                a.putInt(0).putInt(0).putLong(0x7000_0000_0000L).putLong(fe.ram().qva(0)).putLong(fe.ram().qva(0)).putLong(0);
                fe.sendRaw(Wire.SET_VRING_ADDR, 1, a.array(), 40);
            });
        }
    }

    @Test
    void aKickDescriptorThatIsNotAnEventfdResetsTheConnection() throws Exception {
        try (VhostRig rig = new VhostRig()) {
            assertReset(rig, true, fe -> {
                java.lang.foreign.MemorySegment fds = java.lang.foreign.Arena.global().allocate(8, 4);
                Errno.check(Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0, fds), "socketpair");
                int[] pair = {fds.get(java.lang.foreign.ValueLayout.JAVA_INT, 0), fds.get(java.lang.foreign.ValueLayout.JAVA_INT, 4)};
                fe.sendRaw(Wire.SET_VRING_KICK, 1, u64(Wire.TX), 8, pair[0]);
                Descriptors.close(pair[0]);
                Descriptors.close(pair[1]); // the "kick" descriptor now reads end of file forever
            });
        }
    }

    @Test
    void memoryTruncatedUnderTheMappingResetsTheConnectionInsteadOfKillingTheDaemon() throws Exception {
        try (VhostRig rig = new VhostRig()) {
            assertReset(rig, true, fe -> {
                fe.send(VhostUserDeviceTest.frame(100, 1));
                fe.ring(Wire.TX).publish();
                fe.ram().shrinkFile(0); // the rings and buffers are gone: the device's next access faults
                fe.kickRaw(Wire.TX);
            });
        }
    }

    /**
     * A producer that writes the headers of a frame into receive buffers it reserved, after the
     * front-end truncated its memory file: the fault comes outside the device, in the producer's
     * own code, and reaches the loop as HotSpot's InternalError; the loop's fault handler resets
     * the front-end and the loop serves on.
     */
    @Test
    void aFaultInAProducerWritingIntoReservedBuffersResetsTheFrontEndAndTheLoopGoesOn() throws Exception {
        try (VhostRig rig = new VhostRig()) {
            FrameBatch b = new FrameBatch(4, 64);
            try (VhostUserFrontEnd fe = rig.frontEnd()) {
                assertEquals(4, (int) rig.onLoop(() -> rig.device.reserveRx(b, 54, 4000, 4)));
                fe.ram().shrinkFile(0);
                rig.onLoopRaw(() -> b.header(0).set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, b.headerOffset(0), 1L));
                assertTrue(fe.closedByBackEnd(5000), "the front-end was not reset");
            }
            assertTrue(rig.await(() -> !rig.device.connected(), 5000));
            assertEquals(1, rig.loop.faults(), "the fault went to the device's handler");
            assertEquals(0, rig.loop.failures());
            try (VhostUserFrontEnd next = rig.frontEnd()) {
                next.sendNow(VhostUserDeviceTest.frame(200, 3));
                assertNotNull(next.receive(3000), "the next front-end is served");
            }
        }
    }

    @Test
    void aFileDescriptorForMemoryThatIsTooShortIsRefused() throws Exception {
        try (VhostRig rig = new VhostRig()) {
            assertReset(rig, false, fe -> {
                ByteBuffer t = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
                t.putInt(1).putInt(0).putLong(0).putLong(fe.ram().size() * 2).putLong(fe.ram().qva(0)).putLong(0);
                fe.sendRaw(Wire.SET_MEM_TABLE, 1, t.array(), 40, fe.ram().descriptor());
            });
        }
    }
}
