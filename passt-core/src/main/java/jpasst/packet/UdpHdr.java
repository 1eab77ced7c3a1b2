package jpasst.packet;

import java.lang.foreign.MemorySegment;

/** UDP header (RFC 768), 8 bytes. Static flyweight; offsets relative to the UDP header. */
public final class UdpHdr {
    private UdpHdr() {}

    public static final int SRC_PORT = 0, DST_PORT = 2, LENGTH = 4, CHECKSUM = 6, LEN = 8;

    public static int srcPort(MemorySegment s, long off) {
        return Net.u16(s, off + SRC_PORT);
    }

    public static int dstPort(MemorySegment s, long off) {
        return Net.u16(s, off + DST_PORT);
    }

    public static int length(MemorySegment s, long off) {
        return Net.u16(s, off + LENGTH);
    }

    public static int checksum(MemorySegment s, long off) {
        return Net.u16(s, off + CHECKSUM);
    }

    /** Writes ports and length; the checksum is zeroed for {@link #checksum4}/{@link #checksum6}. */
    public static void write(MemorySegment s, long off, int srcPort, int dstPort, int length) {
        Net.u16(s, off + SRC_PORT, srcPort);
        Net.u16(s, off + DST_PORT, dstPort);
        Net.u16(s, off + LENGTH, length);
        Net.u16(s, off + CHECKSUM, 0);
    }

    /** Fills in the checksum of a datagram of {@code length} bytes over IPv4. */
    public static void checksum4(MemorySegment s, long off, int length, int src, int dst) {
        checksum(s, off, length, Checksum.pseudo4(src, dst, 17, length));
    }

    /** Fills in the checksum of a datagram of {@code length} bytes over IPv6 (mandatory there). */
    public static void checksum6(MemorySegment s, long off, int length,
                                 long srcHi, long srcLo, long dstHi, long dstLo) {
        checksum(s, off, length, Checksum.pseudo6(srcHi, srcLo, dstHi, dstLo, 17, length));
    }

    /** Fills in the checksum of a datagram of {@code length} bytes behind the pseudo-header sum {@code pseudo}. */
    public static void checksum(MemorySegment s, long off, int length, long pseudo) {
        Net.u16(s, off + CHECKSUM, 0);
        int c = Checksum.finish(Checksum.sum(s, off, length, pseudo));
        Net.u16(s, off + CHECKSUM, c == 0 ? 0xffff : c); // (0 would say "no checksum")
    }

    /** True if a received datagram over IPv4 has a valid or absent (zero) checksum. */
    public static boolean checksumOk4(MemorySegment s, long off, int length, int src, int dst) {
        if (checksum(s, off) == 0) return true;
        return Checksum.fold(Checksum.sum(s, off, length, Checksum.pseudo4(src, dst, 17, length))) == 0xffff;
    }

    /** True if a received datagram over IPv6 has a valid checksum (mandatory there: zero is not, RFC 8200 8.1). */
    public static boolean checksumOk6(MemorySegment s, long off, int length,
                                      long srcHi, long srcLo, long dstHi, long dstLo) {
        if (checksum(s, off) == 0) return false;
        return Checksum.fold(Checksum.sum(s, off, length,
                Checksum.pseudo6(srcHi, srcLo, dstHi, dstLo, 17, length))) == 0xffff;
    }
}
