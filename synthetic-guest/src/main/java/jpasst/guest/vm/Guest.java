package jpasst.guest.vm;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPOutputStream;

/**
 * Boots one real QEMU guest (TCG, no KVM) whose only network is a passt-compatible daemon's UNIX
 * socket, runs a test's shell script inside it and returns what it printed.
 *
 * <p>How: the {@link GuestImage} base initramfs plus a small per-run archive holding
 * {@code /test.sh} and any extra files, booted with the daemon's {@link Transport}:
 * {@code -netdev stream,server=off,addr.type=unix} (QEMU >= 7.2: the same wire format as passt:
 * 4-byte big-endian length, then the Ethernet frame), or {@code -netdev vhost-user} with the
 * guest's RAM in a shared memfd.
 * The end-to-end tests and {@code benchmarks/compare --vm} both boot their guests here. The
 * serial console is captured whole; lines
 * {@code @@KEY=VALUE} are markers. A hard timeout kills QEMU, and every failure (timeout, QEMU
 * error, a marker asked for but missing) is an {@link AssertionError} whose message carries the
 * whole console, so a red test explains itself.
 *
 * <p>Usage: {@code Guest.run(daemon, "dhcp4")}, or {@link #builder(Served)} for files,
 * host programs, timeout, memory.
 */
public final class Guest {
    private static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    private static final Pattern MARKER = Pattern.compile("@@([A-Za-z0-9_.:-]+)=(.*)$");
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    private Guest() {
    }

    /** Boots a guest on {@code socket} (the stream netdev), runs {@code script} and returns its run. */
    public static GuestRun run(Path socket, String script) {
        return builder(socket).script(script).run();
    }

    /** Boots a guest on {@code daemon}'s socket over its transport, runs {@code script} and returns its run. */
    public static GuestRun run(Served daemon, String script) {
        return builder(daemon).script(script).run();
    }

    /** A guest on {@code socket} over the stream netdev. */
    public static Builder builder(Path socket) {
        return new Builder(socket);
    }

    /** A guest on {@code daemon}'s socket, over the transport the daemon serves. */
    public static Builder builder(Served daemon) {
        return new Builder(daemon.socket()).transport(daemon.transport());
    }

    /** A daemon as a guest sees it: the socket it serves and the transport it serves there. */
    public interface Served {
        Path socket();

        Transport transport();
    }

    /** One file to put into the guest's root file system. */
    private record GuestFile(String path, int permissions, byte[] content) {
    }

    /** Options of one guest run; {@link #run()} boots it. */
    public static final class Builder {
        private final Path socket;
        private String script = "";
        private Duration timeout = DEFAULT_TIMEOUT;
        private int memoryMegabytes = 256;
        private String extraKernelArguments = "";
        private final List<String> extraQemuArguments = new ArrayList<>();
        private final List<GuestFile> files = new ArrayList<>();
        private List<String> networkArguments;
        private List<String> launcher = List.of();
        private Transport transport = Transport.STREAM;
        private int reconnectMs;

        private Builder(Path socket) {
            this.socket = socket;
        }

        /** How the guest's NIC reaches the daemon (default: the stream netdev). */
        public Builder transport(Transport t) {
            this.transport = t;
            return this;
        }

        /** The shell script run as {@code /test.sh}, after the helpers of {@link GuestImage}. */
        public Builder script(String script) {
            this.script = script;
            return this;
        }

        /** QEMU connects to the daemon's socket again this long after losing it (libvirt: 5000). */
        public Builder reconnectMs(int ms) {
            this.reconnectMs = ms;
            return this;
        }

        /** Hard limit for the whole run, boot included (default 60 s). */
        public Builder timeout(Duration timeout) {
            this.timeout = timeout;
            return this;
        }

        public Builder memoryMegabytes(int megabytes) {
            this.memoryMegabytes = megabytes;
            return this;
        }

        /** Appended to the kernel command line. */
        public Builder kernelArguments(String arguments) {
            this.extraKernelArguments = arguments;
            return this;
        }

        /** Appended to QEMU's command line, e.g. {@code -device} options. */
        public Builder qemuArguments(String... arguments) {
            extraQemuArguments.addAll(List.of(arguments));
            return this;
        }

