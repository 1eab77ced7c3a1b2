package jpasst.guest;

import java.lang.foreign.MemorySegment;

import jpasst.guest.net.Bytes;
import jpasst.guest.net.Ethernet;
import jpasst.guest.net.IcmpMessage;
import jpasst.guest.net.InetChecksum;
import jpasst.guest.net.Ipv6;

/**
 * The guest's side of Neighbor Discovery (RFC 4861) and stateless address autoconfiguration
 * (RFC 4862): a router solicitation from its link-local address; from the advertisement, the
 * router (its link-local address and MAC), an address in every autonomous /64 prefix (the
 * prefix and the guest's EUI-64 interface identifier), the MTU and the first RDNSS resolver
 * (RFC 8106); and a neighbour advertisement for every solicitation of one of its own addresses.
 * Messages with a hop limit other than 255 are not NDP's (RFC 4861 6.1) and are ignored.
 */
final class Slaac {
    private static final long ALL_ROUTERS_LO = 2;
    private final GuestStack g;
    /** Router advertisements taken. */
    long advertisements;

    Slaac(GuestStack g) {
        this.g = g;
    }

    void solicit() {
        int l4Len = 8 + 8; // the RS, then our link-layer address option
        long f = g.reserve(Ethernet.LEN + Ipv6.LEN + l4Len);
        if (f < 0) return;
        MemorySegment out = g.out();
        long ip = f + Ethernet.LEN, m = ip + Ipv6.LEN;
        IcmpMessage.write(out, m, IcmpMessage.ROUTER_SOLICITATION, 0);
        Bytes.i32(out, m + 4, 0);
        Bytes.u16(out, m + 8, 1 << 8 | 1); // source link-layer address, 8 bytes
        Bytes.mac(out, m + 10, g.mac);
        finish(out, f, m, l4Len, Ethernet.multicast6(ALL_ROUTERS_LO), g.ll6Hi, g.ll6Lo,
                Ipv6.LINK_LOCAL_MULTICAST_HI, ALL_ROUTERS_LO);
    }

    /** ICMPv6 other than echo replies (checksum already checked): RA and NS are ours. */
    void icmp6(MemorySegment s, long f, long ip, long m, int len, int type) {
        if (Ipv6.hopLimit(s, ip) != 255) return;
        if (type == IcmpMessage.ROUTER_ADVERTISEMENT && len >= 16) {
            advertisement(s, f, ip, m, len);
        } else if (type == IcmpMessage.NEIGHBOR_SOLICITATION && len >= 24) {
            long tHi = Bytes.i64(s, m + 8), tLo = Bytes.i64(s, m + 16);
            boolean ours = (tHi == g.ll6Hi && tLo == g.ll6Lo) || (tHi == g.slaacHi && tLo == g.slaacLo && tHi != 0)
                    || (tHi == g.dhcp6Hi && tLo == g.dhcp6Lo && tHi != 0);
            if (ours) advertise(s, f, ip, tHi, tLo);
        }
    }

    private void advertisement(MemorySegment s, long f, long ip, long m, int len) {
        advertisements++;
        g.router6Hi = Ipv6.srcHi(s, ip);
        g.router6Lo = Ipv6.srcLo(s, ip);
        g.routerMac = Ethernet.src(s, f);
        long p = m + 16, end = m + len;
        while (p + 2 <= end) {
            int type = Bytes.u8(s, p), olen = Bytes.u8(s, p + 1) * 8;
            if (olen == 0 || p + olen > end) break;
            if (type == 1 && olen >= 8) {
                g.routerMac = Bytes.mac(s, p + 2);
            } else if (type == 3 && olen >= 32) {
                int plen = Bytes.u8(s, p + 2), flags = Bytes.u8(s, p + 3);
                long prefixHi = Bytes.i64(s, p + 16);
                if (plen == 64 && (flags & 0x40) != 0 && (prefixHi & 0xffc0_0000_0000_0000L) != Ipv6.LINK_LOCAL_HI) {
                    g.prefix6 = plen;
                    g.slaacLo = g.ll6Lo;
                    g.slaacHi = prefixHi; // set last: it says the address is there
                }
            } else if (type == 5 && olen >= 8) {
                g.mtu6 = Bytes.i32(s, p + 4);
            } else if (type == 25 && olen >= 24) {
                g.dns6Hi = Bytes.i64(s, p + 8);
                g.dns6Lo = Bytes.i64(s, p + 16);
            }
            p += olen;
        }
    }

    /** A solicited neighbour advertisement for our {@code tHi:tLo}, with our MAC, Override set. */
    private void advertise(MemorySegment s, long f, long ip, long tHi, long tLo) {
        long sHi = Ipv6.srcHi(s, ip), sLo = Ipv6.srcLo(s, ip);
        boolean dad = sHi == 0 && sLo == 0;
        long dHi = dad ? Ipv6.LINK_LOCAL_MULTICAST_HI : sHi, dLo = dad ? 1 : sLo;
        long dMac = dad ? Ethernet.multicast6(1) : Ethernet.src(s, f);
        int l4Len = 24 + 8;
        long o = g.reserve(Ethernet.LEN + Ipv6.LEN + l4Len);
        if (o < 0) return;
        MemorySegment out = g.out();
        long m = o + Ethernet.LEN + Ipv6.LEN;
        IcmpMessage.write(out, m, IcmpMessage.NEIGHBOR_ADVERTISEMENT, 0);
        Bytes.i32(out, m + 4, dad ? 0x2000_0000 : 0x6000_0000); // Solicited (unless DAD), Override
        Bytes.i64(out, m + 8, tHi);
        Bytes.i64(out, m + 16, tLo);
        Bytes.u16(out, m + 24, 2 << 8 | 1); // target link-layer address
        Bytes.mac(out, m + 26, g.mac);
        finish(out, o, m, l4Len, dMac, tHi, tLo, dHi, dLo);
    }

    private void finish(MemorySegment out, long f, long m, int l4Len, long dstMac, long sHi, long sLo, long dHi, long dLo) {
        long sum = InetChecksum.sum(out, m, l4Len) + InetChecksum.pseudo6(sHi, sLo, dHi, dLo, Ipv6.ICMPV6, l4Len);
        Bytes.u16(out, m + IcmpMessage.CHECKSUM, InetChecksum.finish(sum));
        Ethernet.write(out, f, dstMac, g.mac, Ethernet.IPV6);
        Ipv6.write(out, f + Ethernet.LEN, l4Len, Ipv6.ICMPV6, 255, sHi, sLo, dHi, dLo);
        g.commit(f, Ethernet.LEN + Ipv6.LEN + l4Len);
    }
}
