package jpasst.packet;

import jpasst.sys.SockAddr;

/**
 * Addresses of either family as one value, as passt's {@code union inany_addr}: an IPv4 address
 * a.b.c.d is the IPv4-mapped IPv6 address ::ffff:a.b.c.d, so a flow key is always two longs per
 * address and TCP and UDP have one code path for both families.
 */
public final class Inany {
    private Inany() {}

    public static final long V4_MAPPED_HI = 0L;
    public static final long V4_MAPPED_PREFIX = 0x0000_ffffL << 32;

    public static long lo4(int v4) {
        return V4_MAPPED_PREFIX | (v4 & 0xffffffffL);
    }

    public static boolean isV4(long hi, long lo) {
        return hi == 0 && (lo >>> 32) == 0xffff;
    }

    public static int v4(long lo) {
        return (int) lo;
    }

    /** Whether the address is one a flow may go to: not unspecified, multicast or the IPv4 broadcast. */
    public static boolean isUnicast(long hi, long lo) {
        if (isV4(hi, lo)) {
            int a = v4(lo);
            return a != 0 && a != Ip4.BROADCAST && !Ip4.isMulticast(a);
        }
        return !Ip6.isMulticast(hi) && !Ip6.isUnspecified(hi, lo);
    }

    public static String toString(long hi, long lo) {
        return isV4(hi, lo) ? SockAddr.ip4String(v4(lo)) : SockAddr.ip6String(hi, lo);
    }

    /** A 64-bit mix of a flow key (murmur3's finaliser over the folded words). */
    public static long hash(long aHi, long aLo, long bHi, long bLo, long meta) {
        long h = aHi * 0x9E3779B97F4A7C15L;
        h = (h ^ aLo) * 0xC2B2AE3D27D4EB4FL;
        h = (h ^ bHi) * 0x9E3779B97F4A7C15L;
        h = (h ^ bLo) * 0xC2B2AE3D27D4EB4FL;
        h = (h ^ meta) * 0x9E3779B97F4A7C15L;
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        return h;
    }
}
