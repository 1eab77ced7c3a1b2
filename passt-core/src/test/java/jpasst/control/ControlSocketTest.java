package jpasst.control;

import static jpasst.guest.Frames.frame4;
import static jpasst.guest.Frames.udp4;
import static jpasst.testutil.InProcessPasst.ADDR;
import static jpasst.testutil.InProcessPasst.GW;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import jpasst.guest.Frames;
import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;
import jpasst.util.Log;

/**
 * The control socket itself, over real UNIX sockets against an in-process daemon: who may
 * connect, what a client that misbehaves gets (half a line that stalls, a line too long, too
 * many connections, replies it never reads), and the read-only operations (stats, health, flows,
 * log, watch) seen from a client.
 */
class ControlSocketTest {
    private final List<AutoCloseable> closers = new CopyOnWriteArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : closers.reversed()) c.close();
    }

    private <T extends AutoCloseable> T closing(T c) {
        closers.add(c);
        return c;
    }

    private InProcessPasst daemon() throws Exception {
        return closing(new InProcessPasst(InProcessPasst::control));
    }

    /** A raw connection to the control socket: lines in, lines out. */
    private record Raw(SocketChannel ch, BufferedReader in, OutputStream out) implements AutoCloseable {
        void send(String s) throws IOException {
            out.write(s.getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    private Raw raw(InProcessPasst p) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(p.controlPath()));
        return closing(new Raw(ch, new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8)),
                Channels.newOutputStream(ch)));
    }

    /**
     * Whether the daemon closed {@code r}: the end of its input, or "connection reset" (a UNIX
     * socket says so when bytes the client sent were still unread at the close).
     */
    private static boolean closed(Raw r) throws IOException {
        try {
            return r.in.readLine() == null;
        } catch (java.net.SocketException e) {
            return e.getMessage().contains("reset");
        }
    }

    private static Map<?, ?> parse(String line) throws Json.JsonException {
        assertNotNull(line, "no reply line");
        return (Map<?, ?>) Json.parse(line);
    }

    @Test
    void theSocketFileIsTheOwnersAlone() throws Exception {
        InProcessPasst p = daemon();
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p.controlPath())));
    }

    @Test
    void aPeerOfAnotherUserIsRefusedEvenIfTheFileLetsItIn() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root to connect as another user");
        InProcessPasst p = daemon();
        Files.setPosixFilePermissions(p.controlPath(), PosixFilePermissions.fromString("rw-rw-rw-"));
        Files.setPosixFilePermissions(p.controlPath().getParent(), PosixFilePermissions.fromString("rwx--x--x"));
        // only reading (-u): the refusal comes before any request could be sent
        Process nobody = new ProcessBuilder("/usr/bin/setpriv", "--reuid=12345", "--regid=12345", "--clear-groups",
                "/usr/bin/socat", "-u", "UNIX-CONNECT:" + p.controlPath(), "-").redirectErrorStream(true).start();
        String out = new String(nobody.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(nobody.waitFor(10, TimeUnit.SECONDS));
        assertTrue(out.contains("\"ok\":false") && out.contains("permission denied"), out);
        assertTrue(!out.contains("\"result\""), out);
    }

    @Test
    void requestsSentTogetherAreAnsweredInOrder() throws Exception {
        InProcessPasst p = daemon();
        Raw r = raw(p);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 500; i++) b.append("{\"v\":1,\"id\":").append(i).append(",\"op\":\"version\"}\n");
        r.send(b.toString());
        for (int i = 0; i < 500; i++) {
            Map<?, ?> m = parse(r.in.readLine());
            assertEquals((long) i, m.get("id"));
            assertEquals(Boolean.TRUE, m.get("ok"));
        }
    }

    @Test
    void halfALineThatStallsGetsAnErrorAndTheConnectionCloses() throws Exception {
        InProcessPasst p = daemon();
        Raw r = raw(p);
        r.send("{\"op\":\"hea");
        Map<?, ?> m = parse(r.in.readLine()); // (the daemon's own 5 s limit is the barrier)
        assertEquals("incomplete request line for 5 s", m.get("error"));
        assertTrue(closed(r), "closed after the error");
        ControlClient other = closing(ControlClient.connect(p.controlPath()));
        assertEquals(Boolean.FALSE, other.health().get("connected"), "the daemon serves on");
    }

    @Test
    void aLineLongerThanTheBufferGetsAnErrorAndTheConnectionCloses() throws Exception {
        InProcessPasst p = daemon();
        Raw r = raw(p);
        byte[] flood = new byte[ControlServer.MAX_LINE + 10];
        java.util.Arrays.fill(flood, (byte) 'x');
        try {
            r.out.write(flood);
        } catch (IOException closedMeanwhile) {
            // the daemon may close before the last bytes are taken
        }
        Map<?, ?> m = parse(r.in.readLine());
        assertEquals("request line longer than 65536 bytes", m.get("error"));
        assertTrue(closed(r));
    }

    @Test
    void beyondEightConnectionsTheNextIsRefusedWithAnError() throws Exception {
        InProcessPasst p = daemon();
        List<ControlClient> eight = new ArrayList<>();
        for (int i = 0; i < ControlServer.MAX_CONNECTIONS; i++) {
            ControlClient c = closing(ControlClient.connect(p.controlPath()));
            c.health(); // (accepted and served: the next connection comes after it)
            eight.add(c);
        }
        Raw ninth = raw(p);
        Map<?, ?> m = parse(ninth.in.readLine());
        assertEquals("too many control connections (at most 8)", m.get("error"));
        assertTrue(closed(ninth));
        eight.getFirst().close();
        assertTrue(p.await(() -> p.passt.control.connections() == 7, 10_000), "the closed client's slot is free again");
        assertNotNull(closing(ControlClient.connect(p.controlPath())).health(), "one closed: room again");
    }

    @Test
    void aClientThatNeverReadsItsRepliesIsClosedAndTheOthersAreServed() throws Exception {
        InProcessPasst p = daemon();
        Raw r = raw(p);
        byte[] many = "{\"op\":\"stats\"}\n".repeat(2000).getBytes(StandardCharsets.US_ASCII);
        boolean closed = false;
        for (int i = 0; i < 200 && !closed; i++) { // up to 400 000 requests of ~1.5 KiB replies
            try {
                r.ch.write(ByteBuffer.wrap(many));
            } catch (IOException e) {
                closed = true;
            }
        }
        assertTrue(closed, "the daemon kept a client that reads nothing");
        assertNotNull(closing(ControlClient.connect(p.controlPath())).stats().get("events"));
    }

    @Test
    void statsCountDroppedFramesByReasonAndBadChecksums() throws Exception {
        InProcessPasst p = daemon();
        GuestLink g = closing(p.connect());
        byte[] bad = frame4(udp4(ADDR, 1000, GW, 2000, new byte[4]));
        bad[24] ^= 0x55; // the IPv4 header checksum
        g.send(bad);
        byte[] arpless = frame4(udp4(ADDR, 1000, GW, 2000, new byte[4]));
        arpless[12] = (byte) 0x88; // an EtherType nobody handles
        arpless[13] = (byte) 0xb5;
        g.send(arpless);
        ControlClient c = closing(ControlClient.connect(p.controlPath()));
        assertTrue(p.await(() -> p.passt.dispatch.dropped() == 2, 2000));
        Map<String, Object> s = c.stats();
        assertEquals(Map.of("bad IPv4 header checksum", 1L, "unhandled EtherType", 1L), s.get("dropped_frames"));
        assertEquals(1L, ((Map<?, ?>) s.get("bad_checksums")).get("ipv4_header"));
        Map<?, ?> events = (Map<?, ?>) s.get("events");
        assertTrue((Long) events.get("tap") >= 1, events.toString());
        assertTrue((Long) events.get("control") >= 1, events.toString());
        assertEquals(2L, ((Map<?, ?>) s.get("link")).get("frames_in"));
    }

    @Test
    void healthSaysWhetherTheGuestIsThereWithItsMacAndAddress() throws Exception {
        InProcessPasst p = daemon();
        ControlClient c = closing(ControlClient.connect(p.controlPath()));
        Map<String, Object> before = c.health();
        assertEquals(Boolean.FALSE, before.get("connected"));
        assertEquals(Json.NULL, ((Map<?, ?>) before.get("guest")).get("mac"));
        GuestLink g = closing(p.connect());
        g.send(frame4(udp4(ADDR, 1000, GW, 9, new byte[1])));
        assertTrue(p.await(() -> p.passt.guest.addr4Seen == ADDR, 2000));
        Map<String, Object> h = c.health();
        assertEquals(Boolean.TRUE, h.get("connected"));
        assertEquals("stream", h.get("transport"));
        Map<?, ?> guest = (Map<?, ?>) h.get("guest");
        assertEquals("52:54:00:12:34:56", guest.get("mac"));
        assertEquals("192.0.2.2", guest.get("ipv4"));
        assertTrue((Double) h.get("uptime_s") > 0);
    }

    @Test
    void flowsListBothEndsAndTotalsPerProtocol() throws Exception {
        InProcessPasst p = daemon();
        GuestLink g = closing(p.connect());
        try (java.net.DatagramSocket host = new java.net.DatagramSocket(new java.net.InetSocketAddress("127.0.0.1", 0))) {
            g.send(frame4(udp4(ADDR, 40000, GW, host.getLocalPort(), new byte[] {1})));
            host.setSoTimeout(3000);
            java.net.DatagramPacket in = new java.net.DatagramPacket(new byte[10], 10);
            host.receive(in);
            host.send(new java.net.DatagramPacket(new byte[] {7, 8, 9}, 3, in.getSocketAddress()));
            assertNotNull(g.receive(3000, x -> x.length >= 45 && Frames.u16(x, 12) == 0x0800 && Frames.u8(x, 23) == 17
                    && Frames.u16(x, 34) == host.getLocalPort()), "the host's reply reaches the guest");
            ControlClient c = closing(ControlClient.connect(p.controlPath()));
            Map<String, Object> f = c.flows(null, 100);
            List<?> list = (List<?>) f.get("flows");
            assertEquals(1, list.size(), list.toString());
            Map<?, ?> e = (Map<?, ?>) list.getFirst();
            assertEquals("udp", e.get("proto"));
            assertEquals("outbound", e.get("direction"));
            assertEquals("192.0.2.2:40000", e.get("guest"));
            assertEquals("192.0.2.1:" + host.getLocalPort(), e.get("guest_peer"));
            assertEquals("127.0.0.1:" + host.getLocalPort(), e.get("host_peer"));
            assertTrue((Double) e.get("age_s") >= 0);
            assertEquals(List.of(1L, 1L, 1L, 3L), List.of(e.get("to_host_packets"), e.get("to_host_bytes"),
                    e.get("to_guest_packets"), e.get("to_guest_bytes")), "datagrams and bytes each way: " + e);
            assertEquals(Map.of("open", 1L, "limit", 16384L), ((Map<?, ?>) f.get("totals")).get("udp"));
            assertEquals(List.of(), c.flows("tcp", 100).get("flows"));
        }
    }

    @Test
    void logLevelRaisedForAWhileFallsBackByItself() throws Exception {
        InProcessPasst p = daemon();
        int before = Log.level();
        try {
            ControlClient c = closing(ControlClient.connect(p.controlPath()));
            Map<String, Object> r = c.log("debug", 1);
            assertEquals("debug", r.get("level"));
            assertEquals(Log.DEBUG, Log.level());
            assertTrue(p.await(() -> Log.level() == before, 5000), "still at debug after its second");
            assertEquals(c.log("trace", 0).get("seconds_left"), Json.NULL, "until told");
            assertEquals(Log.TRACE, Log.level());
            c.log("default", 0);
            assertEquals(before, Log.level());
        } finally {
            Log.level(before);
        }
    }

    @Test
    void aWatcherHearsTheGuestComeAndGoAndTheForwardsChange() throws Exception {
        InProcessPasst p = daemon();
        ControlClient c = closing(ControlClient.connect(p.controlPath()));
        LinkedBlockingQueue<Map<String, Object>> events = new LinkedBlockingQueue<>();
        closing(c.watch(events::add));
        GuestLink g = p.connect();
        Map<String, Object> e = events.poll(5, TimeUnit.SECONDS);
        assertNotNull(e);
        assertEquals("guest", e.get("event"));
        assertEquals(Boolean.TRUE, e.get("connected"));
        g.close();
        e = events.poll(5, TimeUnit.SECONDS);
        assertNotNull(e);
        assertEquals(Boolean.FALSE, e.get("connected"));
        c.addForwards(List.of(Integer.toString(RuntimeForwardsTest.freePort())), List.of());
        e = events.poll(5, TimeUnit.SECONDS);
        assertNotNull(e);
        assertEquals("forwards", e.get("event"));
    }
}
