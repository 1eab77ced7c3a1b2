package jpasst.proto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

/** DNS wire-format names for DHCP option 119 and DHCPv6/NDP search lists. */
class DnsNamesTest {
    private static byte[] b(Object... parts) {
        java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream();
        for (Object p : parts) {
            if (p instanceof Integer i) o.write(i);
            else o.writeBytes(((String) p).getBytes());
        }
        return o.toByteArray();
    }

    @Test
    void rfc3397ExampleCompressesSharedSuffix() {
        // RFC 3397 section 2: eng.apple.com and marketing.apple.com
        assertArrayEquals(b(3, "eng", 5, "apple", 3, "com", 0, 9, "marketing", 0xc0, 4),
                DnsNames.encodeList(List.of("eng.apple.com", "marketing.apple.com"), 255));
    }

    @Test
    void uncompressedForDhcpv6() {
        assertArrayEquals(b(1, "a", 7, "example", 0, 1, "b", 7, "example", 0),
                DnsNames.encodeListUncompressed(List.of("a.example", "b.example."), 255));
    }

    @Test
    void namesThatDoNotFitAreLeftOut() {
        assertArrayEquals(b(1, "a", 7, "example", 0),
                DnsNames.encodeList(List.of("a.example", "bbbbbbbbbb.other"), 12));
    }
}
