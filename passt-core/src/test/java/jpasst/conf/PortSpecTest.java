package jpasst.conf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import jpasst.conf.PortSpec.Bind;
import jpasst.conf.PortSpec.Forward;

/** -t/-u port forwarding specs, as passt's conf_ports() reads them in passt mode. */
class PortSpecTest {
    // Linux's default ip_local_port_range
    private static final int EPH_LO = 32768, EPH_HI = 60999;
    private static final int NON_EPHEMERAL = 65535 - (EPH_HI - EPH_LO + 1); // ports 1..65535 outside it

    private static Forward parse(String... specs) {
        return PortSpec.parse(List.of(specs), EPH_LO, EPH_HI);
    }

    private static String error(String... specs) {
        return assertThrows(ConfException.class, () -> parse(specs)).getMessage();
    }

    private static List<Integer> ports(Forward f) {
        List<Integer> l = new ArrayList<>();
        for (int p = f.nextForwarded(0); p >= 0; p = f.nextForwarded(p + 1)) l.add(p);
        return l;
    }

    private static List<Integer> range(int first, int last) {
        List<Integer> l = new ArrayList<>();
        for (int p = first; p <= last; p++) l.add(p);
        return l;
    }

    // --- forms ---

    @Test
    void singlePortForwardsToTheSamePortOnTheGuest() {
        Forward f = parse("22");
        assertEquals(List.of(22), ports(f));
        assertEquals(22, f.targetOf(22));
        assertTrue(f.isForwarded(22));
        assertFalse(f.isForwarded(23));
        assertEquals(-1, f.targetOf(23));
        assertEquals(PortSpec.Mode.SPEC, f.mode());
        assertFalse(f.isAll());
        assertFalse(f.isNone());
        assertEquals(1, f.count());
    }

    @Test
    void portWithTargetGoesToTheTargetPort() {
        Forward f = parse("22:23");
        assertEquals(List.of(22), ports(f));
        assertEquals(23, f.targetOf(22));
        assertFalse(f.isForwarded(23));
    }

    @Test
    void commaSeparatedListForwardsEachPort() {
        Forward f = parse("22,25");
        assertEquals(List.of(22, 25), ports(f));
        assertEquals(25, f.targetOf(25));
    }

    @Test
    void rangeForwardsEveryPortInItInclusive() {
        Forward f = parse("22-80");
        assertEquals(range(22, 80), ports(f));
        assertEquals(80, f.targetOf(80));
    }

    @Test
    void singlePortRangeIsThatPort() {
        assertEquals(List.of(22), ports(parse("22-22")));
    }

    @Test
    void rangeWithTargetRangeShiftsEveryPortByTheSameAmount() {
        Forward f = parse("22-80:32-90");
        assertEquals(range(22, 80), ports(f));
        for (int p = 22; p <= 80; p++) assertEquals(p + 10, f.targetOf(p));
    }

    @Test
    void targetRangeMayBeBelowTheHostRange() {
        Forward f = parse("8080-8081:80-81");
        assertEquals(80, f.targetOf(8080));
        assertEquals(81, f.targetOf(8081));
    }

    @Test
    void highestPortIsAllowed() {
        Forward f = parse("65535,65534:65533");
        assertEquals(65535, f.targetOf(65535));
        assertEquals(65533, f.targetOf(65534));
    }

    @Test
    void exclusionCutsPortsOutOfARange() {
        Forward f = parse("5-25,~10-20");
        List<Integer> want = range(5, 9);
        want.addAll(range(21, 25));
        assertEquals(want, ports(f));
    }

    @Test
    void exclusionMayComeBeforeTheRangeItCutsInto() {
        assertEquals(ports(parse("5-25,~10-20")), ports(parse("~10-20,5-25")));
    }

    @Test
    void exclusionOfASinglePortInsideAMappedRangeKeepsTheOthersShifted() {
        Forward f = parse("22-80:32-90,~50");
        assertFalse(f.isForwarded(50));
        assertEquals(59, f.targetOf(49));
        assertEquals(61, f.targetOf(51));
        assertEquals(58, f.count());
    }

