package jpasst.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;
import jpasst.guest.vm.Transport;

/**
 * TCP throughput with {@code iperf3} from a real (TCG) guest to an iperf3 server on the host's
 * loopback, reached at the gateway's address, both ways in one guest (guest to host:
 * {@code iperf3 -c GW}, then host to guest: {@code -R}), through several daemons over their guest
 * transports in the same run, alternated round by round, with each daemon's CPU time (utime +
 * stime of its process from /proc, for jpasst the JVM's JIT and GC threads included) during each
 * transfer: the guest connects to a host port just before and just after each iperf3, and the host
 * reads the daemon's CPU time at each. Prints one line per run and direction, then medians and
 * ratios against the first target.
 *
 * <p>Not a check, a measurement: it runs only with {@code -Djpasst.bench=true}, e.g.
 * {@code mvn -pl tests -am verify -Dtest=TcpThroughputComparison -Djpasst.bench=true}; rounds:
 * {@code -Djpasst.bench.rounds} (default 3), seconds per transfer {@code -Djpasst.bench.seconds}
 * (default 5); targets {@code -Djpasst.bench.targets}, a comma-separated list of
 * {@code jpasst-vhost-user}, {@code upstream-vhost-user}, {@code jpasst}, {@code upstream},
 * {@code reference} (default: the first three, issue 12's comparison: jpasst over vhost-user
 * against upstream passt over vhost-user and jpasst's own stream socket). A profile of jpasst:
 * {@code JPASST_JVM_OPTS=-XX:StartFlightRecording} starts JFR in the daemon, and each run's
 * recording is dumped with jcmd before the daemon is stopped to {@code -Djpasst.bench.jfr=DIR}
 * (default /tmp), {@code jpasst-TRANSPORT-PID.jfr}; the daemon then keeps running as root
 * ({@code --runas 0:0}), as JFR's repository, made at start-up, is not writable by nobody.
 *
 * <p>The guest's emulated CPU is the bottleneck here, so the throughput says how much each daemon
 * lets through at the same guest speed, and the CPU seconds (per GB moved) what it costs.
 */
class TcpThroughputComparison {
    private static final Pattern LINE = Pattern.compile(
            "([0-9.]+) ([KMG]?)Bytes\\s+([0-9.]+) ([KMG]?)bits/sec.*?(sender|receiver)");
    private static final long CLK_TCK = 100;
    private static final List<String> DIRECTIONS = List.of("guest-to-host", "host-to-guest");

    record Result(Target target, String direction, double mbps, double megabytes, double cpuSeconds, int retransmits) {
        double cpuPerGigabyte() {
            return megabytes <= 0 ? Double.NaN : cpuSeconds / (megabytes / 1024);
        }
    }

    static Target target(String name) {
        return switch (name.trim()) {
            case "jpasst-vhost-user" -> Target.JPASST_VHOST_USER;
            case "upstream-vhost-user" -> new Target(Daemon.Kind.UPSTREAM, Transport.VHOST_USER);
            case "jpasst" -> Target.JPASST;
            case "upstream" -> new Target(Daemon.Kind.UPSTREAM, Transport.STREAM);
            case "reference" -> Target.REFERENCE;
            default -> throw new IllegalArgumentException("unknown target " + name);
        };
    }

