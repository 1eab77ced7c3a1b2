package jpasst.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import jpasst.guest.GuestStack;
import jpasst.guest.TcpApp;
import jpasst.guest.TcpConn;

/**
 * The synthetic guest's measurements, each over a warm-up (not counted: the JIT of a Java
 * daemon, the guest's own, socket buffers growing) and a measured window, against one daemon:
 * <ul>
 * <li>{@code up-MTU}: TCP bulk guest → host, the guest's MSS from its MTU (1500 or 65520);
 *     throughput is what the host's sink received in the window.
 * <li>{@code down-MTU}: TCP bulk host → guest; what the guest received in the window.
 * <li>{@code rr}: TCP request/response, one byte each way, one transaction at a time, to an echo
 *     server with TCP_NODELAY: latency p50 and p99 and transactions per second.
 * <li>{@code crr}: connections per second, 8 at a time: handshake, the host closes at once, the
 *     guest closes, both FINs acknowledged.
 * <li>{@code udp-SIZE}: UDP guest → host, datagrams of SIZE bytes as fast as the daemon takes
 *     them from the socket; received throughput and loss (sent by the guest vs. received by the
 *     host's socket).
 * <li>{@code udpin-SIZE}: UDP host → guest, datagrams of SIZE bytes sent by the host as fast as
 *     it can to the guest's flow (opened by the guest's datagram asking for them); what the guest
 *     received, and loss (sent by the host vs. received by the guest).
 * </ul>
 * Every window also records the daemon's CPU time (utime + stime from /proc), giving CPU seconds
 * per GB moved, and the synthetic guest's own CPU (its loop thread; the host-side server threads
 * separately), so a reader can tell whether the guest was the bottleneck.
 */
final class Scenarios {
    static final List<String> ALL = List.of("up-65520", "up-1500", "down-65520", "down-1500", "rr", "crr",
            "udp-1472", "udp-32000", "udpin-1472", "udpin-32000");

    private final GuestStack g;
    private final HostServers h;
    private final long pid;
    private final double seconds, warmup;
    private final Results results;
    private final String daemon;
    private final ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    private final boolean verbose;

    Scenarios(GuestStack g, HostServers h, long pid, double seconds, double warmup, Results results,
              String daemon, boolean verbose) {
        this.g = g;
        this.h = h;
        this.pid = pid;
        this.seconds = seconds;
        this.warmup = warmup;
        this.results = results;
        this.daemon = daemon;
        this.verbose = verbose;
    }

    void run(String name) {
        switch (name) {
            case "up-65520" -> bulkUp(65520);
            case "up-1500" -> bulkUp(1500);
            case "down-65520" -> bulkDown(65520);
            case "down-1500" -> bulkDown(1500);
            case "rr" -> requestResponse();
            case "crr" -> connectionRate();
            case "udp-1472" -> udp(1472);
            case "udp-32000" -> udp(32000);
            case "udpin-1472" -> udpIn(1472);
            case "udpin-32000" -> udpIn(32000);
            default -> throw new IllegalArgumentException("unknown scenario " + name + " (known: " + ALL + ")");
        }
        settle();
    }

    /** Between scenarios: drop leftovers, let the daemon close its sockets. */
    private void settle() {
        for (TcpConn c : List.copyOf(g.connections())) c.abort();
        h.dropConnections();
        long end = System.nanoTime() + 300_000_000L;
        while (System.nanoTime() < end) g.poll(10);
    }

    private void add(String id, String label, String unit, boolean higher, int decimals, double v) {
        results.add(daemon, new Results.Key(id, label, unit, higher, decimals), v);
    }

    /** A measured window's start or end. */
    private final class Mark {
        final long t = System.nanoTime(), daemonCpu = Proc.cpuNanos(pid),
                guestCpu = mx.getCurrentThreadCpuTime(), hostCpu = h.cpuNanos(),
                retrans = g.retransmittedBytes, timeouts = g.retransmitTimeouts, bad = g.badChecksums,
                probes = g.zeroWindowProbes;
    }

    private void window(String id, String what, Mark a, Mark b, long bytes) {
        double dt = (b.t - a.t) / 1e9;
        double gbps = bytes * 8 / dt / 1e9;
        double cpu = (b.daemonCpu - a.daemonCpu) / 1e9;
        add(id + ".gbps", what, "Gbit/s", true, 2, gbps);
        if (bytes > 0) add(id + ".cpu_per_gb", "  daemon CPU per GB", "s/GB", false, 3, cpu / (bytes / 1e9));
        guestCpu(id, a, b);
        if (verbose) {
            System.out.printf(Locale.ROOT, "  %-14s %-11s %7.2f Gbit/s  daemon CPU %.2f s (%.0f%%)  guest %.0f%%  host apps %.0f%%"
                            + "  retransmitted %d B (%d timeouts)  zero-window probes %d  bad checksums %d%n",
                    daemon, id, gbps, cpu, 100 * cpu / dt, 100 * (b.guestCpu - a.guestCpu) / 1e9 / dt,
                    100 * (b.hostCpu - a.hostCpu) / 1e9 / dt, b.retrans - a.retrans, b.timeouts - a.timeouts,
                    b.probes - a.probes, b.bad - a.bad);
        }
    }

