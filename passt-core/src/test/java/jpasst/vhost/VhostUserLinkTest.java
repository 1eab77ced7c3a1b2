package jpasst.vhost;

import static jpasst.guest.Frames.GUEST_MAC;
import static jpasst.guest.Frames.dhcp;
import static jpasst.guest.Frames.dhcpFrame;
import static jpasst.guest.Frames.frame4;
import static jpasst.guest.Frames.i32;
import static jpasst.guest.Frames.opt;
import static jpasst.guest.Frames.u16;
import static jpasst.guest.Frames.u8;
import static jpasst.guest.Frames.udp4;
import static jpasst.testutil.InProcessPasst.ADDR;
import static jpasst.testutil.InProcessPasst.GW;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.conf.Conf;
import jpasst.guest.Frames;
import jpasst.guest.GuestLink;
import jpasst.guest.GuestTcp;
import jpasst.guest.GuestTcp.Conn;
import jpasst.guest.GuestTcp.Seg;
import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.guest.vhost.Wire;
import jpasst.link.Pcap;
import jpasst.testutil.InProcessPasst;

/**
 * The whole daemon over vhost-user ({@link VhostUserLink}) against the front-end of
 * synthetic-guest, in one process over a real UNIX socket and real host sockets: the services
 * answer through the virtqueues, TCP and UDP data cross both ways intact over receive buffers
 * scattered in every way a guest can post them (many small buffers per frame with MRG_RXBUF,
 * buffers crossing memory regions, one large buffer without MRG_RXBUF), the frames to the guest
 * carry DATA_VALID and leave the TCP and UDP checksums out unless a capture runs, a capture holds
 * both ways, a guest out of receive buffers is served again once it posts some, and a front-end
 * that leaves, or truncates its memory under the daemon, is let go and the next one served.
 * Every test checks that no handler of the loop failed.
 */
@Timeout(120)
class VhostUserLinkTest {
    static final int MSS = 65480;

