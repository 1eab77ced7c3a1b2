package jpasst.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What /proc says about a process: CPU time (utime + stime of /proc/PID/stat, all threads, in
 * clock ticks of 10 ms), peak and current resident set (VmHWM, VmRSS of /proc/PID/status), and
 * whether a UNIX socket path is listening (/proc/net/unix).
 */
final class Proc {
    private Proc() {}

    static final long TICK_NANOS = 10_000_000L; // USER_HZ is 100 on Linux (sysconf(_SC_CLK_TCK))

    /** CPU time used so far by {@code pid}, in nanoseconds (10 ms resolution); -1 if gone. */
    static long cpuNanos(long pid) {
        try {
            String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            // after "pid (comm) ": state is field 3, utime field 14, stime field 15
            long utime = Long.parseLong(f[14 - 3]), stime = Long.parseLong(f[15 - 3]);
            return (utime + stime) * TICK_NANOS;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * Waits until {@code pid} has used no CPU for 200 ms (at most {@code maxMs}): jpasst's daemon
     * finishes its start-up after its launcher returned, and "after launch" means once it idles.
     */
    static void awaitIdle(long pid, long maxMs) {
        long deadline = System.nanoTime() + maxMs * 1_000_000L, last = cpuNanos(pid), since = System.nanoTime();
        while (System.nanoTime() < deadline && System.nanoTime() - since < 200_000_000L) {
            GuestStack.sleepMs(20);
            long now = cpuNanos(pid);
            if (now != last) {
                last = now;
                since = System.nanoTime();
            }
        }
    }

    /** A field of /proc/PID/status in kB (VmHWM, VmRSS...), or -1. */
    static long statusKb(long pid, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone
        }
        return -1;
    }

    /** Whether a UNIX stream socket bound to {@code path} is listening. */
    static boolean listening(String path) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/net/unix"))) {
                // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON
                String[] f = line.trim().split("\\s+");
                if (f.length >= 8 && f[7].equals(path) && f[3].equals("00010000")) return true;
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    static boolean alive(long pid) {
        return Files.exists(Path.of("/proc/" + pid));
    }
}
