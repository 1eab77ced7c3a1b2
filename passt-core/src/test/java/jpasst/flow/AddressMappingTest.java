package jpasst.flow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import jpasst.conf.Conf;
import jpasst.conf.AddressLiteral;
import jpasst.conf.Options;
import jpasst.link.Guest;
import jpasst.packet.Inany;

/**
 * The two address translations of passt, as {@link AddressMapping} applies them for TCP, UDP and ICMP:
 * outbound (guest → host: passt's nat_outbound) and inbound sources (host → guest: nat_inbound),
 * under the default mapping, --map-host-loopback, --map-guest-addr, --no-map-gw and "none".
 */
class AddressMappingTest {
    static final int HOST = ip4("192.0.2.2"), GW = ip4("192.0.2.1"), OTHER = ip4("198.51.100.7");
    static final long V6 = 0x2001_0db8_0000_0000L;

    static int ip4(String s) {
        return AddressLiteral.requireIp4(s);
    }

    static long lo(int v4) {
        return Inany.lo4(v4);
    }

    /** A daemon's configuration after host discovery: the host's address and gateway, both families. */
    static AddressMapping flows(String... options) {
        Conf.Builder c = Options.parse(options).conf();
        c.addr4 = HOST;
        c.prefix4 = 24;
        if (!c.gw4Set) c.gw4 = GW;
        c.addr6Hi = V6;
        c.addr6Lo = 2;
        if (!c.gw6Set) {
            c.gw6Hi = V6;
            c.gw6Lo = 1;
        }
        c.ourLl6Hi = 0xfe80L << 48;
        c.ourLl6Lo = 1;
        return new AddressMapping(c.build(), new Guest());
    }

    /** The host-side address for a guest-side IPv4 destination. */
    static int out4(AddressMapping f, int dst) {
        assertEquals(0, f.hostHi(0, lo(dst)));
        return Inany.v4(f.hostLo(0, lo(dst)));
    }

    /** The guest-side source for a host-side IPv4 peer. */
    static int in4(AddressMapping f, int src) {
        assertEquals(0, f.guestHi(0, lo(src)));
        return Inany.v4(f.guestLo(0, lo(src)));
    }

    @Test
    void byDefaultTheGatewayStandsForTheHostsLoopback() {
        AddressMapping f = flows();
        assertTrue(f.isGateway(0, lo(GW)));
        assertEquals(0x7f000001, out4(f, GW));
        assertEquals(OTHER, out4(f, OTHER));
        assertEquals(HOST, out4(f, HOST), "no --map-guest-addr: the host's own address stays");
        assertEquals(GW, in4(f, 0x7f000001));
        assertEquals(OTHER, in4(f, OTHER));
        // IPv6: the gateway is ::1, and jpasst's own link-local address too
        assertEquals(0, f.hostHi(V6, 1));
        assertEquals(1, f.hostLo(V6, 1));
        assertEquals(1, f.hostLo(0xfe80L << 48, 1));
        assertEquals(V6, f.guestHi(0, 1));
        assertEquals(1, f.guestLo(0, 1));
    }

    @Test
    void otherLoopbackAndTheGuestsOwnAddressAppearAsTheGateway() {
        AddressMapping f = flows();
        assertEquals(GW, in4(f, 0x7f000035), "127.0.0.53: not 127.0.0.1, our address on the link");
        assertEquals(GW, in4(f, HOST), "the guest's own address can't be a peer");
        assertEquals(GW, in4(f, 0));
        assertEquals(0xfe80L << 48, f.guestHi(V6, 2), "IPv6: our link-local address");
        assertEquals(1, f.guestLo(V6, 2));
    }

