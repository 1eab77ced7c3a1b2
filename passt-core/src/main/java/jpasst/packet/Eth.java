package jpasst.packet;

import java.lang.foreign.MemorySegment;

/** Ethernet II header (14 bytes): destination, source, EtherType. Static flyweight. */
public final class Eth {
    private Eth() {}

    public static final int DST = 0, SRC = 6, TYPE = 12, LEN = 14;
    public static final int TYPE_IPV4 = 0x0800, TYPE_ARP = 0x0806, TYPE_IPV6 = 0x86dd;
    public static final long BROADCAST = 0xffff_ffff_ffffL;

    public static long dst(MemorySegment s, long off) {
        return Net.mac(s, off + DST);
    }

    public static long src(MemorySegment s, long off) {
        return Net.mac(s, off + SRC);
    }

    public static int type(MemorySegment s, long off) {
        return Net.u16(s, off + TYPE);
    }

    public static void write(MemorySegment s, long off, long dst, long src, int type) {
        // two overlapping stores: the destination with the source's first two bytes, then the
        // source and the type
        Net.i64(s, off + DST, dst << 16 | (src >>> 32 & 0xffff));
        Net.i64(s, off + SRC, src << 16 | (type & 0xffff));
    }
}
