package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;

import org.junit.jupiter.api.Test;

import jpasst.guest.GuestStack;

/**
 * passt's local mode for disconnected setups: on a host with no interface but loopback (here a
 * network namespace of its own), the daemon still starts and serves, as current passt does. The
 * guest gets 169.254.2.1/16 by DHCP with 169.254.2.2 as its router, and that router stands for
 * the host's loopback: an echo request to it is answered by the host. IPv6 likewise: the guest
 * keeps its link-local address, and fe80::1 is its router and the host's loopback. Upstream passt of 2026-03,
 * when it is there, passes the same test (Debian's of 2023 has no local mode).
 */
class DisconnectedHostTest {
    private static final int LOCAL_ADDR = 0xa9fe0201, LOCAL_GW = 0xa9fe0202;
    private static final long LOCAL_GW6_HI = 0xfe80L << 48; // fe80::1

    @Test
    void withoutAnyHostInterfaceTheGuestGetsALinkLocalLeaseAndReachesTheHost() throws Exception {
        assumeTrue(Processes.effectiveUid() == 0, "needs root for a network namespace of its own");
        leaseAndEchoInAnEmptyNamespace(Daemon.Kind.JPASST);
        if (Files.isExecutable(Daemon.Kind.upstreamBinary())) leaseAndEchoInAnEmptyNamespace(Daemon.Kind.UPSTREAM);
    }

    private static void leaseAndEchoInAnEmptyNamespace(Daemon.Kind kind) throws Exception {
        // loopback up, echo requests allowed for every group (the daemon runs as nobody)
        String setUp = "ip link set lo up && sysctl -qw net.ipv4.ping_group_range='0 2147483647' && exec \"$@\"";
        try (Daemon daemon = Daemon.options(kind)
                .prefix("/usr/bin/unshare", "--net", "--", "/bin/sh", "-c", setUp, "sh")
                .start();
             GuestStack g = GuestStack.stream(daemon.socket().toString())) {
            assertEquals(0, daemon.launcherExitCode(), daemon.describe());
            assertTrue(g.dhcp(10_000), kind + ": no DHCP lease\n" + daemon.describe());
            assertEquals(LOCAL_ADDR, g.address4(), kind + ": the guest's address");
            assertEquals(16, g.prefix4(), kind + ": its prefix");
            assertEquals(LOCAL_GW, g.gateway4(), kind + ": its router");
            assertTrue(g.arpGateway(5_000), kind + ": no ARP reply from the router");
            g.ping4(LOCAL_GW, 0x4c4d, 1, 56);
            assertTrue(g.pollUntil(() -> g.lastEchoSeq == 1, 5_000),
                    kind + ": no echo reply from the host's loopback through the router\n" + daemon.describe());
            // IPv6: no address to take, but a router at fe80::1, the host's loopback too
            g.slaac(1_500); // a router solicitation; jpasst's advertisement has no prefix to take
            assertTrue(g.routerMac() != jpasst.guest.net.Ethernet.BROADCAST, kind + ": no router advertisement");
            g.ping6(LOCAL_GW6_HI, 1, 0x4c4d, 2, 56);
            assertTrue(g.pollUntil(() -> g.lastEchoSeq == 2, 5_000),
                    kind + ": no echo reply from the host's loopback through fe80::1\n" + daemon.describe());
        }
    }
}
