package jpasst.conf;

import static jpasst.testutil.Frames.ip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import jpasst.util.Log;

/** passt's command line with getopt_long's rules, and its errors. */
class OptionsTest {
    private static Conf parse(String... args) {
        return Options.parse(args).conf();
    }

    private static String error(String... args) {
        return assertThrows(ConfException.class, () -> Options.parse(args)).getMessage();
    }

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
    void dnsAndSearch() {
        Conf c = parse("-D", "198.51.100.1", "-D", "2001:db8::53", "-S", "a.example b.example");
        assertEquals(1, c.dns4.length);
        assertEquals(ip("198.51.100.1"), c.dns4[0]);
        assertEquals(2, c.dns6.length);
        assertEquals(List.of("a.example", "b.example"), c.search);
        assertEquals(0, parse("-D", "198.51.100.1", "-D", "none").dns4.length);
    }

    @Test
    void ipFamilySwitches() {
        assertFalse(parse("-4").v6);
        assertFalse(parse("--ipv6-only").v4);
        assertTrue(error("-4", "-6").contains("mutually exclusive"));
    }

    @Test
    void logLevels() {
        assertEquals(Log.DEBUG, parse("-d").logLevel);
        assertEquals(Log.TRACE, parse("--trace").logLevel);
        assertTrue(error("-q", "-d").contains("Conflicting"));
    }

    @Test
    void errorsSayWhatIsWrong() {
        assertEquals("unrecognized option '--bogus'", error("--bogus"));
        assertEquals("invalid option -- 'Z'", error("-Z"));
        assertEquals("option '--socket' requires an argument", error("--socket"));
        assertEquals("option requires an argument -- 's'", error("-s"));
        assertEquals("option '--one-off' doesn't allow an argument", error("--one-off=1"));
        assertTrue(error("--no").contains("ambiguous"));
        assertTrue(error("-m", "20").startsWith("Invalid MTU"));
        assertTrue(error("-m", "65521").startsWith("Invalid MTU"));
        assertTrue(error("-a", "300.1.1.1").startsWith("Invalid address"));
        assertTrue(error("-a", "127.0.0.1").startsWith("Invalid address"));
        assertTrue(error("-a", "192.0.2.1/33").startsWith("Invalid prefix length"));
        assertTrue(error("-n", "255.0.255.0").startsWith("Invalid netmask"));
        assertTrue(error("-M", "xx").startsWith("Invalid MAC"));
        assertTrue(error("-F", "abc").startsWith("Invalid --fd"));
        assertTrue(error("-s", "/a", "-F", "3").contains("mutually exclusive"));
        assertTrue(error("-s", "/a", "-s", "/b").contains("Multiple"));
        assertTrue(error("stray").startsWith("Invalid argument"));
        assertTrue(error("--vhost-user").contains("not supported yet"));
        assertTrue(error("--netns", "x").contains("pasta"));
    }

    @Test
    void mtuZeroDisablesAssignment() {
        assertEquals(0, parse("-m", "0").mtu);
    }

    @Test
    void helpVersionAndCapabilitiesAreActions() {
        assertEquals(Options.Action.HELP, Options.parse(new String[] {"-h"}).action());
        assertEquals(Options.Action.VERSION, Options.parse(new String[] {"--version"}).action());
        assertEquals(Options.Action.CAPABILITIES, Options.parse(new String[] {"--print-capabilities"}).action());
    }
}
