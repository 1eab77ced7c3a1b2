package jpasst.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.Transport;

/**
 * A running passt-compatible daemon: either the reference {@code /usr/bin/passt} or jpasst
 * ({@code java -jar $jpasst.jar} with the test JVM's own java), so every end-to-end test runs the
 * same scenario against both by taking a {@link Kind} parameter.
 *
 * <p>Launch contract (passt's, which Kata Containers and libvirt rely on): {@code daemon -P PIDFILE
 * -s SOCKET [args]} daemonizes; the launching command exits 0 once the socket listens and the pid
 * file names the daemon. {@link #start} waits for exactly that, then reads the pid. The
 * {@link Options#foreground()} variant adds {@code -f}: the launched process is the daemon, and
 * readiness is the socket appearing as listening in {@code /proc/net/unix}.
 *
 * <p>Files live in a fresh directory under java.io.tmpdir (short: a UNIX socket path must fit in
 * 108 bytes), made world-writable because passt started as root switches to user nobody before
 * it writes the pid file. The launcher's stdout and stderr go to files there ({@code stdout},
 * {@code stderr}), so output written later by a daemon that kept those descriptors is kept too.
 * Paths given to the daemon are absolute: passt chdirs to / when it daemonizes.
 *
 * <p>{@link #close()} sends SIGQUIT (what Kata sends), waits up to 3 s, then SIGKILL, and deletes
 * the directory.
 */
public final class Daemon implements AutoCloseable, Guest.Served {
    /** Which implementation to run. */
    public enum Kind {
        /** The C passt installed by the Debian package. */
        REFERENCE("reference passt"),
        /** This project's jar, from system property {@code jpasst.jar}. */
        JPASST("jpasst"),
        /**
         * Upstream passt of 2026-03 (with vhost-user), the reference of the vhost-user benchmarks:
         * system property {@code jpasst.upstream.passt}, by default
         * {@code ../shared/reference/passt-upstream/passt} beside the repository.
         */
        UPSTREAM("upstream passt");

        private final String displayName;

        Kind(String displayName) {
            this.displayName = displayName;
        }

        /** The command that starts this daemon, before any passt option. */
        public List<String> command() {
            return switch (this) {
                case REFERENCE -> {
                    Path passt = Path.of("/usr/bin/passt");
                    if (!Files.isExecutable(passt)) {
                        throw new AssertionError(passt + " is missing (apt-get install passt)");
                    }
                    yield List.of(passt.toString());
                }
                case JPASST -> {
                    String jar = System.getProperty("jpasst.jar");
                    if (jar == null || !Files.isRegularFile(Path.of(jar))) {
                        throw new AssertionError("jpasst jar not built: " + jar
                                + " (system property jpasst.jar; build passt-core first)");
                    }
                    String java = ProcessHandle.current().info().command()
                            .orElseThrow(() -> new AssertionError("cannot tell this JVM's java binary"));
                    yield List.of(java, "-jar", Path.of(jar).toAbsolutePath().toString());
                }
                case UPSTREAM -> {
                    Path passt = upstreamBinary();
                    if (!Files.isExecutable(passt)) {
                        throw new AssertionError(passt + " is missing (the upstream passt of ../shared/reference)");
                    }
                    yield List.of(passt.toString());
                }
            };
        }

        /** Where the upstream passt is (it may be absent: benchmarks skip it then). */
        public static Path upstreamBinary() {
            String p = System.getProperty("jpasst.upstream.passt");
            if (p != null) return Path.of(p);
            return Path.of(System.getProperty("jpasst.root", "."), "..", "shared", "reference", "passt-upstream", "passt")
                    .toAbsolutePath().normalize();
        }

        @Override
        public String toString() {
            return displayName;
        }
    }

    /** In {@link Options#commandLine}: stands for the socket path. */
    public static final String SOCKET = "@SOCKET@";
    /** In {@link Options#commandLine}: stands for the pid file path. */
    public static final String PID_FILE = "@PID_FILE@";

    /** How to start a daemon; {@link #start()} does it. */
    public static final class Options {
        private final Kind kind;
        private final List<String> arguments = new ArrayList<>();
        private List<String> commandLine;
        private boolean foreground;
        private boolean preCreateEmptyPidFile;
        private boolean pidFile = true;
        private Path resolvConf;
        private Duration startTimeout = Duration.ofSeconds(30);
        private Transport transport = Transport.STREAM;
        private final List<String> prefix = new ArrayList<>();
        private List<String> program;
        private final java.util.Map<String, String> environment = new java.util.HashMap<>();

        private Options(Kind kind) {
            this.kind = kind;
        }

