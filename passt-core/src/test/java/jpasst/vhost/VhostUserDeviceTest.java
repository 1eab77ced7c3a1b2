package jpasst.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.guest.vhost.Wire;

/**
 * The device against the front-end of synthetic-guest over a real UNIX socket: QEMU's handshake,
 * frames both ways (in place, gathered, over several receive buffers), padding, reconnection.
 */
@Timeout(60)
class VhostUserDeviceTest {
    static byte[] frame(int len, int seed) {
        byte[] f = new byte[len];
        new Random(seed).nextBytes(f);
        return f;
    }

    @Test
    void qemusHandshakeBringsBothRingsUpWithTheFeaturesUpstreamOffersAndBothOffloads() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd()) {
            assertEquals(1L << 32 | 1L << 15 | 1L << 26 | 1L << 30 | 1L | 1L << 1 | 1L << 7 | 1L << 8 | 1L << 11 | 1L << 12,
                    fe.features(), "VERSION_1, MRG_RXBUF, LOG_ALL, PROTOCOL_FEATURES as upstream, CSUM, GUEST_CSUM, "
                            + "GUEST_TSO4, GUEST_TSO6, HOST_TSO4, HOST_TSO6");
            assertEquals(1L << 3 | 1L << 1 | 1L << 2, fe.protocolFeatures(), "REPLY_ACK, LOG_SHMFD, RARP as negotiated");
            assertTrue(rig.onLoop(() -> rig.device.rxReady() && rig.device.txReady() && rig.device.mergeable()));
        }
    }

    @Test
    void framesFromTheGuestAreHandedOverWhereTheyLieAndComeBackEchoed() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd()) {
            int[] sizes = {14, 60, 61, 1000, 1514, 9000, 65535};
            for (int i = 0; i < sizes.length; i++) assertTrue(fe.send(frame(sizes[i], i)));
            fe.kick(Wire.TX);
            for (int i = 0; i < sizes.length; i++) {
                byte[] back = fe.receive(3000);
                assertNotNull(back, "frame " + i + " of " + sizes[i] + " bytes not echoed");
                byte[] sent = frame(sizes[i], i);
                assertEquals(Math.max(60, sent.length), back.length);
                assertArrayEquals(sent, java.util.Arrays.copyOf(back, sent.length));
                assertEquals(Wire.NET_HDR_F_DATA_VALID, fe.lastHeaderFlags());
                assertEquals((12 + back.length + 1535) / 1536, fe.lastNumBuffers(), "num_buffers for " + back.length + " bytes");
            }
            assertEquals(sizes.length, rig.inPlaceFrames());
            assertEquals(0, rig.gatheredFrames());
            assertEquals(sizes.length, fe.reapTx(), "transmit buffers returned");
        }
    }

    @Test
    void aPassOverTheTransmitQueueStopsAtItsByteBudgetAndTheNextOnesTakeTheRest() throws Exception {
        VhostUserFrontEnd.Options o = new VhostUserFrontEnd.Options();
        o.ringSize = 64;
        o.txBufferSize = Wire.NET_HDR + 65535;
        o.memory = 32L << 20;
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd(o)) {
            rig.echo = false;
            rig.passBytes = 1 << 20;
            for (int i = 0; i < 40; i++) assertTrue(fe.send(frame(60_000, i)), "frame " + i);
            fe.kick(Wire.TX);
            assertTrue(rig.await(() -> rig.received.size() == 40, 5000), rig.received.size() + " frames of 40");
            // 18 frames of 60 000 bytes reach 1 MiB: two such passes, then the 4 left
            assertEquals(java.util.List.of(18, 18, 4), rig.passes);
            for (int i = 0; i < 40; i++) assertArrayEquals(frame(60_000, i), rig.received.get(i), "frame " + i);
            assertEquals(40, fe.reapTx(), "transmit buffers returned");
        }
    }

    @Test
    void aHeaderInItsOwnDescriptorIsSkippedAndAScatteredFrameIsGathered() throws Exception {
        for (int parts : new int[] {2, 5}) {
            VhostUserFrontEnd.Options o = new VhostUserFrontEnd.Options();
            o.txDescriptors = parts;
            try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd(o)) {
                byte[] f = frame(3000, parts);
                fe.sendNow(f);
                byte[] back = fe.receive(3000);
                assertArrayEquals(f, back);
                assertEquals(parts == 2 ? 1 : 0, rig.inPlaceFrames(), "a frame in one descriptor is not copied");
                assertEquals(parts == 2 ? 0 : 1, rig.gatheredFrames());
            }
        }
    }

    @Test
    void withoutMergeableBuffersAFrameTakesOneLargeBuffer() throws Exception {
        VhostUserFrontEnd.Options o = new VhostUserFrontEnd.Options();
        o.mergeable = false;
        o.rxBufferSize = 65550;
        o.ringSize = 64;
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd(o)) {
            assertFalse(rig.onLoop(rig.device::mergeable));
            byte[] f = frame(20000, 7);
            fe.sendNow(f);
            assertArrayEquals(f, fe.receive(3000));
            assertEquals(1, fe.lastNumBuffers());
        }
    }

    @Test
    void withoutMergeableBuffersAFrameLargerThanABufferIsDropped() throws Exception {
        VhostUserFrontEnd.Options o = new VhostUserFrontEnd.Options();
        o.mergeable = false;
        o.ringSize = 16;
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd(o)) {
            fe.sendNow(frame(5000, 1));
            fe.sendNow(frame(100, 2)); // the barrier: a frame that fits comes back
            byte[] back = fe.receive(3000);
            assertArrayEquals(frame(100, 2), back);
            assertEquals(2, rig.received.size());
        }
    }

    @Test
    void aGuestOutOfReceiveBuffersGetsFramesAgainOnceItPostsSome() throws Exception {
        VhostUserFrontEnd.Options o = new VhostUserFrontEnd.Options();
        o.ringSize = 4;
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd(o)) {
            for (int i = 0; i < 4; i++) fe.sendNow(frame(100, i)); // fill all four receive buffers
            assertTrue(rig.await(() -> rig.received.size() == 4, 3000));
            rig.echo = false;
            assertFalse(rig.onLoop(() -> rig.device.sendRx(java.lang.foreign.MemorySegment.ofArray(frame(100, 9)), 0, 100)),
                    "no receive buffer left");
            assertEquals(0, rig.rxRoom);
            // takes the frames (published at the end of the loop's batch), posts the buffers, kicks
            int taken = 0;
            for (long deadline = System.nanoTime() + 3_000_000_000L; taken < 4 && System.nanoTime() < deadline; ) {
                taken += fe.receive((s, off, len) -> { }, 10, 500);
            }
            assertEquals(4, taken);
            assertTrue(rig.await(() -> rig.rxRoom == 1, 3000), "no room-again after the guest posted buffers");
            assertTrue(rig.onLoop(() -> rig.device.sendRx(java.lang.foreign.MemorySegment.ofArray(frame(100, 9)), 0, 100)));
            assertArrayEquals(frame(100, 9), fe.receive(3000));
        }
    }

    @Test
    void aStoppedDeviceRestartsWhereItWasAndAVanishedOneFromUsedIndex() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd()) {
            fe.sendNow(frame(500, 1));
            assertNotNull(fe.receive(3000));
            int[] bases = fe.stop();
            assertEquals(1, bases[Wire.TX], "the transmit ring's next available index");
            assertFalse(rig.onLoop(() -> rig.device.txReady()));
            fe.start();
            fe.sendNow(frame(600, 2));
            assertArrayEquals(frame(600, 2), fe.receive(3000));

            fe.disconnect(); // no GET_VRING_BASE: the next back-end starts from used->idx
            assertTrue(rig.await(() -> !rig.device.connected(), 3000));
            assertEquals(1, rig.gone);
            fe.connect(rig.socket.toString());
            fe.start();
            fe.sendNow(frame(700, 3));
            assertArrayEquals(frame(700, 3), fe.receive(3000));
            assertEquals(3, rig.received.size());
        }
    }

    @Test
    void aSecondFrontEndIsAcceptedAndClosedWhileOneIsConnected() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd();
             VhostUserFrontEnd second = new VhostUserFrontEnd()) {
            second.connectRaw(rig.socket.toString());
            assertTrue(second.closedByBackEnd(3000));
            fe.sendNow(frame(80, 1));
            assertNotNull(fe.receive(3000), "the first front-end is still served");
        }
    }

    @Test
    void whenTheFrontEndLeavesItsMemoryIsUnmappedAndTheNextOneIsServed() throws Exception {
        try (VhostRig rig = new VhostRig()) {
            GuestMemory[] mem = new GuestMemory[1];
            try (VhostUserFrontEnd fe = rig.frontEnd()) {
                mem[0] = rig.onLoop(() -> rig.device.memory());
                assertTrue(mem[0].mapped());
            }
            assertTrue(rig.await(() -> !rig.device.connected(), 3000));
            assertFalse(mem[0].mapped(), "regions still mapped after the front-end left");
            try (VhostUserFrontEnd next = rig.frontEnd()) {
                next.sendNow(frame(300, 5));
                assertArrayEquals(frame(300, 5), next.receive(3000));
            }
        }
    }

    @Test
    void withoutProtocolFeaturesTheRingsRunFromSetFeaturesOn() throws Exception {
        VhostUserFrontEnd.Options o = new VhostUserFrontEnd.Options();
        o.protocolFeatures = false; // no SET_VRING_ENABLE, no REPLY_ACK: GET_FEATURES as the barrier
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd(o)) {
            assertEquals(0, fe.protocolFeatures());
            byte[] f = frame(700, 4);
            fe.sendNow(f);
            assertArrayEquals(f, fe.receive(3000));
        }
    }

    @Test
    void nothingIsEchoedBeforeTheRingsAreEnabled() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = new VhostUserFrontEnd()) {
            fe.connect(rig.socket.toString());
            assertFalse(rig.onLoop(() -> rig.device.rxReady() || rig.device.txReady()));
            fe.start();
            assertTrue(rig.onLoop(() -> rig.device.rxReady() && rig.device.txReady()));
        }
    }
}