    @Test
    void exclusionsOnlyMeanEveryNonEphemeralPortButThose() {
        Forward f = parse("~25");
        assertEquals(PortSpec.Mode.SPEC, f.mode());
        assertFalse(f.isForwarded(0), "port 0 is never forwarded");
        assertTrue(f.isForwarded(1));
        assertFalse(f.isForwarded(25));
        assertEquals(26, f.targetOf(26));
        assertTrue(f.isForwarded(EPH_LO - 1));
        assertFalse(f.isForwarded(EPH_LO));
        assertFalse(f.isForwarded(EPH_HI));
        assertTrue(f.isForwarded(EPH_HI + 1));
        assertTrue(f.isForwarded(65535));
        assertEquals(NON_EPHEMERAL - 1, f.count());
    }

    @Test
    void severalExclusionsOnlyMeanAllButEachOfThem() {
        Forward f = parse("~20000-20010,~22");
        assertFalse(f.isForwarded(22));
        assertFalse(f.isForwarded(20005));
        assertTrue(f.isForwarded(20011));
        assertEquals(NON_EPHEMERAL - 12, f.count());
    }

    @Test
    void exclusionOfPortZeroIsAccepted() {
        Forward f = parse("~0-1023");
        assertFalse(f.isForwarded(1023));
        assertTrue(f.isForwarded(1024));
        assertEquals(NON_EPHEMERAL - 1023, f.count());
    }

    @Test
    void allForwardsEveryNonEphemeralPortExceptZero() {
        Forward f = parse("all");
        assertTrue(f.isAll());
        assertFalse(f.isNone());
        assertFalse(f.isForwarded(0));
        assertEquals(1, f.targetOf(1));
        assertEquals(EPH_LO - 1, f.targetOf(EPH_LO - 1));
        assertFalse(f.isForwarded(EPH_LO));
        assertFalse(f.isForwarded(EPH_HI));
        assertEquals(65535, f.targetOf(65535));
        assertEquals(NON_EPHEMERAL, f.count());
        assertEquals(List.of(Bind.ANY), f.binds());
        assertSame(Bind.ANY, f.bindOf(80));
    }

    @Test
    void ephemeralRangeIsTheOneGiven() {
        Forward f = PortSpec.parse(List.of("all"), 1000, 2000);
        assertTrue(f.isForwarded(999));
        assertFalse(f.isForwarded(1000));
        assertFalse(f.isForwarded(2000));
        assertTrue(f.isForwarded(40000));
        assertTrue(f.isEphemeral(1500));
        assertEquals(65535 - 1001, f.count());
    }

    @Test
    void emptyEphemeralRangeLeavesEveryPortButZero() {
        assertEquals(65535, PortSpec.parse(List.of("all"), 1, 0).count());
    }

    @Test
    void ephemeralRangeOutsidePortNumbersIsAProgrammingError() {
        assertThrows(IllegalArgumentException.class, () -> PortSpec.parse(List.of("22"), 0, 65536));
        assertThrows(IllegalArgumentException.class, () -> PortSpec.parse(List.of("22"), -1, 5));
    }

    @Test
    void noneForwardsNothing() {
        Forward f = parse("none");
        assertTrue(f.isNone());
        assertFalse(f.isAll());
        assertEquals(0, f.count());
        assertEquals(-1, f.nextForwarded(0));
        assertTrue(f.binds().isEmpty());
    }

    @Test
    void noSpecAtAllMeansNone() {
        Forward f = parse();
        assertTrue(f.isNone());
        assertEquals(0, f.count());
    }

    @Test
    void withoutAnAddressPrefixPortsListenOnAnyAddress() {
        Forward f = parse("22");
        assertSame(Bind.ANY, f.bindOf(22));
        assertTrue(f.bindOf(22).anyAddress());
        assertNull(f.bindOf(23));
    }

