package jpasst.robust;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import jpasst.e2e.Daemon;
import jpasst.e2e.Processes;

/**
 * jpasst started the way Kata or libvirt start it ({@code passt -P PIDFILE -s SOCKET -l LOGFILE
 * ...}: the command daemonizes and returns; {@link #start} returns once the daemon has also
 * finished its own start-up), with what the load tests need on top of
 * {@link Daemon}: extra environment (e.g. {@code JPASST_JVM_OPTS=-Xmx64m}, which the launcher
 * hands to the daemon's JVM), a command prefix (e.g. {@code prlimit --nofile=N:N --}), and the
 * daemon's resident memory and open descriptors from /proc.
 */
final class LaunchedDaemon implements AutoCloseable {
    private final Path dir, socket, pidFile, logFile;
    private final long pid;

    private LaunchedDaemon(Path dir, long pid) {
        this.dir = dir;
        this.socket = dir.resolve("passt.socket");
        this.pidFile = dir.resolve("passt.pid");
        this.logFile = dir.resolve("passt.log");
        this.pid = pid;
    }

    static LaunchedDaemon start(Map<String, String> env, List<String> prefix, String... args) throws IOException {
        Path dir = Files.createTempDirectory("jpasst-load-");
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(Daemon.Kind.JPASST.command());
        cmd.addAll(List.of("-P", dir.resolve("passt.pid").toString(), "-s", dir.resolve("passt.socket").toString(),
                "-l", dir.resolve("passt.log").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve("launcher.out").toFile());
        pb.environment().putAll(env);
        Process launcher = pb.start();
        try {
            if (!launcher.waitFor(60, TimeUnit.SECONDS)) {
                launcher.destroyForcibly();
                throw new AssertionError("the launcher did not return within 60 s: " + cmd);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted");
        }
        String out = Files.readString(dir.resolve("launcher.out"));
        if (launcher.exitValue() != 0) {
            throw new AssertionError("launcher exited " + launcher.exitValue() + ": " + cmd + "\n" + out);
        }
        long pid = Long.parseLong(Files.readString(dir.resolve("passt.pid")).strip());
        LaunchedDaemon d = new LaunchedDaemon(dir, pid);
        d.awaitSetUp();
        return d;
    }

    /**
     * The daemon finishes its start-up once its own JVM runs, after the command returned:
     * measurements (open descriptors, memory) start once its event loop waits for events.
     */
    private void awaitSetUp() {
        if (!Processes.await(() -> Processes.waitsInEpoll(pid), Duration.ofSeconds(60))) {
            throw new AssertionError("the daemon did not finish its start-up: " + log());
        }
    }

    long pid() {
        return pid;
    }

    Path socket() {
        return socket;
    }

    Path pidFile() {
        return pidFile;
    }

    String log() {
        try {
            return Files.readString(logFile, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    boolean isRunning() {
        return Processes.isRunning(pid);
    }

    /** A field of /proc/PID/status in kB (VmRSS, VmHWM...), -1 if unreadable. */
    long statusKb(String field) {
        try {
            for (String l : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (l.startsWith(field + ":")) return Long.parseLong(l.replaceAll("\\D", ""));
            }
        } catch (IOException | NumberFormatException e) {
            // gone
        }
        return -1;
    }

    /** Open descriptors of the daemon; {@code socketsOnly}: only sockets. */
    long fds(boolean socketsOnly) {
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return s.filter(p -> {
                if (!socketsOnly) return true;
                try {
                    return Files.readSymbolicLink(p).toString().startsWith("socket:");
                } catch (IOException gone) {
                    return false;
                }
            }).count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Polls until the daemon's open descriptors are at most {@code n}; the last count. */
    long awaitFdsAtMost(long n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long now;
        while ((now = fds(false)) > n && System.nanoTime() < deadline) Thread.sleep(50);
        return now;
    }

    @Override
    public void close() throws IOException {
        if (Processes.isRunning(pid)) {
            Processes.signal(pid, Processes.SIGQUIT);
            if (!Processes.awaitEnd(pid, Duration.ofSeconds(5))) {
                Processes.signal(pid, Processes.SIGKILL);
                Processes.awaitEnd(pid, Duration.ofSeconds(5));
            }
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
