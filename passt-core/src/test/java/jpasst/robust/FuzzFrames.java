package jpasst.robust;

import static jpasst.guest.Frames.GUEST_MAC;
import static jpasst.guest.Frames.OUR_MAC;

import java.util.ArrayList;
import java.util.List;

import jpasst.conf.Conf;
import jpasst.guest.Frames;
import jpasst.testutil.InProcessPasst;
import jpasst.guest.V6Frames;

/**
 * Valid frames of every protocol the daemon understands, as a guest would send them: the fuzzer's
 * seeds, built with the guest side's {@link Frames} and {@link V6Frames}, and a few variants
 * (IPv4 options, a fragment, an IPv6 extension header). Addresses are those of
 * {@link InProcessPasst} (guest 192.0.2.2/24, gateway 192.0.2.1) and, for IPv6, documentation
 * addresses set up by {@link #v6}.
 */
final class FuzzFrames {
    private FuzzFrames() {}

    static final int ADDR4 = InProcessPasst.ADDR, GW4 = InProcessPasst.GW;
    static final byte[] ADDR6 = InProcessPasst.ADDR6, GW6 = InProcessPasst.GW6,
            OUR_LL = InProcessPasst.OUR_LL6, GUEST_LL = V6Frames.a6("fe80::5054:ff:fe12:3456"),
            OUTSIDE6 = V6Frames.a6("2001:db8:99::1");
    static final int OUTSIDE4 = Frames.ip("203.0.113.9");

    /** IPv6 on with documentation addresses, as HostNet would set it up, and one DNS server. */
    static void v6(Conf.Builder c) {
        InProcessPasst.ipv6(c);
        byte[] d1 = V6Frames.a6("2001:db8:53::1");
        c.dns6 = new long[] {Frames.hi(d1), Frames.lo(d1)};
    }

    // ---- seeds ----

