package jpasst.guest.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/** The guest side's checksum against the plainest reading of RFC 1071: 16-bit words, byte by byte. */
class InetChecksumTest {
    static int reference(byte[] b, int off, int len, long acc) {
        for (int i = 0; i < len; i += 2) acc += (b[off + i] & 0xff) << 8 | (i + 1 < len ? b[off + i + 1] & 0xff : 0);
        while ((acc >>> 16) != 0) acc = (acc & 0xffff) + (acc >>> 16);
        return (int) (~acc & 0xffff);
    }

    @Test
    void sumsEveryLengthAndOffsetAsTheByteByByteLoop() {
        SplittableRandom rnd = new SplittableRandom(1071);
        byte[] b = new byte[70_000];
        for (int round = 0; round < 2000; round++) {
            rnd.nextBytes(b);
            if (round % 5 == 0) java.util.Arrays.fill(b, (byte) 0xff); // carries everywhere
            int off = rnd.nextInt(16), len = round < 200 ? round : rnd.nextInt(b.length - off);
            long pseudo = rnd.nextInt(1 << 20);
            assertEquals(reference(b, off, len, pseudo),
                    InetChecksum.finish(InetChecksum.sum(MemorySegment.ofArray(b), off, len) + pseudo), "len " + len + " at " + off);
        }
    }

    @Test
    void aChecksummedHeaderSumsToAllOnes() {
        MemorySegment s = MemorySegment.ofArray(new byte[20]);
        Ipv4.write(s, 0, 1500, 7, 64, 6, 0xc0000202, 0xc0000201);
        assertTrue(Ipv4.checksumOk(s, 0));
        Bytes.u8(s, 8, 63);
        assertTrue(!Ipv4.checksumOk(s, 0), "a changed TTL breaks it");
    }

    @Test
    void pseudoHeadersAreTheSumsOfTheirWords() {
        byte[] p4 = {(byte) 192, 0, 2, 2, (byte) 192, 0, 2, 1, 0, 6, 0, 40};
        assertEquals(reference(p4, 0, 12, 0), InetChecksum.finish(InetChecksum.pseudo4(0xc0000202, 0xc0000201, 6, 40)));
        byte[] p6 = new byte[40];
        java.nio.ByteBuffer.wrap(p6).putLong(0x2001_0db8_0001_0000L).putLong(2).putLong(0xfe80_0000_0000_0000L)
                .putLong(0x1234_5678_9abc_def0L).putInt(70_000).putInt(17);
        assertEquals(reference(p6, 0, 40, 0), InetChecksum.finish(InetChecksum.pseudo6(0x2001_0db8_0001_0000L, 2,
                0xfe80_0000_0000_0000L, 0x1234_5678_9abc_def0L, 17, 70_000)));
    }
}
