package jpasst.guest;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.guest.net.Bytes;
import jpasst.guest.net.Ethernet;
import jpasst.guest.net.InetChecksum;
import jpasst.guest.net.Ipv4;
import jpasst.guest.net.Ipv6;
import jpasst.guest.net.UdpDatagram;

/**
 * The guest's DHCPv6 client (RFC 8415), stateful, one IA_NA: SOLICIT to ff02::1:2 from the
 * link-local address (client identifier a DUID-LL of the MAC, elapsed time, an option request for
 * DNS servers and the domain list); the ADVERTISE's server identifier goes back in the REQUEST
 * with the offered address; the REPLY's address is the guest's. An answer with another
 * transaction or client identifier, or a status code other than success, is ignored.
 */
final class Dhcp6Client {
    static final int SOLICIT = 1, ADVERTISE = 2, REQUEST = 3, REPLY = 7;
    static final int OPT_CLIENTID = 1, OPT_SERVERID = 2, OPT_IA_NA = 3, OPT_IAADDR = 5, OPT_ORO = 6, OPT_ELAPSED = 8,
            OPT_STATUS = 13, OPT_DNS = 23, OPT_DOMAINS = 24;
    static final int IAID = 1, XID = 0x6a7036;
    private static final long ALL_SERVERS_LO = 0x0001_0002L;

    private final GuestStack g;
    private final MemorySegment serverId = Arena.ofAuto().allocate(130);
    private int serverIdLen;
    private long offeredHi, offeredLo;
    private int state; // 0 none, 1 solicited, 2 requested, 3 bound

    Dhcp6Client(GuestStack g) {
        this.g = g;
    }

    boolean requested() {
        return state == 2;
    }

    boolean bound() {
        return state == 3;
    }

    void solicit() {
        state = 1;
        send(SOLICIT);
    }

    private void send(int type) {
        int mlen = 4 + 14 + 6 + 8 + 16 + (type == REQUEST ? 4 + serverIdLen + 28 : 0);
        int udpLen = UdpDatagram.LEN + mlen;
        long f = g.reserve(Ethernet.LEN + Ipv6.LEN + udpLen);
        if (f < 0) return;
        MemorySegment out = g.out();
        long ip = f + Ethernet.LEN, u = ip + Ipv6.LEN, m = u + UdpDatagram.LEN;
        Bytes.i32(out, m, type << 24 | XID);
        long p = m + 4;
        Bytes.i32(out, p, OPT_CLIENTID << 16 | 10);          // DUID-LL: type 3, hardware 1, MAC
        Bytes.i32(out, p + 4, 3 << 16 | 1);
        Bytes.mac(out, p + 8, g.mac);
        p += 14;
        Bytes.i32(out, p, OPT_ELAPSED << 16 | 2);
        Bytes.u16(out, p + 4, 0);
        p += 6;
        Bytes.i32(out, p, OPT_ORO << 16 | 4);
        Bytes.i32(out, p + 4, OPT_DNS << 16 | OPT_DOMAINS);
        p += 8;
        if (type == REQUEST) {
            Bytes.i32(out, p, OPT_SERVERID << 16 | serverIdLen);
            MemorySegment.copy(serverId, 0, out, p + 4, serverIdLen);
            p += 4 + serverIdLen;
            Bytes.i32(out, p, OPT_IA_NA << 16 | (12 + 28));
        } else {
            Bytes.i32(out, p, OPT_IA_NA << 16 | 12);
        }
        Bytes.i32(out, p + 4, IAID);
        Bytes.i64(out, p + 8, 0);                              // T1, T2: the server's choice
        p += 16;
        if (type == REQUEST) {
            Bytes.i32(out, p, OPT_IAADDR << 16 | 24);
            Bytes.i64(out, p + 4, offeredHi);
            Bytes.i64(out, p + 12, offeredLo);
            Bytes.i64(out, p + 20, 0);
            p += 28;
        }
        long dHi = Ipv6.LINK_LOCAL_MULTICAST_HI;
        UdpDatagram.write(out, u, 546, 547, udpLen);
        UdpDatagram.checksum(out, u, InetChecksum.sum(out, u, udpLen)
                + InetChecksum.pseudo6(g.ll6Hi, g.ll6Lo, dHi, ALL_SERVERS_LO, Ipv4.UDP, udpLen));
        Ethernet.write(out, f, Ethernet.multicast6(ALL_SERVERS_LO), g.mac, Ethernet.IPV6);
        Ipv6.write(out, ip, udpLen, Ipv4.UDP, 1, g.ll6Hi, g.ll6Lo, dHi, ALL_SERVERS_LO);
        g.commit(f, Ethernet.LEN + Ipv6.LEN + udpLen);
    }

    /** A message from a server (UDP 547 to 546): {@code len} bytes at {@code m}. */
    void reply(MemorySegment s, long m, int len) {
        if (len < 4) return;
        int head = Bytes.i32(s, m), type = head >>> 24;
        if ((head & 0xffffff) != XID || (type != ADVERTISE && type != REPLY)) return;
        long addrHi = 0, addrLo = 0, dnsHi = 0, dnsLo = 0;
        boolean ourClient = false, failed = false;
        int sid = -1, sidLen = 0;
        long p = m + 4, end = m + len;
        while (p + 4 <= end) {
            int code = Bytes.u16(s, p), olen = Bytes.u16(s, p + 2);
            long v = p + 4;
            if (v + olen > end) return;
            switch (code) {
                case OPT_CLIENTID -> ourClient = olen == 10 && Bytes.i32(s, v) == (3 << 16 | 1) && Bytes.mac(s, v + 4) == g.mac;
                case OPT_SERVERID -> {
                    sid = (int) (v - m);
                    sidLen = olen;
                }
                case OPT_STATUS -> failed |= olen >= 2 && Bytes.u16(s, v) != 0;
                case OPT_DNS -> {
                    if (olen >= 16) {
                        dnsHi = Bytes.i64(s, v);
                        dnsLo = Bytes.i64(s, v + 8);
                    }
                }
                case OPT_IA_NA -> {
                    for (long q = v + 12; q + 4 <= v + olen; ) {
                        int c = Bytes.u16(s, q), l = Bytes.u16(s, q + 2);
                        if (q + 4 + l > v + olen) break;
                        if (c == OPT_IAADDR && l >= 24) {
                            addrHi = Bytes.i64(s, q + 4);
                            addrLo = Bytes.i64(s, q + 12);
                        } else if (c == OPT_STATUS && l >= 2 && Bytes.u16(s, q + 4) != 0) {
                            failed = true;
                        }
                        q += 4 + l;
                    }
                }
                default -> { }
            }
            p = v + olen;
        }
        if (!ourClient || failed || addrHi == 0 || sid < 0 || sidLen > serverId.byteSize()) return;
        if (type == ADVERTISE && state == 1) {
            MemorySegment.copy(s, m + sid, serverId, 0, sidLen);
            serverIdLen = sidLen;
            offeredHi = addrHi;
            offeredLo = addrLo;
            state = 2;
            send(REQUEST);
        } else if (type == REPLY && (state == 2 || state == 1)) { // a REPLY to a SOLICIT: rapid commit
            g.dhcp6Lo = addrLo;
            g.dhcp6Hi = addrHi;
            if (dnsHi != 0) {
                g.dns6Hi = dnsHi;
                g.dns6Lo = dnsLo;
            }
            state = 3;
        }
    }
}