        /** Adds a file at {@code guestPath} with the given permission bits (e.g. 0755). */
        public Builder file(String guestPath, int permissions, byte[] content) {
            files.add(new GuestFile(guestPath, permissions, content.clone()));
            return this;
        }

        /** Adds a text file at {@code guestPath}. */
        public Builder file(String guestPath, int permissions, String content) {
            return file(guestPath, permissions, content.getBytes(StandardCharsets.UTF_8));
        }

        /**
         * Copies a dynamically linked host program into the guest at the same path, with the
         * shared libraries and loader {@code ldd} lists for it (e.g. {@code /usr/bin/iperf3}).
         */
        public Builder hostProgram(Path program) {
            try {
                Set<Path> needed = new LinkedHashSet<>();
                needed.add(program);
                String ldd;
                try {
                    ldd = GuestImage.run(List.of("ldd", program.toString()));
                } catch (IOException statik) {
                    ldd = ""; // "not a dynamic executable" exits 1: nothing more to copy
                }
                Matcher library = Pattern.compile("(/\\S+)\\s+\\(0x").matcher(ldd);
                while (library.find()) {
                    needed.add(Path.of(library.group(1)));
                }
                for (Path file : needed) {
                    int permissions = Files.isExecutable(file) ? 0755 : 0644;
                    files.add(new GuestFile(file.toString(), permissions, Files.readAllBytes(file)));
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot copy " + program + " into the guest", e);
            }
            return this;
        }

        /**
         * The guest's network arguments instead of the default stream netdev on the socket, e.g.
         * those produced by passt-qemu-glue (the device's netdev id is theirs to choose).
         */
        public Builder networkArguments(List<String> arguments) {
            this.networkArguments = List.copyOf(arguments);
            return this;
        }

        /**
         * Runs QEMU through a launcher command ({@code ./passt-qemu run --}, say) that adds the
         * network arguments itself: the guest gets none from here.
         */
        public Builder launchVia(List<String> launcherPrefix) {
            this.launcher = List.copyOf(launcherPrefix);
            this.networkArguments = List.of();
            return this;
        }

        /** Boots the guest, waits for it to power off, returns the console and markers. */
        public GuestRun run() {
            return Guest.boot(this);
        }

        /**
         * Boots the guest and returns at once, while it runs: for tests that act on a running
         * guest (wait for a marker, then kill QEMU, say). The builder's timeout does not apply.
         */
        public RunningGuest start() {
            Prepared p = Guest.prepare(this);
            return new RunningGuest(p.command(), p.directory(), p.initrd(), p.consoleFile());
        }
    }

    /** What boot() and start() share: the per-run directory, initramfs, console file and command. */
    private record Prepared(Path directory, Path initrd, Path consoleFile, List<String> command) {
    }

    private static Prepared prepare(Builder options) {
        if (!Files.isExecutable(QEMU)) {
            throw new AssertionError(QEMU + " is missing (apt-get install qemu-system-x86)");
        }
        GuestImage image = GuestImage.get();
        Path directory;
        Path initrd;
        try {
            directory = Files.createTempDirectory(GuestImage.workDirectory(), "run-");
            initrd = directory.resolve("initrd.cpio.gz");
            writeInitrd(image, options, initrd);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare the guest's initramfs", e);
        }

        List<String> command = new ArrayList<>(options.launcher);
        command.addAll(List.of(
                QEMU.toString(),
                "-nodefaults", "-nographic", "-serial", "stdio", "-no-reboot",
                "-accel", "tcg", "-cpu", "max", "-m", Integer.toString(options.memoryMegabytes),
                "-kernel", image.kernel().toString(),
                "-initrd", initrd.toString(),
                "-append", ("console=ttyS0 quiet panic=-1 " + options.extraKernelArguments).strip()));
        if (options.networkArguments == null) {
            command.addAll(options.transport.qemuArguments("n0", options.socket, options.memoryMegabytes, options.reconnectMs));
        } else {
            command.addAll(options.networkArguments);
        }
        command.addAll(options.extraQemuArguments);
        return new Prepared(directory, initrd, directory.resolve("console.log"), command);
    }

