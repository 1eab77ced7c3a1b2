package jpasst.testutil;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.guest.Frames;
import jpasst.guest.GuestStack;
import jpasst.guest.StreamSource;
import jpasst.guest.StreamTransport;
import jpasst.guest.TcpExchange;
import jpasst.guest.VhostTransport;
import jpasst.guest.vhost.VhostUserFrontEnd;

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
            TcpExchange x = TcpExchange.run(g, host, down, up, 30_000);
            assertNull(x.problem(down, up));
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
            DatagramPacket d = sendPatternDatagram(g, 40000, host);
            host.send(new DatagramPacket("hello".getBytes(), 5, d.getSocketAddress()));
            assertTrue(g.pollUntil(() -> answers[0] == 1, 5_000), "the host's answer");
            assertEquals(1, g.udpIn);
        }
    }

    /** The guest sends 1000 pattern bytes from {@code srcPort} to {@code host}, which receives them intact. */
    private static DatagramPacket sendPatternDatagram(GuestStack g, int srcPort, DatagramSocket host) throws Exception {
        assertTrue(g.sendUdp(srcPort, host.getLocalPort(), 1000));
        g.poll(0);
        DatagramPacket d = new DatagramPacket(new byte[2000], 2000);
        host.setSoTimeout(5000);
        host.receive(d);
        assertEquals(1000, d.getLength());
        for (int i = 0; i < 1000; i++) assertEquals(StreamSource.patternByte(i), d.getData()[i] & 0xff);
        return d;
    }

    @Test
    void overVhostUserWithChecksumOffloadTcpAndUdpGoWithTheirChecksumsLeftToTheDevice() throws Exception {
        byte[] down = new byte[1 << 20];
        new Random(7).nextBytes(down);
        int up = 1 << 20;
        try (ServerSocket host = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"));
             DatagramSocket udpHost = new DatagramSocket(0, InetAddress.getByName("127.0.0.1"));
             InProcessPasst p = InProcessPasst.vhostUser(c -> { }, null)) {
            VhostTransport link = VhostTransport.connect(p.socket.toString(), VhostTransport.bulkOptions(), 5_000);
            try (GuestStack g = new GuestStack(link)) {
                assertTrue(link.checksumOffload(), "the bulk guest takes the offload jpasst offers");
                assertTrue(g.dhcp(5_000) && g.arpGateway(5_000));
                // a partial checksum is wrong as a whole one: a daemon that checked would drop
                // these segments and the exchange would stall
                TcpExchange x = TcpExchange.run(g, host, down, up, 30_000);
                assertNull(x.problem(down, up));
                sendPatternDatagram(g, 40001, udpHost);
                assertTrue(link.checksumsLeft > up / 65536, link.checksumsLeft + " frames with NEEDS_CSUM");
                assertEquals(0, g.badChecksums);
            }
        }
    }

    @Test
    void overVhostUserWithSegmentationOffloadTcpGoesBothWaysInFramesOfManySegmentsAndAllOfTheData() throws Exception {
        byte[] down = new byte[1 << 20];
        new Random(11).nextBytes(down);
        int mss = 1460;
        try (ServerSocket host = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"));
             InProcessPasst p = InProcessPasst.vhostUser(c -> { }, null)) {
            VhostTransport link = VhostTransport.connect(p.socket.toString(), VhostTransport.bulkOptions(), 5_000);
            try (GuestStack g = new GuestStack(link)) {
                assertTrue(g.dhcp(5_000) && g.arpGateway(5_000));
                TcpExchange x = TcpExchange.run(g, host, down, 1 << 20, mss, 30_000);
                assertNull(x.problem(down, 1 << 20));
                // a megabyte in segments of 1460 bytes: 719 frames without the offload
                assertTrue(link.segmentedFrames > 0 && link.segmentedFrames < 100, link.segmentedFrames + " frames of many segments in");
                assertTrue(link.segmentedFramesOut > 0 && link.segmentedFramesOut < 100, link.segmentedFramesOut + " frames of many segments out");
                assertEquals(0, link.badSegmentedFrames);
                assertTrue(link.largestSegmentedFrame > 60_000, "the largest " + link.largestSegmentedFrame + " bytes");
                assertEquals(0, g.badChecksums);
            }
        }
    }

    /**
     * Linux sends a large TCP frame with its headers in one buffer and its data in pages: the
     * daemon copies the headers and hands the data to the host socket where it lies (not
     * gathered), and all of it arrives, in frames of one segment and of many.
     */
    @Test
    void tcpFramesScatteredAsLinuxSendsThemReachTheHostWithoutBeingGathered() throws Exception {
        for (int mss : new int[] {1460, 65480}) {
            try (ServerSocket host = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"));
                 InProcessPasst p = InProcessPasst.vhostUser(c -> { }, null)) {
                VhostUserFrontEnd.Options o = VhostTransport.bulkOptions();
                o.txLinear = 14 + 20 + 20; // Ethernet, IPv4, TCP
                o.txDescriptors = 18;
                VhostTransport link = VhostTransport.connect(p.socket.toString(), o, 5_000);
                try (GuestStack g = new GuestStack(link)) {
                    assertTrue(g.dhcp(5_000) && g.arpGateway(5_000));
                    long gatheredBefore = p.query(() -> p.vhost().device().framesGathered());
                    byte[] down = new byte[1000];
                    TcpExchange x = TcpExchange.run(g, host, down, 1 << 20, mss, 30_000);
                    assertNull(x.problem(down, 1 << 20), "MSS " + mss);
                    long scattered = p.query(() -> p.vhost().device().framesScattered());
                    long gathered = p.query(() -> p.vhost().device().framesGathered()) - gatheredBefore;
                    assertTrue(scattered > (1 << 20) / 65536 / 2, "MSS " + mss + ": " + scattered + " frames in pieces");
                    assertEquals(0, gathered, "MSS " + mss + ": frames gathered");
                }
            }
        }
    }

    @Test
    void aGuestThatDoesNotTakeSegmentationOffloadSendsAndGetsFramesOfOneSegment() throws Exception {
        byte[] down = new byte[1 << 18];
        new Random(13).nextBytes(down);
        try (ServerSocket host = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"));
             InProcessPasst p = InProcessPasst.vhostUser(c -> { }, null)) {
            VhostUserFrontEnd.Options o = VhostTransport.bulkOptions();
            o.segmentationOffload = false;
            VhostTransport link = VhostTransport.connect(p.socket.toString(), o, 5_000);
            try (GuestStack g = new GuestStack(link)) {
                assertTrue(g.dhcp(5_000) && g.arpGateway(5_000));
                TcpExchange x = TcpExchange.run(g, host, down, 1 << 18, 1460, 30_000);
                assertNull(x.problem(down, 1 << 18));
                assertEquals(0, link.segmentedFrames);
                assertEquals(0, link.segmentedFramesOut);
                assertTrue(link.framesIn > down.length / 1460, link.framesIn + " frames");
            }
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
