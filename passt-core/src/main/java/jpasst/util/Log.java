package jpasst.util;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Logging as passt does it: messages go to standard error until the daemon detaches, then to the
 * log file given with {@code -l} (or nowhere, as passt without a log file and syslog). {@code -q}
 * keeps errors, warnings and the socket path with the QEMU hint (as passt), {@code -d} adds debug
 * lines, {@code --trace} adds per-packet lines. Never a stack trace for an expected condition: callers pass the message.
 *
 * Each level check is a plain int compare, so a disabled debug line costs nothing but the
 * caller's argument evaluation; hot-path callers guard with {@link #debugEnabled()}.
 */
public final class Log {
    private Log() {}

    public static final int ERROR = 0, WARN = 1, INFO = 2, DEBUG = 3, TRACE = 4;

    private static volatile int level = INFO;
    private static volatile PrintStream stderr = System.err;
    private static OutputStream file;
    private static long fileBytes, fileLimit = Long.MAX_VALUE;
    private static final long START = System.nanoTime();

    public static void level(int l) {
        level = l;
    }

    public static int level() {
        return level;
    }

    public static boolean infoEnabled() {
        return level >= INFO;
    }

    public static boolean debugEnabled() {
        return level >= DEBUG;
    }

    public static boolean traceEnabled() {
        return level >= TRACE;
    }

    /** Sends messages to {@code path} (appending), capped at {@code maxBytes} as passt's --log-size. */
    public static synchronized void toFile(String path, long maxBytes) throws IOException {
        file = new FileOutputStream(path, true);
        fileLimit = maxBytes;
        fileBytes = 0;
    }

    /** After detaching: standard error is gone, only the log file (if any) remains. */
    public static void detachStderr() {
        stderr = null;
    }

    public static void error(String msg) {
        emit(ERROR, msg);
    }

    public static void warn(String msg) {
        emit(WARN, msg);
    }

    /** What passt prints even with -q: where the socket is and how to start QEMU. */
    public static void notice(String msg) {
        emit(WARN, msg);
    }

    public static void info(String msg) {
        emit(INFO, msg);
    }

    public static void debug(String msg) {
        emit(DEBUG, msg);
    }

    public static void trace(String msg) {
        emit(TRACE, msg);
    }

    private static void emit(int l, String msg) {
        if (l > level) return;
        PrintStream e = stderr;
        if (e != null) {
            e.println(msg);
            e.flush();
        }
        if (file != null) writeFile(msg);
    }

    private static synchronized void writeFile(String msg) {
        long t = (System.nanoTime() - START) / 1_000_000;
        byte[] line = String.format("%d.%03d: %s%n", t / 1000, t % 1000, msg)
                .getBytes(StandardCharsets.UTF_8);
        if (fileBytes + line.length > fileLimit) return;
        try {
            file.write(line);
            file.flush();
            fileBytes += line.length;
        } catch (IOException ignored) {
            // Nowhere left to report a failing log file.
        }
    }
}
