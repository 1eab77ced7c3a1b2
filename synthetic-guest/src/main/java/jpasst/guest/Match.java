package jpasst.guest;

import static jpasst.guest.Frames.u16;
import static jpasst.guest.Frames.u8;

import java.util.function.Predicate;

/**
 * Predicates over frames the daemon sends to the guest, for tests that wait for a frame matching
 * something ({@link GuestLink#receive(long, Predicate)}).
 */
public final class Match {
    private Match() {}

    public static Predicate<byte[]> dhcp(int messageType) {
        return f -> f.length > 282 && u16(f, 12) == 0x0800 && u8(f, 23) == 17 && u16(f, 34) == 67
                && dhcpType(f) == messageType;
    }

    private static int dhcpType(byte[] f) {
        for (int p = 14 + 20 + 8 + 240; p + 1 < f.length; ) {
            int code = u8(f, p);
            if (code == 0) {
                p++;
                continue;
            }
            if (code == 255) return -1;
            if (code == 53) return u8(f, p + 2);
            p += 2 + u8(f, p + 1);
        }
        return -1;
    }

    public static Predicate<byte[]> arpReply(int senderIp) {
        return f -> f.length >= 42 && u16(f, 12) == 0x0806 && u16(f, 20) == 2 && Frames.i32(f, 28) == senderIp;
    }

    /** A TCP segment to the guest's {@code guestPort} with exactly {@code flags} among SYN/ACK/RST/FIN. */
    public static Predicate<byte[]> tcp(int guestPort, int flags) {
        return f -> {
            int l4 = l4(f, 6);
            return l4 > 0 && u16(f, l4 + 2) == guestPort && (u8(f, l4 + 13) & 0x17) == flags;
        };
    }

    /** Any TCP segment to the guest's {@code guestPort}. */
    public static Predicate<byte[]> tcpTo(int guestPort) {
        return f -> {
            int l4 = l4(f, 6);
            return l4 > 0 && u16(f, l4 + 2) == guestPort;
        };
    }

    public static Predicate<byte[]> udpTo(int guestPort) {
        return f -> {
            int l4 = l4(f, 17);
            return l4 > 0 && u16(f, l4 + 2) == guestPort;
        };
    }

    public static Predicate<byte[]> echoReply4() {
        return f -> {
            int l4 = l4(f, 1);
            return l4 > 0 && u8(f, l4) == 0;
        };
    }

    public static Predicate<byte[]> icmp6(int type) {
        return f -> {
            int l4 = l4(f, 58);
            return l4 > 0 && u8(f, l4) == type;
        };
    }

    /** Offset of the transport header if {@code f} is IPv4/IPv6 (no extension headers) with {@code proto}; else -1. */
    public static int l4(byte[] f, int proto) {
        if (f.length >= 34 && u16(f, 12) == 0x0800 && u8(f, 23) == proto) {
            int l4 = 14 + (u8(f, 14) & 0xf) * 4;
            return l4 + 8 <= f.length ? l4 : -1;
        }
        if (f.length >= 62 && u16(f, 12) == 0x86dd && u8(f, 20) == proto) return 54;
        return -1;
    }
}
