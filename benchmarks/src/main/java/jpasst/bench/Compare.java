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

import jpasst.guest.GuestStack;
import jpasst.guest.StreamTransport;
import jpasst.guest.Transport;
import jpasst.guest.VhostTransport;

/**
 * jpasst against the reference passts, side by side, in one run: the engine of
 * {@code benchmarks/compare}.
 *
 * <p>The daemons: Debian's passt of 2023 ({@code /usr/bin/passt}, what distributions ship), the
 * upstream passt of 2026-03 ({@code ../shared/reference/passt-upstream/passt} beside the
 * checkout, the state of the art) and jpasst. Each round runs each daemon in turn (the order
 * rotates between rounds, so none always runs first on a cooler or last on a warmer machine):
 * it times its launch (command start → the launching command exits with the socket listening;
 * then → the daemon answers a guest's first frame, {@link ArpProbe}) several times, then starts
 * one daemon and drives the {@link Scenarios} through it with the {@link GuestStack synthetic
 * guest} and the {@link HostServers}, reading the daemon's CPU time around every measured window
 * and its peak RSS (VmHWM) at the end. Optionally ({@code --netns}) the same daemon then carries
 * iperf3 from a network namespace with real Linux TCP ({@link Netns}), and ({@code --vm}) from a
 * real TCG guest ({@link Vm}); {@code --idle N} starts N daemons of each kind and measures what
 * they cost while idle ({@link Idle}); {@code --ports N} launches each with 2N forwarded ports
 * in a network namespace ({@link ManyPorts}). The table gives the median of every figure over
 * the rounds, every daemon and jpasst's ratio to each reference (upstream first);
 * {@code --svg FILE} draws it ({@link Chart}).
 *
 * <p>Options: {@code --rounds N} (3), {@code --time S} measured seconds per scenario (5),
 * {@code --warmup S} (2), {@code --tests a,b,...} (all of {@link Scenarios#ALL}; "none" for
 * none), {@code --launches N} launch timings per daemon and round (5; 0 for none), {@code --netns},
 * {@code --vm} ({@code --vm-time S}, 10), {@code --idle N} ({@code --idle-seconds S}, 60),
 * {@code --ports N} ({@code --ports-launches N}, 3; {@code --ports-ipv6}: IPv6 on too), {@code --svg FILE},
 * {@code --jpasst "CMD"} (default: this JVM's java -jar passt-core/target/passt.jar),
 * {@code --upstream PATH} (the upstream passt), {@code --passt "CMD"} (one reference only, named
 * "passt", instead of both), {@code --only NAME,...} (passt-2023, passt-upstream, jpasst; passt),
 * {@code --quiet} (no per-window lines), {@code --no-verify} (the guest does not check received
 * checksums), {@code --vhost-user} (the transport as the table's dimension: every daemon serves
 * the synthetic guest over vhost-user, through its front-end, and jpasst also over the stream
 * socket as column {@code jpasst-stream}; a daemon that refuses {@code --vhost-user} is absent).
 */
public final class Compare {
    /**
     * A daemon to measure: its name, the command before passt's options, whether the guest
     * reaches it over vhost-user ({@code --vhost-user}) instead of the stream socket, and why it
     * is absent (null: present).
     */
    record Spec(String name, List<String> command, boolean vhostUser, String absentBecause) {
        static Spec of(String name, List<String> command) {
            return of(name, command, false);
        }

        static Spec of(String name, List<String> command, boolean vhostUser) {
            String exe = command.get(0);
            boolean runs = Files.isExecutable(Path.of(exe));
            return new Spec(name, command, vhostUser, runs ? null : "no executable at " + exe);
        }

        Spec absent(String why) {
            return new Spec(name, command, vhostUser, why);
        }

        boolean absent() {
            return absentBecause != null;
        }

        /** The guest's transport to a daemon of this spec listening at {@code socket}. */
        Transport connect(String socket) throws IOException {
            return vhostUser ? VhostTransport.connect(socket, VhostTransport.bulkOptions(), 5_000)
                    : StreamTransport.connect(socket, 5_000);
        }
    }

