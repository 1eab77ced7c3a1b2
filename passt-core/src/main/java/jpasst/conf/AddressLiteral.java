package jpasst.conf;

/**
 * IP addresses written as text, read as passt reads them: glibc's inet_pton(3). The one parser
 * behind every option that takes an address ({@code -a}, {@code -g}, {@code -o}, {@code -D},
 * {@code --dns-forward}, {@code --dns-host}, {@code --map-host-loopback},
 * {@code --map-guest-addr}, {@code -n}'s dotted netmask), the bind addresses of port specs
 * ({@code -t ADDR/PORTS}) and the nameservers of resolv.conf.
 *
 * <p>IPv4: exactly four decimal parts from 0 to 255, none with a leading zero ({@code 0} is a
 * part, {@code 01} is not): inet_pton's rule, stricter than inet_aton's (no octal, no hex, no
 * short forms). IPv6, the text forms of RFC 4291 2.2: eight groups of one to four hex digits,
 * one {@code ::} for a run of zero groups (a single one included), and a dotted quad in place of
 * the last two groups, read by the IPv4 rule; no zone ({@code %eth0}) and no brackets. Checked
 * against glibc 2.36 in {@code AddressLiteralTest}.
 *
 * <p>Addresses come out in jpasst's forms: IPv4 as an int in host order (192.0.2.1 is
 * 0xc0000201), IPv6 as two host-order longs, high and low.
 */
public final class AddressLiteral {
    private AddressLiteral() {}

    /** The IPv4 address {@code s}, as an unsigned int in a long; -1 if {@code s} is none. */
    public static long ip4(String s) {
        return ip4(s, 0, s.length());
    }

    /** The IPv6 address {@code s} as {high, low}; null if {@code s} is none. */
    public static long[] ip6(String s) {
        int n = s.length();
        if (n == 0) return null;
        int i = 0;
        if (s.charAt(0) == ':') { // a leading colon only as the first of "::"
            if (n < 2 || s.charAt(1) != ':') return null;
            i = 1;
        }
        int[] group = new int[8];
        int groups = 0, gap = -1, token = i, digits = 0, value = 0;
        while (i < n) {
            char ch = s.charAt(i++);
            int d = Character.digit(ch, 16);
            if (d >= 0 && ch < 0x80) {
                if (digits == 4) return null;
                value = value << 4 | d;
                digits++;
            } else if (ch == ':') {
                token = i;
                if (digits == 0) { // the second colon of "::"
                    if (gap >= 0) return null;
                    gap = groups;
                    continue;
                }
                if (i == n || groups == 8) return null; // a trailing single colon; a ninth group
                group[groups++] = value;
                digits = value = 0;
            } else if (ch == '.' && groups <= 6) { // the last token is a dotted quad
                long v4 = ip4(s, token, n);
                if (v4 < 0) return null;
                group[groups++] = (int) (v4 >>> 16);
                group[groups++] = (int) (v4 & 0xffff);
                digits = 0;
                break;
            } else {
                return null;
            }
        }
        if (digits > 0) {
            if (groups == 8) return null;
            group[groups++] = value;
        }
        if (gap >= 0) { // "::" stands for at least one zero group
            if (groups == 8) return null;
            int tail = groups - gap;
            System.arraycopy(group, gap, group, 8 - tail, tail);
            java.util.Arrays.fill(group, gap, 8 - tail, 0);
            groups = 8;
        }
        if (groups != 8) return null;
        long hi = 0, lo = 0;
        for (int g = 0; g < 4; g++) {
            hi = hi << 16 | group[g];
            lo = lo << 16 | group[4 + g];
        }
        return new long[] {hi, lo};
    }

    /**
     * An address of either family: {4, 0, v4} or {6, high, low}; null if {@code s} is neither (no
     * text is both).
     */
    public static long[] ip(String s) {
        long v4 = ip4(s);
        if (v4 >= 0) return new long[] {4, 0, v4};
        long[] v6 = ip6(s);
        return v6 == null ? null : new long[] {6, v6[0], v6[1]};
    }

    /** {@link #ip4} for code that wants an exception: "Invalid address: s". */
    public static int requireIp4(String s) {
        long v = ip4(s);
        if (v < 0) throw new ConfException("Invalid address: " + s);
        return (int) v;
    }

    /** {@link #ip6} for code that wants an exception: "Invalid address: s". */
    public static long[] requireIp6(String s) {
        long[] a = ip6(s);
        if (a == null) throw new ConfException("Invalid address: " + s);
        return a;
    }

    /** inet_pton(AF_INET) on {@code s} from {@code from} to {@code to}. */
    private static long ip4(String s, int from, int to) {
        long v = 0;
        int parts = 0, digits = 0, part = 0;
        for (int i = from; i < to; i++) {
            char ch = s.charAt(i);
            if (ch >= '0' && ch <= '9') {
                if (digits > 0 && part == 0) return -1; // a leading zero
                part = part * 10 + (ch - '0');
                if (part > 255) return -1;
                if (digits++ == 0 && ++parts > 4) return -1;
            } else if (ch == '.' && digits > 0 && parts < 4) {
                v = v << 8 | part;
                digits = part = 0;
            } else {
                return -1;
            }
        }
        if (parts < 4 || digits == 0) return -1;
        return v << 8 | part;
    }
}
