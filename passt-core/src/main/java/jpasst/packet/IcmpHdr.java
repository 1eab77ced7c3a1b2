package jpasst.packet;

import java.lang.foreign.MemorySegment;

/**
 * ICMP (RFC 792) and ICMPv6 (RFC 4443) share the first four bytes (type, code, checksum) and,
 * for echo messages, identifier and sequence number. Static flyweight; offsets relative to the
 * ICMP header. ICMPv6's checksum covers the IPv6 pseudo-header, ICMP's does not.
 */
public final class IcmpHdr {
    private IcmpHdr() {}

    public static final int TYPE = 0, CODE = 1, CHECKSUM = 2, ID = 4, SEQ = 6, ECHO_LEN = 8;
    public static final int ECHO_REPLY = 0, DEST_UNREACH = 3, ECHO_REQUEST = 8;
    public static final int V6_DEST_UNREACH = 1, V6_ECHO_REQUEST = 128, V6_ECHO_REPLY = 129,
            V6_ROUTER_SOLICIT = 133, V6_ROUTER_ADVERT = 134, V6_NEIGHBOR_SOLICIT = 135,
            V6_NEIGHBOR_ADVERT = 136;

    public static int type(MemorySegment s, long off) {
        return Net.u8(s, off + TYPE);
    }

    public static int code(MemorySegment s, long off) {
        return Net.u8(s, off + CODE);
    }

    public static int id(MemorySegment s, long off) {
        return Net.u16(s, off + ID);
    }

    public static int seq(MemorySegment s, long off) {
        return Net.u16(s, off + SEQ);
    }

    /** ICMP (IPv4) checksum over {@code len} bytes. */
    public static void checksum4(MemorySegment s, long off, int len) {
        Net.u16(s, off + CHECKSUM, 0);
        Net.u16(s, off + CHECKSUM, Checksum.finish(Checksum.sum(s, off, len, 0)));
    }

    /** ICMPv6 checksum over {@code len} bytes with the pseudo-header. */
    public static void checksum6(MemorySegment s, long off, int len, long srcHi, long srcLo,
                                 long dstHi, long dstLo) {
        Net.u16(s, off + CHECKSUM, 0);
        Net.u16(s, off + CHECKSUM, Checksum.finish(Checksum.sum(s, off, len,
                Checksum.pseudo6(srcHi, srcLo, dstHi, dstLo, 58, len))));
    }

    public static boolean checksumOk4(MemorySegment s, long off, int len) {
        return Checksum.fold(Checksum.sum(s, off, len, 0)) == 0xffff;
    }

    public static boolean checksumOk6(MemorySegment s, long off, int len, long srcHi, long srcLo,
                                      long dstHi, long dstLo) {
        return Checksum.fold(Checksum.sum(s, off, len,
                Checksum.pseudo6(srcHi, srcLo, dstHi, dstLo, 58, len))) == 0xffff;
    }
}
