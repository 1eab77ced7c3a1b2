package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.packet.Checksum;
import jpasst.packet.Ip4;
import jpasst.packet.TcpHdr;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;

/**
 * Internet checksums as the frame path computes them, against a plain byte-pair loop
 * ({@link Checksum#referenceFold}): the IPv4 header check done on every guest frame, and the
 * TCP checksum (pseudo-header plus segment) over IPv4 and IPv6 for a bare header (20 bytes), a
 * full segment at MTU 1500 (1480) and at MTU 65520 (65500).
 */
public class ChecksumBench extends JmhSettings {
    @Param({"20", "1480", "65500"})
    int len;

    MemorySegment seg;
    MemorySegment ip4;

    @Setup
    public void setup() {
        seg = Arena.ofAuto().allocate(65536, 64);
        for (int i = 0; i < 65536; i++) seg.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 131 + 17));
        ip4 = Arena.ofAuto().allocate(64, 8);
        Ip4.write(ip4, 0, 1500, 7, 64, 6, BenchFrames.ADDR4, BenchFrames.GW4);
    }

    /** TCP over IPv4: pseudo-header, then the segment, eight bytes a step. */
    @Benchmark
    public int tcp4() {
        return Checksum.finish(Checksum.sum(seg, 0, len,
                Checksum.pseudo4(BenchFrames.ADDR4, BenchFrames.GW4, 6, len)));
    }

    /** TCP over IPv6 (RFC 8200 8.1 pseudo-header). */
    @Benchmark
    public int tcp6() {
        return Checksum.finish(Checksum.sum(seg, 0, len, Checksum.pseudo6(BenchFrames.ADDR6_HI,
                BenchFrames.ADDR6_LO, BenchFrames.GW6_HI, BenchFrames.GW6_LO, 6, len)));
    }

    /** The same sum by the plain byte-pair loop. */
    @Benchmark
    public int tcp4Reference() {
        return ~Checksum.referenceFold(seg, 0, len,
                Checksum.pseudo4(BenchFrames.ADDR4, BenchFrames.GW4, 6, len)) & 0xffff;
    }

    /** Receive side: is a segment's checksum right (what Tcp does for every guest segment). */
    @Benchmark
    public boolean tcp4Verify() {
        return TcpHdr.checksumOk(seg, 0, len, Checksum.pseudo4(BenchFrames.ADDR4, BenchFrames.GW4, 6, len));
    }

    /** The IPv4 header check Dispatch does on every frame (the header is 20 bytes whatever len). */
    @Benchmark
    public boolean ip4Header() {
        return Ip4.checksumOk(ip4, 0);
    }

    @Benchmark
    public int ip4HeaderReference() {
        return Checksum.referenceFold(ip4, 0, Ip4.MIN_LEN, 0);
    }
}
