package jpasst.guest.vhost;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static jpasst.guest.vhost.Wire.LE16;
import static jpasst.guest.vhost.Wire.LE32;
import static jpasst.guest.vhost.Wire.LE64;

/**
 * One split virtqueue seen from the driver (the guest's side, virtio 1.x 2.7): the descriptor
 * table, the available ring it fills and the used ring the device fills, laid out in
 * {@link GuestRam} as a guest driver lays them out (page-aligned, in the first region).
 *
 * {@link #add} writes a chain of descriptors and its entry in the available ring, {@link #publish}
 * makes the entries added since visible (a release fence, then avail->idx), {@link #kickWanted}
 * says whether the device wants to be kicked (a full fence, then used->flags), and
 * {@link #nextUsed} takes the device's next used entry after an acquire fence on used->idx,
 * checking it: a head that was never made available, or a length past the chain's buffers, is
 * the back-end's bug and throws.
 *
 * For the hostile front-end: descriptors, ring entries and indices can be written raw
 * ({@link #rawDescriptor}, {@link #rawAvail}, {@link #rawAvailIndex}), past every rule.
 *
 * Frame path: no allocation.
 */
public final class SplitRing {
    final GuestRam ram;
    final int size;
    final long descOff, availOff, usedOff;
    private final MemorySegment desc, avail, used;
    private final int[] next;
    private final boolean[] hasNext, outstanding;
    private final long[] chainBytes;
    private int freeHead, free;
    private int availIdx, lastUsed;
    private int lastLen;

    public SplitRing(GuestRam ram, int size) {
        if (size < 2 || size > 32768 || (size & (size - 1)) != 0) throw new IllegalArgumentException("ring of " + size);
        this.ram = ram;
        this.size = size;
        descOff = ram.alloc((long) Wire.DESC_SIZE * size, 4096, false);
        availOff = ram.alloc(6 + 2L * size, 4096, false);
        usedOff = ram.alloc(6 + 8L * size, 4096, false);
        desc = ram.mem.asSlice(descOff, (long) Wire.DESC_SIZE * size);
        avail = ram.mem.asSlice(availOff, 6 + 2L * size);
        used = ram.mem.asSlice(usedOff, 6 + 8L * size);
        next = new int[size];
        hasNext = new boolean[size];
        outstanding = new boolean[size];
        chainBytes = new long[size];
        reset();
    }

    /** Empty rings, all descriptors free (a driver that (re)initializes its queue). */
    public void reset() {
        desc.fill((byte) 0);
        avail.fill((byte) 0);
        used.fill((byte) 0);
        for (int i = 0; i < size; i++) {
            next[i] = i + 1;
            outstanding[i] = false;
        }
        freeHead = 0;
        free = size;
        availIdx = lastUsed = 0;
    }

    public int size() {
        return size;
    }

    /** Where the descriptor table, the available and the used ring lie in guest RAM (file offsets). */
    public long descOffset() {
        return descOff;
    }

    public long availOffset() {
        return availOff;
    }

    public long usedOffset() {
        return usedOff;
    }

    /** Descriptors not in any chain the device holds. */
    public int free() {
        return free;
    }

    /**
     * Adds a chain of {@code count} buffers (file offsets {@code off[i]}, lengths {@code len[i]},
     * all device-writable or all device-readable); returns its head, or -1 if there are not
     * enough free descriptors. Not visible to the device before {@link #publish}.
     */
    public int add(long[] off, int[] len, int count, boolean writable) {
        if (count < 1 || count > free) return -1;
        int head = freeHead;
        int d = head;
        long bytes = 0;
        for (int i = 0; i < count; i++) {
            int nextFree = next[d];
            boolean more = i + 1 < count;
            long at = (long) d * Wire.DESC_SIZE;
            desc.set(LE64, at, ram.gpa(off[i]));
            desc.set(LE32, at + 8, len[i]);
            desc.set(LE16, at + 12, (short) ((more ? Wire.DESC_F_NEXT : 0) | (writable ? Wire.DESC_F_WRITE : 0)));
            desc.set(LE16, at + 14, (short) (more ? nextFree : 0));
            hasNext[d] = more;
            bytes += len[i];
            if (more) {
                next[d] = nextFree;
                d = nextFree;
            } else {
                freeHead = nextFree;
            }
        }
        free -= count;
        chainBytes[head] = bytes;
        outstanding[head] = true;
        avail.set(LE16, 4 + 2L * (availIdx & (size - 1)), (short) head);
        availIdx = (availIdx + 1) & 0xffff;
        return head;
    }

