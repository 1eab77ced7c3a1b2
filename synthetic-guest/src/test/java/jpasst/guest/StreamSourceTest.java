package jpasst.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import jpasst.guest.net.InetChecksum;

/** The pattern stream's closed-form checksum is the checksum of the bytes it writes. */
class StreamSourceTest {
    @Test
    void thePatternsSumIsTheSumOfItsBytesAtEveryOffsetAndLength() {
        MemorySegment s = Arena.ofAuto().allocate(70_000);
        for (long off : new long[] {0, 1, 2, 3, 65535, 1L << 40, (1L << 40) + 1}) {
            for (int len : new int[] {0, 1, 2, 3, 1460, 1461, 65480, 65535}) {
                StreamSource.PATTERN.copy(off, s, 0, len);
                for (int i = 0; i < len; i++) {
                    assertEquals(StreamSource.patternByte(off + i), s.get(ValueLayout.JAVA_BYTE, i) & 0xff);
                }
                assertEquals(InetChecksum.fold(InetChecksum.sum(s, 0, len)), InetChecksum.fold(StreamSource.PATTERN.sum(off, len)),
                        len + " bytes from " + off);
            }
        }
    }
}
