package jpasst.conf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * The one address parser of options and port specs reads what glibc's inet_pton reads, and
 * nothing else: every text below was given to inet_pton(AF_INET) and inet_pton(AF_INET6) of
 * glibc 2.36 (a C program run once by hand), and its two answers are the expected ones here.
 */
class AddressLiteralTest {
    @ParameterizedTest(name = "{0}: IPv4 {1}, IPv6 {2}")
    @CsvSource(delimiter = '|', value = {
        "192.168.1.1|true|false", "192.168.01.1|false|false", "010.0.0.1|false|false", "0.0.0.0|true|false",
        "1.2.3.04|false|false", "1.2.3.4.|false|false", "1.2.3|false|false", "256.1.1.1|false|false",
        "'1.2.3.4 '|false|false", "' 1.2.3.4'|false|false", "00.1.2.3|false|false", "1.2.3.255|true|false",
        "0x1.2.3.4|false|false",
        "::1|false|true", "::|false|true", "2001:db8::1|false|true", "2001:0db8:0000::0001|false|true",
        "::ffff:1.2.3.4|false|true", "::ffff:1.2.3.04|false|false", "::ffff:01.2.3.4|false|false",
        "1:2:3:4:5:6:7:8|false|true", "1:2:3:4:5:6:7:8:9|false|false", "1:2:3:4:5:6:1.2.3.4|false|true",
        "1:2:3:4:5:6:7:1.2.3.4|false|false", "1::2::3|false|false", "12345::|false|false",
        "fe80::1%eth0|false|false", "[::1]|false|false", ":1::|false|false", "1::|false|true",
        "::1:|false|false", "1:::2|false|false", "::1.2.3.4|false|true", "0:0:0:0:0:0:0:0|false|true",
        "1:2:3:4:5:6:7::|false|true", "::2:3:4:5:6:7:8|false|true", "1:2:3:4:5:6:7::8|false|false",
        "::FFFF:1.2.3.4|false|true", "1.2.3.4::|false|false", "00000::1|false|false", "0001::1|false|true"})
    void readsWhatGlibcsInetPtonReads(String text, boolean v4, boolean v6) {
        assertEquals(v4, AddressLiteral.ip4(text) >= 0, "IPv4");
        assertEquals(v6, AddressLiteral.ip6(text) != null, "IPv6");
        assertEquals(v4 || v6, AddressLiteral.ip(text) != null, "either");
    }

    @Test
    void ipv4ComesOutInHostOrder() {
        assertEquals(0xc0000201L, AddressLiteral.ip4("192.0.2.1"));
        assertEquals(0xffffffffL, AddressLiteral.ip4("255.255.255.255"));
        assertEquals(0, AddressLiteral.ip4("0.0.0.0"));
        assertArrayEquals(new long[] {4, 0, 0xc0000201L}, AddressLiteral.ip("192.0.2.1"));
    }

    @Test
    void ipv6ComesOutAsItsTwoHalves() {
        assertArrayEquals(new long[] {0x2001_0db8_0000_0000L, 1}, AddressLiteral.ip6("2001:db8::1"));
        assertArrayEquals(new long[] {0, 0x0000_ffff_0102_0304L}, AddressLiteral.ip6("::ffff:1.2.3.4"));
        assertArrayEquals(new long[] {0x0001_0002_0003_0004L, 0x0005_0006_0007_0000L}, AddressLiteral.ip6("1:2:3:4:5:6:7::"));
        assertArrayEquals(new long[] {0x0000_0002_0003_0004L, 0x0005_0006_0007_0008L}, AddressLiteral.ip6("::2:3:4:5:6:7:8"));
        assertArrayEquals(new long[] {0x0001_0002_0003_0004L, 0x0005_0006_0102_0304L},
                AddressLiteral.ip6("1:2:3:4:5:6:1.2.3.4"));
        assertArrayEquals(new long[] {0xfe80L << 48, 0xabcdL}, AddressLiteral.ip6("FE80::ABCD"));
        assertArrayEquals(new long[] {6, 0, 0}, AddressLiteral.ip("::"));
    }

    @Test
    void theThrowingFormsSayInvalidAddress() {
        assertEquals(0xc0000201, AddressLiteral.requireIp4("192.0.2.1"));
        assertEquals("Invalid address: 192.0.2.01",
                assertThrows(ConfException.class, () -> AddressLiteral.requireIp4("192.0.2.01")).getMessage());
        assertEquals("Invalid address: ::g",
                assertThrows(ConfException.class, () -> AddressLiteral.requireIp6("::g")).getMessage());
        assertNull(AddressLiteral.ip(""));
    }
}
