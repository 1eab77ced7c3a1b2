package jpasst.bench;

import java.lang.foreign.MemorySegment;

import jpasst.link.FrameBatch;
import jpasst.link.FrameWriter;
import jpasst.packet.Checksum;
import jpasst.packet.Inany;
import jpasst.packet.Net;
import jpasst.packet.TcpHdr;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.CompilerControl;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Synthesizing TCP data frames for the guest, as the TCP layer does for the segments it reads
 * from a host socket: the link reserves a batch of frames ({@link FrameBatch}), and for each
 * the TCP header is written, header and payload checksummed (the payload is already in place:
 * the host socket's data is read straight into it), then the Ethernet and IP headers; the link
 * commits them (the length prefixes). Per frame ({@value #FRAMES} a batch, as a read at MTU
 * 65520 fills 32). The frames are then discarded rather than written to the guest's socket.
 */
@OperationsPerInvocation(TcpFrameBench.FRAMES)
public class TcpFrameBench extends JmhSettings {
    static final int FRAMES = 32;

    /** MSS 1460 (MTU 1500) and 65480 (MTU 65520, passt's default). */
    @Param({"1460", "65480"})
    int mss;

    @Param({"false", "true"})
    boolean v6;

    BenchTap bt;
    FrameWriter frames;
    final FrameBatch batch = new FrameBatch(FRAMES, FRAMES);
    long rHi, rLo, gHi, gLo;
    int seq;

    @Setup(Level.Trial)
    public void setup() {
        bt = new BenchTap(BenchFrames.conf()).start(BenchTap.NO_RECEIVER);
        frames = bt.frames;
        if (v6) {
            rHi = BenchFrames.GW6_HI;
            rLo = BenchFrames.GW6_LO;
            gHi = BenchFrames.ADDR6_HI;
            gLo = BenchFrames.ADDR6_LO;
        } else {
            rLo = Inany.lo4(BenchFrames.GW4);
            gLo = Inany.lo4(BenchFrames.ADDR4);
        }
        MemorySegment o = bt.link.out();
        for (int i = 0; i < o.byteSize(); i++) o.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        bt.close();
    }

    @Benchmark
    public long dataFrames() {
        int len = v6 ? mss - 20 : mss;
        int n = bt.link.reserve(batch, FrameWriter.l2l3Length(v6) + TcpHdr.MIN_LEN, len, FRAMES);
        for (int i = 0; i < n; i++) {
            headers(i, len);
            seq += len;
        }
        bt.link.commit(batch, n);
        bt.link.discardQueued();
        return n;
    }

    /**
     * One frame's headers, a method of its own as in the daemon (TcpToGuest.dataHeaders): inlined
     * into JMH's loop with all the rest, C2 ran out of its inlining budget
     * (NodeCountInliningCutoff) before the checksum loop's memory accesses, and the benchmark
     * measured that (up to 20x slower, over IPv4) rather than the daemon's code.
     */
    @CompilerControl(CompilerControl.Mode.DONT_INLINE)
    private void headers(int i, int len) {
        int l4Len = TcpHdr.MIN_LEN + len;
        MemorySegment s = batch.header(i);
        long frame = batch.headerOffset(i);
        long l4 = FrameWriter.l4(frame, v6);
        TcpHdr.write(s, l4, 5201, 40000, seq, 12345, TcpHdr.MIN_LEN, TcpHdr.ACK_FLAG | TcpHdr.PSH, 4096);
        batch.payloadLength(i, len);
        long sum = batch.sum(i, l4, FrameWriter.pseudo(v6, rHi, rLo, gHi, gLo, 6, l4Len));
        Net.u16(s, l4 + TcpHdr.CHECKSUM, Checksum.finish(sum));
        frames.headers(s, frame, v6, rHi, rLo, gHi, gLo, 6, l4Len);
    }
}
