package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.sys.Memory;

/**
 * The frames of one pass over the guest's transmit queue ({@link VhostUserDevice#popTx}), where
 * they lie: frame i is {@link #length}(i) bytes at {@link #offset}(i) of {@link #segment}(i),
 * the virtio-net header already skipped. A frame in one guest buffer (as Linux sends them: the
 * header and the frame in one descriptor, or the header alone in the first) is handed over in
 * guest memory, not copied; one spread over several buffers is copied into this batch's own
 * scratch space, in one piece.
 *
 * The frames stay valid, and their chains the guest's to reuse only after, until
 * {@link VhostUserDevice#releaseTx}: whoever consumes them may keep pointers into them until then
 * (data queued for one sendmsg per connection), never longer.
 *
 * Preallocated, one per consumer, reused for every pass: no allocation per frame.
 */
public final class TxBatch {
    final int[] head;
    final MemorySegment[] seg;
    final long[] off;
    final int[] len;
    int frames;
    final Pieces pieces = new Pieces(Virtqueue.MAX_PIECES);
    final MemorySegment scratch;
    long scratchUsed;
    GuestMemory pinned;
    int generation;

    /**
     * @param maxFrames frames taken in one pass at most (upstream passt takes up to 1024)
     * @param scratchBytes room for the frames that must be copied because they are scattered
     */
    public TxBatch(int maxFrames, int scratchBytes) {
        head = new int[maxFrames];
        seg = new MemorySegment[maxFrames];
        off = new long[maxFrames];
        len = new int[maxFrames];
        scratch = Memory.mmapAnonymous(Math.max(scratchBytes, VhostUserSession.MAX_FRAME), Arena.ofAuto());
    }

    public int capacity() {
        return head.length;
    }

    /** How many frames the last {@link VhostUserDevice#popTx} took. */
    public int frames() {
        return frames;
    }

    public MemorySegment segment(int i) {
        return seg[i];
    }

    public long offset(int i) {
        return off[i];
    }

    public int length(int i) {
        return len[i];
    }

    /** Whether frame i was copied into the scratch space (it was scattered over several buffers). */
    public boolean copied(int i) {
        return seg[i] == scratch;
    }

    void clear() {
        for (int i = 0; i < frames; i++) seg[i] = null;
        frames = 0;
        scratchUsed = 0;
        pieces.clear();
        pinned = null;
    }
}
