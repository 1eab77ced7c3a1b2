package jpasst.packet;

import java.lang.foreign.MemorySegment;

/**
 * IPv4 header (RFC 791). Static flyweight: offsets are relative to the start of the header.
 * Addresses are ints in host order (192.0.2.1 == 0xc0000201).
 */
public final class Ip4 {
    private Ip4() {}

    public static final int VER_IHL = 0, TOS = 1, TOTAL_LENGTH = 2, ID = 4, FRAG = 6, TTL = 8,
            PROTO = 9, CHECKSUM = 10, SRC = 12, DST = 16, MIN_LEN = 20;
    public static final int FLAG_DF = 0x4000, FLAG_MF = 0x2000, FRAG_OFFSET_MASK = 0x1fff;
    public static final int BROADCAST = 0xffffffff;

    public static int version(MemorySegment s, long off) {
        return Net.u8(s, off + VER_IHL) >>> 4;
    }

    /** Header length in bytes. */
    public static int headerLength(MemorySegment s, long off) {
        return (Net.u8(s, off + VER_IHL) & 0xf) * 4;
    }

    public static int totalLength(MemorySegment s, long off) {
        return Net.u16(s, off + TOTAL_LENGTH);
    }

    public static int frag(MemorySegment s, long off) {
        return Net.u16(s, off + FRAG);
    }

    /** True for any fragment (more-fragments set or a non-zero offset). */
    public static boolean isFragment(MemorySegment s, long off) {
        return (frag(s, off) & (FLAG_MF | FRAG_OFFSET_MASK)) != 0;
    }

    public static int ttl(MemorySegment s, long off) {
        return Net.u8(s, off + TTL);
    }

    public static int proto(MemorySegment s, long off) {
        return Net.u8(s, off + PROTO);
    }

    public static int src(MemorySegment s, long off) {
        return Net.i32(s, off + SRC);
    }

    public static int dst(MemorySegment s, long off) {
        return Net.i32(s, off + DST);
    }

    /** True if the header checksum is right (the sum over the header folds to 0xffff). */
    public static boolean checksumOk(MemorySegment s, long off) {
        return Checksum.fold(Checksum.sum(s, off, headerLength(s, off), 0)) == 0xffff;
    }

    /** Writes a 20-byte header with DF set and its checksum. */
    public static void write(MemorySegment s, long off, int totalLength, int id, int ttl,
                             int proto, int src, int dst) {
        // four stores, and the checksum summed from the values rather than read back (a frame
        // to the guest writes this once per segment)
        int ttlProto = (ttl & 0xff) << 8 | (proto & 0xff);
        long sum = 0x4500 + (totalLength & 0xffff) + (id & 0xffff) + FLAG_DF + ttlProto
                + (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
        int checksum = ~Checksum.fold(sum) & 0xffff;
        Net.i64(s, off + VER_IHL, 0x4500L << 48 | (long) (totalLength & 0xffff) << 32
                | (long) (id & 0xffff) << 16 | FLAG_DF);
        Net.i32(s, off + TTL, ttlProto << 16 | checksum);
        Net.i32(s, off + SRC, src);
        Net.i32(s, off + DST, dst);
    }

    public static boolean isLoopback(int a) {
        return a >>> 24 == 127;
    }

    public static boolean isMulticast(int a) {
        return a >>> 28 == 0xe;
    }

    public static int mask(int prefixLength) {
        return prefixLength == 0 ? 0 : -1 << (32 - prefixLength);
    }
}