    @Test
    void ipv4AddressPrefixBindsTheListeningSockets() {
        Forward f = parse("192.0.2.1/22");
        assertEquals(List.of(22), ports(f));
        Bind b = f.bindOf(22);
        assertEquals(new Bind("192.0.2.1", 4, 0xc0000201, 0, 0, null), b);
    }

    @Test
    void ipv4AddressPrefixAppliesToRangesAndExclusions() {
        Forward f = parse("192.0.2.1/20-30,~25");
        List<Integer> want = range(20, 24);
        want.addAll(range(26, 30));
        assertEquals(want, ports(f));
        assertEquals("192.0.2.1", f.bindOf(30).address());
    }

    @Test
    void ipv4AddressPrefixWithOnlyExclusionsBindsEveryPortThere() {
        Forward f = parse("127.0.0.1/~22");
        assertEquals(NON_EPHEMERAL - 1, f.count());
        assertEquals(0x7f000001, f.bindOf(80).addr4());
    }

    @Test
    void ipv6AddressPrefixBindsTheListeningSockets() {
        Bind b = parse("2001:db8::1/22").bindOf(22);
        assertEquals(6, b.family());
        assertEquals("2001:db8::1", b.address());
        assertEquals(0x20010db800000000L, b.addr6Hi());
        assertEquals(1L, b.addr6Lo());
        assertNull(b.iface());
    }

    @Test
    void addressMayBeInSquareBrackets() {
        Bind v6 = parse("[::1]/22").bindOf(22);
        assertEquals(new Bind("::1", 6, 0, 0, 1, null), v6);
        Bind v4 = parse("[192.0.2.1]/22").bindOf(22);
        assertEquals(new Bind("192.0.2.1", 4, 0xc0000201, 0, 0, null), v4);
    }

    @Test
    void ipv4MappedIpv6AddressBindsAsIpv4() {
        Bind b = parse("::ffff:192.0.2.1/22").bindOf(22);
        assertEquals(4, b.family());
        assertEquals(0xc0000201, b.addr4());
    }

    @Test
    void unspecifiedAddressesAreSpecificFamilies() {
        assertEquals(4, parse("0.0.0.0/22").bindOf(22).family());
        assertEquals(6, parse("::/22").bindOf(22).family());
    }

    @Test
    void interfaceWithoutAddressBindsTheInterfaceOnAnyAddress() {
        Bind b = parse("%eth0/22").bindOf(22);
        assertEquals(new Bind(null, 0, 0, 0, 0, "eth0"), b);
        assertTrue(b.anyAddress());
    }

    @Test
    void addressAndInterfaceBindBoth() {
        Bind b = parse("192.0.2.1%eth0/22").bindOf(22);
        assertEquals(new Bind("192.0.2.1", 4, 0xc0000201, 0, 0, "eth0"), b);
        Bind b6 = parse("fe80::1%eth0/22").bindOf(22);
        assertEquals(6, b6.family());
        assertEquals("eth0", b6.iface());
    }

    @Test
    void emptyInterfaceNameIsNoInterface() {
        assertSame(null, parse("%/22").bindOf(22).iface());
        assertEquals(new Bind("192.0.2.1", 4, 0xc0000201, 0, 0, null), parse("192.0.2.1%/22").bindOf(22));
    }

    @Test
    void interfaceNameOfFifteenCharactersFits() {
        assertEquals("abcdefghijklmno", parse("%abcdefghijklmno/22").bindOf(22).iface());
    }

    @Test
    void multipleSpecsAccumulateEachWithItsOwnBinding() {
        Forward f = parse("22", "127.0.0.1/8080:80", "%lo/~22,~8080");
        assertEquals(22, f.targetOf(22));
        assertEquals(80, f.targetOf(8080));
        assertEquals(3, f.binds().size());
        assertEquals(0, f.bindIndexOf(22));
        assertEquals(1, f.bindIndexOf(8080));
        assertEquals("127.0.0.1", f.bindOf(8080).address());
        assertEquals(2, f.bindIndexOf(443));
        assertEquals("lo", f.bindOf(443).iface());
        assertEquals(NON_EPHEMERAL, f.count());
        assertTrue(f.warnings().isEmpty());
    }

