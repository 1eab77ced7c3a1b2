package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import jpasst.guest.GuestStack;

/**
 * passt's local mode for disconnected setups: on a host with no interface but loopback (here a
 * network namespace of its own), the daemon still starts and serves, as current passt does. The
 * guest gets 169.254.2.1/16 by DHCP with 169.254.2.2 as its router, and that router stands for
 * the host's loopback: an echo request to it is answered by the host.
 */
class DisconnectedHostTest {
    private static final int LOCAL_ADDR = 0xa9fe0201, LOCAL_GW = 0xa9fe0202;

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Daemon.Kind.class, names = {"UPSTREAM", "JPASST"})
    void withoutAnyHostInterfaceTheGuestGetsALinkLocalLeaseAndReachesTheHost(Daemon.Kind kind) throws Exception {
        assumeTrue(Processes.effectiveUid() == 0, "needs root for a network namespace of its own");
        // loopback up, echo requests allowed for every group (the daemon runs as nobody)
        String setUp = "ip link set lo up && sysctl -qw net.ipv4.ping_group_range='0 2147483647' && exec \"$@\"";
        try (Daemon daemon = Daemon.options(kind)
                .prefix("/usr/bin/unshare", "--net", "--", "/bin/sh", "-c", setUp, "sh")
                .start();
             GuestStack g = GuestStack.stream(daemon.socket().toString())) {
            assertEquals(0, daemon.launcherExitCode(), daemon.describe());
            assertTrue(g.dhcp(10_000), "no DHCP lease\n" + daemon.describe());
            assertEquals(LOCAL_ADDR, g.address4(), "the guest's address");
            assertEquals(16, g.prefix4(), "its prefix");
            assertEquals(LOCAL_GW, g.gateway4(), "its router");
            assertTrue(g.arpGateway(5_000), "no ARP reply from the router");
            g.ping4(LOCAL_GW, 0x4c4d, 1, 56);
            assertTrue(g.pollUntil(() -> g.lastEchoSeq == 1, 5_000),
                    "no echo reply from the host's loopback through the router\n" + daemon.describe());
        }
    }
}
