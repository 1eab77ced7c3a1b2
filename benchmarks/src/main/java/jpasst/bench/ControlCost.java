package jpasst.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import jpasst.control.ControlClient;

/**
 * What runtime control costs (issue 15), two figures:
 *
 * <p><b>A control request on a loaded daemon.</b> jpasst with a control socket carries iperf3
 * bulk TCP from a network-namespace guest ({@link Netns}: real Linux TCP, both ways, MTU 65520 and
 * 1500), once alone and once while a client sends requests back to back over the control socket
 * ({@code stats}, then {@code flows}, each waiting for its reply: the heaviest steady use a
 * supervisor could make), alternated over rounds; the table shows both side by side, and the
 * requests per second the client got.
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
        int rounds = 3, forwards = 10_000;
        double time = 5, warmup = 2;
        boolean load = true, fwd = true;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--jpasst" -> jpasst = args[++i];
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--time" -> time = Double.parseDouble(args[++i]);
                case "--warmup" -> warmup = Double.parseDouble(args[++i]);
                case "--forwards" -> forwards = Integer.parseInt(args[++i]);
                case "--no-load" -> load = false;
                case "--no-forwards" -> fwd = false;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Compare.Spec spec = new Compare.Spec("jpasst", List.of(jpasst.split(" ")), null);
        System.out.printf(Locale.ROOT, "ControlCost: %s, load average %s%n", jpasst, Files.readString(Path.of("/proc/loadavg")).trim());
        if (fwd) forwards(spec, forwards, rounds);
        if (load) loaded(spec, rounds, time, warmup);
        for (String f : Compare.failures()) System.out.println("failed: " + f);
    }

    // ---- 10 000 forwards

    static void forwards(Compare.Spec spec, int n, int rounds) throws Exception {
        Results results = new Results();
        try (ManyPorts ns = ManyPorts.setUp(n)) {
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

    static void loaded(Compare.Spec spec, int rounds, double time, double warmup) throws Exception {
        Results results = new Results();
        Path ctl = Files.createTempDirectory(Path.of("/tmp"), "jpbctl").resolve("c");
        try (Compare.Running r = Compare.launch(spec, List.of(), List.of("-c", ctl.toString()))) {
            Netns.Lease lease;
            try (GuestStack g = new GuestStack(r.socket)) {
                if (!g.dhcp(10_000)) throw new IllegalStateException("no DHCP lease");
                lease = new Netns.Lease(g.addr, g.prefix, g.gw);
            }
            Compare.Running withRequests = new Compare.Running(new Compare.Spec("jpasst+requests", spec.command(), null),
                    r.dir, r.socket, r.pid, r.startNanos, r.launchMs);
            for (int round = 0; round < rounds; round++) {
                for (int k = 0; k < 2; k++) {
                    boolean requests = (round + k) % 2 == 1;
                    if (!requests) {
                        Netns.run(r, lease, results, time, warmup, true);
                        continue;
                    }
                    AtomicLong done = new AtomicLong();
                    Thread loop = new Thread(() -> {
                        try (ControlClient c = ControlClient.connect(ctl)) {
                            while (!Thread.currentThread().isInterrupted()) {
                                c.stats();
                                c.flows(null, 100);
                                done.addAndGet(2);
                            }
                        } catch (java.io.IOException e) {
                            Compare.failed("control loop: " + e.getMessage());
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
        System.out.println("bulk TCP alone and with control requests back to back, " + rounds + " rounds alternated, medians:");
        System.out.print(results.table(List.of(Results.Column.of("jpasst"), Results.Column.of("jpasst+requests")),
                "jpasst+requests", List.of(Results.Column.of("jpasst"))));
    }
}
