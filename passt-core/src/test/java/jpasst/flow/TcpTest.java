package jpasst.flow;

import static jpasst.guest.GuestTcp.ACK;
import static jpasst.guest.GuestTcp.FIN;
import static jpasst.guest.GuestTcp.GUEST4;
import static jpasst.guest.GuestTcp.GUEST6;
import static jpasst.guest.GuestTcp.GW4;
import static jpasst.guest.GuestTcp.GW6;
import static jpasst.guest.GuestTcp.PSH;
import static jpasst.guest.GuestTcp.RST;
import static jpasst.guest.GuestTcp.SYN;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.abort;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import jpasst.conf.Conf;
import jpasst.guest.Frames;
import jpasst.guest.GuestLink;
import jpasst.guest.GuestTcp;
import jpasst.guest.GuestTcp.Conn;
import jpasst.guest.GuestTcp.Seg;
import jpasst.testutil.InProcessPasst;

/**
 * TCP translation on the wire, segment by segment: a hand-driven guest ({@link GuestTcp}) over the
 * real UNIX socket on one side, real host sockets on the other (the gateway 192.0.2.1 and
 * 2001:db8:1::1 stand for the host, so a {@link ServerSocket} on 127.0.0.1 or ::1 is reached
 * there; -t forwards host connections into the guest). Every test also checks that no handler of
 * the event loop failed and that every frame the daemon sent had right IP and TCP checksums.
 */
class TcpTest {
    static final int MSS4 = 65520 - 40, MSS6 = 65520 - 60;
    static final long RTO_MS = 500;

    private final List<AutoCloseable> closers = new CopyOnWriteArrayList<>();
    private final List<InProcessPasst> daemons = new CopyOnWriteArrayList<>();
    private final List<GuestTcp> guests = new CopyOnWriteArrayList<>();
    private static int nextPort = 40000 + new Random().nextInt(10000);

    @AfterEach
    void checkAndClose() throws Exception {
        try {
            for (InProcessPasst p : daemons) {
                assertEquals(0, p.query(() -> p.passt.loop.failures()), "event loop handler failures");
            }
            for (GuestTcp g : guests) {
                assertTrue(g.corruptFrames().isEmpty(), g.corruptFrames().size() + " frames with bad checksums");
            }
        } finally {
            for (AutoCloseable c : closers.reversed()) c.close();
        }
    }

    private <T extends AutoCloseable> T closing(T c) {
        closers.add(c);
        return c;
    }

    private InProcessPasst daemon(Consumer<Conf.Builder> tweak) throws Exception {
        InProcessPasst p = closing(new InProcessPasst(tweak));
        daemons.add(p);
        return p;
    }

    private InProcessPasst daemon() throws Exception {
        return daemon(c -> { });
    }

    private GuestTcp guest(InProcessPasst p) throws Exception {
        GuestLink link = closing(p.connect());
        GuestTcp g = new GuestTcp(link);
        guests.add(g);
        assertTrue(p.await(p.passt.link::connected, 2000), "the daemon did not accept the guest");
        return g;
    }

    /** Retransmissions on timeout a minute away: within a test, only duplicate ACKs can make one. */
    private static void retransmissionTimerOfAMinute(InProcessPasst p) {
        p.onLoop(() -> p.passt.tcp.timeouts(Tcp.SYN_TIMEOUT, Tcp.FIN_TIMEOUT, 60_000_000_000L));
    }

    private static synchronized int guestPort() {
        return nextPort++;
    }

    private ServerSocket server(String addr) throws IOException {
        return server(addr, 0);
    }

    private ServerSocket server(String addr, int rcvbuf) throws IOException {
        ServerSocket s = new ServerSocket();
        if (rcvbuf > 0) s.setReceiveBufferSize(rcvbuf);
        s.bind(new InetSocketAddress(InetAddress.getByName(addr), 0));
        s.setSoTimeout(3000);
        return closing(s);
    }

    private Socket accept(ServerSocket s) throws IOException {
        Socket a = closing(s.accept());
        a.setSoTimeout(3000);
        return a;
    }

    /**
     * What most tests start from: a daemon, a guest on it, and a connection from the guest to a
     * server on the host's 127.0.0.1 (reached at the gateway), through the handshake and accepted
     * by the host ({@code c.synAck} is the daemon's SYN-ACK).
     */
    private record Connected(InProcessPasst p, GuestTcp g, ServerSocket host, Conn c, Socket s) {}

    /** {@link Connected}, the guest's SYN carrying this MSS and window scale (-1: none). */
    private Connected connected(int mss, int ws) throws Exception {
        return connected(0, 65535, mss, ws);
    }

    /** {@link Connected}, the guest offering a window of {@code guestWindow} from its SYN on. */
    private Connected connectedWithGuestWindow(int guestWindow, int mss, int ws) throws Exception {
        return connected(0, guestWindow, mss, ws);
    }

    /** {@link Connected}, the host's server with a receive buffer of {@code rcvbuf} bytes. */
    private Connected connectedToHostWithReceiveBuffer(int rcvbuf, int mss, int ws) throws Exception {
        return connected(rcvbuf, 65535, mss, ws);
    }

    private Connected connected(int hostRcvbuf, int guestWindow, int mss, int ws) throws Exception {
        InProcessPasst p = daemon();
        GuestTcp g = guest(p);
        ServerSocket host = server("127.0.0.1", hostRcvbuf);
        Conn c = g.conn4(guestPort(), host.getLocalPort());
        c.window = guestWindow;
        c.connect(mss, ws, 2000);
        return new Connected(p, g, host, c, accept(host));
    }

    /**
     * A daemon forwarding a free host port to a guest port (-t), a guest on it whose MAC address
     * the daemon knows, a host connection to the forwarded port ({@code s}) and the guest's end of
     * the connection the daemon opens for it ({@code c}): its SYN received, not answered yet.
     */
    private record Forwarded(Socket s, Conn c) {}

    private Forwarded forwarded(boolean v6) throws Exception {
        int hostPort = freePort(), guestPort = guestPort();
        GuestTcp g = guest(daemon(conf -> {
            if (v6) InProcessPasst.ipv6(conf);
            conf.tcpSpecs = List.of(hostPort + ":" + guestPort);
        }));
        Conn stray = v6 ? g.conn6(1, GW6, 1) : g.conn4(1, 1);
        g.link().send(stray.frame(0, 0, RST, 0, new byte[0], new byte[0])); // the daemon learns our MAC
        Socket s = closing(new Socket(v6 ? "::1" : "127.0.0.1", hostPort));
        s.setSoTimeout(3000);
        Conn c = g.acceptSyn(guestPort, 2000);
        assertNotNull(c, "no SYN into the guest");
        return new Forwarded(s, c);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] readFully(InputStream in, int n) throws IOException {
        byte[] b = in.readNBytes(n);
        assertEquals(n, b.length, "bytes the host read before EOF");
        return b;
    }

