package jpasst.sys;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import static jpasst.sys.Native.a;
import static jpasst.sys.Native.cap;
import static jpasst.sys.Native.fn;
import static jpasst.sys.Native.ret;
import static jpasst.sys.Native.rethrow;

/**
 * epoll: create, control, wait, and {@code struct epoll_event}, its flags and its layout, which
 * is the one structure that differs between the two machines: x86-64 packs it (12 bytes, the
 * 64-bit data right after the 32-bit events), AArch64 aligns the data (16 bytes, data at 8), as
 * glibc's {@code <sys/epoll.h>} and the kernel's {@code uapi/linux/eventpoll.h} define it. The
 * accessors here read and write it for {@link Arch#CURRENT}.
 *
 * Hot path: no allocation (see {@link Native}).
 */
public final class Epoll {
    private Epoll() {}

    public static final int EPOLLIN = 0x1, EPOLLPRI = 0x2, EPOLLOUT = 0x4, EPOLLERR = 0x8,
            EPOLLHUP = 0x10, EPOLLRDHUP = 0x2000, EPOLLET = 1 << 31;
    public static final int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public static final int EPOLL_CLOEXEC = 0x80000;

    /** {@code struct epoll_event} on {@code arch}: {@code events}, then {@code data}. */
    public static StructLayout eventLayout(Arch arch) {
        return switch (arch) {
            case X86_64 -> MemoryLayout.structLayout(JAVA_INT.withName("events"),
                    JAVA_LONG_UNALIGNED.withName("data"));
            case AARCH64 -> MemoryLayout.structLayout(JAVA_INT.withName("events"),
                    MemoryLayout.paddingLayout(4), JAVA_LONG.withName("data"));
        };
    }

    private static final StructLayout EVENT = eventLayout(Arch.CURRENT);
    /** Bytes of one {@code struct epoll_event} on this machine. */
    public static final int EVENT_SIZE = (int) EVENT.byteSize();
    private static final long EVENTS = Arch.offset(EVENT, "events"), DATA = Arch.offset(EVENT, "data");

    /** Fills the {@code struct epoll_event} at the start of {@code ev}. */
    public static void event(MemorySegment ev, int events, long data) {
        ev.set(JAVA_INT_UNALIGNED, EVENTS, events);
        ev.set(JAVA_LONG_UNALIGNED, DATA, data);
    }

    /** The events of entry {@code i} of an array of {@code struct epoll_event}. */
    public static int events(MemorySegment events, int i) {
        return events.get(JAVA_INT_UNALIGNED, (long) EVENT_SIZE * i + EVENTS);
    }

    /** The data of entry {@code i} of an array of {@code struct epoll_event}. */
    public static long data(MemorySegment events, int i) {
        return events.get(JAVA_LONG_UNALIGNED, (long) EVENT_SIZE * i + DATA);
    }

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
