package jpasst.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.guest.Frames;
import jpasst.guest.Match;
import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;
import jpasst.guest.V6Frames;
import jpasst.util.Log;

/**
 * The frame path under a seeded mutation fuzzer (issue 8, part 1). Seeds are valid frames of
 * every protocol (ARP, DHCP, TCP handshake/data/FIN/RST, UDP, ICMP and ICMPv6 echo, NS/NA/RS,
 * DHCPv6, IPv4 options and fragments, IPv6 extension headers, VLAN, LLDP) plus the live segments
 * of real TCP connections; mutations flip, set, cut, extend, splice and tweak length fields, and
 * most mutated packets get their checksums fixed so they reach the code past the checks.
 *
 * Sizes: {@code -Djpasst.fuzz.iterations=N} (default 60,000: a few seconds; the nightly size is
 * 1,000,000) and {@code -Djpasst.fuzz.socketIterations=N} (default 4,000) for the run over the
 * real UNIX socket; {@code -Djpasst.fuzz.seed=S} to reproduce a run.
 *
 * Every run must end with: no exception out of the frame path, no event the loop had to drop
 * ({@code loop.failures() == 0}), every flow gone after its idle timeout (1 s here), as many open
 * sockets as before, the guest output buffer empty, and valid DHCP, ARP, TCP, UDP and ICMP traffic
 * answered as before.
 */
class FrameFuzzTest {
    static final int ITERATIONS = Integer.getInteger("jpasst.fuzz.iterations", 60_000);
    static final int SOCKET_ITERATIONS = Integer.getInteger("jpasst.fuzz.socketIterations", 4_000);
    static final long SEED = Long.getLong("jpasst.fuzz.seed", 0x1ee7_f00dL);

