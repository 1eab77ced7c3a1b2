package jpasst.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

/**
 * --stats as passt prints it: the staircase header of owner kinds before the first line, then one
 * line of cumulative counts per update, none while nothing happened, none again before DELAY.
 */
class EventStatsTest {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

    private String printed() {
        String s = bytes.toString(StandardCharsets.US_ASCII);
        bytes.reset();
        return s;
    }

    /** A loop whose TCP handler counts what is posted to it, with stats at {@code delaySeconds}. */
    private EventLoop loop(int delaySeconds) {
        EventLoop loop = new EventLoop();
        loop.handler(Refs.TCP, (ref, events) -> { });
        loop.onEndOfBatch(new EventStats(loop, delaySeconds, new PrintStream(bytes, true, StandardCharsets.US_ASCII)));
        return loop;
    }

    @Test
    void firstUpdateHasTheHeaderAndEveryKindsCountInItsColumn() {
        EventLoop loop = loop(0);
        loop.post(EventLoop.ref(Refs.TCP, 1));
        loop.post(EventLoop.ref(Refs.TCP, 2));
        loop.runOnce();
        String[] lines = printed().split("\n");
        int kinds = Refs.count() - 1;
        assertEquals(kinds + 1, lines.length, "a header line per kind, then the counts");
        assertEquals(" ".repeat(7) + Refs.name(1), lines[0]);
        assertEquals(" ".repeat(7) + "|" + " ".repeat(6) + Refs.name(2), lines[1]);
        String counts = lines[kinds];
        assertEquals(1 + 7 * kinds, counts.length(), counts);
        int tcpColumnEnd = 1 + 7 * Refs.TCP;
        assertEquals("      2", counts.substring(tcpColumnEnd - 7, tcpColumnEnd), counts);
        assertEquals("      0", counts.substring(1, 8), "the first kind had no event");
    }

    @Test
    void nothingIsPrintedWhileNothingHappensAndCountsAddUp() {
        EventLoop loop = loop(0);
        loop.post(EventLoop.ref(Refs.TCP, 1));
        loop.runOnce();
        printed();
        loop.wake();
        loop.runOnce(); // a batch without an event of any kind
        assertEquals("", printed());
        loop.post(EventLoop.ref(Refs.TCP, 1));
        loop.runOnce();
        String again = printed();
        assertEquals(1, again.split("\n").length, "no header before the 20th line: " + again);
        assertTrue(again.startsWith(" ") && again.contains("      2"), again);
    }

    @Test
    void noUpdateBeforeDelaySeconds() {
        EventLoop loop = loop(3600);
        loop.post(EventLoop.ref(Refs.TCP, 1));
        loop.runOnce();
        assertTrue(printed().contains("      1"), "the first update comes at once");
        loop.post(EventLoop.ref(Refs.TCP, 1));
        loop.runOnce();
        assertEquals("", printed(), "an update before the hour is up");
    }
}
