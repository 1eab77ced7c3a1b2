package jpasst.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.testutil.LoopAllocation;
import jpasst.guest.vhost.Wire;

/**
 * The vhost-user frame path allocates nothing per frame: the loop thread's allocated bytes
 * (HotSpot's per-thread counter) while tens of thousands of frames go through popTx, sendRx or
 * reserveRx/commitRx, releaseTx, the used rings, the kicks and the calls, stay below 8 bytes per
 * frame on average after a warm-up, where one object per frame (16 bytes at least) would fail.
 * Measured once the JIT is done ({@link LoopAllocation}); what remains is FFM's occasional errno view of a downcall, not per frame.
 */
@Timeout(300)
class VhostAllocationTest {
    static final int BATCH = 32, WARMUP = 100_000, MEASURED = 64_000;

    /** Sends {@code frames} frames in batches and takes their echoes; frame sizes vary over a few buffers. */
    static void echo(VhostUserFrontEnd fe, MemorySegment src, int frames) {
        int[] got = new int[1];
        VhostUserFrontEnd.FrameSink sink = (s, off, len) -> got[0]++;
        for (int sent = 0; sent < frames; sent += BATCH) {
            for (int i = 0; i < BATCH; i++) {
                if (!fe.send(src, 0, 60 + (sent + i) % 4000)) throw new AssertionError("no transmit buffer");
            }
            fe.kick(Wire.TX);
            got[0] = 0;
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (got[0] < BATCH && System.nanoTime() < deadline) fe.receive(sink, BATCH - got[0], 1000);
            assertEquals(BATCH, got[0], "echoes missing");
            fe.reapTx();
        }
    }

    static long measure(VhostRig rig, VhostUserFrontEnd fe, String what) throws Exception {
        MemorySegment src = MemorySegment.ofArray(new byte[5000]);
        echo(fe, src, WARMUP);
        return LoopAllocation.steadyState(rig.loopThread, "vhost-user, " + what, MEASURED, () -> echo(fe, src, MEASURED));
    }

    @Test
    void echoingThroughSendRxAllocatesNothingPerFrame() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd()) {
            rig.record = false;
            long bytes = measure(rig, fe, "popTx + sendRx + releaseTx");
            assertTrue(bytes < 8L * MEASURED, bytes + " bytes for " + MEASURED + " frames");
        }
    }

    @Test
    void echoingThroughReservedBuffersAllocatesNothingPerFrame() throws Exception {
        try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd()) {
            rig.record = false;
            rig.echoInPlace = true;
            long bytes = measure(rig, fe, "popTx + reserveRx/commitRx + releaseTx");
            assertTrue(bytes < 8L * MEASURED, bytes + " bytes for " + MEASURED + " frames");
        }
    }
}
