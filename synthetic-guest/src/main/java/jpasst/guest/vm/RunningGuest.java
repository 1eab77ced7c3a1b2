package jpasst.guest.vm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A guest booted with {@link Guest.Builder#start()} that is still running: its console and
 * markers can be read while it runs, a test can wait for a marker, then kill QEMU as a crash
 * would ({@link #kill()}: SIGKILL, no chance to close anything) or let it power off
 * ({@link #awaitExit}). {@link #close()} kills it if it still runs and removes its files.
 */
public final class RunningGuest implements AutoCloseable {
    private final List<String> command;
    private final Path directory, initrd, consoleFile;
    private final Process qemu;
    private final long started = System.nanoTime();

    RunningGuest(List<String> command, Path directory, Path initrd, Path consoleFile) {
        this.command = command;
        this.directory = directory;
        this.initrd = initrd;
        this.consoleFile = consoleFile;
        try {
            qemu = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(consoleFile.toFile()).start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command.getFirst(), e);
        }
    }

    public long pid() {
        return qemu.pid();
    }

    public boolean isRunning() {
        return qemu.isAlive();
    }

    /** The console so far, terminal escapes removed. */
    public String console() {
        return Guest.readConsole(consoleFile);
    }

    /** The markers printed so far. */
    public Map<String, List<String>> markers() {
        return Guest.parseMarkers(console());
    }

    /** Waits until the guest prints {@code @@KEY=...}; its last value, or an AssertionError with the console. */
    public String awaitMarker(String key, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Optional<String> v = Optional.ofNullable(markers().get(key)).filter(l -> !l.isEmpty()).map(List::getLast);
            if (v.isPresent()) return v.get();
            if (!qemu.isAlive() || System.nanoTime() > deadline) {
                throw new AssertionError("guest printed no @@" + key + "= marker"
                        + (qemu.isAlive() ? " within " + timeout : " before QEMU ended") + "\n" + Guest.consoleBlock(console()));
            }
            try {
                Thread.sleep(50); // polls the console file QEMU writes
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
    }

    /** Kills QEMU with SIGKILL, as a crash or the OOM killer would, and waits for it to be gone. */
    public void kill() {
        qemu.destroyForcibly();
        try {
            qemu.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits for the guest to power off by itself; its run, or an AssertionError with the console. */
    public GuestRun awaitExit(Duration timeout) {
        boolean finished;
        try {
            finished = qemu.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            finished = false;
        }
        if (!finished) {
            kill();
            throw new AssertionError("guest did not power off within " + timeout + "; QEMU killed. Command: "
                    + String.join(" ", command) + "\n" + Guest.consoleBlock(console()));
        }
        String console = console();
        return new GuestRun(console, Guest.parseMarkers(console), qemu.exitValue(), Duration.ofNanos(System.nanoTime() - started));
    }

    @Override
    public void close() {
        if (qemu.isAlive()) kill();
        Guest.closeQuietly(qemu.getOutputStream());
        Guest.deleteQuietly(directory, initrd, consoleFile);
    }
}
