package jpasst.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;

/**
 * {@code iperf3 -u} from a real (TCG) guest to an iperf3 server on the host's loopback, reached
 * at the gateway address, through the reference passt and through jpasst in the same run,
 * alternated, for each datagram size. Prints one line per run (sender and receiver bitrate, lost
 * datagrams) and a summary of medians. Not a check, a measurement: it runs only with
 * {@code -Djpasst.bench=true} (about 20 s a run), e.g.
 * {@code mvn -pl tests verify -Dtest=UdpThroughputComparison -Djpasst.bench=true}; the number of
 * rounds is {@code -Djpasst.bench.rounds} (default 3), the offered rate {@code -Djpasst.bench.rate}
 * (iperf3's -b, default 0: as fast as the guest can), the datagram sizes
 * {@code -Djpasst.bench.lengths} (default 1400,32000).
 *
 * <p>The guest's CPU (TCG) is the bottleneck, so the figures compare how much each daemon lets
 * through at the same guest speed, and how much it loses, rather than its own ceiling.
 */
class UdpThroughputComparison {
    private static final Pattern LINE = Pattern.compile(
            "([0-9.]+) ([KMG]?)bits/sec\\s+([0-9.]+) ms\\s+(\\d+)/(\\d+) \\(([0-9.e+-]+)%\\)\\s+(sender|receiver)");

    record Result(Daemon.Kind kind, int length, double senderMbps, double receiverMbps, long lost, long total) {
        double lossPercent() {
            return total == 0 ? 0 : 100.0 * lost / total;
        }
    }

    @Test
    void iperf3UdpGuestToHostJpasstAgainstReference() throws Exception {
        assumeTrue(Boolean.getBoolean("jpasst.bench"), "a benchmark: run with -Djpasst.bench=true");
        int rounds = Integer.getInteger("jpasst.bench.rounds", 3);
        String rate = System.getProperty("jpasst.bench.rate", "0");
        List<Result> results = new ArrayList<>();
        int[] lengths = java.util.Arrays.stream(System.getProperty("jpasst.bench.lengths", "1400,32000").split(","))
                .mapToInt(Integer::parseInt).toArray();
        for (int length : lengths) {
            for (int round = 0; round < rounds; round++) {
                for (Daemon.Kind kind : round % 2 == 0 ? new Daemon.Kind[] {Daemon.Kind.REFERENCE, Daemon.Kind.JPASST}
                        : new Daemon.Kind[] {Daemon.Kind.JPASST, Daemon.Kind.REFERENCE}) {
                    Result r = run(kind, length, rate);
                    results.add(r);
                    System.out.printf("UDP-BENCH %-15s len %5d  sender %8.1f Mbit/s  receiver %8.1f Mbit/s  lost %d/%d (%.2f%%)%n",
                            kind, length, r.senderMbps, r.receiverMbps, r.lost, r.total, r.lossPercent());
                }
            }
        }
        for (int length : lengths) {
            for (Daemon.Kind kind : new Daemon.Kind[] {Daemon.Kind.REFERENCE, Daemon.Kind.JPASST}) {
                List<Result> mine = results.stream().filter(r -> r.kind == kind && r.length == length).toList();
                System.out.printf("UDP-BENCH median %-15s len %5d  receiver %8.1f Mbit/s  loss %.2f%%%n", kind, length,
                        HostIperf3.median(mine.stream().mapToDouble(Result::receiverMbps).toArray()),
                        HostIperf3.median(mine.stream().mapToDouble(Result::lossPercent).toArray()));
            }
        }
    }

    private static Result run(Daemon.Kind kind, int length, String rate) throws Exception {
        try (HostIperf3 server = HostIperf3.start(); Daemon daemon = Daemon.start(kind)) {
            GuestRun guest = Guest.builder(daemon.socket())
                    .hostProgram(Path.of("/usr/bin/iperf3"))
                    .timeout(Duration.ofSeconds(90))
                    .memoryMegabytes(512)
                    .script("dhcp4\nGW=$(ip route | awk '/^default/ {print $3; exit}')\n"
                            + "iperf3 -u -c $GW -p " + server.port + " -b " + rate + " -l " + length + " -t 8 > /tmp/out 2>&1\n"
                            + "grep -E 'sender|receiver' /tmp/out | while read l; do mark IPERF \"$l\"; done\n"
                            + "tail -n 3 /tmp/out\n")
                    .run();
            double sender = -1, receiver = -1;
            long lost = -1, total = -1;
            for (String line : guest.allMarkers("IPERF")) {
                Matcher m = LINE.matcher(line);
                if (!m.find()) continue;
                double mbps = HostIperf3.mbps(m.group(1), m.group(2));
                if (m.group(7).equals("sender")) {
                    sender = mbps;
                } else {
                    receiver = mbps;
                    lost = Long.parseLong(m.group(4));
                    total = Long.parseLong(m.group(5));
                }
            }
            if (receiver < 0) {
                throw new AssertionError("no iperf3 result from " + kind + guest.consoleForMessage());
            }
            if (receiver == 0 || total <= 0) {
                System.out.println("UDP-BENCH nothing received by the server through " + kind + ":"
                        + guest.consoleForMessage() + "\n" + daemon.describe());
            }
            return new Result(kind, length, sender, receiver, lost, total);
        }
    }
}
