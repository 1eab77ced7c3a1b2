package jpasst.guest.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The guest side's own bindings to libc, written apart from the daemon's (passt-core's
 * {@code jpasst.sys}) on purpose: a front-end that shared the daemon's code could share its
 * mistakes, and a test would then pass on both sides of one bug.
 *
 * Each function has its exact C signature here; errno is captured, and every call returns the
 * kernel's result or the negated errno. Set-up paths turn failures into {@link NativeException};
 * the frame path (kicks, calls) uses the return values.
 */
final class Native {
    private Native() {}

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final long ERRNO = CAPTURE.byteOffset(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> STATE = ThreadLocal.withInitial(() -> Arena.global().allocate(CAPTURE));

    static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
    static final int SOL_SOCKET = 1, SCM_RIGHTS = 1;
    static final int MFD_CLOEXEC = 1;
    static final int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
    static final int EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
    static final int POLLIN = 1;
    static final int MSG_NOSIGNAL = 0x4000, MSG_DONTWAIT = 0x40;
    static final int EAGAIN = 11, EINTR = 4;

    private static MethodHandle fn(String name, FunctionDescriptor d) {
        MemorySegment f = LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError(name));
        return LINKER.downcallHandle(f, d, Linker.Option.captureCallState("errno"));
    }

    private static final MethodHandle MEMFD_CREATE = fn("memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FTRUNCATE = fn("ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MMAP = fn("mmap", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = fn("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle SOCKET = fn("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CONNECT = fn("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SENDMSG = fn("sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RECV = fn("recv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle EVENTFD = fn("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = fn("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = fn("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle CLOSE = fn("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle POLL = fn("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle SOCKETPAIR = fn("socketpair", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(
            LINKER.defaultLookup().find("strerror").orElseThrow(), FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private static int errno(MemorySegment st) {
        return st.get(JAVA_INT, ERRNO);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    static int memfdCreate(String name) {
        MemorySegment st = STATE.get();
        try (Arena a = Arena.ofConfined()) {
            int r = (int) MEMFD_CREATE.invokeExact(st, a.allocateFrom(name, StandardCharsets.UTF_8), MFD_CLOEXEC);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int ftruncate(int fd, long len) {
        MemorySegment st = STATE.get();
        try {
            int r = (int) FTRUNCATE.invokeExact(st, fd, len);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** mmap(NULL, len, RW, MAP_SHARED, fd, 0): the address, or a negated errno. */
    static long mmapShared(int fd, long len) {
        MemorySegment st = STATE.get();
        try {
            MemorySegment r = (MemorySegment) MMAP.invokeExact(st, MemorySegment.NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0L);
            return r.address() == -1L ? -errno(st) : r.address();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int munmap(long addr, long len) {
        MemorySegment st = STATE.get();
        try {
            int r = (int) MUNMAP.invokeExact(st, MemorySegment.ofAddress(addr), len);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int socket(int domain, int type, int protocol) {
        MemorySegment st = STATE.get();
        try {
            int r = (int) SOCKET.invokeExact(st, domain, type, protocol);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** connect(2) to the UNIX socket at {@code path}. */
    static int connectUnix(int fd, String path) {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        if (p.length >= 108) return -36; // ENAMETOOLONG
        MemorySegment st = STATE.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = a.allocate(110, 8);
            sa.set(JAVA_SHORT, 0, (short) AF_UNIX);
            MemorySegment.copy(p, 0, sa, ValueLayout.JAVA_BYTE, 2, p.length);
            int r = (int) CONNECT.invokeExact(st, fd, sa, 110);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long sendmsg(int fd, MemorySegment msghdr, int flags) {
        MemorySegment st = STATE.get();
        try {
            long r = (long) SENDMSG.invokeExact(st, fd, msghdr, flags);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long recv(int fd, MemorySegment buf, long len, int flags) {
        MemorySegment st = STATE.get();
        try {
            long r = (long) RECV.invokeExact(st, fd, buf, len, flags);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int eventfd() {
        MemorySegment st = STATE.get();
        try {
            int r = (int) EVENTFD.invokeExact(st, 0, EFD_NONBLOCK | EFD_CLOEXEC);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long read(int fd, MemorySegment buf, long len) {
        MemorySegment st = STATE.get();
        try {
            long r = (long) READ.invokeExact(st, fd, buf, len);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long write(int fd, MemorySegment buf, long len) {
        MemorySegment st = STATE.get();
        try {
            long r = (long) WRITE.invokeExact(st, fd, buf, len);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int close(int fd) {
        MemorySegment st = STATE.get();
        try {
            int r = (int) CLOSE.invokeExact(st, fd);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** poll(2) on one descriptor for POLLIN: 1 ready, 0 timeout, or a negated errno. */
    static int pollIn(MemorySegment pollfd, int fd, int timeoutMs) {
        pollfd.set(JAVA_INT, 0, fd);
        pollfd.set(JAVA_SHORT, 4, (short) POLLIN);
        pollfd.set(JAVA_SHORT, 6, (short) 0);
        MemorySegment st = STATE.get();
        try {
            int r = (int) POLL.invokeExact(st, pollfd, 1L, timeoutMs);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** socketpair(AF_UNIX, SOCK_STREAM): two connected descriptors. */
    static int[] socketpair() {
        MemorySegment st = STATE.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(8, 4);
            int r = (int) SOCKETPAIR.invokeExact(st, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
            if (r < 0) throw new NativeException("socketpair", errno(st));
            return new int[] {fds.get(JAVA_INT, 0), fds.get(JAVA_INT, 4)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(Math.abs(errno));
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A set-up call failed: "what: strerror(errno)". */
    static final class NativeException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int errno;

        NativeException(String what, int errno) {
            super(what + ": " + strerror(errno));
            this.errno = errno;
        }
    }

    static int check(int r, String what) {
        if (r < 0) throw new NativeException(what, -r);
        return r;
    }

    static long check(long r, String what) {
        if (r < 0) throw new NativeException(what, (int) -r);
        return r;
    }
}