    private final List<AutoCloseable> closers = new ArrayList<>();
    private final List<InProcessPasst> daemons = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        try {
            for (InProcessPasst p : daemons) assertEquals(0, p.passt.loop.failures(), "event loop handler failures");
        } finally {
            for (int i = closers.size() - 1; i >= 0; i--) closers.get(i).close();
        }
    }

    private <T extends AutoCloseable> T closing(T c) {
        closers.add(c);
        return c;
    }

    private InProcessPasst daemon(Consumer<Conf.Builder> tweak, Pcap capture, Consumer<VhostUserFrontEnd.Options> guest)
            throws Exception {
        InProcessPasst p = InProcessPasst.vhostUser(tweak, capture);
        guest.accept(p.frontEndOptions);
        daemons.add(p);
        return closing(p);
    }

    private InProcessPasst daemon() throws Exception {
        return daemon(c -> { }, null, o -> { });
    }

    static String sha256(byte[] b) throws Exception {
        return java.util.HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    static byte[] random(int n, long seed) {
        return VhostUserDeviceTest.frame(n, (int) seed);
    }

    @Test
    void dhcpOfferAndArpReplyComeThroughTheReceiveQueueMarkedDataValid() throws Exception {
        InProcessPasst p = daemon();
        GuestLink g = closing(p.connect());
        g.send(dhcpFrame(dhcp(0x1234, GUEST_MAC, 0, false, opt(53, 1))));
        byte[] offer = g.receive(3000);
        assertNotNull(offer, "no DHCPOFFER");
        assertEquals(ADDR, i32(offer, 14 + 20 + 8 + 16), "offered address");
        assertEquals(Wire.NET_HDR_F_DATA_VALID, g.frontEnd().lastHeaderFlags());
        assertEquals(1, g.frontEnd().lastNumBuffers());

        g.send(Frames.arpRequest(GUEST_MAC, ADDR, GW));
        byte[] arp = g.receive(3000, f -> u16(f, 12) == 0x0806);
        assertNotNull(arp, "no ARP reply");
        assertEquals(60, arp.length, "a 42-byte ARP reply padded to Ethernet's 60 bytes");
        assertEquals(2, u16(arp, 20), "ARP reply");
        assertEquals(GW, i32(arp, 28), "for the gateway");
        assertTrue(Arrays.equals(new byte[18], Arrays.copyOfRange(arp, 42, 60)), "padding of zeros");
    }

    /** The guest downloads {@code n} bytes from a host server and uploads as many; both arrive intact. */
    private void tcpBothWaysIntact(InProcessPasst p, int n, boolean expectChecksums) throws Exception {
        byte[] down = random(n, 1), up = random(n, 2);
        ServerSocket server = closing(new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1")));
        CompletableFuture<byte[]> received = new CompletableFuture<>();
        Thread host = Thread.ofPlatform().daemon().start(() -> {
            try (Socket s = server.accept(); InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                out.write(down);
                out.flush();
                received.complete(in.readNBytes(n));
            } catch (IOException e) {
                received.completeExceptionally(e);
            }
        });
        GuestLink link = closing(p.connect());
        GuestTcp tcp = new GuestTcp(link);
        Conn c = tcp.conn4(41000, server.getLocalPort());
        c.connect(MSS, 7, 3000);
        byte[] got = c.receiveData(n, 30_000);
        assertEquals(sha256(down), sha256(got), "host → guest data");
        c.upload(up, MSS, 30_000);
        assertEquals(sha256(up), sha256(received.get(30, TimeUnit.SECONDS)), "guest → host data");
        host.join(5000);
        assertTrue(tcp.corruptFrames().isEmpty(), tcp.corruptFrames().size() + " frames with bad checksums");
        if (!expectChecksums) {
            assertTrue(link.lastChecksumsVouched(), "frames to the guest marked DATA_VALID");
        }
    }

    @Test
    void tcpBothWaysIntactWhenEveryFrameSpansManySmallReceiveBuffers() throws Exception {
        InProcessPasst p = daemon(c -> { }, null, o -> {
            o.rxBufferSize = 1536; // Linux's size with MRG_RXBUF: a 64 KiB segment takes 43 of them
            o.ringSize = 1024;
            o.memory = 160L << 20; // and as many transmit buffers of 64 KiB
        });
        tcpBothWaysIntact(p, 8 << 20, false);
        VhostUserDevice d = p.vhost().device();
        assertTrue(d.framesOut() > 100, "frames to the guest: " + d.framesOut());
    }

    @Test
    void tcpBothWaysIntactOverBuffersThatCrossMemoryRegions() throws Exception {
        InProcessPasst p = daemon(c -> { }, null, o -> {
            o.regions = 4;
            o.buffersCrossRegions = true;
            o.rxBufferSize = 3000; // odd sizes: payload pieces start at odd offsets of the data
            o.ringSize = 512;
        });
        tcpBothWaysIntact(p, 4 << 20, false);
    }

    @Test
    void tcpBothWaysIntactWithoutMergeableBuffers() throws Exception {
        InProcessPasst p = daemon(c -> { }, null, o -> {
            o.mergeable = false;
            o.rxBufferSize = 12 + 14 + 65535; // one buffer holds a whole frame, as Linux posts them then
            o.ringSize = 64;
            o.memory = 16L << 20;
        });
        tcpBothWaysIntact(p, 4 << 20, false);
    }

    @Test
    void aGuestWithFewReceiveBuffersGetsTheWholeStreamAsItPostsThemAgain() throws Exception {
        InProcessPasst p = daemon(c -> { }, null, o -> {
            o.ringSize = 64; // 96 KiB of buffers: the daemon runs out again and again
            o.rxBufferSize = 1536;
        });
        tcpBothWaysIntact(p, 2 << 20, false);
    }

    @Test
    void largeDatagramsCrossBothWaysIntact() throws Exception {
        InProcessPasst p = daemon(c -> { }, null, o -> o.ringSize = 512);
        DatagramSocket echo = udpEcho("127.0.0.1");
        GuestLink g = closing(p.connect());
        for (int size : new int[] {1, 1472, 30_001, 65_000}) {
            byte[] payload = random(size, size);
            g.send(frame4(udp4(ADDR, 40_100, GW, echo.getLocalPort(), payload)));
            byte[] back = g.receive(5000, f -> f.length >= 42 && u16(f, 12) == 0x0800 && u8(f, 23) == 17
                    && u16(f, 34) == echo.getLocalPort());
            assertNotNull(back, "no echo of " + size + " bytes");
            assertEquals(8 + size, u16(back, 38), "UDP length");
            assertArrayEquals(payload, Arrays.copyOfRange(back, 42, 42 + size), size + " bytes intact");
            assertTrue(g.lastChecksumsVouched());
        }
    }

    /**
     * A guest that takes VIRTIO_NET_F_CSUM (Linux does when it is offered) leaves its transport
     * checksums to the device: a datagram sent with NEEDS_CSUM, its checksum field not the
     * checksum (Linux leaves the pseudo-header's sum there), reaches the host peer, and a TCP
     * upload made so arrives whole; the same datagram without the flag is dropped for its checksum.
     */
    @Test
    void checksumsLeftToTheDeviceAreNotCheckedAndTheDataArrivesAndTheCaptureHasThem() throws Exception {
        Path dir = Files.createTempDirectory("jpasst-vu-csum");
        Path file = dir.resolve("c.pcap");
        Pcap capture = Pcap.open(file.toString());
        InProcessPasst p = daemon(c -> { }, capture, o -> o.checksumOffload = true);
        DatagramSocket echo = udpEcho("127.0.0.1");
        GuestLink g = closing(p.connect());
        assertTrue((g.frontEnd().ackedFeatures() & 1L << Wire.F_CSUM) != 0, "VIRTIO_NET_F_CSUM offered and taken");
        byte[] payload = random(3000, 5);
        byte[] f = frame4(udp4(ADDR, 40_200, GW, echo.getLocalPort(), payload));
        int udp = 14 + 20;
        f[udp + 6] ^= 0x5a; // (not the checksum any more)
        g.frontEnd().sendLeavingChecksum(f, udp, 6);
        byte[] back = g.receive(5000, b -> b.length >= 42 && u16(b, 12) == 0x0800 && u8(b, 23) == 17
                && u16(b, 34) == echo.getLocalPort());
        assertNotNull(back, "the datagram left with NEEDS_CSUM did not reach the host peer");
        assertArrayEquals(payload, Arrays.copyOfRange(back, 42, 42 + payload.length));

        long dropped = p.query(() -> p.passt.udp.dropped());
        g.send(f);
        p.sync();
        assertEquals(dropped + 1, p.query(() -> p.passt.udp.dropped()), "without NEEDS_CSUM, a bad checksum drops it");

        byte[] up = random(20 * 1460, 6); // (within the window the daemon offers at once)
        ServerSocket server = closing(new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1")));
        CompletableFuture<byte[]> received = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (Socket s = server.accept(); InputStream in = s.getInputStream()) {
                received.complete(in.readAllBytes());
            } catch (IOException e) {
                received.completeExceptionally(e);
            }
        });
        GuestTcp tcp = new GuestTcp(g);
        Conn c = tcp.conn4(40_300, server.getLocalPort());
        assertNotNull(c.connect(1460, 7, 5000), "no SYN-ACK");
        for (int off = 0; off < up.length; off += 1460) {
            byte[] seg = c.frame(c.sndNxt, c.rcvNxt, GuestTcp.ACK | GuestTcp.PSH, 65535, new byte[0],
                    Arrays.copyOfRange(up, off, Math.min(up.length, off + 1460)));
            seg[14 + 20 + 16] ^= 0x5a;
            g.frontEnd().sendLeavingChecksum(seg, 14 + 20, 16);
            c.sndNxt += Math.min(1460, up.length - off);
        }
        c.fin();
        assertArrayEquals(up, received.get(10, TimeUnit.SECONDS), "the upload arrived whole");
        assertEquals(0L, (long) p.query(() -> p.passt.tcp.badChecksums()));

        closers.remove(p);
        p.close(); // the loop has stopped: nothing writes to the capture any more
        daemons.remove(p);
        capture.close();
        int guestData = 0;
        for (byte[] r : records(file)) {
            GuestTcp.Seg seg = GuestTcp.parse(r);
            if (seg != null && Frames.mac(r, 6) == GUEST_MAC && seg.len() > 0) {
                assertTrue(seg.checksumOk(), "the capture completes a checksum left to the device: " + seg);
                guestData++;
            }
        }
        assertEquals(20, guestData, "the upload's segments in the capture");
        Files.delete(file);
        Files.delete(dir);
    }

    /**
     * An ACK the daemon owes the guest while the guest's receive queue is full is not lost: it
     * goes once the guest posts buffers again (a lost window update would leave the guest
     * waiting for its zero-window probe). The guest sends data in separate batches without
     * taking what comes back, so that the daemon's ACKs fill its four receive buffers.
     */
    @Test
    void anAckWithNoReceiveBufferToGoToGoesWhenTheGuestPostsSome() throws Exception {
        InProcessPasst p = daemon(c -> { }, null, o -> o.ringSize = 4);
        ServerSocket server = closing(new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1")));
        CompletableFuture<byte[]> received = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (Socket s = server.accept(); InputStream in = s.getInputStream()) {
                received.complete(in.readNBytes(20 * 100));
                in.read(); // open (no FIN to the guest) until the daemon goes
            } catch (IOException e) {
                received.completeExceptionally(e);
            }
        });
        GuestLink g = closing(p.connect());
        Conn c = new GuestTcp(g).conn4(40_400, server.getLocalPort());
        assertNotNull(c.connect(1460, 7, 5000), "no SYN-ACK");
        for (int i = 0; i < 20; i++) {
            c.sendData(random(100, i));
            p.sync(); // a batch each, and an ACK each, into buffers the guest does not take back
        }
        assertEquals(20 * 100, received.get(10, TimeUnit.SECONDS).length);
        Seg last = null;
        for (Seg s; (s = c.receiveNow()) != null; ) last = s; // what found buffers; taking it posts them again
        p.sync(); // the daemon has seen the buffers come back
        for (Seg s; (s = c.receiveNow()) != null; ) last = s;
        assertNotNull(last);
        assertEquals(c.sndNxt, last.ack(), "the ACK of all the data, owed while the buffers were out");
    }

    /** A UDP echo server on {@code address}, closed after the test. */
    private DatagramSocket udpEcho(String address) throws IOException {
        DatagramSocket echo = closing(new DatagramSocket(new InetSocketAddress(address, 0)));
        Thread.ofPlatform().daemon().start(() -> {
            byte[] buf = new byte[65536];
            while (!echo.isClosed()) {
                DatagramPacket d = new DatagramPacket(buf, buf.length);
                try {
                    echo.receive(d);
                    echo.send(new DatagramPacket(buf, d.getLength(), d.getSocketAddress()));
                } catch (IOException e) {
                    return;
                }
            }
        });
        return echo;
    }

    /**
     * Datagrams over IPv6, one guest buffer to several: without a capture the UDP checksum is not
     * computed (DATA_VALID), but over IPv6 it may not be 0 (Linux drops such a datagram whatever
     * the flag says): 0xffff, as passt.
     */
    @Test
    void datagramsOverIpv6ReachAGuestWithSmallReceiveBuffersWithANonZeroChecksum() throws Exception {
        InProcessPasst p = daemon(c -> {
            InProcessPasst.ipv6(c);
            c.noNdp = c.noRa = c.noDhcpv6 = true;
        }, null, o -> o.rxBufferSize = 1536);
        DatagramSocket echo;
        try {
            echo = udpEcho("::1");
        } catch (IOException e) {
            org.junit.jupiter.api.Assumptions.abort("no IPv6 loopback: " + e);
            return;
        }
        GuestLink g = closing(p.connect());
        for (int size : new int[] {8, 1452, 20_000}) {
            byte[] payload = random(size, size);
            g.send(Frames.frame6(Frames.udp6(InProcessPasst.ADDR6, 40_200, InProcessPasst.GW6, echo.getLocalPort(), payload)));
            byte[] back = g.receive(5000, f -> f.length >= 62 && u16(f, 12) == 0x86dd && u8(f, 20) == 17
                    && u16(f, 54) == echo.getLocalPort());
            assertNotNull(back, "no echo of " + size + " bytes");
            assertArrayEquals(payload, Arrays.copyOfRange(back, 62, 62 + size), size + " bytes intact");
            assertTrue(g.lastChecksumsVouched(), "marked DATA_VALID");
            assertEquals(0xffff, u16(back, 60), "UDP/IPv6 checksum field");
        }
    }

    @Test
    void aBurstOfDatagramsBeyondTheGuestsBuffersWaitsInTheSocketAndAllArrive() throws Exception {
        int hostPort;
        try (DatagramSocket probe = new DatagramSocket(0)) {
            hostPort = probe.getLocalPort();
        }
        InProcessPasst p = daemon(c -> c.udpSpecs.add(hostPort + ":5000"), null, o -> o.ringSize = 16);
        GuestLink g = closing(p.connect());
        g.send(frame4(udp4(ADDR, 68, Frames.ip("192.0.2.255"), 9, new byte[1]))); // the daemon learns the guest's MAC
        DatagramSocket sender = closing(new DatagramSocket());
        int count = 200;
        for (int i = 0; i < count; i++) {
            byte[] d = ("datagram " + i).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            sender.send(new DatagramPacket(d, d.length, new InetSocketAddress("127.0.0.1", hostPort)));
        }
        // sixteen receive buffers for two hundred datagrams: the rest wait, and come as the guest posts buffers again
        java.util.Set<String> got = new java.util.HashSet<>();
        for (long deadline = System.nanoTime() + 10_000_000_000L; got.size() < count && System.nanoTime() < deadline; ) {
            byte[] f = g.receive(1000, x -> x.length >= 42 && u16(x, 12) == 0x0800 && u8(x, 23) == 17 && u16(x, 36) == 5000);
            if (f != null) got.add(new String(f, 42, u16(f, 38) - 8, java.nio.charset.StandardCharsets.US_ASCII));
        }
        assertEquals(count, got.size(), "datagrams that reached the guest");
        assertEquals(0, p.passt.udp.dropped(), "none read and dropped for want of buffers");
    }

    @Test
    void aCaptureRecordsBothWaysAndTheFramesCarryTheirChecksums(/* as a reader of the capture checks them */)
            throws Exception {
        Path dir = Files.createTempDirectory("jpasst-vu-pcap");
        Path file = dir.resolve("c.pcap");
        Pcap capture = Pcap.open(file.toString());
        InProcessPasst p = daemon(c -> { }, capture, o -> o.rxBufferSize = 1536);
        assertTrue(p.passt.link.checksumsNeeded());
        tcpBothWaysIntact(p, 1 << 20, true);
        closers.remove(p);
        p.close(); // the loop has stopped: nothing writes to the capture any more
        assertEquals(0, p.passt.loop.failures());
        daemons.remove(p);
        capture.close();
        // records: the guest's SYN (from its MAC) and data frames to it whose TCP checksums are right
        int records = 0, fromGuest = 0, toGuestData = 0;
        for (byte[] f : records(file)) {
            records++;
            if (Frames.mac(f, 6) == GUEST_MAC) fromGuest++;
            GuestTcp.Seg s = GuestTcp.parse(f);
            if (s != null && Frames.mac(f, 0) == GUEST_MAC && s.len() > 0) {
                assertTrue(s.checksumOk(), "a data frame to the guest as captured: " + s);
                toGuestData++;
            }
        }
        assertTrue(fromGuest > 10 && toGuestData > 10, records + " records, " + fromGuest + " from the guest, "
                + toGuestData + " data frames to it");
        Files.delete(file);
        Files.delete(dir);
    }

    /** The frames of a capture file, record by record. */
    static List<byte[]> records(Path file) throws IOException {
        byte[] pcap = Files.readAllBytes(file);
        List<byte[]> frames = new ArrayList<>();
        for (int at = 24; at + 16 <= pcap.length; ) {
            int caplen = Integer.reverseBytes(java.nio.ByteBuffer.wrap(pcap, at + 8, 4).getInt());
            frames.add(Arrays.copyOfRange(pcap, at + 16, at + 16 + caplen));
            at += 16 + caplen;
        }
        return frames;
    }

    @Test
    void whenTheFrontEndLeavesItsFlowsGoAndTheNextOneIsServed() throws Exception {
        InProcessPasst p = daemon();
        ServerSocket server = closing(new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1")));
        GuestLink first = p.connect();
        Conn c = new GuestTcp(first).conn4(41_001, server.getLocalPort());
        c.connect(MSS, 7, 3000);
        Socket s = closing(server.accept());
        first.close(); // QEMU killed
        s.setSoTimeout(5000);
        try {
            assertEquals(-1, s.getInputStream().read(), "the host side of the dead guest's connection is closed");
        } catch (java.net.SocketException reset) {
            // closed with a reset, as passt does
        }
        assertTrue(p.await(() -> !p.passt.link.connected(), 5000));
        GuestLink next = closing(p.connect());
        next.send(dhcpFrame(dhcp(0x99, GUEST_MAC, 0, false, opt(53, 1))));
        assertNotNull(next.receive(3000), "the next front-end gets its DHCPOFFER");
    }

    @Test
    void withOneOffTheDaemonStopsWhenTheFrontEndLeaves() throws Exception {
        InProcessPasst p = daemon(c -> c.oneOff = true, null, o -> { });
        GuestLink g = p.connect();
        g.send(dhcpFrame(dhcp(0x77, GUEST_MAC, 0, false, opt(53, 1))));
        assertNotNull(g.receive(3000));
        g.close();
        assertTrue(p.awaitStop(5000), "the loop still runs after the one front-end left");
    }

    @Test
    void aFrontEndThatTruncatesItsMemoryWhileDataFlowsIsResetAndTheNextOneIsServed() throws Exception {
        InProcessPasst p = daemon(c -> { }, null, o -> o.rxBufferSize = 1536);
        ServerSocket server = closing(new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1")));
        GuestLink link = p.connect();
        Conn c = new GuestTcp(link).conn4(41_002, server.getLocalPort());
        c.connect(MSS, 7, 3000);
        Socket s = closing(server.accept());
        Thread writer = Thread.ofPlatform().daemon().start(() -> {
            byte[] chunk = new byte[1 << 16];
            try (OutputStream out = s.getOutputStream()) {
                while (true) out.write(chunk);
            } catch (IOException gone) {
                // the connection is closed once the front-end is reset
            }
        });
        c.receiveData(1 << 20, 10_000); // data flows: the daemon writes into the guest's buffers
        link.frontEnd().ram().shrinkFile(0); // and now they are gone
        link.frontEnd().kickRaw(Wire.RX); // (the daemon looks at its rings again, or writes on, and faults)
        assertTrue(link.closedByPeer(10_000), "the front-end was not reset");
        writer.join(10_000);
        assertFalse(writer.isAlive(), "the dead guest's host connection stays open");
        link.close();
        GuestLink next = closing(p.connect());
        next.send(dhcpFrame(dhcp(0x55, GUEST_MAC, 0, false, opt(53, 1))));
        assertNotNull(next.receive(3000), "the next front-end is served");
        assertEquals(0, p.passt.loop.failures());
    }
}
