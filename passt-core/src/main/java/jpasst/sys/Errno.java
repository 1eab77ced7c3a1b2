package jpasst.sys;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static jpasst.sys.Native.cap;
import static jpasst.sys.Native.fn;
import static jpasst.sys.Native.rethrow;

/**
 * errno values jpasst reacts to, their text (strerror), and the bridge from the kernel's
 * "negated errno" return convention of this package's calls ({@link Native}) to exceptions for
 * the code (set-up, configuration) that wants them.
 */
public final class Errno {
    private Errno() {}

    public static final int EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, EBADF = 9, EAGAIN = 11,
            ENOMEM = 12, EACCES = 13, EEXIST = 17, EINVAL = 22, ENFILE = 23, EMFILE = 24,
            ENOSPC = 28, EPIPE = 32, ENOSYS = 38, EMSGSIZE = 90, EPROTONOSUPPORT = 93, EOPNOTSUPP = 95,
            EADDRINUSE = 98, EADDRNOTAVAIL = 99, ENETDOWN = 100, ENETUNREACH = 101,
            ECONNABORTED = 103, ECONNRESET = 104, ENOBUFS = 105, EISCONN = 106,
            ENOTCONN = 107, ETIMEDOUT = 110, ECONNREFUSED = 111, EHOSTDOWN = 112,
            EHOSTUNREACH = 113, EALREADY = 114, EINPROGRESS = 115, ENOTSOCK = 88;
    /** send(2) on a non-socket --fd (a pipe, say) fails so; fall back to write(2). */
    public static final int ENOTSOCK_FALLBACK = ENOTSOCK;

    /** Returns {@code r} if it is not a negated errno, else throws a {@link SysException}. */
    public static int check(int r, String what) {
        if (r < 0) throw new SysException(-r, what);
        return r;
    }

    public static long check(long r, String what) {
        if (r < 0) throw new SysException((int) -r, what);
        return r;
    }

    /** "Connection refused" for 111 or -111. */
    public static String text(int errno) {
        return strerror(Math.abs(errno));
    }

    private static final class STRERROR {
        static final MethodHandle H = fn("strerror");
    }

    /** strerror(3) text for a (positive) errno value. Not for the hot path. */
    public static String strerror(int errno) {
        try {
            MemorySegment s = MemorySegment.ofAddress((long) STRERROR.H.invokeExact(cap(), (long) Math.abs(errno), 0L, 0L, 0L, 0L, 0L));
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
