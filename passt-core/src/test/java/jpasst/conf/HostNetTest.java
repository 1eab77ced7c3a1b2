package jpasst.conf;

import static jpasst.guest.Frames.ip;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Host discovery from /proc/net/route, /proc/net/ipv6_route and resolv.conf as the kernel writes them. */
class HostNetTest {
    @TempDir
    Path dir;

    static final String ROUTE = """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            eth1\t00C6A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
            eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
            """;
    static final String ROUTE6 = """
            fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
            00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
            00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
            """;

    @Test
    void firstDefaultRouteGivesInterfaceAndGateway() throws Exception {
        Path r = Files.writeString(dir.resolve("route"), ROUTE);
        assertArrayEquals(new String[] {"eth0", "010200C0"}, HostNet.defaultRoute4(r.toString(), null));
        assertNull(HostNet.defaultRoute4(r.toString(), "eth1"));
    }

    @Test
    void ipv6DefaultRouteSkipsLoopback() throws Exception {
        Path r = Files.writeString(dir.resolve("route6"), ROUTE6);
        String[] d = HostNet.defaultRoute6(r.toString(), null);
        assertEquals("eth0", d[0]);
        assertEquals("fd000000000000000000000000000001", d[1]);
    }

    @Test
    void explicitAddressesAndResolvConfComplete() throws Exception {
        Path r = Files.writeString(dir.resolve("route"), ROUTE);
        Path r6 = Files.writeString(dir.resolve("route6"), "");
        Path resolv = Files.writeString(dir.resolve("resolv.conf"), """
                # comment
                nameserver 127.0.0.53
                nameserver 198.51.100.53
                nameserver 2001:db8::53
                nameserver 198.51.100.54
                nameserver 198.51.100.55
                search example.org lab.example.org
                options edns0
                """);
        Conf.Builder c = Options.parse(new String[] {"-a", "192.0.2.9", "-n", "24", "-4"}).conf();
        HostNet.complete(c, r.toString(), r6.toString(), resolv.toString());
        assertEquals(ip("192.0.2.1"), c.gw4, "gateway from the route table (little-endian hex)");
        assertEquals("eth0", c.ifname4);
        // the loopback resolver is reachable through the gateway mapping: handed out as the gateway
        assertArrayEquals(new int[] {ip("192.0.2.1"), ip("198.51.100.53"), ip("198.51.100.54")}, c.dns4);
        assertEquals(List.of("example.org", "lab.example.org"), c.search);
    }

    @Test
    void noMapGwLeavesLoopbackResolversOut() throws Exception {
        Path r = Files.writeString(dir.resolve("route"), ROUTE);
        Path resolv = Files.writeString(dir.resolve("resolv.conf"), "nameserver 127.0.0.53\nnameserver 198.51.100.53\n");
        Conf.Builder c = Options.parse(new String[] {"-a", "192.0.2.9", "-n", "24", "--no-map-gw", "-4"}).conf();
        HostNet.complete(c, r.toString(), dir.resolve("none").toString(), resolv.toString());
        assertArrayEquals(new int[] {ip("198.51.100.53")}, c.dns4);
    }

    @Test
    void explicitDnsAndSearchWin() throws Exception {
        Path r = Files.writeString(dir.resolve("route"), ROUTE);
        Path resolv = Files.writeString(dir.resolve("resolv.conf"), "nameserver 198.51.100.53\nsearch x.example\n");
        Conf.Builder c = Options.parse(new String[] {"-a", "192.0.2.9", "-n", "24", "-4", "-D", "203.0.113.1", "-S", "y.example"}).conf();
        HostNet.complete(c, r.toString(), dir.resolve("none").toString(), resolv.toString());
        assertArrayEquals(new int[] {ip("203.0.113.1")}, c.dns4);
        assertEquals(List.of("y.example"), c.search);
    }

    @Test
    void thisHostsRealConfigurationHasAnAddressAndGateway() {
        Conf.Builder c = Options.parse(new String[0]).conf();
        HostNet.complete(c);
        if (c.v4) {
            assertFalse(c.addr4 == 0);
            assertFalse(c.gw4 == 0);
            assertFalse(c.prefix4 == 0);
        }
    }

    @Test
    void withoutAnIpv4RouteTheGuestGetsPasstsLocalModeAddressesAndTheOptionsStillCount() throws Exception {
        Path r = Files.writeString(dir.resolve("route"), "Iface\tDestination\tGateway \tFlags\n");
        Path none = dir.resolve("none");
        Conf.Builder c = Options.parse(new String[0]).conf();
        HostNet.complete(c, r.toString(), none.toString(), none.toString());
        assertEquals(true, c.v4, "IPv4 stays on");
        assertNull(c.ifname4, "no template interface");
        assertEquals(ip("169.254.2.1"), c.addr4);
        assertEquals(16, c.prefix4);
        assertEquals(ip("169.254.2.2"), c.gw4);
        assertEquals(ip("169.254.2.2"), c.hostLoopbackMap4(), "the router stands for the host");

        Conf.Builder given = Options.parse(new String[] {"-g", "169.254.9.9", "-n", "24"}).conf();
        HostNet.complete(given, r.toString(), none.toString(), none.toString());
        assertEquals(ip("169.254.2.1"), given.addr4);
        assertEquals(24, given.prefix4);
        assertEquals(ip("169.254.9.9"), given.gw4);
    }
}
