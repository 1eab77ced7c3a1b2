package jpasst.glue;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class JsonTest {

    @Test
    void writesCompactlyInInsertionOrder() {
        Map<String, Object> addr = new LinkedHashMap<>();
        addr.put("type", "unix");
        addr.put("path", "/tmp/p.sock");
        Map<String, Object> netdev = new LinkedHashMap<>();
        netdev.put("type", "stream");
        netdev.put("addr", addr);
        netdev.put("server", false);
        netdev.put("reconnect-ms", 5000L);
        netdev.put("id", "n0");
        assertEquals("{\"type\":\"stream\",\"addr\":{\"type\":\"unix\",\"path\":\"/tmp/p.sock\"},"
                + "\"server\":false,\"reconnect-ms\":5000,\"id\":\"n0\"}", Json.write(netdev));
    }

    @Test
    void escapesQuotesBackslashesAndControlCharacters() {
        assertEquals("\"a\\\"b\\\\c\\nd\\u0001\"", Json.write("a\"b\\c\nd\u0001"));
    }

    @Test
    void readsBackWhatItWrites() {
        Map<String, Object> value = new LinkedHashMap<>();
        value.put("pid", 12345L);
        value.put("ratio", 0.5);
        value.put("name", "tab\there \"quoted\" ünïcødé");
        value.put("list", List.of("a", "b"));
        value.put("nothing", null);
        value.put("yes", true);
        assertEquals(value, Json.parse(Json.write(value)));
    }

    @Test
    void readsUnicodeEscapesAndWhitespace() {
        assertEquals(Map.of("k", List.of("é", -3L)), Json.parse(" { \"k\" : [ \"\\u00e9\" , -3 ] } \n"));
    }

    @Test
    void keepsNullsInsideLists() {
        assertEquals(Arrays.asList(1L, null), Json.parse("[1,null]"));
    }

    @Test
    void rejectsMalformedInput() {
        for (String bad : List.of("", "{", "{\"a\":}", "[1,]", "{\"a\":1}x", "\"unterminated", "{a:1}",
                "{\"a\":1,\"a\":2}", "tru", "\"\\q\"", "01x")) {
            assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
        }
    }

    @Test
    void parseObjectRefusesNonObjects() {
        assertThrows(IllegalArgumentException.class, () -> Json.parseObject("[1]"));
    }
}
