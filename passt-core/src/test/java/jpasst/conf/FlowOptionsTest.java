package jpasst.conf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The options of the UDP and ICMP flows: passt's, and jpasst's test-only timeouts. */
class FlowOptionsTest {
    private static Conf parse(String... args) {
        return Options.parse(args).conf().build();
    }

    @Test
    void timeoutsDefaultToPasstsValues() {
        Conf c = parse();
        assertEquals(180, c.udpTimeoutSeconds);
        assertEquals(60, c.icmpTimeoutSeconds);
    }

    @Test
    void testOptionsShortenTheTimeouts() {
        Conf c = parse("--udp-timeout", "3", "--icmp-timeout=2");
        assertEquals(3, c.udpTimeoutSeconds);
        assertEquals(2, c.icmpTimeoutSeconds);
        assertThrows(ConfException.class, () -> parse("--udp-timeout", "0"));
        assertThrows(ConfException.class, () -> parse("--icmp-timeout", "soon"));
    }

    @Test
    void udpPortsAccumulateAndNoUdpNoIcmpAreSwitches() {
        Conf c = parse("-u", "5353", "--udp-ports", "6000:7000");
        assertEquals(java.util.List.of("5353", "6000:7000"), c.udpSpecs);
        Conf off = parse("--no-udp", "--no-icmp");
        assertTrue(off.noUdp);
        assertTrue(off.noIcmp);
        // passt: forwarding a disabled protocol is an error
        assertEquals("UDP port forwarding requested but UDP is disabled",
                assertThrows(ConfException.class, () -> parse("-u", "5353", "--no-udp")).getMessage());
    }

    @Test
    void dnsForwardAndDnsHostOfBothFamilies() {
        Conf c = parse("--dns-forward", "198.51.100.1", "--dns-forward", "2001:db8::53",
                "--dns-host", "127.0.0.53", "--dns-host", "::1");
        assertEquals(0xc6336401, c.dnsMatch4);
        assertEquals(0x2001_0db8_0000_0000L, c.dnsMatch6Hi);
        assertEquals(0x53, c.dnsMatch6Lo);
        assertEquals(0x7f000035, c.dnsHost4);
        assertEquals(0, c.dnsHost6Hi);
        assertEquals(1, c.dnsHost6Lo);
    }

    @Test
    void usageNamesTheTestOptions() {
        assertTrue(Options.usage().contains("--udp-timeout SECONDS"));
        assertTrue(Options.usage().contains("--icmp-timeout SECONDS"));
    }
}
