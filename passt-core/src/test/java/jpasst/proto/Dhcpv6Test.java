package jpasst.proto;

import static jpasst.proto.Ipv6Net.ADDR6;
import static jpasst.proto.Ipv6Net.DNS6_1;
import static jpasst.proto.Ipv6Net.DNS6_2;
import static jpasst.proto.Ipv6Net.GUEST_LL;
import static jpasst.proto.Ipv6Net.OUR_LL;
import static jpasst.guest.Frames.GUEST_MAC;
import static jpasst.guest.Frames.i32;
import static jpasst.guest.Frames.mac;
import static jpasst.guest.Frames.u16;
import static jpasst.guest.Frames.u8;
import static jpasst.guest.V6Frames.ALL_DHCP;
import static jpasst.guest.V6Frames.IP6;
import static jpasst.guest.V6Frames.L4;
import static jpasst.guest.V6Frames.OUR_MAC;
import static jpasst.guest.V6Frames.a6;
import static jpasst.guest.V6Frames.bytes;
import static jpasst.guest.V6Frames.cat;
import static jpasst.guest.V6Frames.dhcpFrame;
import static jpasst.guest.V6Frames.dhcpMessage;
import static jpasst.guest.V6Frames.dhcpOpt;
import static jpasst.guest.V6Frames.dhcpOptions;
import static jpasst.guest.V6Frames.dhcpv6Reply;
import static jpasst.guest.V6Frames.duidLl;
import static jpasst.guest.V6Frames.iaNa;
import static jpasst.guest.V6Frames.l4ChecksumOk;
import static jpasst.guest.V6Frames.slice;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;

import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;
import jpasst.guest.V6Frames;
import jpasst.guest.V6Frames.Opt;

/** The DHCPv6 server, checked on the wire: headers, every message type and every option. */
class Dhcpv6Test {
    static final int XID = 0xabcdef, IAID = 0x0badcafe;
    static final int UDP = L4, MSG = UDP + 8;
    static final byte[] CLIENT_ID = dhcpOpt(1, duidLl(GUEST_MAC));
    static final byte[] NOT_ON_LINK = "Prefix not appropriate for link.".getBytes(StandardCharsets.US_ASCII);

    private static byte[] exchange(InProcessPasst p, byte[] message) throws Exception {
        try (GuestLink g = p.connect()) {
            g.send(dhcpFrame(GUEST_LL, ALL_DHCP, message));
            return g.receive(1000, dhcpv6Reply());
        }
    }

    private static List<Opt> options(byte[] r) {
        return dhcpOptions(r, MSG + 4, r.length);
    }

    private static Map<Integer, Opt> byCode(byte[] r) {
        return options(r).stream().collect(Collectors.toMap(Opt::code, Function.identity(), (a, b) -> a));
    }

    private static List<Integer> codes(byte[] r) {
        return options(r).stream().map(Opt::code).toList();
    }

    /** Ethernet, IPv6 and UDP of a reply, and the message type and transaction id. */
    private static void assertReply(byte[] r, int type) {
        assertNotNull(r, "no answer");
        assertEquals(GUEST_MAC, mac(r, 0), "to the client's MAC");
        assertEquals(OUR_MAC, mac(r, 6));
        assertEquals(0x86dd, u16(r, 12));
        assertEquals(17, u8(r, IP6 + 6), "UDP");
        assertArrayEquals(OUR_LL, slice(r, IP6 + 8, 16), "from our link-local address");
        assertArrayEquals(GUEST_LL, slice(r, IP6 + 24, 16), "to the client's address");
        assertEquals(r.length - L4, u16(r, IP6 + 4), "payload length");
        assertEquals(547, u16(r, UDP));
        assertEquals(546, u16(r, UDP + 2));
        assertEquals(r.length - UDP, u16(r, UDP + 4), "UDP length");
        assertTrue(l4ChecksumOk(r), "UDP checksum");
        assertEquals(type, u8(r, MSG), "message type");
        assertEquals(XID, i32(r, MSG) & 0xffffff, "transaction id echoed");
    }

    private static void assertServerId(byte[] r, Opt o) {
        assertEquals(14, o.len(), "DUID-LLT of a MAC");
        assertEquals(1, u16(r, o.at()), "DUID-LLT");
        assertEquals(1, u16(r, o.at() + 2), "hardware type Ethernet");
        long t = i32(r, o.at() + 4) & 0xffffffffL;
        long now = System.currentTimeMillis() / 1000 - 946_684_800L;
        assertTrue(Math.abs(now - t) < 600, "time since 2000: " + t + " vs " + now);
        assertEquals(OUR_MAC, mac(r, o.at() + 8), "our MAC");
    }

