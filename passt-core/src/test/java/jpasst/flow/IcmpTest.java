package jpasst.flow;

import static jpasst.guest.Frames.GUEST_MAC;
import static jpasst.guest.Frames.OUR_MAC;
import static jpasst.guest.Frames.frame4;
import static jpasst.guest.Frames.frame6;
import static jpasst.guest.Frames.i32;
import static jpasst.guest.Frames.icmp4Echo;
import static jpasst.guest.Frames.mac;
import static jpasst.guest.Frames.u16;
import static jpasst.guest.Frames.u8;
import static jpasst.testutil.InProcessPasst.ADDR;
import static jpasst.testutil.InProcessPasst.GW;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import jpasst.sys.Descriptors;
import jpasst.sys.Processes;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;
import jpasst.guest.Frames;
import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;
import jpasst.util.Log;

/**
 * ICMP echo through ping sockets, on the wire. The tests open ping sockets to everyone by
 * writing {@code net.ipv4.ping_group_range} (root only; restored afterwards), or close them to
 * everyone to see the daemon warn and carry on.
 */
class IcmpTest {
    static final Path PING_RANGE = Path.of("/proc/sys/net/ipv4/ping_group_range");
    static final String OPEN = "0 2147483647", CLOSED = "1 0";

    private final List<AutoCloseable> closers = new CopyOnWriteArrayList<>();
    private String savedRange;

    @BeforeEach
    void saveRange() throws IOException {
        assumeTrue(Files.isWritable(PING_RANGE) && Processes.getuid() == 0, "needs root to set " + PING_RANGE);
        savedRange = Files.readString(PING_RANGE).trim();
    }

    @AfterEach
    void restore() throws Exception {
        for (AutoCloseable c : closers.reversed()) c.close();
        if (savedRange != null) Files.writeString(PING_RANGE, savedRange.replace('\t', ' '));
    }

    private <T extends AutoCloseable> T closing(T c) {
        closers.add(c);
        return c;
    }

    private static void pingRange(String range) throws IOException {
        Files.writeString(PING_RANGE, range);
    }

    private static boolean isEchoReply4(byte[] f) {
        return f.length >= 42 && u16(f, 12) == 0x0800 && u8(f, 23) == 1 && u8(f, 34) == 0;
    }

