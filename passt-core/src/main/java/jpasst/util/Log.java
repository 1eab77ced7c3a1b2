package jpasst.util;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;

import jpasst.sys.Descriptors;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;

/**
 * Logging as passt's log.c does it. Until the daemon detaches, every message goes to standard
 * error (with -d, prefixed by the seconds since start). After that: to the log file of {@code -l},
 * else to the system logger (/dev/log, if there is one; never debug lines, as passt).
 *
 * The log file (-l) is created or truncated, mode 0600, and starts with a header line
 * "passt VERSION: PROGRAM (PID)"; each entry is "SECONDS.FRACTION: LEVEL message" with the level
 * as passt writes it ("ERROR:   ", "WARNING: ", "info:    ", blanks for debug). It never grows past
 * --log-size (default 1 MiB): when the next entry would not fit, about 30% of the oldest entries
 * (rounded up to whole pages, cut at a line end) are removed from the start and the header
 * becomes "HEADER - log truncated at SECONDS".
 *
 * {@code -q} keeps errors, warnings and the socket path with the QEMU hint (as passt),
 * {@code -d} adds debug lines, {@code --trace} adds per-packet lines. Never a stack trace for an
 * expected condition: callers pass the message.
 *
 * Each level check is a plain int compare, so a disabled debug line costs nothing but the
 * caller's argument evaluation; hot-path callers guard with {@link #debugEnabled()}.
 *
 * Its state is static on purpose, the one place besides {@code Main.VERSION} where jpasst has
 * static state: there is one log per process, as in passt, written from the first line of
 * {@code main} on (the launcher has no daemon object at all) and from any thread a test runs a
 * daemon's loop on. The level and destination are set once at start-up (volatile); writes to
 * the file and the system logger are synchronized.
 */
public final class Log {
    private Log() {}

    public static final int ERROR = 0, WARN = 1, INFO = 2, DEBUG = 3, TRACE = 4;

    /** passt's LOGFILE_CUT_RATIO: percentage of the log file cut when it is full. */
    static final int CUT_PERCENT = 30;
    static final int PAGE = 4096;
    private static final String[] FILE_PREFIX = {"ERROR:   ", "WARNING: ", "info:    ", "         ", "         "};
    private static final int LOG_DAEMON = 3 << 3;
    private static final int[] SYSLOG_SEVERITY = {3, 4, 6, 7, 7};

    private static volatile int level = INFO;
    private static volatile PrintStream stderr = System.err;
    private static FileChannel file;
    private static String fileHeader;
    private static long fileBytes, fileLimit = Long.MAX_VALUE, fileCut;
    private static int syslogFd = -1;
    private static String syslogIdent;
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

    /** Sends messages to {@code path} too, capped at {@code maxBytes} (--log-size). */
    public static void toFile(String path, long maxBytes) throws IOException {
        toFile(path, maxBytes, "passt");
    }

    /**
     * Sends messages to {@code path} (created or truncated, 0600) instead of the system logger,
     * capped at {@code maxBytes} as passt's --log-size; the first line is {@code header} and our pid.
     */
    public static synchronized void toFile(String path, long maxBytes, String header) throws IOException {
        FileChannel ch = FileChannel.open(Path.of(path),
                EnumSet.of(StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                        StandardOpenOption.READ, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        fileHeader = header + " (" + ProcessHandle.current().pid() + ")";
        byte[] h = (fileHeader + "\n").getBytes(StandardCharsets.UTF_8);
        writeFully(ch, ByteBuffer.wrap(h), 0);
        file = ch;
        fileBytes = h.length;
        fileLimit = maxBytes;
        fileCut = (maxBytes * CUT_PERCENT / 100 + PAGE - 1) / PAGE * PAGE;
    }

    /**
     * Opens {@code path} as {@link #toFile} would (created 0600 if need be, not truncated) and
     * closes it again: the launcher's check that the daemon's -l will work.
     */
    public static void checkFile(String path) throws IOException {
        FileChannel.open(Path.of(path), EnumSet.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))).close();
    }

    /** Stops writing to the log file (tests). */
    static synchronized void closeFile() throws IOException {
        if (file != null) file.close();
        file = null;
        fileLimit = Long.MAX_VALUE;
    }

