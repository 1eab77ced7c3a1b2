package jpasst.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import jpasst.control.ControlClient;
import jpasst.guest.GuestStack;

/**
 * What runtime control costs (issue 15), two figures:
 *
 * <p><b>A control request, and a loaded daemon.</b> First the daemon's own cost of a request:
 * {@code stats}, {@code flows}, {@code forward.list} and {@code health}, 5 000 each back to back
 * over one connection, the daemon's CPU time (utime + stime) per request and the client's round
 * trip. Then jpasst carries iperf3 bulk TCP from a network-namespace guest ({@link Netns}: real
 * Linux TCP, both ways, MTU 65520 and 1500), once alone and once while a client sends
 * {@code --rate} requests a second ({@code stats} and {@code flows} in turn, default 100: far more
 * than a supervisor polls), alternated over rounds; the table shows both side by side. (A client
 * sending back to back on this 2-core machine measures the client's own CPU taking a core from
 * the transfer, not the daemon's cost: that is what the first figure is for.)
 *
 * <p><b>10 000 forwards added and removed at run time.</b> In a network namespace of its own (no
 * port of the machine taken; IPv4 only, one socket per port): one request adding
 * {@code -t 20001-30000}, the listing, one request removing them; then the same ports one request
 * each way; the daemon's RSS and PSS before, with them, and after.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar jpasst.bench.ControlCost \
 *     --jpasst "java -jar passt-core/target/passt.jar" [--rounds 3] [--time 5] [--warmup 2] [--forwards 10000]
 *     [--no-load] [--no-forwards]
 * </pre>
 * Needs root (ip netns) and iperf3.
 */
public final class ControlCost {
    private ControlCost() {}

    public static void main(String[] args) throws Exception {
        String jpasst = "java -jar passt-core/target/passt.jar";
        int rounds = 3, forwards = 10_000, rate = 100;
        double time = 5, warmup = 2;
        boolean load = true, fwd = true;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--jpasst" -> jpasst = args[++i];
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--time" -> time = Double.parseDouble(args[++i]);
                case "--warmup" -> warmup = Double.parseDouble(args[++i]);
                case "--forwards" -> forwards = Integer.parseInt(args[++i]);
                case "--rate" -> rate = Integer.parseInt(args[++i]);
                case "--no-load" -> load = false;
                case "--no-forwards" -> fwd = false;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Compare.Spec spec = new Compare.Spec("jpasst", List.of(jpasst.split(" ")), false, null);
        System.out.printf(Locale.ROOT, "ControlCost: %s, load average %s%n", jpasst, Files.readString(Path.of("/proc/loadavg")).trim());
        if (fwd) forwards(spec, forwards, rounds);
        if (load) loaded(spec, rounds, time, warmup, rate);
        for (String f : Compare.failures()) System.out.println("failed: " + f);
    }

    // ---- 10 000 forwards

    static void forwards(Compare.Spec spec, int n, int rounds) throws Exception {
        Results results = new Results();
        try (ManyPorts ns = ManyPorts.setUp(n, false)) {
            for (int round = 0; round < rounds; round++) {
                Path ctl = Files.createTempDirectory(Path.of("/tmp"), "jpbctl").resolve("c");
                try (Compare.Running r = Compare.launch(spec, List.of("ip", "netns", "exec", ns.namespace()),
                        List.of("-c", ctl.toString()));
                     ControlClient c = ControlClient.connect(ctl)) {
                    Proc.awaitIdle(r.pid, 5_000);
                    memory(results, r.pid, "0", "idle, no forward");
                    String range = "20001-" + (20000 + n);
                    long t0 = System.nanoTime();
                    Map<String, Object> added = c.addForwards(List.of(range), List.of());
                    long t1 = System.nanoTime();
                    if (!Long.valueOf(n).equals(added.get("sockets_added"))) throw new IllegalStateException("added " + added);
                    results.add("jpasst", new Results.Key("add_one", "one request adding " + n + " forwards (-t " + range + ")",
                            "ms", false, 1), (t1 - t0) / 1e6);
                    Proc.awaitIdle(r.pid, 5_000);
                    memory(results, r.pid, "1", "with the " + n + " forwards");
                    t0 = System.nanoTime();
                    List<Map<String, Object>> list = c.forwards();
                    t1 = System.nanoTime();
                    results.add("jpasst", new Results.Key("list", "  forward list (" + list.size() + " rule)", "ms", false, 2),
                            (t1 - t0) / 1e6);
                    t0 = System.nanoTime();
                    c.removeForwards(List.of(range), List.of());
                    t1 = System.nanoTime();
                    results.add("jpasst", new Results.Key("remove_one", "one request removing them", "ms", false, 1), (t1 - t0) / 1e6);
                    Proc.awaitIdle(r.pid, 5_000);
                    memory(results, r.pid, "2", "after removing them");
                    t0 = System.nanoTime();
                    for (int p = 20001; p <= 20000 + n; p++) c.addForwards(List.of(Integer.toString(p)), List.of());
                    t1 = System.nanoTime();
                    results.add("jpasst", new Results.Key("add_each", n + " requests adding one forward each", "ms", false, 0),
                            (t1 - t0) / 1e6);
                    t0 = System.nanoTime();
                    for (int p = 20001; p <= 20000 + n; p++) c.removeForwards(List.of(Integer.toString(p)), List.of());
                    t1 = System.nanoTime();
                    results.add("jpasst", new Results.Key("remove_each", n + " requests removing one each", "ms", false, 0),
                            (t1 - t0) / 1e6);
                    Proc.awaitIdle(r.pid, 5_000);
                    memory(results, r.pid, "3", "after " + n + " more added and removed one by one");
                } finally {
                    Files.deleteIfExists(ctl);
                    Files.deleteIfExists(ctl.getParent());
                }
            }
        }
        System.out.println();
        System.out.println(n + " forwards at run time, " + rounds + " rounds, medians:");
        System.out.print(results.table(List.of(Results.Column.of("jpasst")), "jpasst", List.of()));
    }

