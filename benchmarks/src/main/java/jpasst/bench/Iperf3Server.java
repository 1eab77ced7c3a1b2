package jpasst.bench;

import java.io.IOException;
import java.net.ServerSocket;
import java.util.concurrent.TimeUnit;

/**
 * An iperf3 server for one test ({@code iperf3 -s -1}) on a free port of the host's 127.0.0.1,
 * its output discarded; closing it stops it (SIGTERM, then SIGKILL after 3 s).
 */
final class Iperf3Server implements AutoCloseable {
    final int port;
    private final Process process;

    private Iperf3Server(int port, Process process) {
        this.port = port;
        this.process = process;
    }

    static Iperf3Server start() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        return new Iperf3Server(port, new ProcessBuilder("iperf3", "-s", "-1", "-B", "127.0.0.1", "-p",
                Integer.toString(port)).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(3, TimeUnit.SECONDS)) process.destroyForcibly();
    }
}
