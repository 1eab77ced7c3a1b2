package jpasst.glue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * One passt-compatible daemon serving one VM, managed the way Kata Containers manages its passt
 * endpoint: start it with a socket and pid file in a private runtime directory, check that the pid
 * file names a live daemon (not the launcher, which forks it and exits), hand out the QEMU
 * arguments for its socket, stop it, and remove what it left behind. The state (pid, paths,
 * command) can be saved to a small JSON file and loaded by another process later, so a VM manager
 * that restarts can still find and stop its daemons.
 *
 * <p>Starting follows passt's daemon contract: the launching command exits 0 once the socket
 * listens and the pid file names the daemon. Its output goes to a file in the runtime directory
 * rather than a pipe, so that a daemon that keeps the launcher's stderr open cannot stall us.
 *
 * <p>Stopping sends SIGQUIT, then SIGTERM, then SIGKILL, waiting a grace period after each.
 * passt (2023) exits on SIGQUIT and SIGTERM but leaves its socket and pid file behind, so the
 * endpoint removes them itself.
 *
 * <p>Run as root, passt drops to user "nobody" (or its {@code --runas} user) before writing the
 * pid file, so the runtime directory is then given to that user; otherwise it belongs to us.
 */
public final class PasstEndpoint implements AutoCloseable {

    public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(15);
    public static final Duration DEFAULT_STOP_GRACE = Duration.ofSeconds(3);

    static final String SOCKET_NAME = "passt.socket";
    static final String PID_FILE_NAME = "passt.pid";
    static final String LAUNCH_LOG_NAME = "launch.log";
    static final String CONTROL_NAME = "control.socket";
    private static final String STATE_FORMAT = "jpasst-endpoint/1";
    /** sun_path holds 108 bytes including the terminating NUL. */
    private static final int MAX_SOCKET_PATH_BYTES = 107;

    /** Which signal ended the daemon, as {@link #stop()} reports it. */
    public enum StopOutcome { ALREADY_STOPPED, STOPPED_BY_SIGQUIT, STOPPED_BY_SIGTERM, STOPPED_BY_SIGKILL }

    private final long pid;
    private final Optional<Instant> startTime;
    private final Path runtimeDirectory;
    private final Path socketPath;
    private final Path pidFile;
    private final Path launchLog;
    private final DaemonCommand daemon;
    private final List<String> passtOptions;
    private boolean stopped;

    private PasstEndpoint(long pid, Optional<Instant> startTime, Path runtimeDirectory, Path socketPath,
                          Path pidFile, Path launchLog, DaemonCommand daemon, List<String> passtOptions) {
        this.pid = pid;
        this.startTime = startTime;
        this.runtimeDirectory = runtimeDirectory;
        this.socketPath = socketPath;
        this.pidFile = pidFile;
        this.launchLog = launchLog;
        this.daemon = daemon;
        this.passtOptions = List.copyOf(passtOptions);
    }

    /** Starts {@code daemon} with {@code passtOptions} and default settings. */
    public static PasstEndpoint start(DaemonCommand daemon, List<String> passtOptions) throws IOException {
        return start(new Options(daemon).passtOptions(passtOptions));
    }

    public static PasstEndpoint start(Options options) throws IOException {
        rejectManagedOptions(options.passtOptions);
        Path runtimeDirectory = Files.createTempDirectory(options.runtimeParent(), "jpasst-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        try {
            return launch(options, runtimeDirectory);
        } catch (IOException | RuntimeException e) {
            deleteRuntimeFiles(runtimeDirectory);
            throw e;
        }
    }

