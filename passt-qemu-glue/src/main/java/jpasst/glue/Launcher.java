package jpasst.glue;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The {@code passt-qemu} command. {@code run} starts a daemon, starts QEMU wired to it, and stops
 * the daemon when QEMU ends, exiting with QEMU's status, so a VM gets passt networking from one
 * command line. {@code args} prints the QEMU arguments for the socket of a daemon that already
 * runs, as one shell-quoted line.
 *
 * <p>In {@code run}, options this command knows are taken out and every other word before
 * {@code --} goes to the daemon as a passt option; {@code --vhost-user} among them also switches
 * QEMU to the vhost-user form. The netdev form follows the QEMU version unless told otherwise.
 */
public final class Launcher {

    static final int EXIT_FAILURE = 1;
    static final int EXIT_USAGE = 2;

    private static final String USAGE = """
            Usage:
              passt-qemu run [OPTIONS] [PASST OPTIONS] -- QEMU [VM ARGUMENTS]
              passt-qemu args -s SOCKET [OPTIONS]

            run: starts the daemon, starts QEMU with the network arguments appended, stops the
                 daemon when QEMU exits and exits with QEMU's status.
            args: prints the network arguments for the socket of a running daemon.

            Options for both:
              --qemu-version X.Y   QEMU release to write for (default: ask QEMU --version)
              --guest-mac MAC      MAC address of the guest's NIC
              --reconnect SECONDS  QEMU reconnects after SECONDS when the daemon goes (QEMU 8.0+)
              --json               -netdev/-device/-object as JSON, as libvirt writes them (QEMU 7.2+)
              --socket-fd          hand QEMU a connected socket (-netdev socket,fd=N) even on
                                   QEMU 7.2+, where -netdev stream is the default
              --fd N               descriptor number for the socket fd form (default 5)
              --id ID              netdev id (default jpasst0)
              --device MODEL       NIC model (default virtio-net-pci)
            Options for run:
              --daemon CMD         the daemon: a .jar (run with java -jar) or a passt binary,
                                   e.g. /usr/bin/passt (default: passt-core/target/passt.jar)
              --state FILE         keep the endpoint state (pid, paths) in FILE while QEMU runs
              --start-timeout S    seconds the daemon may take to start (default 15)
              Other words before -- are passt options for the daemon (e.g. -t 8080 -q);
              --vhost-user among them selects the vhost-user form.
            Options for args:
              -s, --socket SOCKET  the daemon's socket (required)
              --qemu BINARY        QEMU to ask for its version (default qemu-system-x86_64)
              --vhost-user         the daemon serves vhost-user
              --memory SIZE        guest RAM for vhost-user, as QEMU's -m (e.g. 4G)
            """;

    private Launcher() {
    }

    public static void main(String[] args) {
        System.exit(execute(args, System.out, System.err));
    }

