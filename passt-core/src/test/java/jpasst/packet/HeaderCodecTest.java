package jpasst.packet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import jpasst.guest.Frames;

/** Each header flyweight reads what an independent encoder wrote, and writes what it reads. */
class HeaderCodecTest {
    private static MemorySegment seg(Arena a, byte[] b, int at) {
        MemorySegment s = a.allocate(b.length + at + 8);
        MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, at, b.length);
        return s;
    }

    @Test
    void ethernetFieldsAtAnyOffset() {
        byte[] f = Frames.eth(0x0102_0304_0506L, 0xa1a2_a3a4_a5a6L, 0x86dd, new byte[4]);
        try (Arena a = Arena.ofConfined()) {
            for (int at = 0; at < 4; at++) {
                MemorySegment s = seg(a, f, at);
                assertEquals(0x0102_0304_0506L, Eth.dst(s, at));
                assertEquals(0xa1a2_a3a4_a5a6L, Eth.src(s, at));
                assertEquals(Eth.TYPE_IPV6, Eth.type(s, at));
            }
        }
    }

    @Test
    void ipv4AndUdpFieldsAndChecksums() {
        int src = Frames.ip("192.0.2.2"), dst = Frames.ip("198.51.100.9");
        byte[] p = Frames.udp4(src, 40000, dst, 53, new byte[] {1, 2, 3, 4, 5});
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = seg(a, p, 1);
            assertEquals(4, Ip4.version(s, 1));
            assertEquals(20, Ip4.headerLength(s, 1));
            assertEquals(33, Ip4.totalLength(s, 1));
            assertEquals(64, Ip4.ttl(s, 1));
            assertEquals(17, Ip4.proto(s, 1));
            assertEquals(src, Ip4.src(s, 1));
            assertEquals(dst, Ip4.dst(s, 1));
            assertTrue(Ip4.checksumOk(s, 1));
            assertFalse(Ip4.isFragment(s, 1));
            assertEquals(40000, UdpHdr.srcPort(s, 21));
            assertEquals(53, UdpHdr.dstPort(s, 21));
            assertEquals(13, UdpHdr.length(s, 21));
            assertTrue(UdpHdr.checksumOk4(s, 21, 13, src, dst));
            s.set(ValueLayout.JAVA_BYTE, 30, (byte) 9); // corrupt the payload
            assertFalse(UdpHdr.checksumOk4(s, 21, 13, src, dst));
            s.set(ValueLayout.JAVA_BYTE, 9, (byte) 63); // and the TTL
            assertFalse(Ip4.checksumOk(s, 1));
        }
    }

    @Test
    void writtenIpv4UdpDatagramEqualsIndependentEncoding() {
        int src = Frames.ip("192.0.2.1"), dst = Frames.ip("192.0.2.2");
        byte[] payload = "hello".getBytes();
        byte[] expected = Frames.udp4(src, 67, dst, 68, payload);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(64);
            MemorySegment.copy(payload, 0, s, ValueLayout.JAVA_BYTE, 28, payload.length);
            Ip4.write(s, 0, 33, 1, 64, 17, src, dst);
            UdpHdr.write(s, 20, 67, 68, 13);
            UdpHdr.checksum4(s, 20, 13, src, dst);
            byte[] got = s.asSlice(0, 33).toArray(ValueLayout.JAVA_BYTE);
            assertEquals(java.util.HexFormat.of().formatHex(expected), java.util.HexFormat.of().formatHex(got));
        }
    }

    @Test
    void writtenHeadersReadBackWithAValidChecksumAndTheirNeighboursUntouched() {
        java.util.Random random = new java.util.Random(42);
        int[] edge = {0, 1, 0xff, 0x7fff, 0x8000, 0xffff};
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(80);
            for (int round = 0; round < 2000; round++) {
                int at = round % 5;
                int totalLength = round < edge.length ? edge[round] : random.nextInt(0x10000);
                int id = round < edge.length ? edge[edge.length - 1 - round] : random.nextInt(0x10000);
                int ttl = random.nextInt(256), proto = random.nextInt(256);
                int src = round < edge.length ? -1 : random.nextInt(), dst = random.nextInt();
                long mac1 = random.nextLong() >>> 16, mac2 = random.nextLong() >>> 16;
                int sport = random.nextInt(0x10000), dport = random.nextInt(0x10000);
                int seq = random.nextInt(), ack = random.nextInt(), window = random.nextInt(0x10000);
                s.fill((byte) 0x5a);
                Eth.write(s, at, mac1, mac2, Eth.TYPE_IPV4);
                Ip4.write(s, at + 14, totalLength, id, ttl, proto, src, dst);
                TcpHdr.write(s, at + 34, sport, dport, seq, ack, 20, TcpHdr.ACK_FLAG | TcpHdr.PSH, window);
                assertEquals(mac1, Eth.dst(s, at));
                assertEquals(mac2, Eth.src(s, at));
                assertEquals(Eth.TYPE_IPV4, Eth.type(s, at));
                assertEquals(4, Ip4.version(s, at + 14));
                assertEquals(20, Ip4.headerLength(s, at + 14));
                assertEquals(totalLength, Ip4.totalLength(s, at + 14));
                assertEquals(Ip4.FLAG_DF, Ip4.frag(s, at + 14));
                assertEquals(ttl, Ip4.ttl(s, at + 14));
                assertEquals(proto, Ip4.proto(s, at + 14));
                assertEquals(src, Ip4.src(s, at + 14));
                assertEquals(dst, Ip4.dst(s, at + 14));
                assertTrue(Ip4.checksumOk(s, at + 14), "round " + round);
                assertEquals(sport, TcpHdr.srcPort(s, at + 34));
                assertEquals(dport, TcpHdr.dstPort(s, at + 34));
                assertEquals(seq, TcpHdr.seq(s, at + 34));
                assertEquals(ack, TcpHdr.ack(s, at + 34));
                assertEquals(20, TcpHdr.headerLength(s, at + 34));
                assertEquals(TcpHdr.ACK_FLAG | TcpHdr.PSH, TcpHdr.flags(s, at + 34));
                assertEquals(window, TcpHdr.window(s, at + 34));
                assertEquals(0, Net.i32(s, at + 34 + 16)); // checksum and urgent pointer
                for (int i = 0; i < 80; i++) {
                    if (i < at || i >= at + 54) assertEquals((byte) 0x5a, s.get(ValueLayout.JAVA_BYTE, i), "byte " + i);
                }
            }
        }
    }

    @Test
    void fragmentsAreRecognised() {
        byte[] p = Frames.udp4(1, 2, 3, 4, new byte[8]);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = seg(a, p, 0);
            Net.u16(s, 6, Ip4.FLAG_MF);
            assertTrue(Ip4.isFragment(s, 0));
            Net.u16(s, 6, 100);
            assertTrue(Ip4.isFragment(s, 0));
            Net.u16(s, 6, Ip4.FLAG_DF);
            assertFalse(Ip4.isFragment(s, 0));
        }
    }

    @Test
    void arpRequestFields() {
        byte[] f = Frames.arpRequest(0x5254_0012_3456L, Frames.ip("192.0.2.2"), Frames.ip("192.0.2.1"));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = seg(a, f, 0);
            assertEquals(ArpHdr.HTYPE_ETHER, ArpHdr.htype(s, 14));
            assertEquals(Eth.TYPE_IPV4, ArpHdr.ptype(s, 14));
            assertEquals(ArpHdr.OP_REQUEST, ArpHdr.op(s, 14));
            assertEquals(0x5254_0012_3456L, ArpHdr.sha(s, 14));
            assertEquals(Frames.ip("192.0.2.2"), ArpHdr.spa(s, 14));
            assertEquals(Frames.ip("192.0.2.1"), ArpHdr.tpa(s, 14));
        }
    }

    @Test
    void macAddressesParseAndPrint() {
        assertEquals(0x9a559a559a55L, Net.parseMac("9a:55:9a:55:9a:55"));
        assertEquals("9a:55:9a:55:9a:55", Net.macString(0x9a559a559a55L));
        assertEquals("00:01:02:0a:0b:ff", Net.macString(Net.parseMac("0:1:2:a:b:ff")));
        assertThrows(IllegalArgumentException.class, () -> Net.parseMac("9a:55:9a:55:9a"));
        assertThrows(IllegalArgumentException.class, () -> Net.parseMac("9a:55:9a:55:9a:zz"));
    }
}
