package jpasst.util;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

class TextFilesTest {
    @Test
    void fieldsAreWhatLiesBetweenBlanksAsAwkSplitsThem() {
        assertArrayEquals(new String[] {"eth0", "00000000", "010200C0"}, TextFiles.fields("  eth0\t00000000 \t 010200C0\t"));
        assertArrayEquals(new String[0], TextFiles.fields(" \t "));
        assertArrayEquals(new String[] {"nameserver", "::1"}, TextFiles.fields("nameserver ::1\r"));
        assertArrayEquals(new String[] {"-Xint", "-XX:-UsePerfData"}, TextFiles.fields(" -Xint\n\f-XX:-UsePerfData\u000b"));
    }

    @Test
    void linesComeWithoutTheirEndsAndAProcFileIsReadWhole() throws Exception {
        Path f = Files.createTempFile("jpasst-text", ".txt");
        try {
            Files.writeString(f, "a b\n\nc\n");
            assertEquals(List.of("a b", "", "c"), TextFiles.lines(f.toString()));
            Files.writeString(f, "no end");
            assertEquals(List.of("no end"), TextFiles.lines(f.toString()));
        } finally {
            Files.delete(f);
        }
        // a size of 0 in its attributes, and more than that inside
        assertTrue(TextFiles.lines("/proc/self/status").stream().anyMatch(l -> l.startsWith("Pid:")));
    }

    @Test
    void aFileThatCannotBeReadIsNothing() {
        assertNull(TextFiles.read("/nonexistent/jpasst"));
        assertEquals(List.of(), TextFiles.lines("/nonexistent/jpasst"));
    }
}
