package jpasst.conf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import jpasst.sys.SockAddr;

/**
 * IPv6 host discovery: the default route's interface and gateway from /proc/net/ipv6_route, the
 * address and prefix, and passt's own link-local address — the gateway's when that is link-local
 * (the guest then talks to "the same" router as the host), fe80::1 otherwise.
 */
class HostNet6Test {
    @TempDir
    Path dir;

    private static String route6(String iface, String gatewayHex) {
        return "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
                + "00000000000000000000000000000000 00000100 00000001 00000000 00000001 " + iface + "\n"
                + "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                + gatewayHex + " 00000400 00000001 00000000 00000003 " + iface + "\n";
    }

    private Conf discover(String route6, String address) throws Exception {
        Conf.Builder c = new Conf.Builder();
        c.v4 = false;
        if (address != null) {
            long[] a = AddressLiteral.requireIp6(address);
            c.addr6Hi = a[0];
            c.addr6Lo = a[1];
            c.addr6Set = true;
        }
        HostNet.complete(c, dir.resolve("none").toString(), Files.writeString(dir.resolve("ipv6_route"), route6).toString(),
                Files.writeString(dir.resolve("resolv.conf"), "nameserver 2001:db8::53\n").toString());
        return c.build();
    }

    @Test
    void globalGatewayMeansOurLinkLocalIsFe80Colon1() throws Exception {
        Conf c = discover(route6("eth9", "fd000000000000000000000000000001"), "fd00::2");
        assertTrue(c.v6);
        assertEquals("eth9", c.ifname6);
        assertEquals("fd00::1", SockAddr.ip6String(c.gw6Hi, c.gw6Lo));
        assertEquals("fe80::1", SockAddr.ip6String(c.ourLl6Hi, c.ourLl6Lo));
        assertEquals("2001:db8::53", SockAddr.ip6String(c.dns6[0], c.dns6[1]));
    }

    @Test
    void linkLocalGatewayIsOurLinkLocal() throws Exception {
        Conf c = discover(route6("eth9", "fe80000000000000020c29fffe123456"), "2001:db8::2");
        assertTrue(c.v6);
        assertEquals("fe80::20c:29ff:fe12:3456", SockAddr.ip6String(c.gw6Hi, c.gw6Lo));
        assertEquals("fe80::20c:29ff:fe12:3456", SockAddr.ip6String(c.ourLl6Hi, c.ourLl6Lo));
    }

    private static final String LOOPBACK6 = "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
            + "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n";

    @Test
    void noAddressOnTheRouteInterfaceMeansPasstsLocalMode() throws Exception {
        Conf c = discover(route6("jpasstnone0", "fd000000000000000000000000000001") + LOOPBACK6, null);
        assertTrue(c.v6, "IPv6 stays on");
        assertEquals("::", SockAddr.ip6String(c.addr6Hi, c.addr6Lo), "no address to hand out");
        assertEquals("fe80::1", SockAddr.ip6String(c.gw6Hi, c.gw6Lo), "the router");
        assertEquals("fe80::1", SockAddr.ip6String(c.ourLl6Hi, c.ourLl6Lo));
        assertEquals("fe80::1", SockAddr.ip6String(c.hostLoopbackMap6Hi(), c.hostLoopbackMap6Lo()),
                "which stands for the host's loopback");
        assertTrue(c.noDhcpv6, "no DHCPv6: nothing to assign");
    }

    /** A configuration of IPv6 alone with {@code -g gateway}. */
    private static Conf.Builder ipv6WithGateway(String gateway) {
        Conf.Builder b = new Conf.Builder();
        b.v4 = false;
        long[] g = AddressLiteral.requireIp6(gateway);
        b.gw6Hi = g[0];
        b.gw6Lo = g[1];
        b.gw6Set = true;
        return b;
    }

    /** A link-local -g in local mode is the router, and so our own link-local address, as outside it. */
    @Test
    void inLocalModeALinkLocalGatewayGivenIsOurLinkLocalAddress() throws Exception {
        Conf.Builder b = ipv6WithGateway("fe80::77");
        HostNet.complete(b, dir.resolve("none").toString(),
                Files.writeString(dir.resolve("ipv6_route"), route6("jpasstnone0", "fd000000000000000000000000000001") + LOOPBACK6).toString(),
                Files.writeString(dir.resolve("resolv.conf"), "nameserver 2001:db8::53\n").toString());
        Conf c = b.build();
        assertEquals("fe80::77", SockAddr.ip6String(c.gw6Hi, c.gw6Lo));
        assertEquals("fe80::77", SockAddr.ip6String(c.ourLl6Hi, c.ourLl6Lo), "the router is us");
    }

    @Test
    void withoutIpv6OnTheHostsLoopbackThereIsNoLocalModeAndIpv6IsOff() throws Exception {
        ConfException e = org.junit.jupiter.api.Assertions.assertThrows(ConfException.class,
                () -> discover(route6("jpasstnone0", "fd000000000000000000000000000001"), null));
        assertEquals("External interface not usable", e.getMessage(), "IPv4 is off too here");
    }

    @Test
    void explicitGatewayWins() throws Exception {
        Conf.Builder c = ipv6WithGateway("fe80::77");
        long[] a = AddressLiteral.requireIp6("2001:db8::2");
        c.addr6Hi = a[0];
        c.addr6Lo = a[1];
        c.addr6Set = true;
        HostNet.complete(c, dir.resolve("none").toString(), Files.writeString(dir.resolve("ipv6_route"),
                route6("eth9", "fd000000000000000000000000000001")).toString(), dir.resolve("none").toString());
        assertEquals("fe80::77", SockAddr.ip6String(c.gw6Hi, c.gw6Lo));
        assertEquals("fe80::77", SockAddr.ip6String(c.ourLl6Hi, c.ourLl6Lo));
    }

    @Test
    void thisHostsIpv6ConfigurationIsFound() throws Exception {
        String routes = Files.readString(Path.of("/proc/net/ipv6_route"));
        assumeTrue(HostNet.defaultRoute6("/proc/net/ipv6_route", null) != null,
                "no IPv6 default route here:\n" + routes);
        Conf.Builder c = new Conf.Builder();
        c.v4 = false;
        HostNet.complete(c, dir.resolve("none").toString(), "/proc/net/ipv6_route", dir.resolve("none").toString());
        assumeTrue(c.v6, "no global IPv6 address on the default route's interface");
        assertTrue(c.addr6Hi != 0 || c.addr6Lo != 0);
        assertTrue(c.prefix6 > 0 && c.prefix6 <= 128);
        assertTrue(c.gw6Hi != 0 || c.gw6Lo != 0);
        assertTrue((c.ourLl6Hi >>> 48) == 0xfe80, "a link-local address for us");
    }
}
