package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Memory;
import jpasst.util.Log;

/**
 * The guest's memory as the front-end shared it (SET_MEM_TABLE): up to eight regions, each a
 * file (QEMU's memfd) mapped here with MAP_SHARED, so that the rings and the frames the guest
 * posts can be read and written in place.
 *
 * Two address spaces lead into it: ring addresses (SET_VRING_ADDR) are the front-end's own
 * virtual addresses ("qva"), buffer addresses in descriptors are guest-physical ("gpa"). Each
 * region maps a range of both onto its bytes. A buffer that is not wholly inside one region is
 * either split into pieces, one per region it crosses (guest-physical ranges of adjacent regions
 * may continue each other), or refused when any part of it is outside every region.
 *
 * Each region is a {@link MemorySegment} of exactly its size: whatever a guest writes into a
 * descriptor, an access outside the regions cannot happen, it would fail the segment's bounds
 * check. The table is checked whole before anything is mapped (sizes, overflows, overlaps, the
 * files being as long as the regions claim: touching a mapped page past the end of its file would
 * kill the daemon with SIGBUS).
 *
 * A table is replaced by the next SET_MEM_TABLE and dropped when the front-end leaves, but never
 * unmapped while a frame still points into it: users {@link #pin} it while they hold pieces of
 * it, and {@link #retire} unmaps at once only when nobody does, else at the last {@link #unpin}.
 *
 * Hot path ({@link #findGpa}, {@link #findQva}): no allocation, a scan of at most eight regions
 * starting at the last hit.
 */
public final class GuestMemory {
    public static final int MAX_REGIONS = VhostUserMsg.MAX_FDS;
    /** A region larger than this cannot be a MemorySegment here, nor a sane guest. */
    private static final long MAX_REGION = 1L << 48;

    private final int count;
    private final long[] gpa, size, qva;
    private final MemorySegment[] region;
    private final Arena arena;
    private int pins;
    private boolean retired, unmapped;
    private int last;

    private GuestMemory(int count) {
        this.count = count;
        gpa = new long[count];
        size = new long[count];
        qva = new long[count];
        region = new MemorySegment[count];
        arena = Arena.ofShared();
    }

    /**
     * Maps the table in {@code payload} (the SET_MEM_TABLE payload, {@code payloadSize} bytes)
     * with {@code fds}, one per region, which it closes in every case. Throws
     * {@link VhostUserException} for a table it cannot trust, having unmapped what it mapped.
     */
    static GuestMemory map(MemorySegment msg, long payloadSize, int[] fds, int nfds) {
        try {
            if (payloadSize < VhostUserMsg.MEM_REGIONS) {
                throw new VhostUserException("SET_MEM_TABLE: payload of " + payloadSize + " bytes, shorter than its count");
            }
            int n = VhostUserMsg.u32(msg, VhostUserMsg.MEM_COUNT);
            if (n < 1 || n > MAX_REGIONS) {
                throw new VhostUserException("SET_MEM_TABLE: " + Integer.toUnsignedString(n) + " regions, expected 1 to " + MAX_REGIONS);
            }
            long expected = VhostUserMsg.MEM_REGIONS + (long) n * VhostUserMsg.REGION_SIZE;
            if (payloadSize != expected) {
                throw new VhostUserException("SET_MEM_TABLE: payload of " + payloadSize + " bytes for " + n
                        + " regions, expected " + expected);
            }
            if (nfds != n) {
                throw new VhostUserException("SET_MEM_TABLE: " + nfds + " descriptors for " + n + " regions");
            }
            GuestMemory m = new GuestMemory(n);
            long[] mmapOffset = new long[n];
            for (int i = 0; i < n; i++) {
                int at = VhostUserMsg.MEM_REGIONS + i * VhostUserMsg.REGION_SIZE;
                m.gpa[i] = VhostUserMsg.u64(msg, at + VhostUserMsg.REGION_GPA);
                m.size[i] = VhostUserMsg.u64(msg, at + VhostUserMsg.REGION_LEN);
                m.qva[i] = VhostUserMsg.u64(msg, at + VhostUserMsg.REGION_QVA);
                mmapOffset[i] = VhostUserMsg.u64(msg, at + VhostUserMsg.REGION_MMAP_OFFSET);
                m.checkRegion(i, mmapOffset[i]);
            }
            m.checkOverlaps();
            try {
                for (int i = 0; i < n; i++) m.mapRegion(i, fds[i], mmapOffset[i]);
            } catch (VhostUserException e) {
                m.arena.close();
                throw e;
            }
            return m;
        } finally {
            for (int i = 0; i < nfds; i++) {
                if (fds[i] >= 0) Descriptors.close(fds[i]);
                fds[i] = -1;
            }
        }
    }