    /** Reads {@code n} bytes from {@code in} on another thread, so that the host reads while the guest sends. */
    static CompletableFuture<byte[]> readInBackground(InputStream in, int n) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return in.readNBytes(n);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /**
     * The guest advertises {@code window} (the raw field), the host then writes {@code hostData}:
     * the bytes the daemon sends within {@code ms}, none of them acknowledged.
     */
    static int bytesSentIntoWindow(Conn c, int window, Socket s, byte[] hostData, long ms) throws Exception {
        c.window = window;
        c.ack();
        c.guest().barrier(); // the window is the daemon's before the host's data comes
        s.getOutputStream().write(hostData);
        int inFlight = 0;
        for (Seg d : c.drain(ms)) inFlight += d.len();
        return inFlight;
    }

    /** Adds to {@code got} the payload of every segment that arrives within {@code ms}, moving {@code rcvNxt} past each, acknowledging none. */
    static void receiveWithoutAcking(Conn c, long ms, ByteArrayOutputStream got) throws IOException {
        for (Seg d : c.drain(ms)) {
            got.writeBytes(d.payload());
            c.rcvNxt += d.len();
        }
    }

    /** The next {@code n} segments of {@code c} that carry data, skipping bare ACKs; none may take over a second. */
    static List<Seg> dataSegments(Conn c, int n) throws IOException {
        List<Seg> segments = new ArrayList<>();
        while (segments.size() < n) {
            Seg d = c.receive(1000);
            assertNotNull(d);
            if (d.len() > 0) segments.add(d);
        }
        return segments;
    }

    static byte[] v4(int a) {
        return ByteBuffer.allocate(4).putInt(a).array();
    }

    static void assertFromGatewayToGuest(Seg s) {
        assertArrayEquals(v4(GW4), s.src(), "source is the gateway");
        assertArrayEquals(v4(GUEST4), s.dst(), "destination is the guest");
        assertEquals(Frames.GUEST_MAC, s.dstMac());
        assertEquals(Frames.OUR_MAC, s.srcMac());
    }

    /**
     * A guest that sends all of {@code data} as a sender would: within the window the daemon
     * offers, in segments of {@code mss}, going back to the last ACK when none comes for a while.
     */
    static void upload(Conn c, byte[] data, int mss, long timeoutMs) throws IOException {
        c.upload(data, mss, timeoutMs);
    }

    // ------------------------------------------------------------------ handshakes

    @Test
    void handshakeCarriesMssAndWindowScaleBothWays() throws Exception {
        Connected t = connected(1460, 7);
        Conn c = t.c();
        Seg synAck = c.synAck;
        assertTrue(synAck.checksumOk() && synAck.ipChecksumOk());
        assertFromGatewayToGuest(synAck);
        assertEquals(t.host().getLocalPort(), synAck.sport());
        assertEquals(c.guestPort, synAck.dport());
        assertEquals(MSS4, synAck.mss(), "our MSS: MTU 65520 less IPv4 and TCP headers");
        assertEquals(TcpToGuest.WS_TO_TAP, synAck.ws(), "window scaling offered back");
        assertTrue(synAck.window() > 0, "a window in the SYN-ACK");
        Socket s = t.s();
        assertEquals(InetAddress.getByName("127.0.0.1"), s.getInetAddress(), "the gateway is the host's loopback");

        // the guest's scale 7 applies to its windows: 100 << 7 = 12800 bytes may be in flight
        assertEquals(12800, bytesSentIntoWindow(c, 100, s, random(100_000, 3), 400),
                "bytes sent into a window of 100 << 7");
        assertEquals(1, t.p().query(() -> t.p().passt.tcp.activeConnections()));
    }

    @Test
    void noWindowScalingWhenTheGuestOffersNone() throws Exception {
        Connected t = connected(1460, -1);
        Conn c = t.c();
        Seg synAck = c.synAck;
        assertEquals(-1, synAck.ws(), "no window scale option in the SYN-ACK");
        assertEquals(1460, synAck.mss() > 0 ? 1460 : -1);
        Socket s = t.s();
        // unscaled: the guest's 3000 means 3000 bytes
        c.window = 3000;
        c.ack();
        t.g().barrier(); // the window is the daemon's before the host's data comes
        s.getOutputStream().write(random(20_000, 4));
        List<Seg> got = c.drain(400);
        assertEquals(3000, got.stream().mapToInt(Seg::len).sum(), "bytes sent into an unscaled window of 3000");
        assertTrue(got.stream().allMatch(x -> x.len() <= 1460), "segments within the guest's MSS");
        // and the daemon's own windows are unscaled too: what it offers fits the host socket's room
        c.sendData(new byte[10]);
        Seg a = c.receive(1000);
        assertNotNull(a);
        assertTrue(a.window() > 1000, "an unscaled window of some room: " + a);
        assertArrayEquals(new byte[10], readFully(s.getInputStream(), 10));
    }

    @Test
    void hostServerThatSpeaksFirstReachesTheGuestRightAfterTheHandshake() throws Exception {
        InProcessPasst p = daemon();
        GuestTcp g = guest(p);
        ServerSocket host = server("127.0.0.1");
        Conn c = g.conn4(guestPort(), host.getLocalPort());
        // a guest without window scaling and the same window in SYN and ACK
        c.sendSyn(1460, -1);
        Seg synAck = c.receive(2000);
        assertNotNull(synAck);
        c.rcvNxt = synAck.seq() + 1;
        // the host accepts and sends its banner before the guest's ACK completes the handshake
        Socket s = accept(host);
        s.getOutputStream().write("220 banner\r\n".getBytes());
        p.sync(); // the daemon has had the socket's readable edge, before the handshake completes
        c.ack();
        Seg banner = c.receive(1500);
        assertNotNull(banner, "the banner never reached the guest");
        assertEquals("220 banner\r\n", new String(banner.payload()));
        assertEquals(synAck.seq() + 1, banner.seq());
    }


    /**
     * As passt: no Nagle on the host sockets, outbound or accepted (the guest's own TCP decides
     * when a small segment goes). The daemon runs in this process, so its socket is found among
     * ours by the address the host's end sees as its peer.
     */
    @Test
    void hostSocketsBothWaysHaveNagleOff() throws Exception {
        Connected out = connected(1460, 7);
        assertEquals(1, nodelayOfTheSocketConnectedTo(out.host().getLocalPort()), "outbound: TCP_NODELAY");
        Forwarded in = forwarded(false);
        assertEquals(1, nodelayOfTheSocketConnectedTo(in.s().getLocalPort()), "accepted: TCP_NODELAY");
    }

