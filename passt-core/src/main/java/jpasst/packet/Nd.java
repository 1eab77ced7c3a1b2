package jpasst.packet;

import java.lang.foreign.MemorySegment;

/**
 * Neighbor Discovery messages (RFC 4861 4.1-4.4) and their options (4.6, RFC 8106 for RDNSS and
 * DNSSL). Static flyweight; offsets are relative to the ICMPv6 header, the first four bytes being
 * {@link IcmpHdr}'s type, code and checksum. Options are type, length in units of 8 bytes, value.
 */
public final class Nd {
    private Nd() {}

    /** ICMPv6 Redirect (RFC 4861 4.5): the last Neighbor Discovery type; RS to NA are in {@link IcmpHdr}. */
    public static final int TYPE_REDIRECT = 137;

    // Router Solicitation: 4 reserved bytes, then options
    public static final int RS_OPTIONS = 8;

    // Router Advertisement
    public static final int RA_CUR_HOP_LIMIT = 4, RA_FLAGS = 5, RA_ROUTER_LIFETIME = 6,
            RA_REACHABLE = 8, RA_RETRANS = 12, RA_OPTIONS = 16;
    public static final int RA_FLAG_MANAGED = 0x80, RA_FLAG_OTHER = 0x40;

    // Neighbor Solicitation and Advertisement: flags (NA only) or reserved, then the target
    public static final int NA_FLAGS = 4, TARGET = 8, NS_OPTIONS = 24, NA_OPTIONS = 24;
    public static final int NA_FLAG_ROUTER = 0x80, NA_FLAG_SOLICITED = 0x40, NA_FLAG_OVERRIDE = 0x20;

    // options
    public static final int OPT_SOURCE_LL = 1, OPT_TARGET_LL = 2, OPT_PREFIX = 3, OPT_MTU = 5,
            OPT_RDNSS = 25, OPT_DNSSL = 31;
    public static final int OPT_UNIT = 8;
    /** Prefix Information (32 bytes): prefix length, L/A flags, valid and preferred lifetimes, prefix. */
    public static final int PREFIX_LEN = 2, PREFIX_FLAGS = 3, PREFIX_VALID = 4, PREFIX_PREFERRED = 8,
            PREFIX_ADDR = 16, PREFIX_OPT_LEN = 32;
    public static final int PREFIX_FLAG_ON_LINK = 0x80, PREFIX_FLAG_AUTONOMOUS = 0x40;

    public static long targetHi(MemorySegment s, long icmp) {
        return Net.i64(s, icmp + TARGET);
    }

    public static long targetLo(MemorySegment s, long icmp) {
        return Net.i64(s, icmp + TARGET + 8);
    }

    /**
     * Checks the options between {@code from} and {@code end} as RFC 4861 6.1/7.1.1 want: every
     * option has a non-zero length and ends within the message. Returns -1 if one does not, else
     * a bit set of the option types below 64 that are present (bit {@code 1L << type}).
     */
    public static long options(MemorySegment s, long from, long end) {
        long seen = 0;
        long p = from;
        while (p < end) {
            if (end - p < 2) return -1;
            int type = Net.u8(s, p), units = Net.u8(s, p + 1);
            if (units == 0 || p + (long) units * OPT_UNIT > end) return -1;
            if (type < 64) seen |= 1L << type;
            p += (long) units * OPT_UNIT;
        }
        return seen;
    }

    /** The solicited-node multicast address's high half (ff02::1:ffXX:XXXX, RFC 4291 2.7.1). */
    public static final long SOLICITED_NODE_HI = 0xff02_0000_0000_0000L;
    public static final long SOLICITED_NODE_LO_PREFIX = 0x0000_0001_ff00_0000L;

    public static boolean isSolicitedNode(long hi, long lo) {
        return hi == SOLICITED_NODE_HI && (lo & 0xffff_ffff_ff00_0000L) == SOLICITED_NODE_LO_PREFIX;
    }

    /** ff02::1, all nodes on the link. */
    public static final long ALL_NODES_HI = 0xff02_0000_0000_0000L, ALL_NODES_LO = 1;

    /** The Ethernet multicast address for an IPv6 multicast group (RFC 2464 7): 33:33 + low 32 bits. */
    public static long multicastMac(long lo) {
        return 0x3333_0000_0000L | (lo & 0xffff_ffffL);
    }
}
