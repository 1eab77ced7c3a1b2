package jpasst.bench;

import java.io.IOException;
import java.util.List;
import java.util.Locale;

/**
 * {@code --ports N}: the KubeVirt shape. KubeVirt runs passt with every port forwarded
 * ({@code -t all -u all}: 131 070 listening sockets); here the same shape at the size the
 * descriptor limit allows, {@code -q -t 1-N -u 1-N -s SOCKET -P PIDFILE}: 2N listening sockets.
 * It runs in a network namespace of its own, so that no port of the machine is taken: IPv4 only
 * (a veth pair, 192.0.2.15/24, default route via 192.0.2.1; one socket per port and protocol for
 * every daemon), or with {@code --ports-ipv6} IPv6 too (2001:db8::15/64, default route via
 * 2001:db8::1: then a daemon that binds a socket per family needs 4N, one that binds dual-stack
 * sockets as passt 2N), {@code ip_unprivileged_port_start=0} (passt binds after it became nobody).
 * {@code benchmarks/compare} raises the soft RLIMIT_NOFILE to the hard limit before it starts;
 * the daemons inherit it, and the report says what it was.
 *
 * <p>Per launch: the launching command's time (start → exit with the socket listening), the
 * time until the daemon answers a guest ({@link ArpProbe}), then, once it idles, the drop of
 * MemAvailable since just before the launch, its PSS, anonymous memory and RSS, and how many
 * sockets it holds (to check that all 2N were bound). Then SIGQUIT.
 */
final class ManyPorts implements AutoCloseable {
    private final int ports;
    private final String ns;
    private final long[] limits;
    private final boolean ipv6;

    private ManyPorts(int ports, String ns, long[] limits, boolean ipv6) {
        this.ports = ports;
        this.ns = ns;
        this.limits = limits;
        this.ipv6 = ipv6;
    }

    static ManyPorts setUp(int ports, boolean ipv6) throws IOException, InterruptedException {
        String ns = "jpbports" + ProcessHandle.current().pid();
        Netns.sh("ip", "netns", "add", ns);
        try {
            Netns.sh("ip", "-n", ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1");
            Netns.sh("ip", "-n", ns, "link", "set", "lo", "up");
            Netns.sh("ip", "-n", ns, "link", "set", "veth1", "up");
            Netns.sh("ip", "-n", ns, "link", "set", "veth0", "up");
            Netns.sh("ip", "-n", ns, "addr", "add", "192.0.2.15/24", "dev", "veth0");
            Netns.sh("ip", "-n", ns, "route", "add", "default", "via", "192.0.2.1");
            if (ipv6) {
                Netns.sh("ip", "-n", ns, "addr", "add", "2001:db8::15/64", "dev", "veth0", "nodad");
                Netns.sh("ip", "-n", ns, "-6", "route", "add", "default", "via", "2001:db8::1");
            } else {
                Netns.sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
            }
            Netns.sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=0");
        } catch (IOException | RuntimeException e) {
            Netns.sh("ip", "netns", "del", ns);
            throw e;
        }
        long[] limits = Proc.fileLimits(ProcessHandle.current().pid());
        ManyPorts m = new ManyPorts(ports, ns, limits, ipv6);
        System.out.println("note: " + m.describe());
        if (limits != null && 2L * ports + 64 > limits[0]) {
            System.out.println("note: " + 2 * ports + " sockets need more descriptors than the limit allows: the launches will fail");
        }
        return m;
    }

    /** The network namespace the daemons run in. */
    String namespace() {
        return ns;
    }

    String describe() {
        String lim = limits == null ? "unknown" : limits[0] + " (soft), " + limits[1] + " (hard)";
        return "--ports " + ports + ": -t 1-" + ports + " -u 1-" + ports + " (" + 2 * ports
                + " listening sockets) in network namespace " + ns + (ipv6 ? " (IPv4 and IPv6)" : " (IPv4 only)")
                + "; RLIMIT_NOFILE " + lim;
    }

    void run(Compare.Spec spec, int launches, Results results, boolean verbose) throws Exception {
        String name = spec.name(), range = "1-" + ports;
        String what = "many ports (" + 2 * ports + " sockets, netns)";
        for (int i = 0; i < launches; i++) {
            Proc.sleepMs(500);
            long mem0 = Proc.memAvailableKb();
            Compare.Running r;
            try {
                r = Compare.launch(spec, List.of("ip", "netns", "exec", ns), List.of("-t", range, "-u", range));
            } catch (Exception e) {
                Compare.failed(name + " failed to launch with " + 2 * ports + " ports: " + e.getMessage());
                return;
            }
            try {
                double answer = Compare.answerMs(r);
                Proc.awaitIdle(r.pid, 10_000);
                long mem1 = Proc.memAvailableKb();
                int sockets = Proc.sockets(r.pid);
                double rss = Proc.rollupKb(r.pid, "Rss") / 1024.0, pss = Proc.rollupKb(r.pid, "Pss") / 1024.0,
                        anon = Proc.rollupKb(r.pid, "Anonymous") / 1024.0;
                results.add(name, new Results.Key("ports.launch", what + ": launch, command start → exit", "ms", false, 1),
                        r.launchMs);
                results.add(name, new Results.Key("ports.answer", "  command start → first answer to the guest (ARP)",
                        "ms", false, 1), answer);
                results.add(name, new Results.Key("ports.memavail", "  MemAvailable drop", "MB", false, 1),
                        (mem0 - mem1) / 1024.0);
                results.add(name, new Results.Key("ports.pss", "  PSS", "MB", false, 1), pss);
                results.add(name, new Results.Key("ports.anon", "  anonymous memory (no file behind it)", "MB", false, 1), anon);
                results.add(name, new Results.Key("ports.rss", "  RSS", "MB", false, 1), rss);
                results.add(name, new Results.Key("ports.sockets", "  sockets held", "", false, 0), sockets);
                if (verbose) {
                    System.out.printf(Locale.ROOT, "  %-14s launch %.1f ms, answer %.1f ms, MemAvailable -%.1f MB, PSS %.1f MB, "
                            + "RSS %.1f MB, %d sockets%n", name, r.launchMs, answer, (mem0 - mem1) / 1024.0, pss, rss, sockets);
                }
                if (sockets < 2 * ports) {
                    Compare.failed(name + " holds " + sockets + " sockets with " + 2 * ports + " ports forwarded");
                }
            } finally {
                Compare.quit(List.of(r.pid));
                Compare.deleteTree(r.dir);
            }
        }
    }

    @Override
    public void close() throws IOException, InterruptedException {
        Netns.sh("ip", "netns", "del", ns);
    }
}
