package jpasst.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
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
 * TCP throughput with {@code iperf3} from a real (TCG) guest to an iperf3 server on the host's
 * loopback, reached at the gateway's address, both ways (guest to host: {@code iperf3 -c GW};
 * host to guest: {@code -R}), through the reference passt and jpasst in the same run, alternated,
 * with each daemon's CPU time (utime + stime of its process from /proc, for jpasst the JVM's JIT
 * and GC threads included) during the transfer: the guest connects to a host port just before and
 * just after iperf3, and the host reads the daemon's CPU time at each. Prints one line per run
 * (with the CPU time of the whole run too: start-up, boot, DHCP) and medians. Not a check, a measurement: it runs only with {@code -Djpasst.bench=true}, e.g.
 * {@code mvn -pl tests verify -Dtest=TcpThroughputComparison -Djpasst.bench=true}; rounds:
 * {@code -Djpasst.bench.rounds} (default 3), seconds per transfer {@code -Djpasst.bench.seconds}
 * (default 8). A profile of jpasst: {@code JPASST_JVM_OPTS=-XX:StartFlightRecording} starts JFR in the
 * daemon, and each run's recording is dumped with jcmd before the daemon is stopped (it exits by
 * halting, with no JFR dump of its own) to {@code -Djpasst.bench.jfr=DIR} (default /tmp),
 * {@code jpasst-DIRECTION-PID.jfr}; the daemon then keeps running as root ({@code --runas 0:0}),
 * as JFR's repository, made at start-up, is not writable by nobody.
 *
 * <p>The guest's emulated CPU is the bottleneck here, so the throughput says how much each daemon
 * lets through at the same guest speed, and the CPU seconds (per GB moved) what it costs.
 */
class TcpThroughputComparison {
    private static final Pattern LINE = Pattern.compile(
            "([0-9.]+) ([KMG]?)Bytes\\s+([0-9.]+) ([KMG]?)bits/sec.*?(sender|receiver)");
    private static final long CLK_TCK = 100;

    record Result(Daemon.Kind kind, String direction, double mbps, double megabytes, double cpuSeconds,
                  double cpuTotal, int retransmits) {
        double cpuPerGigabyte() {
            return megabytes <= 0 ? Double.NaN : cpuSeconds / (megabytes / 1024);
        }
    }

    @Test
    void iperf3TcpBothWaysJpasstAgainstReference() throws Exception {
        assumeTrue(Boolean.getBoolean("jpasst.bench"), "a benchmark: run with -Djpasst.bench=true");
        int rounds = Integer.getInteger("jpasst.bench.rounds", 3);
        int seconds = Integer.getInteger("jpasst.bench.seconds", 8);
        List<Result> results = new ArrayList<>();
        for (String direction : List.of("guest-to-host", "host-to-guest")) {
            for (int round = 0; round < rounds; round++) {
                for (Daemon.Kind kind : round % 2 == 0 ? Daemon.Kind.values()
                        : new Daemon.Kind[] {Daemon.Kind.JPASST, Daemon.Kind.REFERENCE}) {
                    Result r = run(kind, direction, seconds);
                    results.add(r);
                    System.out.printf("TCP-BENCH %-15s %-13s %8.1f Mbit/s  %7.1f MB  cpu %5.2f s (%5.2f s/GB)  whole run %5.2f s  retr %d%n",
                            kind, direction, r.mbps, r.megabytes, r.cpuSeconds, r.cpuPerGigabyte(), r.cpuTotal,
                            r.retransmits);
                }
            }
        }
        for (String direction : List.of("guest-to-host", "host-to-guest")) {
            double[] mbps = new double[2], cpu = new double[2];
            for (Daemon.Kind kind : Daemon.Kind.values()) {
                List<Result> mine = results.stream().filter(r -> r.kind == kind && r.direction.equals(direction)).toList();
                mbps[kind.ordinal()] = HostIperf3.median(mine.stream().mapToDouble(Result::mbps).toArray());
                cpu[kind.ordinal()] = HostIperf3.median(mine.stream().mapToDouble(Result::cpuPerGigabyte).toArray());
                System.out.printf("TCP-BENCH median %-15s %-13s %8.1f Mbit/s  %6.2f cpu s/GB%n", kind, direction,
                        mbps[kind.ordinal()], cpu[kind.ordinal()]);
            }
            int ref = Daemon.Kind.REFERENCE.ordinal(), jp = Daemon.Kind.JPASST.ordinal();
            System.out.printf("TCP-BENCH ratio jpasst/reference %-13s throughput %.2f  cpu per GB %.2f%n", direction,
                    mbps[jp] / mbps[ref], cpu[jp] / cpu[ref]);
        }
    }

