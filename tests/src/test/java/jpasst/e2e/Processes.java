package jpasst.e2e;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * Signals and liveness for processes that are not our children (a daemonized passt is re-parented
 * to init), which {@link ProcessHandle} cannot do: it has no SIGQUIT, and a dead daemon can stay a
 * zombie for a while until init reaps it, which counts as alive for {@code kill(pid, 0)}.
 *
 * <p>{@code kill(2)} is called through java.lang.foreign (the test JVM runs with
 * {@code --enable-native-access=ALL-UNNAMED}); liveness reads the state letter of
 * {@code /proc/PID/stat}: gone, zombie (Z) or dead (X) mean "ended".
 */
public final class Processes {
    public static final int SIGHUP = 1;
    public static final int SIGINT = 2;
    public static final int SIGQUIT = 3;
    public static final int SIGKILL = 9;
    public static final int SIGTERM = 15;

    private static final MethodHandle KILL = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("kill").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private Processes() {
    }

    /** Sends {@code signal} to the single process {@code pid}; false if it does not exist. */
    public static boolean signal(long pid, int signal) {
        if (pid <= 1 || pid > Integer.MAX_VALUE) {
            // 0, -1 and 1 would hit a process group, everything, or init.
            throw new IllegalArgumentException("refusing to signal pid " + pid);
        }
        try {
            return (int) KILL.invokeExact((int) pid, signal) == 0;
        } catch (Throwable t) {
            throw new IllegalStateException("kill(" + pid + ", " + signal + ") failed", t);
        }
    }

    /** True while {@code pid} exists and is neither a zombie nor dead. */
    public static boolean isRunning(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // "pid (comm) S ...": comm may contain spaces and parentheses, the state follows the last ')'.
            int close = stat.lastIndexOf(')');
            char state = stat.charAt(close + 2);
            return state != 'Z' && state != 'X' && state != 'x';
        } catch (NoSuchFileException gone) {
            return false;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Polls until {@code pid} has ended or {@code timeout} passed; true if it ended. */
    public static boolean awaitEnd(long pid, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (isRunning(pid)) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            sleep(Duration.ofMillis(20));
        }
        return true;
    }

    /**
     * Polls {@code condition} until it holds or {@code timeout} passed; true if it held. For what
     * a daemon does after its launcher returned: jpasst's daemon finishes setting up (changes
     * user, writes its log) once its own JVM has started, where passt did so before it forked.
     */
    public static boolean await(BooleanSupplier condition, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            sleep(Duration.ofMillis(20));
        }
        return true;
    }

    /**
     * Whether a thread of {@code pid} waits in epoll_wait (syscall 232 on x86-64; epoll_pwait 281,
     * epoll_pwait2 441), per /proc/PID/task/TID/syscall: a daemon's event loop runs, its start-up
     * is over. (jpasst's daemon has no other epoll user.)
     */
    public static boolean waitsInEpoll(long pid) {
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks.toList()) {
                try {
                    String call = Files.readString(t.resolve("syscall")).split(" ", 2)[0].strip();
                    if (call.equals("232") || call.equals("281") || call.equals("441")) return true;
                } catch (IOException gone) {
                    // the thread ended meanwhile
                }
            }
        } catch (IOException gone) {
            return false;
        }
        return false;
    }

    /** This JVM's effective user id, from the "Uid:" line of /proc/self/status (-1 if unknown). */
    public static int effectiveUid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Integer.parseInt(line.substring(4).strip().split("\\s+")[1]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // fall through
        }
        return -1;
    }

    static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
