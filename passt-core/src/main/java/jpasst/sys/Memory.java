package jpasst.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static jpasst.sys.Native.cap;
import static jpasst.sys.Native.errno;
import static jpasst.sys.Native.fn;
import static jpasst.sys.Native.ret;
import static jpasst.sys.Native.rethrow;

/**
 * Memory the kernel maps: anonymous buffers that cost resident memory only where written
 * (the stream link's large buffers), and shared mappings of received descriptors (vhost-user's
 * guest memory), with munmap; and malloc's free memory given back to the kernel.
 */
public final class Memory {
    private Memory() {}

    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20,
            MAP_NORESERVE = 0x4000;
    public static final int MAP_SHARED = 1;

    private static final class MMAP {
        static final MethodHandle H = fn("mmap");
    }
    private static final class MUNMAP {
        static final MethodHandle H = fn("munmap");
    }
    private static final class MALLOC_TRIM {
        static final MethodHandle H = fn("malloc_trim");
    }

    /**
     * {@code size} bytes of anonymous private memory, unmapped when {@code arena} closes. Unlike
     * {@link Arena#allocate}, which zeroes (touches) every byte, the pages are the kernel's
     * shared zero page until written: a large buffer of which a busy daemon uses a part costs
     * resident memory only for that part. Throws {@link SysException} if the kernel refuses.
     */
    public static MemorySegment mmapAnonymous(long size, Arena arena) {
        MemorySegment c = cap();
        long addr;
        try {
            addr = (long) MMAP.H.invokeExact(c, 0L, size, (long) PROT_READ | PROT_WRITE, (long) MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, (long) -1, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (addr == -1L) throw new SysException(errno(c), "mmap of " + size + " bytes");
        return MemorySegment.ofAddress(addr).reinterpret(size, arena, s -> unmap(s.address(), size));
    }

    /**
     * mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0): the address, or
     * a negated errno. The caller unmaps it ({@link #unmap}), usually from an arena's cleanup.
     */
    public static long mmapShared(int fd, long len) {
        MemorySegment c = cap();
        long addr;
        try {
            addr = (long) MMAP.H.invokeExact(c, 0L, len, (long) PROT_READ | PROT_WRITE, (long) MAP_SHARED | MAP_NORESERVE, (long) fd, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return addr == -1L ? -errno(c) : addr;
    }

    /** munmap(2): 0 or a negated errno. */
    public static int unmap(long addr, long len) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) MUNMAP.H.invokeExact(c, addr, len, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** malloc_trim(0): gives the free memory of every malloc arena back to the kernel. */
    public static int mallocTrim() {
        try {
            return (int) (long) MALLOC_TRIM.H.invokeExact(cap(), 0L, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