    private void guestCpu(String id, Mark a, Mark b) {
        double dt = (b.t - a.t) / 1e9;
        add(id + ".guest_cpu", "  synthetic guest's own CPU", "%", false, 0, 100 * (b.guestCpu - a.guestCpu) / 1e9 / dt);
        add(id + ".daemon_cpu", "  daemon CPU", "%", false, 0, 100 * (b.daemonCpu - a.daemonCpu) / 1e9 / dt);
    }

    private static final boolean TRACE = System.getenv("JPB_TRACE") != null;

    private void pollFor(double secs) {
        long end = System.nanoTime() + (long) (secs * 1e9);
        long nextTrace = System.nanoTime();
        while (System.nanoTime() - end < 0) {
            g.poll(1);
            if (TRACE && System.nanoTime() - nextTrace > 0) {
                nextTrace += 100_000_000L;
                for (TcpConn c : g.connections()) {
                    System.out.printf(Locale.ROOT, "    trace: wnd %d cwnd %d inflight %d queued %d received %d sent %d%n",
                            c.sendWindow(), c.congestionWindow(), c.inFlight(), g.queued(), c.received(), c.acknowledged());
                }
            }
        }
    }

    private TcpConn established(int port, int mss, TcpApp app) {
        TcpConn c = g.connect(port, mss, app);
        if (!g.pollUntil(() -> c.state() != TcpConn.SYN_SENT, 5000) || c.isClosed()) {
            throw new IllegalStateException("no connection to the host's port " + port + " through " + daemon);
        }
        return c;
    }

    private void bulkUp(int mtu) {
        TcpConn c = established(h.sinkPort, mtu - 40, TcpApp.NONE);
        c.write(Long.MAX_VALUE / 4);
        pollFor(warmup);
        long s0 = h.sinkBytes.get();
        Mark a = new Mark();
        pollFor(seconds);
        Mark b = new Mark();
        long s1 = h.sinkBytes.get();
        String id = "up-" + mtu;
        window(id, "TCP guest→host, MTU " + mtu, a, b, s1 - s0);
        double sent = c.sent();
        if (sent > 0) add(id + ".retrans", "  retransmitted by the guest", "%", false, 2, 100.0 * c.retransmitted() / sent);
    }

    private void bulkDown(int mtu) {
        TcpConn c = established(h.sourcePort, mtu - 40, TcpApp.NONE);
        pollFor(warmup);
        long r0 = c.received();
        Mark a = new Mark();
        pollFor(seconds);
        Mark b = new Mark();
        long r1 = c.received();
        window("down-" + mtu, "TCP host→guest, MTU " + mtu, a, b, r1 - r0);
    }

    private void requestResponse() {
        final long[] samples = new long[4 << 20];
        final int[] n = {0};
        final long[] sentAt = {0};
        final boolean[] counting = {false};
        TcpApp app = new TcpApp() {
            @Override
            public void data(TcpConn c, java.lang.foreign.MemorySegment s, long off, int len) {
                long now = System.nanoTime();
                if (counting[0] && n[0] < samples.length) samples[n[0]++] = now - sentAt[0];
                sentAt[0] = now;
                c.write(1);
            }
        };
        TcpConn c = established(h.echoPort, 65480, app);
        sentAt[0] = System.nanoTime();
        c.write(1);
        pollFor(warmup);
        Mark a = new Mark();
        counting[0] = true;
        pollFor(seconds);
        counting[0] = false;
        Mark b = new Mark();
        long[] s = Arrays.copyOf(samples, n[0]);
        Arrays.sort(s);
        double dt = (b.t - a.t) / 1e9;
        double p50 = s.length == 0 ? Double.NaN : s[s.length / 2] / 1e3;
        double p99 = s.length == 0 ? Double.NaN : s[(int) Math.min(s.length - 1, Math.floor(s.length * 0.99))] / 1e3;
        add("rr.p50", "TCP request/response 1 byte, p50", "µs", false, 1, p50);
        add("rr.p99", "TCP request/response 1 byte, p99", "µs", false, 1, p99);
        add("rr.tps", "  transactions", "1/s", true, 0, s.length / dt);
        double cpu = (b.daemonCpu - a.daemonCpu) / 1e9;
        add("rr.cpu_per_tx", "  daemon CPU per transaction", "µs", false, 2, s.length == 0 ? Double.NaN : cpu / s.length * 1e6);
        guestCpu("rr", a, b);
        if (verbose) {
            System.out.printf(Locale.ROOT, "  %-14s rr          p50 %.1f µs  p99 %.1f µs  %.0f tx/s  daemon CPU %.0f%%  guest %.0f%%%n",
                    daemon, p50, p99, s.length / dt, 100 * cpu / dt, 100 * (b.guestCpu - a.guestCpu) / 1e9 / dt);
        }
    }

