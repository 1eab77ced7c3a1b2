package jpasst.packet;

import java.lang.foreign.MemorySegment;

/**
 * IPv6 header (RFC 8200), 40 bytes. Static flyweight; offsets relative to the header. Addresses
 * are two longs, high and low half, in host order. Extension headers are walked by
 * {@link #upperLayer} the way passt does: hop-by-hop, routing and destination options are skipped,
 * anything else (fragments included) ends the walk.
 */
public final class Ip6 {
    private Ip6() {}

    public static final int VER_TC_FLOW = 0, PAYLOAD_LENGTH = 4, NEXT_HEADER = 6, HOP_LIMIT = 7,
            SRC = 8, DST = 24, LEN = 40;
    public static final int NH_HOP_BY_HOP = 0, NH_ROUTING = 43, NH_FRAGMENT = 44, NH_DEST_OPTS = 60,
            NH_NONE = 59;

    public static int version(MemorySegment s, long off) {
        return Net.u8(s, off) >>> 4;
    }

    public static int payloadLength(MemorySegment s, long off) {
        return Net.u16(s, off + PAYLOAD_LENGTH);
    }

    public static int nextHeader(MemorySegment s, long off) {
        return Net.u8(s, off + NEXT_HEADER);
    }

    public static int hopLimit(MemorySegment s, long off) {
        return Net.u8(s, off + HOP_LIMIT);
    }

    public static long srcHi(MemorySegment s, long off) {
        return Net.i64(s, off + SRC);
    }

    public static long srcLo(MemorySegment s, long off) {
        return Net.i64(s, off + SRC + 8);
    }

    public static long dstHi(MemorySegment s, long off) {
        return Net.i64(s, off + DST);
    }

    public static long dstLo(MemorySegment s, long off) {
        return Net.i64(s, off + DST + 8);
    }

    /**
     * Skips extension headers within {@code avail} bytes after the fixed header. Returns
     * {@code proto << 32 | offsetFromHeaderStart}, or -1 if an extension header is truncated.
     */
    public static long upperLayer(MemorySegment s, long off, int avail) {
        int nh = nextHeader(s, off);
        int pos = LEN;
        while (nh == NH_HOP_BY_HOP || nh == NH_ROUTING || nh == NH_DEST_OPTS) {
            if (pos + 8 > avail) return -1;
            int next = Net.u8(s, off + pos);
            int len = (Net.u8(s, off + pos + 1) + 1) * 8;
            if (pos + len > avail) return -1;
            nh = next;
            pos += len;
        }
        return (long) nh << 32 | pos;
    }

    /** Writes a 40-byte header: traffic class and flow label 0. */
    public static void write(MemorySegment s, long off, int payloadLength, int nextHeader, int hopLimit,
                             long srcHi, long srcLo, long dstHi, long dstLo) {
        Net.i32(s, off, 0x6000_0000);
        Net.u16(s, off + PAYLOAD_LENGTH, payloadLength);
        Net.u8(s, off + NEXT_HEADER, nextHeader);
        Net.u8(s, off + HOP_LIMIT, hopLimit);
        Net.i64(s, off + SRC, srcHi);
        Net.i64(s, off + SRC + 8, srcLo);
        Net.i64(s, off + DST, dstHi);
        Net.i64(s, off + DST + 8, dstLo);
    }

    public static boolean isMulticast(long hi) {
        return (hi >>> 56) == 0xff;
    }

    public static boolean isLinkLocal(long hi) {
        return (hi >>> 54) == (0xfe80L >>> 6);
    }

    public static boolean isUnspecified(long hi, long lo) {
        return hi == 0 && lo == 0;
    }

    public static boolean isLoopback(long hi, long lo) {
        return hi == 0 && lo == 1;
    }
}