    /** utime + stime of a process, in seconds. */
    static double cpuSeconds(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / (double) CLK_TCK; // fields 14 and 15
    }

    /** The CPU time of each thread of a process that used more than 20 ms (name=user+system ticks). */
    static String threadCpu(long pid) throws IOException {
        StringBuilder b = new StringBuilder();
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                String stat = Files.readString(t.resolve("stat"));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                if (Long.parseLong(f[11]) + Long.parseLong(f[12]) > 2) {
                    b.append(Files.readString(t.resolve("comm")).trim()).append('=').append(f[11]).append('+').append(f[12]).append(' ');
                }
            }
        }
        return b.toString().trim();
    }

    private static Result run(Daemon.Kind kind, String direction, int seconds) throws Exception {
        String jvmOpts = System.getenv("JPASST_JVM_OPTS");
        boolean profile = kind == Daemon.Kind.JPASST && jvmOpts != null && jvmOpts.contains("StartFlightRecording");
        try (HostIperf3 server = HostIperf3.start();
             Daemon daemon = profile ? Daemon.start(kind, "--runas", "0:0") : Daemon.start(kind);
             ServerSocket sync = new ServerSocket(0, 4, java.net.InetAddress.getByName("127.0.0.1"))) {
            // the guest's connections here mark the start and the end of the transfer
            List<Double> marks = new java.util.concurrent.CopyOnWriteArrayList<>();
            Thread.ofPlatform().daemon().start(() -> {
                while (!sync.isClosed()) {
                    try (java.net.Socket s = sync.accept()) {
                        marks.add(cpuSeconds(daemon.pid()));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            String mark = "nc -w 2 $GW " + sync.getLocalPort() + " </dev/null\n";
            GuestRun guest = Guest.builder(daemon.socket())
                    .hostProgram(Path.of("/usr/bin/iperf3"))
                    .timeout(Duration.ofSeconds(60 + seconds))
                    .memoryMegabytes(512)
                    .script("dhcp4 >/dev/null\n"
                            + "GW=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')\n"
                            + mark
                            + "iperf3 -f m -c $GW -p " + server.port + (direction.equals("host-to-guest") ? " -R" : "")
                            + " -t " + seconds + " > /tmp/out 2>&1\n"
                            + mark
                            + "grep -E 'sender|receiver' /tmp/out | while read l; do mark IPERF \"$l\"; done\n"
                            + "tail -n 4 /tmp/out\n")
                    .run();
            double total = cpuSeconds(daemon.pid());
            System.out.println("TCP-BENCH threads " + kind + " " + direction + ": " + threadCpu(daemon.pid()));
            if (profile) {
                Path jfr = Path.of(System.getProperty("jpasst.bench.jfr", "/tmp"), "jpasst-" + direction + "-" + daemon.pid() + ".jfr");
                Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
                new ProcessBuilder(jcmd.toString(), Long.toString(daemon.pid()), "JFR.dump", "filename=" + jfr)
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
                System.out.println("TCP-BENCH profile " + jfr);
            }
            if (marks.size() != 2) throw new AssertionError("sync connections: " + marks + guest.consoleForMessage());
            double cpu = marks.get(1) - marks.get(0);
            double mbps = -1, megabytes = -1;
            int retransmits = -1;
            for (String line : guest.allMarkers("IPERF")) {
                Matcher m = LINE.matcher(line);
                if (!m.find()) continue;
                if (m.group(5).equals("sender")) {
                    Matcher r = Pattern.compile("sec\\s+(\\d+)\\s+sender").matcher(line);
                    if (r.find()) retransmits = Integer.parseInt(r.group(1));
                    continue;
                }
                megabytes = Double.parseDouble(m.group(1)) * switch (m.group(2)) {
                    case "K" -> 1.0 / 1024;
                    case "G" -> 1024;
                    case "" -> 1.0 / (1024 * 1024);
                    default -> 1;
                };
                mbps = HostIperf3.mbps(m.group(3), m.group(4));
            }
            if (mbps < 0) throw new AssertionError("no iperf3 result from " + kind + guest.consoleForMessage());
            return new Result(kind, direction, mbps, megabytes, cpu, total, retransmits);
        }
    }
}