    @Test
    void laterSpecRemapsAnAlreadyForwardedPortWithPasstsWarning() {
        Forward f = parse("22-23:32-33", "192.0.2.1/22:24");
        assertEquals(24, f.targetOf(22));
        assertEquals("192.0.2.1", f.bindOf(22).address());
        assertEquals(33, f.targetOf(23));
        assertEquals(List.of("Altering mapping of already mapped port number: 192.0.2.1/22:24"), f.warnings());
    }

    @Test
    void remappingAPortTheSameSpecExcludesStillWarns() {
        Forward f = parse("22-30", "22-30,~25");
        assertEquals(1, f.warnings().size());
        assertEquals(25, f.targetOf(25)); // the earlier spec's mapping stays
        assertEquals(0, f.bindIndexOf(25));
        assertEquals(1, f.bindIndexOf(26));
    }

    @Test
    void exclusionOnlySpecLeavesEarlierMappingsAlone() {
        Forward f = parse("22:2222", "~80");
        assertEquals(2222, f.targetOf(22));
        assertEquals(0, f.bindIndexOf(22));
        assertEquals(1, f.bindIndexOf(23));
        assertTrue(f.warnings().isEmpty());
    }

    @Test
    void nextForwardedWalksForwardedPortsInOrderAndStopsAtTheEnd() {
        Forward f = parse("80,22,65535");
        assertEquals(22, f.nextForwarded(-5));
        assertEquals(80, f.nextForwarded(23));
        assertEquals(65535, f.nextForwarded(81));
        assertEquals(-1, f.nextForwarded(65536));
    }

    @Test
    void lookupsOutsidePortNumbersAreNotForwarded() {
        Forward f = parse("all");
        assertFalse(f.isForwarded(-1));
        assertFalse(f.isForwarded(65536));
        assertEquals(-1, f.targetOf(65536));
        assertEquals(-1, f.bindIndexOf(-1));
        assertNull(f.bindOf(70000));
    }

    // --- errors ---

    @ParameterizedTest
    @ValueSource(strings = {
        "", "foo", "22x", "x22", "22,", ",22", "22,,25", "22;25", "22 ", " 22", "+22", "-22", "0x16",
        "22-", "-", "22--25", "22-x", "22:", "22:x", "22:23x", "22:23:24", "22-23:", "22-23:24-",
        "~", "~x", "~22x", "~22:23", "~22-", "~-22", "22,~", "all,22", "none,22", "22,all",
        "ALL", " all", "all ", "NONE"})
    void junkIsAnInvalidPortSpecifier(String spec) {
        assertEquals("Invalid port specifier " + spec, error(spec));
    }