    /**
     * One valid frame of each kind. {@code tcp4}/{@code tcp6} and {@code udp4}/{@code udp6} are
     * ports where the test listens on the host's loopback (the gateway stands for it).
     */
    static List<byte[]> seeds(int tcp4, int tcp6, int udp4, int udp6) {
        List<byte[]> s = new ArrayList<>();
        byte[] hello = "hello, host".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] big = new byte[1400];
        new java.util.Random(7).nextBytes(big);
        // ARP
        s.add(Frames.arpRequest(GUEST_MAC, ADDR4, GW4));
        s.add(Frames.arpRequest(GUEST_MAC, ADDR4, Frames.ip("192.0.2.77")));
        s.add(Frames.arpRequest(GUEST_MAC, ADDR4, ADDR4)); // gratuitous
        // DHCP
        s.add(Frames.dhcpFrame(Frames.dhcp(0x1234, GUEST_MAC, 0, false, Frames.opt(53, 1),
                Frames.opt(55, 1, 3, 6, 15, 26, 28, 42, 119, 121), Frames.opt(57, 0x05, 0xdc),
                Frames.opt(61, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56), Frames.opt(12, 'g', 'u', 'e', 's', 't'))));
        s.add(Frames.dhcpFrame(Frames.dhcp(0x1235, GUEST_MAC, 0, true, Frames.opt(53, 3),
                Frames.opt(50, 192, 0, 2, 2), Frames.opt(54, 192, 0, 2, 1), Frames.opt(55, 1, 3, 6))));
        s.add(Frames.dhcpFrame(Frames.dhcp(0x1236, GUEST_MAC, ADDR4, false, Frames.opt(53, 8))));
        s.add(Frames.dhcpFrame(Frames.dhcp(0x1237, GUEST_MAC, ADDR4, false, Frames.opt(53, 7))));
        // TCP over IPv4: handshake, data, Frames.FIN, Frames.RST, to the host and to the outside
        s.add(Frames.tcp4(ADDR4, GW4, 40000, tcp4, 1000, 0, Frames.SYN, 64240, Frames.linuxSynOptions(1460, 7), new byte[0]));
        s.add(Frames.tcp4(ADDR4, GW4, 40001, tcp4, 1000, 0, Frames.SYN, 65535, new byte[0], new byte[0]));
        s.add(Frames.tcp4(ADDR4, OUTSIDE4, 40002, 80, 1000, 0, Frames.SYN, 64240, Frames.linuxSynOptions(1460, 7), new byte[0]));
        s.add(Frames.tcp4(ADDR4, GW4, 40000, tcp4, 1001, 1, Frames.ACK, 502, new byte[0], new byte[0]));
        s.add(Frames.tcp4(ADDR4, GW4, 40000, tcp4, 1001, 1, Frames.ACK | Frames.PSH, 502, new byte[0], hello));
        s.add(Frames.tcp4(ADDR4, GW4, 40000, tcp4, 1001, 1, Frames.ACK | Frames.PSH, 502, new byte[0], big));
        s.add(Frames.tcp4(ADDR4, GW4, 40000, tcp4, 1012, 1, Frames.ACK | Frames.FIN, 502, new byte[0], new byte[0]));
        s.add(Frames.tcp4(ADDR4, GW4, 40000, tcp4, 1012, 0, Frames.RST, 0, new byte[0], new byte[0]));
        // UDP over IPv4: to the host, its resolver port, the outside, broadcast; empty payload
        s.add(Frames.frame4(Frames.udp4(ADDR4, 40000, GW4, udp4, hello)));
        s.add(Frames.frame4(Frames.udp4(ADDR4, 40001, GW4, 53, V6Frames.bytes(0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1))));
        s.add(Frames.frame4(Frames.udp4(ADDR4, 40002, OUTSIDE4, 9, hello)));
        s.add(Frames.frame4(Frames.udp4(ADDR4, 40003, 0xffffffff, 9, hello)));
        s.add(Frames.frame4(Frames.udp4(ADDR4, 40004, GW4, udp4, new byte[0])));
        s.add(Frames.frame4(Frames.udp4(ADDR4, 40005, GW4, udp4, big)));
        // ICMP echo
        s.add(Frames.frame4(Frames.icmp4Echo(ADDR4, GW4, 0x4242, 1, hello)));
        s.add(Frames.frame4(Frames.icmp4Echo(ADDR4, OUTSIDE4, 0x4243, 1, new byte[0])));
        // IPv4 with options (IHL 6: router alert) and a fragment
        s.add(withIp4Options(Frames.frame4(Frames.udp4(ADDR4, 40006, GW4, udp4, hello))));
        s.add(fragment4(Frames.frame4(Frames.udp4(ADDR4, 40007, GW4, udp4, hello))));
        // IPv6 control plane
        s.add(V6Frames.ns(GUEST_LL, GW6, V6Frames.llOption(1, GUEST_MAC)));
        s.add(V6Frames.ns(GUEST_LL, OUR_LL, V6Frames.llOption(1, GUEST_MAC)));
        s.add(V6Frames.ns(V6Frames.a6("::"), ADDR6)); // duplicate address detection
        s.add(V6Frames.rs(GUEST_LL, V6Frames.llOption(1, GUEST_MAC)));
        s.add(V6Frames.frame(OUR_MAC, V6Frames.ip6(58, 255, GUEST_LL, OUR_LL, V6Frames.icmp6(136, 0,
                V6Frames.cat(V6Frames.bytes(0x60, 0, 0, 0), ADDR6, V6Frames.llOption(2, GUEST_MAC)), GUEST_LL, OUR_LL))));
        byte[] clientId = V6Frames.dhcpOpt(1, V6Frames.duidLl(GUEST_MAC));
        byte[] oro = V6Frames.dhcpOpt(6, V6Frames.bytes(0, 23, 0, 24));
        s.add(V6Frames.dhcpFrame(GUEST_LL, V6Frames.ALL_DHCP, V6Frames.dhcpMessage(1, 0xabc, clientId,
                V6Frames.iaNa(1), oro, V6Frames.dhcpOpt(8, V6Frames.bytes(0, 0)))));
        s.add(V6Frames.dhcpFrame(GUEST_LL, V6Frames.ALL_DHCP, V6Frames.dhcpMessage(3, 0xabd, clientId,
                V6Frames.dhcpOpt(2, V6Frames.duidLl(OUR_MAC)), V6Frames.iaNa(1, ADDR6), oro)));
        s.add(V6Frames.dhcpFrame(GUEST_LL, V6Frames.ALL_DHCP, V6Frames.dhcpMessage(11, 0xabe, clientId, oro)));
        s.add(V6Frames.dhcpFrame(GUEST_LL, V6Frames.ALL_DHCP, V6Frames.dhcpMessage(4, 0xabf, clientId,
                V6Frames.iaNa(1, ADDR6))));
        // IPv6 flows
        s.add(Frames.frame6(Frames.icmp6Echo(ADDR6, GW6, 0x4244, 1, hello)));
        s.add(Frames.frame6(Frames.udp6(ADDR6, 40010, GW6, udp6, hello)));
        s.add(Frames.frame6(Frames.udp6(ADDR6, 40011, OUTSIDE6, 9, hello)));
        s.add(Frames.tcp6(ADDR6, GW6, 40012, tcp6, 5000, 0, Frames.SYN, 64800, Frames.linuxSynOptions(1440, 7), new byte[0]));
        s.add(Frames.tcp6(ADDR6, GW6, 40012, tcp6, 5001, 1, Frames.ACK | Frames.PSH, 507, new byte[0], hello));
        s.add(Frames.tcp6(ADDR6, OUTSIDE6, 40013, 443, 5000, 0, Frames.SYN, 64800, Frames.linuxSynOptions(1440, 7), new byte[0]));
        s.add(hopByHop(Frames.frame6(Frames.udp6(ADDR6, 40014, GW6, udp6, hello))));
        // neither IPv4 nor IPv6 nor ARP: a VLAN tag, LLDP
        s.add(Frames.eth(OUR_MAC, GUEST_MAC, 0x8100, V6Frames.cat(V6Frames.bytes(0, 5, 0x08, 0x00),
                Frames.udp4(ADDR4, 40015, GW4, udp4, hello))));
        s.add(Frames.eth(0x0180_c200_000eL, GUEST_MAC, 0x88cc, new byte[46]));
        return s;
    }

    /** The same IPv4 frame with a 4-byte router alert option (IHL 6); checksums fixed. */
    static byte[] withIp4Options(byte[] f) {
        int ihl = (f[14] & 0xf) * 4;
        byte[] g = new byte[f.length + 4];
        System.arraycopy(f, 0, g, 0, 14 + ihl);
        g[14 + ihl] = (byte) 0x94;
        g[15 + ihl] = 4;
        System.arraycopy(f, 14 + ihl, g, 18 + ihl, f.length - 14 - ihl);
        g[14] = (byte) (0x40 | (ihl + 4) / 4);
        int total = Frames.u16(f, 16) + 4;
        g[16] = (byte) (total >>> 8);
        g[17] = (byte) total;
        Mutator.fixChecksums(g);
        return g;
    }

    /** The same IPv4 frame marked as the first fragment of several (MF set); checksums fixed. */
    static byte[] fragment4(byte[] f) {
        byte[] g = f.clone();
        g[20] = 0x20; // MF, offset 0
        g[21] = 0;
        Mutator.fixChecksums(g);
        return g;
    }

    /** The same IPv6 frame with an empty hop-by-hop options header in front of its payload. */
    static byte[] hopByHop(byte[] f) {
        byte[] g = new byte[f.length + 8];
        System.arraycopy(f, 0, g, 0, 54);
        g[54] = f[20];               // next header: what the fixed header had
        g[55] = 0;                   // 8 bytes
        g[56] = 1;                   // PadN, 4 bytes of padding
        g[57] = 4;
        System.arraycopy(f, 54, g, 62, f.length - 54);
        g[20] = 0;                   // hop-by-hop
        int plen = Frames.u16(f, 18) + 8;
        g[18] = (byte) (plen >>> 8);
        g[19] = (byte) plen;
        Mutator.fixChecksums(g);
        return g;
    }
}
