package jpasst.guest;

import java.lang.foreign.MemorySegment;

/**
 * What a TCP connection of the {@link GuestStack} sends: the bytes of its stream by offset, so a
 * retransmission needs no copy kept. {@link #PATTERN} is a two-byte pattern whose checksum is
 * known in closed form (the bulk benchmarks: the guest must cost little next to the daemon it
 * measures); {@link #of(byte[])} sends an array.
 */
public interface StreamSource {
    /** Writes the {@code len} bytes of the stream from offset {@code off} into {@code dst} at {@code at}. */
    void copy(long off, MemorySegment dst, long at, int len);

    /**
     * The partial checksum (unfolded sum of big-endian words, {@code at} even) of those bytes
     * when the source knows it without reading them; -1 if they are to be summed.
     */
    default long sum(long off, int len) {
        return -1;
    }

    int PATTERN_EVEN = 0x5a, PATTERN_ODD = 0xc3;

    /** Byte {@code i} of the stream is {@code 0x5a} if {@code i} is even, else {@code 0xc3}. */
    StreamSource PATTERN = new StreamSource() {
        private final MemorySegment pattern = patternBytes();

        @Override
        public void copy(long off, MemorySegment dst, long at, int len) {
            MemorySegment.copy(pattern, off & 1, dst, at, len);
        }

        @Override
        public long sum(long off, int len) {
            long word = (off & 1) == 0 ? (PATTERN_EVEN << 8 | PATTERN_ODD) : (PATTERN_ODD << 8 | PATTERN_EVEN);
            long s = (long) (len >>> 1) * word;
            if ((len & 1) != 0) s += (long) (((off + len - 1) & 1) == 0 ? PATTERN_EVEN : PATTERN_ODD) << 8;
            return s;
        }
    };

    /** The pattern's byte at stream offset {@code off}. */
    static int patternByte(long off) {
        return (off & 1) == 0 ? PATTERN_EVEN : PATTERN_ODD;
    }

    private static MemorySegment patternBytes() {
        MemorySegment p = java.lang.foreign.Arena.global().allocate(65536 + 64, 64);
        for (int i = 0; i < p.byteSize(); i++) p.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) patternByte(i));
        return p;
    }

    /** The bytes of {@code data}, then nothing. */
    static StreamSource of(byte[] data) {
        MemorySegment s = MemorySegment.ofArray(data);
        return (off, dst, at, len) -> MemorySegment.copy(s, off, dst, at, len);
    }
}