        /**
         * The guest transport (default the stream socket): {@link Transport#VHOST_USER} adds
         * {@code --vhost-user} in front of the options (not to a {@link #commandLine}, which
         * says it itself).
         */
        public Options transport(Transport t) {
            this.transport = t;
            return this;
        }

        /** Extra passt options after {@code -P PIDFILE -s SOCKET}, e.g. {@code "-t", "5201"}. */
        public Options arguments(String... more) {
            arguments.addAll(List.of(more));
            return this;
        }

        /**
         * The whole command line after the program, exactly as a caller (libvirt, Kata) writes it,
         * instead of {@code -P PIDFILE -s SOCKET} and {@link #arguments}; {@link Daemon#SOCKET}
         * and {@link Daemon#PID_FILE} in it stand for the daemon's paths. It must daemonize and
         * name the pid file.
         */
        public Options commandLine(String... words) {
            commandLine = List.of(words);
            return this;
        }

        /** Adds {@code -f}: the launched process is the daemon. */
        public Options foreground() {
            this.foreground = true;
            return this;
        }

        /**
         * Creates the pid file empty before launching, as QEMU and Kata do; mode 0666 so the
         * daemon may write it after dropping privileges.
         */
        public Options preCreateEmptyPidFile() {
            this.preCreateEmptyPidFile = true;
            return this;
        }

        /** Omits {@code -P}; only allowed with {@link #foreground()}. */
        public Options withoutPidFile() {
            this.pidFile = false;
            return this;
        }

        /**
         * Runs the daemon in a private mount namespace where {@code file} is bind-mounted over
         * /etc/resolv.conf (needs root: {@link #canOverrideResolvConf()}).
         */
        public Options resolvConf(Path file) {
            this.resolvConf = file.toAbsolutePath();
            return this;
        }

        /** How long the launcher may take to exit (or, foreground, the socket to listen). */
        /** Words before the daemon's command, e.g. {@code setpriv --reuid=1234 ...} to start it as another user. */
        public Options prefix(String... words) {
            prefix.addAll(List.of(words));
            return this;
        }

        /** The command before passt's options, instead of the {@link Kind}'s, e.g. {@code ./passt}. */
        public Options program(String... words) {
            program = List.of(words);
            return this;
        }

        /** An environment variable for the launching command (and what it passes on). */
        public Options environment(String name, String value) {
            environment.put(name, value);
            return this;
        }

        public Options startTimeout(Duration timeout) {
            this.startTimeout = timeout;
            return this;
        }

        public Daemon start() {
            return Daemon.launch(this);
        }
    }

    private final Kind kind;
    private final Transport transport;
    private final Path directory;
    private final Path socket;
    private final Path pidFile;
    private final List<String> command;
    private final Process launcher;
    private final Integer launcherExitCode;
    private final long pid;
    private boolean closed;

    private Daemon(Kind kind, Transport transport, Path directory, Path socket, Path pidFile, List<String> command,
                   Process launcher, Integer launcherExitCode, long pid) {
        this.kind = kind;
        this.transport = transport;
        this.directory = directory;
        this.socket = socket;
        this.pidFile = pidFile;
        this.command = command;
        this.launcher = launcher;
        this.launcherExitCode = launcherExitCode;
        this.pid = pid;
    }

    /** Options for a daemon of {@code kind}; chain and call {@link Options#start()}. */
    public static Options options(Kind kind) {
        return new Options(kind);
    }

    /** Options for a daemon of {@code target}'s kind over its transport. */
    public static Options options(Target target) {
        return new Options(target.kind()).transport(target.transport());
    }

    /** Starts a daemonizing daemon of {@code target} with {@code -P pidfile -s socket} and {@code arguments}. */
    public static Daemon start(Target target, String... arguments) {
        return options(target).arguments(arguments).start();
    }

    /** Starts a daemonizing {@code kind} with {@code -P pidfile -s socket} and {@code arguments}. */
    public static Daemon start(Kind kind, String... arguments) {
        return options(kind).arguments(arguments).start();
    }

    /** Starts {@code kind} in the foreground ({@code -f}) with {@code arguments}. */
    public static Daemon startForeground(Kind kind, String... arguments) {
        return options(kind).foreground().arguments(arguments).start();
    }

    /** Whether {@link Options#resolvConf(Path)} can work here (it needs root for the bind mount). */
    public static boolean canOverrideResolvConf() {
        return Processes.effectiveUid() == 0 && Files.isExecutable(Path.of("/usr/bin/unshare"));
    }

    public Kind kind() {
        return kind;
    }

    /** The guest transport it serves (how a guest must be started on it: {@link Guest#builder(Daemon)}). */
    public Transport transport() {
        return transport;
    }

    public Target target() {
        return new Target(kind, transport);
    }

    /** The UNIX socket QEMU connects to. */
    public Path socket() {
        return socket;
    }