    private static PasstEndpoint launch(Options options, Path runtimeDirectory) throws IOException {
        Path socket = runtimeDirectory.resolve(SOCKET_NAME);
        Path pidFile = runtimeDirectory.resolve(PID_FILE_NAME);
        Path launchLog = runtimeDirectory.resolve(LAUNCH_LOG_NAME);
        if (socket.toString().getBytes(StandardCharsets.UTF_8).length > MAX_SOCKET_PATH_BYTES) {
            throw new IOException("socket path " + socket + " is longer than a UNIX socket address allows ("
                    + MAX_SOCKET_PATH_BYTES + " bytes): choose a shorter runtime parent directory");
        }
        handRuntimeDirectoryToDaemonUser(runtimeDirectory, options.passtOptions);

        List<String> passtOptions = new ArrayList<>(options.passtOptions);
        if (options.controlSocket) passtOptions.addAll(List.of("-c", runtimeDirectory.resolve(CONTROL_NAME).toString()));
        List<String> arguments = new ArrayList<>(passtOptions);
        arguments.addAll(List.of("-P", pidFile.toString(), "-s", socket.toString()));
        List<String> commandLine = options.daemon.withArguments(arguments);
        Process launcher = new ProcessBuilder(commandLine)
                .redirectInput(new File("/dev/null"))
                .redirectErrorStream(true)
                .redirectOutput(launchLog.toFile())
                .start();
        awaitLauncher(launcher, options.startTimeout, pidFile, launchLog, commandLine);

        long pid = readPid(pidFile, launchLog);
        if (pid == launcher.pid()) {
            throw new DaemonStartException("the pid file " + pidFile + " names the launching process "
                    + pid + ", not a daemon", readLog(launchLog));
        }
        Optional<Instant> startTime = LinuxProcess.startTime(pid);
        if (!LinuxProcess.isRunning(pid, Optional.empty())) {
            throw new DaemonStartException("the pid file names process " + pid + ", which is not running",
                    readLog(launchLog));
        }
        if (!isSocket(socket)) {
            LinuxProcess.sendKill(pid);
            throw new DaemonStartException("daemon " + pid + " runs but there is no socket at " + socket,
                    readLog(launchLog));
        }
        return new PasstEndpoint(pid, startTime, runtimeDirectory, socket, pidFile, launchLog,
                options.daemon, passtOptions);
    }

    private static void awaitLauncher(Process launcher, Duration timeout, Path pidFile, Path launchLog,
                                      List<String> commandLine) throws IOException {
        boolean exited;
        try {
            exited = launcher.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            launcher.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting " + ShellQuote.join(commandLine), e);
        }
        if (!exited) {
            launcher.destroyForcibly();
            killDaemonNamedIn(pidFile);
            throw new DaemonStartException("'" + ShellQuote.join(commandLine) + "' did not exit within "
                    + timeout.toMillis() + " ms (a daemon's launcher exits once the socket listens)",
                    readLog(launchLog));
        }
        if (launcher.exitValue() != 0) {
            killDaemonNamedIn(pidFile);
            throw new DaemonStartException("'" + ShellQuote.join(commandLine) + "' exited with status "
                    + launcher.exitValue(), readLog(launchLog));
        }
    }

    private static long readPid(Path pidFile, Path launchLog) throws IOException {
        if (!Files.exists(pidFile)) {
            throw new DaemonStartException("the launcher exited 0 but wrote no pid file " + pidFile, readLog(launchLog));
        }
        String text = Files.readString(pidFile).trim();
        try {
            long pid = Long.parseLong(text);
            if (pid <= 1) throw new NumberFormatException();
            if (pid == ProcessHandle.current().pid()) {
                throw new DaemonStartException("the pid file " + pidFile + " names this very process", readLog(launchLog));
            }
            return pid;
        } catch (NumberFormatException e) {
            throw new DaemonStartException("the pid file " + pidFile + " holds '" + text + "', not a pid",
                    readLog(launchLog));
        }
    }

    private static void killDaemonNamedIn(Path pidFile) {
        try {
            if (Files.exists(pidFile)) {
                long pid = Long.parseLong(Files.readString(pidFile).trim());
                if (pid > 1 && pid != ProcessHandle.current().pid()) {
                    LinuxProcess.sendKill(pid);
                }
            }
        } catch (IOException | NumberFormatException ignored) {
            // Nothing trustworthy to kill.
        }
    }

