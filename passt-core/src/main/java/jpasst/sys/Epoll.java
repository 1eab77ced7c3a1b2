package jpasst.sys;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static jpasst.sys.Native.a;
import static jpasst.sys.Native.cap;
import static jpasst.sys.Native.fn;
import static jpasst.sys.Native.ret;
import static jpasst.sys.Native.rethrow;

/**
 * epoll: create, control, wait, and the flags of {@code struct epoll_event}.
 *
 * Hot path: no allocation (see {@link Native}).
 */
public final class Epoll {
    private Epoll() {}

    public static final int EPOLLIN = 0x1, EPOLLPRI = 0x2, EPOLLOUT = 0x4, EPOLLERR = 0x8,
            EPOLLHUP = 0x10, EPOLLRDHUP = 0x2000, EPOLLET = 1 << 31;
    public static final int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public static final int EPOLL_CLOEXEC = 0x80000;

    private static final class EPOLL_CREATE1 {
        static final MethodHandle H = fn("epoll_create1");
    }
    private static final class EPOLL_CTL {
        static final MethodHandle H = fn("epoll_ctl");
    }
    private static final class EPOLL_WAIT {
        static final MethodHandle H = fn("epoll_wait");
    }

    public static int epollCreate1(int flags) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) EPOLL_CREATE1.H.invokeExact(c, (long) flags, 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int epollCtl(int epfd, int op, int fd, MemorySegment event) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) EPOLL_CTL.H.invokeExact(c, (long) epfd, (long) op, (long) fd, a(event), 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int epollWait(int epfd, MemorySegment events, int max, int timeoutMs) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) EPOLL_WAIT.H.invokeExact(c, (long) epfd, a(events), (long) max, (long) timeoutMs, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
