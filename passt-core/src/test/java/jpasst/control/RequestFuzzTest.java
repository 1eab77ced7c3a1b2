package jpasst.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

import jpasst.testutil.InProcessPasst;
import jpasst.util.Log;

/**
 * The request parser and the operations behind it fed many random and mutated lines (fixed
 * seeds, so a failure repeats): every line gets exactly one reply, a JSON object with "ok", and
 * an error for everything that is not a valid request; no exception ever leaves
 * {@link Operations#handle}, and the daemon's loop counts no failed handler. The daemon has TCP
 * and UDP switched off, so that a mutated request that happens to be a valid forward change is
 * refused instead of binding ports of the machine.
 */
class RequestFuzzTest {
    static final String[] SEEDS = {
            "{\"v\":1,\"id\":1,\"op\":\"version\"}",
            "{\"v\":1,\"id\":2,\"op\":\"forward.add\",\"tcp\":[\"8080:80\",\"127.0.0.1/9000-9010:100-110\"]}",
            "{\"op\":\"forward.remove\",\"udp\":[\"~53,1-100\"]}",
            "{\"op\":\"forward.replace\",\"tcp\":[\"[::1]%lo/22:2222\"],\"udp\":[]}",
            "{\"op\":\"forward.list\"}",
            "{\"op\":\"flows\",\"proto\":\"tcp\",\"limit\":10}",
            "{\"op\":\"stats\"}",
            "{\"op\":\"log\",\"level\":\"warning\",\"seconds\":60}",
            "{\"op\":\"health\",\"id\":\"a\\u00e9\\n\"}",
            "[1,2.5e3,-0,true,false,null,{\"a\":{\"b\":[]}}]",
    };

    private static final String ALPHABET = "{}[]\":,\\ \t-.0123456789eEtrufalsn\u00e9\u0000\u001f\ud800abcxyz/%~";

    static String mutate(String s, Random r) {
        StringBuilder b = new StringBuilder(s);
        int n = 1 + r.nextInt(4);
        for (int i = 0; i < n; i++) {
            int pos = b.isEmpty() ? 0 : r.nextInt(b.length() + 1);
            switch (r.nextInt(5)) {
                case 0 -> b.insert(pos, ALPHABET.charAt(r.nextInt(ALPHABET.length())));
                case 1 -> { if (pos < b.length()) b.deleteCharAt(pos); }
                case 2 -> { if (pos < b.length()) b.setCharAt(pos, ALPHABET.charAt(r.nextInt(ALPHABET.length()))); }
                case 3 -> b.setLength(Math.min(b.length(), pos)); // cut short
                default -> { // a piece of another place repeated
                    int from = b.isEmpty() ? 0 : r.nextInt(b.length());
                    int to = Math.min(b.length(), from + r.nextInt(12));
                    b.insert(pos, b.substring(from, to));
                }
            }
        }
        return b.toString();
    }

    static String random(Random r) {
        int len = r.nextInt(80);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < len; i++) b.append(ALPHABET.charAt(r.nextInt(ALPHABET.length())));
        return b.toString();
    }

    @Test
    void randomAndMutatedLinesAlwaysGetOneJsonReplyAndNeverAnException() throws Exception {
        int level = Log.level();
        List<String> lines = new ArrayList<>();
        Random r = new Random(15);
        for (int i = 0; i < 20_000; i++) {
            lines.add(switch (i % 4) {
                case 0 -> random(r);
                case 1 -> mutate(SEEDS[r.nextInt(SEEDS.length)], r);
                case 2 -> mutate(mutate(SEEDS[r.nextInt(SEEDS.length)], r), r);
                default -> "{\"op\":" + mutate("\"forward.add\",\"tcp\":[\"1-65535\"]", r) + "}";
            });
        }
        lines.add("[".repeat(10_000));
        lines.add("{\"a\":".repeat(5_000));
        lines.add("\"" + "\\u".repeat(1000));
        lines.add("1".repeat(5000));
        lines.add("-");
        lines.add("");
        try (InProcessPasst p = new InProcessPasst(c -> {
            InProcessPasst.control(c);
            c.noTcp = true;
            c.noUdp = true;
        })) {
            Operations.Session session = () -> { };
            int ok = 0, errors = 0;
            for (int from = 0; from < lines.size(); from += 500) {
                List<String> batch = lines.subList(from, Math.min(lines.size(), from + 500));
                List<String> replies = p.query(() -> {
                    List<String> out = new ArrayList<>();
                    for (String l : batch) out.add(p.passt.operations.handle(l, session));
                    return out;
                });
                for (int i = 0; i < batch.size(); i++) {
                    Object reply = Json.parse(replies.get(i));
                    assertTrue(reply instanceof Map<?, ?>, replies.get(i));
                    Map<?, ?> m = (Map<?, ?>) reply;
                    assertEquals(1L, m.get("v"));
                    if (Boolean.TRUE.equals(m.get("ok"))) {
                        ok++;
                        assertTrue(m.containsKey("result"), replies.get(i));
                    } else {
                        errors++;
                        assertEquals(Boolean.FALSE, m.get("ok"), replies.get(i));
                        assertTrue(m.get("error") instanceof String s && !s.isEmpty() && !s.startsWith("internal error"),
                                batch.get(i) + " -> " + replies.get(i));
                    }
                }
            }
            assertEquals(lines.size(), ok + errors);
            assertTrue(errors > lines.size() / 2, errors + " errors");
            assertEquals(0L, (long) p.query(() -> p.passt.loop.failures()));
            assertEquals(List.of(), p.query(() -> p.passt.forwards.list()), "no forward came from the noise");
        } finally {
            Log.level(level);
        }
    }

    @Test
    void theParserTakesWhatRfc8259SaysAndNothingElse() throws Exception {
        assertEquals(Map.of("a", List.of(1L, 2.5, "x\n\u00e9", true, Json.NULL)),
                Json.parse(" {\"a\" : [1, 2.5, \"x\\n\\u00e9\", true, null]} "));
        for (String bad : new String[] {"{\"a\":1,}", "[01]", "{'a':1}", "[1 2]", "\"\t\"", "{\"a\":1}x", "nul", "[-]",
                "1.", "1e", "{\"a\":1,\"a\":2}", "[" .repeat(Json.MAX_DEPTH + 2)}) {
            try {
                Json.parse(bad);
                throw new AssertionError("accepted: " + bad);
            } catch (Json.JsonException expected) {
                assertTrue(expected.getMessage().startsWith("bad JSON at character "), expected.getMessage());
            }
        }
    }
}
