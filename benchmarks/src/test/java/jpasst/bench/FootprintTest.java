package jpasst.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;

class FootprintTest {
    /** A JVM that allocates a known array, says so and waits: something with a heap of known size to look at. */
    public static final class Holder {
        static byte[] held;

        public static void main(String[] args) throws Exception {
            held = new byte[16 << 20];
            java.util.Arrays.fill(held, (byte) 1);
            System.out.println("ready");
            System.out.flush();
            System.in.read();
        }
    }

    private static Map<String, Footprint.Part> byName(List<Footprint.Part> parts) {
        return parts.stream().collect(Collectors.toMap(Footprint.Part::name, Function.identity()));
    }

    @Test
    void aJvmsPartsAddUpToItsRssAndNameItsHeapLibjvmStacksAndMalloc() throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(java, "-Xmx64m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                Holder.class.getName()).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("ready", out.readLine());
            List<Footprint.Part> parts = Footprint.of(p.pid());
            Map<String, Footprint.Part> m = byName(parts);
            assertTrue(m.get("Java heap").rssKb() >= 16 << 10, "the 16 MB array is in the heap: " + parts);
            assertTrue(m.get("libjvm.so").rssKb() > 1024, parts.toString());
            assertTrue(m.get("thread stacks").rssKb() > 0, parts.toString());
            assertTrue(m.containsKey("malloc: main arena") || m.containsKey("malloc: thread arenas"), parts.toString());
            long sum = parts.stream().filter(x -> !x.name().startsWith("kernel:")).mapToLong(Footprint.Part::rssKb).sum();
            long rollup = Proc.rollupKb(p.pid(), "Rss");
            assertTrue(Math.abs(sum - rollup) <= rollup / 20, sum + " kB in parts, " + rollup + " kB in smaps_rollup");
            assertTrue(m.keySet().stream().anyMatch(k -> k.startsWith("kernel: thread stacks (")), parts.toString());
        } finally {
            p.destroyForcibly().waitFor();
        }
    }

    @Test
    void onlyAGlibcHeapIsTakenForAnArena() throws Exception {
        long self = ProcessHandle.current().pid();
        Footprint.Mapping lib = Footprint.smaps(self).stream().filter(x -> x.file().endsWith("libjvm.so")).findFirst()
                .orElseThrow();
        assertFalse(Footprint.arenaAt(self, lib.start()));
    }

    @Test
    void heapSizeComesFromTheJvmsOptionsBeforeTheJar() {
        assertEquals(256L << 20, Footprint.maxHeapBytes(List.of("java", "-Xmx256m", "-jar", "x.jar", "-Xmx1g")));
        assertEquals(1L << 30, Footprint.maxHeapBytes(List.of("java", "-Xmx1G")));
        assertEquals(-1, Footprint.maxHeapBytes(List.of("passt", "-f")));
    }
}
