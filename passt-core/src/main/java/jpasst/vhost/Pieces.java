package jpasst.vhost;

import java.lang.foreign.MemorySegment;

/**
 * Buffers popped from a virtqueue, described where they lie in guest memory: for each piece the
 * region's segment, the offset in it, the length and the guest-physical address (for the dirty
 * log). A descriptor inside one region is one piece; one that crosses into the next region is
 * two or more. Preallocated arrays, filled by {@link Virtqueue#pop} and reused: nothing is
 * allocated per frame.
 */
final class Pieces {
    final MemorySegment[] seg;
    final long[] off;
    final int[] len;
    final long[] gpa;
    int count;

    Pieces(int capacity) {
        seg = new MemorySegment[capacity];
        off = new long[capacity];
        len = new int[capacity];
        gpa = new long[capacity];
    }

    int capacity() {
        return seg.length;
    }

    void add(MemorySegment s, long o, int l, long g) {
        seg[count] = s;
        off[count] = o;
        len[count] = l;
        gpa[count] = g;
        count++;
    }

    /** The absolute address of byte {@code at} of piece {@code i} (for iovecs). */
    long address(int i, long at) {
        return seg[i].address() + off[i] + at;
    }

    void clear() {
        for (int i = 0; i < count; i++) seg[i] = null;
        count = 0;
    }
}
