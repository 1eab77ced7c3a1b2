package jpasst.bench;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What /proc says about a process: CPU time (utime + stime of /proc/PID/stat, all threads, in
 * clock ticks of 10 ms; and the scheduler's exact run time of every thread, schedstat), how
 * often its threads woke (context switches), peak and current resident set (VmHWM, VmRSS of
 * /proc/PID/status), proportional set size (smaps_rollup), open sockets, the system's
 * MemAvailable, and whether a UNIX socket path is listening (/proc/net/unix).
 */
final class Proc {
    private Proc() {}

    static final long TICK_NANOS = 10_000_000L; // USER_HZ is 100 on Linux (sysconf(_SC_CLK_TCK))

    static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** CPU time used so far by {@code pid}, in nanoseconds (10 ms resolution); -1 if gone. */
    static long cpuNanos(long pid) {
        long t = cpuTicks(pid);
        return t < 0 ? -1 : t * TICK_NANOS;
    }

    /** utime + stime of {@code pid}, all threads, in clock ticks; -1 if gone. */
    static long cpuTicks(long pid) {
        try {
            String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            // after "pid (comm) ": state is field 3, utime field 14, stime field 15
            return Long.parseLong(f[14 - 3]) + Long.parseLong(f[15 - 3]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** One thread as the scheduler sees it: its name, run time so far (ns) and times it was switched out. */
    record Task(String name, long runNanos, long switches) {
    }

    /** Every thread of {@code pid} by thread id (empty if gone). */
    static Map<Long, Task> tasks(long pid) {
        Map<Long, Task> m = new TreeMap<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : ds) {
                try {
                    String name = Files.readString(t.resolve("comm")).trim();
                    long run = Long.parseLong(Files.readString(t.resolve("schedstat")).trim().split(" ")[0]);
                    long sw = 0;
                    for (String line : Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:") || line.startsWith("nonvoluntary_ctxt_switches:")) {
                            sw += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                    m.put(Long.parseLong(t.getFileName().toString()), new Task(name, run, sw));
                } catch (IOException | RuntimeException e) {
                    // the thread ended meanwhile
                }
            }
        } catch (IOException e) {
            // gone
        }
        return m;
    }

    /**
     * Waits until {@code pid} has used no CPU for 200 ms (at most {@code maxMs}): jpasst's daemon
     * finishes its start-up after its launcher returned, and "after launch" means once it idles.
     */
    static void awaitIdle(long pid, long maxMs) {
        long deadline = System.nanoTime() + maxMs * 1_000_000L, last = cpuNanos(pid), since = System.nanoTime();
        while (System.nanoTime() < deadline && System.nanoTime() - since < 200_000_000L) {
            sleepMs(20);
            long now = cpuNanos(pid);
            if (now != last) {
                last = now;
                since = System.nanoTime();
            }
        }
    }

    /** A field of /proc/PID/status in kB (VmHWM, VmRSS...), or -1. */
    static long statusKb(long pid, String field) {
        return fieldKb(Path.of("/proc/" + pid + "/status"), field);
    }

    /** A field of /proc/PID/smaps_rollup in kB (Pss, Rss, Anonymous...), or -1. */
    static long rollupKb(long pid, String field) {
        return fieldKb(Path.of("/proc/" + pid + "/smaps_rollup"), field);
    }

    /** MemAvailable of /proc/meminfo in kB: what the kernel could give without swapping. */
    static long memAvailableKb() {
        return fieldKb(Path.of("/proc/meminfo"), "MemAvailable");
    }

    private static long fieldKb(Path file, String field) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone
        }
        return -1;
    }

    /** How many of {@code pid}'s descriptors are sockets (-1 if it is gone). */
    static int sockets(long pid) {
        int n = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : ds) {
                try {
                    if (Files.readSymbolicLink(fd).toString().startsWith("socket:")) n++;
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return n;
    }

    /** The soft and hard RLIMIT_NOFILE of {@code pid} ("unlimited" as Long.MAX_VALUE); null if unknown. */
    static long[] fileLimits(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/limits"))) {
                if (line.startsWith("Max open files")) {
                    String[] f = line.substring("Max open files".length()).trim().split("\\s+");
                    return new long[] {limit(f[0]), limit(f[1])};
                }
            }
        } catch (IOException | RuntimeException e) {
            // unknown
        }
        return null;
    }

    private static long limit(String s) {
        return s.equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(s);
    }

    /** The command line of {@code pid}, one argument per element (empty if gone). */
    static List<String> cmdline(long pid) {
        try {
            String s = Files.readString(Path.of("/proc/" + pid + "/cmdline"));
            List<String> args = new ArrayList<>();
            for (String a : s.split("\0")) if (!a.isEmpty()) args.add(a);
            return args;
        } catch (IOException e) {
            return List.of();
        }
    }

    /** Whether a UNIX stream socket bound to {@code path} is listening (in this network namespace). */
    static boolean listening(String path) {
        return listening(Path.of("/proc/net/unix"), path);
    }

    /** Whether a UNIX stream socket bound to {@code path} is listening in {@code pid}'s network namespace. */
    static boolean listening(long pid, String path) {
        return listening(Path.of("/proc/" + pid + "/net/unix"), path);
    }

    private static boolean listening(Path table, String path) {
        try {
            for (String line : Files.readAllLines(table)) {
                // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON
                String[] f = line.trim().split("\\s+");
                if (f.length >= 8 && f[7].equals(path) && f[3].equals("00010000")) return true;
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    /** Whether {@code pid} still runs (a zombie, ended but not yet reaped, does not). */
    static boolean alive(long pid) {
        try {
            String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return s.charAt(s.lastIndexOf(')') + 2) != 'Z';
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
