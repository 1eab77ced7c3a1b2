package jpasst.packet;

import java.lang.foreign.MemorySegment;

/**
 * TCP header (RFC 9293). Static flyweight; offsets relative to the TCP header. Sequence numbers
 * are ints compared with wrap-around ({@link #before}). Options are read by {@link #option}.
 */
public final class TcpHdr {
    private TcpHdr() {}

    public static final int SRC_PORT = 0, DST_PORT = 2, SEQ = 4, ACK = 8, DATA_OFF = 12, FLAGS = 13,
            WINDOW = 14, CHECKSUM = 16, URGENT = 18, MIN_LEN = 20;
    public static final int FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK_FLAG = 0x10, URG = 0x20;
    public static final int OPT_END = 0, OPT_NOP = 1, OPT_MSS = 2, OPT_WS = 3, OPT_SACK_PERM = 4,
            OPT_TIMESTAMP = 8;

    public static int srcPort(MemorySegment s, long off) {
        return Net.u16(s, off + SRC_PORT);
    }

    public static int dstPort(MemorySegment s, long off) {
        return Net.u16(s, off + DST_PORT);
    }

    public static int seq(MemorySegment s, long off) {
        return Net.i32(s, off + SEQ);
    }

    public static int ack(MemorySegment s, long off) {
        return Net.i32(s, off + ACK);
    }

    /** Header length in bytes. */
    public static int headerLength(MemorySegment s, long off) {
        return (Net.u8(s, off + DATA_OFF) >>> 4) * 4;
    }

    public static int flags(MemorySegment s, long off) {
        return Net.u8(s, off + FLAGS);
    }

    public static int window(MemorySegment s, long off) {
        return Net.u16(s, off + WINDOW);
    }

    /**
     * The value of option {@code kind} ({@code len} bytes, 1, 2 or 4) or -1 if absent or malformed.
     * Walks the options area between the fixed header and {@code hdrLen}.
     */
    public static int option(MemorySegment s, long off, int hdrLen, int kind) {
        long p = off + MIN_LEN, end = off + hdrLen;
        while (p < end) {
            int k = Net.u8(s, p);
            if (k == OPT_END) return -1;
            if (k == OPT_NOP) {
                p++;
                continue;
            }
            if (p + 1 >= end) return -1;
            int l = Net.u8(s, p + 1);
            if (l < 2 || p + l > end) return -1;
            if (k == kind) {
                return switch (l - 2) {
                    case 0 -> 0;
                    case 1 -> Net.u8(s, p + 2);
                    case 2 -> Net.u16(s, p + 2);
                    default -> Net.i32(s, p + 2);
                };
            }
            p += l;
        }
        return -1;
    }

    /** Writes the fixed header; {@code hdrLen} includes options written by the caller after it. */
    public static void write(MemorySegment s, long off, int srcPort, int dstPort, int seq, int ack,
                             int hdrLen, int flags, int window) {
        Net.i32(s, off + SRC_PORT, (srcPort & 0xffff) << 16 | (dstPort & 0xffff));
        Net.i32(s, off + SEQ, seq);
        Net.i32(s, off + ACK, ack);
        Net.i32(s, off + DATA_OFF, (hdrLen / 4) << 28 | (flags & 0xff) << 16 | (window & 0xffff));
        Net.i32(s, off + CHECKSUM, 0); // and the urgent pointer
    }

    public static void checksum(MemorySegment s, long off, int len, long pseudo) {
        Net.u16(s, off + CHECKSUM, 0);
        Net.u16(s, off + CHECKSUM, Checksum.finish(Checksum.sum(s, off, len, pseudo)));
    }

    public static boolean checksumOk(MemorySegment s, long off, int len, long pseudo) {
        return Checksum.fold(Checksum.sum(s, off, len, pseudo)) == 0xffff;
    }

    /** a < b in sequence space. */
    public static boolean before(int a, int b) {
        return a - b < 0;
    }

    public static boolean afterOrAt(int a, int b) {
        return a - b >= 0;
    }
}
