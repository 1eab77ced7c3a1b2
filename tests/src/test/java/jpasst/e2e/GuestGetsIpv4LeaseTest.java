package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;

/**
 * A real guest (busybox udhcpc under QEMU) asks the daemon for an IPv4 lease and must get what
 * passt promises: the host's own address and prefix, the host's default gateway as router, the
 * host's resolvers (a loopback resolver replaced by the gateway) and search list, and MTU 65520.
 * Expectations are computed from the host ({@link HostNetwork}), not hard-coded, and the same test
 * runs against the reference passt and against jpasst.
 */
class GuestGetsIpv4LeaseTest {

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void leaseCarriesHostAddressGatewayResolversAndMtu65520(Target target) {
        HostNetwork.Ipv4 host = HostNetwork.ipv4();
        HostNetwork.ResolvConf resolv = HostNetwork.resolvConf(Path.of("/etc/resolv.conf"));
        try (Daemon daemon = Daemon.start(target)) {
            GuestRun guest = Guest.run(daemon, "dhcp4");
            assertLease(daemon, guest, host, HostNetwork.expectedDhcpDnsServers(resolv, host), resolv.search());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void loopbackResolverIsHandedOutAsGatewayAndSearchListIsPassedOn(Target target, @TempDir Path dir)
            throws IOException {
        List<String> search = List.of("example.org", "sub.example.org", "lab.test");
        Path resolvConf = writeResolvConf(dir, """
                # a systemd-resolved style stub first, then an ordinary resolver
                nameserver 127.0.0.53
                nameserver 198.51.100.53
                search example.org sub.example.org lab.test
                """);
        HostNetwork.Ipv4 host = HostNetwork.ipv4();
        List<String> expectedDns = HostNetwork.expectedDhcpDnsServers(HostNetwork.resolvConf(resolvConf), host);
        assertEquals(List.of(host.gateway().getHostAddress(), "198.51.100.53"), expectedDns, "the test's own rule");

        try (Daemon daemon = Daemon.options(target).resolvConf(resolvConf).start()) {
            GuestRun guest = Guest.run(daemon, "dhcp4");
            assertLease(daemon, guest, host, expectedDns, search);
        }
    }

    /**
     * Option 119 uses DNS name compression. The reference passt (2023) gets it wrong when the tail
     * of a name equals a label of an earlier name that is not that name's tail: for
     * "example.org corp.example" it sends "corp" plus a pointer to "example.org", and the guest
     * reads "corp.example.org" (seen in a pcap of the reply). jpasst must not copy that bug, so
     * this test runs against jpasst only.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#jpasst")
    void searchDomainWhoseLabelAppearsInsideAnEarlierOneIsNotMangled(Target target, @TempDir Path dir)
            throws IOException {
        Path resolvConf = writeResolvConf(dir, """
                nameserver 198.51.100.53
                search example.org corp.example
                """);
        try (Daemon daemon = Daemon.options(target).resolvConf(resolvConf).start()) {
            GuestRun guest = Guest.run(daemon, "dhcp4");
            assertEquals(List.of("example.org", "corp.example"), words(field(guest, "DHCP4_SEARCH")),
                    "domain search list\n" + daemon.describe() + guest.consoleForMessage());
        }
    }

    private static Path writeResolvConf(Path dir, String content) throws IOException {
        assumeTrue(Daemon.canOverrideResolvConf(), "needs root to bind-mount a resolv.conf in a mount namespace");
        return Files.writeString(dir.resolve("resolv.conf"), content);
    }

    private static void assertLease(Daemon daemon, GuestRun guest, HostNetwork.Ipv4 host, List<String> dns,
                                    List<String> search) {
        String context = "\n" + daemon.describe() + guest.consoleForMessage();
        assertEquals("bound", guest.optionalMarker("DHCP4_EVENT").orElse("<none>"), "udhcpc got no lease" + context);
        assertAll("lease from " + daemon.kind() + context,
                () -> assertEquals("0", field(guest, "DHCP4_EXIT"), "udhcpc exit status"),
                () -> assertEquals(host.address().getHostAddress(), field(guest, "DHCP4_IP"),
                        "leased address = host's address on " + host.interfaceName()),
                () -> assertEquals(Integer.toString(host.prefixLength()), field(guest, "DHCP4_PREFIX"), "prefix length"),
                () -> assertEquals(host.netmask(), field(guest, "DHCP4_SUBNET"), "subnet mask"),
                () -> assertEquals(host.gateway().getHostAddress(), field(guest, "DHCP4_ROUTER"),
                        "router = host's default gateway"),
                () -> assertEquals(dns, words(field(guest, "DHCP4_DNS")), "DNS servers"),
                () -> assertEquals(search, words(field(guest, "DHCP4_SEARCH")), "domain search list"),
                () -> assertEquals("65520", field(guest, "DHCP4_MTU"), "MTU option"),
                () -> assertEquals("4294967295", field(guest, "DHCP4_LEASE"), "infinite lease time"),
                () -> assertEquals("65520", field(guest, "IF_MTU"), "interface MTU after the lease"),
                () -> assertEquals(host.address().getHostAddress() + "/" + host.prefixLength(),
                        field(guest, "IF_ADDR"), "interface address after the lease"),
                () -> assertEquals(0, guest.scriptExitStatus(), "guest script exit status"));
    }

    private static String field(GuestRun guest, String key) {
        return guest.optionalMarker(key).orElse("<no @@" + key + " marker>");
    }

    private static List<String> words(String text) {
        return text.isBlank() ? List.of() : Arrays.asList(text.strip().split("\\s+"));
    }
}