    /** This process's ping sockets (the host's others come and go with whatever else runs there). */
    private static long pingSockets() throws IOException {
        java.util.Set<String> inodes = new java.util.HashSet<>();
        List<String> table = Files.readAllLines(Path.of("/proc/net/icmp"));
        for (String l : table.subList(1, table.size())) inodes.add(l.strip().split("\\s+")[9]);
        long n = 0;
        try (java.util.stream.Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[") && inodes.contains(target.substring(8, target.length() - 1))) n++;
                } catch (IOException gone) {
                    // closed meanwhile (the listing's own descriptor)
                }
            }
        }
        return n;
    }

    @Test
    void pingToGatewayIsAnsweredWithTheGuestsIdSequenceAndPayload() throws Exception {
        pingRange(OPEN);
        pingToGateway(closing(new InProcessPasst()));
    }

    /**
     * The same over vhost-user: the reply is one frame copied into the guest's receive buffers,
     * reserved for the largest message the ping socket could return (most of it goes back), and
     * each read that finds nothing more leaves its reservation uncommitted, which must not keep
     * the next one from being made.
     */
    @Test
    void pingToGatewayOverVhostUserIsAnsweredEveryTime() throws Exception {
        pingRange(OPEN);
        pingToGateway(closing(InProcessPasst.vhostUser(c -> { }, null)));
    }

    /**
     * A guest that took checksum offload may mark any frame NEEDS_CSUM (Linux does not for ICMP,
     * but the flag is the guest's to set): an IPv4 echo request so marked is not checked against
     * IPv6's pseudo-header, and is answered.
     */
    @Test
    void anEchoRequestMarkedNeedsCsumOverVhostUserIsAnswered() throws Exception {
        pingRange(OPEN);
        InProcessPasst p = closing(InProcessPasst.vhostUser(c -> { }, null));
        p.frontEndOptions.checksumOffload = true;
        GuestLink g = closing(p.connect());
        byte[] payload = "abcdefghijklmnopqrstuvwxyz012345".getBytes(StandardCharsets.US_ASCII);
        g.frontEnd().sendLeavingChecksum(frame4(icmp4Echo(ADDR, GW, 0x4343, 1, payload)), 14 + 20, 2);
        assertNotNull(g.receive(3000, IcmpTest::isEchoReply4), "no echo reply");
    }

    private void pingToGateway(InProcessPasst p) throws Exception {
        GuestLink g = closing(p.connect());
        byte[] payload = "abcdefghijklmnopqrstuvwxyz012345".getBytes(StandardCharsets.US_ASCII);
        for (int seq = 1; seq <= 3; seq++) {
            g.send(frame4(icmp4Echo(ADDR, GW, 0x4242, seq, payload)));
            byte[] f = g.receive(3000, IcmpTest::isEchoReply4);
            assertNotNull(f, "no echo reply for seq " + seq);
            assertEquals(GUEST_MAC, mac(f, 0));
            assertEquals(OUR_MAC, mac(f, 6));
            assertEquals(0, Frames.checksum(f, 14, 20, 0), "IPv4 header checksum");
            assertEquals(GW, i32(f, 26), "reply from the gateway");
            assertEquals(ADDR, i32(f, 30));
            assertEquals(0x4242, u16(f, 38), "the guest's echo identifier");
            assertEquals(seq, u16(f, 40), "the guest's sequence number");
            assertEquals(0, Frames.checksum(f, 34, f.length - 34, 0), "ICMP checksum");
            assertArrayEquals(payload, Arrays.copyOfRange(f, 42, f.length));
        }
        assertEquals(1, p.query(() -> p.passt.icmp.active()), "one flow for one identifier and destination");
        assertFalse(p.query(() -> p.passt.icmp.warned()));
    }

    @Test
    void repliesCarryTheGuestsIdEvenWhenTheKernelGaveTheSocketAnother() throws Exception {
        pingRange(OPEN);
        int id = 0x7777;
        // a ping socket of our own holds identifier 0x7777, so the kernel gives jpasst another
        int mine = Sockets.socket(Sockets.AF_INET, Sockets.SOCK_DGRAM | Sockets.SOCK_CLOEXEC, Sockets.IPPROTO_ICMP);
        assertTrue(mine >= 0, "ping socket: " + mine);
        closing(() -> Descriptors.close(mine));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = a.allocate(SockAddr.STORAGE);
            assertEquals(0, Sockets.bind(mine, sa, SockAddr.in4(sa, 0, id)));
        }
        InProcessPasst p = closing(new InProcessPasst());
        GuestLink g = closing(p.connect());
        g.send(frame4(icmp4Echo(ADDR, GW, id, 9, new byte[16])));
        byte[] f = g.receive(3000, IcmpTest::isEchoReply4);
        assertNotNull(f, "no echo reply");
        assertNotEquals(id, p.query(() -> p.passt.icmp.kernelId(0)), "the kernel's identifier is another one");
        assertEquals(id, u16(f, 38), "mapped back to the guest's identifier");
        assertEquals(9, u16(f, 40));
        assertEquals(0, Frames.checksum(f, 34, f.length - 34, 0), "ICMP checksum after the rewrite");

        // another identifier to the same destination is another flow
        g.send(frame4(icmp4Echo(ADDR, GW, id + 1, 1, new byte[16])));
        f = g.receive(3000, IcmpTest::isEchoReply4);
        assertNotNull(f);
        assertEquals(id + 1, u16(f, 38));
        assertEquals(2, p.query(() -> p.passt.icmp.active()));
    }

    @Test
    void idleEchoFlowsExpireAndCloseTheirPingSockets() throws Exception {
        pingRange(OPEN);
        InProcessPasst p = closing(new InProcessPasst(c -> c.icmpTimeoutSeconds = 1));
        GuestLink g = closing(p.connect());
        long before = pingSockets();
        g.send(frame4(icmp4Echo(ADDR, GW, 1, 1, new byte[8])));
        assertNotNull(g.receive(3000, IcmpTest::isEchoReply4));
        assertEquals(before + 1, pingSockets());
        assertTrue(p.await(() -> p.passt.icmp.active() == 0, 4000), "echo flow still open");
        assertEquals(before, pingSockets(), "the ping socket is closed");
        assertEquals(1, p.query(() -> p.passt.icmp.expired()));
    }

    @Test
    void refusedPingSocketsGiveOneWarningAndTheDaemonCarriesOn() throws Exception {
        pingRange(CLOSED);
        Path log = Files.createTempFile("jpasst-icmp", ".log");
        closing(() -> Files.deleteIfExists(log));
        Log.toFile(log.toString(), 1 << 20);
        InProcessPasst p = closing(new InProcessPasst());
        GuestLink g = closing(p.connect());
        for (int seq = 1; seq <= 3; seq++) g.send(frame4(icmp4Echo(ADDR, GW, 5, seq, new byte[8])));
        assertNull(g.receive(700, IcmpTest::isEchoReply4));
        assertTrue(p.await(() -> p.passt.icmp.refused() == 3, 2000));
        assertTrue(p.query(() -> p.passt.icmp.warned()));
        String text = Files.readString(log);
        assertEquals(1, text.lines().filter(l -> l.contains("Cannot open \"ping\" socket")).count(), text);
        assertEquals(1, text.lines().filter(l -> l.contains("net.ipv4.ping_group_range")).count(), text);
        assertEquals(0, p.query(() -> p.passt.loop.failures()));

        // the sysctl fixed, echo works without a restart
        pingRange(OPEN);
        g.send(frame4(icmp4Echo(ADDR, GW, 5, 4, new byte[8])));
        byte[] f = g.receive(3000, IcmpTest::isEchoReply4);
        assertNotNull(f, "no reply once ping sockets are allowed");
        assertEquals(4, u16(f, 40));
    }

    @Test
    void malformedOrNonEchoMessagesAreDroppedQuietly() throws Exception {
        pingRange(OPEN);
        InProcessPasst p = closing(new InProcessPasst());
        GuestLink g = closing(p.connect());
        byte[] good = icmp4Echo(ADDR, GW, 3, 1, new byte[8]);
        byte[] badSum = good.clone();
        badSum[20 + 2] ^= 0x11;
        g.send(frame4(badSum));
        g.send(frame4(Frames.ip4(1, ADDR, GW, Frames.echo(13, 3, 1, new byte[12], 0)))); // timestamp
        g.send(frame4(Frames.ip4(1, ADDR, GW, new byte[] {8, 0, 0, 0})));                 // 4 bytes
        g.send(frame4(Frames.ip4(1, ADDR, 0xffffffff, Frames.echo(8, 3, 1, new byte[8], 0)))); // broadcast
        assertNull(g.receive(500, IcmpTest::isEchoReply4));
        assertEquals(0, p.query(() -> p.passt.icmp.active()));
        g.send(frame4(good));
        assertNotNull(g.receive(3000, IcmpTest::isEchoReply4), "a good request still works");
        assertEquals(0, p.query(() -> p.passt.loop.failures()));
    }

    @Test
    void noIcmpIgnoresEchoRequests() throws Exception {
        pingRange(OPEN);
        InProcessPasst p = closing(new InProcessPasst(c -> c.noIcmp = true));
        GuestLink g = closing(p.connect());
        g.send(frame4(icmp4Echo(ADDR, GW, 3, 1, new byte[8])));
        assertNull(g.receive(700, IcmpTest::isEchoReply4));
        assertEquals(0, p.query(() -> p.passt.icmp.active()));
    }

    @Test
    void icmpv6EchoToGatewayIsAnsweredByHostLoopback() throws Exception {
        pingRange(OPEN);
        byte[] guest = InProcessPasst.ADDR6, gw = InProcessPasst.GW6;
        InProcessPasst p = closing(new InProcessPasst(c -> {
            InProcessPasst.ipv6(c);
            c.noNdp = c.noRa = c.noDhcpv6 = true;
        }));
        GuestLink g = closing(p.connect());
        g.send(frame6(Frames.icmp6Echo(guest, gw, 0x0606, 2, "v6 ping".getBytes(StandardCharsets.US_ASCII))));
        byte[] f = g.receive(3000, x -> x.length >= 62 && u16(x, 12) == 0x86dd && u8(x, 20) == 58 && u8(x, 54) == 129);
        assumeTrue(f != null || p.query(() -> p.passt.icmp.sendErrors()) == 0, "no IPv6 loopback here");
        assertNotNull(f, "no ICMPv6 echo reply");
        assertArrayEquals(gw, Arrays.copyOfRange(f, 22, 38));
        assertArrayEquals(guest, Arrays.copyOfRange(f, 38, 54));
        assertEquals(0x0606, u16(f, 58));
        assertEquals(2, u16(f, 60));
        int len = f.length - 54;
        assertEquals(0, Frames.checksum(f, 54, len, Frames.pseudo6(gw, guest, 58, len)), "ICMPv6 checksum");
        assertEquals("v6 ping", new String(f, 62, len - 8, StandardCharsets.US_ASCII));
    }
}
