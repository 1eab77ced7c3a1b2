package jpasst.glue;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShellQuoteTest {

    @Test
    void leavesPlainWordsAndQemuOptionsBare() {
        assertEquals("-netdev", ShellQuote.quote("-netdev"));
        assertEquals("stream,id=n0,server=off,addr.type=unix,addr.path=/run/user/1000/passt.socket",
                ShellQuote.quote("stream,id=n0,server=off,addr.type=unix,addr.path=/run/user/1000/passt.socket"));
    }

    @Test
    void singleQuotesWordsWithSpacesJsonOrGlobs() {
        assertEquals("'a b'", ShellQuote.quote("a b"));
        assertEquals("'{\"type\":\"stream\"}'", ShellQuote.quote("{\"type\":\"stream\"}"));
        assertEquals("'*.sock'", ShellQuote.quote("*.sock"));
        assertEquals("'$HOME'", ShellQuote.quote("$HOME"));
    }

    @Test
    void writesEmbeddedSingleQuoteAsCloseEscapeReopen() {
        assertEquals("'it'\\''s'", ShellQuote.quote("it's"));
    }

    @Test
    void quotesTheEmptyWord() {
        assertEquals("''", ShellQuote.quote(""));
    }

    @Test
    void shellSplitsTheJoinedLineBackIntoTheSameWords() throws Exception {
        List<String> words = List.of("-netdev", "{\"addr\":{\"path\":\"/tmp/a b/it's.sock\"}}", "", "$(id)", "`x`",
                "a\\b", "tab\there", "new\nline", "ünïcødé", "!bang", "semi;colon", "~tilde");
        assertEquals(words, splitWithShell(ShellQuote.join(words)));
    }

    static List<String> splitWithShell(String line) throws Exception {
        Process sh = new ProcessBuilder("/bin/sh", "-c", "for w in " + line + "; do printf '%s\\0' \"$w\"; done")
                .redirectErrorStream(true).start();
        byte[] output = sh.getInputStream().readAllBytes();
        assertTrue(sh.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, sh.exitValue(), new String(output, StandardCharsets.UTF_8));
        List<String> words = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < output.length; i++) {
            if (output[i] == 0) {
                words.add(new String(output, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        return words;
    }
}
