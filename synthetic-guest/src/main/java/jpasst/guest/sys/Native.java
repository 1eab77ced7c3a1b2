package jpasst.guest.sys;

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
 * {@code jpasst.sys}) on purpose: a guest that shared the daemon's code could share its
 * mistakes, and a test would then pass on both sides of one bug.
 *
 * Each function has its exact C signature here; errno is captured, and every call returns the
 * kernel's result or the negated errno. Set-up paths turn failures into {@link NativeException};
 * the frame path (reads and writes of the stream socket, kicks and calls) uses the return
 * values, and takes buffers by address so that no segment is made per call. The errno capture
 * segment is one per thread, allocated once: no allocation per call.
 */
public final class Native {
    private Native() {}

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final long ERRNO = CAPTURE.byteOffset(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> STATE = ThreadLocal.withInitial(() -> Arena.global().allocate(CAPTURE));

    public static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SOCK_NONBLOCK = 0x800;
    public static final int SOL_SOCKET = 1, SCM_RIGHTS = 1;
    public static final int MFD_CLOEXEC = 1;
    public static final int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
    public static final int EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
    public static final int POLLIN = 1, POLLOUT = 4, POLLERR = 8, POLLHUP = 0x10;
    public static final int MSG_NOSIGNAL = 0x4000, MSG_DONTWAIT = 0x40;
    public static final int EAGAIN = 11, EINTR = 4, ENOENT = 2, ECONNREFUSED = 111;
    public static final int F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0x800;

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
    private static final MethodHandle READ_AT = fn("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle WRITE_AT = fn("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG));
    /** fcntl(int, int, ...): its third argument is variadic. */
    private static final MethodHandle FCNTL = LINKER.downcallHandle(LINKER.defaultLookup().find("fcntl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2), Linker.Option.captureCallState("errno"));
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

    public static int memfdCreate(String name) {
        MemorySegment st = STATE.get();
        try (Arena a = Arena.ofConfined()) {
            int r = (int) MEMFD_CREATE.invokeExact(st, a.allocateFrom(name, StandardCharsets.UTF_8), MFD_CLOEXEC);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int ftruncate(int fd, long len) {
        MemorySegment st = STATE.get();
        try {
            int r = (int) FTRUNCATE.invokeExact(st, fd, len);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** mmap(NULL, len, RW, MAP_SHARED, fd, 0): the address, or a negated errno. */
    public static long mmapShared(int fd, long len) {
        MemorySegment st = STATE.get();
        try {
            MemorySegment r = (MemorySegment) MMAP.invokeExact(st, MemorySegment.NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0L);
            return r.address() == -1L ? -errno(st) : r.address();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int munmap(long addr, long len) {
        MemorySegment st = STATE.get();
        try {
            int r = (int) MUNMAP.invokeExact(st, MemorySegment.ofAddress(addr), len);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int socket(int domain, int type, int protocol) {
        MemorySegment st = STATE.get();
        try {
            int r = (int) SOCKET.invokeExact(st, domain, type, protocol);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** connect(2) to the UNIX socket at {@code path}. */
    public static int connectUnix(int fd, String path) {
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

    public static long sendmsg(int fd, MemorySegment msghdr, int flags) {
        MemorySegment st = STATE.get();
        try {
            long r = (long) SENDMSG.invokeExact(st, fd, msghdr, flags);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long recv(int fd, MemorySegment buf, long len, int flags) {
        MemorySegment st = STATE.get();
        try {
            long r = (long) RECV.invokeExact(st, fd, buf, len, flags);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int eventfd() {
        MemorySegment st = STATE.get();
        try {
            int r = (int) EVENTFD.invokeExact(st, 0, EFD_NONBLOCK | EFD_CLOEXEC);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long read(int fd, MemorySegment buf, long len) {
        MemorySegment st = STATE.get();
        try {
            long r = (long) READ.invokeExact(st, fd, buf, len);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long write(int fd, MemorySegment buf, long len) {
        MemorySegment st = STATE.get();
        try {
            long r = (long) WRITE.invokeExact(st, fd, buf, len);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int close(int fd) {
        MemorySegment st = STATE.get();
        try {
            int r = (int) CLOSE.invokeExact(st, fd);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** read(2) into {@code len} bytes at native address {@code addr}: the frame path's read, no segment made. */
    public static long readAt(int fd, long addr, long len) {
        MemorySegment st = STATE.get();
        try {
            long r = (long) READ_AT.invokeExact(st, fd, addr, len);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** write(2) from {@code len} bytes at native address {@code addr}. */
    public static long writeAt(int fd, long addr, long len) {
        MemorySegment st = STATE.get();
        try {
            long r = (long) WRITE_AT.invokeExact(st, fd, addr, len);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fcntl(2) with an int argument (F_GETFL ignores it). */
    public static int fcntl(int fd, int cmd, int arg) {
        MemorySegment st = STATE.get();
        try {
            int r = (int) FCNTL.invokeExact(st, fd, cmd, arg);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Makes {@code fd} non-blocking. */
    public static int nonBlocking(int fd) {
        int fl = fcntl(fd, F_GETFL, 0);
        return fl < 0 ? fl : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }

    /**
     * poll(2) on the {@code n} {@code struct pollfd} (8 bytes each: fd, events, revents) the
     * caller laid out in {@code pollfds}: how many are ready, 0 on timeout, or a negated errno.
     */
    public static int poll(MemorySegment pollfds, int n, int timeoutMs) {
        MemorySegment st = STATE.get();
        try {
            int r = (int) POLL.invokeExact(st, pollfds, (long) n, timeoutMs);
            return r < 0 ? -errno(st) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** poll(2) on one descriptor for POLLIN: 1 ready, 0 timeout, or a negated errno. */
    public static int pollIn(MemorySegment pollfd, int fd, int timeoutMs) {
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
    public static int[] socketpair() {
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

    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(Math.abs(errno));
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A set-up call failed: "what: strerror(errno)". */
    public static final class NativeException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        public final int errno;

        NativeException(String what, int errno) {
            super(what + ": " + strerror(errno));
            this.errno = errno;
        }
    }

    public static int check(int r, String what) {
        if (r < 0) throw new NativeException(what, -r);
        return r;
    }

    public static long check(long r, String what) {
        if (r < 0) throw new NativeException(what, (int) -r);
        return r;
    }
}
