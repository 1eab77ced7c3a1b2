package jpasst.bench;

import java.util.List;

import jpasst.guest.GuestStack;
import jpasst.guest.StreamTransport;
import jpasst.guest.Transport;
import jpasst.guest.VhostTransport;

/**
 * The synthetic guest ({@link GuestStack}) on its own, against a daemon that is already running:
 * connects to its socket as QEMU would (the stream netdev, or vhost-user with
 * {@code --vhost-user}), takes a DHCP lease, and runs the {@link Scenarios} (all, or those
 * given), printing one line per measurement and the figures. {@code compare} runs the same
 * thing against every daemon; this is for a daemon started by hand (with a profiler, say).
 *
 * <pre>
 * java -cp benchmarks.jar jpasst.bench.GuestDriver --socket /tmp/s [--vhost-user] [--pid PID]
 *      [--tests up-65520,rr] [--time 5] [--warmup 2] [--no-verify]
 * </pre>
 * With {@code --pid}, the daemon's CPU time is read around every window.
 */
public final class GuestDriver {
    private GuestDriver() {}

    public static void main(String[] args) throws Exception {
        String socket = null;
        long pid = -1;
        List<String> tests = Scenarios.ALL;
        double time = 5, warmup = 2;
        boolean verify = true, vhostUser = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--socket" -> socket = args[++i];
                case "--pid" -> pid = Long.parseLong(args[++i]);
                case "--tests" -> tests = List.of(args[++i].split(","));
                case "--time" -> time = Double.parseDouble(args[++i]);
                case "--warmup" -> warmup = Double.parseDouble(args[++i]);
                case "--no-verify" -> verify = false;
                case "--vhost-user" -> vhostUser = true;
                default -> {
                    System.err.println("unknown option " + args[i]);
                    System.exit(2);
                }
            }
        }
        if (socket == null) {
            System.err.println("usage: GuestDriver --socket PATH [--vhost-user] [--pid PID] [--tests a,b] [--time S] [--warmup S]");
            System.exit(2);
        }
        Results results = new Results();
        Transport link = vhostUser ? VhostTransport.connect(socket, VhostTransport.bulkOptions(), 5_000)
                : StreamTransport.connect(socket, 5_000);
        try (HostServers host = new HostServers(); GuestStack g = new GuestStack(link)) {
            g.verifyChecksums(verify);
            if (!g.dhcp(10_000)) throw new IllegalStateException("no DHCP lease");
            if (!g.arpGateway(5_000)) throw new IllegalStateException("no ARP reply from the gateway");
            System.out.println("lease " + Netns.ip4(g.address4()) + "/" + g.prefix4() + " gateway "
                    + Netns.ip4(g.gateway4()) + " MTU " + g.dhcpMtu() + " over " + link.name());
            Scenarios sc = new Scenarios(g, host, pid, time, warmup, results, "daemon", true);
            for (String t : tests) sc.run(t);
        }
        System.out.println();
        System.out.print(results.raw());
        System.exit(0);
    }
}
