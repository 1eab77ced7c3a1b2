package jpasst.link;

import java.lang.foreign.MemorySegment;

/**
 * The frames of one read from the guest, where they lie: for each a segment, an offset and a
 * length. A TCP frame the guest scattered over several buffers (vhost-user) may come as its
 * first buffer, which holds all its headers, and its payload's further pieces as a tail of
 * native addresses and lengths ({@link #tailCount}): the link hands such a frame over only if
 * its checksum is pending (nothing reads its payload but the TCP code, which queues the pieces
 * for the host socket as they lie). The link fills it ({@link #clear}, {@link #add}) and hands
 * it to its {@link Receiver}, which walks it with {@link #next()}; the link then knows how many frames were taken
 * ({@link #taken()}), so that a receiver that throws (a bug) costs the frame it threw on and
 * nothing more: the frames after it are handed over again.
 *
 * One per link, preallocated; hot path: no allocation.
 */
public final class FramesFromGuest {
    /** Frames in one batch at most: as many as TCP can queue for one sendmsg (IOV_MAX). */
    public static final int MAX = 1024;

    private final MemorySegment[] segment = new MemorySegment[MAX];
    private final long[] offset = new long[MAX];
    private final int[] length = new int[MAX];
    private final boolean[] checksumPending = new boolean[MAX];
    /** Tail pieces of all frames at most (a frame of 64 KiB in pages: 16; the link ends a batch when they run out). */
    public static final int MAX_TAIL = 8 * MAX;
    private final int[] headLength = new int[MAX];
    private final int[] firstTail = new int[MAX + 1];
    private final long[] tailAddress = new long[MAX_TAIL];
    private final int[] tailLength = new int[MAX_TAIL];
    private int count, next, tails;

    // ---- the link's side

    /** Empties the batch. */
    public void clear() {
        count = next = tails = 0;
        firstTail[0] = 0;
    }

    /** Whether the batch is full: {@link #add} would fail. */
    public boolean full() {
        return count == MAX;
    }

    /** Adds a frame of {@code len} bytes at {@code off} of {@code s}. */
    public void add(MemorySegment s, long off, int len) {
        add(s, off, len, false);
    }

    /**
     * Adds a frame of {@code len} bytes at {@code off} of {@code s}; {@code checksumPending}: its
     * TCP or UDP checksum was left to the device (vhost-user's NEEDS_CSUM), so it is not checked.
     */
    public void add(MemorySegment s, long off, int len, boolean checksumPending) {
        segment[count] = s;
        offset[count] = off;
        length[count] = len;
        headLength[count] = len;
        this.checksumPending[count] = checksumPending;
        count++;
        firstTail[count] = tails;
    }

    /** Room for more tail pieces. */
    public int tailRoom() {
        return MAX_TAIL - tails;
    }

    /** Appends {@code len} bytes at native address {@code address} to the last frame added, as a tail piece. */
    public void addTail(long address, int len) {
        tailAddress[tails] = address;
        tailLength[tails] = len;
        tails++;
        firstTail[count] = tails;
        length[count - 1] += len;
    }

    /** How many frames the batch holds. */
    public int count() {
        return count;
    }

    /**
     * Walks the batch again from frame {@code i} on (the vhost-user link, after a capture went
     * over it, or after a receiver threw on the frame before {@code i}).
     */
    public void rewind(int i) {
        next = i;
    }

    /** How many frames the receiver took ({@link #next()} returned true for). */
    public int taken() {
        return next;
    }

    // ---- the receiver's side

    /** Moves to the next frame; false when there is none. */
    public boolean next() {
        if (next == count) return false;
        next++;
        return true;
    }

    /** The current frame's segment. */
    public MemorySegment segment() {
        return segment[next - 1];
    }

    /** The current frame's offset in {@link #segment()}. */
    public long offset() {
        return offset[next - 1];
    }

    /** The current frame's length, its tail included. */
    public int length() {
        return length[next - 1];
    }

    /** The bytes of the current frame at {@link #offset()} of {@link #segment()}: all of it, unless it has a tail. */
    public int headLength() {
        return headLength[next - 1];
    }

    /** How many tail pieces the current frame has (0: it lies in one piece). */
    public int tailCount() {
        return firstTail[next] - firstTail[next - 1];
    }

    /** Native address of the current frame's tail piece {@code k}. */
    public long tailAddress(int k) {
        return tailAddress[firstTail[next - 1] + k];
    }

    /** Length of the current frame's tail piece {@code k}. */
    public int tailLength(int k) {
        return tailLength[firstTail[next - 1] + k];
    }

    /** Whether the current frame's transport checksum was left to the device (not to be checked). */
    public boolean checksumPending() {
        return checksumPending[next - 1];
    }
}
