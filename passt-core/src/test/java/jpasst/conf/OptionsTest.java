package jpasst.conf;

import static jpasst.guest.Frames.ip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import jpasst.util.Log;

/**
 * passt's command line with getopt_long's rules, current passt's meaning of every option of
 * {@code man passt} (passt mode), its defaults and its error messages.
 */
class OptionsTest {
    private static Conf parse(String... args) {
        return Options.parse(args).conf().build();
    }

    private static String error(String... args) {
        return assertThrows(ConfException.class, () -> Options.parse(args)).getMessage();
    }

    private static boolean usageFollows(String... args) {
        return assertThrows(ConfException.class, () -> Options.parse(args)).usage();
    }

    // ---- the command lines real users run ----

    @Test
    void kataCommandLine() {
        Conf c = parse("-P", "/run/x.pid", "-s", "/run/x.sock");
        assertEquals("/run/x.pid", c.pidFile);
        assertEquals("/run/x.sock", c.socketPath);
        assertFalse(c.foreground);
        assertEquals(Conf.MTU_DEFAULT, c.mtu);
    }

    @Test
    void libvirtCommandLine() {
        Conf c = parse("--one-off", "--socket", "/run/s", "--pid", "/run/p", "--mtu", "65520",
                "--address", "192.0.2.9", "--netmask", "24", "--tcp-ports", "2222:22", "--udp-ports", "5353");
        assertTrue(c.oneOff);
        assertEquals(ip("192.0.2.9"), c.addr4);
        assertEquals(24, c.prefix4);
        assertEquals(List.of("2222:22"), c.tcpSpecs);
        assertEquals(List.of("5353"), c.udpSpecs);
    }

    @Test
    void libvirtCommandLineWithIpv6AddressInterfaceAndLogFile() {
        Conf c = parse("--one-off", "--socket", "/run/s", "--pid", "/run/p", "--address", "192.0.2.9",
                "--netmask", "24", "--address", "2001:db8::9", "--interface", "lo", "--log-file", "/run/l");
        assertEquals(ip("192.0.2.9"), c.addr4);
        assertEquals(0x20010db8_00000000L, c.addr6Hi);
        assertEquals(9, c.addr6Lo);
        assertEquals("lo", c.ifname4);
        assertEquals("lo", c.ifname6);
        assertEquals("/run/l", c.logFile);
    }

    @Test
    void qemuNetdevPasstCommandLineImpliesOneOff() {
        Conf c = parse("--quiet", "--pid", "/tmp/p", "--fd", "3");
        assertEquals(3, c.fd);
        assertTrue(c.oneOff);
        assertEquals(Log.WARN, c.logLevel);
    }

    @Test
    void getoptForms() {
        Conf c = parse("-fq1", "-s/tmp/a", "--pid=/tmp/b", "--mac-addr", "02:00:00:00:00:01", "--one");
        assertTrue(c.foreground);
        assertTrue(c.quiet);
        assertTrue(c.oneOff);
        assertEquals("/tmp/a", c.socketPath);
        assertEquals("/tmp/b", c.pidFile);
        assertEquals(0x020000000001L, c.ourMac);
    }

    @Test
    void socketPathIsAnotherNameOfSocketAndItsAbbreviationIsNotAmbiguous() {
        assertEquals("/tmp/a", parse("--socket-path", "/tmp/a").socketPath);
        assertEquals("/tmp/b", parse("--sock", "/tmp/b").socketPath);
        assertEquals("/tmp/c", parse("--socket-p=/tmp/c").socketPath);
    }

    // ---- logging ----

    @Test
    void logLevels() {
        assertEquals(Log.INFO, parse().logLevel);
        assertEquals(Log.DEBUG, parse("-d").logLevel);
        assertEquals(Log.TRACE, parse("--trace").logLevel);
        assertEquals(Log.WARN, parse("-q").logLevel);
        // current passt: the last of -q, -d, --trace wins
        assertEquals(Log.DEBUG, parse("-q", "-d").logLevel);
        assertEquals(Log.WARN, parse("--trace", "-q").logLevel);
        assertFalse(parse("-q", "-d").quiet);
    }

