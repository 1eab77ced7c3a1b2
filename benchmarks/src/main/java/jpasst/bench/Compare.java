package jpasst.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * jpasst against the reference passt, side by side, in one run: the engine of
 * {@code benchmarks/compare}.
 *
 * <p>Each round launches each daemon in turn (the order alternates between rounds, so neither
 * always runs on a warmer or cooler machine), times its launch (command start → the launching
 * command exits with the socket listening) several times, then starts one daemon and drives the
 * {@link Scenarios} through it with the {@link GuestStack synthetic guest} and the
 * {@link HostServers}, reading the daemon's CPU time around every measured window and its peak
 * RSS (VmHWM) at the end. Optionally ({@code --netns}) the same daemon then carries iperf3 from a
 * network namespace with real Linux TCP ({@link Netns}), and ({@code --vm}) from a real TCG guest
 * ({@link Vm}). The table gives the median of every
 * figure over the rounds, both daemons and the ratio.
 *
 * <p>Options: {@code --rounds N} (3), {@code --time S} measured seconds per scenario (5),
 * {@code --warmup S} (2), {@code --tests a,b,...} (all of {@link Scenarios#ALL}; "none" for
 * none), {@code --launches N} launch timings per daemon and round (5), {@code --netns}, {@code --vm}
 * ({@code --vm-time S}, 10),
 * {@code --jpasst "CMD"} and {@code --passt "CMD"} (the commands before passt's options;
 * defaults: this JVM's java -jar passt-core/target/passt.jar, and /usr/bin/passt),
 * {@code --only jpasst|passt}, {@code --quiet} (no per-window lines), {@code --no-verify} (the
 * guest does not check received checksums).
 */
public final class Compare {
    record Spec(String name, List<String> command) {
    }

    static final class Running implements AutoCloseable {
        final Spec spec;
        final Path dir;
        final String socket;
        final long pid;
        final double launchMs;

        Running(Spec spec, Path dir, String socket, long pid, double launchMs) {
            this.spec = spec;
            this.dir = dir;
            this.socket = socket;
            this.pid = pid;
            this.launchMs = launchMs;
        }

        @Override
        public void close() {
            stop(pid);
            deleteTree(dir);
        }
    }

    private static final List<String> FAILURES = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        int rounds = 3, launches = 5;
        double time = 5, warmup = 2;
        List<String> tests = Scenarios.ALL;
        boolean netns = false, vm = false, verbose = true, verify = true;
        int vmTime = 10;
        String only = null;
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        String root = System.getProperty("jpasst.root", ".");
        Spec jpasst = new Spec("jpasst", List.of(javaBin, "-jar", Path.of(root, "passt-core/target/passt.jar").toString()));
        Spec passt = new Spec("passt", List.of("/usr/bin/passt"));
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--launches" -> launches = Integer.parseInt(args[++i]);
                case "--time" -> time = Double.parseDouble(args[++i]);
                case "--warmup" -> warmup = Double.parseDouble(args[++i]);
                case "--tests" -> {
                    String t = args[++i];
                    tests = t.equals("none") ? List.of() : List.of(t.split(","));
                }
                case "--netns" -> netns = true;
                case "--vm" -> vm = true;
                case "--vm-time" -> vmTime = Integer.parseInt(args[++i]);
                case "--only" -> only = args[++i];
                case "--quiet" -> verbose = false;
                case "--no-verify" -> verify = false;
                case "--jpasst" -> jpasst = new Spec("jpasst", List.of(args[++i].trim().split("\\s+")));
                case "--passt" -> passt = new Spec("passt", List.of(args[++i].trim().split("\\s+")));
                default -> {
                    System.err.println("unknown option " + args[i]);
                    System.exit(2);
                }
            }
        }
        List<Spec> specs = new ArrayList<>();
        if (only == null || only.equals("passt")) specs.add(passt);
        if (only == null || only.equals("jpasst")) specs.add(jpasst);

        Results results = new Results();
        String started = ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);
        String loadBefore = loadAverage();
        if (Double.parseDouble(loadBefore.split(" ")[0]) > 0.5) {
            System.out.println("note: load average " + loadBefore + " before the run: other work on this machine "
                    + "makes the figures noisier (the medians of alternated rounds help)");
        }
        try (HostServers host = new HostServers()) {
            for (int round = 0; round < rounds; round++) {
                List<Spec> order = new ArrayList<>(specs);
                if (round % 2 == 1) java.util.Collections.reverse(order); // alternate
                for (Spec spec : order) {
                    System.out.println("round " + (round + 1) + "/" + rounds + ": " + spec.name());
                    runOne(spec, host, results, launches, tests, time, warmup, netns, vm, vmTime, verbose, verify);
                }
            }
        }
        System.out.println();
        System.out.println("jpasst against passt, " + started + ", " + Machine.describe());
        System.out.println("median of " + rounds + " rounds, daemons alternated; " + time + " s measured after "
                + warmup + " s warm-up per figure; load average before " + loadBefore + ", after " + loadAverage());
        System.out.println();
        System.out.print(results.table("passt", "jpasst"));
        System.out.println();
        if (!FAILURES.isEmpty()) {
            System.out.println("failures:");
            for (String f : FAILURES) System.out.println("  " + f);
            System.out.println();
        }
        System.out.println("every round:");
        System.out.print(results.raw());
    }

    private static void runOne(Spec spec, HostServers host, Results results, int launches, List<String> tests,
                               double time, double warmup, boolean netns, boolean vm, int vmTime, boolean verbose,
                               boolean verify)
            throws Exception {
        String n = spec.name();
        for (int i = 0; i < launches; i++) {
            try (Running r = launch(spec)) {
                results.add(n, new Results.Key("launch", "launch: command start → exit, socket listening", "ms", false, 1),
                        r.launchMs);
            }
        }
        try (Running r = launch(spec)) {
            Proc.awaitIdle(r.pid, 5_000);
            results.add(n, new Results.Key("rss_idle", "RSS after launch", "MB", false, 1),
                    Proc.statusKb(r.pid, "VmRSS") / 1024.0);
            long cpu0 = Proc.cpuNanos(r.pid);
            Netns.Lease lease = null;
            String stage = "DHCP";
            try {
                try (GuestStack g = new GuestStack(r.socket)) {
                    g.verifyChecksums(verify);
                    if (!g.dhcp(10_000)) throw new IllegalStateException(n + ": no DHCP lease");
                    if (!g.arpGateway(5_000)) throw new IllegalStateException(n + ": no ARP reply from the gateway");
                    lease = new Netns.Lease(g.addr, g.prefix, g.gw);
                    Scenarios sc = new Scenarios(g, host, r.pid, time, warmup, results, n, verbose);
                    for (String t : tests) {
                        stage = t;
                        sc.run(t);
                        if (!Proc.alive(r.pid)) throw new IllegalStateException("the daemon is gone");
                    }
                }
                if (netns) {
                    stage = "netns";
                    Netns.run(r, lease, results, time, warmup, verbose);
                }
                if (vm) {
                    stage = "vm";
                    Vm.run(r, results, vmTime, verbose);
                }
            } catch (Exception e) {
                // a daemon that crashes (passt 2023 does, now and then) spoils its round, not the run
                String what = n + " failed during " + stage + (Proc.alive(r.pid) ? "" : " (the daemon died: see dmesg)")
                        + ": " + e.getMessage();
                System.out.println("  " + what);
                FAILURES.add(what);
                if (!Proc.alive(r.pid)) return;
            }
            results.add(n, new Results.Key("cpu_total", "daemon CPU over the whole run", "s", false, 1),
                    (Proc.cpuNanos(r.pid) - cpu0) / 1e9);
            results.add(n, new Results.Key("rss_peak", "peak RSS (VmHWM)", "MB", false, 1),
                    Proc.statusKb(r.pid, "VmHWM") / 1024.0);
        }
    }

    /** Starts a daemon as Kata or libvirt would and times the launching command. */
    static Running launch(Spec spec) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "jpb");
        // passt started as root runs as nobody before it writes the pid file
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        String socket = dir.resolve("s").toString();
        Path pidFile = dir.resolve("pid");
        List<String> cmd = new ArrayList<>(spec.command());
        cmd.addAll(List.of("-q", "-s", socket, "-P", pidFile.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(dir.resolve("stdout").toFile())
                .redirectError(dir.resolve("stderr").toFile());
        long t0 = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(spec.name() + " did not return within 30 s");
        }
        long t1 = System.nanoTime();
        if (p.exitValue() != 0 || !Proc.listening(socket)) {
            String err = Files.exists(dir.resolve("stderr")) ? Files.readString(dir.resolve("stderr")) : "";
            deleteTree(dir);
            throw new IllegalStateException(spec.name() + " failed to start (exit " + p.exitValue() + "): " + err);
        }
        long pid = -1;
        for (int i = 0; i < 100 && pid < 0; i++) {
            try {
                pid = Long.parseLong(Files.readString(pidFile).trim());
            } catch (IOException | NumberFormatException e) {
                Thread.sleep(10);
            }
        }
        if (pid < 0) {
            deleteTree(dir);
            throw new IllegalStateException(spec.name() + ": no pid in " + pidFile);
        }
        return new Running(spec, dir, socket, pid, (t1 - t0) / 1e6);
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "? ? ?";
        }
    }

    static void stop(long pid) {
        ProcessHandle.of(pid).ifPresent(h -> {
            h.destroy();
            try {
                h.onExit().get(3, TimeUnit.SECONDS);
            } catch (Exception e) {
                h.destroyForcibly();
            }
        });
        for (int i = 0; i < 300 && Proc.alive(pid); i++) GuestStack.sleepMs(10);
    }

    static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort
        }
    }

    /** The machine, for the record: CPU model, CPUs, memory, kernel. */
    static final class Machine {
        static String describe() {
            String cpu = "?";
            try {
                cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                        .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("?");
            } catch (IOException ignored) {
                // unknown
            }
            long memKb = Proc.statusKb(ProcessHandle.current().pid(), "VmRSS") >= 0 ? memTotalKb() : -1;
            return String.format(Locale.ROOT, "%s, %d CPUs, %.0f GB RAM, Linux %s, %s %s", cpu,
                    Runtime.getRuntime().availableProcessors(), memKb / 1048576.0, System.getProperty("os.version"),
                    System.getProperty("java.vm.name"), System.getProperty("java.version"));
        }

        private static long memTotalKb() {
            try {
                for (String l : Files.readAllLines(Path.of("/proc/meminfo"))) {
                    if (l.startsWith("MemTotal:")) return Long.parseLong(l.replaceAll("[^0-9]", ""));
                }
            } catch (IOException ignored) {
                // unknown
            }
            return -1;
        }
    }
}