    private static String readLog(Path launchLog) {
        try {
            // Decoded leniently: a daemon's complaint is worth showing even if it is not valid UTF-8.
            return Files.exists(launchLog) ? new String(Files.readAllBytes(launchLog), StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(cannot read " + launchLog + ": " + e.getMessage() + ")";
        }
    }

    private static boolean isSocket(Path path) {
        try {
            // A UNIX socket is neither file, directory nor link: "other".
            return Files.readAttributes(path, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isOther();
        } catch (IOException e) {
            return false;
        }
    }

    /** The endpoint owns the socket, pid file and foreground mode; passing them would break it. */
    private static void rejectManagedOptions(List<String> passtOptions) {
        Set<String> managed = Set.of("-s", "--socket", "-P", "--pid", "-f", "--foreground", "-F", "--fd",
                "-h", "--help", "--version");
        for (String option : passtOptions) {
            String name = option.startsWith("--") && option.contains("=")
                    ? option.substring(0, option.indexOf('=')) : option;
            if (managed.contains(name)) {
                throw new IllegalArgumentException("passt option " + option
                        + " is managed by the endpoint (it sets the socket and pid file and needs a daemon)");
            }
        }
    }

    /**
     * passt refuses to keep root and switches to "nobody" (or the --runas user) before it writes the
     * pid file, so that user must own the runtime directory, and be able to reach it.
     */
    private static void handRuntimeDirectoryToDaemonUser(Path runtimeDirectory, List<String> passtOptions)
            throws IOException {
        if (!"root".equals(Files.getOwner(runtimeDirectory).getName())) {
            return;
        }
        String user = runAsUser(passtOptions).orElse("nobody");
        if (user.equals("0") || user.equals("root")) {
            return;
        }
        UserPrincipal principal = runtimeDirectory.getFileSystem().getUserPrincipalLookupService()
                .lookupPrincipalByName(user);
        Files.setOwner(runtimeDirectory, principal);
        Set<PosixFilePermission> parent = Files.getPosixFilePermissions(runtimeDirectory.getParent());
        if (!parent.contains(PosixFilePermission.OTHERS_EXECUTE)) {
            throw new IOException("the daemon will run as '" + user + "', who cannot enter "
                    + runtimeDirectory.getParent() + ": choose a runtime parent directory others can traverse");
        }
    }

    private static Optional<String> runAsUser(List<String> passtOptions) {
        for (int i = 0; i < passtOptions.size(); i++) {
            String option = passtOptions.get(i);
            String value = null;
            if (option.equals("--runas") && i + 1 < passtOptions.size()) {
                value = passtOptions.get(i + 1);
            } else if (option.startsWith("--runas=")) {
                value = option.substring("--runas=".length());
            }
            if (value != null) {
                int colon = value.indexOf(':');
                return Optional.of(colon < 0 ? value : value.substring(0, colon));
            }
        }
        return Optional.empty();
    }

    public long pid() {
        return pid;
    }

    public Optional<Instant> startTime() {
        return startTime;
    }

    /** The daemon's control socket: its {@code -c} option, if it was started with one. */
    public Optional<Path> controlPath() {
        for (int i = 0; i < passtOptions.size(); i++) {
            String o = passtOptions.get(i);
            if ((o.equals("-c") || o.equals("--conf-path")) && i + 1 < passtOptions.size()) return Optional.of(Path.of(passtOptions.get(i + 1)));
            if (o.startsWith("--conf-path=")) return Optional.of(Path.of(o.substring("--conf-path=".length())));
        }
        return Optional.empty();
    }

    /**
     * A new connection to the daemon's control socket (a jpasst daemon started with
     * {@link Options#controlSocket()} or {@code -c}); the caller closes it.
     *
     * @throws IllegalStateException the daemon has no control socket
     */
    public PasstControl control() throws IOException {
        Path p = controlPath().orElseThrow(() -> new IllegalStateException(
                "the daemon was started without a control socket (Options.controlSocket() or -c)"));
        return PasstControl.connect(p);
    }

    public Path runtimeDirectory() {
        return runtimeDirectory;
    }

    public Path socketPath() {
        return socketPath;
    }

    public Path pidFile() {
        return pidFile;
    }

    /** Where the launching command's output went (passt's start-up report, or its complaint). */
    public Path launchLog() {
        return launchLog;
    }

    public DaemonCommand daemon() {
        return daemon;
    }

    public List<String> passtOptions() {
        return passtOptions;
    }

    /** True if the daemon was started with {@code --vhost-user}: QEMU must then use the vhost-user form. */
    public boolean vhostUser() {
        return passtOptions.contains("--vhost-user");
    }

    /** True while the daemon process runs (a zombie or a recycled pid counts as stopped). */
    public boolean isAlive() {
        return LinuxProcess.isRunning(pid, startTime);
    }

    /** QEMU arguments for this daemon's socket, ready to be refined (MAC, reconnect, JSON, RAM). */
    public QemuNetworkArgs.Builder qemuArgs(QemuVersion qemuVersion) {
        QemuNetworkArgs.Builder builder = QemuNetworkArgs.forSocket(socketPath).qemuVersion(qemuVersion);
        if (vhostUser()) {
            builder.form(NetdevForm.VHOST_USER);
        }
        return builder;
    }

    /** The default QEMU arguments for this daemon's socket (vhost-user needs {@link #qemuArgs} and a RAM size). */
    public List<String> qemuArguments(QemuVersion qemuVersion) {
        return qemuArgs(qemuVersion).build().arguments();
    }

    public StopOutcome stop() throws IOException {
        return stop(DEFAULT_STOP_GRACE);
    }

    /**
     * Stops the daemon: SIGQUIT, then SIGTERM, then SIGKILL, each followed by up to
     * {@code gracePerSignal} of waiting; then removes the socket, pid file and runtime directory.
     * Calling it again does nothing.
     */
    public synchronized StopOutcome stop(Duration gracePerSignal) throws IOException {
        if (stopped) {
            return StopOutcome.ALREADY_STOPPED;
        }
        StopOutcome outcome;
        try {
            outcome = signalUntilStopped(gracePerSignal.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while stopping daemon " + pid, e);
        }
        stopped = true;
        deleteRuntimeFiles(runtimeDirectory);
        return outcome;
    }

    private StopOutcome signalUntilStopped(long graceMillis) throws InterruptedException, IOException {
        if (!isAlive()) {
            return StopOutcome.ALREADY_STOPPED;
        }
        LinuxProcess.sendQuit(pid);
        if (LinuxProcess.awaitExit(pid, startTime, graceMillis)) {
            return StopOutcome.STOPPED_BY_SIGQUIT;
        }
        LinuxProcess.sendTerm(pid);
        if (LinuxProcess.awaitExit(pid, startTime, graceMillis)) {
            return StopOutcome.STOPPED_BY_SIGTERM;
        }
        LinuxProcess.sendKill(pid);
        if (LinuxProcess.awaitExit(pid, startTime, graceMillis)) {
            return StopOutcome.STOPPED_BY_SIGKILL;
        }
        throw new IOException("daemon " + pid + " survived SIGQUIT, SIGTERM and SIGKILL");
    }

    @Override
    public void close() throws IOException {
        stop();
    }

    private static void deleteRuntimeFiles(Path runtimeDirectory) {
        for (String name : List.of(SOCKET_NAME, PID_FILE_NAME, LAUNCH_LOG_NAME, CONTROL_NAME)) {
            try {
                Files.deleteIfExists(runtimeDirectory.resolve(name));
            } catch (IOException ignored) {
                // Left for the directory check below to report by leaving the directory.
            }
        }
        try {
            Files.deleteIfExists(runtimeDirectory);
        } catch (IOException ignored) {
            // Not empty: the user put something there (e.g. a pcap file); leave it.
        }
    }

    /** Writes the state to {@code stateFile} (JSON), replacing it atomically. */
    public void save(Path stateFile) throws IOException {
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("format", STATE_FORMAT);
        state.put("pid", pid);
        state.put("startTime", startTime.map(Instant::toString).orElse(null));
        state.put("runtimeDirectory", runtimeDirectory.toString());
        state.put("socket", socketPath.toString());
        state.put("pidFile", pidFile.toString());
        state.put("launchLog", launchLog.toString());
        state.put("daemonCommand", daemon.command());
        state.put("passtOptions", passtOptions);
        Path absolute = stateFile.toAbsolutePath();
        Path temporary = Files.createTempFile(absolute.getParent(), ".jpasst-state-", ".tmp");
        Files.writeString(temporary, Json.write(state) + "\n");
        try {
            Files.move(temporary, absolute, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temporary, absolute, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Reads a state file written by {@link #save}; the daemon may since have stopped ({@link #isAlive}). */
    public static PasstEndpoint load(Path stateFile) throws IOException {
        Map<String, Object> state;
        try {
            state = Json.parseObject(Files.readString(stateFile));
        } catch (IllegalArgumentException e) {
            throw new IOException(stateFile + " is not an endpoint state file: " + e.getMessage(), e);
        }
        if (!STATE_FORMAT.equals(state.get("format"))) {
            throw new IOException(stateFile + " is not an endpoint state file (format " + state.get("format") + ")");
        }
        try {
            return new PasstEndpoint(
                    ((Number) require(state, "pid")).longValue(),
                    Optional.ofNullable((String) state.get("startTime")).map(Instant::parse),
                    Path.of((String) require(state, "runtimeDirectory")),
                    Path.of((String) require(state, "socket")),
                    Path.of((String) require(state, "pidFile")),
                    Path.of((String) require(state, "launchLog")),
                    new DaemonCommand(stringList(require(state, "daemonCommand"))),
                    stringList(require(state, "passtOptions")));
        } catch (ClassCastException | IllegalArgumentException | java.time.DateTimeException e) {
            throw new IOException(stateFile + " has a malformed field: " + e.getMessage(), e);
        }
    }

    private static Object require(Map<String, Object> state, String key) throws IOException {
        Object value = state.get(key);
        if (value == null) {
            throw new IOException("endpoint state lacks \"" + key + "\"");
        }
        return value;
    }

    private static List<String> stringList(Object value) {
        List<String> strings = new ArrayList<>();
        for (Object item : (List<?>) value) {
            strings.add((String) Objects.requireNonNull(item, "null in a list"));
        }
        return strings;
    }

    @Override
    public String toString() {
        return "PasstEndpoint[pid " + pid + ", socket " + socketPath + ", " + daemon + "]";
    }

    /** Settings for {@link #start(Options)}; only the daemon command is required. */
    public static final class Options {
        private final DaemonCommand daemon;
        private List<String> passtOptions = List.of();
        private Path runtimeParent;
        private Duration startTimeout = DEFAULT_START_TIMEOUT;
        private boolean controlSocket;

        public Options(DaemonCommand daemon) {
            this.daemon = Objects.requireNonNull(daemon, "daemon");
        }

        /** Options for the daemon (e.g. {@code -t 8080 -q}); the endpoint adds -P and -s itself. */
        public Options passtOptions(List<String> options) {
            this.passtOptions = List.copyOf(options);
            return this;
        }

        /**
         * Where the private runtime directory is created. By default $XDG_RUNTIME_DIR when we are
         * not root and it exists, else the JVM's temporary directory (root's daemon runs as
         * another user, who cannot enter root's runtime directory).
         */
        public Options runtimeParent(Path parent) {
            this.runtimeParent = parent;
            return this;
        }

        /**
         * Starts the daemon with a control socket ({@code -c}) in the runtime directory, for
         * {@link PasstEndpoint#control()}: jpasst only (passt has no such socket yet).
         */
        public Options controlSocket() {
            this.controlSocket = true;
            return this;
        }

        /** How long the launching command may take to exit 0. */
        public Options startTimeout(Duration timeout) {
            this.startTimeout = timeout;
            return this;
        }

        Path runtimeParent() {
            if (runtimeParent != null) {
                return runtimeParent;
            }
            String xdg = System.getenv("XDG_RUNTIME_DIR");
            boolean root = "root".equals(System.getProperty("user.name"));
            if (!root && xdg != null && Files.isDirectory(Path.of(xdg)) && Files.isWritable(Path.of(xdg))) {
                return Path.of(xdg);
            }
            return Path.of(System.getProperty("java.io.tmpdir"));
        }
    }
}