    @Test
    void stderrIsDeprecatedAndOnlyWarns() {
        Options.Parsed p = Options.parse(new String[] {"-e"});
        assertEquals(List.of("--stderr will be dropped soon"), p.warnings());
        assertEquals(List.of("--stderr will be dropped soon"), Options.parse(new String[] {"--stderr"}).warnings());
        assertEquals(List.of(), Options.parse(new String[] {"-f"}).warnings());
    }

    @Test
    void logFileAndLogSize() {
        Conf c = parse("-l", "/tmp/a.log", "--log-size", "65536");
        assertEquals("/tmp/a.log", c.logFile);
        assertEquals(65536, c.logSize);
        assertEquals(1 << 20, parse().logSize);
        assertEquals("/tmp/b.log", parse("-l", "/tmp/a.log", "--log-file", "/tmp/b.log").logFile);
        assertEquals(40960, parse("--log-size", "40960").logSize);
        assertEquals(0x10000, parse("--log-size", "0x10000").logSize);
        assertEquals("Invalid --log-size: 40959", error("--log-size", "40959"));
        assertEquals("Invalid --log-size: 1024", error("--log-size", "1024"));
        assertEquals("Invalid --log-size: big", error("--log-size", "big"));
    }

    // ---- guest side ----

    @Test
    void socketAndFdTheLastOneWins() {
        Conf fd = parse("-s", "/tmp/a", "-F", "5");
        assertEquals(5, fd.fd);
        assertNull(fd.socketPath);
        assertTrue(fd.oneOff);
        Conf sock = parse("-F", "5", "-s", "/tmp/a");
        assertEquals(-1, sock.fd);
        assertEquals("/tmp/a", sock.socketPath);
        assertEquals("/tmp/b", parse("-s", "/tmp/a", "-s", "/tmp/b").socketPath);
    }

    @Test
    void fdTakesStandardInputButNotOutputOrError() {
        assertEquals(0, parse("--fd", "0").fd);
        assertEquals(10, parse("--fd", "0xa").fd);
        assertEquals("Invalid --fd: 1", error("--fd", "1"));
        assertEquals("Invalid --fd: 2", error("--fd", "2"));
        assertEquals("Invalid --fd: -3", error("--fd", "-3"));
        assertEquals("Invalid --fd: 99999999999", error("--fd", "99999999999"));
        assertEquals("Invalid --fd: abc", error("-F", "abc"));
    }

    @Test
    void socketPathMustFitSunPath() {
        String ok = "/" + "s".repeat(106);
        assertEquals(ok, parse("-s", ok).socketPath);
        String tooLong = "/" + "s".repeat(107);
        assertEquals("Invalid socket path: " + tooLong, error("-s", tooLong));
        assertEquals("Invalid socket path: ", error("-s", ""));
    }

    @Test
    void pcapAndPidFiles() {
        Conf c = parse("-p", "/tmp/c.pcap", "-P", "/tmp/c.pid");
        assertEquals("/tmp/c.pcap", c.pcapFile);
        assertEquals("/tmp/c.pid", c.pidFile);
        assertEquals("/tmp/d.pcap", parse("-p", "/tmp/c.pcap", "--pcap", "/tmp/d.pcap").pcapFile);
        assertEquals("Invalid pcap path: ", error("-p", ""));
        assertEquals("Invalid PID file: ", error("-P", ""));
    }

    @Test
    void oneOffAndForeground() {
        assertFalse(parse().oneOff);
        assertTrue(parse("-1").oneOff);
        assertTrue(parse("--one-off").oneOff);
        assertTrue(parse("-f").foreground);
        assertTrue(parse("--foreground").foreground);
    }

    // ---- MTU, addresses ----

    @Test
    void mtu() {
        assertEquals(65520, parse().mtu);
        assertEquals(1500, parse("-m", "1500").mtu);
        assertEquals(0, parse("-m", "0").mtu);
        assertEquals(65521, parse("--mtu", "65521").mtu);
        assertEquals(20, parse("-m", "20").mtu); // passt: only a warning once the IP versions are known
        assertEquals("MTU 65522 too large (max 65521)", error("-m", "65522"));
        assertEquals("Invalid MTU: 1500x", error("-m", "1500x"));
        assertEquals("Invalid MTU: ", error("-m", ""));
        assertEquals("Invalid MTU: -1", error("-m", "-1"));
    }

    @Test
    void mtuZeroDisablesAssignment() {
        assertEquals(0, parse("-m", "0").mtu);
    }

