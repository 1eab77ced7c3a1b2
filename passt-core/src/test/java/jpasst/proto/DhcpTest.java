package jpasst.proto;

import static jpasst.guest.Frames.GUEST_MAC;
import static jpasst.guest.Frames.dhcp;
import static jpasst.guest.Frames.dhcpFrame;
import static jpasst.guest.Frames.i32;
import static jpasst.guest.Frames.ip;
import static jpasst.guest.Frames.mac;
import static jpasst.guest.Frames.opt;
import static jpasst.guest.Frames.u16;
import static jpasst.guest.Frames.u8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import jpasst.conf.Conf;
import jpasst.guest.Frames;
import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;

/** The DHCP server, checked on the wire: headers, BOOTP fields and every option. */
class DhcpTest {
    static final int XID = 0x1234abcd;
    static final int UDP = 14 + 20, BOOTP = UDP + 8, OPTIONS = BOOTP + 240;

    private static byte[] exchange(InProcessPasst p, byte[] bootp) throws Exception {
        try (GuestLink g = p.connect()) {
            g.send(dhcpFrame(bootp));
            return g.receive(2000);
        }
    }

    /** Options of a reply in wire order: code → value. */
    static Map<Integer, byte[]> options(byte[] f) {
        Map<Integer, byte[]> m = new LinkedHashMap<>();
        int p = OPTIONS;
        while (p < f.length) {
            int code = u8(f, p);
            if (code == 0) { p++; continue; }
            if (code == 255) break;
            int len = u8(f, p + 1);
            m.put(code, java.util.Arrays.copyOfRange(f, p + 2, p + 2 + len));
            p += 2 + len;
        }
        return m;
    }

    private static byte[] b(int... v) {
        byte[] r = new byte[v.length];
        for (int i = 0; i < v.length; i++) r[i] = (byte) v[i];
        return r;
    }

    @Test
    void discoverGetsOfferWithHostAddressMaskRouterDnsSearchAndMtu65520() throws Exception {
        try (InProcessPasst p = new InProcessPasst()) {
            byte[] r = exchange(p, dhcp(XID, GUEST_MAC, 0, false, opt(53, 1)));
            assertNotNull(r, "no OFFER");
            // Ethernet and IP: from the gateway, port 67 to 68
            assertEquals(Conf.MAC_DEFAULT, mac(r, 6));
            assertEquals(0x0800, u16(r, 12));
            assertEquals(InProcessPasst.GW, i32(r, 14 + 12), "IP source: the gateway (our server id)");
            assertEquals(0, Frames.checksum(r, 14, 20, 0), "IPv4 header checksum");
            assertEquals(67, u16(r, UDP));
            assertEquals(68, u16(r, UDP + 2));
            assertEquals(r.length - UDP, u16(r, UDP + 4), "UDP length");
            int src = i32(r, 26), dst = i32(r, 30), ulen = r.length - UDP;
            long pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + ulen;
            assertEquals(0, Frames.checksum(r, UDP, ulen, pseudo), "UDP checksum");
            // BOOTP
            assertEquals(2, u8(r, BOOTP), "BOOTREPLY");
            assertEquals(XID, i32(r, BOOTP + 4));
            assertEquals(0, i32(r, BOOTP + 12), "ciaddr");
            assertEquals(InProcessPasst.ADDR, i32(r, BOOTP + 16), "yiaddr: the host's address");
            assertEquals(GUEST_MAC, mac(r, BOOTP + 28), "chaddr");
            assertEquals(0x63825363, i32(r, BOOTP + 236));
            Map<Integer, byte[]> o = options(r);
            assertEquals(53, o.keySet().iterator().next(), "message type comes first");
            assertArrayEquals(b(2), o.get(53), "OFFER");
            assertArrayEquals(b(255, 255, 255, 0), o.get(1), "mask");
            assertArrayEquals(b(192, 0, 2, 1), o.get(3), "router");
            assertArrayEquals(b(198, 51, 100, 53, 198, 51, 100, 54), o.get(6), "DNS");
            assertArrayEquals(b(0xff, 0xf0), o.get(26), "MTU 65520");
            assertArrayEquals(b(255, 255, 255, 255), o.get(51), "infinite lease");
            assertArrayEquals(b(192, 0, 2, 1), o.get(54), "server identifier: the gateway");
            assertArrayEquals(b(7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0,
                    3, 'l', 'a', 'b', 0xc0, 0), o.get(119), "search list with compression");
            assertTrue(r.length - OPTIONS >= 60, "options padded to the BOOTP minimum");
        }
    }

    @Test
    void requestGetsAckAddressedToTheOfferedAddress() throws Exception {
        try (InProcessPasst p = new InProcessPasst()) {
            byte[] r = exchange(p, dhcp(XID, GUEST_MAC, 0, false, opt(53, 3),
                    opt(50, 192, 0, 2, 2), opt(54, 192, 0, 2, 1)));
            assertNotNull(r);
            assertArrayEquals(b(5), options(r).get(53), "ACK");
            assertEquals(GUEST_MAC, mac(r, 0), "unicast to the client's MAC");
            assertEquals(InProcessPasst.ADDR, i32(r, 30), "to the assigned address");
            assertEquals(InProcessPasst.ADDR, i32(r, BOOTP + 16));
        }
    }