    /** One buffer as a chain: no allocation. */
    public int add1(long off, int len, boolean writable) {
        if (free < 1) return -1;
        int head = freeHead;
        long at = (long) head * Wire.DESC_SIZE;
        freeHead = next[head];
        desc.set(LE64, at, ram.gpa(off));
        desc.set(LE32, at + 8, len);
        desc.set(LE16, at + 12, (short) (writable ? Wire.DESC_F_WRITE : 0));
        desc.set(LE16, at + 14, (short) 0);
        hasNext[head] = false;
        free--;
        chainBytes[head] = len;
        outstanding[head] = true;
        avail.set(LE16, 4 + 2L * (availIdx & (size - 1)), (short) head);
        availIdx = (availIdx + 1) & 0xffff;
        return head;
    }

    /** Makes the chains added visible to the device: release fence, then avail->idx. */
    public void publish() {
        VarHandle.releaseFence();
        avail.set(LE16, 2, (short) availIdx);
    }

    /** Whether the device wants a kick now (it may set VRING_USED_F_NO_NOTIFY). */
    public boolean kickWanted() {
        VarHandle.fullFence();
        return (used.get(LE16, 0) & Wire.USED_F_NO_NOTIFY) == 0;
    }

    /** Asks the device for no interrupts on this queue (VRING_AVAIL_F_NO_INTERRUPT), or for them again. */
    public void interrupts(boolean on) {
        avail.set(LE16, 0, (short) (on ? 0 : Wire.AVAIL_F_NO_INTERRUPT));
        VarHandle.fullFence();
    }

    /** Used entries the device published that were not taken yet. */
    public int usedPending() {
        int idx = used.get(LE16, 2) & 0xffff;
        VarHandle.acquireFence();
        return (idx - lastUsed) & 0xffff;
    }

    /**
     * Takes the next used entry: its head (its length is {@link #lastLength()}), or -1 if none.
     * The chain's descriptors are free again.
     */
    public int nextUsed() {
        if (usedPending() == 0) return -1;
        long at = 4 + 8L * (lastUsed & (size - 1));
        int id = used.get(LE32, at);
        int len = used.get(LE32, at + 4);
        lastUsed = (lastUsed + 1) & 0xffff;
        if (id < 0 || id >= size || !outstanding[id]) {
            throw new IllegalStateException("the device returned chain " + id + ", which the driver never made available");
        }
        if (Integer.toUnsignedLong(len) > chainBytes[id]) {
            throw new IllegalStateException("the device wrote " + Integer.toUnsignedString(len) + " bytes into chain " + id
                    + " of " + chainBytes[id]);
        }
        outstanding[id] = false;
        int d = id, n = 1;
        while (hasNext[d]) {
            d = next[d];
            n++;
        }
        next[d] = freeHead;
        freeHead = id;
        free += n;
        lastLen = len;
        return id;
    }

    public int lastLength() {
        return lastLen;
    }

    /** The next available index the driver will publish (what the device has not seen yet starts here). */
    public int availIndex() {
        return availIdx;
    }

    /** The device's used->idx as it is in memory. */
    public int usedIndex() {
        return used.get(LE16, 2) & 0xffff;
    }

    public long chainBytes(int head) {
        return chainBytes[head];
    }

    // ---- hostile: past every rule

    /** Writes descriptor {@code i} as given (gpa, not a file offset). */
    public void rawDescriptor(int i, long gpa, int len, int flags, int nextIndex) {
        long at = (long) i * Wire.DESC_SIZE;
        desc.set(LE64, at, gpa);
        desc.set(LE32, at + 8, len);
        desc.set(LE16, at + 12, (short) flags);
        desc.set(LE16, at + 14, (short) nextIndex);
    }

    /** Puts {@code head} in the available ring's next slot, unchecked (then {@link #publish}). */
    public void rawAvail(int head) {
        avail.set(LE16, 4 + 2L * (availIdx & (size - 1)), (short) head);
        availIdx = (availIdx + 1) & 0xffff;
    }

    /** Stores avail->idx as given. */
    public void rawAvailIndex(int idx) {
        VarHandle.releaseFence();
        avail.set(LE16, 2, (short) idx);
    }
}