    @Test
    void addressWithPrefixAndDottedNetmask() {
        Conf c = parse("-a", "192.0.2.9/20");
        assertEquals(20, c.prefix4);
        assertEquals(16, parse("-n", "255.255.0.0").prefix4);
        Conf six = parse("-a", "2001:db8::9", "-g", "2001:db8::1");
        assertEquals(0x20010db8_00000000L, six.addr6Hi);
        assertEquals(9, six.addr6Lo);
        assertEquals(1, six.gw6Lo);
    }

    @Test
    void addressWithoutPrefixTakesItsClassPrefix() {
        assertEquals(8, parse("-a", "10.1.2.3").prefix4);
        assertEquals(16, parse("-a", "172.16.1.2").prefix4);
        assertEquals(24, parse("-a", "192.0.2.9").prefix4);
        assertEquals(32, parse("-a", "240.0.0.1").prefix4);
        assertEquals(22, parse("-n", "22", "-a", "10.1.2.3").prefix4); // -n before -a still counts
        assertEquals(22, parse("-a", "10.1.2.3", "-n", "22").prefix4);
    }

    @Test
    void addressesOfBothFamiliesAndTheLastOfEachWins() {
        Conf c = parse("-a", "192.0.2.9", "-a", "2001:db8::9", "-a", "192.0.2.10", "-a", "2001:db8::a/56");
        assertEquals(ip("192.0.2.10"), c.addr4);
        assertEquals(0xa, c.addr6Lo);
        assertEquals(64, c.prefix6, "passt overrides an IPv6 prefix length with 64");
        assertTrue(c.addr4Set);
        assertTrue(c.addr6Set);
    }

    @Test
    void badAddresses() {
        assertEquals("Invalid address: 300.1.1.1", error("-a", "300.1.1.1"));
        assertEquals("Invalid address: 127.0.0.1", error("-a", "127.0.0.1"));
        assertEquals("Invalid address: 0.0.0.0", error("-a", "0.0.0.0"));
        assertEquals("Invalid address: 224.0.0.1", error("-a", "224.0.0.1"));
        assertEquals("Invalid address: ::1", error("-a", "::1"));
        assertEquals("Invalid address: ::", error("-a", "::"));
        assertEquals("Invalid address: ff02::1", error("-a", "ff02::1"));
        assertEquals("Invalid address: ::192.0.2.1", error("-a", "::192.0.2.1")); // IPv4-compatible
        assertEquals("Invalid address: 192.0.2.1/33", error("-a", "192.0.2.1/33"));
        assertEquals("Invalid address: 2001:db8::1/129", error("-a", "2001:db8::1/129"));
        assertEquals("Invalid address: 192.0.2.1/", error("-a", "192.0.2.1/"));
        assertEquals("Invalid address: host.example", error("-a", "host.example"));
    }

    @Test
    void addressesAreReadAsInetPtonReadsThemLeadingZerosRefused() {
        // passt reads every address with inet_pton(), which refuses a leading zero in a part
        assertEquals("Invalid address: 192.0.2.09", error("-a", "192.0.2.09"));
        assertEquals("Invalid address: ::ffff:192.0.2.09", error("-a", "::ffff:192.0.2.09"));
        assertEquals("Invalid gateway address: 192.0.2.01", error("-g", "192.0.2.01"));
        assertEquals("Invalid or redundant outbound address: 010.0.0.1", error("-o", "010.0.0.1"));
        assertEquals("Cannot use DNS address 192.0.2.053", error("-D", "192.0.2.053"));
        assertEquals("Invalid DNS forwarding address: 192.0.2.01", error("--dns-forward", "192.0.2.01"));
        assertEquals("Invalid address to remap to host: 192.0.2.01", error("--map-host-loopback", "192.0.2.01"));
        assertEquals("Invalid prefix length: 255.255.255.000", error("-n", "255.255.255.000"));
        assertEquals(ip("192.0.2.10"), parse("-a", "192.0.2.10").addr4);
        assertEquals(ip("10.0.0.1"), parse("-g", "10.0.0.1").gw4);
    }

    @Test
    void prefixLengthGivenTwiceIsRedundant() {
        assertEquals("Redundant prefix length specification", error("-a", "192.0.2.1/24", "-n", "24"));
        assertEquals("Redundant prefix length specification", error("-n", "24", "-a", "192.0.2.1/24"));
        // a later -a without a prefix forgets the earlier one's, as in passt
        assertEquals(16, parse("-a", "192.0.2.1/24", "-a", "2001:db8::1", "-n", "16").prefix4);
    }

