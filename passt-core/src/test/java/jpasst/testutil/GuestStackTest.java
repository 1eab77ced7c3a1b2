package jpasst.testutil;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.guest.Frames;
import jpasst.guest.GuestStack;
import jpasst.guest.StreamSource;
import jpasst.guest.StreamTransport;
import jpasst.guest.TcpApp;
import jpasst.guest.TcpConn;

/**
 * The synthetic guest's stack (synthetic-guest's {@link GuestStack}) against the daemon, in
 * process, over the stream socket: what the benchmarks and the load tests build on is checked
 * here against what the daemon's own tests establish (the lease, the router advertisement, the
 * DHCPv6 reply, TCP and UDP to the host's loopback at the gateway's address).
 */
@Timeout(60)
class GuestStackTest {
    static GuestStack guest(InProcessPasst p) throws Exception {
        return new GuestStack(StreamTransport.connect(p.socket.toString(), 5_000));
    }

    @Test
    void dhcpSlaacAndDhcpv6GiveTheGuestTheHostsAddressesAndTheDaemonAsRouter() throws Exception {
        try (InProcessPasst p = new InProcessPasst(InProcessPasst::ipv6); GuestStack g = guest(p)) {
            assertTrue(g.dhcp(5_000), "a DHCP lease");
            assertEquals(InProcessPasst.ADDR, g.address4());
            assertEquals(InProcessPasst.GW, g.gateway4());
            assertEquals(24, g.prefix4());
            assertEquals(65520, g.dhcpMtu(), "MTU 65520 in the lease");
            assertEquals(InProcessPasst.DNS1, g.dns4());
            assertTrue(g.arpGateway(5_000), "the gateway's MAC");
            assertEquals(Frames.OUR_MAC, g.gatewayMac());

            assertTrue(g.slaac(5_000), "a router advertisement with a prefix");
            assertEquals(Frames.hi(InProcessPasst.ADDR6), g.slaac6Hi(), "the host's /64");
            assertEquals(g.linkLocal6Lo(), g.slaac6Lo(), "the guest's own interface identifier");
            assertEquals(Frames.hi(InProcessPasst.OUR_LL6), g.router6Hi());
            assertEquals(Frames.lo(InProcessPasst.OUR_LL6), g.router6Lo(), "the daemon's link-local address routes");
            assertEquals(Frames.OUR_MAC, g.routerMac());
            assertEquals(65520, g.mtu6());

            assertTrue(g.dhcp6(5_000), "a DHCPv6 reply");
            assertEquals(Frames.hi(InProcessPasst.ADDR6), g.dhcp6Hi());
            assertEquals(Frames.lo(InProcessPasst.ADDR6), g.dhcp6Lo(), "the host's address");
            assertEquals(0, g.badChecksums);
        }
    }

    @Test
    void tcpCarriesDataBothWaysIntactAndClosesWithBothFins() throws Exception {
        byte[] down = new byte[3 << 20];
        new Random(5).nextBytes(down);
        int up = 2 << 20;
        try (ServerSocket host = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"));
             InProcessPasst p = new InProcessPasst(); GuestStack g = guest(p)) {
            assertTrue(g.dhcp(5_000) && g.arpGateway(5_000));
            CompletableFuture<byte[]> uploaded = CompletableFuture.supplyAsync(() -> {
                try (Socket s = host.accept(); InputStream in = s.getInputStream()) {
                    s.getOutputStream().write(down);
                    s.shutdownOutput();
                    return in.readAllBytes();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            boolean[] closed = {false, false};
            TcpConn c = g.connect(host.getLocalPort(), 65480, new TcpApp() {
                @Override
                public void data(TcpConn conn, MemorySegment s, long off, int len) {
                    got.write(s.asSlice(off, len).toArray(ValueLayout.JAVA_BYTE), 0, len);
                }

                @Override
                public void closed(TcpConn conn, boolean reset) {
                    closed[0] = true;
                    closed[1] = reset;
                }
            });
            c.write(up);
            c.close();
            assertTrue(g.pollUntil(() -> closed[0], 30_000), "closed: " + c);
            assertEquals(false, closed[1], "both FINs, no reset");
            assertArrayEquals(down, got.toByteArray(), "what the host sent");
            byte[] u = uploaded.get(10, TimeUnit.SECONDS);
            assertEquals(up, u.length);
            for (int i = 0; i < up; i++) {
                if ((u[i] & 0xff) != StreamSource.patternByte(i)) throw new AssertionError("byte " + i + " of the upload");
            }
            assertEquals(0, g.badChecksums, "every checksum the daemon sent verified");
        }
    }

    @Test
    void udpDatagramsGoToTheHostAndItsAnswersComeBack() throws Exception {
        try (DatagramSocket host = new DatagramSocket(0, InetAddress.getByName("127.0.0.1"));
             InProcessPasst p = new InProcessPasst(); GuestStack g = guest(p)) {
            assertTrue(g.dhcp(5_000) && g.arpGateway(5_000));
            int[] answers = {0};
            g.udpApp((sport, dport, s, off, len) -> {
                if (sport == host.getLocalPort() && dport == 40000 && len == 5) answers[0]++;
            });
            assertTrue(g.sendUdp(40000, host.getLocalPort(), 1000));
            g.poll(0);
            DatagramPacket d = new DatagramPacket(new byte[2000], 2000);
            host.setSoTimeout(5000);
            host.receive(d);
            assertEquals(1000, d.getLength());
            for (int i = 0; i < 1000; i++) assertEquals(StreamSource.patternByte(i), d.getData()[i] & 0xff);
            host.send(new DatagramPacket("hello".getBytes(), 5, d.getSocketAddress()));
            assertTrue(g.pollUntil(() -> answers[0] == 1, 5_000), "the host's answer");
            assertEquals(1, g.udpIn);
        }
    }

    /** Ping sockets opened to everyone for the test, as IcmpTest does (root only; restored afterwards). */
    @Test
    void anEchoRequestToTheGatewayIsAnswered() throws Exception {
        Path range = Path.of("/proc/sys/net/ipv4/ping_group_range");
        assumeTrue(Files.isWritable(range) && jpasst.sys.Processes.getuid() == 0, "needs root to set " + range);
        String saved = Files.readString(range).trim().replace('\t', ' ');
        Files.writeString(range, "0 2147483647");
        try (InProcessPasst p = new InProcessPasst(); GuestStack g = guest(p)) {
            assertTrue(g.dhcp(5_000) && g.arpGateway(5_000));
            assertTrue(g.ping4(InProcessPasst.GW, 7, 1, 56));
            assertTrue(g.pollUntil(() -> g.echoRepliesIn == 1, 5_000), "an echo reply");
            assertEquals(1, g.lastEchoSeq);
            assertEquals(0, g.badChecksums);
        } finally {
            Files.writeString(range, saved);
        }
    }
}