    static final String SUBJECT = "jpasst", UPSTREAM = "passt-upstream", DEBIAN = "passt-2023",
            JPASST_STREAM = "jpasst-stream";

    static final class Running implements AutoCloseable {
        final Spec spec;
        final Path dir;
        final String socket;
        final long pid;
        /** System.nanoTime() when the launching command started, and how long it took. */
        final long startNanos;
        final double launchMs;

        Running(Spec spec, Path dir, String socket, long pid, long startNanos, double launchMs) {
            this.spec = spec;
            this.dir = dir;
            this.socket = socket;
            this.pid = pid;
            this.startNanos = startNanos;
            this.launchMs = launchMs;
        }

        @Override
        public void close() {
            stop(pid);
            deleteTree(dir);
        }
    }

    private static final List<String> FAILURES = new ArrayList<>();

    /** What failed so far in this run (listed under the table). */
    static List<String> failures() {
        return List.copyOf(FAILURES);
    }

    static void failed(String what) {
        System.out.println("  " + what);
        FAILURES.add(what);
    }

    public static void main(String[] args) throws Exception {
        int rounds = 3, launches = 5, idle = 0, ports = 0, portsLaunches = 3;
        boolean portsIpv6 = false;
        double time = 5, warmup = 2, idleSeconds = 60;
        List<String> tests = Scenarios.ALL;
        boolean netns = false, vm = false, verbose = true, verify = true, vhostUser = false;
        int vmTime = 10;
        List<String> only = null;
        Path svg = null;
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        String root = System.getProperty("jpasst.root", ".");
        Spec jpasst = Spec.of(SUBJECT, List.of(javaBin, "-jar", Path.of(root, "passt-core/target/passt.jar").toString()));
        Spec debian = Spec.of(DEBIAN, List.of("/usr/bin/passt"));
        String upstreamPath = Path.of(root).toAbsolutePath().resolve("../shared/reference/passt-upstream/passt")
                .normalize().toString();
        Spec single = null;
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
                case "--idle" -> idle = Integer.parseInt(args[++i]);
                case "--idle-seconds" -> idleSeconds = Double.parseDouble(args[++i]);
                case "--ports" -> ports = Integer.parseInt(args[++i]);
                case "--ports-launches" -> portsLaunches = Integer.parseInt(args[++i]);
                case "--ports-ipv6" -> portsIpv6 = true;
                case "--svg" -> svg = Path.of(args[++i]);
                case "--only" -> only = List.of(args[++i].split(","));
                case "--quiet" -> verbose = false;
                case "--no-verify" -> verify = false;
                case "--vhost-user" -> vhostUser = true;
                case "--jpasst" -> jpasst = Spec.of(SUBJECT, List.of(args[++i].trim().split("\\s+")));
                case "--upstream" -> upstreamPath = args[++i];
                case "--passt" -> single = Spec.of("passt", List.of(args[++i].trim().split("\\s+")));
                default -> {
                    System.err.println("unknown option " + args[i]);
                    System.exit(2);
                }
            }
        }
        // the references, upstream first: jpasst's ratios are read against the state of the art
        List<Spec> references = single != null ? List.of(single)
                : List.of(Spec.of(UPSTREAM, List.of(upstreamPath)), debian);
        if (vhostUser) {
            // every daemon over vhost-user, and jpasst over the stream socket beside them
            List<Spec> vu = new ArrayList<>();
            for (Spec r : references) vu.add(Spec.of(r.name(), r.command(), true));
            vu.add(Spec.of(JPASST_STREAM, jpasst.command(), false));
            references = vu;
            jpasst = Spec.of(SUBJECT, jpasst.command(), true);
        }
        List<Spec> all = new ArrayList<>();
        for (Spec s : references) if (only == null || only.contains(s.name())) all.add(s);
        if (only == null || only.contains(SUBJECT)) all.add(jpasst);
        if (vhostUser) all.replaceAll(Compare::unlessRefused);
        // table columns: oldest reference first, the subject last
        List<Spec> columns = new ArrayList<>(all);
        columns.sort(Comparator.comparingInt(s -> s.name().equals(DEBIAN) ? 0 : s.name().equals(SUBJECT) ? 3
                : s.name().equals(JPASST_STREAM) ? 2 : 1));
        List<Spec> runnable = all.stream().filter(s -> !s.absent()).toList();

        Results results = new Results();
        String started = ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);
        String loadBefore = loadAverage();
        if (Double.parseDouble(loadBefore.split(" ")[0]) > 0.5) {
            System.out.println("note: load average " + loadBefore + " before the run: other work on this machine "
                    + "makes the figures noisier (the medians of rotated rounds help)");
        }
        for (Spec s : all) {
            if (s.absent()) System.out.println("note: " + s.name() + " is absent (" + s.absentBecause() + "): its column says so");
        }
        boolean guest = !tests.isEmpty() || netns || vm;
        ManyPorts portsRun = ports > 0 ? ManyPorts.setUp(ports, portsIpv6) : null;
        List<String> idleNotes = new ArrayList<>();
        try (HostServers host = new HostServers()) {
            for (int round = 0; round < rounds; round++) {
                List<Spec> order = rotated(runnable, round);
                for (Spec spec : order) {
                    if (launches == 0 && !guest) break;
                    System.out.println("round " + (round + 1) + "/" + rounds + ": " + spec.name());
                    runOne(spec, host, results, launches, tests, guest, time, warmup, netns, vm, vmTime, verbose, verify);
                }
                for (Spec spec : idle > 0 ? order : List.<Spec>of()) {
                    System.out.println("round " + (round + 1) + "/" + rounds + ": " + spec.name() + ", " + idle + " idle daemons");
                    String note = Idle.run(spec, idle, idleSeconds, results, verbose);
                    if (note != null && round == 0) idleNotes.add(note);
                }
                for (Spec spec : portsRun != null ? order : List.<Spec>of()) {
                    System.out.println("round " + (round + 1) + "/" + rounds + ": " + spec.name() + ", " + ports + " ports");
                    portsRun.run(spec, portsLaunches, results, verbose);
                }
            }
        } finally {
            if (portsRun != null) portsRun.close();
        }
        List<Results.Column> cols = columns.stream().map(Compare::column).toList();
        List<Results.Column> ratioTo = new ArrayList<>();
        for (Spec s : all) if (!s.name().equals(SUBJECT)) ratioTo.add(column(s));
        System.out.println();
        System.out.println("jpasst against " + String.join(" and ", ratioTo.stream().map(Results.Column::name).toList())
                + ", " + started + ", " + Machine.describe());
        System.out.println("median of " + rounds + " rounds, daemons in rotated order; " + time + " s measured after "
                + warmup + " s warm-up per figure; load average before " + loadBefore + ", after " + loadAverage());
        for (Spec s : all) System.out.println("  " + s.name() + ": " + describe(s));
        if (vhostUser) {
            System.out.println("  the guest reaches every daemon over vhost-user (the synthetic guest's front-end), but "
                    + JPASST_STREAM + " over the stream socket");
        }
        if (portsRun != null) System.out.println("  " + portsRun.describe());
        System.out.println();
        System.out.print(results.table(cols, SUBJECT, ratioTo));
        System.out.println();
        if (!FAILURES.isEmpty()) {
            System.out.println("failures:");
            for (String f : FAILURES) System.out.println("  " + f);
            System.out.println();
        }
        for (String n : idleNotes) System.out.println(n);
        System.out.println("every round:");
        System.out.print(results.raw());
        if (svg != null) {
            String title = "jpasst against passt, " + started.substring(0, 16).replace('T', ' ') + ", median of " + rounds
                    + " rounds, load " + loadBefore.split(" ")[0] + "→" + loadAverage().split(" ")[0];
            Files.writeString(svg, Chart.svg(results, cols, title));
            System.out.println("chart: " + svg);
        }
    }

    /** {@code specs} rotated by {@code round}: each daemon takes every place in turn. */
    static List<Spec> rotated(List<Spec> specs, int round) {
        List<Spec> order = new ArrayList<>(specs);
        if (!order.isEmpty()) java.util.Collections.rotate(order, -(round % order.size()));
        return order;
    }

    private static Results.Column column(Spec s) {
        return new Results.Column(s.name(), s.absentBecause());
    }

    private static String describe(Spec s) {
        return s.absent() ? "absent: " + s.absentBecause()
                : String.join(" ", s.command()) + (s.vhostUser() ? " --vhost-user" : "");
    }

    /**
     * {@code s}, or {@code s} absent if it is to serve vhost-user and its daemon refuses
     * {@code --vhost-user} (Debian's passt of 2023 has no vhost-user): one launch tells.
     */
    static Spec unlessRefused(Spec s) {
        if (s.absent() || !s.vhostUser()) return s;
        try (Running r = launch(s, List.of(), List.of())) {
            return s;
        } catch (Exception e) {
            String why = e.getMessage() == null ? e.toString() : e.getMessage();
            return s.absent("does not serve --vhost-user: " + why.replaceAll("\\s+", " ").trim());
        }
    }

    private static void runOne(Spec spec, HostServers host, Results results, int launches, List<String> tests,
                               boolean guest, double time, double warmup, boolean netns, boolean vm, int vmTime,
                               boolean verbose, boolean verify)
            throws Exception {
        String n = spec.name();
        for (int i = 0; i < launches; i++) {
            try (Running r = launch(spec, List.of(), List.of())) {
                results.add(n, new Results.Key("launch", "launch: command start → exit, socket listening", "ms", false, 1),
                        r.launchMs);
                double answer = answerMs(r);
                results.add(n, new Results.Key("launch_answer", "  command start → first answer to the guest (ARP)",
                        "ms", false, 1), answer);
            } catch (Exception e) {
                failed(n + " failed to launch: " + e.getMessage());
            }
        }
        if (!guest) return;
        if (spec.vhostUser() && netns) {
            failed(n + ": --netns carries the stream socket only (its tap relay frames the stream protocol); not run over vhost-user");
            netns = false;
        }
        try (Running r = launch(spec, List.of(), List.of())) {
            Proc.awaitIdle(r.pid, 5_000);
            results.add(n, new Results.Key("rss_idle", "RSS after launch", "MB", false, 1),
                    Proc.statusKb(r.pid, "VmRSS") / 1024.0);
            long cpu0 = Proc.cpuNanos(r.pid);
            Netns.Lease lease = null;
            String stage = "DHCP";
            try {
                try (GuestStack g = new GuestStack(spec.connect(r.socket))) {
                    g.verifyChecksums(verify);
                    if (!g.dhcp(10_000)) throw new IllegalStateException(n + ": no DHCP lease");
                    if (!g.arpGateway(5_000)) throw new IllegalStateException(n + ": no ARP reply from the gateway");
                    lease = new Netns.Lease(g.address4(), g.prefix4(), g.gateway4());
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
                failed(n + " failed during " + stage + (Proc.alive(r.pid) ? "" : " (the daemon died: see dmesg)")
                        + ": " + e.getMessage());
                if (!Proc.alive(r.pid)) return;
            }
            results.add(n, new Results.Key("cpu_total", "daemon CPU over the whole run", "s", false, 1),
                    (Proc.cpuNanos(r.pid) - cpu0) / 1e9);
            results.add(n, new Results.Key("rss_peak", "peak RSS (VmHWM)", "MB", false, 1),
                    Proc.statusKb(r.pid, "VmHWM") / 1024.0);
        }
    }

    /**
     * Time from the launch's command start until the daemon answered a guest's ARP request
     * (NaN if it did not within 10 s): the moment a VM started with it could use the network.
     */
    static double answerMs(Running r) throws IOException {
        boolean answered;
        if (r.spec.vhostUser()) { // the front-end's handshake, then the same ARP request
            try (GuestStack g = new GuestStack(r.spec.connect(r.socket))) {
                answered = g.arpProbe(0xa9fe0101, 10_000);
            }
        } else {
            answered = ArpProbe.answered(r.socket, 10_000);
        }
        return answered ? (System.nanoTime() - r.startNanos) / 1e6 : Double.NaN;
    }

    /**
     * Starts a daemon as Kata or libvirt would ({@code -q -s SOCKET -P PIDFILE}, then
     * {@code args}), the command run under {@code prefix} (e.g. {@code ip netns exec NS}), and
     * times the launching command.
     */
    static Running launch(Spec spec, List<String> prefix, List<String> args) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "jpb");
        // passt started as root runs as nobody before it writes the pid file
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        String socket = dir.resolve("s").toString();
        Path pidFile = dir.resolve("pid");
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(spec.command());
        cmd.addAll(List.of("-q", "-s", socket, "-P", pidFile.toString()));
        if (spec.vhostUser()) cmd.add("--vhost-user");
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(dir.resolve("stdout").toFile())
                .redirectError(dir.resolve("stderr").toFile());
        long t0 = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            deleteTree(dir);
            throw new IllegalStateException(spec.name() + " did not return within 30 s");
        }
        long t1 = System.nanoTime();
        long pid = -1;
        for (int i = 0; i < 100 && pid < 0 && p.exitValue() == 0; i++) {
            try {
                pid = Long.parseLong(Files.readString(pidFile).trim());
            } catch (IOException | NumberFormatException e) {
                Thread.sleep(10);
            }
        }
        // the daemon's own view of UNIX sockets: it may run in another network namespace
        if (p.exitValue() != 0 || pid < 0 || !Proc.listening(pid, socket)) {
            String err = Files.exists(dir.resolve("stderr")) ? Files.readString(dir.resolve("stderr")).trim() : "";
            if (pid > 0) stop(pid);
            deleteTree(dir);
            throw new IllegalStateException(spec.name() + " failed to start (exit " + p.exitValue()
                    + (p.exitValue() == 0 && pid < 0 ? ", no pid in " + pidFile : "")
                    + (p.exitValue() == 0 && pid > 0 ? ", socket not listening" : "") + "): "
                    + err.substring(Math.max(0, err.length() - 400)));
        }
        return new Running(spec, dir, socket, pid, t0, (t1 - t0) / 1e6);
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "? ? ?";
        }
    }

    /** SIGTERM, and SIGKILL if it is still there after 3 s; returns once it is gone. */
    static void stop(long pid) {
        ProcessHandle.of(pid).ifPresent(h -> {
            h.destroy();
            try {
                h.onExit().get(3, TimeUnit.SECONDS);
            } catch (Exception e) {
                h.destroyForcibly();
            }
        });
        for (int i = 0; i < 300 && Proc.alive(pid); i++) Proc.sleepMs(10);
    }

    /** SIGQUIT to every one of {@code pids} (Kata's way to stop passt); returns once all are gone (at most 20 s). */
    static void quit(List<Long> pids) throws IOException, InterruptedException {
        if (pids.isEmpty()) return;
        List<String> cmd = new ArrayList<>(List.of("kill", "-QUIT"));
        for (long p : pids) cmd.add(Long.toString(p));
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
        long deadline = System.nanoTime() + 20_000_000_000L;
        for (long p : pids) {
            while (Proc.alive(p) && System.nanoTime() < deadline) Proc.sleepMs(10);
            if (Proc.alive(p)) {
                failed("pid " + p + " still there 20 s after SIGQUIT: killed");
                ProcessHandle.of(p).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
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
            long memKb = memTotalKb();
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
