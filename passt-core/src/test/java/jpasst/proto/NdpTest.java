package jpasst.proto;

import static jpasst.proto.Ipv6Net.ADDR6;
import static jpasst.proto.Ipv6Net.ALL_NODES;
import static jpasst.proto.Ipv6Net.DNS6_1;
import static jpasst.proto.Ipv6Net.DNS6_2;
import static jpasst.proto.Ipv6Net.GUEST_LL;
import static jpasst.proto.Ipv6Net.GW6;
import static jpasst.proto.Ipv6Net.OUR_LL;
import static jpasst.proto.Ipv6Net.UNSPECIFIED;
import static jpasst.guest.Frames.GUEST_MAC;
import static jpasst.guest.Frames.i32;
import static jpasst.guest.Frames.mac;
import static jpasst.guest.Frames.u16;
import static jpasst.guest.Frames.u8;
import static jpasst.guest.V6Frames.ALL_NODES_MAC;
import static jpasst.guest.V6Frames.IP6;
import static jpasst.guest.V6Frames.L4;
import static jpasst.guest.V6Frames.OUR_MAC;
import static jpasst.guest.V6Frames.a6;
import static jpasst.guest.V6Frames.bytes;
import static jpasst.guest.V6Frames.cat;
import static jpasst.guest.V6Frames.icmp6Type;
import static jpasst.guest.V6Frames.l4ChecksumOk;
import static jpasst.guest.V6Frames.llOption;
import static jpasst.guest.V6Frames.ns;
import static jpasst.guest.V6Frames.rs;
import static jpasst.guest.V6Frames.slice;
import static jpasst.guest.V6Frames.solicitedNode;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import jpasst.packet.IcmpHdr;
import jpasst.guest.Frames;
import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;
import jpasst.guest.V6Frames;

/** Neighbor Discovery as passt answers it, checked field by field on the wire. */
class NdpTest {
    static final int NA = 136, RA = 134;

    private static byte[] answer(InProcessPasst p, byte[] frame, int type) throws Exception {
        try (GuestLink g = p.connect()) {
            g.send(frame);
            return g.receive(1000, icmp6Type(type));
        }
    }

    /** IPv6 header of an NDP message from us: our link-local, hop limit 255, ICMPv6, valid checksum. */
    private static void assertFromUs(byte[] r, long dstMac, byte[] dst, int icmpLen) {
        assertEquals(dstMac, mac(r, 0), "Ethernet destination");
        assertEquals(OUR_MAC, mac(r, 6), "Ethernet source: our MAC");
        assertEquals(0x86dd, u16(r, 12));
        assertEquals(0x6000_0000, i32(r, IP6), "version 6, traffic class and flow label 0");
        assertEquals(icmpLen, u16(r, IP6 + 4), "payload length");
        assertEquals(58, u8(r, IP6 + 6), "next header ICMPv6");
        assertEquals(255, u8(r, IP6 + 7), "hop limit 255 (RFC 4861)");
        assertArrayEquals(OUR_LL, slice(r, IP6 + 8, 16), "source: our link-local address");
        assertArrayEquals(dst, slice(r, IP6 + 24, 16), "destination");
        assertEquals(L4 + icmpLen, r.length);
        assertTrue(l4ChecksumOk(r), "ICMPv6 checksum");
        assertEquals(0, u8(r, L4 + 1), "code 0");
    }

