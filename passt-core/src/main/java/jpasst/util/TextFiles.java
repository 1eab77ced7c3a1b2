package jpasst.util;

import java.io.FileInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The small text files a launch reads (/proc/net/route, resolv.conf, /etc/passwd,
 * /proc/self/status...), read and split without java.nio.file or regular expressions: the
 * launcher's JVM has no AOT cache, and their first use costs it a few ms each (NIO's file
 * channels 4-5 ms, the first Pattern 5-7 ms, measured in a fresh JVM).
 */
public final class TextFiles {
    private TextFiles() {}

    /** The whole file as text (ISO-8859-1: byte for byte), or null if it cannot be read. */
    public static String read(String path) {
        try (FileInputStream in = new FileInputStream(path)) {
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        } catch (IOException | SecurityException e) {
            return null;
        }
    }

    /** The file's lines (without their ends), or none if it cannot be read. */
    public static List<String> lines(String path) {
        String text = read(path);
        List<String> lines = new ArrayList<>();
        if (text == null) return lines;
        int start = 0;
        while (start < text.length()) {
            int nl = text.indexOf('\n', start);
            int end = nl < 0 ? text.length() : nl;
            lines.add(text.substring(start, end));
            start = end + 1;
        }
        return lines;
    }

    /** The fields of {@code line} between blanks (what a regular expression's {@code \s} matches), as awk splits it. */
    public static String[] fields(String line) {
        List<String> f = new ArrayList<>();
        int i = 0, n = line.length();
        while (i < n) {
            while (i < n && blank(line.charAt(i))) i++;
            int start = i;
            while (i < n && !blank(line.charAt(i))) i++;
            if (i > start) f.add(line.substring(start, i));
        }
        return f.toArray(new String[0]);
    }

    private static boolean blank(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0b;
    }
}