    @Test
    void netmasks() {
        assertEquals(24, parse("-n", "255.255.255.0").prefix4);
        assertEquals(32, parse("-n", "32").prefix4);
        assertEquals(0, parse("-n", "0").prefix4);
        assertEquals("Invalid prefix length: 255.0.255.0", error("-n", "255.0.255.0"));
        assertEquals("Invalid prefix length: 33", error("-n", "33"));
        assertEquals("Invalid prefix length: mask", error("-n", "mask"));
    }

    @Test
    void macAddressDefaultsToPasstsAndMustBeExact() {
        assertEquals(0x9a559a559a55L, parse().ourMac);
        assertEquals(0x9a559a559a55L, Conf.MAC_DEFAULT);
        assertEquals(0x0a0b0c0d0e0fL, parse("-M", "0a:0b:0c:0d:0e:0f").ourMac);
        assertEquals("Invalid MAC address: xx", error("-M", "xx"));
        assertEquals("Invalid MAC address: a:b:c:d:e:f", error("-M", "a:b:c:d:e:f"));
        assertEquals("Invalid MAC address: 0a:0b:0c:0d:0e:0g", error("-M", "0a:0b:0c:0d:0e:0g"));
        assertEquals("Invalid MAC address: 0a-0b-0c-0d-0e-0f", error("-M", "0a-0b-0c-0d-0e-0f"));
    }

    @Test
    void gateways() {
        Conf c = parse("-g", "192.0.2.254", "-g", "fe80::1");
        assertEquals(ip("192.0.2.254"), c.gw4);
        assertTrue(c.gw4Set);
        assertEquals(0xfe80L << 48, c.gw6Hi);
        assertEquals(1, c.gw6Lo);
        assertEquals(ip("192.0.2.1"), parse("-g", "192.0.2.254", "-g", "192.0.2.1").gw4);
        assertEquals("Invalid gateway address: 0.0.0.0", error("-g", "0.0.0.0"));
        assertEquals("Invalid gateway address: 255.255.255.255", error("-g", "255.255.255.255"));
        assertEquals("Invalid gateway address: 127.0.0.1", error("-g", "127.0.0.1"));
        assertEquals("Invalid gateway address: ::1", error("-g", "::1"));
        assertEquals("Invalid gateway address: ::", error("-g", "::"));
        assertEquals("Invalid gateway address: router", error("-g", "router"));
    }

    @Test
    void interfaceMustExist() {
        Conf c = parse("-i", "lo");
        assertEquals("lo", c.ifname4);
        assertEquals("lo", c.ifname6);
        assertEquals("Invalid interface name nosuchif0: No such device", error("-i", "nosuchif0"));
    }

    @Test
    void outboundAddressesAndInterfaces() {
        Conf c = parse("-o", "192.0.2.2", "-o", "2001:db8::2", "--outbound-if4", "eth0", "--outbound-if6", "eth1");
        assertEquals(ip("192.0.2.2"), c.outbound4);
        assertEquals(2, c.outbound6Lo);
        assertEquals("eth0", c.outboundIf4);
        assertEquals("eth1", c.outboundIf6);
        assertEquals("Invalid or redundant outbound address: 0.0.0.0", error("-o", "0.0.0.0"));
        assertEquals("Invalid or redundant outbound address: 224.0.0.1", error("-o", "224.0.0.1"));
        assertEquals("Invalid or redundant outbound address: ::1", error("-o", "::1"));
        assertEquals("Invalid or redundant outbound address: ::ffff:192.0.2.2", error("-o", "::ffff:192.0.2.2"));
        assertEquals("Invalid interface name: " + "x".repeat(16), error("--outbound-if4", "x".repeat(16)));
        assertEquals("Invalid interface name: ", error("--outbound-if6", ""));
    }

    // ---- DNS ----

    @Test
    void dnsAndSearch() {
        Conf c = parse("-D", "198.51.100.1", "-D", "2001:db8::53", "-S", "a.example b.example");
        assertEquals(1, c.dns4.length);
        assertEquals(ip("198.51.100.1"), c.dns4[0]);
        assertEquals(2, c.dns6.length);
        assertEquals(List.of("a.example", "b.example"), c.search);
        assertEquals(0, parse("-D", "198.51.100.1", "-D", "none").dns4.length);
    }

