package jpasst.sys;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static jpasst.sys.Native.a;
import static jpasst.sys.Native.cap;
import static jpasst.sys.Native.fn;
import static jpasst.sys.Native.variadic;
import static jpasst.sys.Native.ret;
import static jpasst.sys.Native.rethrow;

/**
 * What any file descriptor takes: open, close, close_range, read, write, pipes, dup2, fcntl, ioctl,
 * lseek, unlink, fchmod, and eventfds, with the constants they take (Linux's values, the same on
 * x86-64 and AArch64). open, fcntl and ioctl are variadic and linked so ({@link Native}).
 *
 * Hot path: no allocation (see {@link Native}).
 */
public final class Descriptors {
    private Descriptors() {}

    public static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40,
            O_EXCL = 0x80, O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800,
            O_CLOEXEC = 0x80000;
    public static final int F_GETFL = 3, F_SETFL = 4, F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1;
    public static final int F_DUPFD_CLOEXEC = 1030;
    public static final int SEEK_CUR = 1, SEEK_END = 2;
    public static final int EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
    /** close_range(2)'s flag: mark the range close-on-exec instead of closing it (Linux 5.11). */
    public static final int CLOSE_RANGE_CLOEXEC = 4;

    static final class CLOSE {
        static final MethodHandle H = fn("close");
    }
    static final class CREAT {
        static final MethodHandle H = fn("creat");
    }
    private static final class CLOSE_RANGE {
        static final MethodHandle H = fn("close_range");
    }
    private static final class READ {
        static final MethodHandle H = fn("read");
    }
    static final class WRITE {
        static final MethodHandle H = fn("write");
    }
    static final class OPEN {
        static final MethodHandle H = variadic("open", 2);
    }
    static final class PIPE2 {
        static final MethodHandle H = fn("pipe2");
    }
    private static final class DUP2 {
        static final MethodHandle H = fn("dup2");
    }
    static final class FCNTL {
        static final MethodHandle H = variadic("fcntl", 2);
    }
    static final class UNLINK {
        static final MethodHandle H = fn("unlink");
    }
    private static final class FCHMOD {
        static final MethodHandle H = fn("fchmod");
    }
    private static final class IOCTL {
        static final MethodHandle H = variadic("ioctl", 2);
    }
    private static final class EVENTFD {
        static final MethodHandle H = fn("eventfd");
    }
    static final class LSEEK {
        static final MethodHandle H = fn("lseek");
    }

    public static int close(int fd) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) CLOSE.H.invokeExact(c, (long) fd, 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /*
     * The data-path calls take the buffer as a raw address (segment.address() + offset), so that
     * reading into the middle of a preallocated buffer does not create a slice object per call.
     * The segment overloads are for everything else.
     */

    public static long read(int fd, long addr, long len) {
        MemorySegment c = cap();
        try {
            return ret((long) READ.H.invokeExact(c, (long) fd, addr, len, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long read(int fd, MemorySegment buf, long len) {
        return read(fd, buf.address(), len);
    }

    public static long write(int fd, long addr, long len) {
        MemorySegment c = cap();
        try {
            return ret((long) WRITE.H.invokeExact(c, (long) fd, addr, len, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long write(int fd, MemorySegment buf, long len) {
        return write(fd, buf.address(), len);
    }

    public static int open(MemorySegment path, int flags, int mode) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) OPEN.H.invokeExact(c, a(path), (long) flags, (long) mode, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int pipe2(MemorySegment fds, int flags) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) PIPE2.H.invokeExact(c, a(fds), (long) flags, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int dup2(int oldFd, int newFd) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) DUP2.H.invokeExact(c, (long) oldFd, (long) newFd, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * creat(path, mode): open(path, O_CREAT | O_WRONLY | O_TRUNC, mode) without open's variadic
     * linkage (a second piece of generated code the launcher does without); no close-on-exec.
     */
    public static int creat(MemorySegment path, int mode) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) CREAT.H.invokeExact(c, a(path), (long) mode, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** close_range(first, last, flags): 0, or a negated errno. */
    public static int closeRange(int first, int last, int flags) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) CLOSE_RANGE.H.invokeExact(c, (long) first, (long) last, (long) flags, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int fcntl(int fd, int cmd, int arg) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) FCNTL.H.invokeExact(c, (long) fd, (long) cmd, (long) arg, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int unlink(MemorySegment path) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) UNLINK.H.invokeExact(c, a(path), 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int fchmod(int fd, int mode) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) FCHMOD.H.invokeExact(c, (long) fd, (long) mode, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ioctl(2) with a pointer argument; returns 0 or a negated errno. */
    public static int ioctl(int fd, long request, MemorySegment arg) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) IOCTL.H.invokeExact(c, (long) fd, request, a(arg), 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int eventfd(int initval, int flags) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) EVENTFD.H.invokeExact(c, (long) initval, (long) flags, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** lseek(2): the new offset, or a negated errno ({@code SEEK_END} with 0 gives a file's size). */
    public static long lseek(int fd, long off, int whence) {
        MemorySegment c = cap();
        try {
            return ret((long) LSEEK.H.invokeExact(c, (long) fd, off, (long) whence, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