    @Test
    void neighborSolicitationForOurLinkLocalGetsAdvertisementWithOurMac() throws Exception {
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] r = answer(p, ns(GUEST_LL, OUR_LL, llOption(1, GUEST_MAC)), NA);
            assertNotNull(r, "no NA");
            assertFromUs(r, GUEST_MAC, GUEST_LL, 32);
            assertEquals(NA, u8(r, L4));
            assertEquals(0xe000_0000, i32(r, L4 + 4), "flags: Router, Solicited, Override");
            assertArrayEquals(OUR_LL, slice(r, L4 + 8, 16), "target: the address asked for");
            assertArrayEquals(bytes(2, 1), slice(r, L4 + 24, 2), "target link-layer address option");
            assertEquals(OUR_MAC, mac(r, L4 + 26));
        }
    }

    @Test
    void neighborSolicitationForAnyOtherAddressIsAnsweredToo() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(); GuestLink g = p.connect()) {
            for (String target : new String[] {"2001:db8:1::1", "2001:db8:1::77", "fe80::42", "2001:db8:ffff::9"}) {
                g.send(ns(GUEST_LL, a6(target)));
                byte[] r = g.receive(1000, icmp6Type(NA));
                assertNotNull(r, "no NA for " + target);
                assertArrayEquals(a6(target), slice(r, L4 + 8, 16));
                assertEquals(OUR_MAC, mac(r, L4 + 26));
            }
        }
    }

    @Test
    void neighborSolicitationFromGlobalAddressIsAnsweredThere() throws Exception {
        byte[] slaac = a6("2001:db8:1::5054:ff:fe12:3456");
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] r = answer(p, ns(255, slaac, GW6, GW6), NA);
            assertNotNull(r);
            assertFromUs(r, GUEST_MAC, slaac, 32);
        }
    }

    @Test
    void guestsOwnAddressAndDuplicateAddressDetectionGetNoAnswer() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(); GuestLink g = p.connect()) {
            g.send(ns(GUEST_LL, ADDR6));                       // the address DHCPv6 hands out
            g.send(ns(255, UNSPECIFIED, solicitedNode(GUEST_LL), GUEST_LL)); // DAD for its link-local
            g.send(ns(255, UNSPECIFIED, solicitedNode(OUR_LL), OUR_LL));     // DAD, even for ours
            assertNull(p.answered(g, icmp6Type(NA)), "the guest's addresses are its own");
            g.send(ns(GUEST_LL, GW6));
            assertNotNull(g.receive(1000, icmp6Type(NA)), "still answering others");
        }
    }

    @Test
    void routerSolicitationGetsAdvertisementWithEveryOption() throws Exception {
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] r = answer(p, rs(GUEST_LL, llOption(1, GUEST_MAC)), RA);
            assertNotNull(r, "no RA");
            int len = 16 + 32 + 8 + 8 + (8 + 32) + 40;
            assertFromUs(r, GUEST_MAC, GUEST_LL, len);
            int ra = L4;
            assertEquals(RA, u8(r, ra));
            assertEquals(255, u8(r, ra + 4), "current hop limit, as passt");
            assertEquals(0x80, u8(r, ra + 5), "flags: Managed (DHCPv6), not Other");
            assertEquals(65535, u16(r, ra + 6), "router lifetime (RFC 8319)");
            assertEquals(0, i32(r, ra + 8), "reachable time unspecified");
            assertEquals(0, i32(r, ra + 12), "retransmission timer unspecified");
            int o = ra + 16;
            assertArrayEquals(bytes(3, 4, 64, 0xc0), slice(r, o, 4), "prefix information: /64, L and A");
            assertEquals(-1, i32(r, o + 4), "valid lifetime infinite");
            assertEquals(-1, i32(r, o + 8), "preferred lifetime infinite");
            assertEquals(0, i32(r, o + 12), "reserved");
            assertArrayEquals(a6("2001:db8:1::"), slice(r, o + 16, 16), "the host's /64 prefix");
            o += 32;
            assertArrayEquals(bytes(1, 1), slice(r, o, 2), "source link-layer address");
            assertEquals(OUR_MAC, mac(r, o + 2));
            o += 8;
            assertArrayEquals(bytes(5, 1, 0, 0, 0, 0, 0xff, 0xf0), slice(r, o, 8), "MTU 65520");
            o += 8;
            assertArrayEquals(bytes(25, 5, 0, 0, 0xff, 0xff, 0xff, 0xff), slice(r, o, 8), "RDNSS, infinite");
            assertArrayEquals(cat(DNS6_1, DNS6_2), slice(r, o + 8, 32), "the host's resolvers");
            o += 40;
            assertArrayEquals(bytes(31, 5, 0, 0, 0xff, 0xff, 0xff, 0xff), slice(r, o, 8), "DNSSL, infinite");
            assertArrayEquals(bytes(7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0,
                    3, 'l', 'a', 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 0),
                    slice(r, o + 8, 32), "search list, uncompressed (RFC 8106), zero padded");
        }
    }

    @Test
    void advertisementLeavesOutWhatIsDisabledOrMissing() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(c -> {
            c.mtu = 0;
            c.noDhcpDns = true;
            c.noDhcpSearch = true;
        })) {
            byte[] r = answer(p, rs(GUEST_LL), RA);
            assertNotNull(r);
            assertFromUs(r, GUEST_MAC, GUEST_LL, 16 + 32 + 8);
            assertEquals(1, u8(r, L4 + 48), "only prefix and source link-layer address");
        }
        try (InProcessPasst p = Ipv6Net.start(c -> c.dns6 = new long[0])) {
            byte[] r = answer(p, rs(GUEST_LL), RA);
            assertNotNull(r);
            assertFromUs(r, GUEST_MAC, GUEST_LL, 16 + 32 + 8 + 8 + 40);
            assertEquals(31, u8(r, L4 + 64), "DNSSL without RDNSS");
        }
    }

    @Test
    void inLocalModeTheAdvertisementHasNoPrefixAndNoManagedFlag() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(c -> {
            c.addr6Hi = c.addr6Lo = 0; // no IPv6 address on the host: passt's local mode
            c.noDhcpv6 = true;
            c.mtu = 0;
            c.noDhcpDns = true;
            c.noDhcpSearch = true;
        })) {
            byte[] r = answer(p, rs(GUEST_LL), RA);
            assertNotNull(r, "no RA");
            assertFromUs(r, GUEST_MAC, GUEST_LL, 16 + 8);
            assertEquals(0, u8(r, L4 + 5), "flags: no DHCPv6 to ask");
            assertEquals(65535, u16(r, L4 + 6), "still our guest's router");
            assertEquals(1, u8(r, L4 + 16), "the source link-layer address, no prefix information");
        }
    }

    @Test
    void routerSolicitationFromUnspecifiedAddressIsAnsweredToAllNodes() throws Exception {
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] r = answer(p, rs(UNSPECIFIED), RA);
            assertNotNull(r);
            assertFromUs(r, ALL_NODES_MAC, ALL_NODES, r.length - L4);
        }
    }

    @Test
    void unsolicitedAdvertisementsGoToAllNodesOnceTheGuestIsKnown() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(); GuestLink g = p.connect()) {
            p.onLoop(() -> p.passt.ndp.intervals(100_000_000L, 200_000_000L));
            assertNull(g.receive(600, icmp6Type(RA)), "nothing before the guest shows its MAC");
            g.send(ns(GUEST_LL, GW6)); // any frame tells us the guest's MAC
            for (int i = 0; i < 2; i++) {
                byte[] r = g.receive(3000, icmp6Type(RA));
                assertNotNull(r, "unsolicited RA " + i);
                assertFromUs(r, ALL_NODES_MAC, ALL_NODES, r.length - L4);
                assertEquals(65535, u16(r, L4 + 6));
            }
            assertTrue(p.query(() -> p.passt.ndp.unsolicitedRouterAdvertisements()) >= 2);
        }
    }

    @Test
    void noRaAnswersNeighborsButNeverAdvertisesARouter() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(c -> c.noRa = true); GuestLink g = p.connect()) {
            p.onLoop(() -> p.passt.ndp.intervals(50_000_000L, 100_000_000L));
            g.send(rs(GUEST_LL));
            g.send(ns(GUEST_LL, OUR_LL));
            assertNotNull(g.receive(1000, icmp6Type(NA)));
            assertNull(g.receive(700, icmp6Type(RA)), "no RA, solicited or not");
        }
    }

    @Test
    void noNdpAnswersNoNeighborDiscoveryAtAll() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(c -> c.noNdp = true); GuestLink g = p.connect()) {
            p.onLoop(() -> p.passt.ndp.intervals(50_000_000L, 100_000_000L));
            g.send(rs(GUEST_LL));
            g.send(ns(GUEST_LL, OUR_LL));
            assertNull(p.answered(g, icmp6Type(NA)));
            assertNull(g.receive(300, icmp6Type(RA)));
        }
    }

    @Test
    void ipv4OnlyLeavesIpv6Unanswered() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(c -> c.v6 = false); GuestLink g = p.connect()) {
            g.send(rs(GUEST_LL));
            g.send(ns(GUEST_LL, OUR_LL));
            assertNull(p.answered(g), "nothing at all");
            g.send(Frames.arpRequest(GUEST_MAC, InProcessPasst.ADDR, InProcessPasst.GW));
            assertNotNull(g.receive(1000), "IPv4 still answered");
        }
    }

    @Test
    void malformedNeighborDiscoveryIsDroppedAndTheDaemonKeepsAnswering() throws Exception {
        byte[] dst = solicitedNode(OUR_LL);
        byte[] nsBody = cat(new byte[4], OUR_LL);
        byte[][] bad = {
            ns(64, GUEST_LL, dst, OUR_LL),                                    // hop limit not 255
            ns(254, GUEST_LL, dst, OUR_LL),
            corruptChecksum(ns(GUEST_LL, OUR_LL)),                            // bad checksum
            icmpFrame(135, 0, cat(new byte[4], slice(OUR_LL, 0, 12)), dst),   // short NS
            icmpFrame(135, 1, nsBody, dst),                                   // code not 0
            icmpFrame(135, 0, cat(nsBody, bytes(1, 0, 0, 0, 0, 0, 0, 0)), dst), // option length 0
            icmpFrame(135, 0, cat(nsBody, bytes(1, 2, 0, 0, 0, 0, 0, 0)), dst), // option past the end
            icmpFrame(135, 0, cat(nsBody, bytes(1)), dst),                    // half an option header
            icmpFrame(135, 0, cat(new byte[4], a6("ff02::1")), dst),          // multicast target
            icmpFrame(133, 0, bytes(0, 0), a6("ff02::2")),                    // short RS
            icmpFrame(133, 0, cat(new byte[4], bytes(1, 0)), a6("ff02::2")),  // RS option length 0
            V6Frames.frame(ALL_NODES_MAC, V6Frames.ip6(58, 255, UNSPECIFIED, a6("ff02::2"),
                    V6Frames.icmp6(133, 0, cat(new byte[4], llOption(1, GUEST_MAC)), UNSPECIFIED, a6("ff02::2")))),
            V6Frames.frame(ALL_NODES_MAC, V6Frames.ip6(58, 255, GUEST_LL, dst, bytes(135, 0))), // 2-byte ICMPv6
            V6Frames.frame(ALL_NODES_MAC, slice(V6Frames.ip6(58, 255, GUEST_LL, dst, nsBody), 0, 30)), // short IPv6
            lyingPayloadLength(ns(GUEST_LL, OUR_LL)),
        };
        try (InProcessPasst p = Ipv6Net.start(); GuestLink g = p.connect()) {
            for (byte[] f : bad) g.send(f);
            assertNull(p.answered(g), "no answer to any malformed message");
            g.send(ns(GUEST_LL, OUR_LL));
            assertNotNull(g.receive(1000, icmp6Type(NA)), "the daemon still answers");
            assertEquals(0, p.query(() -> p.passt.loop.failures()));
        }
    }

    private static byte[] icmpFrame(int type, int code, byte[] body, byte[] dst) {
        return V6Frames.frame(ALL_NODES_MAC, V6Frames.ip6(58, 255, GUEST_LL, dst,
                V6Frames.icmp6(type, code, body, GUEST_LL, dst)));
    }

    private static byte[] corruptChecksum(byte[] f) {
        f[L4 + 2] ^= 0x01;
        return f;
    }

    private static byte[] lyingPayloadLength(byte[] f) {
        f[IP6 + 4] = 0x7f;
        return f;
    }

    /** ICMPv6's checksum covers the pseudo-header: jpasst's sum equals an independent byte loop. */
    @Test
    void icmpv6ChecksumCoversThePseudoHeader() {
        byte[] body = cat(new byte[4], OUR_LL, llOption(1, GUEST_MAC));
        byte[] expected = V6Frames.icmp6(135, 0, body, GUEST_LL, solicitedNode(OUR_LL));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(expected.length + 3);
            MemorySegment.copy(expected, 0, s, ValueLayout.JAVA_BYTE, 3, expected.length);
            s.set(ValueLayout.JAVA_BYTE, 5, (byte) 0);
            s.set(ValueLayout.JAVA_BYTE, 6, (byte) 0);
            IcmpHdr.checksum6(s, 3, expected.length, Ipv6Net.hi(GUEST_LL), Ipv6Net.lo(GUEST_LL),
                    Ipv6Net.hi(solicitedNode(OUR_LL)), Ipv6Net.lo(solicitedNode(OUR_LL)));
            assertEquals(u16(expected, 2), Short.toUnsignedInt(s.get(jpasst.packet.Net.SHORT, 5)));
            assertTrue(IcmpHdr.checksumOk6(s, 3, expected.length, Ipv6Net.hi(GUEST_LL), Ipv6Net.lo(GUEST_LL),
                    Ipv6Net.hi(solicitedNode(OUR_LL)), Ipv6Net.lo(solicitedNode(OUR_LL))));
            assertTrue(!IcmpHdr.checksumOk6(s, 3, expected.length, Ipv6Net.hi(GUEST_LL), Ipv6Net.lo(GUEST_LL) ^ 1,
                    Ipv6Net.hi(solicitedNode(OUR_LL)), Ipv6Net.lo(solicitedNode(OUR_LL))), "a different source");
        }
    }
}
