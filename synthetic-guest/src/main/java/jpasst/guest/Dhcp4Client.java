package jpasst.guest;

import java.lang.foreign.MemorySegment;

import jpasst.guest.net.Bytes;
import jpasst.guest.net.Ethernet;
import jpasst.guest.net.InetChecksum;
import jpasst.guest.net.Ipv4;
import jpasst.guest.net.UdpDatagram;

/**
 * The guest's DHCP client (RFC 2131), as far as a guest of passt needs one: DISCOVER, the
 * OFFER, REQUEST for the offered address from that server, the ACK; then the address, prefix,
 * router, first DNS server and MTU (option 26) are the {@link GuestStack}'s. Messages go from
 * 0.0.0.0:68 to 255.255.255.255:67 with the broadcast flag, as busybox's udhcpc sends them.
 */
final class Dhcp4Client {
    static final int XID = 0x6a706173;
    static final int DISCOVER = 1, OFFER = 2, REQUEST = 3, ACK = 5;
    private static final int LEN = 300;

    private final GuestStack g;
    private int state; // 0 none, 1 discover sent, 2 request sent, 3 bound

    Dhcp4Client(GuestStack g) {
        this.g = g;
    }

    boolean requested() {
        return state == 2;
    }

    boolean bound() {
        return state == 3;
    }

    void discover() {
        state = 1;
        send(DISCOVER, 0, 0);
    }

    private void send(int type, int requested, int server) {
        int frameLen = Ethernet.LEN + Ipv4.MIN_LEN + UdpDatagram.LEN + LEN;
        long f = g.reserve(frameLen);
        if (f < 0) return;
        MemorySegment out = g.out();
        long ip = f + Ethernet.LEN, u = ip + Ipv4.MIN_LEN, m = u + UdpDatagram.LEN;
        Bytes.zero(out, m, LEN);
        Bytes.i32(out, m, 0x0101_0600);       // BOOTREQUEST, Ethernet, 6-byte addresses, 0 hops
        Bytes.i32(out, m + 4, XID);
        Bytes.u16(out, m + 10, 0x8000);        // broadcast
        Bytes.mac(out, m + 28, g.mac);
        Bytes.i32(out, m + 236, 0x63825363);
        long p = m + 240;
        p = option1(out, p, 53, type);
        if (requested != 0) {
            p = option4(out, p, 50, requested);
            p = option4(out, p, 54, server);
        }
        Bytes.i32(out, p, 55 << 24 | 5 << 16 | 1 << 8 | 3);  // parameter request list: mask, router,
        Bytes.i32(out, p + 4, 6 << 24 | 26 << 16 | 15 << 8 | 255); // DNS, MTU, domain; end
        Ethernet.write(out, f, Ethernet.BROADCAST, g.mac, Ethernet.IPV4);
        Ipv4.write(out, ip, Ipv4.MIN_LEN + UdpDatagram.LEN + LEN, g.nextId(), 64, Ipv4.UDP, 0, Ipv4.BROADCAST);
        UdpDatagram.write(out, u, 68, 67, UdpDatagram.LEN + LEN);
        UdpDatagram.checksum(out, u, InetChecksum.sum(out, u, UdpDatagram.LEN + LEN)
                + InetChecksum.pseudo4(0, Ipv4.BROADCAST, Ipv4.UDP, UdpDatagram.LEN + LEN));
        g.commit(f, frameLen);
    }

    /** An option with a one-byte value; returns where the next option goes. */
    private static long option1(MemorySegment out, long p, int code, int value) {
        Bytes.u16(out, p, code << 8 | 1);
        Bytes.u8(out, p + 2, value);
        return p + 3;
    }

    /** An option with a four-byte value (an address). */
    private static long option4(MemorySegment out, long p, int code, int value) {
        Bytes.u16(out, p, code << 8 | 4);
        Bytes.i32(out, p + 2, value);
        return p + 6;
    }

    /** A reply from the server (UDP 67 to 68): {@code mlen} bytes of BOOTP at {@code m}, in frame {@code f}. */
    void reply(MemorySegment s, long f, long m, int mlen) {
        if (mlen < 240 || Bytes.u8(s, m) != 2 || Bytes.i32(s, m + 4) != XID || Bytes.i32(s, m + 236) != 0x63825363) return;
        int type = 0, router = 0, mask = 0, server = 0, mtu = 0, dns = 0;
        long p = m + 240, end = m + mlen;
        while (p + 1 < end) {
            int code = Bytes.u8(s, p);
            if (code == 0) {
                p++;
                continue;
            }
            if (code == 255) break;
            int olen = Bytes.u8(s, p + 1);
            long v = p + 2;
            if (v + olen > end) break;
            switch (code) {
                case 53 -> type = olen >= 1 ? Bytes.u8(s, v) : 0;
                case 3 -> router = olen >= 4 ? Bytes.i32(s, v) : 0;
                case 1 -> mask = olen >= 4 ? Bytes.i32(s, v) : 0;
                case 54 -> server = olen >= 4 ? Bytes.i32(s, v) : 0;
                case 26 -> mtu = olen >= 2 ? Bytes.u16(s, v) : 0;
                case 6 -> dns = olen >= 4 ? Bytes.i32(s, v) : 0;
                default -> { }
            }
            p = v + olen;
        }
        int yiaddr = Bytes.i32(s, m + 16);
        if (type == OFFER && state == 1) {
            state = 2;
            send(REQUEST, yiaddr, server);
        } else if (type == ACK && state == 2) {
            g.addr4 = yiaddr;
            g.gw4 = router;
            g.prefix4 = Integer.bitCount(mask);
            g.dns4 = dns;
            g.dhcpMtu = mtu;
            if (mtu > 0) g.mtu = mtu;
            g.dhcpServerMac = Ethernet.src(s, f);
            state = 3;
        }
    }
}
