package jpasst.robust;

import static jpasst.robust.FuzzFrames.ADDR4;
import static jpasst.robust.FuzzFrames.ADDR6;
import static jpasst.robust.FuzzFrames.GUEST_LL;
import static jpasst.robust.FuzzFrames.GW4;
import static jpasst.robust.FuzzFrames.GW6;
import static jpasst.guest.Frames.GUEST_MAC;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import jpasst.guest.Frames;
import jpasst.guest.Match;
import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;
import jpasst.guest.V6Frames;

/**
 * Hand-made bad input over the real UNIX socket (issue 8, part 1): length prefixes no frame can
 * have, frames split at every byte, the largest and an oversized frame, truncated headers of
 * every protocol, bad checksums, IPv4 options and fragments, TTL and hop limit 0, empty payloads.
 * After each: the loop had nothing to drop, and the guest is served as before.
 *
 * Behind the gateway (the host's loopback): a UDP echo socket and a TCP listener of the test's.
 */
class MalformedFramesTest {
    private InProcessPasst p;
    private GuestLink g;
    private DatagramSocket echo4, echo6;
    private ServerSocket tcp;
    private final List<byte[]> echoed = java.util.Collections.synchronizedList(new ArrayList<>());
    private int udp4, udp6;

    @BeforeEach
    void start() throws Exception {
        echo4 = echo("127.0.0.1");
        echo6 = echo("::1");
        udp4 = echo4.getLocalPort();
        udp6 = echo6.getLocalPort();
        tcp = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        p = new InProcessPasst(FuzzFrames::v6);
        g = p.connect();
    }

