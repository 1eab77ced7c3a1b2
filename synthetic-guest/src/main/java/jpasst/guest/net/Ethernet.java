package jpasst.guest.net;

import java.lang.foreign.MemorySegment;

/** Ethernet II header: destination, source, ethertype. */
public final class Ethernet {
    private Ethernet() {}

    public static final int LEN = 14, DST = 0, SRC = 6, TYPE = 12;
    public static final int IPV4 = 0x0800, ARP = 0x0806, IPV6 = 0x86dd;
    public static final long BROADCAST = 0xffff_ffff_ffffL;

    public static int type(MemorySegment s, long f) {
        return Bytes.u16(s, f + TYPE);
    }

    public static long dst(MemorySegment s, long f) {
        return Bytes.mac(s, f + DST);
    }

    public static long src(MemorySegment s, long f) {
        return Bytes.mac(s, f + SRC);
    }

    public static void write(MemorySegment s, long f, long dst, long src, int type) {
        Bytes.mac(s, f + DST, dst);
        Bytes.mac(s, f + SRC, src);
        Bytes.u16(s, f + TYPE, type);
    }

    /** The multicast MAC of an IPv6 group (33:33 and its last four bytes, RFC 2464 7). */
    public static long multicast6(long groupLo) {
        return 0x3333_0000_0000L | (groupLo & 0xffffffffL);
    }
}