    /** IA_NA with the client's IAID, T1 = T2 = infinity, one IA Address: the host's, forever. */
    private static void assertIaNaWithHostAddress(byte[] r, Opt ia) {
        assertEquals(40, ia.len());
        assertEquals(IAID, i32(r, ia.at()), "IAID echoed");
        assertEquals(-1, i32(r, ia.at() + 4), "T1 infinite");
        assertEquals(-1, i32(r, ia.at() + 8), "T2 infinite");
        List<Opt> inner = dhcpOptions(r, ia.at() + 12, ia.at() + ia.len());
        assertEquals(1, inner.size());
        Opt addr = inner.get(0);
        assertEquals(5, addr.code(), "IA Address");
        assertEquals(24, addr.len());
        assertArrayEquals(ADDR6, slice(r, addr.at(), 16), "the host's address");
        assertEquals(-1, i32(r, addr.at() + 16), "preferred lifetime infinite");
        assertEquals(-1, i32(r, addr.at() + 20), "valid lifetime infinite");
    }

    private static void assertDnsAndSearch(byte[] r, Map<Integer, Opt> o) {
        assertArrayEquals(cat(DNS6_1, DNS6_2), o.get(23).value(r), "DNS servers (23)");
        assertArrayEquals(bytes(7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0,
                3, 'l', 'a', 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0),
                o.get(24).value(r), "domain list (24), uncompressed");
    }

    private static byte[] serverId(InProcessPasst p) throws Exception {
        byte[] adv = exchange(p, dhcpMessage(1, XID, CLIENT_ID, iaNa(IAID)));
        Opt s = byCode(adv).get(2);
        return dhcpOpt(2, s.value(adv));
    }