    /** Runs one command and returns the exit status, without calling System.exit. */
    public static int execute(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help")) {
            (args.length == 0 ? err : out).print(USAGE);
            return args.length == 0 ? EXIT_USAGE : 0;
        }
        List<String> rest = Arrays.asList(args).subList(1, args.length);
        try {
            return switch (args[0]) {
                case "run" -> run(rest, err);
                case "args" -> printArgs(rest, out, err);
                default -> throw new UsageException("unknown command '" + args[0] + "' (run or args)");
            };
        } catch (UsageException e) {
            err.println("passt-qemu: " + e.getMessage());
            err.println("Try 'passt-qemu --help'.");
            return EXIT_USAGE;
        } catch (IOException | IllegalArgumentException | IllegalStateException | UnsupportedOperationException e) {
            err.println("passt-qemu: " + e.getMessage());
            return EXIT_FAILURE;
        }
    }

    /** The options common to both commands, and the ones each of them adds. */
    private static final class Settings {
        Optional<QemuVersion> qemuVersion = Optional.empty();
        String guestMac;
        Duration reconnect;
        boolean json;
        boolean socketFd;
        int fd = QemuNetworkArgs.DEFAULT_SOCKET_FD;
        String id = QemuNetworkArgs.DEFAULT_ID;
        String device = QemuNetworkArgs.DEFAULT_DEVICE_MODEL;
        // run
        Optional<DaemonCommand> daemon = Optional.empty();
        Path stateFile;
        Duration startTimeout = PasstEndpoint.DEFAULT_START_TIMEOUT;
        final List<String> passtOptions = new ArrayList<>();
        final List<String> qemuCommand = new ArrayList<>();
        // args
        Path socket;
        String qemuBinary = "qemu-system-x86_64";
        boolean vhostUser;
        long memoryBytes;

        /** Consumes an option common to both commands at {@code words[i]}; returns the next index, or -1. */
        int common(List<String> words, int i) throws UsageException {
            switch (words.get(i)) {
                case "--qemu-version" -> qemuVersion = Optional.of(QemuVersion.of(value(words, i)));
                case "--guest-mac" -> guestMac = value(words, i);
                case "--reconnect" -> reconnect = Duration.ofSeconds(positiveNumber(words, i));
                case "--json" -> {
                    json = true;
                    return i + 1;
                }
                case "--socket-fd" -> {
                    socketFd = true;
                    return i + 1;
                }
                case "--fd" -> fd = (int) positiveNumber(words, i);
                case "--id" -> id = value(words, i);
                case "--device" -> device = value(words, i);
                default -> {
                    return -1;
                }
            }
            return i + 2;
        }

        QemuNetworkArgs.Builder applyTo(QemuNetworkArgs.Builder builder) {
            return builder.guestMac(guestMac).reconnect(reconnect).json(json).socketFd(fd)
                    .netdevId(id).deviceModel(device);
        }

        NetdevForm form(QemuVersion version) {
            if (vhostUser) return NetdevForm.VHOST_USER;
            if (socketFd || !version.atLeast(QemuVersion.STREAM_NETDEV)) return NetdevForm.SOCKET_FD;
            return NetdevForm.STREAM;
        }
    }

    private static String value(List<String> words, int i) throws UsageException {
        if (i + 1 >= words.size()) {
            throw new UsageException(words.get(i) + " needs a value");
        }
        return words.get(i + 1);
    }

    private static long positiveNumber(List<String> words, int i) throws UsageException {
        String text = value(words, i);
        try {
            long number = Long.parseLong(text);
            if (number > 0) return number;
        } catch (NumberFormatException ignored) {
            // Reported below.
        }
        throw new UsageException(words.get(i) + " needs a positive number, not '" + text + "'");
    }

    private static int run(List<String> words, PrintStream err) throws IOException, UsageException {
        Settings settings = parseRun(words);
        DaemonCommand daemon = settings.daemon.isPresent() ? settings.daemon.get() : defaultDaemon();
        QemuVersion version = settings.qemuVersion.isPresent() ? settings.qemuVersion.get()
                : QemuVersion.detect(settings.qemuCommand.get(0));
        settings.vhostUser = settings.passtOptions.contains("--vhost-user");
        if (settings.vhostUser && !daemon.offersVhostUser()) {
            throw new IllegalArgumentException("the daemon '" + daemon + "' does not offer vhost-user "
                    + "(its --help lists no --vhost-user)");
        }
        NetdevForm form = settings.form(version);
        long ramBytes = form == NetdevForm.VHOST_USER ? GuestMemory.ramBytesOf(settings.qemuCommand) : 0;
        // Check the QEMU arguments before any daemon starts, so a bad choice costs nothing.
        settings.applyTo(QemuNetworkArgs.forSocket(Path.of("/check")).qemuVersion(version).form(form)
                .guestRamBytes(ramBytes)).build();

        PasstEndpoint endpoint = PasstEndpoint.start(new PasstEndpoint.Options(daemon)
                .passtOptions(settings.passtOptions).startTimeout(settings.startTimeout));
        RunSession session = new RunSession(endpoint, settings.stateFile, err);
        Thread hook = new Thread(session::shutdown, "passt-qemu-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            if (settings.stateFile != null) {
                endpoint.save(settings.stateFile);
            }
            QemuNetworkArgs network = settings.applyTo(endpoint.qemuArgs(version).form(form)
                    .guestRamBytes(ramBytes)).build();
            List<String> qemu = new ArrayList<>(settings.qemuCommand);
            qemu.addAll(network.arguments());
            return session.runQemu(qemu, network);
        } finally {
            session.shutdown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException alreadyShuttingDown) {
                // The hook is running or has run; nothing to remove.
            }
        }
    }

    private static Settings parseRun(List<String> words) throws UsageException {
        Settings settings = new Settings();
        int separator = words.indexOf("--");
        if (separator < 0 || separator == words.size() - 1) {
            throw new UsageException("run needs '-- QEMU [VM ARGUMENTS]' at the end");
        }
        List<String> before = words.subList(0, separator);
        for (int i = 0; i < before.size(); ) {
            int next = settings.common(before, i);
            if (next >= 0) {
                i = next;
                continue;
            }
            switch (before.get(i)) {
                case "--daemon" -> {
                    settings.daemon = Optional.of(DaemonCommand.parse(value(before, i)));
                    i += 2;
                }
                case "--state" -> {
                    settings.stateFile = Path.of(value(before, i));
                    i += 2;
                }
                case "--start-timeout" -> {
                    settings.startTimeout = Duration.ofSeconds(positiveNumber(before, i));
                    i += 2;
                }
                default -> settings.passtOptions.add(before.get(i++));
            }
        }
        settings.qemuCommand.addAll(words.subList(separator + 1, words.size()));
        return settings;
    }

    /** The jar this repository builds: passt-core/target/passt.jar next to this module. */
    static DaemonCommand defaultDaemon() {
        Path home = jpasstHome();
        Path jar = home.resolve("passt-core/target/passt.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("no daemon: " + jar + " is not built (mvn -B -q -pl passt-core "
                    + "-DskipTests package), or choose one with --daemon, e.g. --daemon /usr/bin/passt");
        }
        return DaemonCommand.jpasstJar(jar);
    }

    /** The repository root: the jpasst.home property, else found from where this class was loaded. */
    static Path jpasstHome() {
        String property = System.getProperty("jpasst.home");
        if (property != null) {
            return Path.of(property);
        }
        try {
            // .../passt-qemu-glue/target/classes or .../passt-qemu-glue/target/passt-qemu-glue.jar
            Path location = Path.of(Launcher.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            return location.getParent().getParent().getParent();
        } catch (URISyntaxException | NullPointerException e) {
            return Path.of(".").toAbsolutePath();
        }
    }

    private static int printArgs(List<String> words, PrintStream out, PrintStream err)
            throws IOException, UsageException {
        Settings settings = new Settings();
        for (int i = 0; i < words.size(); ) {
            int next = settings.common(words, i);
            if (next >= 0) {
                i = next;
                continue;
            }
            switch (words.get(i)) {
                case "-s", "--socket" -> settings.socket = Path.of(value(words, i));
                case "--qemu" -> settings.qemuBinary = value(words, i);
                case "--memory" -> settings.memoryBytes = GuestMemory.parseMachineMemoryOption(value(words, i));
                case "--vhost-user" -> {
                    settings.vhostUser = true;
                    i += 1;
                    continue;
                }
                default -> throw new UsageException("unknown option for args: " + words.get(i));
            }
            i += 2;
        }
        if (settings.socket == null) {
            throw new UsageException("args needs -s SOCKET");
        }
        if (!isSocket(settings.socket)) {
            throw new IOException("no socket at " + settings.socket + " (is the daemon running?)");
        }
        if (settings.vhostUser && settings.memoryBytes == 0) {
            throw new UsageException("--vhost-user needs --memory SIZE, the guest's -m");
        }
        QemuVersion version = settings.qemuVersion.isPresent() ? settings.qemuVersion.get()
                : QemuVersion.detect(settings.qemuBinary);
        QemuNetworkArgs network = settings.applyTo(QemuNetworkArgs.forSocket(settings.socket.toAbsolutePath())
                .qemuVersion(version).form(settings.form(version)).guestRamBytes(settings.memoryBytes)).build();
        out.println(network.shellLine());
        if (network.fdToPass().isPresent()) {
            err.println("passt-qemu: QEMU " + version + " expects " + settings.socket + " connected and passed as fd "
                    + network.fdToPass().getAsInt() + " (as passt's qrap did); 'passt-qemu run' does that for you");
        }
        return 0;
    }

    private static boolean isSocket(Path path) {
        try {
            return Files.readAttributes(path, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isOther();
        } catch (IOException e) {
            return false;
        }
    }

    /** A command-line mistake: reported with a hint to --help and exit status 2. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    /**
     * One VM run: QEMU and its daemon, torn down together exactly once, whether QEMU exits, the
     * launcher is interrupted (the shutdown hook), or starting QEMU fails.
     */
    private static final class RunSession {
        private final PasstEndpoint endpoint;
        private final Path stateFile;
        private final PrintStream err;
        private Process qemuProcess;
        private SocketHandoff.HandedOffProcess handedOff;
        private boolean qemuEnded;
        private boolean shutDown;

        RunSession(PasstEndpoint endpoint, Path stateFile, PrintStream err) {
            this.endpoint = endpoint;
            this.stateFile = stateFile;
            this.err = err;
        }

        int runQemu(List<String> qemu, QemuNetworkArgs network) throws IOException {
            int status;
            if (network.fdToPass().isPresent()) {
                SocketHandoff.HandedOffProcess process =
                        SocketHandoff.start(qemu, endpoint.socketPath(), network.fdToPass().getAsInt());
                synchronized (this) {
                    handedOff = process;
                }
                status = process.waitFor();
            } else {
                Process process = new ProcessBuilder(qemu).inheritIO().start();
                synchronized (this) {
                    qemuProcess = process;
                }
                try {
                    status = process.waitFor();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while QEMU ran", e);
                }
            }
            synchronized (this) {
                qemuEnded = true;
            }
            return status;
        }

        synchronized void shutdown() {
            if (shutDown) {
                return;
            }
            shutDown = true;
            if (!qemuEnded) {
                if (qemuProcess != null) qemuProcess.destroy();
                if (handedOff != null) handedOff.terminate();
            }
            try {
                endpoint.stop();
            } catch (IOException e) {
                err.println("passt-qemu: " + e.getMessage());
            }
            if (stateFile != null) {
                try {
                    Files.deleteIfExists(stateFile);
                } catch (IOException e) {
                    err.println("passt-qemu: cannot remove " + stateFile + ": " + e.getMessage());
                }
            }
        }
    }
}
