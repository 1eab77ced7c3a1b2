package jpasst.proto;

import static jpasst.guest.Frames.GUEST_MAC;
import static jpasst.guest.Frames.arpRequest;
import static jpasst.guest.Frames.i32;
import static jpasst.guest.Frames.ip;
import static jpasst.guest.Frames.mac;
import static jpasst.guest.Frames.u16;
import static jpasst.guest.Frames.u8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

import jpasst.conf.Conf;
import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;

/** ARP as passt answers it, checked field by field on the wire. */
class ArpTest {
    @Test
    void requestForGatewayGetsReplyWithOurMac() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            g.send(arpRequest(GUEST_MAC, InProcessPasst.ADDR, InProcessPasst.GW));
            byte[] r = g.receive(2000);
            assertNotNull(r);
            assertEquals(42, r.length);
            assertEquals(GUEST_MAC, mac(r, 0), "Ethernet destination: the asker");
            assertEquals(Conf.MAC_DEFAULT, mac(r, 6), "Ethernet source: our MAC");
            assertEquals(0x0806, u16(r, 12));
            assertEquals(1, u16(r, 14), "htype Ethernet");
            assertEquals(0x0800, u16(r, 16), "ptype IPv4");
            assertEquals(6, u8(r, 18));
            assertEquals(4, u8(r, 19));
            assertEquals(2, u16(r, 20), "op reply");
            assertEquals(Conf.MAC_DEFAULT, mac(r, 22), "sender MAC");
            assertEquals(InProcessPasst.GW, i32(r, 28), "sender IP: the address asked for");
            assertEquals(GUEST_MAC, mac(r, 32), "target MAC");
            assertEquals(InProcessPasst.ADDR, i32(r, 38), "target IP");
        }
    }

    @Test
    void anyOtherAddressIsOursToo() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            g.send(arpRequest(GUEST_MAC, InProcessPasst.ADDR, ip("192.0.2.77")));
            byte[] r = g.receive(2000);
            assertNotNull(r);
            assertEquals(ip("192.0.2.77"), i32(r, 28));
        }
    }

    @Test
    void guestsOwnAddressGetsNoReplySoDuplicateDetectionPasses() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            g.send(arpRequest(GUEST_MAC, 0, InProcessPasst.ADDR)); // RFC 5227 probe
            assertNull(p.answered(g));
        }
    }

    @Test
    void announcementGetsNoReply() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            g.send(arpRequest(GUEST_MAC, ip("192.0.2.9"), ip("192.0.2.9")));
            assertNull(p.answered(g));
        }
    }

    @Test
    void truncatedArpIsDroppedAndDaemonKeepsServing() throws Exception {
        try (InProcessPasst p = new InProcessPasst(); GuestLink g = p.connect()) {
            byte[] full = arpRequest(GUEST_MAC, InProcessPasst.ADDR, InProcessPasst.GW);
            for (int len = 14; len < full.length; len++) g.send(java.util.Arrays.copyOf(full, len));
            assertNull(p.answered(g));
            g.send(full);
            assertNotNull(g.receive(2000));
            assertEquals(0, p.query(() -> p.passt.loop.failures()));
        }
    }
}