    @Test
    void solicitGetsAdvertiseWhoseIaNaIsTheHostAddress() throws Exception {
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] r = exchange(p, dhcpMessage(1, XID, CLIENT_ID, iaNa(IAID), dhcpOpt(6, bytes(0, 23, 0, 24))));
            assertReply(r, 2);
            assertEquals(List.of(2, 3, 1, 23, 24), codes(r), "option order as passt's");
            Map<Integer, Opt> o = byCode(r);
            assertServerId(r, o.get(2));
            assertIaNaWithHostAddress(r, o.get(3));
            assertArrayEquals(duidLl(GUEST_MAC), o.get(1).value(r), "client id echoed");
            assertDnsAndSearch(r, o);
        }
    }

    @Test
    void requestRenewAndRebindGetReplyWithTheSameLease() throws Exception {
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] sid = serverId(p);
            byte[][] asks = {
                dhcpMessage(3, XID, CLIENT_ID, sid, iaNa(IAID, ADDR6)),      // Request
                dhcpMessage(3, XID, CLIENT_ID, sid, iaNa(IAID)),             // Request, empty IA
                dhcpMessage(5, XID, CLIENT_ID, sid, iaNa(IAID, ADDR6)),      // Renew
                dhcpMessage(6, XID, CLIENT_ID, iaNa(IAID, ADDR6)),           // Rebind: no server id (RFC 8415 16.7)
            };
            for (byte[] ask : asks) {
                byte[] r = exchange(p, ask);
                assertReply(r, 7);
                assertEquals(List.of(2, 3, 1, 23, 24), codes(r));
                Map<Integer, Opt> o = byCode(r);
                assertArrayEquals(sid, slice(r, o.get(2).at() - 4, 18), "same server id");
                assertIaNaWithHostAddress(r, o.get(3));
                assertDnsAndSearch(r, o);
            }
            assertEquals(ADDR6[15], (byte) (long) p.query(() -> p.passt.guest.addr6SeenLo), "the guest now uses the leased address");
        }
    }

    @Test
    void messagesForAnotherServerOrBreakingTheRulesAreIgnored() throws Exception {
        byte[] otherServer = dhcpOpt(2, cat(bytes(0, 1, 0, 1, 0, 0, 0, 1), bytes(2, 0, 0, 0, 0, 1)));
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] sid = serverId(p);
            byte[][] ignored = {
                dhcpMessage(3, XID, CLIENT_ID, otherServer, iaNa(IAID)),   // Request for another server
                dhcpMessage(3, XID, CLIENT_ID, iaNa(IAID)),                // Request without server id
                dhcpMessage(5, XID, CLIENT_ID, otherServer, iaNa(IAID)),   // Renew for another server
                dhcpMessage(6, XID, CLIENT_ID, sid, iaNa(IAID)),           // Rebind with a server id
                dhcpMessage(1, XID, CLIENT_ID, sid, iaNa(IAID)),           // Solicit with a server id
                dhcpMessage(1, XID, iaNa(IAID)),                           // Solicit without client id
                dhcpMessage(4, XID, CLIENT_ID, sid, iaNa(IAID, ADDR6)),    // Confirm with a server id
                dhcpMessage(4, XID, CLIENT_ID, iaNa(IAID)),                // Confirm without addresses
                dhcpMessage(11, XID, CLIENT_ID, otherServer),              // Information-request elsewhere
                dhcpMessage(11, XID, CLIENT_ID, iaNa(IAID)),               // Information-request with an IA
                dhcpMessage(8, XID, CLIENT_ID, otherServer),               // Release elsewhere
                dhcpMessage(2, XID, CLIENT_ID, sid),                       // an Advertise from the guest
                dhcpMessage(7, XID, CLIENT_ID, sid),                       // a Reply from the guest
                dhcpMessage(12, XID, CLIENT_ID),                           // relay-forward
            };
            try (GuestLink g = p.connect()) {
                for (byte[] m : ignored) g.send(dhcpFrame(GUEST_LL, ALL_DHCP, m));
                assertNull(p.answered(g, dhcpv6Reply()));
            }
        }
    }

    @Test
    void requestForAnotherAddressGetsNotOnLinkInItsIa() throws Exception {
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] sid = serverId(p);
            byte[] r = exchange(p, dhcpMessage(3, XID, CLIENT_ID, sid, iaNa(IAID, a6("2001:db8:99::5"))));
            assertReply(r, 7);
            assertEquals(List.of(2, 3, 1), codes(r));
            Opt ia = byCode(r).get(3);
            assertEquals(IAID, i32(r, ia.at()));
            List<Opt> inner = dhcpOptions(r, ia.at() + 12, ia.at() + ia.len());
            assertEquals(1, inner.size());
            assertEquals(13, inner.get(0).code(), "status code");
            assertEquals(4, u16(r, inner.get(0).at()), "NotOnLink");
            assertArrayEquals(NOT_ON_LINK, slice(r, inner.get(0).at() + 2, inner.get(0).len() - 2));
        }
    }

    @Test
    void confirmGetsSuccessForOurAddressAndNotOnLinkForAnother() throws Exception {
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] r = exchange(p, dhcpMessage(4, XID, CLIENT_ID, iaNa(IAID, ADDR6)));
            assertReply(r, 7);
            assertEquals(List.of(2, 1, 13), codes(r));
            Opt status = byCode(r).get(13);
            assertEquals(0, u16(r, status.at()), "Success");
            r = exchange(p, dhcpMessage(4, XID, CLIENT_ID, iaNa(IAID, a6("2001:db8:99::5"))));
            assertReply(r, 7);
            assertEquals(List.of(2, 1, 13), codes(r), "message-level status (RFC 8415 18.3.3)");
            status = byCode(r).get(13);
            assertEquals(4, u16(r, status.at()), "NotOnLink");
            assertArrayEquals(NOT_ON_LINK, slice(r, status.at() + 2, status.len() - 2));
        }
    }

    @Test
    void informationRequestGetsResolversAndSearchListButNoAddress() throws Exception {
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] r = exchange(p, dhcpMessage(11, XID, CLIENT_ID, dhcpOpt(6, bytes(0, 23, 0, 24))));
            assertReply(r, 7);
            assertEquals(List.of(2, 1, 23, 24), codes(r));
            Map<Integer, Opt> o = byCode(r);
            assertServerId(r, o.get(2));
            assertDnsAndSearch(r, o);
            r = exchange(p, dhcpMessage(11, XID));
            assertReply(r, 7);
            assertEquals(List.of(2, 23, 24), codes(r), "no client id needed (RFC 8415 16.12)");
        }
    }

    @Test
    void releaseAndDeclineGetSuccess() throws Exception {
        try (InProcessPasst p = Ipv6Net.start()) {
            byte[] sid = serverId(p);
            for (int type : new int[] {8, 9}) {
                byte[] r = exchange(p, dhcpMessage(type, XID, CLIENT_ID, sid, iaNa(IAID, ADDR6)));
                assertReply(r, 7);
                assertEquals(List.of(2, 1, 13), codes(r));
                assertEquals(0, u16(r, byCode(r).get(13).at()));
            }
        }
    }

    @Test
    void fqdnIsSentAsClientFqdnOptionAndOverridesAClientThatWantsToUpdateItself() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(c -> c.fqdn = "guest.example.org")) {
            byte[] name = {5, 'g', 'u', 'e', 's', 't', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0};
            byte[] r = exchange(p, dhcpMessage(1, XID, CLIENT_ID, iaNa(IAID)));
            assertEquals(List.of(2, 3, 1, 23, 24, 39), codes(r));
            byte[] v = byCode(r).get(39).value(r);
            assertEquals(0, v[0], "flags: the server updates");
            assertArrayEquals(name, java.util.Arrays.copyOfRange(v, 1, v.length));
            byte[] s = exchange(p, dhcpMessage(1, XID, CLIENT_ID, iaNa(IAID), dhcpOpt(39, bytes(1, 0))));
            assertEquals(2, byCode(s).get(39).value(s)[0], "S from the client: O in the answer");
        }
    }

    @Test
    void disabledDnsAndSearchAreLeftOut() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(c -> {
            c.noDhcpDns = true;
            c.noDhcpSearch = true;
        })) {
            byte[] r = exchange(p, dhcpMessage(1, XID, CLIENT_ID, iaNa(IAID)));
            assertReply(r, 2);
            assertEquals(List.of(2, 3, 1), codes(r));
        }
    }

    @Test
    void noDhcpv6AnswersNothingButNdpStillWorks() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(c -> c.noDhcpv6 = true); GuestLink g = p.connect()) {
            g.send(dhcpFrame(GUEST_LL, ALL_DHCP, dhcpMessage(1, XID, CLIENT_ID, iaNa(IAID))));
            g.send(dhcpFrame(GUEST_LL, ALL_DHCP, dhcpMessage(11, XID, CLIENT_ID)));
            assertNull(p.answered(g, dhcpv6Reply()));
            g.send(V6Frames.rs(GUEST_LL));
            assertNotNull(g.receive(1000, V6Frames.icmp6Type(134)));
        }
    }

    @Test
    void ipv4OnlyLeavesDhcpv6Unanswered() throws Exception {
        try (InProcessPasst p = Ipv6Net.start(c -> c.v6 = false); GuestLink g = p.connect()) {
            g.send(dhcpFrame(GUEST_LL, ALL_DHCP, dhcpMessage(1, XID, CLIENT_ID, iaNa(IAID))));
            assertNull(p.answered(g));
        }
    }

    @Test
    void malformedMessagesAreDroppedAndTheDaemonKeepsAnswering() throws Exception {
        byte[] solicit = dhcpMessage(1, XID, CLIENT_ID, iaNa(IAID));
        byte[][] bad = {
            dhcpFrame(GUEST_LL, ALL_DHCP, bytes(1, 0xab, 0xcd)),                           // shorter than a header
            dhcpFrame(GUEST_LL, ALL_DHCP, cat(solicit, bytes(0, 6))),                      // half an option header
            dhcpFrame(GUEST_LL, ALL_DHCP, cat(solicit, bytes(0, 6, 0, 9, 0, 23))),         // option past the end
            dhcpFrame(GUEST_LL, ALL_DHCP, dhcpMessage(1, XID, CLIENT_ID, dhcpOpt(3, new byte[8]))),  // IA_NA too short
            dhcpFrame(GUEST_LL, ALL_DHCP, dhcpMessage(1, XID, CLIENT_ID, dhcpOpt(4, new byte[2]))),  // IA_TA too short
            dhcpFrame(GUEST_LL, ALL_DHCP, dhcpMessage(1, XID, dhcpOpt(1, new byte[129]), iaNa(IAID))), // DUID too long
            dhcpFrame(GUEST_LL, ALL_DHCP, dhcpMessage(1, XID, dhcpOpt(1, new byte[0]), iaNa(IAID))),   // empty DUID
            dhcpFrame(GUEST_LL, ALL_DHCP, dhcpMessage(3, XID, CLIENT_ID, dhcpOpt(2, new byte[3]))),    // odd server id
            udpChecksum(dhcpFrame(GUEST_LL, ALL_DHCP, solicit), 0x5555),                    // bad checksum
            udpChecksum(dhcpFrame(GUEST_LL, ALL_DHCP, solicit), 0),                         // no checksum: wrong over IPv6
            udpLength(dhcpFrame(GUEST_LL, ALL_DHCP, solicit), 0x400),                       // UDP length past the packet
            udpLength(dhcpFrame(GUEST_LL, ALL_DHCP, solicit), 4),                           // UDP length below its header
            dhcpFrame(a6("::"), ALL_DHCP, solicit),                                         // no source address
            slice(dhcpFrame(GUEST_LL, ALL_DHCP, solicit), 0, L4 + 6),                       // truncated UDP header
        };
        try (InProcessPasst p = Ipv6Net.start(); GuestLink g = p.connect()) {
            for (byte[] f : bad) g.send(f);
            assertNull(p.answered(g, dhcpv6Reply()), "no answer to any malformed message");
            g.send(dhcpFrame(GUEST_LL, ALL_DHCP, solicit));
            assertReply(g.receive(1000, dhcpv6Reply()), 2);
            assertEquals(0, p.query(() -> p.passt.loop.failures()));
        }
    }

    private static byte[] udpChecksum(byte[] f, int value) {
        f[UDP + 6] = (byte) (value >>> 8);
        f[UDP + 7] = (byte) value;
        return f;
    }

    private static byte[] udpLength(byte[] f, int value) {
        f[UDP + 4] = (byte) (value >>> 8);
        f[UDP + 5] = (byte) value;
        return f;
    }
}