    @Test
    void broadcastFlagMakesTheReplyBroadcast() throws Exception {
        try (InProcessPasst p = new InProcessPasst()) {
            byte[] r = exchange(p, dhcp(XID, GUEST_MAC, 0, true, opt(53, 1)));
            assertNotNull(r);
            assertEquals(0xffff_ffff_ffffL, mac(r, 0));
            assertEquals(0xffffffff, i32(r, 30));
            assertEquals(0x8000, u16(r, BOOTP + 10), "flags echoed");
        }
    }

    @Test
    void renewingClientIsAnsweredAtItsCiaddr() throws Exception {
        try (InProcessPasst p = new InProcessPasst()) {
            byte[] r = exchange(p, dhcp(XID, GUEST_MAC, InProcessPasst.ADDR, false, opt(53, 3)));
            assertNotNull(r);
            assertArrayEquals(b(5), options(r).get(53));
            assertEquals(InProcessPasst.ADDR, i32(r, BOOTP + 12), "ciaddr echoed in ACK");
        }
    }

    @Test
    void requestForAnotherAddressGetsBroadcastNak() throws Exception {
        try (InProcessPasst p = new InProcessPasst()) {
            byte[] r = exchange(p, dhcp(XID, GUEST_MAC, 0, false, opt(53, 3), opt(50, 192, 0, 2, 99)));
            assertNotNull(r);
            Map<Integer, byte[]> o = options(r);
            assertArrayEquals(b(6), o.get(53), "NAK");
            assertArrayEquals(b(192, 0, 2, 1), o.get(54));
            assertEquals(0, i32(r, BOOTP + 16), "no yiaddr in a NAK");
            assertEquals(0xffffffff, i32(r, 30));
        }
    }

    @Test
    void optionsFollowTheParameterRequestListOrder() throws Exception {
        try (InProcessPasst p = new InProcessPasst()) {
            byte[] r = exchange(p, dhcp(XID, GUEST_MAC, 0, false, opt(53, 1), opt(55, 6, 3, 1, 26)));
            Integer[] order = options(r).keySet().toArray(new Integer[0]);
            assertEquals(53, order[0]);
            assertEquals(6, order[1]);
            assertEquals(3, order[2]);
            assertEquals(1, order[3]);
            assertEquals(26, order[4]);
        }
    }

    @Test
    void gatewayOutsideTheSubnetGetsAClasslessStaticRoute() throws Exception {
        try (InProcessPasst p = new InProcessPasst(c -> c.gw4 = ip("198.51.100.1"))) {
            byte[] r = exchange(p, dhcp(XID, GUEST_MAC, 0, false, opt(53, 1)));
            assertArrayEquals(b(32, 198, 51, 100, 1, 0, 0, 0, 0, 0, 198, 51, 100, 1), options(r).get(121));
        }
    }

    @Test
    void noDhcpDnsAndNoDhcpSearchLeaveThoseOptionsOut() throws Exception {
        try (InProcessPasst p = new InProcessPasst(c -> {
            c.noDhcpDns = true;
            c.noDhcpSearch = true;
        })) {
            Map<Integer, byte[]> o = options(exchange(p, dhcp(XID, GUEST_MAC, 0, false, opt(53, 1))));
            assertNull(o.get(6));
            assertNull(o.get(119));
            assertNotNull(o.get(3));
        }
    }

    @Test
    void noDhcpMeansNoAnswer() throws Exception {
        try (InProcessPasst p = new InProcessPasst(c -> c.noDhcp = true)) {
            assertNull(exchange(p, dhcp(XID, GUEST_MAC, 0, false, opt(53, 1))));
        }
    }

    @Test
    void truncatedOptionsAndBadMagicAreDroppedAndServerKeepsAnswering() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            byte[] good = dhcp(XID, GUEST_MAC, 0, false, opt(53, 1));
            byte[] truncatedOption = dhcp(XID, GUEST_MAC, 0, false, opt(53, 1));
            truncatedOption[240] = 12;
            truncatedOption[241] = (byte) 200; // length past the end of the message
            java.util.Arrays.fill(truncatedOption, 242, truncatedOption.length, (byte) 1);
            byte[] badMagic = good.clone();
            badMagic[236] = 0;
            byte[] tooShort = java.util.Arrays.copyOf(good, 200);
            g.send(dhcpFrame(truncatedOption));
            g.send(dhcpFrame(badMagic));
            g.send(dhcpFrame(tooShort));
            assertNull(p.answered(g));
            g.send(dhcpFrame(good));
            assertNotNull(g.receive(2000));
            assertEquals(0, p.query(() -> p.passt.loop.failures()));
        }
    }

    @Test
    void releaseAndDeclineGetNoAnswer() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            g.send(dhcpFrame(dhcp(XID, GUEST_MAC, InProcessPasst.ADDR, false, opt(53, 7))));
            g.send(dhcpFrame(dhcp(XID, GUEST_MAC, 0, false, opt(53, 4))));
            assertNull(p.answered(g));
        }
    }
}
