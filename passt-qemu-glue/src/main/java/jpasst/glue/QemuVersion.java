package jpasst.glue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A QEMU release number (major.minor.micro), read from {@code qemu-system-* --version} or given by
 * hand. The netdev syntax QEMU accepts depends on it: {@code -netdev stream} and JSON {@code -netdev}
 * arrived in 7.2, {@code reconnect} in 8.0, {@code reconnect-ms} in 9.2 (where {@code reconnect}
 * was deprecated; 10.2 removed it). See {@link QemuNetworkArgs} for how each boundary is used.
 */
public record QemuVersion(int major, int minor, int micro) implements Comparable<QemuVersion> {

    /** First release with {@code -netdev stream} and with JSON syntax for {@code -netdev}. */
    public static final QemuVersion STREAM_NETDEV = new QemuVersion(7, 2, 0);
    /** First release where {@code -netdev stream} takes {@code reconnect=SECONDS}. */
    public static final QemuVersion STREAM_RECONNECT_SECONDS = new QemuVersion(8, 0, 0);
    /** First release where {@code -netdev stream} takes {@code reconnect-ms=MILLISECONDS}. */
    public static final QemuVersion STREAM_RECONNECT_MS = new QemuVersion(9, 2, 0);

    private static final Pattern VERSION_LINE =
            Pattern.compile("QEMU emulator version (\\d+)\\.(\\d+)(?:\\.(\\d+))?");
    private static final Pattern BARE_VERSION = Pattern.compile("(\\d+)\\.(\\d+)(?:\\.(\\d+))?");

    public QemuVersion {
        if (major < 0 || minor < 0 || micro < 0) {
            throw new IllegalArgumentException("negative QEMU version component: " + major + "." + minor + "." + micro);
        }
    }

    /** Parses "7.2", "9.2.1" or "10.1.0-rc0". */
    public static QemuVersion of(String version) {
        Matcher m = BARE_VERSION.matcher(version.trim());
        if (!m.lookingAt()) {
            throw new IllegalArgumentException("not a QEMU version: '" + version + "' (expected e.g. 9.2 or 7.2.22)");
        }
        return fromMatch(m);
    }

    /** Parses the output of {@code qemu-system-x86_64 --version}. */
    public static QemuVersion parseVersionOutput(String output) {
        Matcher m = VERSION_LINE.matcher(output);
        if (!m.find()) {
            throw new IllegalArgumentException("no 'QEMU emulator version X.Y' in: " + output.strip());
        }
        return fromMatch(m);
    }

    /** Runs {@code qemuBinary --version} and parses what it prints. */
    public static QemuVersion detect(String qemuBinary) throws IOException {
        Process process;
        try {
            process = new ProcessBuilder(qemuBinary, "--version").redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IOException("cannot run '" + qemuBinary + " --version': " + e.getMessage(), e);
        }
        process.getOutputStream().close();
        try (InputStream out = process.getInputStream()) {
            String text = new String(out.readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException("'" + qemuBinary + " --version' did not finish in 10 s");
            }
            if (process.exitValue() != 0) {
                throw new IOException("'" + qemuBinary + " --version' exited " + process.exitValue() + ": " + text.strip());
            }
            return parseVersionOutput(text);
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running '" + qemuBinary + " --version'", e);
        }
    }

    private static QemuVersion fromMatch(Matcher m) {
        int micro = m.group(3) == null ? 0 : Integer.parseInt(m.group(3));
        return new QemuVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), micro);
    }

    public boolean atLeast(QemuVersion other) {
        return compareTo(other) >= 0;
    }

    @Override
    public int compareTo(QemuVersion o) {
        if (major != o.major) return Integer.compare(major, o.major);
        if (minor != o.minor) return Integer.compare(minor, o.minor);
        return Integer.compare(micro, o.micro);
    }

    @Override
    public String toString() {
        return major + "." + minor + "." + micro;
    }
}
