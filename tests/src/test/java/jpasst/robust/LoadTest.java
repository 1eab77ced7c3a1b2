package jpasst.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Load through a real daemon process (issue 8, parts 3 and 4), with a {@link Transfers} on
 * its socket and a {@link HostServer} behind the gateway, both in this JVM. The daemon runs as
 * Kata and libvirt start it, with a 64 MB heap ({@code JPASST_JVM_OPTS=-Xmx64m}).
 *
 * <ul>
 * <li>Ten thousand TCP connections open at once ({@code -Djpasst.load.flows}), held, then each
 *     carries a transfer both ways, sha256-checked; afterwards the daemon has the descriptors it
 *     had before the guest came.</li>
 * <li>A soak: for {@code -Djpasst.soak.seconds} (60 in CI; {@code tests/soak} runs it for
 *     minutes) connections open, transfer 0 B to 4 MB each way, sha256-checked, and close, with
 *     {@code -Djpasst.soak.concurrency} of them at a time. Zero bytes may be lost.</li>
 * </ul>
 * Each prints its figures (flows held, bytes, resident memory) in a line starting with "LOAD".
 */
class LoadTest {
    static final int FLOWS = Integer.getInteger("jpasst.load.flows", 10_000);
    static final long SOAK_SECONDS = Long.getLong("jpasst.soak.seconds", 60);
    static final int SOAK_CONCURRENCY = Integer.getInteger("jpasst.soak.concurrency", 48);
    static final String HEAP = System.getProperty("jpasst.load.heap", "-Xmx64m");
    static final int MSS = 65480;

    private static LaunchedDaemon daemon() throws Exception {
        return LaunchedDaemon.start(Map.of("JPASST_JVM_OPTS", HEAP), List.of());
    }

    @Test
    @Timeout(600)
    void tenThousandConcurrentFlowsAreHeldAndCarryTheirDataIntact() throws Exception {
        // one socket per flow here (the host server) and in the daemon (which inherits the limit)
        long limit = Rlimits.raiseOpenFiles(FLOWS + 2000L);
        // where the limit cannot be raised that far, as many as it allows, and the line says so
        int flows = (int) Math.min(FLOWS, limit - 500);
        assumeTrue(flows >= 1000, "open file limit " + limit + " too low (raise ulimit -n)");
        String limited = flows < FLOWS ? " (limited from " + FLOWS + " by ulimit -n " + limit + ")" : "";
        SplittableRandom rnd = new SplittableRandom(10_000);
        try (HostServer server = new HostServer(); LaunchedDaemon d = daemon()) {
            long baseFds = d.fds(false);
            long rssIdle = d.statusKb("VmRSS");
            try (Transfers g = new Transfers(d.socket(), MSS)) {
                g.dhcp(5000);
                List<Transfer> conns = new ArrayList<>(flows);
                long t0 = System.nanoTime();
                for (int i = 0; i < flows; i++) {
                    conns.add(g.connect(server.port(), rnd.nextInt(6), rnd.nextInt(6)));
                    if ((i & 127) == 127) g.poll(0);
                }
                g.runUntil(() -> conns.stream().noneMatch(c -> c.state == Transfer.State.SYN_SENT), 120_000);
                double openSeconds = (System.nanoTime() - t0) / 1e9;
                Map<Transfer.State, Long> states = conns.stream()
                        .collect(Collectors.groupingBy(c -> c.state, Collectors.counting()));
                assertEquals(flows, states.getOrDefault(Transfer.State.ESTABLISHED, 0L),
                        "connections established: " + states + "\n" + d.log());
                // all of them open at once, on both sides of the daemon
                g.runUntil(() -> server.open.get() >= flows, 10_000);
                long held = server.open.get();
                long daemonSockets = d.fds(true);
                long rssHeld = d.statusKb("VmRSS");
                assertEquals(flows, held, "connections open at the host server");
                assertTrue(daemonSockets >= flows, "daemon sockets " + daemonSockets);

                long t1 = System.nanoTime();
                conns.forEach(Transfer::start);
                boolean done = g.runUntil(() -> g.liveConnections() == 0, 300_000);
                double transferSeconds = (System.nanoTime() - t1) / 1e9;
                long up = 0, down = 0;
                for (Transfer c : conns) {
                    up += Payloads.SIZES[c.up] + 8;
                    down += Payloads.SIZES[c.down];
                }
                List<String> bad = conns.stream().filter(c -> !c.intact()).limit(10).map(Object::toString).toList();
                assertTrue(done && bad.isEmpty(), "transfers not done intact (first ten): " + bad);
                g.runUntil(() -> server.completed.get() >= flows, 30_000);
                long lost = (up - 8L * flows - server.bytesIntact.get()) + (down - g.bytesDownIntact);
                System.out.printf("LOAD flows: %d TCP connections held at once%s (daemon sockets %d), opened in %.1f s; "
                                + "%d bytes up and %d down in %.1f s, %d bytes lost; %d SYN and %d data retransmissions (go-back-N), %d zero-window probes; "
                                + "daemon RSS %d kB idle, %d kB with the flows held, VmHWM %d kB (%s)%n",
                        held, limited, daemonSockets, openSeconds, up, down, transferSeconds, lost, g.synRetransmits(), g.retransmits(), g.probes(),
                        rssIdle, rssHeld, d.statusKb("VmHWM"), HEAP);
                assertEquals(0, lost, "bytes lost");
                assertTrue(server.problems.isEmpty(), "host server: " + server.problems);
                assertEquals(flows, server.completed.get(), "transfers completed at the host server");
            }
            long fds = d.awaitFdsAtMost(baseFds, Duration.ofSeconds(30));
            assertTrue(fds <= baseFds, "descriptors left after the guest went away: " + baseFds + " before, " + fds + " after (a leak is more, not fewer)");
            assertTrue(d.isRunning(), "the daemon died");
            assertFalse(d.log().contains("Internal error"), d.log());
        }
    }

