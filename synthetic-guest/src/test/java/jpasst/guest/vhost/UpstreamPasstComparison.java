package jpasst.guest.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The front-end against a back-end it shares no code with: upstream passt's {@code --vhost-user}
 * (../shared/reference/passt-upstream/passt, or {@code -Djpasst.upstream.passt=PATH}). With
 * QEMU's handshake, rings in a memfd and frames through the virtqueues, it must get a DHCP offer
 * and an ARP reply, as a guest booted by QEMU would.
 *
 * Opt-in, like the other comparisons (it needs the reference binary and the host's network
 * configuration, which passt copies): {@code -Djpasst.upstream=true} (or {@code -Djpasst.bench=true}),
 * e.g. {@code mvn -pl synthetic-guest verify -Dtest=UpstreamPasstComparison -Djpasst.upstream=true}.
 */
@Timeout(60)
class UpstreamPasstComparison {
    static final String PASST = System.getProperty("jpasst.upstream.passt",
            "/work/shared/reference/passt-upstream/passt");
    static final byte[] MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

    @Test
    void upstreamPasstAnswersDhcpAndArpThroughTheVirtqueues() throws Exception {
        assumeTrue(Boolean.getBoolean("jpasst.upstream") || Boolean.getBoolean("jpasst.bench"),
                "a cross-check with the reference binary: run with -Djpasst.upstream=true");
        assumeTrue(Files.isExecutable(Path.of(PASST)), "no upstream passt at " + PASST);
        Path dir = Files.createTempDirectory("jpasst-upstream");
        Path sock = dir.resolve("vu.sock");
        Process passt = new ProcessBuilder(PASST, "--vhost-user", "-f", "-d", "-s", sock.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("passt.log").toFile()).start();
        try (VhostUserFrontEnd fe = new VhostUserFrontEnd()) {
            for (int i = 0; i < 500 && !Files.exists(sock); i++) Thread.sleep(10);
            assertTrue(Files.exists(sock), "upstream passt did not create its socket");
            fe.connect(sock.toString());
            System.out.printf("UPSTREAM features 0x%x, protocol features offered 0x%x, negotiated 0x%x%n",
                    fe.features(), fe.offeredProtocolFeatures(), fe.protocolFeatures());
            assertEquals(1L << Wire.F_VERSION_1 | 1L << Wire.F_MRG_RXBUF | 1L << Wire.F_LOG_ALL | 1L << Wire.F_PROTOCOL_FEATURES,
                    fe.features(), "the features upstream offers");
            fe.start();

            fe.sendNow(GuestFrames.dhcpDiscover(MAC, 0x1234abcd));
            byte[] offer = awaitFrame(fe, f -> GuestFrames.dhcpMessageType(f) == 2);
            assertNotNull(offer, "no DHCPOFFER from upstream passt");
            int yiaddr = ByteBuffer.wrap(offer).getInt(14 + 20 + 8 + 16);
            int router = GuestFrames.dhcpOption4(offer, 3);
            System.out.printf("UPSTREAM DHCPOFFER: %s, router %s, num_buffers %d, flags 0x%x%n",
                    GuestFrames.ip(yiaddr), GuestFrames.ip(router), fe.lastNumBuffers(), fe.lastHeaderFlags());
            assertTrue(yiaddr != 0, "an offer without an address");

            fe.sendNow(GuestFrames.arpRequest(MAC, yiaddr, router));
            byte[] reply = awaitFrame(fe, f -> GuestFrames.isArpReplyFrom(f, router));
            assertNotNull(reply, "no ARP reply for the router from upstream passt");
            System.out.printf("UPSTREAM ARP reply: %s is at %s (%d bytes)%n", GuestFrames.ip(router),
                    GuestFrames.mac(reply, 22), reply.length);
            assertEquals(60, reply.length, "a padded ARP frame");

            int[] bases = fe.stop();
            System.out.printf("UPSTREAM GET_VRING_BASE: rx %d, tx %d%n", bases[0], bases[1]);
            assertEquals(2, bases[Wire.TX], "two frames sent");
        } finally {
            passt.destroy();
            passt.waitFor(5, TimeUnit.SECONDS);
            System.out.println("UPSTREAM log:\n" + Files.readString(dir.resolve("passt.log")));
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) Files.deleteIfExists(f); // the socket, passt's repair socket, the log
            }
            Files.deleteIfExists(dir);
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
