package jpasst.guest.net;

import java.lang.foreign.MemorySegment;

/** The IPv4 header (RFC 791); the guest sends it without options, and reads any. */
public final class Ipv4 {
    private Ipv4() {}

    public static final int MIN_LEN = 20, TOTAL_LENGTH = 2, ID = 4, FRAG = 6, TTL = 8, PROTO = 9, CHECKSUM = 10,
            SRC = 12, DST = 16;
    public static final int TCP = 6, UDP = 17, ICMP = 1;
    public static final int BROADCAST = 0xffffffff;

    public static int version(MemorySegment s, long ip) {
        return Bytes.u8(s, ip) >>> 4;
    }

    public static int headerLength(MemorySegment s, long ip) {
        return (Bytes.u8(s, ip) & 0xf) * 4;
    }

    public static int totalLength(MemorySegment s, long ip) {
        return Bytes.u16(s, ip + TOTAL_LENGTH);
    }

    public static int proto(MemorySegment s, long ip) {
        return Bytes.u8(s, ip + PROTO);
    }

    public static int src(MemorySegment s, long ip) {
        return Bytes.i32(s, ip + SRC);
    }

    public static int dst(MemorySegment s, long ip) {
        return Bytes.i32(s, ip + DST);
    }

    /** Whether the fragment offset or more-fragments flag is set. */
    public static boolean fragment(MemorySegment s, long ip) {
        return (Bytes.u16(s, ip + FRAG) & 0x3fff) != 0;
    }

    /** Whether the header checksum is right. */
    public static boolean checksumOk(MemorySegment s, long ip) {
        return InetChecksum.ok(InetChecksum.sum(s, ip, headerLength(s, ip)));
    }

    /** A 20-byte header, DF set, checksum computed. */
    public static void write(MemorySegment s, long ip, int totalLength, int id, int ttl, int proto, int src, int dst) {
        Bytes.i32(s, ip, 0x4500_0000 | totalLength);
        Bytes.i32(s, ip + ID, id << 16 | 0x4000);
        Bytes.u8(s, ip + TTL, ttl);
        Bytes.u8(s, ip + PROTO, proto);
        Bytes.u16(s, ip + CHECKSUM, 0);
        Bytes.i32(s, ip + SRC, src);
        Bytes.i32(s, ip + DST, dst);
        Bytes.u16(s, ip + CHECKSUM, InetChecksum.finish(InetChecksum.sum(s, ip, MIN_LEN)));
    }
}
