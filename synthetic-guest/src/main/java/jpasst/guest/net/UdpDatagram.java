package jpasst.guest.net;

import java.lang.foreign.MemorySegment;

/** The UDP header (RFC 768). */
public final class UdpDatagram {
    private UdpDatagram() {}

    public static final int LEN = 8, SRC_PORT = 0, DST_PORT = 2, LENGTH = 4, CHECKSUM = 6;

    public static int srcPort(MemorySegment s, long u) {
        return Bytes.u16(s, u + SRC_PORT);
    }

    public static int dstPort(MemorySegment s, long u) {
        return Bytes.u16(s, u + DST_PORT);
    }

    public static int length(MemorySegment s, long u) {
        return Bytes.u16(s, u + LENGTH);
    }

    /** The header, checksum field 0. */
    public static void write(MemorySegment s, long u, int srcPort, int dstPort, int length) {
        Bytes.i32(s, u, srcPort << 16 | dstPort);
        Bytes.i32(s, u + LENGTH, length << 16);
    }

    /** Stores the checksum of a datagram whose sum (pseudo-header and all bytes) is {@code acc}; 0 goes as 0xffff. */
    public static void checksum(MemorySegment s, long u, long acc) {
        int c = InetChecksum.finish(acc);
        Bytes.u16(s, u + CHECKSUM, c == 0 ? 0xffff : c);
    }
}