    /** TCP_NODELAY (1 or 0) of this process's TCP socket connected to port {@code peerPort}; -1: none. */
    private static int nodelayOfTheSocketConnectedTo(int peerPort) throws IOException {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment sa = a.allocate(jpasst.sys.SockAddr.STORAGE, 8);
            java.lang.foreign.MemorySegment len = a.allocate(8, 8);
            java.lang.foreign.MemorySegment v = a.allocate(8, 8);
            try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
                for (java.nio.file.Path p : (Iterable<java.nio.file.Path>) fds::iterator) {
                    int fd = Integer.parseInt(p.getFileName().toString());
                    len.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, jpasst.sys.SockAddr.STORAGE);
                    if (jpasst.sys.Sockets.getpeername(fd, sa, len) != 0) continue;
                    int family = jpasst.sys.SockAddr.family(sa);
                    if (family != jpasst.sys.Sockets.AF_INET && family != jpasst.sys.Sockets.AF_INET6) continue;
                    if (jpasst.sys.SockAddr.port(sa) != peerPort) continue;
                    len.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, 4);
                    if (jpasst.sys.Sockets.getsockopt(fd, jpasst.sys.Sockets.IPPROTO_TCP,
                            jpasst.sys.Sockets.TCP_NODELAY, v, len) != 0) continue;
                    return v.get(java.lang.foreign.ValueLayout.JAVA_INT, 0) != 0 ? 1 : 0;
                }
            }
        }
        return -1; // no such socket
    }

    @Test
    void retransmittedSynIsAnsweredWithTheSameSynAck() throws Exception {
        InProcessPasst p = daemon();
        GuestTcp g = guest(p);
        ServerSocket host = server("127.0.0.1");
        Conn c = g.conn4(guestPort(), host.getLocalPort());
        c.sendSyn(1460, 7);
        Seg first = c.receive(2000);
        assertNotNull(first);
        assertTrue(first.is(SYN | ACK), first.toString());
        // the guest did not get it, and sends its SYN again
        c.sendSyn(1460, 7);
        Seg again = c.receive(1000);
        assertNotNull(again, "no SYN-ACK for a retransmitted SYN: the handshake could never complete");
        assertTrue(again.is(SYN | ACK), again.toString());
        assertEquals(first.seq(), again.seq(), "same initial sequence number");
        assertEquals(c.iss + 1, again.ack());
        c.rcvNxt = again.seq() + 1;
        c.ack();
        Socket s = accept(host);
        c.sendData("after".getBytes());
        assertEquals("after", new String(readFully(s.getInputStream(), 5)));
    }


    // ------------------------------------------------------------------ data

    @Test
    void guestDataReachesTheHostIntactAndIsAckedOnlyAsFarAsTheHostTookIt() throws Exception {
        Connected t = connectedToHostWithReceiveBuffer(4096, MSS4, 7);
        Conn c = t.c();
        Socket s = t.s(); // and it does not read yet
        byte[] data = random(12 << 20, 5);
        int mss = 60000;
        // a guest that ignores the daemon's window and sends everything
        int highestAck = c.iss + 1;
        for (int off = 0; off < data.length; off += mss) {
            c.sendData(Arrays.copyOfRange(data, off, Math.min(data.length, off + mss)));
        }
        for (Seg a : c.drain(500)) {
            assertEquals(0, a.len());
            if (a.ack() - highestAck > 0) highestAck = a.ack();
        }
        int acked = highestAck - (c.iss + 1);
        assertTrue(acked > 0 && acked < data.length, "acknowledged " + acked + " of " + data.length
                + ": the host cannot have taken it all without reading");
        // exactly the acknowledged bytes are in the host's socket: it reads them, then nothing more
        InputStream in = s.getInputStream();
        byte[] first = readFully(in, acked);
        assertArrayEquals(Arrays.copyOf(data, acked), first);
        s.setSoTimeout(300);
        assertThrows(SocketTimeoutException.class, in::read, "bytes beyond the ACK reached the host");
        s.setSoTimeout(10_000);
        // the guest sends the rest again from the ACK, and all of it arrives intact
        CompletableFuture<byte[]> rest = readInBackground(in, data.length - acked);
        c.sndNxt = highestAck;
        upload(c, Arrays.copyOfRange(data, acked, data.length), mss, 20_000);
        assertArrayEquals(Arrays.copyOfRange(data, acked, data.length), rest.get(20, TimeUnit.SECONDS));
    }

    @Test
    void hostDataArrivesInSegmentsOfTheGuestsMssWithRightSeqAckAndChecksums() throws Exception {
        Connected t = connected(1000, 0);
        Conn c = t.c();
        Socket s = t.s();
        c.sendData("request".getBytes());
        assertEquals("request", new String(readFully(s.getInputStream(), 7)));
        byte[] data = random(20_500, 6);
        s.getOutputStream().write(data);
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        List<Integer> lengths = new ArrayList<>();
        while (got.size() < data.length) {
            Seg d = c.receive(2000);
            assertNotNull(d, "data stopped after " + got.size());
            if (d.len() == 0) continue; // the ACK of "request"
            assertTrue(d.checksumOk() && d.ipChecksumOk());
            assertFromGatewayToGuest(d);
            assertEquals(c.rcvNxt, d.seq(), "in order, no gaps");
            assertEquals(c.sndNxt, d.ack(), "acknowledges the guest's request");
            assertTrue(d.has(ACK));
            lengths.add(d.len());
            got.writeBytes(d.payload());
            c.rcvNxt += d.len();
            c.ack();
        }
        assertArrayEquals(data, got.toByteArray());
        for (int i = 0; i < lengths.size() - 1; i++) assertEquals(1000, lengths.get(i), "segment " + i);
        assertEquals(500, lengths.getLast());
    }

    @Test
    void manyConnectionsAtOnceKeepTheirStreamsApart() throws Exception {
        InProcessPasst p = daemon();
        GuestTcp g = guest(p);
        ServerSocket host = server("127.0.0.1");
        int n = 40;
        List<Conn> conns = new ArrayList<>();
        List<Socket> sockets = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Conn c = g.conn4(guestPort(), host.getLocalPort());
            c.iss = 0x2000_0000 * i + 77;
            c.connect(1400, 7, 2000);
            conns.add(c);
            Socket s = accept(host);
            sockets.add(s);
            // the host learns which guest connection this is from its first bytes
            c.sendData(("conn " + i + "\n").getBytes());
        }
        assertEquals(n, p.query(() -> p.passt.tcp.activeConnections()));
        for (Socket s : sockets) {
            String line = new String(s.getInputStream().readNBytes(("conn " + sockets.indexOf(s) + "\n").length()));
            int i = Integer.parseInt(line.trim().substring(5));
            s.getOutputStream().write(random(5000 + i, i));
        }
        for (int i = 0; i < n; i++) {
            assertArrayEquals(random(5000 + i, i), conns.get(i).receiveData(5000 + i, 3000), "connection " + i);
        }
    }

    @Test
    void eventOfASocketClosedEarlierInTheBatchDoesNotReachTheConnectionInItsSlot() throws Exception {
        Connected t = connected(1460, 7);
        GuestTcp g = t.g();
        Conn a = t.c();
        Socket hostA = t.s();
        // hold the loop at the end of a batch, so that what follows comes in one epoll batch:
        // the guest's frames first (they reset A and open B, which takes A's slot), then the
        // event of A's socket, reset by its host peer meanwhile
        java.util.concurrent.atomic.AtomicBoolean pause = new java.util.concurrent.atomic.AtomicBoolean(true);
        java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        t.p().onLoop(() -> t.p().passt.loop.onEndOfBatch(() -> {
            if (pause.compareAndSet(true, false)) {
                held.countDown();
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }));
        g.link().send(g.conn4(1, 1).frame(0, 0, RST, 0, new byte[0], new byte[0])); // a batch to hold
        assertTrue(held.await(2, TimeUnit.SECONDS));
        Conn b = g.conn4(guestPort(), t.host().getLocalPort());
        g.sendBatch(List.of(a.frame(a.sndNxt, 0, RST, 0, new byte[0], new byte[0]),
                b.frame(b.iss, 0, SYN, 65535, GuestTcp.synOptions(1460, 7), new byte[0])));
        b.sndNxt = b.iss + 1;
        hostA.setSoLinger(true, 0);
        hostA.close(); // (on loopback the reset reaches the daemon's socket within close())
        release.countDown();
        Seg r = b.receive(2000);
        assertNotNull(r, "no answer to B's SYN");
        assertTrue(r.is(SYN | ACK), "B got the event of A's socket: " + r);
    }

    // ------------------------------------------------------------------ loss and windows

    @Test
    void segmentTheGuestDoesNotAcknowledgeIsRetransmittedAfterTheTimeoutWithTheSameBytes() throws Exception {
        Connected t = connected(1000, 0);
        Conn c = t.c();
        Socket s = t.s();
        byte[] data = random(3000, 7);
        s.getOutputStream().write(data);
        List<Seg> sent = dataSegments(c, 3);
        // the guest acknowledges the first segment only: its ACK for the others is lost
        long t0 = System.nanoTime();
        c.ack(sent.get(0).seq() + 1000, 65535);
        Seg re = c.receive(3000);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertNotNull(re, "no retransmission");
        assertEquals(sent.get(1).seq(), re.seq(), "from the first unacknowledged byte");
        assertArrayEquals(sent.get(1).payload(), re.payload(), "the same bytes");
        assertTrue(ms >= RTO_MS * 3 / 4, "retransmitted after " + ms + " ms, before the timeout");
        Seg re2 = c.receive(500);
        assertNotNull(re2);
        assertEquals(sent.get(2).seq(), re2.seq());
        assertArrayEquals(sent.get(2).payload(), re2.payload());
        // all acknowledged: no more retransmissions
        c.ack(sent.get(2).seq() + 1000, 65535);
        List<Seg> after = c.drain((long) (RTO_MS * 2.5));
        assertTrue(after.stream().allMatch(x -> x.len() == 0), "retransmitted after everything was acked: " + after);
    }

    @Test
    void threeDuplicateAcksTriggerFastRetransmitOfTheRightBytes() throws Exception {
        Connected t = connected(1000, 0);
        retransmissionTimerOfAMinute(t.p());
        Conn c = t.c();
        Socket s = t.s();
        s.getOutputStream().write(random(5000, 8));
        List<Seg> sent = dataSegments(c, 5);
        // segment 2 was lost: the guest acknowledges segment 1, then once per later segment
        int ack = sent.get(0).seq() + 1000;
        t.g().sendBatch(List.of(c.frame(c.sndNxt, ack, ACK, 65535, new byte[0], new byte[0]),
                c.frame(c.sndNxt, ack, ACK, 65535, new byte[0], new byte[0]),
                c.frame(c.sndNxt, ack, ACK, 65535, new byte[0], new byte[0]),
                c.frame(c.sndNxt, ack, ACK, 65535, new byte[0], new byte[0])));
        Seg re = c.receive(5000); // (the retransmission timer is a minute: only the ACKs can do it)
        assertNotNull(re, "no fast retransmit");
        assertEquals(sent.get(1).seq(), re.seq());
        assertArrayEquals(sent.get(1).payload(), re.payload(), "the lost segment's bytes");
    }


    @Test
    void fastRetransmitAfterAnEarlierAckSendsTheRightBytes() throws Exception {
        Connected t = connected(1000, 0);
        retransmissionTimerOfAMinute(t.p());
        Conn c = t.c();
        Socket s = t.s();
        s.getOutputStream().write(random(6000, 9));
        List<Seg> sent = dataSegments(c, 6);
        int ack = sent.get(1).seq();    // segment 1 acknowledged in a batch of its own
        c.ack(ack, 65535);
        t.g().barrier();
        for (int i = 0; i < 3; i++) c.ack(ack, 65535); // segment 2 lost, 3 to 5 arrived
        Seg re = c.receive(5000);       // (the retransmission timer is a minute: only the ACKs can do it)
        assertNotNull(re);
        assertEquals(ack, re.seq());
        assertArrayEquals(sent.get(1).payload(), re.payload());
        // the guest had the rest: its ACK covers all, and the daemon goes on from there
        c.rcvNxt = sent.get(5).seq() + 1000;
        c.ack();
        s.getOutputStream().write("more".getBytes());
        Seg more;
        do {
            more = c.receive(1000);
            assertNotNull(more, "nothing after the cumulative ACK");
        } while (more.len() == 0 || more.seq() != c.rcvNxt);
        assertEquals("more", new String(more.payload()));
    }

    @Test
    void ackBeyondWhatWasSentAgainAfterGoingBackIsTakenAndTheDaemonGoesOnFromIt() throws Exception {
        Connected t = connectedWithGuestWindow(8000, 1000, -1);
        Conn c = t.c();
        Socket s = t.s();
        s.getOutputStream().write(random(8000, 10));
        List<Seg> sent = dataSegments(c, 8);
        // the guest's window shrinks (its ACKs for the data are lost): after the timeout the
        // daemon goes back and sends the first segment only
        c.ack(sent.get(0).seq(), 1000);
        Seg re;
        do {
            re = c.receive(3000);
            assertNotNull(re, "nothing sent again");
        } while (re.len() == 0);
        assertEquals(sent.get(0).seq(), re.seq());
        assertEquals(List.of(), c.drain(100).stream().filter(x -> x.len() > 0).toList(), "beyond a window of 1000");
        // now the guest's ACK covers all eight segments, beyond what was sent again
        c.rcvNxt = sent.get(7).seq() + 1000;
        c.window = 65535;
        c.ack();
        s.getOutputStream().write("next".getBytes());
        Seg next = c.receiveWith(PSH, 1500);
        assertNotNull(next, "the daemon did not go on from an ACK beyond its resent data");
        assertEquals(c.rcvNxt, next.seq(), next.toString());
        assertEquals("next", new String(next.payload()));
        s.close();
        Seg fin = c.receiveWith(FIN, 1000);
        assertNotNull(fin);
        assertEquals(c.rcvNxt + 4, fin.seq());
    }

    @Test
    void finLostWithTheLastDataIsSentAgainAfterIt() throws Exception {
        Connected t = connected(1000, -1);
        Conn c = t.c();
        Socket s = t.s();
        s.getOutputStream().write(random(2000, 19));
        s.close();
        List<Seg> first = c.drain(300);
        assertEquals(3, first.size(), first.subList(0, Math.min(first.size(), 6)).toString());
        assertTrue(first.get(2).has(FIN));
        // the guest got the first segment only: everything after it comes again, FIN last
        c.rcvNxt = first.get(0).seq() + 1000;
        c.ack();
        List<Seg> again = c.drain(RTO_MS + 400);
        assertTrue(again.size() >= 2, "nothing sent again");
        assertEquals(first.get(1).seq(), again.get(0).seq());
        assertArrayEquals(first.get(1).payload(), again.get(0).payload());
        assertTrue(again.get(1).has(FIN) && again.get(1).seq() == first.get(2).seq(),
                again.subList(0, Math.min(again.size(), 6)).toString());
        // the guest acknowledges all, FIN included, and closes too: the connection is gone
        c.rcvNxt = first.get(2).seq() + 1;
        c.fin();
        assertTrue(t.p().await(() -> t.p().passt.tcp.activeConnections() == 0, 1000), "connection still there");
    }

    @Test
    void windowClosedByAHostThatDoesNotReadOpensByItselfWhenTheHostReads() throws Exception {
        Connected t = connectedToHostWithReceiveBuffer(4096, MSS4, 7);
        Conn c = t.c();
        Socket s = t.s();
        Seg synAck = c.synAck;
        // the guest sends within the daemon's window until that window is closed
        long wnd = synAck.window();
        int acked = 0;
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            int inFlight = c.sndNxt - (c.iss + 1) - acked;
            if (wnd - inFlight >= 1000) {
                c.sendData(new byte[(int) Math.min(60_000, wnd - inFlight)]);
                continue;
            }
            Seg a = c.receive(300);
            if (a == null) break; // no more ACKs: the window is closed
            acked = a.ack() - (c.iss + 1);
            wnd = (long) a.window() << TcpToGuest.WS_TO_TAP;
        }
        assertTrue(System.nanoTime() < deadline, "the window never closed");
        assertEquals(c.sndNxt - (c.iss + 1), acked, "everything sent within the window was taken");
        int sentBytes = acked;
        // the host reads: the daemon must tell the guest that its window opened again
        CompletableFuture<byte[]> drained = readInBackground(s.getInputStream(), sentBytes);
        drained.get(5, TimeUnit.SECONDS);
        Seg update = c.receive(1000);
        assertNotNull(update, "no window update: the guest would wait for its zero-window probe");
        assertTrue(((long) update.window() << TcpToGuest.WS_TO_TAP) - (wnd - 0) > 0, update.toString());
    }

    @Test
    void idleConnectionWithoutWindowScalingStaysQuiet() throws Exception {
        Connected t = connected(1460, -1);
        Conn c = t.c();
        Socket s = t.s();
        c.sendData("hello".getBytes());
        assertEquals("hello", new String(readFully(s.getInputStream(), 5)));
        s.getOutputStream().write("world".getBytes());
        assertEquals("world", new String(c.receiveData(5, 1000)));
        List<Seg> idle = c.drain(500);
        assertTrue(idle.size() <= 2, idle.size() + " segments on an idle connection: "
                + idle.subList(0, Math.min(3, idle.size())));
    }

    @Test
    void zeroWindowFromTheGuestStopsSendingAndAWindowUpdateResumes() throws Exception {
        Connected t = connectedWithGuestWindow(3000, 1000, -1);
        Conn c = t.c();
        Socket s = t.s();
        byte[] data = random(20_000, 11);
        s.getOutputStream().write(data);
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        receiveWithoutAcking(c, 300, got);
        assertEquals(3000, got.size(), "a window's worth");
        c.window = 0;
        c.ack();
        List<Seg> during = c.drain(RTO_MS * 3);
        assertTrue(during.stream().allMatch(x -> x.len() == 0), "data into a zero window: " + during);
        c.window = 5000;
        c.ack();
        c.guest().barrier(); // the daemon sent what the update lets through, in the batch it came in
        for (Seg d; (d = c.receiveNow()) != null; ) {
            if (d.len() == 0) continue; // a zero-window probe sent before the update came
            assertEquals(c.rcvNxt, d.seq());
            got.writeBytes(d.payload());
            c.rcvNxt += d.len();
        }
        assertEquals(8000, got.size(), "the window update let 5000 more through");
        c.window = 65535;
        c.ack();
        got.writeBytes(c.receiveData(12_000, 2000));
        assertArrayEquals(data, got.toByteArray());
    }


    @Test
    void zeroWindowProbeAsksTheGuestForItsWindowAndItsAnswerResumes() throws Exception {
        Connected t = connectedWithGuestWindow(2000, 1000, -1);
        Conn c = t.c();
        Socket s = t.s();
        byte[] data = random(10_000, 12);
        s.getOutputStream().write(data);
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        receiveWithoutAcking(c, 300, got);
        c.window = 0;
        c.ack();
        // the guest's window opens, but its window update is lost: the daemon must ask
        Seg probe = c.receive(RTO_MS * 4);
        assertNotNull(probe, "no zero-window probe");
        assertEquals(0, probe.len());
        assertEquals(c.rcvNxt - 1, probe.seq(),
                "a probe below the guest's window, which any TCP must answer with an ACK");
        c.window = 65535;
        c.ack();
        got.writeBytes(c.receiveData(8000, 2000));
        assertArrayEquals(data, got.toByteArray());
    }


    // ------------------------------------------------------------------ closing

    @Test
    void guestFinGivesTheHostEofAndTheHostCanStillSend() throws Exception {
        Connected t = connected(1460, 7);
        Conn c = t.c();
        Socket s = t.s();
        c.sendData("bye".getBytes());
        c.fin();
        InputStream in = s.getInputStream();
        assertEquals("bye", new String(readFully(in, 3)));
        assertEquals(-1, in.read(), "EOF after the guest's FIN");
        Seg ackOfFin;
        do {
            ackOfFin = c.receive(1000);
            assertNotNull(ackOfFin, "the FIN is not acknowledged");
        } while (ackOfFin.ack() != c.sndNxt);
        // half-closed: the host still talks
        s.getOutputStream().write("late reply".getBytes());
        assertEquals("late reply", new String(c.receiveData(10, 2000)));
        s.close();
        Seg fin = c.receiveWith(FIN, 2000);
        assertNotNull(fin, "no FIN after the host closed");
        assertEquals(c.rcvNxt, fin.seq());
        c.rcvNxt++;
        c.ack();
        assertTrue(t.p().await(() -> t.p().passt.tcp.activeConnections() == 0, 1000), "connection still there");
    }

    @Test
    void hostCloseReachesTheGuestAsFinAfterAllTheData() throws Exception {
        Connected t = connectedWithGuestWindow(30_000, 1460, -1);
        Conn c = t.c();
        Socket s = t.s();
        byte[] data = random(300_000, 13);
        OutputStream out = s.getOutputStream();
        out.write(data);
        s.close();
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        Seg fin = null;
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (fin == null && System.nanoTime() < deadline) {
            Seg d = c.receive(1000);
            assertNotNull(d, "stalled after " + got.size());
            if (d.seq() == c.rcvNxt && d.len() > 0) {
                got.writeBytes(d.payload());
                c.rcvNxt += d.len();
            }
            if (d.has(FIN)) {
                assertEquals(data.length, got.size(), "FIN before all the data");
                assertEquals(c.rcvNxt, d.seq());
                fin = d;
                c.rcvNxt++;
            }
            c.ack();
        }
        assertNotNull(fin);
        assertArrayEquals(data, got.toByteArray());
        c.fin();
        Seg last = c.receive(1000);
        assertNotNull(last, "the guest's FIN is not acknowledged");
        assertEquals(c.sndNxt, last.ack());
        assertTrue(t.p().await(() -> t.p().passt.tcp.activeConnections() == 0, 1000), "connection still there");
    }

    /**
     * The guest's FIN may acknowledge the host's last data and its FIN at once: the connection
     * then ends at once, and the acknowledged bytes still waiting in the daemon's socket (they
     * are dropped once acknowledged) must go first, or the kernel answers the close with a
     * reset and throws away what the guest sent that the host has not taken yet.
     */
    @Test
    void guestFinAckingTheHostsLastDataAndFinEndsWithoutAResetToTheHost() throws Exception {
        Connected t = connected(1460, 7);
        Conn c = t.c();
        Socket s = t.s();
        // the guest's upload, more than the host's socket takes while the host does not read:
        // the rest waits in the daemon's socket
        byte[] up = random(1 << 20, 19);
        upload(c, up, 1460, 10_000);
        byte[] down = random(5000, 17);
        s.getOutputStream().write(down);
        s.shutdownOutput();
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        boolean fin = false;
        while (!fin) {
            Seg d = c.receive(2000);
            assertNotNull(d, "stalled after " + got.size());
            if (d.seq() == c.rcvNxt && d.len() > 0) {
                got.writeBytes(d.payload());
                c.rcvNxt += d.len();
            }
            if (d.has(FIN) && d.seq() == c.rcvNxt) {
                fin = true;
                c.rcvNxt++;
            }
        }
        assertArrayEquals(down, got.toByteArray());
        c.fin(); // the first ACK of the host's data, and of its FIN
        assertTrue(t.p().await(() -> t.p().passt.tcp.activeConnections() == 0, 1000), "connection still there");
        assertArrayEquals(up, readFully(s.getInputStream(), up.length), "the upload, whole");
        assertEquals(-1, s.getInputStream().read(), "EOF after the guest's FIN, not a reset");
    }

    @Test
    void guestRstResetsTheHostConnection() throws Exception {
        Connected t = connected(1460, 7);
        Conn c = t.c();
        Socket s = t.s();
        c.rst();
        SocketException e = assertThrows(SocketException.class, () -> s.getInputStream().read());
        assertTrue(e.getMessage().contains("reset"), e.getMessage());
        assertTrue(t.p().await(() -> t.p().passt.tcp.activeConnections() == 0, 1000));
    }

    @Test
    void hostResetReachesTheGuestAsRst() throws Exception {
        Connected t = connected(1460, 7);
        Conn c = t.c();
        Socket s = t.s();
        s.setSoLinger(true, 0);
        s.close();
        Seg rst = c.receiveWith(RST, 1000);
        assertNotNull(rst, "no RST to the guest");
        assertEquals(c.rcvNxt, rst.seq(), "at the guest's next expected sequence number");
        assertTrue(t.p().await(() -> t.p().passt.tcp.activeConnections() == 0, 1000));
    }

    @Test
    void connectingToAClosedHostPortGetsRstAckFromTheRefusalNotTheTimeout() throws Exception {
        InProcessPasst p = daemon();
        // the handshake timeout a minute away: within the test, a reset can only be the refusal's
        p.onLoop(() -> p.passt.tcp.timeouts(60_000_000_000L, Tcp.FIN_TIMEOUT, Tcp.RTO_INITIAL));
        GuestTcp g = guest(p);
        Conn c = g.conn4(guestPort(), freePort());
        c.sendSyn(1460, 7);
        Seg r = c.receive(5000);
        assertNotNull(r, "no answer");
        assertTrue(r.is(RST | ACK), r.toString());
        assertEquals(0, r.seq());
        assertEquals(c.iss + 1, r.ack(), "acknowledges the SYN");
        assertTrue(p.await(() -> p.passt.tcp.activeConnections() == 0, 1000));
    }

    /**
     * DNS over TCP (53) and over TLS (853) to the --dns-forward address reaches the host's
     * resolver, and its answer comes from the address the guest asked, as in current passt.
     */
    @Test
    void dnsOverTcpToTheForwardAddressReachesTheHostsResolverOnBothDnsPorts() throws Exception {
        int match = AddressMappingTest.ip4("198.51.100.99");
        InProcessPasst p = daemon(c -> {
            c.dnsMatch4 = match;
            c.dnsHost4 = AddressMappingTest.ip4("127.53.0.1");
        });
        GuestTcp g = guest(p);
        for (int port : new int[] {53, 853}) {
            ServerSocket resolver = new ServerSocket();
            try {
                resolver.bind(new InetSocketAddress("127.53.0.1", port));
            } catch (IOException e) {
                resolver.close();
                abort("cannot bind 127.53.0.1:" + port + ": " + e);
            }
            closing(resolver).setSoTimeout(3000);
            Conn c = g.conn4(guestPort(), match, port);
            c.connect(1460, 7, 2000);
            Socket s = accept(resolver);
            byte[] query = bytes("query to port " + port);
            c.sendData(query);
            assertArrayEquals(query, readFully(s.getInputStream(), query.length));
            s.getOutputStream().write(bytes("answer"));
            Seg answer = c.receive(3000);
            while (answer != null && answer.len() == 0) answer = c.receive(3000);
            assertNotNull(answer, "no answer from the resolver");
            assertArrayEquals(ByteBuffer.allocate(4).putInt(match).array(), answer.src(),
                    "the answer comes from the --dns-forward address");
            assertArrayEquals(bytes("answer"), answer.payload());
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    @Test
    void guestNamingTheHostsLoopbackItselfIsRefusedAndReachesNothing() throws Exception {
        try (java.net.ServerSocket l = new java.net.ServerSocket(0, 5, java.net.InetAddress.getByName("127.0.0.1"))) {
            l.setSoTimeout(300);
            InProcessPasst p = daemon();
            GuestTcp g = guest(p);
            for (int addr : new int[] {0x7f000001, 0}) {
                Conn c = g.conn4(guestPort(), addr, l.getLocalPort());
                c.sendSyn(1460, 7);
                Seg r = c.receive(1000);
                assertNotNull(r, "no answer");
                assertTrue(r.is(RST | ACK), r.toString());
                assertThrows(java.net.SocketTimeoutException.class, l::accept,
                        "the host's loopback is reached only through the gateway's address");
            }
            assertEquals(0, p.query(() -> p.passt.tcp.activeConnections()));
        }
    }

    @Test
    void hostConnectThatNeverCompletesGivesTheGuestRstAfterTheSynTimeout() throws Exception {
        InProcessPasst p = daemon();
        p.onLoop(() -> p.passt.tcp.timeouts(1_000_000_000L, 60_000_000_000L, RTO_MS * 1_000_000));
        GuestTcp g = guest(p);
        // a listener whose accept queue is full: the kernel drops further SYNs, connect() hangs
        ServerSocket host = closing(new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1")));
        try (java.nio.channels.Selector sel = java.nio.channels.Selector.open()) {
            for (int i = 0; i < 4; i++) {
                SocketChannel f = closing(SocketChannel.open());
                f.configureBlocking(false);
                if (!f.connect(new InetSocketAddress("127.0.0.1", host.getLocalPort()))) {
                    f.register(sel, java.nio.channels.SelectionKey.OP_CONNECT);
                }
            }
            // with a backlog of 1 Linux queues two: once two handshakes are done, the queue is full
            int connected = 4 - sel.keys().size();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (connected < 2) {
                assertTrue(System.nanoTime() < deadline, "the accept queue did not fill");
                sel.select(1000);
                for (var k : sel.selectedKeys()) {
                    if (((SocketChannel) k.channel()).finishConnect()) {
                        connected++;
                        k.cancel();
                    }
                }
                sel.selectedKeys().clear();
            }
        }
        Conn c = g.conn4(guestPort(), host.getLocalPort());
        long t0 = System.nanoTime();
        c.sendSyn(1460, 7);
        Seg r = c.receive(4000);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertNotNull(r);
        assertTrue(r.has(RST), "a SYN-ACK for a host connection that did not complete: " + r);
        assertTrue(ms >= 900, "reset after " + ms + " ms");
        assertTrue(p.await(() -> p.passt.tcp.activeConnections() == 0, 1000));
    }

    // ------------------------------------------------------------------ bad input

    @Test
    void segmentForAnUnknownConnectionWithAckGetsRstAtItsAckNumber() throws Exception {
        InProcessPasst p = daemon();
        GuestTcp g = guest(p);
        Conn c = g.conn4(guestPort(), 80);
        c.send(0x1234, 0x55667788, ACK | PSH, 1000, new byte[0], "stray".getBytes());
        Seg r = c.receive(1000);
        assertNotNull(r);
        assertTrue(r.is(RST), "RST without ACK: " + r);
        assertEquals(0x55667788, r.seq(), "RFC 9293 3.10.7.1: <SEQ=SEG.ACK><CTL=RST>");
    }

    @Test
    void segmentForAnUnknownConnectionWithoutAckGetsRstAckCoveringIt() throws Exception {
        InProcessPasst p = daemon();
        GuestTcp g = guest(p);
        Conn c = g.conn4(guestPort(), 80);
        c.send(5000, 0, PSH, 1000, new byte[0], "0123456789".getBytes());
        Seg r = c.receive(1000);
        assertNotNull(r);
        assertTrue(r.is(RST | ACK), r.toString());
        assertEquals(0, r.seq());
        assertEquals(5010, r.ack(), "<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>");
        c.send(7000, 0, FIN, 1000, new byte[0], new byte[0]);
        r = c.receive(1000);
        assertNotNull(r);
        assertEquals(7001, r.ack(), "a FIN counts one");
    }

    @Test
    void rstForAnUnknownConnectionGetsNothing() throws Exception {
        InProcessPasst p = daemon();
        GuestTcp g = guest(p);
        Conn c = g.conn4(guestPort(), 80);
        c.send(5000, 0, RST, 0, new byte[0], new byte[0]);
        c.send(5000, 42, RST | ACK, 0, new byte[0], new byte[0]);
        p.sync();
        assertNull(c.receiveNow());
        assertEquals(0, p.query(() -> p.passt.tcp.resetsSent()));
    }

    @Test
    void segmentsWithBadChecksumsAreDropped() throws Exception {
        InProcessPasst p = daemon();
        GuestTcp g = guest(p);
        ServerSocket host = server("127.0.0.1");
        Conn c = g.conn4(guestPort(), host.getLocalPort());
        c.sendBadChecksum(c.iss, 0, SYN, 65535, new byte[0]);
        p.sync();
        assertNull(c.receiveNow(), "a SYN with a bad checksum was answered");
        assertEquals(0, p.query(() -> p.passt.tcp.activeConnections()), "a SYN with a bad checksum opened a connection");
        host.setSoTimeout(3000);
        c.connect(1460, 7, 2000);
        Socket s = accept(host);
        c.sendBadChecksum(c.sndNxt, c.rcvNxt, ACK | PSH, 1000, "wrong".getBytes());
        p.sync();
        assertNull(c.receiveNow(), "a data segment with a bad checksum was acknowledged");
        c.sendData("right".getBytes());
        assertEquals("right", new String(readFully(s.getInputStream(), 5)), "only the good segment reached the host");
        assertEquals(2, p.query(() -> p.passt.tcp.badChecksums()));
    }

    @Test
    void malformedSegmentsNeverBreakTheLoopOrALiveConnection() throws Exception {
        Connected t = connected(1460, 7);
        Conn c = t.c();
        Socket s = t.s();
        Random r = new Random(14);
        Conn stranger = t.g().conn4(guestPort(), t.host().getLocalPort());
        for (int i = 0; i < 3000; i++) {
            Conn who = r.nextBoolean() ? c : stranger;
            byte[] options = new byte[r.nextInt(5) * 4];
            r.nextBytes(options);
            if (r.nextInt(4) == 0 && options.length >= 4) {
                options[0] = (byte) (2 + r.nextInt(2)); // MSS or WS with a random (bad) length/value
            }
            byte[] payload = new byte[r.nextInt(4) == 0 ? r.nextInt(3000) : 0];
            r.nextBytes(payload);
            int flags = r.nextInt(64) & ~(who == c ? RST : 0);
            if (who == stranger) flags &= ~SYN; // no host connections for these
            int seq = who == c && r.nextBoolean() ? c.sndNxt + r.nextInt(100_000) - 50_000 : r.nextInt();
            byte[] f = who.frame(seq, r.nextInt(), flags, r.nextInt(65536), options, payload);
            int l4 = 14 + 20;
            switch (r.nextInt(6)) {
                case 0 -> f = Arrays.copyOf(f, l4 + r.nextInt(20)); // truncated TCP header, IP length as was
                case 1 -> f[l4 + 12] = (byte) (r.nextInt(16) << 4); // data offset of anything
                default -> { }
            }
            t.g().link().send(f);
        }
        // the real connection still works both ways (its sequence numbers may have moved on)
        c.drain(300);
        s.getOutputStream().write("still here".getBytes());
        Seg d = c.receiveWith(PSH, 2000);
        assertNotNull(d, "the connection died");
        assertEquals("still here", new String(d.payload()));
        assertEquals(0, t.p().query(() -> t.p().passt.loop.failures()));
    }

    // ------------------------------------------------------------------ IPv6

    @Test
    void ipv6ConnectionToTheGatewayReachesHostLoopbackBothWays() throws Exception {
        InProcessPasst p = daemon(InProcessPasst::ipv6);
        GuestTcp g = guest(p);
        ServerSocket host = server("::1");
        Conn c = g.conn6(guestPort(), GW6, host.getLocalPort());
        Seg synAck = c.connect(1440, 7, 2000);
        assertTrue(synAck.v6() && synAck.checksumOk());
        assertArrayEquals(GW6, synAck.src());
        assertArrayEquals(GUEST6, synAck.dst());
        assertEquals(MSS6, synAck.mss());
        assertEquals(TcpToGuest.WS_TO_TAP, synAck.ws());
        Socket s = accept(host);
        assertEquals(InetAddress.getByName("::1"), s.getInetAddress());
        byte[] up = random(200_000, 15);
        CompletableFuture<byte[]> hostGot = readInBackground(s.getInputStream(), up.length);
        upload(c, up, 1440, 5000);
        assertArrayEquals(up, hostGot.get(5, TimeUnit.SECONDS));
        byte[] down = random(100_000, 16);
        s.getOutputStream().write(down);
        assertArrayEquals(down, c.receiveData(down.length, 3000));
        c.fin();
        assertEquals(-1, s.getInputStream().read());
        s.close();
        Seg fin = c.receiveWith(FIN, 1000);
        assertNotNull(fin);
        assertTrue(fin.v6() && fin.checksumOk());
        c.rcvNxt++;
        c.ack();
        assertTrue(p.await(() -> p.passt.tcp.activeConnections() == 0, 1000));
    }

    @Test
    void ipv6ClosedPortAndUnknownConnectionGetResets() throws Exception {
        InProcessPasst p = daemon(InProcessPasst::ipv6);
        GuestTcp g = guest(p);
        Conn c = g.conn6(guestPort(), GW6, freePort());
        c.sendSyn(1440, 7);
        Seg r = c.receive(1000);
        assertNotNull(r);
        assertTrue(r.v6() && r.is(RST | ACK) && r.checksumOk(), r.toString());
        assertEquals(c.iss + 1, r.ack());
        Conn u = g.conn6(guestPort(), GW6, 80);
        u.send(1, 0xabcdef, ACK, 100, new byte[0], new byte[0]);
        r = u.receive(1000);
        assertNotNull(r);
        assertTrue(r.is(RST));
        assertEquals(0xabcdef, r.seq());
    }

    // ------------------------------------------------------------------ -t: into the guest

    @Test
    void forwardedPortOpensAConnectionIntoTheGuestWithMssAndWindowScale() throws Exception {
        Forwarded f = forwarded(false);
        Socket s = f.s();
        Conn c = f.c();
        assertArrayEquals(v4(GW4), c.syn.src(), "from the gateway, standing for the host's loopback");
        assertArrayEquals(v4(GUEST4), c.syn.dst());
        assertEquals(s.getLocalPort(), c.syn.sport(), "the host peer's port");
        assertEquals(MSS4, c.syn.mss());
        assertEquals(TcpToGuest.WS_TO_TAP, c.syn.ws());
        assertTrue(c.syn.checksumOk());
        c.synAck(1460, 5);
        Seg ack = c.receive(1000);
        assertNotNull(ack, "no ACK completing the handshake");
        assertTrue(ack.is(ACK));
        assertEquals(c.iss + 1, ack.ack());
        // guest → host and back
        c.sendData("ping".getBytes());
        assertEquals("ping", new String(readFully(s.getInputStream(), 4)));
        s.getOutputStream().write("pong".getBytes());
        assertEquals("pong", new String(c.receiveData(4, 1000)));
        // guest's scale 5 is honoured: window 100 << 5 = 3200 bytes
        assertEquals(3200, bytesSentIntoWindow(c, 100, s, random(20_000, 17), 300));
    }

    @Test
    void forwardedConnectionWithoutWindowScalingFromTheGuestUsesNone() throws Exception {
        Forwarded f = forwarded(false);
        Socket s = f.s();
        Conn c = f.c();
        c.synAck(1460, -1);
        Seg ack = c.receive(1000);
        assertNotNull(ack);
        // with no scaling agreed, the daemon's window is in plain bytes: the host socket's room
        // fits in 16 bits only unscaled, so a window below 65536 means "bytes"
        byte[] up = random(100_000, 18);
        CompletableFuture<byte[]> hostGot = readInBackground(s.getInputStream(), up.length);
        c.peerWs = -1;
        upload(c, up, 1460, 5000);
        assertArrayEquals(up, hostGot.get(5, TimeUnit.SECONDS));
        s.shutdownOutput();
        Seg fin = c.receiveWith(FIN, 1000);
        assertNotNull(fin, "host's shutdown not passed on as FIN");
    }

    @Test
    void guestThatNeverAnswersAForwardedSynIsGivenUpAndTheHostPeerReset() throws Exception {
        int hostPort = freePort(), guestPort = guestPort();
        InProcessPasst p = daemon(conf -> conf.tcpSpecs = List.of(hostPort + ":" + guestPort));
        p.onLoop(() -> p.passt.tcp.timeouts(1_200_000_000L, 60_000_000_000L, RTO_MS * 1_000_000));
        GuestTcp g = guest(p);
        g.link().send(g.conn4(1, 1).frame(0, 0, RST, 0, new byte[0], new byte[0]));
        Socket s = closing(new Socket("127.0.0.1", hostPort));
        s.setSoTimeout(5000);
        long t0 = System.nanoTime();
        Conn c = g.acceptSyn(guestPort, 2000);
        assertNotNull(c);
        Seg again = c.receive(2000);
        assertNotNull(again, "the SYN is not retransmitted");
        assertTrue(again.is(SYN) && again.seq() == c.syn.seq(), again.toString());
        try {
            assertEquals(-1, s.getInputStream().read());
        } catch (SocketException e) {
            assertTrue(e.getMessage().contains("reset"), e.getMessage());
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ms >= 1000, "given up after " + ms + " ms");
        assertTrue(p.await(() -> p.passt.tcp.activeConnections() == 0, 1000));
    }

    /**
     * With both address families on, a port on any address is one dual-stack socket, as passt
     * binds it: an IPv4 peer (::ffff:127.0.0.1 on that socket) reaches the guest over IPv4, an
     * IPv6 one over IPv6.
     */
    @Test
    void aForwardedPortWithBothFamiliesIsOneSocketThatTakesIpv4AndIpv6Peers() throws Exception {
        int hostPort = freePort(), guestPort = guestPort();
        InProcessPasst p = daemon(conf -> {
            InProcessPasst.ipv6(conf);
            conf.tcpSpecs = List.of(hostPort + ":" + guestPort);
        });
        GuestTcp g = guest(p);
        g.link().send(g.conn4(1, 1).frame(0, 0, RST, 0, new byte[0], new byte[0])); // the daemon learns our MAC
        assertEquals(1, (int) p.query(() -> p.passt.tcpListeners.slots().count()), "one socket for the port");
        assertEquals(ListenerSlots.BOTH, (int) p.query(() -> p.passt.tcpListeners.slots().families(0)));
        for (String host : new String[] {"127.0.0.1", "::1"}) {
            boolean v6 = host.contains(":");
            Socket s = closing(new Socket(host, hostPort));
            s.setSoTimeout(3000);
            Conn c = g.acceptSyn(guestPort, 2000);
            assertNotNull(c, "no SYN into the guest for a peer at " + host);
            assertEquals(v6, c.syn.v6(), "the guest's connection is of the peer's family");
            assertArrayEquals(v6 ? GW6 : v4(GW4), c.syn.src(), "from the gateway, standing for the host's loopback");
            assertArrayEquals(v6 ? GUEST6 : v4(GUEST4), c.syn.dst());
            assertEquals(v6 ? MSS6 : MSS4, c.syn.mss());
            c.synAck(1460, 5);
            assertNotNull(c.receive(1000), "no ACK completing the handshake");
            c.sendData(host.getBytes());
            assertEquals(host, new String(readFully(s.getInputStream(), host.length())));
            s.getOutputStream().write("back".getBytes());
            assertEquals("back", new String(c.receiveData(4, 1000)));
        }
    }

    @Test
    void forwardedIpv6ConnectionComesFromTheGatewayAddress() throws Exception {
        Forwarded f = forwarded(true);
        Socket s = f.s();
        Conn c = f.c();
        assertTrue(c.syn.v6());
        assertArrayEquals(GW6, c.syn.src());
        assertArrayEquals(GUEST6, c.syn.dst());
        assertEquals(MSS6, c.syn.mss());
        c.synAck(1440, 7);
        assertNotNull(c.receive(1000));
        s.getOutputStream().write("six".getBytes());
        assertEquals("six", new String(c.receiveData(3, 1000)));
        c.sendData("ok".getBytes());
        assertEquals("ok", new String(readFully(s.getInputStream(), 2)));
    }
}
