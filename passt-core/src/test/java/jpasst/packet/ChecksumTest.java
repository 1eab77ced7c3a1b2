package jpasst.packet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import org.junit.jupiter.api.Test;

import jpasst.guest.Frames;

/** The eight-bytes-a-step checksum agrees with a byte-pair loop at every length and alignment. */
class ChecksumTest {
    @Test
    void fastSumEqualsReferenceForEveryLengthAndOffset() {
        Random rnd = new Random(42);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(4096);
            byte[] bytes = new byte[4096];
            for (int round = 0; round < 20; round++) {
                rnd.nextBytes(bytes);
                if (round == 0) java.util.Arrays.fill(bytes, (byte) 0xff); // carries everywhere
                MemorySegment.copy(bytes, 0, s, ValueLayout.JAVA_BYTE, 0, bytes.length);
                for (int off = 0; off < 9; off++) {
                    for (int len = 0; len < 300; len++) {
                        int fast = Checksum.finish(Checksum.sum(s, off, len, 0));
                        int ref = ~Checksum.referenceFold(s, off, len, 0) & 0xffff;
                        assertEquals(ref, fast, "off " + off + " len " + len);
                        assertEquals(Frames.checksum(bytes, off, len, 0), fast, "independent loop");
                    }
                }
            }
        }
    }

    @Test
    void fastSumEqualsReferenceForLargeRandomBuffersOnceCompiled() {
        Random rnd = new Random(7);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(65536 + 16);
            byte[] bytes = new byte[(int) s.byteSize()];
            rnd.nextBytes(bytes);
            MemorySegment.copy(bytes, 0, s, ValueLayout.JAVA_BYTE, 0, bytes.length);
            // enough calls for the JIT to compile (and vectorize) the loop; each one checked
            for (int i = 0; i < 3000; i++) {
                int off = rnd.nextInt(16), len = rnd.nextInt(65536);
                assertEquals(~Checksum.referenceFold(s, off, len, 0) & 0xffff,
                        Checksum.finish(Checksum.sum(s, off, len, 0)), "off " + off + " len " + len);
            }
        }
    }

    @Test
    void largeBuffersDoNotOverflowTheAccumulator() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(65536);
            s.fill((byte) 0xff);
            assertEquals(~Checksum.referenceFold(s, 0, 65535, 0) & 0xffff,
                    Checksum.finish(Checksum.sum(s, 0, 65535, 0)));
            long pseudo = Checksum.pseudo6(-1L, -1L, -1L, -1L, 17, 65535);
            assertEquals(~Checksum.referenceFold(s, 0, 65535, pseudo) & 0xffff,
                    Checksum.finish(Checksum.sum(s, 0, 65535, pseudo)));
        }
    }

    @Test
    void rfc1071ExampleSumsTo0xddf2() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(8);
            byte[] b = {0x00, 0x01, (byte) 0xf2, 0x03, (byte) 0xf4, (byte) 0xf5, (byte) 0xf6, (byte) 0xf7};
            MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, 8);
            assertEquals(0xddf2, Checksum.fold(Checksum.sum(s, 0, 8, 0)));
        }
    }

    @Test
    void pseudoHeaderSumMatchesWordByWordSum() {
        int src = 0xc0000202, dst = 0xc6336435;
        long expected = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + 1234;
        assertEquals(Checksum.fold(expected), Checksum.fold(Checksum.pseudo4(src, dst, 17, 1234)));
        long hi = 0x20010db8_00000000L, lo = 0x00000000_00000001L;
        long w = 0;
        for (int i = 0; i < 4; i++) w += (hi >>> (48 - 16 * i)) & 0xffff;
        for (int i = 0; i < 4; i++) w += (lo >>> (48 - 16 * i)) & 0xffff;
        w *= 2;
        w += 58 + 40;
        assertEquals(Checksum.fold(w), Checksum.fold(Checksum.pseudo6(hi, lo, hi, lo, 58, 40)));
    }
}