    private DatagramSocket echo(String addr) throws IOException {
        DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(addr), 0));
        Thread t = new Thread(() -> {
            byte[] buf = new byte[65536];
            while (!s.isClosed()) {
                DatagramPacket d = new DatagramPacket(buf, buf.length);
                try {
                    s.receive(d);
                    echoed.add(Arrays.copyOf(buf, d.getLength()));
                    s.send(new DatagramPacket(buf, d.getLength(), d.getSocketAddress()));
                } catch (IOException e) {
                    return;
                }
            }
        }, "udp-echo");
        t.setDaemon(true);
        t.start();
        return s;
    }

    @AfterEach
    void stop() throws Exception {
        assertEquals(0, p.query(() -> p.passt.loop.failures()), "events the loop had to drop");
        g.close();
        p.close();
        echo4.close();
        echo6.close();
        tcp.close();
    }

    // ---- helpers ----

    private static byte[] framed(byte[] f) {
        return ByteBuffer.allocate(4 + f.length).putInt(f.length).put(f).array();
    }

    private static final Predicate<byte[]> ARP_REPLY = Match.arpReply(GW4);
    private static final Predicate<byte[]> UNSOLICITED = Match.icmp6(134); // periodic router advertisements

    /** The guest asks for the gateway's MAC: true if the reply comes, on the given link. */
    private static boolean arpAnswered(GuestLink link) throws IOException {
        link.send(Frames.arpRequest(GUEST_MAC, ADDR4, GW4));
        return link.receive(3000, ARP_REPLY) != null;
    }

    /**
     * Sends {@code bad}, then an ARP request; returns whatever the daemon sent in between (not
     * counting router advertisements), failing if the ARP reply does not come: the link is alive.
     */
    private List<byte[]> sendBadThenProbe(byte[] bad) throws IOException {
        g.send(bad);
        g.send(Frames.arpRequest(GUEST_MAC, ADDR4, GW4));
        List<byte[]> before = new ArrayList<>();
        byte[] f;
        while ((f = g.receive(3000)) != null) {
            if (ARP_REPLY.test(f)) return before;
            if (!UNSOLICITED.test(f)) before.add(f);
        }
        throw new AssertionError("no ARP reply after " + FuzzRig.hex(bad) + ": the link is down");
    }

    private void assertIgnored(String what, byte[] bad) throws IOException {
        List<byte[]> replies = sendBadThenProbe(bad);
        assertTrue(replies.isEmpty(), what + ": answered with " + replies.size() + " frame(s), first "
                + (replies.isEmpty() ? "" : FuzzRig.hex(replies.get(0))));
    }

    private byte[] udpPayloadEchoed(Predicate<byte[]> reply) throws IOException {
        byte[] f = g.receive(3000, reply);
        if (f == null) return null;
        int l4 = Match.l4(f, 17);
        return Arrays.copyOfRange(f, l4 + 8, l4 + Frames.u16(f, l4 + 4));
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private long written; // bytes written to g by write(), and what the daemon had read before

    /**
     * Writes {@code bytes} to the guest's connection; with {@code awaitRead}, returns once the
     * daemon has read them (a read of its own, whatever is written next) and all before them.
     */
    private void write(byte[] bytes, boolean awaitRead) throws IOException {
        g.writeRaw(bytes);
        long all = written += bytes.length;
        if (awaitRead) assertTrue(p.await(() -> p.stream().bytesIn() >= all, 3000), "the daemon did not read the bytes");
    }

    private static byte[] cut(byte[] f, int len) {
        return Arrays.copyOf(f, len);
    }

    // ---- framing ----

    @Test
    void lengthPrefixesNoFrameCanHaveResetOnlyThatConnectionAndTheNextGuestIsServed() throws Exception {
        long[] bad = {0, 1, 13, 65536, 70000, 0x7fff_ffffL, 0x8000_0000L, 0xffff_ffffL};
        int resets = 0;
        for (long len : bad) {
            assertTrue(arpAnswered(g));
            g.writeRaw(ByteBuffer.allocate(4 + 64).putInt((int) len).array());
            assertTrue(g.closedByPeer(3000), "length " + len + " did not reset the connection");
            resets++;
            g.close();
            g = p.connect();
        }
        assertEquals(resets, p.query(() -> p.stream().badFrames()));
        // the extremes that are frames: 14 bytes (a bare Ethernet header) and 65535
        g.send(Frames.eth(Frames.OUR_MAC, GUEST_MAC, 0x0800, new byte[0]));
        g.send(Frames.eth(Frames.OUR_MAC, GUEST_MAC, 0x88b5, new byte[65535 - 14]));
        assertTrue(arpAnswered(g), "the link went down on frames of 14 and 65535 bytes");
        g.send(Frames.dhcpFrame(Frames.dhcp(1, GUEST_MAC, 0, false, Frames.opt(53, 1))));
        assertNotNull(g.receive(3000, Match.dhcp(2)), "no DHCP OFFER after the resets");
        assertEquals(resets, p.query(() -> p.stream().badFrames()));
    }

    @Test
    void framesSplitAtEveryByteAreReassembled() throws Exception {
        byte[] arp = framed(Frames.arpRequest(GUEST_MAC, ADDR4, GW4));
        written = p.query(() -> p.stream().bytesIn());
        for (int cut = 1; cut < arp.length; cut++) {
            write(Arrays.copyOfRange(arp, 0, cut), true); // the daemon reads the first piece on its own
            write(Arrays.copyOfRange(arp, cut, arp.length), false);
            assertNotNull(g.receive(3000, ARP_REPLY), "no ARP reply with the frame split after byte " + cut);
        }
        // a whole DHCP DISCOVER a byte at a time, prefix included, read in pieces of 1 to 8 bytes
        byte[] dhcp = framed(Frames.dhcpFrame(Frames.dhcp(2, GUEST_MAC, 0, false, Frames.opt(53, 1))));
        for (int i = 0; i < dhcp.length; i++) write(new byte[] {dhcp[i]}, i % 8 == 0);
        assertNotNull(g.receive(3000, Match.dhcp(2)), "no OFFER for a DISCOVER sent a byte at a time");
        // three frames in one write, the third split across this write and the next
        byte[] three = V6Frames.cat(arp, framed(Frames.dhcpFrame(Frames.dhcp(3, GUEST_MAC, 0, false, Frames.opt(53, 1)))),
                Arrays.copyOf(arp, 10));
        write(three, true);
        write(Arrays.copyOfRange(arp, 10, arp.length), false);
        assertNotNull(g.receive(3000, ARP_REPLY));
        assertNotNull(g.receive(3000, Match.dhcp(2)));
        assertNotNull(g.receive(3000, ARP_REPLY), "the frame split across writes");
    }

    @Test
    void theLargestDatagramGoesThroughAndBackWhole() throws Exception {
        byte[] payload = new byte[65535 - 14 - 20 - 8];
        new java.util.Random(3).nextBytes(payload);
        byte[] f = Frames.frame4(Frames.udp4(ADDR4, 40000, GW4, udp4, payload));
        assertEquals(65535, f.length);
        g.send(f);
        assertArrayEquals(payload, udpPayloadEchoed(Match.udpTo(40000)), "65535-byte frame not carried whole");
        assertTrue(arpAnswered(g));
    }

    // ---- truncated headers ----

    @Test
    void truncatedHeadersOfEveryProtocolAreDroppedQuietly() throws Exception {
        byte[] udp = Frames.frame4(Frames.udp4(ADDR4, 40001, GW4, udp4, bytes("truncated")));
        byte[] syn = Frames.tcp4(ADDR4, GW4, 40002, tcp.getLocalPort(), 1, 0, Frames.SYN, 65535,
                Frames.linuxSynOptions(1460, 7), new byte[0]);
        byte[] dhcp = Frames.dhcpFrame(Frames.dhcp(4, GUEST_MAC, 0, false, Frames.opt(53, 1), Frames.opt(55, 1, 3, 6)));
        byte[] ping = Frames.frame4(Frames.icmp4Echo(ADDR4, GW4, 9, 1, bytes("truncated")));
        byte[] arp = Frames.arpRequest(GUEST_MAC, ADDR4, GW4);
        byte[] ns = V6Frames.ns(GUEST_LL, GW6, V6Frames.llOption(1, GUEST_MAC));
        byte[] u6 = Frames.frame6(Frames.udp6(ADDR6, 40003, GW6, udp6, bytes("truncated")));
        byte[] dhcp6 = V6Frames.dhcpFrame(GUEST_LL, V6Frames.ALL_DHCP, V6Frames.dhcpMessage(1, 5,
                V6Frames.dhcpOpt(1, V6Frames.duidLl(GUEST_MAC)), V6Frames.iaNa(1)));
        byte[] hbh = FuzzFrames.hopByHop(u6);

        assertIgnored("bare Ethernet header, IPv4", cut(udp, 14));
        assertIgnored("bare Ethernet header, IPv6", cut(u6, 14));
        assertIgnored("bare Ethernet header, ARP", cut(arp, 14));
        assertIgnored("ARP cut in the target address", cut(arp, 38));
        assertIgnored("IPv4 header of 19 bytes", cut(udp, 14 + 19));
        byte[] ihl = udp.clone();
        ihl[14] = 0x4f; // IHL 60 bytes, more than there is
        Mutator.fixChecksums(ihl);
        assertIgnored("IHL beyond the packet", cut(ihl, 14 + 40));
        assertIgnored("IPv4 total length beyond the frame", cut(udp, udp.length - 3));
        assertIgnored("UDP header of 7 bytes", fixedTotal(cut(udp, 14 + 20 + 7)));
        byte[] ulen = udp.clone();
        Mutator.put16(ulen, 38, 200); // UDP length beyond the IPv4 packet
        assertIgnored("UDP length beyond the packet", ulen);
        assertIgnored("TCP header of 19 bytes", fixedTotal(cut(syn, 14 + 20 + 19)));
        byte[] doff = syn.clone();
        doff[14 + 20 + 12] = (byte) 0xf0; // 60-byte TCP header in a 40-byte segment
        Mutator.fixChecksums(doff);
        assertIgnored("TCP data offset beyond the segment", doff);
        byte[] doffSmall = syn.clone();
        doffSmall[14 + 20 + 12] = 0x40; // 16-byte TCP header: less than the minimum
        Mutator.fixChecksums(doffSmall);
        assertIgnored("TCP data offset below 5", doffSmall);
        assertIgnored("ICMP header of 3 bytes", fixedTotal(cut(ping, 14 + 20 + 3)));
        assertIgnored("DHCP without its magic cookie", fixedTotal(cut(dhcp, 14 + 20 + 8 + 236)));
        assertIgnored("DHCP cut before its fixed part ends", fixedTotal(cut(dhcp, 14 + 20 + 8 + 100)));
        byte[] opt = dhcp.clone();
        int o = 14 + 20 + 8 + 240;
        opt[o + 4] = (byte) 250; // option 55 claims 250 bytes
        Mutator.fixChecksums(opt);
        assertIgnored("DHCP option longer than the message", opt);
        assertIgnored("IPv6 header of 39 bytes", cut(u6, 14 + 39));
        assertIgnored("IPv6 payload length beyond the frame", cut(u6, u6.length - 2));
        assertIgnored("hop-by-hop header cut short", fixedPayload6(cut(hbh, 14 + 40 + 6)));
        byte[] hbhLong = hbh.clone();
        hbhLong[14 + 40 + 1] = 20; // 168 bytes of options in a short packet
        Mutator.fixChecksums(hbhLong);
        assertIgnored("hop-by-hop header longer than the packet", hbhLong);
        assertIgnored("neighbour solicitation cut in the target", fixedPayload6(cut(ns, 14 + 40 + 12)));
        assertIgnored("DHCPv6 option cut short", fixedPayload6(cut(dhcp6, dhcp6.length - 3)));
        assertTrue(echoed.isEmpty(), "a truncated datagram reached the host: " + echoed.size());
    }

    /** IPv4 total length (and checksums) set to what the cut frame holds. */
    private static byte[] fixedTotal(byte[] f) {
        Mutator.put16(f, 16, f.length - 14);
        Mutator.fixChecksums(f);
        return f;
    }

    /** IPv6 payload length (and checksums) set to what the cut frame holds. */
    private static byte[] fixedPayload6(byte[] f) {
        Mutator.put16(f, 18, f.length - 54);
        Mutator.fixChecksums(f);
        return f;
    }

    // ---- checksums ----

    @Test
    void badChecksumsAreDroppedAndAnOptionalZeroUdpChecksumIsAccepted() throws Exception {
        byte[] dhcp = Frames.dhcpFrame(Frames.dhcp(6, GUEST_MAC, 0, false, Frames.opt(53, 1)));
        assertIgnored("DHCP with a bad IPv4 header checksum", flip(dhcp, 24));
        // (the DHCP server, like passt's, does not look at the UDP checksum: not tested either way)
        assertIgnored("UDP with a bad checksum", flip(Frames.frame4(Frames.udp4(ADDR4, 40010, GW4, udp4, bytes("bad"))), 40));
        assertIgnored("TCP SYN with a bad checksum", flip(Frames.tcp4(ADDR4, GW4, 40011, tcp.getLocalPort(), 1, 0,
                Frames.SYN, 65535, new byte[0], new byte[0]), 14 + 20 + 16));
        assertIgnored("ICMP echo with a bad checksum", flip(Frames.frame4(Frames.icmp4Echo(ADDR4, GW4, 10, 1, bytes("bad"))), 36));
        assertIgnored("NS with a bad checksum", flip(V6Frames.ns(GUEST_LL, GW6, V6Frames.llOption(1, GUEST_MAC)), 56));
        assertIgnored("UDP over IPv6 with a bad checksum", flip(Frames.frame6(Frames.udp6(ADDR6, 40012, GW6, udp6, bytes("bad"))), 60));
        byte[] zero6 = Frames.frame6(Frames.udp6(ADDR6, 40013, GW6, udp6, bytes("zero")));
        zero6[60] = zero6[61] = 0;
        assertIgnored("UDP over IPv6 without a checksum (mandatory there)", zero6);
        assertTrue(echoed.isEmpty(), "a datagram with a bad checksum reached the host");

        byte[] zero4 = Frames.frame4(Frames.udp4(ADDR4, 40014, GW4, udp4, bytes("zero")));
        zero4[40] = zero4[41] = 0; // "no checksum", allowed over IPv4
        g.send(zero4);
        assertArrayEquals(bytes("zero"), udpPayloadEchoed(Match.udpTo(40014)));
        assertEquals(0, p.query(() -> p.passt.tcp.activeConnections()), "a SYN with a bad checksum opened a connection");
    }

    private static byte[] flip(byte[] f, int at) {
        byte[] g = f.clone();
        g[at] ^= 0x01;
        return g;
    }

    // ---- IPv4 options, fragments, TTL 0 ----

    @Test
    void ipv4OptionsAreSkippedAndFragmentsDropped() throws Exception {
        g.send(FuzzFrames.withIp4Options(Frames.frame4(Frames.udp4(ADDR4, 40020, GW4, udp4, bytes("options")))));
        assertArrayEquals(bytes("options"), udpPayloadEchoed(Match.udpTo(40020)), "UDP with IPv4 options");
        g.send(FuzzFrames.withIp4Options(Frames.dhcpFrame(Frames.dhcp(7, GUEST_MAC, 0, false, Frames.opt(53, 1)))));
        assertNotNull(g.receive(3000, Match.dhcp(2)), "DHCP with IPv4 options");
        g.send(FuzzFrames.withIp4Options(Frames.tcp4(ADDR4, GW4, 40021, tcp.getLocalPort(), 1, 0, Frames.SYN,
                65535, Frames.linuxSynOptions(1460, 7), new byte[0])));
        assertNotNull(g.receive(3000, Match.tcp(40021, Frames.SYN | Frames.ACK)), "TCP SYN with IPv4 options");
        echoed.clear();

        byte[] first = FuzzFrames.fragment4(Frames.frame4(Frames.udp4(ADDR4, 40022, GW4, udp4, bytes("first fragment"))));
        byte[] later = Frames.frame4(Frames.udp4(ADDR4, 40023, GW4, udp4, bytes("later fragment")));
        later[20] = 0;
        later[21] = 3; // offset 24 bytes, last fragment
        Mutator.fixChecksums(later);
        assertIgnored("first IPv4 fragment", first);
        assertIgnored("later IPv4 fragment", later);
        // a datagram after them: the host's echo socket receives in order, so had a fragment got
        // through it would have been echoed first
        g.send(Frames.frame4(Frames.udp4(ADDR4, 40024, GW4, udp4, bytes("after the fragments"))));
        assertArrayEquals(bytes("after the fragments"), udpPayloadEchoed(Match.udpTo(40024)));
        assertEquals(1, echoed.size(), "a fragment reached the host");
    }

    /**
     * As passt: the guest's TTL or hop limit is not the daemon's business for flows (the host
     * socket sends with its own), so a datagram with TTL 0 is carried; Neighbor Discovery, which
     * must come from the link, is answered only with hop limit 255 (RFC 4861).
     */
    @Test
    void ttlAndHopLimitZeroAreHandledAsPasstDoes() throws Exception {
        byte[] udp = Frames.frame4(Frames.udp4(ADDR4, 40030, GW4, udp4, bytes("ttl 0")));
        udp[22] = 0;
        Mutator.fixChecksums(udp);
        g.send(udp);
        assertArrayEquals(bytes("ttl 0"), udpPayloadEchoed(Match.udpTo(40030)));
        byte[] u6 = Frames.frame6(Frames.udp6(ADDR6, 40031, GW6, udp6, bytes("hop limit 0")));
        u6[21] = 0;
        g.send(u6);
        assertArrayEquals(bytes("hop limit 0"), udpPayloadEchoed(Match.udpTo(40031)));
        assertIgnored("NS with hop limit 0", V6Frames.ns(0, GUEST_LL, V6Frames.solicitedNode(GW6), GW6,
                V6Frames.llOption(1, GUEST_MAC)));
        g.send(V6Frames.ns(GUEST_LL, GW6, V6Frames.llOption(1, GUEST_MAC)));
        assertNotNull(g.receive(3000, Match.icmp6(136)), "NS with hop limit 255");
    }

    // ---- empty payloads ----

    @Test
    void zeroLengthPayloadsAreCarried() throws Exception {
        g.send(Frames.frame4(Frames.udp4(ADDR4, 40040, GW4, udp4, new byte[0])));
        assertArrayEquals(new byte[0], udpPayloadEchoed(Match.udpTo(40040)), "empty UDP datagram over IPv4");
        g.send(Frames.frame6(Frames.udp6(ADDR6, 40041, GW6, udp6, new byte[0])));
        assertArrayEquals(new byte[0], udpPayloadEchoed(Match.udpTo(40041)), "empty UDP datagram over IPv6");
        // a TCP connection, then segments without payload: PSH alone, and a bare ACK
        g.send(Frames.tcp4(ADDR4, GW4, 40042, tcp.getLocalPort(), 100, 0, Frames.SYN, 65535,
                Frames.linuxSynOptions(1460, 0), new byte[0]));
        byte[] synAck = g.receive(3000, Match.tcp(40042, Frames.SYN | Frames.ACK));
        assertNotNull(synAck);
        int their = Frames.i32(synAck, 14 + 20 + 4) + 1;
        try (var host = tcp.accept()) {
            g.send(Frames.tcp4(ADDR4, GW4, 40042, tcp.getLocalPort(), 101, their, Frames.ACK | Frames.PSH,
                    65535, new byte[0], new byte[0]));
            g.send(Frames.tcp4(ADDR4, GW4, 40042, tcp.getLocalPort(), 101, their, Frames.ACK,
                    65535, new byte[0], new byte[0]));
            g.send(Frames.tcp4(ADDR4, GW4, 40042, tcp.getLocalPort(), 101, their, Frames.ACK | Frames.PSH,
                    65535, new byte[0], bytes("then data")));
            host.setSoTimeout(3000);
            byte[] got = host.getInputStream().readNBytes(9);
            assertEquals("then data", new String(got, StandardCharsets.US_ASCII));
        }
        if (!p.query(() -> p.passt.icmp.warned())) {
            g.send(Frames.frame4(Frames.icmp4Echo(ADDR4, GW4, 11, 1, new byte[0])));
            byte[] r = g.receive(3000, Match.echoReply4());
            if (!p.query(() -> p.passt.icmp.warned())) {
                assertNotNull(r, "no reply to an empty echo request");
                assertEquals(14 + 20 + 8, r.length);
            }
        }
        assertTrue(arpAnswered(g));
    }

    @Test
    void aGuestThatVanishesMidFrameLeavesNothingBehind() throws Exception {
        byte[] arp = framed(Frames.arpRequest(GUEST_MAC, ADDR4, GW4));
        assertTrue(arpAnswered(g)); // the daemon has taken this guest (one at a time: it must go first)
        g.writeRaw(Arrays.copyOf(arp, 20)); // half a frame, then gone
        g.close();
        assertTrue(p.await(() -> !p.passt.link.connected(), 2000), "the daemon did not notice the guest leaving");
        g = p.connect();
        // the next guest's stream starts afresh: no leftover half frame in front of its first frame
        assertTrue(arpAnswered(g), "the new guest's first frame was garbled by the old one's leftovers");
    }
}
