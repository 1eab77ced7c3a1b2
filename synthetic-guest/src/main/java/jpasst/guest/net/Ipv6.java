package jpasst.guest.net;

import java.lang.foreign.MemorySegment;

/** The IPv6 fixed header (RFC 8200); addresses as two longs each (high and low 64 bits). */
public final class Ipv6 {
    private Ipv6() {}

    public static final int LEN = 40, PAYLOAD_LENGTH = 4, NEXT = 6, HOP_LIMIT = 7, SRC = 8, DST = 24;
    public static final int ICMPV6 = 58;

    public static int payloadLength(MemorySegment s, long ip) {
        return Bytes.u16(s, ip + PAYLOAD_LENGTH);
    }

    public static int next(MemorySegment s, long ip) {
        return Bytes.u8(s, ip + NEXT);
    }

    public static int hopLimit(MemorySegment s, long ip) {
        return Bytes.u8(s, ip + HOP_LIMIT);
    }

    public static long srcHi(MemorySegment s, long ip) {
        return Bytes.i64(s, ip + SRC);
    }

    public static long srcLo(MemorySegment s, long ip) {
        return Bytes.i64(s, ip + SRC + 8);
    }

    public static long dstHi(MemorySegment s, long ip) {
        return Bytes.i64(s, ip + DST);
    }

    public static long dstLo(MemorySegment s, long ip) {
        return Bytes.i64(s, ip + DST + 8);
    }

    public static void write(MemorySegment s, long ip, int payloadLength, int next, int hopLimit,
                             long srcHi, long srcLo, long dstHi, long dstLo) {
        Bytes.i32(s, ip, 0x6000_0000);
        Bytes.u16(s, ip + PAYLOAD_LENGTH, payloadLength);
        Bytes.u8(s, ip + NEXT, next);
        Bytes.u8(s, ip + HOP_LIMIT, hopLimit);
        Bytes.i64(s, ip + SRC, srcHi);
        Bytes.i64(s, ip + SRC + 8, srcLo);
        Bytes.i64(s, ip + DST, dstHi);
        Bytes.i64(s, ip + DST + 8, dstLo);
    }

    /** ff02::1:ffXX:XXXX, the solicited-node group of an address whose low half is {@code lo}. */
    public static long solicitedNodeLo(long lo) {
        return 0x0000_0001_ff00_0000L | (lo & 0xffffff);
    }

    public static final long LINK_LOCAL_MULTICAST_HI = 0xff02_0000_0000_0000L, LINK_LOCAL_HI = 0xfe80_0000_0000_0000L;
}
