package jpasst.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code --idle N}: what idle daemons cost, as on a node running many VMs (Kata starts one passt
 * per VM, {@code -q -s SOCKET -P PIDFILE}, and most of them idle most of the time). N daemons of
 * one kind are launched one after the other and left without a guest until every one has stopped
 * using CPU; then:
 * <ul>
 * <li>at the end of the idle interval ({@code --idle-seconds}, 60), when they have settled:
 *     the drop of the system's MemAvailable since just before the first launch, per daemon:
 *     everything they cost, the kernel's share (page tables, kernel stacks, socket buffers)
 *     included, but also whatever else the machine did meanwhile (other work makes it noisy);
 * <li>PSS (smaps_rollup), summed over the N and divided by N: their own memory, with what they
 *     share (libraries, a read-only cache mapped by all) split between them; their anonymous
 *     memory (no file behind it: what the kernel can neither share nor drop); and RSS;
 * <li>over the idle interval: the CPU ticks the N used (utime +
 *     stime, 10 ms each), their exact run time (schedstat, all threads) and how often their
 *     threads woke (context switches), per daemon and minute. The ticks are each process's
 *     cumulative CPU time in 10 ms steps, truncated (the kernel scales its tick samples to the
 *     exact run time): a daemon that has used under 10 ms since it started shows none whatever
 *     it does, so the run time is the figure to compare idle cost by.
 * </ul>
 * Then they are stopped as Kata stops them (SIGQUIT) and the next kind starts from a fresh
 * MemAvailable. For the first daemon of each kind the report also gives its memory by part
 * ({@link Footprint}) and which of its threads woke how often.
 */
final class Idle {
    private Idle() {}

    /** Runs one kind; returns the per-part and per-thread description of its first daemon (null on failure). */
    static String run(Compare.Spec spec, int n, double seconds, Results results, boolean verbose) throws Exception {
        String name = spec.name();
        Proc.sleepMs(2000); // let the previous phase's memory settle
        long mem0 = Proc.memAvailableKb();
        List<Compare.Running> daemons = new ArrayList<>();
        String note = null;
        try {
            for (int i = 0; i < n; i++) daemons.add(Compare.launch(spec, List.of(), List.of()));
            for (Compare.Running r : daemons) Proc.awaitIdle(r.pid, 10_000);
            Proc.sleepMs(1000);
            Snapshot before = Snapshot.of(daemons);
            long t0 = System.nanoTime();
            Proc.sleepMs((long) (seconds * 1000));
            double dt = (System.nanoTime() - t0) / 1e9;
            for (Compare.Running r : daemons) {
                if (!Proc.alive(r.pid)) throw new IllegalStateException("daemon " + r.pid + " ended while idle");
            }
            Snapshot after = Snapshot.of(daemons);
            long ticks = after.ticks - before.ticks, wakes = after.wakes - before.wakes;
            double cpuMs = (after.runNanos - before.runNanos) / 1e6;
            // the memory figures at the end of the idle interval: what idle daemons keep
            long mem1 = Proc.memAvailableKb();
            long pss = 0, rss = 0, anon = 0;
            for (Compare.Running r : daemons) {
                pss += Proc.rollupKb(r.pid, "Pss");
                rss += Proc.rollupKb(r.pid, "Rss");
                anon += Proc.rollupKb(r.pid, "Anonymous");
            }
            String what = "idle ×" + n + " (after " + String.format(Locale.ROOT, "%.0f", seconds) + " s)";
            results.add(name, new Results.Key("idle.memavail", what + ": MemAvailable drop per daemon", "MB", false, 1),
                    (mem0 - mem1) / 1024.0 / n);
            results.add(name, new Results.Key("idle.pss", "  PSS per daemon (sum / " + n + ")", "MB", false, 1),
                    pss / 1024.0 / n);
            results.add(name, new Results.Key("idle.anon", "  anonymous memory per daemon (no file behind it)", "MB",
                    false, 1), anon / 1024.0 / n);
            results.add(name, new Results.Key("idle.rss", "  RSS per daemon", "MB", false, 1), rss / 1024.0 / n);
            results.add(name, new Results.Key("idle.ticks", "  CPU ticks of all " + n + " (10 ms each)", "ticks", false, 0),
                    ticks);
            results.add(name, new Results.Key("idle.cpu_ms", "  CPU time of all " + n + " (schedstat)", "ms", false, 1),
                    cpuMs);
            results.add(name, new Results.Key("idle.wakeups", "  thread wake-ups per daemon and minute", "1/min", false, 0),
                    wakes * 60.0 / dt / n);
            if (verbose) {
                System.out.printf(Locale.ROOT, "  %-14s MemAvailable -%.1f MB each, PSS %.1f MB, RSS %.1f MB; over %.0f s: "
                                + "%d ticks, %.1f ms, %.0f wake-ups per daemon and minute%n", name, (mem0 - mem1) / 1024.0 / n,
                        pss / 1024.0 / n, rss / 1024.0 / n, dt, ticks, cpuMs, wakes * 60.0 / dt / n);
            }
            note = describe(name, daemons.get(0).pid, before.tasks.get(0), after.tasks.get(0), dt);
        } catch (Exception e) {
            Compare.failed(name + " failed in the idle run: " + e.getMessage());
        } finally {
            List<Long> pids = new ArrayList<>();
            for (Compare.Running r : daemons) pids.add(r.pid);
            Compare.quit(pids);
            for (Compare.Running r : daemons) Compare.deleteTree(r.dir);
        }
        return note;
    }

