package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.Passt;
import jpasst.conf.Conf;
import jpasst.packet.Inany;
import jpasst.packet.Checksum;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
import jpasst.packet.Ip6;
import jpasst.packet.Net;
import jpasst.packet.TcpHdr;
import jpasst.packet.UdpHdr;
import jpasst.sys.Sockets;

/**
 * Frames as a guest sends them, written with passt-core's own header writers into off-heap
 * memory, and the fixed addresses the microbenchmarks use (documentation prefixes, as the unit
 * tests: the guest is 192.0.2.2 / 2001:db8::2, the gateway 192.0.2.1 / 2001:db8::1).
 */
final class BenchFrames {
    private BenchFrames() {}

    static final long GUEST_MAC = 0x5254_0012_3456L;
    static final int ADDR4 = 0xc0000202, GW4 = 0xc0000201;
    static final long ADDR6_HI = 0x2001_0db8_0000_0000L, ADDR6_LO = 2, GW6_HI = ADDR6_HI, GW6_LO = 1;

    /** A configuration as the daemon has it after host discovery, without touching the host. */
    /**
     * A daemon for IPv4 only, started, serving the guest end of a new socketpair as --fd does;
     * the other end, the guest's, goes into {@code guest[0]}.
     */
    static Passt daemonOnSocketpair(int[] guest) {
        Conf.Builder conf = conf();
        conf.v6 = false;
        MemorySegment fds = Arena.ofAuto().allocate(ValueLayout.JAVA_INT, 2);
        Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM, 0, fds);
        conf.fd = fds.get(ValueLayout.JAVA_INT, 0);
        guest[0] = fds.get(ValueLayout.JAVA_INT, 4);
        Passt passt = new Passt(conf.build());
        passt.start();
        return passt;
    }

    static Conf.Builder conf() {
        Conf.Builder c = new Conf.Builder();
        c.addr4 = ADDR4;
        c.prefix4 = 24;
        c.gw4 = GW4;
        c.dns4 = new int[] {0xc6336435};
        c.addr6Hi = ADDR6_HI;
        c.addr6Lo = ADDR6_LO;
        c.gw6Hi = GW6_HI;
        c.gw6Lo = GW6_LO;
        c.ourLl6Hi = 0xfe80_0000_0000_0000L;
        c.ourLl6Lo = 1;
        c.logLevel = jpasst.util.Log.ERROR;
        jpasst.util.Log.level(jpasst.util.Log.ERROR);
        return c;
    }

    /**
     * Writes a TCP segment from the guest (src = guest, dst = gateway) at {@code off}: Ethernet,
     * IPv4 or IPv6, TCP with {@code payload} bytes of a pattern, checksums right. Returns its length.
     */
    static int tcp(MemorySegment s, long off, boolean v6, int sport, int dport, int seq, int ack,
                   int flags, int window, int payload) {
        long ip = off + Eth.LEN;
        int ipLen = v6 ? Ip6.LEN : Ip4.MIN_LEN;
        long l4 = ip + ipLen;
        int l4Len = TcpHdr.MIN_LEN + payload;
        for (int i = 0; i < payload; i++) Net.u8(s, l4 + TcpHdr.MIN_LEN + i, i * 31 + 7);
        TcpHdr.write(s, l4, sport, dport, seq, ack, TcpHdr.MIN_LEN, flags, window);
        long pseudo;
        if (v6) {
            Eth.write(s, off, Conf.MAC_DEFAULT, GUEST_MAC, Eth.TYPE_IPV6);
            Ip6.write(s, ip, l4Len, 6, 64, ADDR6_HI, ADDR6_LO, GW6_HI, GW6_LO);
            pseudo = Checksum.pseudo6(ADDR6_HI, ADDR6_LO, GW6_HI, GW6_LO, 6, l4Len);
        } else {
            Eth.write(s, off, Conf.MAC_DEFAULT, GUEST_MAC, Eth.TYPE_IPV4);
            Ip4.write(s, ip, ipLen + l4Len, 1, 64, 6, ADDR4, GW4);
            pseudo = Checksum.pseudo4(ADDR4, GW4, 6, l4Len);
        }
        TcpHdr.checksum(s, l4, l4Len, pseudo);
        return Eth.LEN + ipLen + l4Len;
    }

    /** A UDP datagram from the guest to the gateway over IPv4. Returns the frame length. */
    static int udp4(MemorySegment s, long off, int sport, int dport, int payload) {
        long ip = off + Eth.LEN;
        long l4 = ip + Ip4.MIN_LEN;
        int udpLen = UdpHdr.LEN + payload;
        for (int i = 0; i < payload; i++) Net.u8(s, l4 + UdpHdr.LEN + i, i);
        Eth.write(s, off, Conf.MAC_DEFAULT, GUEST_MAC, Eth.TYPE_IPV4);
        Ip4.write(s, ip, Ip4.MIN_LEN + udpLen, 1, 64, 17, ADDR4, GW4);
        UdpHdr.write(s, l4, sport, dport, udpLen);
        UdpHdr.checksum4(s, l4, udpLen, ADDR4, GW4);
        return Eth.LEN + Ip4.MIN_LEN + udpLen;
    }

    /**
     * A DHCPDISCOVER (broadcast, from 0.0.0.0) asking for mask, router, DNS, domain, MTU and
     * search list, as busybox udhcpc sends it. Returns the frame length.
     */
    static int dhcpDiscover(MemorySegment s, long off) {
        long ip = off + Eth.LEN;
        long udp = ip + Ip4.MIN_LEN;
        long m = udp + UdpHdr.LEN;
        int mlen = 300;
        long p = bootRequest(s, m, mlen, 0x1234_5678, GUEST_MAC);
        Net.u16(s, m + 10, 0x8000);  // broadcast flag
        byte[] opts = {53, 1, 1, 55, 7, 1, 3, 6, 15, 26, 28, 119, 57, 2, 0x05, (byte) 0xdc, (byte) 255};
        for (byte b : opts) Net.u8(s, p++, b);
        Eth.write(s, off, Eth.BROADCAST, GUEST_MAC, Eth.TYPE_IPV4);
        Ip4.write(s, ip, Ip4.MIN_LEN + UdpHdr.LEN + mlen, 1, 64, 17, 0, Ip4.BROADCAST);
        UdpHdr.write(s, udp, 68, 67, UdpHdr.LEN + mlen);
        UdpHdr.checksum4(s, udp, UdpHdr.LEN + mlen, 0, Ip4.BROADCAST);
        return Eth.LEN + Ip4.MIN_LEN + UdpHdr.LEN + mlen;
    }

    /**
     * The fixed part of a DHCP client's message at {@code m}: {@code len} bytes zeroed, then
     * BOOTREQUEST over Ethernet, transaction {@code xid}, the client's hardware address and the
     * magic cookie. Returns where the options begin.
     */
    static long bootRequest(MemorySegment s, long m, int len, int xid, long chaddr) {
        Net.zero(s, m, len);
        Net.u8(s, m, 1);           // BOOTREQUEST
        Net.u8(s, m + 1, 1);       // Ethernet
        Net.u8(s, m + 2, 6);
        Net.i32(s, m + 4, xid);
        Net.mac(s, m + 28, chaddr);
        Net.i32(s, m + 236, 0x63825363);
        return m + 240;
    }

    static long lo4(int a) {
        return Inany.lo4(a);
    }
}
