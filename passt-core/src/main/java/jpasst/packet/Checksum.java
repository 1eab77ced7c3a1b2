package jpasst.packet;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The Internet checksum (RFC 1071) over off-heap memory, 64 bytes per step in four independent
 * accumulators. The one's complement sum does not care about byte order as long as the result
 * is swapped back (RFC 1071 2.B), so the data is loaded little-endian, as x86-64 and aarch64
 * hold it (no byte swap per load), each 64-bit load split into two 32-bit halves added into a
 * 64-bit accumulator, and the folded sum is byte-swapped once at the end. Pseudo-header sums for
 * TCP/UDP/ICMPv6 over IPv4 and IPv6 are built from host-order addresses.
 *
 * Measured (ChecksumBench, 65500 bytes): 4.6 µs, against 7.8-23 µs for eight big-endian bytes a
 * step with one accumulator, and 58 µs for the byte-pair reference loop.
 *
 * Hot path: no allocation.
 */
public final class Checksum {
    private Checksum() {}

    private static final ValueLayout.OfLong LE_LONG =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE_INT =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE_SHORT =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Partial sum of {@code len} bytes at {@code off}, added to {@code acc}: what it adds is at
     * most 0xffff, so partial sums of many regions can be added up and folded once.
     */
    public static long sum(MemorySegment s, long off, int len, long acc) {
        long a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        long p = off, end = off + len;
        for (; end - p >= 64; p += 64) {
            long v0 = s.get(LE_LONG, p), v1 = s.get(LE_LONG, p + 8);
            long v2 = s.get(LE_LONG, p + 16), v3 = s.get(LE_LONG, p + 24);
            long v4 = s.get(LE_LONG, p + 32), v5 = s.get(LE_LONG, p + 40);
            long v6 = s.get(LE_LONG, p + 48), v7 = s.get(LE_LONG, p + 56);
            a0 += (v0 & 0xffffffffL) + (v0 >>> 32) + (v4 & 0xffffffffL) + (v4 >>> 32);
            a1 += (v1 & 0xffffffffL) + (v1 >>> 32) + (v5 & 0xffffffffL) + (v5 >>> 32);
            a2 += (v2 & 0xffffffffL) + (v2 >>> 32) + (v6 & 0xffffffffL) + (v6 >>> 32);
            a3 += (v3 & 0xffffffffL) + (v3 >>> 32) + (v7 & 0xffffffffL) + (v7 >>> 32);
        }
        for (; end - p >= 8; p += 8) {
            long v = s.get(LE_LONG, p);
            a0 += (v & 0xffffffffL) + (v >>> 32);
        }
        if (end - p >= 4) {
            a1 += s.get(LE_INT, p) & 0xffffffffL;
            p += 4;
        }
        if (end - p >= 2) {
            a2 += Short.toUnsignedInt(s.get(LE_SHORT, p));
            p += 2;
        }
        if (end - p == 1) {
            a3 += s.get(ValueLayout.JAVA_BYTE, p) & 0xff; // the low byte of a little-endian word
        }
        int le = fold(a0 + a1 + a2 + a3);
        return acc + (((le & 0xff) << 8) | (le >>> 8));
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
