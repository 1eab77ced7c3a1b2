package jpasst.guest.net;

import java.lang.foreign.MemorySegment;

/** ICMP (RFC 792) and ICMPv6 (RFC 4443) messages: type, code, checksum, then the body. */
public final class IcmpMessage {
    private IcmpMessage() {}

    public static final int HEADER = 4, CHECKSUM = 2, ECHO_ID = 4, ECHO_SEQ = 6, ECHO_LEN = 8;
    public static final int ECHO_REPLY = 0, ECHO_REQUEST = 8;
    public static final int V6_ECHO_REQUEST = 128, V6_ECHO_REPLY = 129, ROUTER_SOLICITATION = 133,
            ROUTER_ADVERTISEMENT = 134, NEIGHBOR_SOLICITATION = 135, NEIGHBOR_ADVERTISEMENT = 136;

    public static int type(MemorySegment s, long m) {
        return Bytes.u8(s, m);
    }

    public static int code(MemorySegment s, long m) {
        return Bytes.u8(s, m + 1);
    }

    /** Type and code; checksum field 0. */
    public static void write(MemorySegment s, long m, int type, int code) {
        Bytes.i32(s, m, type << 24 | code << 16);
    }
}
