package jpasst.glue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Liveness and signals for a process that is not our child, as a daemonized passt is (it was
 * forked by its launcher and reparented). Two things the JDK does not give us:
 * <ul>
 *   <li>{@link ProcessHandle#isAlive()} is true for a zombie. A daemon that exited stays a zombie
 *       until its new parent reaps it, which in containers whose init reaps lazily took 1.5 s here,
 *       so "alive" is read from the state letter in {@code /proc/PID/stat} instead.</li>
 *   <li>There is no way to send SIGQUIT (passt's usual stop signal), so {@code kill -QUIT} runs.</li>
 * </ul>
 * The process start time guards against a recycled pid: a process that started at another time is
 * a different process.
 */
public final class LinuxProcess {

    static final Duration START_TIME_TOLERANCE = Duration.ofSeconds(2);

    private LinuxProcess() {
    }

    /**
     * True if {@code pid} exists, is not a zombie, and (when given) started at {@code startTime}.
     * Start times match within {@link #START_TIME_TOLERANCE}: the JDK derives them from the kernel's
     * boot time, which moves when the wall clock is stepped.
     */
    public static boolean isRunning(long pid, Optional<Instant> startTime) {
        Optional<ProcessHandle> handle = ProcessHandle.of(pid);
        if (handle.isEmpty() || !handle.get().isAlive()) {
            return false;
        }
        if (startTime.isPresent()) {
            Optional<Instant> actual = handle.get().info().startInstant();
            if (actual.isPresent()
                    && Duration.between(startTime.get(), actual.get()).abs().compareTo(START_TIME_TOLERANCE) > 0) {
                return false;
            }
        }
        char state = stateLetter(pid);
        return state != 'Z' && state != 'X' && state != '?';
    }

    /** The process state from /proc/PID/stat ('R', 'S', 'Z', ...), or '?' if it is gone. */
    static char stateLetter(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // "pid (comm) S ...": comm may itself contain ") ", so look after the last one.
            int close = stat.lastIndexOf(") ");
            return close < 0 || close + 2 >= stat.length() ? '?' : stat.charAt(close + 2);
        } catch (IOException e) {
            return '?';
        }
    }

    public static Optional<Instant> startTime(long pid) {
        return ProcessHandle.of(pid).flatMap(h -> h.info().startInstant());
    }

    /** Sends SIGQUIT with {@code kill -QUIT}; false if the signal could not be delivered. */
    public static boolean sendQuit(long pid) {
        try {
            Process kill = new ProcessBuilder("kill", "-QUIT", Long.toString(pid))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!kill.waitFor(5, TimeUnit.SECONDS)) {
                kill.destroyForcibly();
                return false;
            }
            return kill.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Sends SIGTERM; false if there is no such process or it cannot be signalled. */
    public static boolean sendTerm(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::destroy).orElse(false);
    }

    /** Sends SIGKILL; false if there is no such process or it cannot be signalled. */
    public static boolean sendKill(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::destroyForcibly).orElse(false);
    }

    /** Polls until the process is no longer running; true if it stopped within {@code timeoutMillis}. */
    public static boolean awaitExit(long pid, Optional<Instant> startTime, long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        long pause = 2;
        while (isRunning(pid, startTime)) {
            if (System.nanoTime() - deadline >= 0) {
                return false;
            }
            Thread.sleep(pause);
            pause = Math.min(pause * 2, 50);
        }
        return true;
    }
}