    @Test
    void dnsNoneForgetsEverythingAndLaterOnesCountAgain() {
        Conf none = parse("--dns-forward", "192.0.2.53", "--dns-host", "198.51.100.53", "-D", "none");
        assertTrue(none.noDns);
        assertEquals(0, none.dnsMatch4);
        assertEquals(0, none.dnsHost4);
        Conf again = parse("-D", "none", "-D", "198.51.100.2");
        assertFalse(again.noDns);
        assertEquals(1, again.dns4.length);
        assertEquals("Cannot use DNS address resolver.example", error("-D", "resolver.example"));
    }

    @Test
    void dnsTakesAtMostThreePerFamily() {
        Conf c = parse("-D", "198.51.100.1", "-D", "198.51.100.2", "-D", "198.51.100.3", "-D", "198.51.100.4");
        assertEquals(3, c.dns4.length);
    }

    @Test
    void dnsForwardAndDnsHostErrors() {
        assertEquals("Invalid DNS forwarding address: 127.0.0.1", error("--dns-forward", "127.0.0.1"));
        assertEquals("Invalid DNS forwarding address: 0.0.0.0", error("--dns-forward", "0.0.0.0"));
        assertEquals("Invalid DNS forwarding address: ::1", error("--dns-forward", "::1"));
        assertEquals("Invalid DNS forwarding address: x", error("--dns-forward", "x"));
        assertEquals("Invalid host nameserver address: 255.255.255.255", error("--dns-host", "255.255.255.255"));
        assertEquals("Invalid host nameserver address: ::", error("--dns-host", "::"));
        assertEquals(0x7f000001, parse("--dns-host", "127.0.0.1").dnsHost4);
    }

    @Test
    void searchListNoneAndNames() {
        Conf none = parse("-S", "a.example", "-S", "none");
        assertTrue(none.search.isEmpty());
        assertTrue(none.searchSet);
        assertEquals(List.of("b.example"), parse("-S", "none", "-S", "b.example").search);
        assertEquals(List.of("a.example", "b.example"), parse("-S", "a.example", "-S", "b.example").search);
        String longName = "x".repeat(254);
        assertEquals("Cannot use DNS search domain " + longName, error("-S", longName));
    }

    @Test
    void hostnameAndFqdn() {
        Conf c = parse("-H", "guest", "--fqdn", "guest.example.org");
        assertEquals("guest", c.hostname);
        assertEquals("guest.example.org", c.fqdn);
        assertEquals("Invalid hostname: " + "h".repeat(254), error("-H", "h".repeat(254)));
        assertEquals("Invalid FQDN: " + "f".repeat(300), error("--fqdn", "f".repeat(300)));
    }

    @Test
    void dhcpDnsAndSearchSwitches() {
        Conf c = parse("--no-dhcp-dns", "--no-dhcp-search");
        assertTrue(c.noDhcpDns);
        assertTrue(c.noDhcpSearch);
        assertEquals("--dhcp-dns is for pasta mode only", error("--dhcp-dns"));
        assertEquals("--dhcp-search is for pasta mode only", error("--dhcp-search"));
    }

    // ---- protocol switches ----

    @Test
    void protocolSwitches() {
        Conf c = parse("--no-tcp", "--no-udp", "--no-dhcp", "--no-dhcpv6", "--no-ra", "--freebind");
        assertTrue(c.noTcp);
        assertTrue(c.noUdp);
        assertTrue(c.noDhcp);
        assertTrue(c.noDhcpv6);
        assertTrue(c.noRa);
        assertTrue(c.freebind);
        assertFalse(c.noNdp);
        assertTrue(parse("--no-ndp").noNdp);
    }

    @Test
    void noIcmpImpliesNoNdpAsInCurrentPasst() {
        Conf c = parse("--no-icmp");
        assertTrue(c.noIcmp);
        assertTrue(c.noNdp);
    }

    @Test
    void forwardingADisabledProtocolIsAnError() {
        assertEquals("TCP port forwarding requested but TCP is disabled", error("-t", "22", "--no-tcp"));
        assertEquals("UDP port forwarding requested but UDP is disabled", error("--no-udp", "-u", "53"));
        assertTrue(parse("--no-tcp", "-t", "none").noTcp);
    }

