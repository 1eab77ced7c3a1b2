package jpasst.control;

import static jpasst.guest.Frames.u16;
import static jpasst.guest.Frames.u8;
import static jpasst.guest.GuestTcp.ACK;
import static jpasst.guest.GuestTcp.RST;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ConnectException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import jpasst.guest.GuestLink;
import jpasst.guest.GuestTcp;
import jpasst.guest.GuestTcp.Conn;
import jpasst.testutil.InProcessPasst;

/**
 * Forwards changed on a live daemon through its control socket ({@link ControlClient} over the
 * real socket, {@code jpasst.flow.Forwards} behind it): a port added accepts connections for the
 * guest at once, a port removed is free on the host at once while the connection it accepted runs
 * on, a change that cannot bind everything changes nothing.
 */
class RuntimeForwardsTest {
    private final List<AutoCloseable> closers = new CopyOnWriteArrayList<>();
    private static int nextGuestPort = 7000;

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : closers.reversed()) c.close();
    }

    private <T extends AutoCloseable> T closing(T c) {
        closers.add(c);
        return c;
    }

    private record Rig(InProcessPasst p, GuestTcp g, ControlClient ctl) {}

    /** A daemon with a control socket, a guest whose MAC it knows, a client on the control socket. */
    private Rig rig() throws Exception {
        return rig(InProcessPasst::control);
    }

    private Rig rig(java.util.function.Consumer<jpasst.conf.Conf.Builder> conf) throws Exception {
        InProcessPasst p = closing(new InProcessPasst(conf));
        GuestTcp g = new GuestTcp(closing(p.connect()));
        assertTrue(p.await(p.passt.link::connected, 2000));
        g.link().send(g.conn4(1, 1).frame(0, 0, RST, 0, new byte[0], new byte[0])); // the daemon learns our MAC
        ControlClient ctl = closing(ControlClient.connect(p.controlPath()));
        return new Rig(p, g, ctl);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static synchronized int guestPort() {
        return nextGuestPort++;
    }

    private static boolean portFree(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress("0.0.0.0", port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean refused(int port) {
        try (Socket s = new Socket("127.0.0.1", port)) {
            return false;
        } catch (ConnectException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** An established connection from the host through forwarded {@code hostPort} to the guest's {@code guestPort}. */
    private record Established(Socket s, Conn c) {}

    private Established connect(Rig r, int hostPort, int guestPort) throws Exception {
        Socket s = closing(new Socket("127.0.0.1", hostPort));
        s.setSoTimeout(3000);
        Conn c = r.g.acceptSyn(guestPort, 2000);
        assertNotNull(c, "no SYN into the guest for port " + guestPort);
        c.synAck(1460, 7);
        assertNotNull(c.receiveWith(ACK, 2000), "no ACK of our SYN-ACK");
        return new Established(s, c);
    }

    private static void exchange(Established e, String toGuest, String toHost) throws IOException {
        e.s.getOutputStream().write(toGuest.getBytes(StandardCharsets.US_ASCII));
        assertEquals(toGuest, new String(e.c.receiveData(toGuest.length(), 2000), StandardCharsets.US_ASCII));
        e.c.sendData(toHost.getBytes(StandardCharsets.US_ASCII));
        assertEquals(toHost, new String(e.s.getInputStream().readNBytes(toHost.length()), StandardCharsets.US_ASCII));
    }

    private static List<String> specs(ControlClient ctl, String proto) throws IOException {
        return ctl.forwards().stream().filter(f -> proto.equals(f.get("proto"))).map(f -> (String) f.get("spec")).toList();
    }

    @Test
    void forwardAddedAtRunTimeTakesConnectionsToTheGuestPort() throws Exception {
        Rig r = rig();
        int host = freePort(), guest = guestPort();
        Map<String, Object> added = r.ctl.addForwards(List.of(host + ":" + guest), List.of());
        assertEquals(1L, added.get("sockets_added"), "IPv4 only: one socket");
        assertEquals(List.of(host + ":" + guest), specs(r.ctl, "tcp"));
        exchange(connect(r, host, guest), "ping", "pong");
        assertEquals(1L, r.p.query(() -> r.p.passt.tcpListeners.accepted()));
    }

    /**
     * With both address families on, a port added on any address is one dual-stack socket (as
     * at launch, as passt), listed with both families; a replace keeps it. A port whose IPv4
     * side is taken falls back to a socket per family, and both must bind: nothing changes.
     */
    @Test
    void withBothFamiliesAForwardAddedAtRunTimeIsOneDualStackSocket() throws Exception {
        Rig r = rig(c -> {
            InProcessPasst.control(c);
            InProcessPasst.ipv6(c);
        });
        int host = freePort(), guest = guestPort();
        assertEquals(1L, r.ctl.addForwards(List.of(host + ":" + guest), List.of()).get("sockets_added"));
        List<Map<String, Object>> rules = r.ctl.forwards();
        assertEquals(1, rules.size());
        assertEquals(List.of("ipv4", "ipv6"), rules.get(0).get("families"));
        assertEquals(1L, rules.get(0).get("sockets"));
        exchange(connect(r, host, guest), "over", "ipv4");
        assertEquals(Map.of("sockets_added", 0L, "sockets_kept", 1L, "sockets_removed", 0L),
                r.ctl.replaceForwards(List.of(host + ":" + guest), null));
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("127.0.0.1", 0));
            int busy = taken.getLocalPort();
            ControlClient.ControlException x = assertThrows(ControlClient.ControlException.class,
                    () -> r.ctl.addForwards(List.of(busy + ":" + guest), List.of()));
            assertTrue(x.getMessage().startsWith("Failed to bind TCP port " + busy + " (IPv4): Address already in use"),
                    x.getMessage());
        }
        assertEquals(List.of(host + ":" + guest), specs(r.ctl, "tcp"), "unchanged");
    }

    @Test
    void removedForwardFreesThePortAtOnceAndItsConnectionRunsOn() throws Exception {
        Rig r = rig();
        int host = freePort(), guest = guestPort();
        r.ctl.addForwards(List.of(host + ":" + guest), List.of());
        Established e = connect(r, host, guest);
        assertEquals(1L, r.ctl.removeForwards(List.of(Integer.toString(host)), List.of()).get("sockets_removed"));
        assertEquals(List.of(), specs(r.ctl, "tcp"));
        assertTrue(refused(host), "a new connection to the removed port is refused");
        assertTrue(portFree(host), "the port is free on the host");
        exchange(e, "still", "here");
        e.c.fin();
        assertEquals(-1, e.s.getInputStream().read(), "the guest's FIN reaches the host");
    }

    @Test
    void replaceThatCannotBindOneSocketLeavesTheOldSetAsItWas() throws Exception {
        Rig r = rig();
        int old = freePort(), fresh = freePort(), guest = guestPort();
        r.ctl.addForwards(List.of(old + ":" + guest), List.of());
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("0.0.0.0", 0));
            int busy = taken.getLocalPort();
            ControlClient.ControlException x = assertThrows(ControlClient.ControlException.class,
                    () -> r.ctl.replaceForwards(List.of(old + ":" + guest, fresh + ":" + guest, busy + ":" + guest), null));
            assertTrue(x.getMessage().startsWith("Failed to bind TCP port " + busy + " (IPv4): Address already in use"),
                    x.getMessage());
        }
        assertEquals(List.of(old + ":" + guest), specs(r.ctl, "tcp"), "the old set, unchanged");
        assertTrue(portFree(fresh), "the socket bound for the failed replace is closed again");
        exchange(connect(r, old, guest), "old", "works");
        assertEquals(1L, r.p.query(() -> r.p.passt.forwards.failed()));
    }

    @Test
    void replaceKeepsTheSocketsOfForwardsThatStayAndSendsThemToTheNewGuestPort() throws Exception {
        Rig r = rig();
        int host = freePort(), gone = freePort(), first = guestPort(), second = guestPort();
        r.ctl.addForwards(List.of(host + ":" + first, Integer.toString(gone)), List.of());
        Map<String, Object> rep = r.ctl.replaceForwards(List.of(host + ":" + second), null);
        assertEquals(Map.of("sockets_added", 0L, "sockets_kept", 1L, "sockets_removed", 1L), rep);
        assertTrue(portFree(gone));
        exchange(connect(r, host, second), "to", "second");
    }

    @Test
    void udpForwardAddedAndRemovedAtRunTime() throws Exception {
        Rig r = rig();
        int host;
        try (DatagramSocket probe = new DatagramSocket(0)) {
            host = probe.getLocalPort();
        }
        r.ctl.addForwards(List.of(), List.of(host + ":5353"));
        assertEquals(List.of(host + ":5353"), specs(r.ctl, "udp"));
        GuestLink link = r.g.link();
        try (DatagramSocket sender = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            sender.send(new DatagramPacket(new byte[] {1, 2, 3}, 3, InetAddress.getByName("127.0.0.1"), host));
            byte[] f = link.receive(3000, x -> x.length >= 42 && u16(x, 12) == 0x0800 && u8(x, 23) == 17
                    && u16(x, 34) == sender.getLocalPort());
            assertNotNull(f, "no datagram in the guest");
            assertEquals(5353, u16(f, 36));
        }
        assertEquals(1, (int) r.p.query(() -> r.p.passt.udp.active()));
        r.ctl.removeForwards(List.of(), List.of(Integer.toString(host)));
        assertEquals(0, (int) r.p.query(() -> r.p.passt.udp.active()), "its inbound flow went with it");
        try (DatagramSocket again = new DatagramSocket(new InetSocketAddress("0.0.0.0", host))) {
            assertEquals(host, again.getLocalPort(), "the port is free on the host");
        }
    }

    @Test
    void badChangesAreRefusedWithTheReasonAndChangeNothing() throws Exception {
        Rig r = rig();
        int host = freePort();
        r.ctl.addForwards(List.of(Integer.toString(host)), List.of());
        assertEquals("Invalid port specifier 70000", refusal(() -> r.ctl.addForwards(List.of("70000"), List.of())));
        assertEquals("TCP port " + host + " (IPv4) is forwarded already",
                refusal(() -> r.ctl.addForwards(List.of(freePort() + "," + host), List.of())));
        int other = freePort();
        assertEquals("TCP port " + other + " is not forwarded: nothing removed",
                refusal(() -> r.ctl.removeForwards(List.of(host + "," + other), List.of())));
        assertEquals("'auto' port forwarding is only allowed for pasta", refusal(() -> r.ctl.replaceForwards(List.of("auto"), null)));
        assertEquals(List.of(Integer.toString(host)), specs(r.ctl, "tcp"));
        assertTrue(refusal(() -> r.ctl.request("forward.add", Map.of("tcp", List.of(1L)))).contains("must hold strings"));
        assertTrue(refusal(() -> r.ctl.request("forward.add", Map.of("tcpp", List.of("1")))).contains("unknown member \"tcpp\""));
    }

    @Test
    void listGathersConsecutivePortsIntoRanges() throws Exception {
        Rig r = rig();
        int base;
        // ten free ports in a row, below the ephemeral range
        for (base = 21000; ; base += 10) {
            boolean all = true;
            for (int i = 0; i < 10 && all; i++) all = portFree(base + i);
            if (all) break;
        }
        int b = base;
        List<String> one = new java.util.ArrayList<>();
        for (int i = 0; i < 10; i++) one.add(i == 4 ? Integer.toString(b + i) : (b + i) + ":" + (b + 100 + i));
        r.ctl.addForwards(one, List.of());
        assertEquals(List.of(b + "-" + (b + 3) + ":" + (b + 100) + "-" + (b + 103), Integer.toString(b + 4),
                (b + 5) + "-" + (b + 9) + ":" + (b + 105) + "-" + (b + 109)), specs(r.ctl, "tcp"));
        r.ctl.removeForwards(List.of(b + "-" + (b + 9)), List.of());
        assertEquals(List.of(), specs(r.ctl, "tcp"));
    }

    interface Call {
        void run() throws IOException;
    }

    private static String refusal(Call c) {
        return assertThrows(ControlClient.ControlException.class, c::run).getMessage();
    }
}
