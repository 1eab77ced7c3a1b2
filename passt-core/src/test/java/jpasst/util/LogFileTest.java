package jpasst.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** -l and --log-size as passt's log.c: header, entry format, truncation on open, the size cap. */
class LogFileTest {
    @TempDir
    Path dir;

    private final int levelBefore = Log.level();

    @AfterEach
    void restore() throws Exception {
        Log.closeFile();
        Log.level(levelBefore);
    }

    @Test
    void headerThenEntriesWithTimeAndPasstsLevelLabels() throws Exception {
        Path f = dir.resolve("passt.log");
        Files.writeString(f, "an old log that must go\n".repeat(100));
        Log.level(Log.DEBUG);
        Log.toFile(f.toString(), 1 << 20, "passt jpasst-test: /x/passt.jar");
        Log.error("an error");
        Log.warn("a warning");
        Log.info("some info");
        Log.debug("a debug line");
        Log.trace("not shown at debug level");
        Log.closeFile();
        List<String> lines = Files.readAllLines(f);
        assertEquals("passt jpasst-test: /x/passt.jar (" + ProcessHandle.current().pid() + ")", lines.get(0));
        assertEquals(5, lines.size(), String.join("\n", lines));
        assertTrue(lines.get(1).matches("\\d+\\.\\d{4}: ERROR:   an error"), lines.get(1));
        assertTrue(lines.get(2).matches("\\d+\\.\\d{4}: WARNING: a warning"), lines.get(2));
        assertTrue(lines.get(3).matches("\\d+\\.\\d{4}: info:    some info"), lines.get(3));
        assertTrue(lines.get(4).matches("\\d+\\.\\d{4}:          a debug line"), lines.get(4));
    }

    @Test
    void aNewFileIsCreatedPrivate() throws Exception {
        Path f = dir.resolve("new.log");
        Log.toFile(f.toString(), 1 << 20, "passt x");
        Log.closeFile();
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    }

    @Test
    void theFileNeverGrowsPastLogSizeAndOldEntriesGoFirst() throws Exception {
        Path f = dir.resolve("small.log");
        long size = 40960;
        Log.level(Log.INFO);
        Log.toFile(f.toString(), size, "passt jpasst-test: /x/passt.jar");
        for (int i = 0; i < 5000; i++) {
            Log.writeFile(Log.INFO, String.format("entry %05d %s", i, "x".repeat(40)));
            assertTrue(Files.size(f) < size, "after entry " + i + ": " + Files.size(f));
        }
        Log.closeFile();
        List<String> lines = Files.readAllLines(f);
        assertTrue(lines.get(0).startsWith("passt jpasst-test: /x/passt.jar (" + ProcessHandle.current().pid()
                + ") - log truncated at "), lines.get(0));
        assertTrue(lines.getLast().contains("entry 04999"), lines.getLast());
        // whole entries only, oldest first, no gap after the cut
        int previous = -1;
        for (String l : lines.subList(1, lines.size())) {
            assertTrue(l.matches("\\d+\\.\\d{4}: info:    entry \\d{5} x{40}"), l);
            int n = Integer.parseInt(l.substring(l.indexOf("entry ") + 6, l.indexOf("entry ") + 11));
            if (previous >= 0) assertEquals(previous + 1, n);
            previous = n;
        }
        assertFalse(lines.get(1).contains("entry 00000"), "the oldest entries were cut");
    }
}