    @Test
    void portSpecsAreCheckedWhileParsing() {
        assertEquals(List.of("22", "80:8080"), parse("-t", "22", "-t", "80:8080").tcpSpecs);
        assertEquals("Invalid port specifier 22-", error("-t", "22-"));
        assertEquals("'auto' port forwarding is only allowed for pasta", error("-u", "auto"));
        assertEquals("Port forwarding mode 'none' conflicts with previous mode", error("-t", "all", "-t", "none"));
    }

    @Test
    void ipFamilySwitches() {
        assertFalse(parse("-4").v6);
        assertTrue(parse("-4").v4);
        assertFalse(parse("--ipv6-only").v4);
        // current passt: the last of -4 and -6 wins
        Conf six = parse("-4", "-6");
        assertFalse(six.v4);
        assertTrue(six.v6);
        assertFalse(parse("-6", "-4").v6);
    }

    // ---- address mapping ----

    @Test
    void mapHostLoopbackDefaultsToTheGateway() {
        Conf c = parse("-g", "192.0.2.1", "-g", "2001:db8::1");
        assertEquals(ip("192.0.2.1"), c.hostLoopbackMap4());
        assertEquals(1, c.hostLoopbackMap6Lo());
        assertEquals(ip("192.0.2.1"), c.hostLoopbackMap4(), "the gateway stands for the host");
    }

    @Test
    void mapHostLoopbackAddressesOfBothFamilies() {
        Conf c = parse("-g", "192.0.2.1", "--map-host-loopback", "192.0.2.100", "--map-host-loopback", "2001:db8::100");
        assertEquals(ip("192.0.2.100"), c.hostLoopbackMap4());
        assertEquals(0x100, c.hostLoopbackMap6Lo());
        assertNotEquals(ip("192.0.2.1"), c.hostLoopbackMap4(), "the gateway is the gateway");
        assertEquals(ip("192.0.2.101"),
                parse("--map-host-loopback", "192.0.2.100", "--map-host-loopback", "192.0.2.101").hostLoopbackMap4());
    }

    @Test
    void mapHostLoopbackNoneAndNoMapGw() {
        Conf none = parse("-g", "192.0.2.1", "--map-host-loopback", "192.0.2.100", "--map-host-loopback", "none");
        assertEquals(0, none.hostLoopbackMap4());
        assertTrue(none.noMapGw);
        assertEquals(0, parse("-g", "192.0.2.1", "--no-map-gw").hostLoopbackMap4());
        // --no-map-gw only drops the default: an address given explicitly still maps
        assertEquals(ip("192.0.2.100"),
                parse("-g", "192.0.2.1", "--map-host-loopback", "192.0.2.100", "--no-map-gw").hostLoopbackMap4());
    }

    @Test
    void mapGuestAddr() {
        Conf c = parse("--map-guest-addr", "192.0.2.200", "--map-guest-addr", "2001:db8::200");
        assertEquals(ip("192.0.2.200"), c.mapGuestAddr4);
        assertEquals(0x200, c.mapGuestAddr6Lo);
        Conf none = parse("--map-guest-addr", "192.0.2.200", "--map-guest-addr", "none");
        assertEquals(0, none.mapGuestAddr4);
        assertFalse(none.noMapGw, "--map-guest-addr none does not touch the host mapping");
    }

