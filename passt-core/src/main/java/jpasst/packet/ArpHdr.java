package jpasst.packet;

import java.lang.foreign.MemorySegment;

/** ARP over Ethernet/IPv4 (RFC 826), 28 bytes after the Ethernet header. Static flyweight. */
public final class ArpHdr {
    private ArpHdr() {}

    public static final int HTYPE = 0, PTYPE = 2, HLEN = 4, PLEN = 5, OP = 6,
            SHA = 8, SPA = 14, THA = 18, TPA = 24, LEN = 28;
    public static final int HTYPE_ETHER = 1, OP_REQUEST = 1, OP_REPLY = 2;

    public static int htype(MemorySegment s, long off) {
        return Net.u16(s, off + HTYPE);
    }

    public static int ptype(MemorySegment s, long off) {
        return Net.u16(s, off + PTYPE);
    }

    public static int hlen(MemorySegment s, long off) {
        return Net.u8(s, off + HLEN);
    }

    public static int plen(MemorySegment s, long off) {
        return Net.u8(s, off + PLEN);
    }

    public static int op(MemorySegment s, long off) {
        return Net.u16(s, off + OP);
    }

    public static long sha(MemorySegment s, long off) {
        return Net.mac(s, off + SHA);
    }

    public static int spa(MemorySegment s, long off) {
        return Net.i32(s, off + SPA);
    }

    public static long tha(MemorySegment s, long off) {
        return Net.mac(s, off + THA);
    }

    public static int tpa(MemorySegment s, long off) {
        return Net.i32(s, off + TPA);
    }

    public static void write(MemorySegment s, long off, int op, long sha, int spa, long tha, int tpa) {
        Net.u16(s, off + HTYPE, HTYPE_ETHER);
        Net.u16(s, off + PTYPE, Eth.TYPE_IPV4);
        Net.u8(s, off + HLEN, 6);
        Net.u8(s, off + PLEN, 4);
        Net.u16(s, off + OP, op);
        Net.mac(s, off + SHA, sha);
        Net.i32(s, off + SPA, spa);
        Net.mac(s, off + THA, tha);
        Net.i32(s, off + TPA, tpa);
    }
}