    @Test
    void mapHostLoopbackMovesTheHostToAnotherAddress() {
        int alias = ip4("192.0.2.100");
        AddressMapping f = flows("--map-host-loopback", "192.0.2.100", "--map-host-loopback", "2001:db8::100");
        assertEquals(0x7f000001, out4(f, alias));
        assertFalse(f.isGateway(0, lo(GW)));
        assertEquals(GW, out4(f, GW), "the gateway is just the gateway now");
        assertEquals(alias, in4(f, 0x7f000001));
        assertEquals(0, f.hostHi(V6, 0x100));
        assertEquals(1, f.hostLo(V6, 0x100));
        assertEquals(V6, f.hostHi(V6, 1), "IPv6 gateway not mapped any more");
        assertEquals(0xfe80L << 48, f.hostHi(0xfe80L << 48, 1),
                "our link-local address stands for the host only with the default mapping");
        assertEquals(0x100, f.guestLo(0, 1));
    }

    @Test
    void noMapGwAndNoneLeaveTheGatewayAlone() {
        for (AddressMapping f : new AddressMapping[] {flows("--no-map-gw"), flows("--map-host-loopback", "none")}) {
            assertFalse(f.isGateway(0, lo(GW)));
            assertEquals(GW, out4(f, GW));
            assertEquals(V6, f.hostHi(V6, 1));
            assertEquals(1, f.hostLo(V6, 1));
            // passt: a loopback source still can't reach the guest as such: our address on the link
            assertEquals(GW, in4(f, 0x7f000001));
        }
    }

    @Test
    void mapGuestAddrReachesTheHostsOwnAddress() {
        int alias = ip4("192.0.2.200");
        AddressMapping f = flows("--map-guest-addr", "192.0.2.200", "--map-guest-addr", "2001:db8::200");
        assertEquals(HOST, out4(f, alias), "to the guest's assigned address, as the host knows it");
        assertEquals(alias, in4(f, HOST), "and back from it");
        assertEquals(V6, f.hostHi(V6, 0x200));
        assertEquals(2, f.hostLo(V6, 0x200));
        assertEquals(0x200, f.guestLo(V6, 2));
        assertEquals(0x7f000001, out4(f, GW), "the host-loopback mapping is still there");
    }

