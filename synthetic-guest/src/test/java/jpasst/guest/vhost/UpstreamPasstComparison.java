package jpasst.guest.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import jpasst.guest.Frames;
import jpasst.guest.GuestStack;
import jpasst.guest.Match;
import jpasst.guest.StreamTransport;
import jpasst.guest.TcpExchange;
import jpasst.guest.Transport;
import jpasst.guest.VhostTransport;

/**
 * The guest side against a daemon it shares no code with: upstream passt
 * (../shared/reference/passt-upstream/passt, or {@code -Djpasst.upstream.passt=PATH}). Over
 * {@code --vhost-user}, with QEMU's handshake, rings in a memfd and frames through the
 * virtqueues, the front-end must get a DHCP offer and an ARP reply, as a guest booted by QEMU
 * would; and the synthetic guest's stack, over either transport, its lease and TCP both ways.
 *
 * Opt-in, like the other comparisons (it needs the reference binary and the host's network
 * configuration, which passt copies): {@code -Djpasst.upstream=true} (or {@code -Djpasst.bench=true}),
 * e.g. {@code mvn -pl synthetic-guest verify -Dtest=UpstreamPasstComparison -Djpasst.upstream=true}.
 */
@Timeout(60)
class UpstreamPasstComparison {
    static final String PASST = System.getProperty("jpasst.upstream.passt",
            "/work/shared/reference/passt-upstream/passt");

    /** Upstream passt in the foreground on a fresh socket, with {@code options}. */
    private record Upstream(Process process, Path dir, Path socket) implements AutoCloseable {
        static Upstream start(String... options) throws Exception {
            assumeTrue(Boolean.getBoolean("jpasst.upstream") || Boolean.getBoolean("jpasst.bench"),
                    "a cross-check with the reference binary: run with -Djpasst.upstream=true");
            assumeTrue(Files.isExecutable(Path.of(PASST)), "no upstream passt at " + PASST);
            Path dir = Files.createTempDirectory("jpasst-upstream");
            Path sock = dir.resolve("s.sock");
            List<String> cmd = new ArrayList<>(List.of(PASST, "-f", "-d", "-s", sock.toString()));
            cmd.addAll(List.of(options));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("passt.log").toFile()).start();
            for (int i = 0; i < 500 && !Files.exists(sock); i++) Thread.sleep(10);
            assertTrue(Files.exists(sock), "upstream passt did not create its socket");
            return new Upstream(p, dir, sock);
        }

        @Override
        public void close() throws Exception {
            process.destroy();
            process.waitFor(5, TimeUnit.SECONDS);
            System.out.println("UPSTREAM log:\n" + Files.readString(dir.resolve("passt.log")));
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) Files.deleteIfExists(f); // the socket, passt's repair socket, the log
            }
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void upstreamPasstAnswersDhcpAndArpThroughTheVirtqueues() throws Exception {
        try (Upstream u = Upstream.start("--vhost-user"); VhostUserFrontEnd fe = new VhostUserFrontEnd()) {
            fe.connect(u.socket().toString());
            System.out.printf("UPSTREAM features 0x%x, protocol features offered 0x%x, negotiated 0x%x%n",
                    fe.features(), fe.offeredProtocolFeatures(), fe.protocolFeatures());
            assertEquals(1L << Wire.F_VERSION_1 | 1L << Wire.F_MRG_RXBUF | 1L << Wire.F_LOG_ALL | 1L << Wire.F_PROTOCOL_FEATURES,
                    fe.features(), "the features upstream offers");
            fe.start();

            fe.sendNow(Frames.dhcpFrame(Frames.dhcp(0x1234abcd, Frames.GUEST_MAC, 0, true, Frames.opt(53, 1),
                    Frames.opt(55, 1, 3, 6))));
            byte[] offer = awaitFrame(fe, Match.dhcp(2));
            assertNotNull(offer, "no DHCPOFFER from upstream passt");
            int yiaddr = Frames.i32(offer, 14 + 20 + 8 + 16);
            int router = Frames.dhcpOption4(offer, 3);
            System.out.printf("UPSTREAM DHCPOFFER: %s, router %s, num_buffers %d, flags 0x%x%n",
                    jpasst.guest.net.Bytes.ip4(yiaddr), jpasst.guest.net.Bytes.ip4(router), fe.lastNumBuffers(),
                    fe.lastHeaderFlags());
            assertTrue(yiaddr != 0, "an offer without an address");

            fe.sendNow(Frames.arpRequest(Frames.GUEST_MAC, yiaddr, router));
            byte[] reply = awaitFrame(fe, Match.arpReply(router));
            assertNotNull(reply, "no ARP reply for the router from upstream passt");
            System.out.printf("UPSTREAM ARP reply: %s is at %012x (%d bytes)%n", jpasst.guest.net.Bytes.ip4(router),
                    Frames.mac(reply, 22), reply.length);
            assertEquals(60, reply.length, "a padded ARP frame");

            int[] bases = fe.stop();
            System.out.printf("UPSTREAM GET_VRING_BASE: rx %d, tx %d%n", bases[0], bases[1]);
            assertEquals(2, bases[Wire.TX], "two frames sent");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"stream", "vhost-user"})
    void theGuestStackGetsALeaseAndMovesTcpBothWaysThroughUpstreamPasst(String transport) throws Exception {
        boolean vu = transport.equals("vhost-user");
        byte[] down = new byte[4 << 20];
        new Random(9).nextBytes(down);
        int up = 3 << 20;
        try (Upstream u = vu ? Upstream.start("--vhost-user") : Upstream.start();
             ServerSocket host = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"))) {
            Transport t = vu ? VhostTransport.connect(u.socket().toString(), VhostTransport.bulkOptions(), 5_000)
                    : StreamTransport.connect(u.socket().toString(), 5_000);
            try (GuestStack g = new GuestStack(t)) {
                assertTrue(g.dhcp(5_000), "a DHCP lease");
                assertTrue(g.arpGateway(5_000), "the gateway's MAC");
                TcpExchange x = TcpExchange.run(g, host, down, up, 30_000);
                assertNull(x.problem(down, up));
                assertEquals(0, g.badChecksums);
                System.out.printf("UPSTREAM over %s: lease %s, TCP %d bytes down, %d up; %d bytes retransmitted%n", transport,
                        jpasst.guest.net.Bytes.ip4(g.address4()), x.toGuest.length, up, g.retransmittedBytes);
            }
        }
    }

    private static byte[] awaitFrame(VhostUserFrontEnd fe, java.util.function.Predicate<byte[]> want) {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (System.nanoTime() < deadline) {
            byte[] f = fe.receive(200);
            if (f != null && want.test(f)) return f;
        }
        return null;
    }
}
