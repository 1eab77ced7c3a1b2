package jpasst.bench;

import java.util.List;

/**
 * The synthetic guest on its own, against a daemon that is already running: connects to its
 * socket as QEMU would, takes a DHCP lease, and runs the {@link Scenarios} (all, or those given),
 * printing one line per measurement and the figures. {@code compare} runs the same thing against
 * both daemons; this is for a daemon started by hand (with a profiler, say).
 *
 * <pre>
 * java -cp benchmarks.jar jpasst.bench.SyntheticGuest --socket /tmp/s [--pid PID] [--tests up-65520,rr]
 *      [--time 5] [--warmup 2] [--no-verify]
 * </pre>
 * With {@code --pid}, the daemon's CPU time is read around every window.
 */
public final class SyntheticGuest {
    private SyntheticGuest() {}

    public static void main(String[] args) throws Exception {
        String socket = null;
        long pid = -1;
        List<String> tests = Scenarios.ALL;
        double time = 5, warmup = 2;
        boolean verify = true;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--socket" -> socket = args[++i];
                case "--pid" -> pid = Long.parseLong(args[++i]);
                case "--tests" -> tests = List.of(args[++i].split(","));
                case "--time" -> time = Double.parseDouble(args[++i]);
                case "--warmup" -> warmup = Double.parseDouble(args[++i]);
                case "--no-verify" -> verify = false;
                default -> {
                    System.err.println("unknown option " + args[i]);
                    System.exit(2);
                }
            }
        }
        if (socket == null) {
            System.err.println("usage: SyntheticGuest --socket PATH [--pid PID] [--tests a,b] [--time S] [--warmup S]");
            System.exit(2);
        }
        Results results = new Results();
        try (HostServers host = new HostServers(); GuestStack g = new GuestStack(socket)) {
            g.verifyChecksums(verify);
            if (!g.dhcp(10_000)) throw new IllegalStateException("no DHCP lease");
            if (!g.arpGateway(5_000)) throw new IllegalStateException("no ARP reply from the gateway");
            System.out.println("lease " + Netns.ip4(g.addr) + "/" + g.prefix + " gateway " + Netns.ip4(g.gw)
                    + " MTU " + g.dhcpMtu);
            Scenarios sc = new Scenarios(g, host, pid, time, warmup, results, "daemon", true);
            for (String t : tests) sc.run(t);
        }
        System.out.println();
        System.out.print(results.raw());
        System.exit(0);
    }
}