    @Test
    void iperf3TcpBothWaysInOneGuestPerDaemon() throws Exception {
        assumeTrue(Boolean.getBoolean("jpasst.bench"), "a benchmark: run with -Djpasst.bench=true");
        int rounds = Integer.getInteger("jpasst.bench.rounds", 3);
        int seconds = Integer.getInteger("jpasst.bench.seconds", 5);
        List<Target> targets = Arrays.stream(System.getProperty("jpasst.bench.targets",
                "jpasst-vhost-user,upstream-vhost-user,jpasst").split(",")).map(TcpThroughputComparison::target).toList();
        List<Result> results = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
            List<Target> order = new ArrayList<>(targets);
            java.util.Collections.rotate(order, round); // each daemon runs first in some round
            for (Target t : order) {
                for (Result r : run(t, seconds)) {
                    results.add(r);
                    System.out.printf("TCP-BENCH %-36s %-13s %8.1f Mbit/s  %7.1f MB  cpu %5.2f s (%5.2f s/GB)  retr %d%n",
                            t, r.direction, r.mbps, r.megabytes, r.cpuSeconds, r.cpuPerGigabyte(), r.retransmits);
                }
            }
        }
        for (String direction : DIRECTIONS) {
            double[] mbps = new double[targets.size()], cpu = new double[targets.size()];
            for (int i = 0; i < targets.size(); i++) {
                Target t = targets.get(i);
                List<Result> mine = results.stream().filter(r -> r.target.equals(t) && r.direction.equals(direction)).toList();
                mbps[i] = HostIperf3.median(mine.stream().mapToDouble(Result::mbps).toArray());
                cpu[i] = HostIperf3.median(mine.stream().mapToDouble(Result::cpuPerGigabyte).toArray());
                System.out.printf("TCP-BENCH median %-36s %-13s %8.1f Mbit/s  %6.3f cpu s/GB%n", t, direction, mbps[i], cpu[i]);
            }
            for (int i = 1; i < targets.size(); i++) {
                System.out.printf("TCP-BENCH ratio %s / %s, %-13s throughput %.2f  cpu per GB %.2f%n", targets.get(0),
                        targets.get(i), direction, mbps[0] / mbps[i], cpu[0] / cpu[i]);
            }
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

    /** One guest through the daemon of {@code t}: iperf3 guest to host, then host to guest. */
    private static List<Result> run(Target t, int seconds) throws Exception {
        String jvmOpts = System.getenv("JPASST_JVM_OPTS");
        boolean profile = t.isJpasst() && jvmOpts != null && jvmOpts.contains("StartFlightRecording");
        try (HostIperf3 up = HostIperf3.start(); HostIperf3 down = HostIperf3.start();
             Daemon daemon = profile ? Daemon.start(t, "--runas", "0:0") : Daemon.start(t);
             ServerSocket sync = new ServerSocket(0, 4, java.net.InetAddress.getByName("127.0.0.1"))) {
            // the guest's connections here mark the start and the end of each transfer
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
            GuestRun guest = Guest.builder(daemon)
                    .hostProgram(Path.of("/usr/bin/iperf3"))
                    .timeout(Duration.ofSeconds(90 + 2L * seconds))
                    .memoryMegabytes(512)
                    .script("dhcp4 >/dev/null\n"
                            + "GW=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')\n"
                            + mark
                            + "iperf3 -f m -c $GW -p " + up.port + " -t " + seconds + " > /tmp/up 2>&1\n"
                            + mark + mark
                            + "iperf3 -f m -c $GW -p " + down.port + " -R -t " + seconds + " > /tmp/down 2>&1\n"
                            + mark
                            + "grep -E 'sender|receiver' /tmp/up | while read l; do mark IPERF_UP \"$l\"; done\n"
                            + "grep -E 'sender|receiver' /tmp/down | while read l; do mark IPERF_DOWN \"$l\"; done\n"
                            + "tail -n 4 /tmp/up /tmp/down\n")
                    .run();
            System.out.println("TCP-BENCH threads " + t + ": " + threadCpu(daemon.pid()));
            if (profile) {
                Path jfr = Path.of(System.getProperty("jpasst.bench.jfr", "/tmp"),
                        "jpasst-" + t.transport().name().toLowerCase() + "-" + daemon.pid() + ".jfr");
                Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
                new ProcessBuilder(jcmd.toString(), Long.toString(daemon.pid()), "JFR.dump", "filename=" + jfr)
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
                System.out.println("TCP-BENCH profile " + jfr);
            }
            if (marks.size() != 4) throw new AssertionError("sync connections: " + marks + guest.consoleForMessage());
            return List.of(result(t, DIRECTIONS.get(0), guest, "IPERF_UP", marks.get(1) - marks.get(0)),
                    result(t, DIRECTIONS.get(1), guest, "IPERF_DOWN", marks.get(3) - marks.get(2)));
        }
    }

    private static Result result(Target t, String direction, GuestRun guest, String key, double cpu) {
        double mbps = -1, megabytes = -1;
        int retransmits = -1;
        for (String line : guest.allMarkers(key)) {
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
        if (mbps < 0) throw new AssertionError("no iperf3 result " + key + " from " + t + guest.consoleForMessage());
        return new Result(t, direction, mbps, megabytes, cpu, retransmits);
    }
}