    private static void memory(Results results, long pid, String step, String what) {
        results.add("jpasst", new Results.Key("rss" + step, "RSS, " + what, "MB", false, 1), Proc.rollupKb(pid, "Rss") / 1024.0);
        results.add("jpasst", new Results.Key("pss" + step, "  PSS", "MB", false, 1), Proc.rollupKb(pid, "Pss") / 1024.0);
    }

    // ---- a loaded daemon

    static void loaded(Compare.Spec spec, int rounds, double time, double warmup, int rate) throws Exception {
        Results results = new Results();
        Path ctl = Files.createTempDirectory(Path.of("/tmp"), "jpbctl").resolve("c");
        try (Compare.Running r = Compare.launch(spec, List.of(), List.of("-c", ctl.toString()))) {
            Proc.awaitIdle(r.pid, 5_000);
            Results each = new Results();
            try (ControlClient c = ControlClient.connect(ctl)) {
                for (String op : List.of("stats", "flows", "forward.list", "health")) {
                    for (int round = 0; round < 3; round++) {
                        int n = 5_000;
                        long cpu0 = Proc.cpuNanos(r.pid), t0 = System.nanoTime();
                        for (int i = 0; i < n; i++) c.request(op, Map.of());
                        long cpu1 = Proc.cpuNanos(r.pid), t1 = System.nanoTime();
                        if (round == 0) continue; // (the JIT's round)
                        each.add("jpasst", new Results.Key(op + ".cpu", op + ": daemon CPU per request", "µs", false, 1),
                                (cpu1 - cpu0) / 1e3 / n);
                        each.add("jpasst", new Results.Key(op + ".rtt", "  round trip, client's view", "µs", false, 1),
                                (t1 - t0) / 1e3 / n);
                    }
                }
            }
            System.out.println();
            System.out.println("one control request, idle daemon (5 000 back to back, the 2nd and 3rd series), medians:");
            System.out.print(each.table(List.of(Results.Column.of("jpasst")), "jpasst", List.of()));
            Netns.Lease lease;
            try (GuestStack g = new GuestStack(spec.connect(r.socket))) {
                if (!g.dhcp(10_000)) throw new IllegalStateException("no DHCP lease");
                lease = new Netns.Lease(g.address4(), g.prefix4(), g.gateway4());
            }
            Compare.Running withRequests = new Compare.Running(new Compare.Spec("jpasst+requests", spec.command(), false, null),
                    r.dir, r.socket, r.pid, r.startNanos, r.launchMs);
            for (int round = 0; round < rounds; round++) {
                for (int k = 0; k < 2; k++) {
                    boolean requests = (round + k) % 2 == 1;
                    if (!requests) {
                        Netns.run(r, lease, results, time, warmup, true);
                        continue;
                    }
                    AtomicLong done = new AtomicLong();
                    long periodNanos = 1_000_000_000L / rate;
                    Thread loop = new Thread(() -> {
                        try (ControlClient c = ControlClient.connect(ctl)) {
                            long next = System.nanoTime();
                            while (!Thread.currentThread().isInterrupted()) {
                                if (done.get() % 2 == 0) c.stats();
                                else c.flows(null, 100);
                                done.incrementAndGet();
                                next += periodNanos;
                                long wait = next - System.nanoTime();
                                if (wait > 0) java.util.concurrent.locks.LockSupport.parkNanos(wait);
                            }
                        } catch (java.io.IOException e) {
                            if (!Thread.currentThread().isInterrupted()) Compare.failed("control loop: " + e);
                        }
                    }, "control-loop");
                    long t0 = System.nanoTime();
                    loop.start();
                    Netns.run(withRequests, lease, results, time, warmup, true);
                    loop.interrupt();
                    loop.join(5_000);
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    results.add("jpasst+requests", new Results.Key("req_per_s", "control requests answered", "1/s", true, 0),
                            done.get() / seconds);
                }
            }
        } finally {
            Files.deleteIfExists(ctl);
            Files.deleteIfExists(ctl.getParent());
        }
        System.out.println();
        System.out.println("bulk TCP alone and with " + rate + " control requests a second, " + rounds
                + " rounds alternated, medians:");
        System.out.print(results.table(List.of(Results.Column.of("jpasst"), Results.Column.of("jpasst+requests")),
                "jpasst+requests", List.of(Results.Column.of("jpasst"))));
    }
}
