package jpasst.e2e;

import java.io.IOException;
import java.net.ServerSocket;
import java.util.Arrays;

/**
 * The host's end of the iperf3 comparisons (TcpThroughputComparison, UdpThroughputComparison):
 * a one-test iperf3 server on a free port of 127.0.0.1, its output discarded, stopped on close;
 * and the arithmetic both do with iperf3's figures.
 */
final class HostIperf3 implements AutoCloseable {
    final int port;
    private final Process server;

    private HostIperf3(int port, Process server) {
        this.port = port;
        this.server = server;
    }

    static HostIperf3 start() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        return new HostIperf3(port, new ProcessBuilder("/usr/bin/iperf3", "-s", "-1", "-B", "127.0.0.1", "-p",
                Integer.toString(port)).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
    }

    @Override
    public void close() throws InterruptedException {
        server.destroy();
        server.waitFor();
    }

    /** iperf3's rate, {@code value} with a unit prefix ("", K, M, G) of bits/sec, in Mbit/s. */
    static double mbps(String value, String prefix) {
        return Double.parseDouble(value) * switch (prefix) {
            case "K" -> 1e-3;
            case "G" -> 1e3;
            case "" -> 1e-6;
            default -> 1;
        };
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length == 0 ? Double.NaN : s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