    @Test
    @Timeout(1800)
    void soakWithChecksummedTransfersLosesNoByte() throws Exception {
        Rlimits.raiseOpenFiles(4096);
        SplittableRandom rnd = new SplittableRandom(60);
        try (HostServer server = new HostServer(); LaunchedDaemon d = daemon()) {
            long baseFds = d.fds(false);
            long rssMax = 0, transfers = 0, up = 0, down = 0;
            List<Transfer> all = new ArrayList<>();
            long t0 = System.nanoTime(), deadline = t0 + SOAK_SECONDS * 1_000_000_000L;
            try (Transfers g = new Transfers(d.socket(), MSS)) {
                g.dhcp(5000);
                List<Transfer> live = new ArrayList<>();
                long nextSample = 0;
                while (System.nanoTime() < deadline) {
                    live.removeIf(c -> c.state != Transfer.State.SYN_SENT && c.state != Transfer.State.ESTABLISHED);
                    while (live.size() < SOAK_CONCURRENCY) {
                        // mostly small, sometimes up to 4 MB each way
                        int a = rnd.nextInt(10) < 7 ? rnd.nextInt(Payloads.SMALL) : rnd.nextInt(Payloads.SIZES.length);
                        int b = rnd.nextInt(10) < 7 ? rnd.nextInt(Payloads.SMALL) : rnd.nextInt(Payloads.SIZES.length);
                        Transfer c = g.connect(server.port(), a, b);
                        c.start();
                        live.add(c);
                        all.add(c);
                        transfers++;
                        up += Payloads.SIZES[a] + 8;
                        down += Payloads.SIZES[b];
                    }
                    g.poll(2);
                    if (System.nanoTime() > nextSample) {
                        rssMax = Math.max(rssMax, d.statusKb("VmRSS"));
                        nextSample = System.nanoTime() + 1_000_000_000L;
                        assertFalse(g.disconnected(), "the daemon closed the guest's socket");
                    }
                }
                boolean done = g.runUntil(() -> g.liveConnections() == 0, 120_000);
                double seconds = (System.nanoTime() - t0) / 1e9;
                List<String> bad = all.stream().filter(c -> !c.intact()).limit(10).map(Object::toString).toList();
                long broken = all.stream().filter(c -> !c.intact()).count();
                g.runUntil(() -> server.completed.get() + server.problems.size() >= all.size(), 30_000);
                long lost = (up - 8L * transfers - server.bytesIntact.get()) + (down - g.bytesDownIntact);
                System.out.printf("LOAD soak: %.0f s, %d transfers (%d at a time), %d bytes up and %d down "
                                + "(%.0f MB/s both ways), %d bytes lost, %d transfers not intact; %d SYN and %d data "
                                + "retransmissions (go-back-N), %d zero-window probes; daemon RSS max %d kB, VmHWM %d kB (%s)%n",
                        seconds, transfers, SOAK_CONCURRENCY, up, down, (up + down) / seconds / 1e6, lost, broken,
                        g.synRetransmits(), g.retransmits(), g.probes(), rssMax, d.statusKb("VmHWM"), HEAP);
                assertTrue(done && bad.isEmpty(), broken + " transfers not done intact (first ten): " + bad
                        + "; host server: " + server.problems.stream().limit(10).toList());
                assertTrue(server.problems.isEmpty(), "host server: " + server.problems);
                assertEquals(0, lost, "bytes lost");
            }
            assertEquals(baseFds, d.awaitFdsAtMost(baseFds, Duration.ofSeconds(30)), "descriptors left");
            assertTrue(d.isRunning(), "the daemon died");
            assertFalse(d.log().contains("Internal error"), d.log());
        }
    }
}