    private static GuestRun boot(Builder options) {
        Prepared prepared = prepare(options);
        Path directory = prepared.directory();
        Path initrd = prepared.initrd();
        List<String> command = prepared.command();
        Path consoleFile = prepared.consoleFile();
        long started = System.nanoTime();
        Process qemu;
        try {
            qemu = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(consoleFile.toFile())
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + QEMU, e);
        }
        boolean finished;
        try {
            finished = qemu.waitFor(options.timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            finished = false;
        } finally {
            // stdin is a pipe QEMU's serial reads; close it only now, EOF must not end the guest.
            closeQuietly(qemu.getOutputStream());
        }
        if (!finished) {
            qemu.destroyForcibly();
            waitQuietly(qemu);
        }
        Duration elapsed = Duration.ofNanos(System.nanoTime() - started);
        String console = readConsole(consoleFile);
        if (!finished) {
            throw new AssertionError("guest did not power off within " + options.timeout
                    + "; QEMU killed. Command: " + String.join(" ", command) + "\n" + consoleBlock(console));
        }
        GuestRun run = new GuestRun(console, parseMarkers(console), qemu.exitValue(), elapsed);
        if (run.qemuExitCode() != 0) {
            throw new AssertionError("QEMU exited with status " + run.qemuExitCode()
                    + ". Command: " + String.join(" ", command) + "\n" + consoleBlock(console));
        }
        deleteQuietly(directory, initrd, consoleFile);
        return run;
    }

    private static void writeInitrd(GuestImage image, Builder options, Path initrd) throws IOException {
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(initrd))) {
            long baseLength = Files.copy(image.initramfs(), out);
            // The kernel skips zero padding between archives; keep the next one 4-byte aligned.
            for (long i = baseLength; i % 4 != 0; i++) {
                out.write(0);
            }
            GZIPOutputStream gzip = new GZIPOutputStream(out);
            CpioNewcWriter cpio = new CpioNewcWriter(gzip);
            for (GuestFile file : options.files) {
                cpio.file(file.path(), file.permissions(), file.content());
            }
            cpio.file("test.sh", 0755, options.script.getBytes(StandardCharsets.UTF_8));
            cpio.finish();
            gzip.finish();
        }
    }

    static Map<String, List<String>> parseMarkers(String console) {
        Map<String, List<String>> markers = new LinkedHashMap<>();
        for (String rawLine : console.split("\n")) {
            String line = rawLine.replace("\r", "");
            int at = line.indexOf("@@");
            if (at < 0) {
                continue;
            }
            Matcher matcher = MARKER.matcher(line.substring(at));
            if (matcher.matches()) {
                markers.computeIfAbsent(matcher.group(1), k -> new ArrayList<>()).add(matcher.group(2).strip());
            }
        }
        return markers;
    }

    static String consoleBlock(String console) {
        return "----- guest console -----\n" + console + (console.endsWith("\n") ? "" : "\n")
                + "----- end of guest console -----";
    }

    static String readConsole(Path consoleFile) {
        try {
            return withoutTerminalControl(Files.readString(consoleFile, StandardCharsets.ISO_8859_1));
        } catch (IOException e) {
            return "(console unreadable: " + e + ")";
        }
    }

    /** Drops the firmware's terminal escapes (ESC c, ESC [ ... x) and stray control characters. */
    static String withoutTerminalControl(String text) {
        return text.replaceAll("\\x1B\\[[0-9;?]*[A-Za-z]", "")
                .replaceAll("\\x1B.", "")
                .replaceAll("[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]", "");
    }

    static void closeQuietly(OutputStream stream) {
        try {
            stream.close();
        } catch (IOException ignored) {
            // QEMU is gone already.
        }
    }

    private static void waitQuietly(Process process) {
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void deleteQuietly(Path directory, Path... files) {
        try {
            for (Path file : files) {
                Files.deleteIfExists(file);
            }
            Files.deleteIfExists(directory);
        } catch (IOException ignored) {
            // A leftover under target/ is harmless.
        }
    }
}