    /** The interface a socket is bound to (SO_BINDTODEVICE), "" if none. */
    static String boundDevice(int fd) {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment name = a.allocate(16);
            java.lang.foreign.MemorySegment len = a.allocate(4);
            len.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, 16);
            jpasst.sys.Sockets.getsockopt(fd, jpasst.sys.Sockets.SOL_SOCKET, jpasst.sys.Sockets.SO_BINDTODEVICE, name, len);
            return name.getString(0);
        }
    }

    @Test
    void outboundInterfaceBindsHostSocketsButNotThoseToTheHostsLoopback() {
        AddressMapping f = flows("--outbound-if4", "lo", "--outbound-if6", "lo");
        AddressMapping none = flows();
        int[] fds = new int[4];
        try {
            for (int i = 0; i < fds.length; i++) {
                fds[i] = jpasst.sys.Sockets.socket(jpasst.sys.Sockets.AF_INET, jpasst.sys.Sockets.SOCK_DGRAM, 0);
            }
            f.bindOutboundDevice(fds[0], 0, lo(OTHER));
            f.bindOutboundDevice(fds[1], 0, lo(0x7f000001));
            none.bindOutboundDevice(fds[2], 0, lo(OTHER));
            f.bindOutboundDevice(fds[3], V6, 7);
            assertEquals("lo", boundDevice(fds[0]), "--outbound-if4 lo");
            assertEquals("", boundDevice(fds[1]), "to the host's loopback: not bound");
            assertEquals("", boundDevice(fds[2]), "no --outbound-if4");
        } finally {
            for (int fd : fds) jpasst.sys.Descriptors.close(fd);
        }
    }

    @Test
    void guestAddrMappedPerFamily() {
        assertFalse(flows().guestAddrMapped(false));
        assertTrue(flows("--map-guest-addr", "192.0.2.200").guestAddrMapped(false));
        assertFalse(flows("--map-guest-addr", "192.0.2.200").guestAddrMapped(true));
        assertTrue(flows("--map-guest-addr", "2001:db8::200").guestAddrMapped(true));
    }

    /**
     * Through a daemon: a datagram the host sends from its own address (the guest's too) to a -u
     * port reaches the guest from the --map-guest-addr address; without it, from the gateway.
     * Needs the test address 192.0.2.2 on this host (the test machines have it), else skipped.
     */
    @Test
    void udpFromTheHostsOwnAddressComesFromTheMapGuestAddrAddress() throws Exception {
        java.net.InetAddress own = java.net.InetAddress.getByName("192.0.2.2");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.net.NetworkInterface.getByInetAddress(own) != null,
                "192.0.2.2 is not an address of this host");
        for (int alias : new int[] {ip4("192.0.2.200"), 0}) {
            int port;
            try (java.net.DatagramSocket probe = new java.net.DatagramSocket(0)) {
                port = probe.getLocalPort();
            }
            try (jpasst.testutil.InProcessPasst p = new jpasst.testutil.InProcessPasst(c -> {
                        c.udpSpecs.add(port + ":5353");
                        c.mapGuestAddr4 = alias;
                    });
                 jpasst.guest.GuestLink g = p.connect();
                 java.net.DatagramSocket host = new java.net.DatagramSocket(new java.net.InetSocketAddress(own, 0))) {
                host.send(new java.net.DatagramPacket(new byte[] {1, 2, 3}, 3, new java.net.InetSocketAddress(own, port)));
                byte[] f = g.receive(3000, x -> x.length > 42 && (x[23] & 0xff) == 17
                        && ((x[34] & 0xff) << 8 | (x[35] & 0xff)) == host.getLocalPort());
                org.junit.jupiter.api.Assertions.assertNotNull(f, "datagram not delivered");
                int src = (f[26] & 0xff) << 24 | (f[27] & 0xff) << 16 | (f[28] & 0xff) << 8 | (f[29] & 0xff);
                assertEquals(alias != 0 ? alias : GW, src);
            }
        }
    }

    @Test
    void mapGuestAddrFollowsAnAddressGivenWithA() {
        Conf.Builder c = Options.parse(new String[] {"-a", "192.0.2.9", "--map-guest-addr", "192.0.2.200"}).conf();
        c.gw4 = GW;
        AddressMapping f = new AddressMapping(c.build(), new Guest());
        assertEquals(ip4("192.0.2.9"), out4(f, ip4("192.0.2.200")));
    }

    @Test
    void dnsToTheForwardAddressGoesToTheHostsResolverOnPorts53And853Only() {
        int match = ip4("198.51.100.53"), resolver = ip4("203.0.113.53");
        AddressMapping f = flows("--dns-forward", "198.51.100.53", "--dns-forward", "2001:db8::53",
                "--dns-host", "203.0.113.53", "--dns-host", "2001:db8:1::53");
        for (int port : new int[] {53, 853}) {
            assertEquals(0, f.targetHi(0, lo(match), port));
            assertEquals(lo(resolver), f.targetLo(0, lo(match), port), "IPv4, port " + port);
            assertEquals(0x2001_0db8_0001_0000L, f.targetHi(V6, 0x53, port));
            assertEquals(0x53, f.targetLo(V6, 0x53, port), "IPv6, port " + port);
        }
        assertEquals(lo(match), f.targetLo(0, lo(match), 80), "another port of that address stays");
        assertEquals(V6, f.targetHi(V6, 0x53, 5353));
        assertEquals(lo(OTHER), f.targetLo(0, lo(OTHER), 53), "port 53 of another address stays");
        assertEquals(lo(0x7f000001), f.targetLo(0, lo(GW), 53), "the gateway is still the host's loopback");
    }

    @Test
    void withALoopbackResolverDnsToTheGatewayGoesToItWithoutDnsForward() {
        Conf.Builder c = Options.parse(new String[0]).conf();
        c.addr4 = HOST;
        c.gw4 = GW;
        c.dnsHost4 = ip4("127.0.0.53"); // resolv.conf named a loopback resolver
        AddressMapping f = new AddressMapping(c.build(), new Guest());
        assertEquals(lo(ip4("127.0.0.53")), f.targetLo(0, lo(GW), 53));
        assertEquals(lo(ip4("127.0.0.53")), f.targetLo(0, lo(GW), 853));
        assertEquals(lo(0x7f000001), f.targetLo(0, lo(GW), 8080));
    }
}
