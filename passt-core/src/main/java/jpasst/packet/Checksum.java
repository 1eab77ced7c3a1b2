package jpasst.packet;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The Internet checksum (RFC 1071) over off-heap memory, eight bytes per step: big-endian 64-bit
 * loads are split into two 32-bit halves and added into a 64-bit accumulator, which is folded
 * to 16 bits at the end (one's complement addition does not care about word width). Pseudo-header
 * sums for TCP/UDP/ICMPv6 over IPv4 and IPv6 are built from host-order addresses.
 *
 * Hot path: no allocation.
 */
public final class Checksum {
    private Checksum() {}

    /** Partial (unfolded) sum of {@code len} bytes at {@code off}, added to {@code acc}. */
    public static long sum(MemorySegment s, long off, int len, long acc) {
        long end = off + len;
        long p = off;
        while (end - p >= 8) {
            long v = s.get(Net.LONG, p);
            acc += (v >>> 32) + (v & 0xffffffffL);
            p += 8;
        }
        if (end - p >= 4) {
            acc += s.get(Net.INT, p) & 0xffffffffL;
            p += 4;
        }
        if (end - p >= 2) {
            acc += Short.toUnsignedInt(s.get(Net.SHORT, p));
            p += 2;
        }
        if (end - p == 1) {
            acc += (s.get(ValueLayout.JAVA_BYTE, p) & 0xff) << 8;
        }
        return acc;
    }

    /** Folds a partial sum to 16 bits (not complemented). */
    public static int fold(long acc) {
        acc = (acc & 0xffffffffL) + (acc >>> 32);
        acc = (acc & 0xffffffffL) + (acc >>> 32);
        acc = (acc & 0xffff) + (acc >>> 16);
        acc = (acc & 0xffff) + (acc >>> 16);
        return (int) acc;
    }

    /** The checksum field value for a region: complement of the folded sum. */
    public static int finish(long acc) {
        return ~fold(acc) & 0xffff;
    }

    /** IPv4 pseudo-header: source, destination, protocol, upper-layer length. */
    public static long pseudo4(int src, int dst, int proto, int len) {
        return (src & 0xffffffffL) + (dst & 0xffffffffL) + proto + len;
    }

    /** IPv6 pseudo-header (RFC 8200 8.1). */
    public static long pseudo6(long srcHi, long srcLo, long dstHi, long dstLo, int proto, int len) {
        return (srcHi >>> 32) + (srcHi & 0xffffffffL) + (srcLo >>> 32) + (srcLo & 0xffffffffL)
                + (dstHi >>> 32) + (dstHi & 0xffffffffL) + (dstLo >>> 32) + (dstLo & 0xffffffffL)
                + proto + (len & 0xffffffffL);
    }

    /** A plain byte-pair loop: the reference the fast version is tested and benchmarked against. */
    public static int referenceFold(MemorySegment s, long off, int len, long acc) {
        for (int i = 0; i + 1 < len; i += 2) {
            acc += ((s.get(ValueLayout.JAVA_BYTE, off + i) & 0xff) << 8)
                    | (s.get(ValueLayout.JAVA_BYTE, off + i + 1) & 0xff);
        }
        if ((len & 1) != 0) acc += (s.get(ValueLayout.JAVA_BYTE, off + len - 1) & 0xff) << 8;
        while ((acc >>> 16) != 0) acc = (acc & 0xffff) + (acc >>> 16);
        return (int) acc;
    }
}
