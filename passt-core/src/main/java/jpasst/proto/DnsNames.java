package jpasst.proto;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Domain names in DNS wire format (RFC 1035 3.1), for the DHCP search list (option 119, with
 * RFC 1035 4.1.4 compression pointers, as RFC 3397 allows) and DHCPv6/NDP search lists (no
 * compression there: {@code compress == false}). Used at start-up only.
 */
public final class DnsNames {
    private DnsNames() {}

    /** Encodes {@code names} with compression, stopping before the one that would pass {@code max}. */
    public static byte[] encodeList(List<String> names, int max) {
        return encode(names, max, true);
    }

    public static byte[] encodeListUncompressed(List<String> names, int max) {
        return encode(names, max, false);
    }

    private static byte[] encode(List<String> names, int max, boolean compress) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Map<String, Integer> suffixes = new HashMap<>();
        for (String name : names) {
            String n = name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
            if (n.isEmpty()) continue;
            ByteArrayOutputStream one = new ByteArrayOutputStream();
            Map<String, Integer> added = new HashMap<>();
            String rest = n;
            boolean pointer = false;
            while (!rest.isEmpty()) {
                Integer at = compress ? suffixes.get(rest) : null;
                if (at != null) {
                    one.write(0xc0 | (at >>> 8));
                    one.write(at & 0xff);
                    pointer = true;
                    break;
                }
                int dot = rest.indexOf('.');
                String label = dot < 0 ? rest : rest.substring(0, dot);
                byte[] l = label.getBytes(StandardCharsets.US_ASCII);
                if (l.length == 0 || l.length > 63) break;
                added.put(rest, out.size() + one.size());
                one.write(l.length);
                one.write(l, 0, l.length);
                rest = dot < 0 ? "" : rest.substring(dot + 1);
            }
            if (!pointer) one.write(0);
            if (out.size() + one.size() > max) break;
            out.writeBytes(one.toByteArray());
            for (Map.Entry<String, Integer> e : added.entrySet()) {
                if (e.getValue() < 0x3fff) suffixes.putIfAbsent(e.getKey(), e.getValue());
            }
        }
        return out.toByteArray();
    }
}
