package jpasst.flow;

import static jpasst.guest.Frames.GUEST_MAC;
import static jpasst.guest.Frames.OUR_MAC;
import static jpasst.guest.Frames.frame4;
import static jpasst.guest.Frames.frame6;
import static jpasst.guest.Frames.i32;
import static jpasst.guest.Frames.ip;
import static jpasst.guest.Frames.mac;
import static jpasst.guest.Frames.u16;
import static jpasst.guest.Frames.u8;
import static jpasst.guest.Frames.udp4;
import static jpasst.testutil.InProcessPasst.ADDR;
import static jpasst.testutil.InProcessPasst.GW;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.abort;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import jpasst.conf.ConfException;
import jpasst.guest.Frames;
import jpasst.guest.GuestLink;
import jpasst.sys.Sockets;
import jpasst.tap.StreamLink;
import jpasst.testutil.InProcessPasst;

/**
 * UDP flows on the wire: a fake guest over the real UNIX socket, real host UDP sockets on
 * loopback (the gateway 192.0.2.1 stands for the host, so 127.0.0.1 services answer there).
 */
class UdpTest {
    private final List<AutoCloseable> closers = new CopyOnWriteArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : closers.reversed()) c.close();
    }

    private <T extends AutoCloseable> T closing(T c) {
        closers.add(c);
        return c;
    }

    /** A UDP echo server on {@code addr}, port {@code port} (0: any); records who sent what. */
    static final class Echo implements AutoCloseable {
        final DatagramSocket socket;
        final List<InetSocketAddress> senders = new CopyOnWriteArrayList<>();
        final Thread thread;

        Echo(String addr, int port) throws IOException {
            socket = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(addr), port));
            thread = new Thread(this::serve, "udp-echo");
            thread.setDaemon(true);
            thread.start();
        }

        int port() {
            return socket.getLocalPort();
        }

        private void serve() {
            byte[] buf = new byte[65536];
            while (!socket.isClosed()) {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                try {
                    socket.receive(p);
                    senders.add((InetSocketAddress) p.getSocketAddress());
                    socket.send(new DatagramPacket(buf, p.getLength(), p.getSocketAddress()));
                } catch (IOException e) {
                    return;
                }
            }
        }

        @Override
        public void close() {
            socket.close();
        }
    }

    /** An echo server on {@code addr}:{@code port}; the test is skipped, {@code why}, if it cannot be bound. */
    private Echo echoOrSkip(String addr, int port, String why) {
        try {
            return closing(new Echo(addr, port));
        } catch (IOException e) {
            return abort(why + ": " + e);
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** A UDP-over-IPv4 frame to the guest whose UDP source port is {@code sport}. */
    private static boolean isUdp4From(byte[] f, int sport) {
        return f.length >= 42 && u16(f, 12) == 0x0800 && u8(f, 23) == 17 && u16(f, 34) == sport;
    }

    private static int udp4Checksum(byte[] f) {
        int ulen = u16(f, 38);
        return Frames.checksum(f, 34, ulen, Frames.pseudo4(i32(f, 26), i32(f, 30), 17, ulen));
    }

    private static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    /** UDP sockets of this process (not of another test run on the machine) bound to ports {@code lo} to {@code hi}. */
    static long udpSocketsOnPorts(int lo, int hi) throws IOException {
        return udpSocketDescriptors(lo, hi).size();
    }

    /** The descriptor of this process's UDP socket bound to {@code port}, or -1. */
    static int udpSocketOnPort(int port) throws IOException {
        List<Integer> fds = udpSocketDescriptors(port, port);
        return fds.isEmpty() ? -1 : fds.get(0);
    }

    /** Descriptors of this process's UDP sockets bound to ports {@code lo} to {@code hi}, per /proc/net/udp{,6}. */
    private static List<Integer> udpSocketDescriptors(int lo, int hi) throws IOException {
        java.util.Map<String, Integer> fdOfInode = new java.util.HashMap<>();
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String link = Files.readSymbolicLink(fd).toString();
                    if (link.startsWith("socket:[")) {
                        fdOfInode.put(link.substring(8, link.length() - 1), Integer.parseInt(fd.getFileName().toString()));
                    }
                } catch (IOException gone) {
                    // closed meanwhile
                }
            }
        }
        List<Integer> found = new java.util.ArrayList<>();
        for (String table : new String[] {"/proc/net/udp", "/proc/net/udp6"}) {
            List<String> lines = Files.readAllLines(Path.of(table));
            for (String line : lines.subList(1, lines.size())) {
                String[] w = line.trim().split("\\s+");
                String local = w[1];
                int port = Integer.parseInt(local.substring(local.indexOf(':') + 1), 16);
                if (port >= lo && port <= hi && fdOfInode.containsKey(w[9])) found.add(fdOfInode.get(w[9]));
            }
        }
        return found;
    }

    private static int freeUdpPort() throws SocketException {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            return s.getLocalPort();
        }
    }

    @Test
    void echoViaGatewayReachesHostLoopbackAndReplyComesBackFromGatewayWithCorrectChecksums() throws Exception {
        Echo echo = closing(new Echo("127.0.0.1", 0));
        InProcessPasst p = closing(new InProcessPasst());
        GuestLink g = closing(p.connect());
        g.send(frame4(udp4(ADDR, 40001, GW, echo.port(), bytes("hello, host"))));
        byte[] f = g.receive(3000, x -> isUdp4From(x, echo.port()));
        assertNotNull(f, "no reply frame");
        assertEquals(GUEST_MAC, mac(f, 0), "to the guest's MAC");
        assertEquals(OUR_MAC, mac(f, 6), "from passt's MAC");
        assertEquals(0, Frames.checksum(f, 14, 20, 0), "IPv4 header checksum");
        assertEquals(GW, i32(f, 26), "from the gateway (the host's loopback)");
        assertEquals(ADDR, i32(f, 30), "to the guest");
        assertEquals(echo.port(), u16(f, 34));
        assertEquals(40001, u16(f, 36));
        assertEquals(8 + 11, u16(f, 38));
        assertEquals(0, udp4Checksum(f), "UDP checksum");
        assertEquals("hello, host", new String(f, 42, 11, StandardCharsets.US_ASCII));
        assertEquals(20 + 8 + 11, u16(f, 16), "IPv4 total length");
        // passt keeps the guest's source port on the host when it is free
        assertEquals(new InetSocketAddress("127.0.0.1", 40001), echo.senders.getFirst());
        assertEquals(0, p.query(() -> p.passt.loop.failures()));
    }

    @Test
    void oneFlowPerFourTupleAndANewOneForAnotherSourcePort() throws Exception {
        Echo echo = closing(new Echo("127.0.0.1", 0));
        InProcessPasst p = closing(new InProcessPasst());
        GuestLink g = closing(p.connect());
        for (int i = 0; i < 3; i++) {
            g.send(frame4(udp4(ADDR, 40010, GW, echo.port(), bytes("same " + i))));
            assertNotNull(g.receive(3000, x -> isUdp4From(x, echo.port())));
        }
        assertEquals(1, p.query(() -> p.passt.udp.active()), "three datagrams, one 4-tuple, one flow");
        assertEquals(1, p.query(() -> p.passt.udp.opened()));
        g.send(frame4(udp4(ADDR, 40011, GW, echo.port(), bytes("other"))));
        byte[] f = g.receive(3000, x -> isUdp4From(x, echo.port()));
        assertNotNull(f);
        assertEquals(40011, u16(f, 36), "the reply goes to the port that asked");
        assertEquals(2, p.query(() -> p.passt.udp.active()));
        assertEquals(3 + 1, echo.senders.size());
        assertEquals(1, echo.senders.stream().filter(a -> a.getPort() == 40011).count());
    }

    @Test
    void aFlowsSocketTakesTheLargestReceiveBufferTheSystemAllows() throws Exception {
        Echo echo = closing(new Echo("127.0.0.1", 0));
        InProcessPasst p = closing(new InProcessPasst());
        GuestLink g = closing(p.connect());
        g.send(frame4(udp4(ADDR, 40025, GW, echo.port(), bytes("ping"))));
        assertNotNull(g.receive(3000, x -> isUdp4From(x, echo.port())));
        int fd = udpSocketOnPort(40025);
        assertTrue(fd >= 0, "the flow's socket, on the guest's port");
        assertEquals(largestReceiveBuffer(), receiveBuffer(fd), "SO_RCVBUF of the flow's socket");
    }

    @Test
    void aForwardedPortsSocketTakesTheLargestReceiveBufferOnceItCarriesTraffic() throws Exception {
        int hostPort = freeUdpPort();
        InProcessPasst p = closing(new InProcessPasst(c -> c.udpSpecs.add(hostPort + ":5353")));
        GuestLink g = closing(p.connect());
        int fd = udpSocketOnPort(hostPort);
        assertTrue(fd >= 0, "the forwarded port's socket");
        assertTrue(receiveBuffer(fd) < largestReceiveBuffer(), "a port that carried nothing keeps the default");
        DatagramSocket host = closing(new DatagramSocket(new InetSocketAddress("127.0.0.1", 0)));
        host.send(new DatagramPacket(bytes("to guest"), 8, new InetSocketAddress("127.0.0.1", hostPort)));
        assertNotNull(g.receive(3000, x -> isUdp4From(x, host.getLocalPort())), "datagram not delivered to the guest");
        assertEquals(largestReceiveBuffer(), receiveBuffer(fd), "SO_RCVBUF of the forwarded port's socket");
    }

    /** What the kernel grants Udp's request: up to net.core.rmem_max, doubled for its own overhead. */
    private static long largestReceiveBuffer() throws IOException {
        // (read by lines: Files.readString gets only the first byte of a sysctl file)
        long rmemMax = Long.parseLong(Files.readAllLines(Path.of("/proc/sys/net/core/rmem_max")).get(0).trim());
        return 2 * Math.min(Udp.RECEIVE_BUFFER, rmemMax);
    }

    private static int receiveBuffer(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(4, 4), length = a.allocate(4, 4);
            length.set(ValueLayout.JAVA_INT, 0, 4);
            assertEquals(0, Sockets.getsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_RCVBUF, value, length));
            return value.get(ValueLayout.JAVA_INT, 0);
        }
    }

    @Test
    void idleFlowsExpireAndTheirSocketsAreClosed() throws Exception {
        Echo echo = closing(new Echo("127.0.0.1", 0));
        InProcessPasst p = closing(new InProcessPasst(c -> c.udpTimeoutSeconds = 1));
        GuestLink g = closing(p.connect());
        long before = openFds();
        g.send(frame4(udp4(ADDR, 40020, GW, echo.port(), bytes("ping"))));
        assertNotNull(g.receive(3000, x -> isUdp4From(x, echo.port())));
        assertEquals(1, p.query(() -> p.passt.udp.active()));
        assertEquals(1, udpSocketsOnPorts(40020, 40020), "one socket for the flow, on the guest's port");
        assertTrue(p.await(() -> p.passt.udp.active() == 0, 4000), "flow still open after its timeout");
        assertEquals(0, udpSocketsOnPorts(40020, 40020), "the flow's socket is closed");
        assertTrue(openFds() <= before + 2, "descriptors: " + before + " before, " + openFds() + " after");
        assertEquals(1, p.query(() -> p.passt.udp.expired()));
        // a new datagram on the same 4-tuple opens a new flow
        g.send(frame4(udp4(ADDR, 40020, GW, echo.port(), bytes("again"))));
        assertNotNull(g.receive(3000, x -> isUdp4From(x, echo.port())));
        assertEquals(1, p.query(() -> p.passt.udp.active()));
    }

    @Test
    void thousandSourcePortsLeaveNoSocketsOpenAfterTheTimeout() throws Exception {
        Echo echo = closing(new Echo("127.0.0.1", 0));
        InProcessPasst p = closing(new InProcessPasst(c -> c.udpTimeoutSeconds = 4));
        GuestLink g = closing(p.connect());
        long before = openFds();
        // UDP may lose a datagram on a loaded host (the echo server's receive buffer): a flow
        // whose echo did not come back is asked again, up to three rounds, paced in batches
        java.util.BitSet answered = new java.util.BitSet(1000);
        for (int round = 0; round < 3 && answered.cardinality() < 1000; round++) {
            for (int from = 0; from < 1000; from += 100) {
                int sent = 0;
                for (int i = from; i < from + 100; i++) {
                    if (answered.get(i)) continue;
                    g.send(frame4(udp4(ADDR, 20000 + i, GW, echo.port(), bytes("n" + i))));
                    sent++;
                }
                for (int r = 0; r < sent; r++) {
                    byte[] f = g.receive(1000, x -> isUdp4From(x, echo.port()));
                    if (f == null) break;
                    int to = ((f[36] & 0xff) << 8 | (f[37] & 0xff)) - 20000;
                    if (to >= 0 && to < 1000) answered.set(to);
                }
            }
        }
        assertEquals(1000, answered.cardinality(), "every flow got its echo");
        assertEquals(1000, p.query(() -> p.passt.udp.active()));
        assertTrue(openFds() >= before + 1000, "a socket per flow");
        assertEquals(1000, udpSocketsOnPorts(20000, 20999), "a socket per flow, on the guest's ports");
        assertTrue(p.await(() -> p.passt.udp.active() == 0, 10000), "flows left after their timeout");
        assertEquals(0, udpSocketsOnPorts(20000, 20999), "all 1000 sockets closed");
        // (a descriptor or two may come and go in the JVM meanwhile)
        assertTrue(openFds() <= before + 2, "descriptors: " + before + " before, " + openFds() + " after");
        assertEquals(1000, p.query(() -> p.passt.udp.expired()));
        assertEquals(0, p.query(() -> p.passt.loop.failures()));
    }

    @Test
    void largestDatagramsCrossBothWays() throws Exception {
        Echo echo = closing(new Echo("127.0.0.1", 0));
        InProcessPasst p = closing(new InProcessPasst());
        GuestLink g = closing(p.connect());
        byte[] payload = new byte[65000]; // a guest frame is at most 65535 bytes
        for (int i = 0; i < payload.length; i++) payload[i] = (byte) (i * 7);
        g.send(frame4(udp4(ADDR, 40030, GW, echo.port(), payload)));
        byte[] f = g.receive(3000, x -> isUdp4From(x, echo.port()));
        assertNotNull(f);
        assertEquals(8 + 65000, u16(f, 38));
        assertArrayEquals(payload, Arrays.copyOfRange(f, 42, f.length));
        assertEquals(0, udp4Checksum(f));

        // host → guest: 65507 bytes, the most IPv4 can carry, through a -u port
        int hostPort = freeUdpPort();
        InProcessPasst q = closing(new InProcessPasst(c -> c.udpSpecs.add(hostPort + ":5000")));
        GuestLink h = closing(q.connect());
        h.send(frame4(udp4(ADDR, 68, ip("192.0.2.255"), 9, new byte[1]))); // let it learn the MAC
        DatagramSocket sender = closing(new DatagramSocket());
        byte[] big = new byte[65507];
        Arrays.fill(big, (byte) 0x5a);
        sender.send(new DatagramPacket(big, big.length, new InetSocketAddress("127.0.0.1", hostPort)));
        byte[] in = h.receive(3000, x -> isUdp4From(x, sender.getLocalPort()));
        assertNotNull(in, "no 65507-byte datagram in the guest");
        assertEquals(65535, u16(in, 16), "IPv4 total length");
        assertEquals(65507, in.length - 42);
        assertEquals(0, udp4Checksum(in));
    }

    @Test
    void forwardedPortDeliversIntoGuestAndRepliesReturnToTheSender() throws Exception {
        int hostPort = freeUdpPort();
        InProcessPasst p = closing(new InProcessPasst(c -> c.udpSpecs.add(hostPort + ":5353")));
        assertTrue(p.query(() -> p.passt.udp.listeningPorts()).contains(hostPort));
        GuestLink g = closing(p.connect());
        DatagramSocket host = closing(new DatagramSocket(new InetSocketAddress("127.0.0.1", 0)));
        host.setSoTimeout(3000);
        host.send(new DatagramPacket(bytes("to guest"), 8, new InetSocketAddress("127.0.0.1", hostPort)));
        byte[] f = g.receive(3000, x -> isUdp4From(x, host.getLocalPort()));
        assertNotNull(f, "datagram not delivered to the guest");
        assertEquals(GW, i32(f, 26), "a loopback sender appears as the gateway");
        assertEquals(ADDR, i32(f, 30));
        assertEquals(5353, u16(f, 36), "to the target port of the spec");
        assertEquals(0, udp4Checksum(f));
        assertEquals("to guest", new String(f, 42, 8, StandardCharsets.US_ASCII));

        g.send(frame4(udp4(ADDR, 5353, GW, host.getLocalPort(), bytes("reply"))));
        DatagramPacket r = new DatagramPacket(new byte[100], 100);
        host.receive(r);
        assertEquals("reply", new String(r.getData(), 0, r.getLength(), StandardCharsets.US_ASCII));
        assertEquals(hostPort, r.getPort(), "the reply comes from the forwarded port");
        assertEquals(1, p.query(() -> p.passt.udp.active()), "one inbound flow, no socket of its own");
    }

    /**
     * With both address families on, a forwarded port on any address is one dual-stack socket,
     * as passt binds it: an IPv4 sender (::ffff:127.0.0.1 on that socket) reaches the guest in
     * an IPv4 frame, an IPv6 one in an IPv6 frame, each from the gateway's address of its
     * family, and the guest's replies go back to each out of the one socket.
     */
    @Test
    void aForwardedPortWithBothFamiliesIsOneSocketThatTakesIpv4AndIpv6Senders() throws Exception {
        int hostPort = freeUdpPort();
        InProcessPasst p = closing(new InProcessPasst(c -> {
            InProcessPasst.ipv6(c);
            c.noNdp = c.noRa = c.noDhcpv6 = true;
            c.udpSpecs.add(hostPort + ":5353");
        }));
        assertEquals(List.of(hostPort), p.query(() -> p.passt.udp.listeningPorts()), "one socket for the port");
        GuestLink g = closing(p.connect());
        byte[] guest6 = InProcessPasst.ADDR6, gw6 = InProcessPasst.GW6;
        for (String host : new String[] {"127.0.0.1", "::1", "127.0.0.1"}) {
            boolean v6 = host.contains(":");
            DatagramSocket peer = closing(new DatagramSocket(new InetSocketAddress(host, 0)));
            peer.setSoTimeout(3000);
            peer.send(new DatagramPacket(bytes(host), host.length(), new InetSocketAddress(host, hostPort)));
            byte[] f;
            if (v6) {
                f = g.receive(3000, x -> x.length >= 62 && u16(x, 12) == 0x86dd && u8(x, 20) == 17
                        && u16(x, 54) == peer.getLocalPort());
                assertNotNull(f, "datagram from " + host + " not delivered to the guest");
                assertArrayEquals(gw6, Arrays.copyOfRange(f, 22, 38), "a loopback sender appears as the gateway");
                assertArrayEquals(guest6, Arrays.copyOfRange(f, 38, 54));
                assertEquals(5353, u16(f, 56));
                int ulen = u16(f, 58);
                assertEquals(0, Frames.checksum(f, 54, ulen, Frames.pseudo6(gw6, guest6, 17, ulen)), "UDP checksum");
                assertEquals(host, new String(f, 62, host.length(), StandardCharsets.US_ASCII));
                g.send(frame6(Frames.udp6(guest6, 5353, gw6, peer.getLocalPort(), bytes("reply6"))));
            } else {
                f = g.receive(3000, x -> isUdp4From(x, peer.getLocalPort()));
                assertNotNull(f, "datagram from " + host + " not delivered to the guest");
                assertEquals(GW, i32(f, 26), "a loopback sender appears as the gateway");
                assertEquals(ADDR, i32(f, 30));
                assertEquals(5353, u16(f, 36));
                assertEquals(0, udp4Checksum(f));
                assertEquals(host, new String(f, 42, host.length(), StandardCharsets.US_ASCII));
                g.send(frame4(udp4(ADDR, 5353, GW, peer.getLocalPort(), bytes("reply4"))));
            }
            DatagramPacket r = new DatagramPacket(new byte[100], 100);
            peer.receive(r);
            assertEquals(v6 ? "reply6" : "reply4", new String(r.getData(), 0, r.getLength(), StandardCharsets.US_ASCII));
            assertEquals(hostPort, r.getPort(), "the reply comes from the forwarded port");
        }
        assertEquals(3, p.query(() -> p.passt.udp.active()), "a flow per sender");
    }

    @Test
    void datagramsOfSeveralFlowsInOneBatchReachEachPeerInOrder() throws Exception {
        int hostPort = freeUdpPort();
        InProcessPasst p = closing(new InProcessPasst(c -> c.udpSpecs.add(hostPort + ":5354")));
        GuestLink g = closing(p.connect());
        DatagramSocket a = closing(new DatagramSocket(new InetSocketAddress("127.0.0.1", 0)));
        DatagramSocket b = closing(new DatagramSocket(new InetSocketAddress("127.0.0.1", 0)));
        DatagramSocket sender = closing(new DatagramSocket(new InetSocketAddress("127.0.0.1", 0)));
        for (DatagramSocket s : List.of(a, b, sender)) s.setSoTimeout(3000);
        // an inbound flow: its datagrams go back out of the forwarded port, to the sender
        sender.send(new DatagramPacket(bytes("hi"), 2, new InetSocketAddress("127.0.0.1", hostPort)));
        assertNotNull(g.receive(3000, x -> isUdp4From(x, sender.getLocalPort())), "inbound datagram");
        List<byte[]> batch = new java.util.ArrayList<>();
        for (int i = 0; i < 20; i++) { // interleaved: two outbound flows and the inbound one
            batch.add(frame4(udp4(ADDR, 40020, GW, a.getLocalPort(), bytes("a" + i))));
            batch.add(frame4(udp4(ADDR, 40021, GW, b.getLocalPort(), bytes("b" + i))));
            batch.add(frame4(udp4(ADDR, 5354, GW, sender.getLocalPort(), bytes("s" + i))));
        }
        g.sendBatch(batch);
        for (int i = 0; i < 20; i++) {
            assertEquals("a" + i, receive(a), "flow a, in order");
            assertEquals("b" + i, receive(b), "flow b, in order");
            DatagramPacket r = new DatagramPacket(new byte[100], 100);
            sender.receive(r);
            assertEquals("s" + i, new String(r.getData(), 0, r.getLength(), StandardCharsets.US_ASCII), "inbound, in order");
            assertEquals(hostPort, r.getPort(), "from the forwarded port");
        }
        assertEquals(60, p.query(() -> p.passt.udp.toHost()));
        assertEquals(0, p.query(() -> p.passt.udp.sendErrors()));
    }

    /**
     * A daemon, its guest, and a host socket on 127.0.0.1 that a flow from the guest reached;
     * {@code guest}: where the host sends to reach the guest through that flow.
     */
    private record HostFlow(InProcessPasst p, GuestLink g, DatagramSocket host, java.net.SocketAddress guest) {}

    /** {@link HostFlow}: the flow opened by a first datagram from the guest, which the host receives. */
    private HostFlow hostFlow(int guestPort) throws Exception {
        InProcessPasst p = closing(new InProcessPasst());
        GuestLink g = closing(p.connect());
        DatagramSocket host = closing(new DatagramSocket(new InetSocketAddress("127.0.0.1", 0)));
        host.setSoTimeout(3000);
        g.send(frame4(udp4(ADDR, guestPort, GW, host.getLocalPort(), bytes("start"))));
        DatagramPacket first = new DatagramPacket(new byte[100], 100);
        host.receive(first); // the flow is open: its socket takes what the host sends back
        return new HostFlow(p, g, host, first.getSocketAddress());
    }

    @Test
    void aBurstOfDatagramsFromTheHostReachesTheGuestInOrderWithCorrectChecksums() throws Exception {
        HostFlow flow = hostFlow(40030);
        InProcessPasst p = flow.p();
        GuestLink g = flow.g();
        DatagramSocket host = flow.host();
        for (int i = 0; i < 50; i++) { // more than one recvmmsg takes
            byte[] d = bytes("datagram " + i + " ".repeat(i * 10));
            host.send(new DatagramPacket(d, d.length, flow.guest()));
        }
        for (int i = 0; i < 50; i++) {
            byte[] f = g.receive(3000, x -> isUdp4From(x, host.getLocalPort()));
            assertNotNull(f, "datagram " + i);
            assertEquals(0, udp4Checksum(f), "UDP checksum of datagram " + i);
            String text = "datagram " + i + " ".repeat(i * 10);
            assertEquals(8 + text.length(), u16(f, 38), "UDP length of datagram " + i);
            assertEquals(text, new String(f, 42, text.length(), StandardCharsets.US_ASCII), "in order");
        }
        assertEquals(50, p.query(() -> p.passt.udp.toGuest()));
    }

    /**
     * Datagrams of all sizes below the largest, queued behind a guest that reads nothing until
     * its socket is full and the daemon holds the rest: each frame waits where it was received
     * (the queue has gaps) and the writes resume part-way through it; the guest then gets every
     * datagram, whole and in order.
     */
    @Test
    void datagramsQueuedBehindAGuestThatIsNotReadingArriveWholeAndInOrder() throws Exception {
        HostFlow flow = hostFlow(40031);
        InProcessPasst p = flow.p();
        GuestLink g = flow.g();
        DatagramSocket host = flow.host();
        List<byte[]> sent = new java.util.ArrayList<>();
        int backedUp = 0; // chunks sent since the daemon started holding frames the socket did not take
        while (backedUp < 3) {
            for (int k = 0; k < 10; k++) {
                int i = sent.size();
                byte[] d = new byte[20000 - (i % 50) * 13];
                for (int j = 0; j < d.length; j++) d[j] = (byte) (i * 31 + j);
                sent.add(d);
                host.send(new DatagramPacket(d, d.length, flow.guest()));
            }
            int n = sent.size();
            assertTrue(p.await(() -> p.passt.udp.toGuest() == n, 3000), "the daemon took datagram " + n);
            if (backedUp > 0 || p.query(() -> p.stream().room()) < StreamLink.OUT_SIZE - 4) backedUp++;
            assertTrue(sent.size() < 2000, "the guest's socket never filled");
        }
        for (int i = 0; i < sent.size(); i++) {
            byte[] f = g.receive(3000, x -> isUdp4From(x, host.getLocalPort()));
            assertNotNull(f, "datagram " + i + " of " + sent.size());
            assertEquals(0, udp4Checksum(f), "UDP checksum of datagram " + i);
            assertArrayEquals(sent.get(i), Arrays.copyOfRange(f, 42, f.length), "datagram " + i + ", in order");
        }
        assertEquals(0, p.query(() -> p.stream().framesDropped()));
    }

    /**
     * Datagrams from a host socket to the guest, of sizes that leave gaps in the output
     * ({@code StreamLink.commit}), allocate nothing on the daemon's loop thread: under 8 bytes a
     * datagram on average, as {@link TcpAllocationTest} measures a TCP segment.
     */
    @Test
    void hostToGuestDatagramsAllocateNothingOnTheLoopThread() throws Exception {
        HostFlow flow = hostFlow(40032);
        InProcessPasst p = flow.p();
        GuestLink g = flow.g();
        DatagramSocket host = flow.host();
        DatagramPacket out = new DatagramPacket(new byte[1400], 0, flow.guest());
        int[] sent = {0};
        long bytes = TcpAllocationTest.measure(p, "UDP host to guest", () -> {
            for (int k = 0; k < 16; k++) { // (at most 16 in flight: none is lost on the way)
                out.setLength(200 + sent[0]++ % 16 * 75);
                host.send(out);
            }
            for (int k = 0; k < 16; k++) {
                assertNotNull(g.receive(3000, x -> isUdp4From(x, host.getLocalPort())), "datagram " + sent[0]);
            }
        }, 16);
        assertEquals(0, p.query(() -> p.passt.loop.failures()));
        assertTrue(bytes < 8L * TcpAllocationTest.MEASURED, bytes + " bytes allocated by the loop thread for "
                + TcpAllocationTest.MEASURED + " datagrams");
    }

    private static String receive(DatagramSocket s) throws IOException {
        DatagramPacket r = new DatagramPacket(new byte[100], 100);
        s.receive(r);
        return new String(r.getData(), 0, r.getLength(), StandardCharsets.US_ASCII);
    }

    @Test
    void forwardedPortThatCannotBeBoundFailsStartWithPasstsMessage() throws Exception {
        DatagramSocket taken = closing(new DatagramSocket(new InetSocketAddress("0.0.0.0", 0)));
        int port = taken.getLocalPort();
        ConfException e = assertThrows(ConfException.class,
                () -> new InProcessPasst(c -> c.udpSpecs.add(Integer.toString(port))));
        assertTrue(e.getMessage().startsWith("Failed to bind port " + port + " ("), e.getMessage());
    }

    @Test
    void dnsForwardSendsQueriesToTheHostResolverAndRepliesComeFromTheForwardAddress() throws Exception {
        Echo dns = echoOrSkip("127.53.0.1", 53, "cannot bind 127.53.0.1:53");
        int match = ip("198.51.100.99");
        InProcessPasst p = closing(new InProcessPasst(c -> {
            c.dnsMatch4 = match;
            c.dnsHost4 = ip("127.53.0.1");
        }));
        GuestLink g = closing(p.connect());
        g.send(frame4(udp4(ADDR, 40040, match, 53, bytes("query"))));
        byte[] f = g.receive(3000, x -> isUdp4From(x, 53));
        assertNotNull(f, "no answer from the forwarded resolver");
        assertEquals(match, i32(f, 26), "the answer comes from the --dns-forward address");
        assertEquals(40040, u16(f, 36));
        assertEquals(0, udp4Checksum(f));
        assertEquals(1, dns.senders.size());
    }

    @Test
    void withALoopbackResolverQueriesToTheGatewayGoToIt() throws Exception {
        Echo dns = echoOrSkip("127.53.0.1", 53, "cannot bind 127.53.0.1:53");
        // resolv.conf said 127.53.0.1: the guest was handed the gateway as its DNS server
        InProcessPasst p = closing(new InProcessPasst(c -> c.dnsHost4 = ip("127.53.0.1")));
        GuestLink g = closing(p.connect());
        g.send(frame4(udp4(ADDR, 40045, GW, 53, bytes("query"))));
        byte[] f = g.receive(3000, x -> isUdp4From(x, 53));
        assertNotNull(f, "the query did not reach the host's loopback resolver");
        assertEquals(GW, i32(f, 26));
        assertEquals(1, dns.senders.size());
    }

    @Test
    void noUdpDropsGuestDatagramsAndOpensNoPorts() throws Exception {
        Echo echo = closing(new Echo("127.0.0.1", 0));
        int hostPort = freeUdpPort();
        InProcessPasst p = closing(new InProcessPasst(c -> {
            c.noUdp = true;
            c.udpSpecs.add(Integer.toString(hostPort));
        }));
        assertTrue(p.query(() -> p.passt.udp.listeningPorts()).isEmpty());
        GuestLink g = closing(p.connect());
        g.send(frame4(udp4(ADDR, 40050, GW, echo.port(), bytes("x"))));
        assertNull(g.receive(500, x -> isUdp4From(x, echo.port())));
        assertTrue(echo.senders.isEmpty());
        assertEquals(0, p.query(() -> p.passt.udp.active()));
    }

    @Test
    void malformedDatagramsAreDroppedQuietly() throws Exception {
        Echo echo = closing(new Echo("127.0.0.1", 0));
        InProcessPasst p = closing(new InProcessPasst());
        GuestLink g = closing(p.connect());
        byte[] good = udp4(ADDR, 40060, GW, echo.port(), bytes("payload"));
        // bad UDP checksum
        byte[] badSum = good.clone();
        badSum[20 + 6] ^= 0x55;
        g.send(frame4(badSum));
        // UDP length beyond the IP payload
        byte[] badLen = good.clone();
        badLen[20 + 4] = 0x7f;
        g.send(frame4(badLen));
        // UDP length below the header
        byte[] tinyLen = good.clone();
        tinyLen[20 + 4] = 0;
        tinyLen[20 + 5] = 4;
        g.send(frame4(tinyLen));
        // a 4-byte "UDP header"
        g.send(frame4(Frames.ip4(17, ADDR, GW, new byte[] {1, 2, 3, 4})));
        // port 0, broadcast and multicast destinations
        g.send(frame4(udp4(ADDR, 40061, GW, 0, bytes("zero"))));
        g.send(frame4(udp4(ADDR, 40062, 0xffffffff, echo.port(), bytes("bcast"))));
        g.send(frame4(udp4(ADDR, 40063, ip("239.1.2.3"), echo.port(), bytes("mcast"))));
        assertNull(g.receive(500, x -> isUdp4From(x, echo.port())));
        assertTrue(echo.senders.isEmpty());
        assertEquals(0, p.query(() -> p.passt.udp.active()));
        // and the daemon still works
        g.send(frame4(good));
        assertNotNull(g.receive(3000, x -> isUdp4From(x, echo.port())));
        assertEquals(0, p.query(() -> p.passt.loop.failures()));
    }

    @Test
    void ipv6EchoViaGatewayReachesHostLoopback() throws Exception {
        Echo echo = echoOrSkip("::1", 0, "no IPv6 loopback");
        byte[] guest = InProcessPasst.ADDR6, gw = InProcessPasst.GW6;
        InProcessPasst p = closing(new InProcessPasst(c -> {
            InProcessPasst.ipv6(c);
            c.noNdp = c.noRa = c.noDhcpv6 = true;
        }));
        GuestLink g = closing(p.connect());
        g.send(frame6(Frames.udp6(guest, 40070, gw, echo.port(), bytes("six"))));
        byte[] f = g.receive(3000, x -> x.length >= 62 && u16(x, 12) == 0x86dd && u8(x, 20) == 17
                && u16(x, 54) == echo.port());
        assertNotNull(f, "no IPv6 reply");
        assertArrayEquals(gw, Arrays.copyOfRange(f, 22, 38), "from the IPv6 gateway");
        assertArrayEquals(guest, Arrays.copyOfRange(f, 38, 54));
        assertEquals(40070, u16(f, 56));
        int ulen = u16(f, 58);
        assertEquals(0, Frames.checksum(f, 54, ulen, Frames.pseudo6(gw, guest, 17, ulen)), "UDP checksum");
        assertEquals("six", new String(f, 62, 3, StandardCharsets.US_ASCII));
    }
}