    /** The pid file given with {@code -P} (absent for {@link Options#withoutPidFile()}). */
    public Path pidFile() {
        return pidFile;
    }

    /** The daemon's private directory (socket, pid file, stdout, stderr). */
    public Path directory() {
        return directory;
    }

    /** The full command that was launched. */
    public List<String> command() {
        return command;
    }

    /** The daemon's pid: from the pid file, or the launched process itself in the foreground. */
    public long pid() {
        return pid;
    }

    /** The pid of the process the test started (the daemon itself only in the foreground). */
    public long launcherPid() {
        return launcher.pid();
    }

    /** The launcher's exit status (always 0 for a started background daemon). */
    public int launcherExitCode() {
        if (launcherExitCode == null) {
            throw new IllegalStateException("a foreground daemon has no launcher exit code while it runs");
        }
        return launcherExitCode;
    }

    /** Everything written so far to the launcher's stdout (and by a daemon that kept it). */
    public String stdout() {
        return read(directory.resolve("stdout"));
    }

    /** Everything written so far to the launcher's stderr (and by a daemon that kept it). */
    public String stderr() {
        return read(directory.resolve("stderr"));
    }

    /** True while the daemon process runs (not ended, not a zombie). */
    public boolean isRunning() {
        return Processes.isRunning(pid);
    }

    /** Sends {@code signal} to the daemon. */
    public boolean signal(int signal) {
        return Processes.signal(pid, signal);
    }

    /** Sends {@code signal} and waits up to {@code timeout} for the daemon to end; true if it did. */
    public boolean signalAndAwaitEnd(int signal, Duration timeout) {
        if (!isRunning()) {
            return true;
        }
        signal(signal);
        boolean ended = Processes.awaitEnd(pid, timeout);
        if (ended && launcherExitCode == null) {
            waitFor(launcher, Duration.ofSeconds(1)); // reap our own child
        }
        return ended;
    }

    /**
     * Waits until the daemon serves: its event loop waits for events (up to {@code timeout};
     * true if it does). jpasst's daemon finishes its start-up (takes over the sockets its launcher
     * bound, gives up root) after the launcher returned, passt before it forks: tests that measure
     * the daemon's own resources (descriptors, memory) start from there.
     */
    public boolean awaitServing(Duration timeout) {
        return Processes.await(() -> Processes.waitsInEpoll(pid), timeout);
    }

    /** True if the socket is a listening UNIX socket now (per /proc/net/unix; no connection made). */
    public boolean isListening() {
        return isListeningUnixSocket(socket);
    }

    /** Text for assertion messages: the command and both output files. */
    public String describe() {
        return kind + " daemon (" + transport + ") pid " + pid + ", command: " + String.join(" ", command)
                + "\n----- stdout -----\n" + stdout() + "----- stderr -----\n" + stderr() + "-----";
    }

