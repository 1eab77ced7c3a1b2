package jpasst.guest.net;

import java.lang.foreign.MemorySegment;

/** The TCP header (RFC 9293) and the options a guest uses in its SYN: MSS and window scale. */
public final class TcpSegment {
    private TcpSegment() {}

    public static final int MIN_LEN = 20, SRC_PORT = 0, DST_PORT = 2, SEQ = 4, ACK_SEQ = 8, OFFSET = 12, FLAGS = 13,
            WINDOW = 14, CHECKSUM = 16;
    public static final int FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;
    public static final int OPT_END = 0, OPT_NOP = 1, OPT_MSS = 2, OPT_WS = 3;

    public static int srcPort(MemorySegment s, long t) {
        return Bytes.u16(s, t + SRC_PORT);
    }

    public static int dstPort(MemorySegment s, long t) {
        return Bytes.u16(s, t + DST_PORT);
    }

    public static int seq(MemorySegment s, long t) {
        return Bytes.i32(s, t + SEQ);
    }

    public static int ack(MemorySegment s, long t) {
        return Bytes.i32(s, t + ACK_SEQ);
    }

    public static int headerLength(MemorySegment s, long t) {
        return (Bytes.u8(s, t + OFFSET) >>> 4) * 4;
    }

    public static int flags(MemorySegment s, long t) {
        return Bytes.u8(s, t + FLAGS);
    }

    public static int window(MemorySegment s, long t) {
        return Bytes.u16(s, t + WINDOW);
    }

    /** A header without options (data offset {@code headerLength}), checksum field 0. */
    public static void write(MemorySegment s, long t, int srcPort, int dstPort, int seq, int ack, int headerLength,
                             int flags, int window) {
        Bytes.i32(s, t, srcPort << 16 | dstPort);
        Bytes.i32(s, t + SEQ, seq);
        Bytes.i32(s, t + ACK_SEQ, ack);
        Bytes.u16(s, t + OFFSET, (headerLength / 4) << 12 | flags);
        Bytes.u16(s, t + WINDOW, window);
        Bytes.i32(s, t + CHECKSUM, 0);
    }

    /**
     * The value of option {@code kind} in the header at {@code t} ({@code hl} bytes): the MSS's
     * 16 bits or the window scale's shift; -1 if absent or malformed.
     */
    public static int option(MemorySegment s, long t, int hl, int kind) {
        long p = t + MIN_LEN, end = t + hl;
        while (p < end) {
            int k = Bytes.u8(s, p);
            if (k == OPT_END) break;
            if (k == OPT_NOP) {
                p++;
                continue;
            }
            if (p + 1 >= end) break;
            int len = Bytes.u8(s, p + 1);
            if (len < 2 || p + len > end) break;
            if (k == kind) {
                if (kind == OPT_MSS && len == 4) return Bytes.u16(s, p + 2);
                if (kind == OPT_WS && len == 3) return Bytes.u8(s, p + 2);
                return -1;
            }
            p += len;
        }
        return -1;
    }
}
