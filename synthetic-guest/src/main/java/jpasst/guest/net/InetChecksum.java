package jpasst.guest.net;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The Internet checksum (RFC 1071) as the guest computes and verifies it: a one's complement sum
 * of 16-bit big-endian words, pseudo-headers of IPv4 (RFC 793) and IPv6 (RFC 8200 8.1).
 *
 * Partial sums are plain longs, added freely and folded once at the end ({@link #fold}).
 * {@link #sum} reads 32 bits at a time in the machine's order (a loop C2 vectorizes) and turns
 * the result into network order at the end: the one's complement sum commutes with swapping the
 * bytes of every word (RFC 1071 2(B)). No allocation.
 */
public final class InetChecksum {
    private InetChecksum() {}

    private static final ValueLayout.OfInt NATIVE32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort NATIVE16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final boolean LITTLE = java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.LITTLE_ENDIAN;

    /**
     * The sum of the {@code len} bytes at {@code off} as big-endian 16-bit words (an odd last
     * byte is the high half of a word), folded to 16 bits.
     */
    public static long sum(MemorySegment s, long off, int len) {
        long acc = 0;
        int i = 0;
        for (; i <= len - 4; i += 4) acc += s.get(NATIVE32, off + i) & 0xffffffffL;
        if (i <= len - 2) {
            acc += s.get(NATIVE16, off + i) & 0xffff;
            i += 2;
        }
        if (i < len) {
            int b = s.get(ValueLayout.JAVA_BYTE, off + i) & 0xff;
            acc += LITTLE ? b : b << 8; // the high byte of a big-endian word, in the machine's order
        }
        int folded = fold(acc);
        return LITTLE ? Short.reverseBytes((short) folded) & 0xffff : folded;
    }

    /** {@code acc} folded to 16 bits (end-around carries added back). */
    public static int fold(long acc) {
        acc = (acc & 0xffffffffL) + (acc >>> 32);
        acc = (acc & 0xffff) + (acc >>> 16);
        acc = (acc & 0xffff) + (acc >>> 16);
        return (int) ((acc & 0xffff) + (acc >>> 16));
    }

    /** The checksum field's value for partial sum {@code acc}: the complement of the folded sum. */
    public static int finish(long acc) {
        return ~fold(acc) & 0xffff;
    }

    /** Whether data whose sum (checksum field included) is {@code acc} is intact. */
    public static boolean ok(long acc) {
        return fold(acc) == 0xffff;
    }

    /** The IPv4 pseudo-header's sum: addresses, protocol, transport length. */
    public static long pseudo4(int src, int dst, int proto, int len) {
        return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
    }

    /** The IPv6 pseudo-header's sum (addresses as two longs each). */
    public static long pseudo6(long srcHi, long srcLo, long dstHi, long dstLo, int proto, int len) {
        return words(srcHi) + words(srcLo) + words(dstHi) + words(dstLo) + proto + (len >>> 16) + (len & 0xffff);
    }

    private static long words(long v) {
        return (v >>> 48) + (v >>> 32 & 0xffff) + (v >>> 16 & 0xffff) + (v & 0xffff);
    }
}