    /** SIGQUIT, up to 3 s, then SIGKILL; deletes the directory. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (pid > 1 && isRunning() && !signalAndAwaitEnd(Processes.SIGQUIT, Duration.ofSeconds(3))) {
            signalAndAwaitEnd(Processes.SIGKILL, Duration.ofSeconds(5));
        }
        if (launcher.isAlive()) {
            launcher.destroyForcibly();
            waitFor(launcher, Duration.ofSeconds(5));
        }
        deleteDirectory(directory);
    }

    private static Daemon launch(Options options) {
        if (!options.foreground && !options.pidFile) {
            throw new IllegalArgumentException("a background daemon needs its pid file");
        }
        Path directory = createDirectory();
        Path socket = directory.resolve("passt.socket");
        Path pidFile = directory.resolve("passt.pid");
        List<String> command = new ArrayList<>();
        if (options.resolvConf != null) {
            command.addAll(List.of("/usr/bin/unshare", "--mount", "--", "/bin/sh", "-c",
                    "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"", options.resolvConf.toString()));
        }
        Process launcher;
        try {
            command.addAll(options.prefix);
            command.addAll(options.program != null ? options.program : options.kind.command());
            if (options.commandLine != null) {
                for (String word : options.commandLine) {
                    command.add(word.replace(SOCKET, socket.toString()).replace(PID_FILE, pidFile.toString()));
                }
            } else {
                command.addAll(options.transport.daemonOptions());
                if (options.foreground) {
                    command.add("-f");
                }
                if (options.pidFile) {
                    command.addAll(List.of("-P", pidFile.toString()));
                }
                command.addAll(List.of("-s", socket.toString()));
                command.addAll(options.arguments);
            }
            if (options.preCreateEmptyPidFile) {
                Files.createFile(pidFile);
                Files.setPosixFilePermissions(pidFile, PosixFilePermissions.fromString("rw-rw-rw-"));
            }
            ProcessBuilder builder = new ProcessBuilder(command);
            builder.environment().putAll(options.environment);
            launcher = builder
                    .directory(directory.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(directory.resolve("stdout").toFile())
                    .redirectError(directory.resolve("stderr").toFile())
                    .start();
        } catch (IOException | AssertionError e) {
            deleteDirectory(directory);
            if (e instanceof AssertionError assertion) {
                throw assertion;
            }
            throw new UncheckedIOException("cannot start " + command, (IOException) e);
        }
        try {
            return options.foreground
                    ? awaitForeground(options, directory, socket, options.pidFile ? pidFile : null, command, launcher)
                    : awaitDaemonized(options, directory, socket, pidFile, command, launcher);
        } catch (RuntimeException | Error e) {
            if (launcher.isAlive()) {
                launcher.destroyForcibly();
                waitFor(launcher, Duration.ofSeconds(5));
            }
            throw e;
        }
    }

    private static Daemon awaitDaemonized(Options options, Path directory, Path socket, Path pidFile,
                                          List<String> command, Process launcher) {
        if (!waitFor(launcher, options.startTimeout)) {
            throw new AssertionError("launcher did not exit within " + options.startTimeout + ": "
                    + String.join(" ", command) + outputs(directory));
        }
        int exit = launcher.exitValue();
        if (exit != 0) {
            killPidFromFile(pidFile);
            throw new AssertionError("launcher exited " + exit + ": " + String.join(" ", command) + outputs(directory));
        }
        long pid = readPid(pidFile);
        if (pid <= 1) {
            throw new AssertionError("launcher exited 0 but pid file " + pidFile + " holds no pid: \""
                    + read(pidFile) + "\"" + outputs(directory));
        }
        return new Daemon(options.kind, options.transport, directory, socket, pidFile, command, launcher, exit, pid);
    }

    private static Daemon awaitForeground(Options options, Path directory, Path socket, Path pidFile,
                                          List<String> command, Process launcher) {
        long deadline = System.nanoTime() + options.startTimeout.toNanos();
        while (!isListeningUnixSocket(socket)) {
            if (!launcher.isAlive()) {
                throw new AssertionError("foreground daemon exited " + launcher.exitValue()
                        + " before listening: " + String.join(" ", command) + outputs(directory));
            }
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("foreground daemon not listening on " + socket + " within "
                        + options.startTimeout + ": " + String.join(" ", command) + outputs(directory));
            }
            Processes.sleep(Duration.ofMillis(10));
        }
        return new Daemon(options.kind, options.transport, directory, socket, pidFile, command, launcher, null, launcher.pid());
    }

    /**
     * Whether {@code socket} is bound and listening, read from /proc/net/unix: the flags column
     * has __SO_ACCEPTCON (0x10000) for a listening socket.
     */
    public static boolean isListeningUnixSocket(Path socket) {
        String path = socket.toAbsolutePath().toString();
        try (Stream<String> lines = Files.lines(Path.of("/proc/net/unix"))) {
            return lines.skip(1).map(String::strip).anyMatch(line -> {
                String[] fields = line.split("\\s+");
                return fields.length >= 8 && fields[7].equals(path)
                        && (Long.parseLong(fields[3], 16) & 0x10000) != 0;
            });
        } catch (IOException | NumberFormatException e) {
            return false;
        }
    }

    /** The pid in {@code file} ("1234\n"), or -1 if missing, empty or not a number. */
    static long readPid(Path file) {
        try {
            String text = Files.readString(file, StandardCharsets.US_ASCII).strip();
            return text.isEmpty() ? -1 : Long.parseLong(text);
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    /** A failed launch may still have left a daemon behind (passt writes the pid file last). */
    private static void killPidFromFile(Path pidFile) {
        long pid = readPid(pidFile);
        if (pid > 1 && Processes.isRunning(pid)) {
            Processes.signal(pid, Processes.SIGKILL);
        }
    }

    private static Path createDirectory() {
        try {
            Path directory = Files.createTempDirectory("jpasst-e2e-");
            Files.setPosixFilePermissions(directory, PosixFilePermissions.fromString("rwxrwxrwx"));
            return directory;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the daemon's directory", e);
        }
    }

    private static String outputs(Path directory) {
        return "\n----- stdout -----\n" + read(directory.resolve("stdout"))
                + "----- stderr -----\n" + read(directory.resolve("stderr")) + "-----";
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }

    private static boolean waitFor(Process process, Duration timeout) {
        try {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static void deleteDirectory(Path directory) {
        try (Stream<Path> paths = Files.walk(directory)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        } catch (IOException ignored) {
            // Best effort: a leftover temp directory is harmless.
        }
    }
}