    /** The CPU ticks, run time and wake-ups of a set of daemons so far, and each one's threads. */
    private record Snapshot(long ticks, long runNanos, long wakes, List<Map<Long, Proc.Task>> tasks) {
        static Snapshot of(List<Compare.Running> daemons) {
            long ticks = 0, run = 0, wakes = 0;
            List<Map<Long, Proc.Task>> tasks = new ArrayList<>();
            for (Compare.Running r : daemons) {
                ticks += Proc.cpuTicks(r.pid);
                Map<Long, Proc.Task> t = Proc.tasks(r.pid);
                tasks.add(t);
                for (Proc.Task k : t.values()) {
                    run += k.runNanos();
                    wakes += k.switches();
                }
            }
            return new Snapshot(ticks, run, wakes, tasks);
        }
    }

    /** One idle daemon by part, and its threads' wake-ups and CPU over the interval. */
    private static String describe(String name, long pid, Map<Long, Proc.Task> before, Map<Long, Proc.Task> after,
                                   double seconds) throws java.io.IOException {
        StringBuilder sb = new StringBuilder();
        sb.append("one idle ").append(name).append(" daemon (pid ").append(pid).append(") by part:\n");
        sb.append(Footprint.table(Footprint.of(pid)));
        Map<String, long[]> byName = new LinkedHashMap<>();
        for (Map.Entry<Long, Proc.Task> e : after.entrySet()) {
            Proc.Task b = before.get(e.getKey()), a = e.getValue();
            long w = a.switches() - (b == null ? 0 : b.switches()), c = a.runNanos() - (b == null ? 0 : b.runNanos());
            long[] sum = byName.computeIfAbsent(a.name(), k -> new long[3]);
            sum[0] += w;
            sum[1] += c;
            sum[2]++;
        }
        sb.append(String.format(Locale.ROOT, "  its threads over %.0f s (%d threads):%n", seconds, after.size()));
        for (Map.Entry<String, long[]> e : byName.entrySet()) {
            long[] s = e.getValue();
            if (s[0] == 0 && s[1] == 0) continue;
            sb.append(String.format(Locale.ROOT, "    %-28s %6d wake-ups %8.2f ms%n",
                    e.getKey() + (s[2] > 1 ? " (×" + s[2] + ")" : ""), s[0], s[1] / 1e6));
        }
        return sb.toString();
    }
}
