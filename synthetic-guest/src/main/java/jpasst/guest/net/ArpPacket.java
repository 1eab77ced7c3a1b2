package jpasst.guest.net;

import java.lang.foreign.MemorySegment;

/** ARP for IPv4 over Ethernet (RFC 826): 28 bytes after the Ethernet header. */
public final class ArpPacket {
    private ArpPacket() {}

    public static final int LEN = 28, OP = 6, SHA = 8, SPA = 14, THA = 18, TPA = 24;
    public static final int REQUEST = 1, REPLY = 2;

    public static int op(MemorySegment s, long a) {
        return Bytes.u16(s, a + OP);
    }

    public static long sha(MemorySegment s, long a) {
        return Bytes.mac(s, a + SHA);
    }

    public static int spa(MemorySegment s, long a) {
        return Bytes.i32(s, a + SPA);
    }

    public static long tha(MemorySegment s, long a) {
        return Bytes.mac(s, a + THA);
    }

    public static int tpa(MemorySegment s, long a) {
        return Bytes.i32(s, a + TPA);
    }

    /** hardware Ethernet, protocol IPv4, lengths 6 and 4, then {@code op} and the addresses. */
    public static void write(MemorySegment s, long a, int op, long sha, int spa, long tha, int tpa) {
        Bytes.u16(s, a, 1);
        Bytes.u16(s, a + 2, Ethernet.IPV4);
        Bytes.u8(s, a + 4, 6);
        Bytes.u8(s, a + 5, 4);
        Bytes.u16(s, a + OP, op);
        Bytes.mac(s, a + SHA, sha);
        Bytes.i32(s, a + SPA, spa);
        Bytes.mac(s, a + THA, tha);
        Bytes.i32(s, a + TPA, tpa);
    }
}