    private void connectionRate() {
        final int parallel = 8;
        final long[] done = {0}, failed = {0};
        final boolean[] opening = {true};
        TcpApp[] app = new TcpApp[1];
        app[0] = new TcpApp() {
            @Override
            public void established(TcpConn c) {
                c.close();
            }

            @Override
            public void closed(TcpConn c, boolean reset) {
                if (reset) failed[0]++;
                else done[0]++;
                if (opening[0]) g.connect(h.closerPort, 65480, app[0]);
            }
        };
        for (int i = 0; i < parallel; i++) g.connect(h.closerPort, 65480, app[0]);
        pollFor(warmup);
        long d0 = done[0], f0 = failed[0];
        Mark a = new Mark();
        pollFor(seconds);
        Mark b = new Mark();
        long d1 = done[0], f1 = failed[0];
        opening[0] = false;
        double dt = (b.t - a.t) / 1e9;
        double rate = (d1 - d0) / dt;
        add("crr.rate", "TCP connections (8 in parallel)", "1/s", true, 0, rate);
        double cpu = (b.daemonCpu - a.daemonCpu) / 1e9;
        add("crr.cpu_per_conn", "  daemon CPU per connection", "µs", false, 1, d1 > d0 ? cpu / (d1 - d0) * 1e6 : Double.NaN);
        guestCpu("crr", a, b);
        if (verbose) {
            System.out.printf(Locale.ROOT, "  %-14s crr         %.0f connections/s  (%d reset)  daemon CPU %.0f%%%n",
                    daemon, rate, f1 - f0, 100 * cpu / dt);
        }
        g.pollUntil(() -> g.connections().isEmpty(), 3000);
    }

    private void udp(int size) {
        int sport = 30000 + size % 1000;
        long end = System.nanoTime() + (long) (warmup * 1e9);
        while (System.nanoTime() - end < 0) udpBurst(sport, size);
        drainUdp();
        long sent0 = g.udpSent, got0 = h.udpDatagrams.get(), bytes0 = h.udpBytes.get();
        Mark a = new Mark();
        end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() - end < 0) udpBurst(sport, size);
        Mark b = new Mark();
        drainUdp();
        long sent = g.udpSent - sent0, got = h.udpDatagrams.get() - got0, bytes = h.udpBytes.get() - bytes0;
        String id = "udp-" + size;
        window(id, "UDP guest→host, " + size + " B datagrams", a, b, bytes);
        add(id + ".loss", "  lost", "%", false, 2, sent == 0 ? Double.NaN : 100.0 * (sent - got) / sent);
    }

    private void udpIn(int size) {
        int port = 31000 + size % 1000;
        long[] got = new long[2]; // datagrams to the port and their payload bytes (checksums are the stack's to verify)
        g.udpApp((sport, dport, s, off, len) -> {
            if (dport != port) return;
            got[0]++;
            got[1] += len;
        });
        sendUdpWord(port, h.udpSourcePort, size); // from now on the host sends
        pollFor(warmup);
        long sent0 = h.udpSourceSent.get(), got0 = got[0], bytes0 = got[1];
        Mark a = new Mark();
        pollFor(seconds);
        Mark b = new Mark();
        long sent = h.udpSourceSent.get() - sent0, received = got[0] - got0, bytes = got[1] - bytes0;
        sendUdpWord(port, h.udpSourcePort, 0);
        pollFor(0.2);
        g.udpApp(null);
        String id = "udpin-" + size;
        window(id, "UDP host→guest, " + size + " B datagrams", a, b, bytes);
        add(id + ".loss", "  lost", "%", false, 2, sent == 0 ? Double.NaN : Math.max(0, 100.0 * (sent - received) / sent));
    }

    /** One datagram holding the 32-bit {@code word} (big-endian) to the gateway, flushed: the host source's command. */
    private void sendUdpWord(int srcPort, int dstPort, int word) {
        jpasst.guest.StreamSource src = (off, dst, at, len) -> dst.set(
                java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), at, word);
        if (!g.sendUdp4(g.gateway4(), srcPort, dstPort, src, 0, 4)) throw new IllegalStateException("no room for a datagram");
        g.pollUntil(() -> g.queued() == 0, 1000);
    }

    /** Fills the output with datagrams, up to 1 MB queued, then one loop round. */
    private void udpBurst(int sport, int size) {
        while (g.queued() < (1 << 20) && g.sendUdp(sport, h.udpPort, size)) {
            // queued
        }
        g.poll(0);
    }

    /** Everything queued written, and a moment for the last datagrams to arrive. */
    private void drainUdp() {
        g.pollUntil(() -> g.queued() == 0, 2000);
        long end = System.nanoTime() + 200_000_000L;
        while (System.nanoTime() < end) g.poll(10);
    }
}
