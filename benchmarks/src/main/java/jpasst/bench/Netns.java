package jpasst.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * iperf3 with real Linux TCP through the daemon, without a VM (design.md, "Measuring without a
 * VM"): a network namespace is the guest. Its tap device carries the address the daemon hands
 * out, the gateway as default route, the MTU under test and a long transmit queue; a
 * {@link TapRelay} inside the namespace joins the tap to the daemon's socket as QEMU would; the
 * iperf3 server listens on the host's loopback, and the client in the namespace reaches it at
 * the gateway's address. Needs root (ip netns) and iperf3.
 *
 * <p>Figures: iperf3's own throughput over the intervals after the warm-up, the sender's
 * retransmissions (guest → host: the namespace kernel's, which show a daemon that drops what it
 * offered to take), the daemon's CPU per GB over the same stretch, and the relay's CPU (the
 * "guest" side's cost, comparable to QEMU's).
 */
final class Netns {
    private Netns() {}

    static final List<String> TESTS = List.of("up-65520", "up-1500", "down-65520", "down-1500");
    private static int counter;

    record Lease(int addr, int prefix, int gw) {
    }

    static void run(Compare.Running d, Lease lease, Results results, double time, double warmup, boolean verbose)
            throws Exception {
        String ns = "jpb" + ProcessHandle.current().pid() + "x" + (counter++);
        String gw = ip4(lease.gw());
        sh("ip", "netns", "add", ns);
        Process relay = null;
        try {
            String java = ProcessHandle.current().info().command().orElse("java");
            String cp = System.getProperty("java.class.path");
            relay = new ProcessBuilder("ip", "netns", "exec", ns, java, "--enable-native-access=ALL-UNNAMED",
                    "-XX:+UseSerialGC", "-Xmx64m", "-XX:TieredStopAtLevel=1", "-cp", cp, TapRelay.class.getName(), "tap0", d.socket)
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(relay.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            if (!"READY".equals(line)) throw new IllegalStateException("tap relay did not start: " + line);
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
            sh("ip", "-n", ns, "link", "set", "lo", "up");
            sh("ip", "-n", ns, "link", "set", "tap0", "txqueuelen", "10000", "mtu", "65520", "up");
            sh("ip", "-n", ns, "addr", "add", ip4(lease.addr()) + "/" + lease.prefix(), "dev", "tap0");
            sh("ip", "-n", ns, "route", "add", "default", "via", gw, "dev", "tap0");
            for (String t : TESTS) {
                boolean up = t.startsWith("up");
                int mtu = Integer.parseInt(t.substring(t.indexOf('-') + 1));
                sh("ip", "-n", ns, "link", "set", "tap0", "mtu", Integer.toString(mtu));
                iperf(d, relay.pid(), ns, gw, up, mtu, results, time, warmup, verbose);
            }
        } finally {
            if (relay != null) {
                relay.destroy();
                if (!relay.waitFor(3, TimeUnit.SECONDS)) relay.destroyForcibly();
            }
            sh("ip", "netns", "del", ns);
        }
    }

    private static final Pattern SUM = Pattern.compile("\"sum\":\\s*\\{([^}]*)\\}");
    private static final Pattern RETRANS = Pattern.compile("\"sum_sent\":\\s*\\{[^}]*\"retransmits\":\\s*(\\d+)");

    private static void iperf(Compare.Running d, long relayPid, String ns, String gw, boolean up, int mtu,
                              Results results, double time, double warmup, boolean verbose) throws Exception {
        try (Iperf3Server server = Iperf3Server.start()) {
            int port = server.port;
            for (int i = 0; i < 100 && !tcpListening(port); i++) Proc.sleepMs(10);
            int total = (int) Math.ceil(time + warmup);
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns, "iperf3", "-c", gw, "-p",
                    Integer.toString(port), "-t", Integer.toString(total), "-i", "0.5", "-J"));
            if (!up) cmd.add("-R");
            Path json = Files.createTempFile("jpb-iperf", ".json");
            long t0 = System.nanoTime();
            Process client = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(json.toFile()).start();
            // CPU from the end of the warm-up to the end of the test
            long warmEnd = t0 + (long) (warmup * 1e9);
            while (System.nanoTime() < warmEnd && client.isAlive()) Proc.sleepMs(5);
            long cpu0 = Proc.cpuNanos(d.pid), relay0 = Proc.cpuNanos(relayPid), w0 = System.nanoTime();
            client.waitFor(total + 30L, TimeUnit.SECONDS);
            long cpu1 = Proc.cpuNanos(d.pid), relay1 = Proc.cpuNanos(relayPid), w1 = System.nanoTime();
            String out = Files.readString(json);
            Files.deleteIfExists(json);
            double bytes = 0, seconds = 0;
            Matcher endBlock = Pattern.compile("\"end\":\\s*\\{").matcher(out);
            Matcher m = SUM.matcher(out.substring(0, endBlock.find() ? endBlock.start() : 0));
            while (m.find()) {
                double start = field(m.group(1), "start"), end = field(m.group(1), "end");
                if (start >= warmup - 1e-3 && end > start) {
                    bytes += field(m.group(1), "bytes");
                    seconds += end - start;
                }
            }
            String id = "ns-" + (up ? "up-" : "down-") + mtu;
            String what = "iperf3, netns guest (Linux TCP): " + (up ? "guest→host" : "host→guest") + ", MTU " + mtu;
            if (seconds == 0) {
                System.out.println("  " + d.spec.name() + " " + id + ": no iperf3 result: "
                        + out.substring(0, Math.min(out.length(), 2000)));
                results.add(d.spec.name(), new Results.Key(id + ".gbps", what, "Gbit/s", true, 2), 0);
                return;
            }
            double gbps = bytes * 8 / seconds / 1e9;
            double cpu = (cpu1 - cpu0) / 1e9, dt = (w1 - w0) / 1e9;
            // bytes moved during the CPU window: the measured intervals' rate over that window
            double gb = gbps / 8 * dt;
            results.add(d.spec.name(), new Results.Key(id + ".gbps", what, "Gbit/s", true, 2), gbps);
            // below 0.05 GB (a stalled transfer) CPU per GB says nothing
            results.add(d.spec.name(), new Results.Key(id + ".cpu_per_gb", "  daemon CPU per GB", "s/GB", false, 3),
                    gb >= 0.05 ? cpu / gb : Double.NaN);
            results.add(d.spec.name(), new Results.Key(id + ".relay_cpu", "  tap relay's CPU (the guest side)", "%", false, 0),
                    100 * (relay1 - relay0) / 1e9 / dt);
            long retrans = -1;
            Matcher r = RETRANS.matcher(out);
            if (r.find()) retrans = Long.parseLong(r.group(1));
            if (up && retrans >= 0) {
                results.add(d.spec.name(), new Results.Key(id + ".retrans", "  segments the guest retransmitted", "count",
                        false, 0), retrans);
            }
            if (verbose) {
                System.out.printf(Locale.ROOT, "  %-14s %-14s %7.2f Gbit/s  daemon CPU %.2f s (%.0f%%)  relay %.0f%%  retransmits %d%n",
                        d.spec.name(), id, gbps, cpu, 100 * cpu / dt, 100 * (relay1 - relay0) / 1e9 / dt, retrans);
            }
        }
    }

    private static double field(String obj, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":\\s*([0-9.eE+-]+)").matcher(obj);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    private static boolean tcpListening(int port) {
        try {
            String hex = String.format(Locale.ROOT, ":%04X ", port);
            for (String l : Files.readAllLines(Path.of("/proc/net/tcp"))) {
                if (l.contains(hex) && l.contains(" 0A ")) return true;
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    static String ip4(int a) {
        return (a >>> 24) + "." + ((a >>> 16) & 0xff) + "." + ((a >>> 8) & 0xff) + "." + (a & 0xff);
    }

    static void sh(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) throw new IOException(String.join(" ", cmd) + ": " + out.trim());
    }
}
