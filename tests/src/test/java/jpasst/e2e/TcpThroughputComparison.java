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
 * {@code mvn -pl passt-core,benchmarks,tests -am verify -Dtest=TcpThroughputComparison -Djpasst.bench=true}
 * (the benchmarks module in the reactor trains passt.jar's AOT cache again after passt-core
 * wrote the jar: without it the daemon finds its cache older than the jar and runs without;
 * the first line printed says which); rounds:
 * {@code -Djpasst.bench.rounds} (default 3), seconds per transfer {@code -Djpasst.bench.seconds}
 * (default 5); targets {@code -Djpasst.bench.targets}, a comma-separated list of
 * {@code jpasst-vhost-user}, {@code upstream-vhost-user}, {@code jpasst}, {@code upstream},
 * {@code reference} (default: the first three, issue 12's comparison: jpasst over vhost-user
 * against upstream passt over vhost-user and jpasst's own stream socket). A profile of jpasst:
 * {@code JPASST_JVM_OPTS=-XX:StartFlightRecording} starts JFR in the daemon, and each run's
 * recording is dumped with jcmd before the daemon is stopped to {@code -Djpasst.bench.jfr=DIR}
 * (default /tmp), {@code jpasst-TRANSPORT-PID.jfr}; the daemon then keeps running as root
 * ({@code --runas 0:0}), as JFR's repository, made at start-up, is not writable by nobody.
 * {@code -Djpasst.bench.jpasst.args="--no-seccomp ..."} adds options to jpasst's command line,
 * {@code -Djpasst.bench.other.args} to the other daemons';
 * {@code -Djpasst.bench.attach=COMMAND} runs a tool on each daemon over each transfer (see
 * {@link #attachOrDetach}). {@code -Djpasst.bench.warmup=SECONDS}: the guest first runs iperf3
 * both ways for that long, unmeasured (a daemon that has served a while: jpasst's JIT done).
 * Per transfer it also prints the CPU ticks of each of the daemon's
 * threads (the JIT's compiler threads apart from the event loop's).
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
        System.out.println("TCP-BENCH " + aotCacheState());
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

    /**
     * Whether jpasst's daemon will run with its AOT cache: the daemon takes {@code passt.aot}
     * beside the jar only if it is newer than the jar, and a build of passt-core without the
     * benchmarks module (whose package phase trains the cache) writes a newer jar.
     */
    static String aotCacheState() throws IOException {
        String jar = System.getProperty("jpasst.jar");
        if (jar == null) return "AOT cache: no jpasst.jar";
        Path j = Path.of(jar), cache = j.resolveSibling("passt.aot");
        if (!Files.isRegularFile(cache)) return "AOT cache: none beside " + j + " (the daemon runs without)";
        boolean fresh = Files.getLastModifiedTime(cache).compareTo(Files.getLastModifiedTime(j)) >= 0;
        return "AOT cache: " + cache + (fresh ? ", used" : ", older than the jar: NOT used (build with the benchmarks"
                + " module in the reactor, -pl passt-core,benchmarks,tests -am, to train it again)");
    }

    /**
     * Whether jpasst's daemon {@code pid} runs with the AOT cache, read from its command line:
     * the daemon decides (the cache must be newer than the jar and the jar owner's alone).
     */
    static String aotCacheUse(long pid) throws IOException {
        String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
        int at = cmdline.indexOf("-XX:AOTCache=");
        return at < 0 ? "without the AOT cache" : "with " + cmdline.substring(at).split(" ", 2)[0];
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

    /** The CPU ticks (user + system) of each thread of a process, summed by thread name. */
    static java.util.Map<String, Long> threadTicks(long pid) throws IOException {
        java.util.Map<String, Long> ticks = new java.util.TreeMap<>();
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                try {
                    String stat = Files.readString(t.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    ticks.merge(Files.readString(t.resolve("comm")).trim(), Long.parseLong(f[11]) + Long.parseLong(f[12]), Long::sum);
                } catch (IOException e) {
                    // the thread ended meanwhile
                }
            }
        }
        return ticks;
    }

    /** What each thread used between two {@link #threadTicks} (the threads that used any). */
    static String difference(java.util.Map<String, Long> before, java.util.Map<String, Long> after) {
        StringBuilder b = new StringBuilder();
        after.forEach((name, n) -> {
            long d = n - before.getOrDefault(name, 0L);
            if (d > 0) b.append(name).append('=').append(d).append(' ');
        });
        return b.toString().trim();
    }

    /** One guest through the daemon of {@code t}: iperf3 guest to host, then host to guest. */
    private static List<Result> run(Target t, int seconds) throws Exception {
        String jvmOpts = System.getenv("JPASST_JVM_OPTS");
        boolean profile = t.isJpasst() && jvmOpts != null && jvmOpts.contains("StartFlightRecording");
        List<String> args = new ArrayList<>();
        if (profile) args.addAll(List.of("--runas", "0:0"));
        String extra = System.getProperty(t.isJpasst() ? "jpasst.bench.jpasst.args" : "jpasst.bench.other.args", "");
        if (!extra.isBlank()) args.addAll(List.of(extra.trim().split("\\s+")));
        String attach = System.getProperty("jpasst.bench.attach", "");
        Path attachDir = Path.of(System.getProperty("jpasst.bench.attach.dir", "/tmp"));
        int warmup = Integer.getInteger("jpasst.bench.warmup", 0);
        try (HostIperf3 up = HostIperf3.start(); HostIperf3 down = HostIperf3.start();
             HostIperf3 warmUp = HostIperf3.start(); HostIperf3 warmDown = HostIperf3.start();
             Daemon daemon = Daemon.start(t, args.toArray(String[]::new));
             ServerSocket sync = new ServerSocket(0, 4, java.net.InetAddress.getByName("127.0.0.1"))) {
            if (t.isJpasst()) System.out.println("TCP-BENCH " + t + ": daemon " + aotCacheUse(daemon.pid()));
            // the guest's connections here mark the start and the end of each transfer
            List<Double> marks = new java.util.concurrent.CopyOnWriteArrayList<>();
            List<java.util.Map<String, Long>> threadMarks = new java.util.concurrent.CopyOnWriteArrayList<>();
            Process[] attached = new Process[1];
            Thread.ofPlatform().daemon().start(() -> {
                while (!sync.isClosed()) {
                    try (java.net.Socket s = sync.accept()) {
                        marks.add(cpuSeconds(daemon.pid()));
                        threadMarks.add(threadTicks(daemon.pid()));
                        if (!attach.isBlank()) attached[0] = attachOrDetach(attached[0], attach, attachDir, t, daemon.pid(), marks.size());
                    } catch (IOException | InterruptedException e) {
                        return;
                    }
                }
            });
            String mark = "nc -w 2 $GW " + sync.getLocalPort() + " </dev/null\n";
            String warm = warmup <= 0 ? "" : "iperf3 -c $GW -p " + warmUp.port + " -t " + warmup + " >/dev/null 2>&1\n"
                    + "iperf3 -c $GW -p " + warmDown.port + " -R -t " + warmup + " >/dev/null 2>&1\n";
            GuestRun guest = Guest.builder(daemon)
                    .hostProgram(Path.of("/usr/bin/iperf3"))
                    .timeout(Duration.ofSeconds(90 + 2L * seconds + 2L * warmup))
                    .memoryMegabytes(512)
                    .script("dhcp4 >/dev/null\n"
                            + "GW=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')\n"
                            + warm
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
            for (int w = 0; w < 2; w++) {
                System.out.println("TCP-BENCH threads " + t + " " + DIRECTIONS.get(w) + " (ticks of 10 ms): "
                        + difference(threadMarks.get(2 * w), threadMarks.get(2 * w + 1)));
            }
            return List.of(result(t, DIRECTIONS.get(0), guest, "IPERF_UP", marks.get(1) - marks.get(0)),
                    result(t, DIRECTIONS.get(1), guest, "IPERF_DOWN", marks.get(3) - marks.get(2)));
        }
    }

    /**
     * {@code -Djpasst.bench.attach=COMMAND}: a tool run on the daemon over each transfer (from its
     * start mark to its end mark, then SIGTERM), e.g. {@code strace -c -f -p {pid} -o {out}} or
     * {@code perf record -g -p {pid} -o {out}}; {@code {out}} is a file in
     * {@code -Djpasst.bench.attach.dir} (default /tmp) named for the daemon and the direction.
     */
    private static Process attachOrDetach(Process running, String command, Path dir, Target t, long pid, int mark)
            throws IOException, InterruptedException {
        if (running != null) {
            running.destroy();
            running.waitFor();
            running = null;
        }
        if (mark == 1 || mark == 3) {
            String out = dir.resolve(t.kind().name().toLowerCase() + "-" + t.transport().name().toLowerCase() + "-"
                    + DIRECTIONS.get(mark / 2) + "-" + pid + ".out").toString();
            List<String> argv = new ArrayList<>();
            for (String w : command.trim().split("\\s+")) argv.add(w.replace("{pid}", Long.toString(pid)).replace("{out}", out));
            running = new ProcessBuilder(argv).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(new java.io.File(out + ".log"))).start();
            Thread.sleep(200); // attached before the transfer starts (the guest's TCG start-up of iperf3 takes longer)
        }
        return running;
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
