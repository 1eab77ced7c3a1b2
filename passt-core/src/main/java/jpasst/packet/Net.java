package jpasst.packet;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Network-order accessors shared by the header flyweights: every multi-byte field on the wire is
 * big-endian and may sit at any alignment, so all reads go through these unaligned big-endian
 * layouts. Values come back unsigned where the field is unsigned (a 16-bit port is an int 0..65535).
 */
public final class Net {
    private Net() {}

    public static final ValueLayout.OfShort SHORT =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    public static final ValueLayout.OfInt INT =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    public static final ValueLayout.OfLong LONG =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    public static int u8(MemorySegment s, long off) {
        return s.get(ValueLayout.JAVA_BYTE, off) & 0xff;
    }

    public static void u8(MemorySegment s, long off, int v) {
        s.set(ValueLayout.JAVA_BYTE, off, (byte) v);
    }

    public static int u16(MemorySegment s, long off) {
        return Short.toUnsignedInt(s.get(SHORT, off));
    }

    public static void u16(MemorySegment s, long off, int v) {
        s.set(SHORT, off, (short) v);
    }

    public static int i32(MemorySegment s, long off) {
        return s.get(INT, off);
    }

    public static void i32(MemorySegment s, long off, int v) {
        s.set(INT, off, v);
    }

    public static long i64(MemorySegment s, long off) {
        return s.get(LONG, off);
    }

    public static void i64(MemorySegment s, long off, long v) {
        s.set(LONG, off, v);
    }

    /** Zeroes {@code len} bytes at {@code off} without creating a slice. */
    public static void zero(MemorySegment s, long off, int len) {
        long p = off, end = off + len;
        for (; end - p >= 8; p += 8) s.set(ValueLayout.JAVA_LONG_UNALIGNED, p, 0L);
        for (; p < end; p++) s.set(ValueLayout.JAVA_BYTE, p, (byte) 0);
    }

    /** A 48-bit MAC address as a long (00:11:22:33:44:55 == 0x001122334455L). */
    public static long mac(MemorySegment s, long off) {
        return (long) u16(s, off) << 32 | (s.get(INT, off + 2) & 0xffffffffL);
    }

    public static void mac(MemorySegment s, long off, long mac) {
        s.set(SHORT, off, (short) (mac >>> 32));
        s.set(INT, off + 2, (int) mac);
    }

    public static String macString(long mac) {
        StringBuilder sb = new StringBuilder(17);
        for (int i = 5; i >= 0; i--) {
            int b = (int) (mac >>> (8 * i)) & 0xff;
            if (sb.length() > 0) sb.append(':');
            if (b < 16) sb.append('0');
            sb.append(Integer.toHexString(b));
        }
        return sb.toString();
    }

    /** Parses aa:bb:cc:dd:ee:ff; throws IllegalArgumentException on anything else. */
    public static long parseMac(String s) {
        String[] p = s.split(":");
        if (p.length != 6) throw new IllegalArgumentException("Invalid MAC address: " + s);
        long v = 0;
        for (String b : p) {
            if (b.isEmpty() || b.length() > 2) throw new IllegalArgumentException("Invalid MAC address: " + s);
            try {
                v = v << 8 | Integer.parseInt(b, 16);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("Invalid MAC address: " + s);
            }
        }
        return v;
    }
}
