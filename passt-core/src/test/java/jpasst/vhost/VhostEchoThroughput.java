package jpasst.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;

import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.guest.vhost.Wire;

/**
 * How fast the front-end and the device move frames between them, without a host socket: the
 * front-end sends batches of frames, the device echoes each (popTx, sendRx, releaseTx), the
 * front-end takes the echoes. Each frame is copied three times (into the transmit buffer, into
 * the receive buffers, and, when it spans several, gathered by the front-end). A measurement, not
 * a check: {@code -Djpasst.bench=true}.
 */
class VhostEchoThroughput {
    @Test
    void echoThroughputAtMtu1500And65520() throws Exception {
        assumeTrue(Boolean.getBoolean("jpasst.bench"), "a measurement: run with -Djpasst.bench=true");
        for (int size : new int[] {1514, 65534}) {
            try (VhostRig rig = new VhostRig(); VhostUserFrontEnd fe = rig.frontEnd()) {
                rig.record = false;
                MemorySegment src = MemorySegment.ofArray(new byte[size]);
                int batch = size > 9000 ? 4 : 64;
                int frames = size > 9000 ? 100_000 : 1_000_000;
                run(fe, src, size, batch, frames / 10);
                long t = System.nanoTime();
                run(fe, src, size, batch, frames);
                double s = (System.nanoTime() - t) / 1e9;
                System.out.printf("VHOST-ECHO %5d-byte frames: %.0f frames/s, %.2f Gbit/s each way%n", size, frames / s,
                        frames * (double) size * 8 / s / 1e9);
            }
        }
    }

    static void run(VhostUserFrontEnd fe, MemorySegment src, int size, int batch, int frames) {
        int[] got = new int[1];
        VhostUserFrontEnd.FrameSink sink = (s, off, len) -> got[0]++;
        for (int sent = 0; sent < frames; sent += batch) {
            for (int i = 0; i < batch; i++) fe.send(src, 0, size);
            fe.kick(Wire.TX);
            got[0] = 0;
            while (got[0] < batch) fe.receive(sink, batch - got[0], 1000);
            assertEquals(batch, got[0]);
            fe.reapTx();
        }
    }
}