    @Test
    void mapAddressErrors() {
        for (String bad : new String[] {"127.0.0.1", "::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "gw"}) {
            assertEquals("Invalid address to remap to host: " + bad, error("--map-host-loopback", bad));
            assertEquals("Invalid address to remap to host: " + bad, error("--map-guest-addr", bad));
        }
    }

    // ---- privileges, help, version, what jpasst does not have ----

    @Test
    void runasIsKeptForLater() {
        assertEquals("nobody", parse("--runas", "nobody").runAs);
        assertEquals("65534:65534", parse("--runas=65534:65534").runAs);
    }

    @Test
    void helpVersionAndCapabilitiesAreActions() {
        assertEquals(Options.Action.HELP, Options.parse(new String[] {"-h"}).action());
        assertEquals(Options.Action.HELP, Options.parse(new String[] {"--help"}).action());
        assertEquals(Options.Action.VERSION, Options.parse(new String[] {"--version"}).action());
        assertEquals(Options.Action.CAPABILITIES, Options.parse(new String[] {"--print-capabilities"}).action());
    }

    @Test
    void helpAndVersionActWhereTheyStand() {
        // passt handles them while reading the options: later mistakes are never seen...
        assertEquals(Options.Action.HELP, Options.parse(new String[] {"-h", "--bogus"}).action());
        assertEquals(Options.Action.VERSION, Options.parse(new String[] {"--version", "-m", "x"}).action());
        // ...earlier ones are
        assertEquals("Invalid MTU: x", error("-m", "x", "--version"));
        // one option at a time, as getopt returns them: -h acts before the unknown letter after it
        assertEquals(Options.Action.HELP, Options.parse(new String[] {"-hZ"}).action());
        assertEquals("invalid option -- 'Z'", error("-Zh"));
    }

    @Test
    void usageIsPassts() {
        String u = Options.usage();
        assertTrue(u.startsWith("Usage: passt [OPTION]...\n"));
        for (String o : new String[] {"--debug", "--trace", "--quiet", "--foreground", "--log-file", "--log-size",
                "--runas", "--help", "--version", "--socket", "--fd", "--pcap", "--pid", "--mtu", "--address",
                "--netmask", "--mac-addr", "--gateway", "--interface", "--outbound", "--outbound-if4",
                "--outbound-if6", "--dns", "--search", "--hostname", "--fqdn", "--no-dhcp-dns", "--no-dhcp-search",
                "--map-host-loopback", "--map-guest-addr", "--dns-forward", "--dns-host", "--no-tcp", "--no-udp",
                "--no-icmp", "--no-dhcp", "--no-ndp", "--no-dhcpv6", "--no-ra", "--freebind", "--no-map-gw",
                "--ipv4-only", "--ipv6-only", "--tcp-ports", "--udp-ports", "--one-off", "--vhost-user",
                "--print-capabilities", "--repair-path", "--migrate-exit", "--migrate-no-linger"}) {
            assertTrue(u.contains(o), o);
        }
        // passt's own lines, word for word (passt-qemu-glue takes "--vhost-user" in --help for a back-end)
        assertTrue(u.contains("  --vhost-user\t\tEnable vhost-user mode\n    UNIX domain socket is provided by -s option\n"));
        assertTrue(u.contains("  --migrate-exit\tDEPRECATED:\n\t\t\tsource quits after migration\n"));
    }

    @Test
    void vhostUserModeIsSetWhereverItStandsAndItsOptionsNeedIt() {
        assertTrue(parse("--vhost-user").vhostUser);
        assertFalse(parse("-s", "/tmp/vu").vhostUser);
        // as passt's conf_mode(): the mode comes first, so its options may come before it
        Conf c = parse("--repair-path", "/tmp/r", "--migrate-exit", "--migrate-no-linger", "-s", "/tmp/vu", "--vhost-user");
        assertTrue(c.vhostUser && c.migrateExit && c.migrateNoLinger);
        assertEquals("/tmp/r", c.repairPath);
        assertEquals("/tmp/vu", c.socketPath);
        assertTrue(parse("--vhost", "-F", "5").vhostUser, "an abbreviation, with --fd");
        assertEquals(5, parse("--vhost-user", "-F", "5").fd);
        assertEquals("Extra non-option argument: --vhost-user", error("--", "--vhost-user"));
        assertEquals("--repair-path is for vhost-user mode only", error("--repair-path", "/tmp/r"));
        assertTrue(parse("--repair-path", "none").fd < 0);
        assertEquals("Invalid passt-repair path: " + "r".repeat(108), error("--vhost-user", "--repair-path", "r".repeat(108)));
        assertEquals("--migrate-exit is for vhost-user mode only", error("--migrate-exit"));
        assertEquals("--migrate-no-linger is for vhost-user mode only", error("--migrate-no-linger"));
    }

    @Test
    void statsNeedsTheForegroundAndANumberOfSeconds() {
        assertEquals("Can't display statistics if not running in foreground", error("--stats", "1"));
        assertEquals("Invalid --stats: x", error("-f", "--stats", "x"));
        assertEquals(5, parse("-f", "--stats", "5").statsSeconds);
    }

    @Test
    void confPathNamesTheControlSocket() {
        assertEquals("/tmp/vm1.ctl", parse("-c", "/tmp/vm1.ctl").confPath);
        assertEquals("/tmp/b", parse("--conf-path=/tmp/a", "-c/tmp/b").confPath, "the last one wins");
        assertEquals(null, parse().confPath);
        assertEquals("Invalid configuration path: ", error("-c", ""));
        assertEquals("Invalid configuration path: " + "c".repeat(108), error("-c", "c".repeat(108)));
    }

    @Test
    void pastaOnlyOptionsSaySo() {
        assertEquals("--netns is for pasta mode only", error("--netns", "x"));
        assertEquals("--userns is for pasta mode only", error("--userns", "x"));
        assertEquals("--config-net is for pasta mode only", error("--config-net"));
        assertEquals("--ns-mac-addr is for pasta mode only", error("--ns-mac-addr", "02:00:00:00:00:01"));
        assertEquals("--no-netns-quit is for pasta mode only", error("--no-netns-quit"));
        assertEquals("--netns-only is for pasta mode only", error("--netns-only"));
        assertEquals("--host-lo-to-ns-lo is for pasta mode only", error("--host-lo-to-ns-lo"));
        assertEquals("--no-copy-routes is for pasta mode only", error("--no-copy-routes"));
        assertEquals("--no-copy-addrs is for pasta mode only", error("--no-copy-addrs"));
        assertEquals("-I is for pasta mode only", error("-I", "tap0"));
        assertEquals("-T is for pasta mode only", error("-T", "22"));
        assertEquals("-U is for pasta mode only", error("--udp-ns", "53"));
        assertEquals("--splice-only is for pasta mode only", error("--splice-only"));
        parse("--no-splice"); // accepted in passt mode, as passt
    }

    @Test
    void errorsSayWhatIsWrong() {
        assertEquals("unrecognized option '--bogus'", error("--bogus"));
        assertEquals("invalid option -- 'Z'", error("-Z"));
        assertEquals("option '--socket' requires an argument", error("--socket"));
        assertEquals("option requires an argument -- 's'", error("-s"));
        assertEquals("option '--one-off' doesn't allow an argument", error("--one-off=1"));
        assertTrue(error("--no").contains("ambiguous"));
        assertTrue(error("-m", "65522").startsWith("MTU 65522 too large"));
        assertTrue(error("-a", "300.1.1.1").startsWith("Invalid address"));
        assertTrue(error("-a", "127.0.0.1").startsWith("Invalid address"));
        assertTrue(error("-n", "255.0.255.0").startsWith("Invalid prefix length"));
        assertTrue(error("-M", "xx").startsWith("Invalid MAC"));
        assertTrue(error("-F", "abc").startsWith("Invalid --fd"));
        assertEquals("Extra non-option argument: stray", error("stray"));
        assertTrue(error("--netns", "x").contains("pasta"));
    }

    @Test
    void getoptErrorsAreFollowedByTheUsageOthersAreNot() {
        assertTrue(usageFollows("--bogus"));
        assertTrue(usageFollows("-Z"));
        assertTrue(usageFollows("--socket"));
        assertTrue(usageFollows("--no"));
        assertTrue(usageFollows("--one-off=1"));
        assertFalse(usageFollows("-m", "x"));
        assertFalse(usageFollows("stray"));
    }

    @Test
    void optionsEndAtTheFirstNonOptionOrDoubleDash() {
        assertEquals("Extra non-option argument: x", error("-f", "x", "-q"));
        assertEquals("Extra non-option argument: -q", error("-f", "--", "-q"));
        assertEquals("Extra non-option argument: -", error("-"));
        assertTrue(parse("-f", "--").foreground);
    }

    @Test
    void ambiguousAbbreviationListsTheCandidates() {
        String e = error("--no-d");
        assertTrue(e.startsWith("option '--no-d' is ambiguous; possibilities:"), e);
        assertTrue(e.contains("'--no-dhcp'") && e.contains("'--no-dhcpv6'") && e.contains("'--no-dhcp-dns'"), e);
        assertEquals(65, parse("--mt", "65").mtu);
    }

    @Test
    void noSeccompIsJpasstsSwitchForADaemonWithoutItsFilter() {
        assertFalse(parse("-s", "/tmp/x").noSeccomp);
        assertTrue(parse("--no-seccomp", "-f").noSeccomp);
        assertTrue(parse("--no-secc").noSeccomp);
        assertTrue(Options.usage().contains("--no-seccomp"));
    }
}