    @ParameterizedTest
    @ValueSource(strings = {"65536", "99999", "99999999999999999999", "22-65536", "22:65536", "~65536", "1-70000"})
    void portAbove65535IsInvalid(String spec) {
        assertEquals("Invalid port specifier " + spec, error(spec));
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "0-10", "22:0", "0:22", "1-2:0-1"})
    void portZeroCannotBeForwardedOrTargeted(String spec) {
        assertEquals("Invalid port specifier " + spec, error(spec));
    }

    @ParameterizedTest
    @ValueSource(strings = {"80-22", "22-23:33-32", "~20-10"})
    void reversedRangeIsInvalid(String spec) {
        assertEquals("Invalid port specifier " + spec, error(spec));
    }

    @ParameterizedTest
    @ValueSource(strings = {"22-80:32-91", "22-80:32", "22:32-33", "1-2,3-4:5-7"})
    void targetRangeOfAnotherLengthIsInvalid(String spec) {
        assertEquals("Invalid port specifier " + spec, error(spec));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "/22", "300.1.1.1/22", "192.0.2/22", "192.0.2.1.5/22", "192.0.2.01/22", "host.example/22",
        "localhost/22", "::g/22", "1::2::3/22", "[::1/22", "::1]/22", "[]/22", "[[::1]]/22",
        "192.0.2.1/all", "192.0.2.1/none", "192.0.2.1/", "192.0.2.1/22/23", "eth0%192.0.2.1/22",
        "010.0.2.1/22", "::ffff:192.0.2.01/22", "[::ffff:192.0.2.01]/22", "00000::1/22"})
    void badAddressPrefixIsAnInvalidPortSpecifier(String spec) {
        assertEquals("Invalid port specifier " + spec, error(spec));
    }

    @Test
    void interfaceNameOfSixteenCharactersIsTooLong() {
        assertEquals("Invalid port specifier %abcdefghijklmnop/22", error("%abcdefghijklmnop/22"));
        assertEquals("Invalid port specifier 192.0.2.1%abcdefghijklmnop/22",
                error("192.0.2.1%abcdefghijklmnop/22"));
    }

    @Test
    void overlappingExclusionsAreAnError() {
        assertEquals("Overlapping excluded ranges ~10-20,~15", error("~10-20,~15"));
        assertEquals("Overlapping excluded ranges 1-30,~5,~5", error("1-30,~5,~5"));
    }

    @Test
    void exclusionsAreCheckedBeforeTheForwardedRanges() {
        // as passt: its first pass only looks at the '~' chunks
        assertEquals("Overlapping excluded ranges junk,~1,~1", error("junk,~1,~1"));
    }

    @Test
    void noneOrAllAfterAnotherSpecConflicts() {
        assertEquals("Port forwarding mode 'none' conflicts with previous mode", error("22", "none"));
        assertEquals("Port forwarding mode 'none' conflicts with previous mode", error("none", "none"));
        assertEquals("Port forwarding mode 'all' conflicts with previous mode", error("22", "all"));
        assertEquals("Port forwarding mode 'all' conflicts with previous mode", error("all", "all"));
        assertEquals("Port forwarding mode 'all' conflicts with previous mode", error("none", "all"));
        assertEquals("Port forwarding mode 'none' conflicts with previous mode", error("~25", "none"));
    }

    @Test
    void portsAfterNoneOrAllAreAnError() {
        assertEquals("Specific ports cannot be specified together with all/none/auto", error("none", "22"));
        assertEquals("Specific ports cannot be specified together with all/none/auto", error("all", "~22"));
    }

    @Test
    void autoIsForPastaOnly() {
        assertEquals("'auto' port forwarding is only allowed for pasta", error("auto"));
        assertEquals("Port forwarding mode 'auto' conflicts with previous mode", error("22", "auto"));
    }

    @Test
    void firstBadSpecIsTheOneReported() {
        assertEquals("Invalid port specifier x", error("22", "x", "y"));
    }

    // --- ephemeral range probe ---

    @Test
    void ephemeralRangeSysctlIsLowTabHigh() {
        assertArrayEquals(new int[] {32768, 60999}, PortSpec.parseEphemeralRange("32768\t60999\n"));
        assertArrayEquals(new int[] {1024, 65535}, PortSpec.parseEphemeralRange("1024\t65535"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "\n", "32768 60999\n", "32768\t\n", "\t60999", "32768\t65536", "x\t1", "1\t2\t3"})
    void malformedEphemeralRangeSysctlIsRejected(String content) {
        assertNull(PortSpec.parseEphemeralRange(content));
    }

    @Test
    void hostEphemeralRangeIsTheSysctlOrRfc6335sRange() throws IOException {
        int[] want = {PortSpec.EPHEMERAL_MIN_DEFAULT, PortSpec.EPHEMERAL_MAX_DEFAULT};
        Path sysctl = Path.of(PortSpec.PORT_RANGE_SYSCTL);
        if (Files.isReadable(sysctl)) {
            String[] f = Files.readAllLines(sysctl).get(0).split("\t");
            want = new int[] {Integer.parseInt(f[0]), Integer.parseInt(f[1])};
        }
        assertArrayEquals(want, PortSpec.ephemeralRange());
    }
}
