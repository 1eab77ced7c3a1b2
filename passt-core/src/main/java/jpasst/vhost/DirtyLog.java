package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Memory;
import jpasst.util.Log;

/**
 * The dirty-page log of a live migration (VHOST_F_LOG_ALL, protocol feature LOG_SHMFD): while the
 * front-end copies the guest's memory to the destination, every page the back-end writes (frames
 * into receive buffers, entries and index of a used ring) must be marked in a bitmap it shares
 * (SET_LOG_BASE: a file, a size, an offset), one bit per 4 KiB page of guest-physical memory, so
 * that the page is copied again. The bits are set with an atomic OR (the front-end clears them
 * as it copies), then the log eventfd of SET_LOG_FD, if any, is signalled once per batch.
 *
 * A page beyond the end of the bitmap is not marked (one line in the log says so): the bitmap is
 * the front-end's to size, and the mapping must never be accessed outside.
 *
 * Hot path ({@link #mark}): no allocation.
 */
final class DirtyLog {
    static final int PAGE_SHIFT = 12;
    private static final VarHandle WORD = ValueLayout.JAVA_LONG.varHandle();

    private final MemorySegment one;
    private Arena arena;
    private MemorySegment bitmap;
    private int eventFd = -1;
    private boolean active, marked, warnedOutside;

    DirtyLog(Arena owner) {
        one = owner.allocate(8, 8);
        one.set(ValueLayout.JAVA_LONG, 0, 1L);
    }

    /** Maps the bitmap of SET_LOG_BASE ({@code fd}, which it closes); throws for one it cannot use. */
    void base(int fd, long size, long offset) {
        try {
            if (size <= 0 || size > (1L << 40) || (size & 7) != 0) {
                throw new VhostUserException("SET_LOG_BASE: a log of " + Long.toUnsignedString(size) + " bytes");
            }
            if (offset < 0 || offset > (1L << 40) || (offset & 7) != 0) {
                throw new VhostUserException("SET_LOG_BASE: a log at offset " + Long.toUnsignedString(offset));
            }
            long fileSize = Descriptors.lseek(fd, 0, Descriptors.SEEK_END);
            if (fileSize < offset + size) {
                throw new VhostUserException("SET_LOG_BASE: a log of " + size + " bytes at offset " + offset
                        + " in a file of " + (fileSize < 0 ? Errno.text((int) fileSize) : fileSize + " bytes"));
            }
            long len = offset + size;
            long addr = Memory.mmapShared(fd, len);
            if (addr < 0) throw new VhostUserException("SET_LOG_BASE: cannot map the log: " + Errno.text((int) addr));
            unmap();
            arena = Arena.ofShared();
            bitmap = MemorySegment.ofAddress(addr).reinterpret(len, arena, s -> Memory.unmap(addr, len)).asSlice(offset, size);
            warnedOutside = false;
        } finally {
            Descriptors.close(fd);
        }
    }

    /** The eventfd of SET_LOG_FD, signalled after pages were marked (it takes {@code fd}). */
    void eventFd(int fd) {
        if (eventFd >= 0) Descriptors.close(eventFd);
        eventFd = fd;
    }

    /** Whether VHOST_F_LOG_ALL is negotiated: pages are marked only then. */
    void active(boolean on) {
        active = on;
    }

    boolean logging() {
        return active && bitmap != null;
    }

    /** Marks the pages of guest-physical {@code [gpa, gpa + len)} as written. */
    void mark(long gpa, long len) {
        if (!logging() || len <= 0) return;
        long first = gpa >>> PAGE_SHIFT, end = (gpa + len - 1) >>> PAGE_SHIFT;
        for (long page = first; Long.compareUnsigned(page, end) <= 0; page++) {
            long word = (page >>> 6) << 3;
            if (word < 0 || word + 8 > bitmap.byteSize()) {
                if (!warnedOutside) {
                    warnedOutside = true;
                    Log.warn("vhost-user: guest page 0x" + Long.toHexString(page) + " lies beyond the dirty log of "
                            + bitmap.byteSize() + " bytes, not logged");
                }
                return;
            }
            long unused = (long) WORD.getAndBitwiseOr(bitmap, word, 1L << (page & 63));
            marked = true;
        }
    }

    /** Tells the front-end that pages were marked since the last call. */
    void kick() {
        if (!marked) return;
        marked = false;
        if (eventFd >= 0) Descriptors.write(eventFd, one, 8);
    }

    private void unmap() {
        if (arena != null) arena.close();
        arena = null;
        bitmap = null;
    }

    void close() {
        unmap();
        if (eventFd >= 0) Descriptors.close(eventFd);
        eventFd = -1;
        active = marked = false;
    }
}
