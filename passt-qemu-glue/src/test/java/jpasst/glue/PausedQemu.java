package jpasst.glue;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The installed QEMU started frozen ({@code -S}: no guest instruction runs, nothing boots) with
 * its human monitor on a UNIX socket, so a test can ask {@code info network} whether QEMU accepted
 * the network arguments and reached the daemon, then {@code quit}.
 */
final class PausedQemu {

    static final String QEMU = "qemu-system-x86_64";

    private PausedQemu() {
    }

    /** QEMU's command line, up to the network arguments a test appends. */
    static List<String> command(Path monitorSocket) {
        return new ArrayList<>(List.of(QEMU, "-M", "pc", "-accel", "tcg", "-S", "-nodefaults", "-display", "none",
                "-monitor", "unix:" + monitorSocket + ",server=on,wait=off"));
    }

    static Process start(List<String> command, Path log) throws IOException {
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** The human monitor of a QEMU whose -monitor listens on a UNIX socket. */
    static final class Monitor implements AutoCloseable {
        private final SocketChannel channel;
        private final StringBuilder received = new StringBuilder();

        private Monitor(SocketChannel channel) {
            this.channel = channel;
        }

        /** Connects once QEMU has created the socket, failing with its log if QEMU dies first. */
        static Monitor connect(Path socket, ProcessHandle qemu, Path qemuLog) throws Exception {
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (true) {
                if (!qemu.isAlive()) {
                    fail("QEMU exited before its monitor came up:\n" + readLog(qemuLog));
                }
                if (Files.exists(socket)) {
                    try {
                        return new Monitor(SocketChannel.open(UnixDomainSocketAddress.of(socket)));
                    } catch (IOException notYetListening) {
                        // Retried below.
                    }
                }
                if (System.nanoTime() > deadline) {
                    fail("no QEMU monitor at " + socket + " after 20 s:\n" + readLog(qemuLog));
                }
                Thread.sleep(20);
            }
        }

        /** Repeats {@code info network} until the answer contains every one of {@code expected}. */
        String awaitNetworkInfo(Duration timeout, String... expected) throws IOException, InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            channel.configureBlocking(false);
            while (System.nanoTime() < deadline) {
                send("info network\n");
                Thread.sleep(100);
                drain();
                boolean all = true;
                for (String e : expected) {
                    all &= received.indexOf(e) >= 0;
                }
                if (all) {
                    return received.toString();
                }
            }
            fail("'info network' never showed " + List.of(expected) + "; the monitor said:\n" + received);
            return null;
        }

        /** Sends {@code quit} and waits until QEMU closes the monitor (closing first can lose the command). */
        void quit() throws IOException {
            channel.configureBlocking(true);
            send("quit\n");
            ByteBuffer buffer = ByteBuffer.allocate(8192);
            while (channel.read(buffer) >= 0) {
                buffer.clear();
            }
        }

        private void send(String command) throws IOException {
            ByteBuffer bytes = ByteBuffer.wrap(command.getBytes(StandardCharsets.US_ASCII));
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        }

        private void drain() throws IOException {
            ByteBuffer buffer = ByteBuffer.allocate(8192);
            int n;
            while ((n = channel.read(buffer)) > 0) {
                received.append(new String(buffer.array(), 0, n, StandardCharsets.UTF_8));
                buffer.clear();
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    static String readLog(Path log) {
        try {
            return Files.exists(log) ? Files.readString(log) : "(no log)";
        } catch (IOException e) {
            return "(cannot read " + log + ")";
        }
    }
}