    private void checkRegion(int i, long mmapOffset) {
        long s = size[i];
        if (s <= 0 || s > MAX_REGION) {
            throw new VhostUserException("SET_MEM_TABLE: region " + i + " of " + Long.toUnsignedString(s) + " bytes");
        }
        if (Long.compareUnsigned(gpa[i] + s, gpa[i]) < 0 && gpa[i] + s != 0) {
            throw new VhostUserException("SET_MEM_TABLE: region " + i + " at guest address 0x" + Long.toHexString(gpa[i])
                    + " runs past the end of the address space");
        }
        if (Long.compareUnsigned(qva[i] + s, qva[i]) < 0 && qva[i] + s != 0) {
            throw new VhostUserException("SET_MEM_TABLE: region " + i + " at front-end address 0x" + Long.toHexString(qva[i])
                    + " runs past the end of the address space");
        }
        if (mmapOffset < 0 || mmapOffset > MAX_REGION) {
            throw new VhostUserException("SET_MEM_TABLE: region " + i + " at file offset " + Long.toUnsignedString(mmapOffset));
        }
    }

    private void checkOverlaps() {
        for (int i = 0; i < count; i++) {
            for (int j = i + 1; j < count; j++) {
                if (overlap(gpa[i], size[i], gpa[j], size[j])) {
                    throw new VhostUserException("SET_MEM_TABLE: regions " + i + " and " + j + " overlap in guest memory");
                }
                if (overlap(qva[i], size[i], qva[j], size[j])) {
                    throw new VhostUserException("SET_MEM_TABLE: regions " + i + " and " + j + " overlap in front-end memory");
                }
            }
        }
    }

    private static boolean overlap(long a, long aLen, long b, long bLen) {
        return Long.compareUnsigned(b - a, aLen) < 0 || Long.compareUnsigned(a - b, bLen) < 0;
    }

    private void mapRegion(int i, int fd, long mmapOffset) {
        long fileSize = Descriptors.lseek(fd, 0, Descriptors.SEEK_END);
        if (fileSize < 0) {
            throw new VhostUserException("SET_MEM_TABLE: the descriptor of region " + i + " is not a file ("
                    + Errno.text((int) fileSize) + ")");
        }
        long len = mmapOffset + size[i];
        if (len > fileSize) {
            throw new VhostUserException("SET_MEM_TABLE: region " + i + " ends at byte " + len + " of a file of "
                    + fileSize + " bytes");
        }
        // From offset 0, as passt does: an offset into a hugetlbfs file must be huge-page aligned.
        long addr = Memory.mmapShared(fd, len);
        if (addr < 0) {
            throw new VhostUserException("SET_MEM_TABLE: cannot map region " + i + " (" + len + " bytes): "
                    + Errno.text((int) addr));
        }
        MemorySegment whole = MemorySegment.ofAddress(addr).reinterpret(len, arena, s -> Memory.unmap(addr, len));
        region[i] = whole.asSlice(mmapOffset, size[i]);
        if (Log.debugEnabled()) {
            Log.debug("vhost-user: region " + i + ": guest 0x" + Long.toHexString(gpa[i]) + ", front-end 0x"
                    + Long.toHexString(qva[i]) + ", " + size[i] + " bytes at file offset " + mmapOffset);
        }
    }

    public int regions() {
        return count;
    }

    /** The bytes of region {@code r}. */
    public MemorySegment segment(int r) {
        return region[r];
    }

    public long gpa(int r) {
        return gpa[r];
    }

    public long size(int r) {
        return size[r];
    }

    public long qva(int r) {
        return qva[r];
    }

    /** The region holding guest-physical address {@code a}, or -1. Offset: {@code a - gpa(r)}. */
    public int findGpa(long a) {
        int r = last;
        if (Long.compareUnsigned(a - gpa[r], size[r]) < 0) return r;
        for (r = 0; r < count; r++) {
            if (Long.compareUnsigned(a - gpa[r], size[r]) < 0) {
                last = r;
                return r;
            }
        }
        return -1;
    }

    /**
     * The region holding all of {@code [a, a + len)} in the front-end's address space, or -1.
     * Offset: {@code a - qva(r)}.
     */
    public int findQva(long a, long len) {
        for (int r = 0; r < count; r++) {
            long off = a - qva[r];
            if (Long.compareUnsigned(off, size[r]) < 0 && Long.compareUnsigned(len, size[r] - off) <= 0) return r;
        }
        return -1;
    }

    /** A frame points into this table: do not unmap it until {@link #unpin}. */
    public void pin() {
        pins++;
    }

    public void unpin() {
        if (--pins == 0 && retired) unmap();
    }

    /** The table is no longer the front-end's: unmap it now, or when the last pin goes. */
    void retire() {
        retired = true;
        if (pins == 0) unmap();
    }

    private void unmap() {
        if (unmapped) return;
        unmapped = true;
        arena.close();
    }

    /** Whether the regions are still mapped. */
    public boolean mapped() {
        return !unmapped;
    }
}
