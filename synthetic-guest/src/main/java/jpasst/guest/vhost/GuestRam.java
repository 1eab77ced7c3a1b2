package jpasst.guest.vhost;

import jpasst.guest.sys.Native;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The guest's RAM as QEMU's {@code memory-backend-memfd,share=on} makes it: one memfd, mapped
 * here, shared with the back-end by descriptor (SET_MEM_TABLE).
 *
 * It is described to the back-end as {@code regions} equal regions of the file, like the slots
 * QEMU announces; region i is at guest-physical address {@code i * (regionSize + gap)}, so with
 * a gap of 0 the regions continue each other in guest memory (a buffer may then cross from one to
 * the next, as in a real guest, and the back-end must split it), and with a gap a buffer that
 * crosses a region's end points outside guest memory. The front-end's "virtual address" of
 * each region (userspace_addr) is where this process mapped it, as QEMU sends its own.
 *
 * A bump allocator hands out room for rings and buffers, by file offset.
 */
public final class GuestRam implements AutoCloseable {
    final int fd;
    final MemorySegment mem;
    final long size, regionSize, gap;
    final int regions;
    private final Arena arena = Arena.ofShared();
    private long next;

    /**
     * @param size bytes of guest RAM (a multiple of {@code regions} times the page size)
     * @param regions regions it is announced as (1 to 8)
     * @param gap bytes of guest-physical address space left out between two regions
     */
    public GuestRam(long size, int regions, long gap) {
        if (regions < 1 || regions > 8 || size % (4096L * regions) != 0) {
            throw new IllegalArgumentException(size + " bytes in " + regions + " regions");
        }
        this.size = size;
        this.regions = regions;
        this.regionSize = size / regions;
        this.gap = gap;
        fd = Native.check(Native.memfdCreate("jpasst-guest-ram"), "memfd_create");
        Native.check(Native.ftruncate(fd, size), "ftruncate");
        long addr = Native.check(Native.mmapShared(fd, size), "mmap");
        mem = MemorySegment.ofAddress(addr).reinterpret(size, arena, s -> Native.munmap(addr, size));
    }

    /** The whole RAM, by file offset. */
    public MemorySegment memory() {
        return mem;
    }

    public int descriptor() {
        return fd;
    }

    public long size() {
        return size;
    }

    public int regions() {
        return regions;
    }

    public long regionSize() {
        return regionSize;
    }

    /** The guest-physical address of file offset {@code off}. */
    public long gpa(long off) {
        long r = off / regionSize;
        return r * (regionSize + gap) + off % regionSize;
    }

    /** The guest-physical address where region {@code r} starts. */
    public long regionGpa(int r) {
        return r * (regionSize + gap);
    }

    /** The front-end ("QEMU") virtual address of file offset {@code off}: where it is mapped here. */
    public long qva(long off) {
        return mem.address() + off;
    }

    /**
     * {@code len} bytes aligned to {@code align}; unless {@code mayCross}, not crossing a region's
     * end (with a gap, such a buffer would point outside guest memory). Returns the file offset.
     */
    public long alloc(long len, long align, boolean mayCross) {
        long at = (next + align - 1) & -align;
        if (!mayCross && at / regionSize != (at + len - 1) / regionSize) {
            at = (at / regionSize + 1) * regionSize;
        }
        if (at + len > size) throw new IllegalStateException("guest RAM full: " + len + " bytes wanted at " + at);
        next = at + len;
        return at;
    }

    /** The file offset {@code len} bytes before the end of region {@code r} (a buffer there crosses into the next). */
    public long regionEnd(int r) {
        return (r + 1) * regionSize;
    }

    /**
     * Hostile: shrinks the file under everyone's mappings (the back-end's included). Pages past
     * the new end are gone; touching them raises SIGBUS, in this process too.
     */
    public void shrinkFile(long newSize) {
        Native.check(Native.ftruncate(fd, newSize), "ftruncate");
    }

    @Override
    public void close() {
        arena.close();
        Native.close(fd);
    }
}
