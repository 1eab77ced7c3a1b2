package jpasst.guest.net;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Network-order (big-endian) fields at any offset of a {@link MemorySegment}: the one way the
 * guest side reads and writes headers, off-heap or over a heap array ({@code
 * MemorySegment.ofArray}). Static methods over (segment, offset): no objects per field.
 */
public final class Bytes {
    private Bytes() {}

    public static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    public static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    public static final ValueLayout.OfLong BE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    public static int u8(MemorySegment s, long off) {
        return s.get(ValueLayout.JAVA_BYTE, off) & 0xff;
    }

    public static int u16(MemorySegment s, long off) {
        return s.get(BE16, off) & 0xffff;
    }

    public static int i32(MemorySegment s, long off) {
        return s.get(BE32, off);
    }

    public static long i64(MemorySegment s, long off) {
        return s.get(BE64, off);
    }

    /** A 48-bit MAC address as the low bits of a long. */
    public static long mac(MemorySegment s, long off) {
        return (long) u16(s, off) << 32 | (i32(s, off + 2) & 0xffffffffL);
    }

    public static void u8(MemorySegment s, long off, int v) {
        s.set(ValueLayout.JAVA_BYTE, off, (byte) v);
    }

    public static void u16(MemorySegment s, long off, int v) {
        s.set(BE16, off, (short) v);
    }

    public static void i32(MemorySegment s, long off, int v) {
        s.set(BE32, off, v);
    }

    public static void i64(MemorySegment s, long off, long v) {
        s.set(BE64, off, v);
    }

    public static void mac(MemorySegment s, long off, long mac) {
        u16(s, off, (int) (mac >>> 32));
        i32(s, off + 2, (int) mac);
    }

    /** {@code len} zero bytes at {@code off}. */
    public static void zero(MemorySegment s, long off, long len) {
        s.asSlice(off, len).fill((byte) 0);
    }

    /** Dotted quad of an IPv4 address (for messages). */
    public static String ip4(int a) {
        return (a >>> 24) + "." + (a >>> 16 & 0xff) + "." + (a >>> 8 & 0xff) + "." + (a & 0xff);
    }

    /** An IPv6 address given as two longs, in the usual text form (for messages). */
    public static String ip6(long hi, long lo) {
        byte[] b = new byte[16];
        for (int i = 0; i < 8; i++) {
            b[i] = (byte) (hi >>> (56 - 8 * i));
            b[8 + i] = (byte) (lo >>> (56 - 8 * i));
        }
        try {
            return java.net.InetAddress.getByAddress(b).getHostAddress();
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