    /**
     * Without a log file: after detaching, messages (but debug ones) go to the system logger at
     * /dev/log as {@code ident}, if the machine has one.
     */
    public static synchronized void toSyslog(String ident) {
        if (syslogFd >= 0) return;
        int fd = Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_DGRAM | Sockets.SOCK_CLOEXEC, 0);
        if (fd < 0) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = a.allocate(SockAddr.UN_SIZE);
            int len = SockAddr.unix(sa, "/dev/log");
            if (Sockets.connect(fd, sa, len) < 0) {
                Descriptors.close(fd);
                return;
            }
        }
        syslogFd = fd;
        syslogIdent = ident;
    }

    /** After detaching: standard error is gone, only the log file or the system logger remain. */
    public static void detachStderr() {
        stderr = null;
    }

    /** Messages go to standard error again (-f: once the daemon is past what its launcher said). */
    public static void attachStderr() {
        stderr = System.err;
    }

    public static void error(String msg) {
        emit(ERROR, ERROR, msg);
    }

    public static void warn(String msg) {
        emit(WARN, WARN, msg);
    }

    public static void info(String msg) {
        emit(INFO, INFO, msg);
    }

    public static void debug(String msg) {
        emit(DEBUG, DEBUG, msg);
    }

    public static void trace(String msg) {
        emit(TRACE, TRACE, msg);
    }

    /** {@code l} decides whether the message shows; {@code kind} how it is labelled. */
    private static void emit(int l, int kind, String msg) {
        int lv = level;
        if (l > lv) return;
        PrintStream e = stderr;
        boolean toFile = file != null;
        if (e != null) {
            e.println(lv >= DEBUG && !toFile ? timestamp() + ": " + msg : msg);
            e.flush();
        }
        if (toFile) {
            writeFile(kind, msg);
        } else if (syslogFd >= 0 && lv < DEBUG) {
            syslog(kind, msg);
        }
    }

    /** Seconds since start with four decimals, as passt's logtime_fmt(). */
    static String timestamp() {
        long us = (System.nanoTime() - START) / 1000;
        return String.format("%d.%04d", us / 1_000_000, us / 100 % 10_000);
    }

    static synchronized void writeFile(int kind, String msg) {
        if (file == null) return;
        byte[] line = (timestamp() + ": " + FILE_PREFIX[kind] + msg + "\n").getBytes(StandardCharsets.UTF_8);
        try {
            if (fileBytes + line.length >= fileLimit) rotate();
            if (fileBytes + line.length >= fileLimit) return; // an entry larger than the file may be
            writeFully(file, ByteBuffer.wrap(line), fileBytes);
            fileBytes += line.length;
        } catch (IOException ignored) {
            // Nowhere left to report a failing log file.
        }
    }

    /**
     * Makes room as passt's logfile_rotate_move(): a new header, then everything from the first
     * line that starts after the cut moved up behind it, and the file truncated there.
     */
    private static void rotate() throws IOException {
        byte[] head = (fileHeader + " - log truncated at " + timestamp()).getBytes(StandardCharsets.UTF_8);
        long discard = fileCut + head.length;
        ByteBuffer b = ByteBuffer.allocate(64 << 10);
        long from = discard;
        // cut cleanly after a newline
        b.clear();
        int n = file.read(b, from);
        if (n > 0) {
            for (int i = 0; i < n; i++) {
                if (b.get(i) == '\n') {
                    from += i + 1;
                    break;
                }
            }
        }
        writeFully(file, ByteBuffer.wrap(head), 0);
        long to = head.length;
        writeFully(file, ByteBuffer.wrap(new byte[] {'\n'}), to);
        to++;
        while (true) {
            b.clear();
            n = file.read(b, from);
            if (n <= 0) break;
            b.flip();
            writeFully(file, b, to);
            from += n;
            to += n;
        }
        file.truncate(to);
        fileBytes = to;
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) pos += ch.write(b, pos);
    }

    private static synchronized void syslog(int kind, String msg) {
        if (syslogFd < 0) return;
        byte[] b = ("<" + (LOG_DAEMON | SYSLOG_SEVERITY[kind]) + ">" + syslogIdent + ": " + msg)
                .getBytes(StandardCharsets.UTF_8);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(b.length);
            MemorySegment.copy(b, 0, s, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, b.length);
            Sockets.send(syslogFd, s, b.length, Sockets.MSG_DONTWAIT | Sockets.MSG_NOSIGNAL);
        }
    }
}
