package jpasst;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import jpasst.conf.Conf;
import jpasst.conf.ConfException;
import jpasst.conf.HostNet;
import jpasst.conf.Options;
import jpasst.control.ControlClient;
import jpasst.link.Pcap;
import jpasst.loop.EventLoop;

/**
 * jpasst inside another JVM program (a Java VMM, a test rig that drives QEMU): one daemon
 * instance on a thread of its own, started with passt's options, on a socket path ({@code -s})
 * or a descriptor already connected to the guest's side ({@code --fd N}), controlled through the
 * same operations as the control socket, as methods ({@link #control()}), its events delivered
 * to a listener ({@link #onEvent}), stopped with {@link #close()}.
 *
 * <pre>{@code
 * try (EmbeddedPasst passt = EmbeddedPasst.start("-s", "/run/vm1.socket", "-t", "2222:22")) {
 *     passt.onEvent(e -> System.out.println("passt: " + e));
 *     // ... start QEMU with -netdev stream,...,addr.path=/run/vm1.socket
 *     passt.control().addForwards(List.of("8080:80"), List.of());
 *     System.out.println(passt.control().health());
 * }
 * }</pre>
 *
 * The control goes through a control socket of its own, as {@code ./passt-ctl} would (the
 * {@code -c} given, or one in a private temporary directory): the daemon's state stays its loop
 * thread's, and the embedder's threads only ever talk to it. What is the whole process's and not
 * the daemon's is left to the embedder: no change of user, no namespaces or system call filter
 * (those would confine the embedding program), no pid file, no log file; {@code -d}/{@code -q}
 * set the level of jpasst's log, which is the process's (the control's {@code log} changes it for
 * a while). {@code --runas}, {@code -P} and {@code -l} are refused.
 */
public final class EmbeddedPasst implements AutoCloseable {
    private final Passt passt;
    private final Pcap pcap;
    private final Thread thread;
    private final Path controlPath, privateDir;
    private ControlClient client;

    private EmbeddedPasst(Passt passt, Pcap pcap, Path controlPath, Path privateDir) {
        this.passt = passt;
        this.pcap = pcap;
        this.controlPath = controlPath;
        this.privateDir = privateDir;
        this.thread = new Thread(this::serve, "jpasst-" + (passt.socketPath() != null ? passt.socketPath() : "fd"));
        thread.setDaemon(true);
        thread.start();
    }

    /** Starts a daemon with passt's {@code options}; it serves once this returns. */
    public static EmbeddedPasst start(String... options) throws IOException {
        return start(List.of(options));
    }

    /**
     * Starts a daemon with passt's {@code options} (as on passt's command line); it serves once
     * this returns.
     *
     * @throws IllegalArgumentException a bad option (passt's message), or one not for an embedded daemon
     * @throws IOException the sockets cannot be bound, the host's network cannot be read
     */
    public static EmbeddedPasst start(List<String> options) throws IOException {
        Options.Parsed parsed;
        try {
            parsed = Options.parse(options.toArray(String[]::new));
        } catch (ConfException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        if (parsed.action() != Options.Action.RUN) throw new IllegalArgumentException("not an option to serve with: " + options);
        Conf.Builder b = parsed.conf();
        if (b.runAs != null) throw new IllegalArgumentException("--runas is not for an embedded daemon");
        if (b.pidFile != null) throw new IllegalArgumentException("-P is not for an embedded daemon");
        if (b.logFile != null) throw new IllegalArgumentException("-l is not for an embedded daemon");
        Path privateDir = null;
        if (b.confPath == null) {
            privateDir = Files.createTempDirectory("jpasst-", PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString("rwx------")));
            b.confPath = privateDir.resolve("control.socket").toString();
        }
        if (b.logLevel != jpasst.util.Log.INFO) jpasst.util.Log.level(b.logLevel); // (-d, -q, --trace)
        try {
            HostNet.complete(b);
            Conf conf = b.build();
            Pcap pcap = conf.pcapFile != null ? Pcap.open(conf.pcapFile) : null;
            Passt p = new Passt(conf, new EventLoop(), Listeners.open(conf), pcap);
            p.start();
            return new EmbeddedPasst(p, pcap, Path.of(conf.confPath), privateDir);
        } catch (ConfException | jpasst.sys.SysException e) {
            if (privateDir != null) Files.deleteIfExists(privateDir);
            throw new IOException(e.getMessage(), e);
        }
    }

    private void serve() {
        passt.run();
        passt.close(); // (on the loop's thread, once it stopped)
        if (pcap != null) pcap.close();
    }

    /** Where the guest's socket listens (null with --fd). */
    public String socketPath() {
        return passt.socketPath();
    }

    /** The daemon's control socket (the -c given, or a private one). */
    public Path controlPath() {
        return controlPath;
    }

    /** The operations of the control socket as methods: a client connected to it, made on first use. */
    public synchronized ControlClient control() throws IOException {
        if (client == null) client = ControlClient.connect(controlPath);
        return client;
    }

    /**
     * The daemon's events (the guest connected or gone, the forwards changed, stopping) to
     * {@code listener}, on a thread of their own, until the handle is closed or the daemon stops.
     */
    public Closeable onEvent(Consumer<Map<String, Object>> listener) throws IOException {
        return control().watch(listener);
    }

    public boolean isRunning() {
        return thread.isAlive();
    }

    /** Stops the daemon (its flows, sockets and control socket close) and waits for it. */
    @Override
    public void close() throws IOException {
        passt.loop.stop();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            if (client != null) client.close();
        }
        if (privateDir != null) {
            Files.deleteIfExists(controlPath);
            Files.deleteIfExists(privateDir);
        }
    }
}
