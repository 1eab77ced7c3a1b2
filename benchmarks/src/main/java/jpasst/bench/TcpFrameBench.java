package jpasst.bench;

import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.flow.Inany;
import jpasst.packet.TcpHdr;
import jpasst.tap.TapFrames;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Synthesizing one TCP data frame for the guest in the tap's output buffer, as the TCP layer
 * does for every segment it reads from a host socket: reserve the frame, write the TCP header,
 * checksum header and payload (the payload is already in place: the host socket's data is read
 * straight into it), then Ethernet and IP headers and the length prefix on commit. The frame is
 * then discarded rather than written to the guest's socket.
 */
public class TcpFrameBench extends JmhSettings {
    /** MSS 1460 (MTU 1500) and 65480 (MTU 65520, passt's default). */
    @Param({"1460", "65480"})
    int mss;

    @Param({"false", "true"})
    boolean v6;

    BenchTap bt;
    TapFrames frames;
    long rHi, rLo, gHi, gLo;
    int seq;

    @Setup(Level.Trial)
    public void setup() {
        Conf conf = BenchFrames.conf();
        bt = new BenchTap(conf, null);
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
        MemorySegment o = frames.out();
        for (int i = 0; i < 70000; i++) o.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        bt.close();
    }

    @Benchmark
    public long dataFrame() {
        int len = v6 ? mss - 20 : mss;
        int l4Len = TcpHdr.MIN_LEN + len;
        long frame = frames.reserve(v6, l4Len);
        MemorySegment o = frames.out();
        long l4 = TapFrames.l4(frame, v6);
        TcpHdr.write(o, l4, 5201, 40000, seq, 12345, TcpHdr.MIN_LEN, TcpHdr.ACK_FLAG | TcpHdr.PSH, 4096);
        TcpHdr.checksum(o, l4, l4Len, TapFrames.pseudo(v6, rHi, rLo, gHi, gLo, 6, l4Len));
        frames.commit(frame, v6, rHi, rLo, gHi, gLo, 6, l4Len);
        seq += len;
        bt.tap.discardQueued();
        return frame;
    }
}