    @Test
    @Timeout(1800)
    void mutatedFramesNeverEscapeTheFramePathAndEveryFlowExpires() throws Exception {
        try (FuzzRig rig = new FuzzRig(SEED, c -> { })) {
            long socketsBefore = FuzzRig.openSockets();
            int roomBefore = rig.stream().room();
            Mutator m = new Mutator(SEED, rig.seeds(), rig.containment);
            int peakFlows = 0;
            long started = System.nanoTime();
            for (int i = 0; i < ITERATIONS; i++) {
                byte[] f = m.random().nextInt(4) == 0 ? m.mutate(rig.sessions.template()) : m.next();
                rig.inject(f);
                if ((i & 31) == 31) {
                    rig.sessions.drive(rig::inject);
                    rig.pump();
                    peakFlows = Math.max(peakFlows, rig.flows());
                }
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            rig.closeHostConnections();
            boolean drained = rig.pumpUntil(30_000, () -> rig.flows() == 0);
            System.out.printf("FUZZ direct: %d inputs in %.1f s (seed %#x, %s), %d frames back, "
                            + "%d TCP sessions established by the live guest, peak %d flows, %d inputs threw, "
                            + "%d loop failures, %d frames dropped by Dispatch%n",
                    ITERATIONS, seconds, SEED, rig.ns != null ? "private network namespace" : "contained",
                    rig.framesFromDaemon(), rig.sessions.established(), peakFlows, rig.failureCount,
                    rig.passt.loop.failures(), rig.passt.dispatch.dropped());

            assertEquals(0, rig.failureCount, rig.describeFailures());
            assertEquals(0, rig.passt.loop.failures(), "events the loop had to drop");
            if (!drained) FlowDump.tcp(rig.passt, System.nanoTime());
            assertTrue(drained, "flows left after their timeouts: TCP " + rig.passt.tcp.activeConnections()
                    + ", UDP " + rig.passt.udp.active() + ", ICMP " + rig.passt.icmp.active());
            assertTrue(rig.sessions.established() > 0, "the live TCP sessions never got going");
            assertEquals(socketsBefore, FuzzRig.openSockets(), "sockets leaked");
            assertEquals(roomBefore, rig.stream().room(), "guest output buffer not empty");

            validTrafficStillWorks(rig);
            assertTrue(rig.pumpUntil(10_000, () -> rig.flows() == 0), "flows of the valid traffic left");
            assertEquals(socketsBefore, FuzzRig.openSockets(), "sockets leaked by the valid traffic");
            assertEquals(0, rig.failureCount, rig.describeFailures());
            assertEquals(0, rig.passt.loop.failures());
        }
    }

    /** DHCP, ARP, a TCP connection with data both ways, UDP and ICMP echo, NDP: all as usual. */
    private static void validTrafficStillWorks(FuzzRig rig) throws IOException {
        List<byte[]> got = new CopyOnWriteArrayList<>();
        rig.onFrame(got::add);
        rig.serveTcp = false;
        expect(rig, got, Frames.dhcpFrame(Frames.dhcp(0x77, Frames.GUEST_MAC, 0, false, Frames.opt(53, 1))),
                Match.dhcp(2), "DHCP OFFER");
        expect(rig, got, Frames.arpRequest(Frames.GUEST_MAC, FuzzFrames.ADDR4, FuzzFrames.GW4),
                Match.arpReply(FuzzFrames.GW4), "ARP reply");

        int port = 45678, isn = 1_000_000;
        byte[] synAck = expect(rig, got, Frames.tcp4(FuzzFrames.ADDR4, FuzzFrames.GW4, port, rig.tcp4, isn, 0,
                Frames.SYN, 65535, Frames.linuxSynOptions(1460, 0), new byte[0]),
                Match.tcp(port, Frames.SYN | Frames.ACK), "SYN-ACK");
        int their = Frames.i32(synAck, 14 + 20 + 4) + 1;
        byte[] hello = "after the storm".getBytes(StandardCharsets.US_ASCII);
        rig.inject(Frames.tcp4(FuzzFrames.ADDR4, FuzzFrames.GW4, port, rig.tcp4, isn + 1, their,
                Frames.ACK | Frames.PSH, 65535, new byte[0], hello));
        try (SocketChannel host = rig.acceptHost(3000)) {
            assertNotNull(host, "the connection never reached the host listener");
            host.configureBlocking(false);
            ByteBuffer in = ByteBuffer.allocate(64);
            rig.pumpUntil(3000, () -> {
                try {
                    host.read(in);
                } catch (IOException e) {
                    return true;
                }
                return in.position() >= hello.length;
            });
            assertEquals("after the storm", new String(in.array(), 0, in.position(), StandardCharsets.US_ASCII));
            got.clear();
            host.write(ByteBuffer.wrap("and back".getBytes(StandardCharsets.US_ASCII)));
            byte[] data = await(rig, got, f -> Match.tcpTo(port).test(f) && f.length == 14 + 20 + 20 + 8, "data to the guest");
            assertEquals("and back", new String(data, 54, 8, StandardCharsets.US_ASCII));
            rig.inject(Frames.tcp4(FuzzFrames.ADDR4, FuzzFrames.GW4, port, rig.tcp4, isn + 1 + hello.length, their + 8,
                    Frames.RST | Frames.ACK, 0, new byte[0], new byte[0]));
        }
        rig.serveTcp = true;

        byte[] ping = "ping".getBytes(StandardCharsets.US_ASCII);
        expect(rig, got, Frames.frame4(Frames.udp4(FuzzFrames.ADDR4, 45679, FuzzFrames.GW4, rig.udp4, ping)),
                Match.udpTo(45679), "UDP echo");
        expect(rig, got, V6Frames.ns(FuzzFrames.GUEST_LL, FuzzFrames.GW6, V6Frames.llOption(1, Frames.GUEST_MAC)),
                Match.icmp6(136), "neighbour advertisement");
        if (!rig.passt.icmp.warned()) {
            expect(rig, got, Frames.frame4(Frames.icmp4Echo(FuzzFrames.ADDR4, FuzzFrames.GW4, 0x7777, 1, ping)),
                    Match.echoReply4(), "ICMP echo reply");
        }
    }

    private static byte[] expect(FuzzRig rig, List<byte[]> got, byte[] send, Predicate<byte[]> reply, String what) {
        got.clear();
        rig.inject(send);
        return await(rig, got, reply, what);
    }

    private static byte[] await(FuzzRig rig, List<byte[]> got, Predicate<byte[]> reply, String what) {
        byte[][] match = new byte[1][];
        rig.pumpUntil(3000, () -> {
            for (byte[] f : got) {
                if (reply.test(f)) {
                    match[0] = f;
                    return true;
                }
            }
            return false;
        });
        assertNotNull(match[0], "no " + what + " after fuzzing");
        return match[0];
    }

    /**
     * The same over the real UNIX socket with the daemon's own loop thread, where the stream
     * framing is part of the input too: now and then a length prefix that cannot be a frame
     * (below 14 or above 65535), which must reset the connection and nothing else; frames written
     * in pieces at random points; and afterwards a new guest connection is served normally.
     */
    @Test
    @Timeout(600)
    void mutatedFramesAndBrokenFramingOverTheRealSocket() throws Exception {
        int logLevel = Log.level();
        Log.level(Log.WARN);
        NetNs ns = NetNs.isolate();
        try (ServerSocketChannel l4 = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 1024);
             DatagramChannel u4 = DatagramChannel.open().bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
             InProcessPasst p = new InProcessPasst(c -> {
                 FuzzFrames.v6(c);
                 c.udpTimeoutSeconds = 1;
                 c.icmpTimeoutSeconds = 1;
                 c.tcpTimeoutSeconds = 1;
             })) {
            int tcp = ((InetSocketAddress) l4.getLocalAddress()).getPort();
            int udp = ((InetSocketAddress) u4.getLocalAddress()).getPort();
            Mutator m = new Mutator(SEED + 1, FuzzFrames.seeds(tcp, tcp, udp, udp),
                    ns == null ? new Containment(tcp, tcp, udp, udp) : null);
            var rnd = m.random();
            GuestLink link = p.connect();
            long written = 0; // on this connection
            int resets = 0, splits = 0;
            for (int i = 0; i < SOCKET_ITERATIONS; i++) {
                byte[] f = m.next();
                int r = rnd.nextInt(100);
                if (r < 2) {
                    // a length no frame can have: the daemon must reset this connection, and only this
                    long len = rnd.nextBoolean() ? rnd.nextInt(14) : 65536L + rnd.nextLong(0x1_0000_0000L - 65536L);
                    link.writeRaw(ByteBuffer.allocate(4 + f.length).putInt((int) len).put(f).array());
                    assertTrue(link.closedByPeer(3000), "bad length " + len + " did not reset the connection");
                    link.close();
                    resets++;
                    link = p.connect();
                    written = 0;
                    continue;
                }
                byte[] framed = ByteBuffer.allocate(4 + f.length).putInt(f.length).put(f).array();
                try {
                    if (r < 10) {
                        int cut = 1 + rnd.nextInt(framed.length - 1);
                        link.writeRaw(java.util.Arrays.copyOfRange(framed, 0, cut));
                        long firstPiece = written + cut;
                        assertTrue(p.await(() -> p.stream().bytesIn() >= firstPiece, 3000), "the first piece was not read");
                        link.writeRaw(java.util.Arrays.copyOfRange(framed, cut, framed.length));
                        splits++;
                    } else {
                        link.writeRaw(framed);
                    }
                    written += framed.length;
                } catch (IOException e) {
                    throw new AssertionError("the daemon dropped the guest after a frame of valid length: "
                            + FuzzRig.hex(f), e);
                }
                if ((i & 63) == 63) while (link.receive(1) != null) { /* drain */ }
            }
            // every frame handed over: a probe's answer comes after all of theirs
            int probe = Frames.ip("203.0.113.77");
            link.send(Frames.arpRequest(Frames.GUEST_MAC, FuzzFrames.ADDR4, probe));
            assertNotNull(link.receive(5000, Match.arpReply(probe)), "no answer to the probe");
            assertEquals(resets, p.query(() -> p.stream().badFrames()), "connections reset for bad framing");
            p.await(() -> p.passt.tcp.activeConnections() + p.passt.udp.active() + p.passt.icmp.active() == 0, 30_000);
            System.out.printf("FUZZ socket: %d inputs (%d written in two pieces, %d bad length prefixes, "
                            + "each answered by a reset), %d loop failures%n",
                    SOCKET_ITERATIONS, splits, resets, p.query(() -> p.passt.loop.failures()));
            assertEquals(0, p.query(() -> p.passt.loop.failures()), "events the loop had to drop");
            assertEquals(0, (int) p.query(() -> p.passt.tcp.activeConnections() + p.passt.udp.active() + p.passt.icmp.active()),
                    "flows left after their timeouts");
            link.close();
            assertTrue(p.await(() -> !p.passt.link.connected(), 2000), "the daemon did not notice the guest leaving");
            try (GuestLink fresh = p.connect()) {
                fresh.send(Frames.dhcpFrame(Frames.dhcp(0x99, Frames.GUEST_MAC, 0, false, Frames.opt(53, 1))));
                assertNotNull(fresh.receive(3000, Match.dhcp(2)), "no DHCP OFFER on a new connection after fuzzing");
            }
        } finally {
            Log.level(logLevel);
            if (ns != null) ns.close();
        }
    }
}
