package jpasst.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * libc through java.lang.foreign: with {@link Isolation} (the calls of the daemon's self-isolation,
 * same conventions), the only classes in jpasst that make a downcall.
 *
 * Every call follows the kernel's convention rather than the JDK's: it returns the result, or
 * the negated errno on failure (captured with {@code captureCallState("errno")} into a per-thread
 * segment), so the frame path never builds an exception for EAGAIN. Callers that want an
 * exception use {@link Errno#check}. Calls that never block (recv/send with MSG_DONTWAIT on
 * non-blocking sockets, getsockopt...) are ordinary downcalls; epoll_wait and accept may block.
 *
 * Nothing here allocates per call: the errno capture segment is per thread, and callers pass
 * preallocated off-heap segments for buffers and socket addresses.
 *
 * Each downcall handle is created on first use, in a holder class of its own (the JIT treats
 * its final field as a constant all the same), and all of them share one descriptor: six
 * {@code long} arguments, a {@code long} result, errno captured. The linker generates code once
 * per distinct descriptor (8 ms each, and the AOT cache cannot keep it): with a descriptor per
 * signature, start-up spent about 120 ms of the daemon's 150 and 40 of the launcher's in it; with
 * one, every further handle is a table lookup. The x86-64 and AArch64 calling conventions pass
 * integer and pointer arguments of any width in the same 64-bit registers, so ints, shorts and
 * addresses go in as longs (the callee reads the low bits it declared; unused trailing
 * arguments are ignored), and an {@code int} result is the low half of the returned register:
 * callers cast it to int. Pointer arguments are passed as addresses ({@link #a}): their
 * segments belong to the callers, who keep them alive across the call.
 */
public final class Libc {
    private Libc() {}

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final long ERRNO = CAPTURE.byteOffset(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> CAPTURE_SEGMENT = new ThreadLocal<>() {
        @Override
        protected MemorySegment initialValue() {
            return Arena.global().allocate(CAPTURE);
        }
    };

    /** Every function's descriptor: six integer-class arguments in, one out (see the class comment). */
    private static final FunctionDescriptor ANY = FunctionDescriptor.of(JAVA_LONG,
            JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);

    static MethodHandle fn(String name) {
        MemorySegment f = LIBC.find(name).orElse(null);
        if (f == null) throw new UnsatisfiedLinkError("libc has no " + name);
        return LINKER.downcallHandle(f, ANY, Linker.Option.captureCallState("errno"));
    }

    /**
     * Makes the downcall handles a launch uses, in the order it uses them, on the calling thread:
     * the launcher (no AOT cache) has a thread do it while it reads its options (Main.LinkAhead).
     * The first handle costs tens of ms (the linker's classes, generated code), each further one
     * a fraction of a ms, which the launcher would otherwise spend one by one as it binds and
     * spawns. A handle another thread is making meanwhile is waited for, not made twice.
     */
    public static void linkLaunchCalls() {
        getuid(); // a first call, too: it links the invoker all calls share
        linked(GETRLIMIT.H, SOCKET.H, CONNECT.H, CLOSE.H, UNLINK.H, BIND.H, LISTEN.H, OPEN.H,
                PIPE2.H, FCNTL.H, SPAWNATTR_INIT.H, SPAWNATTR_SETSIGMASK.H, SPAWNATTR_SETSIGDEFAULT.H,
                SPAWNATTR_SETFLAGS.H, FILE_ACTIONS_INIT.H, FILE_ACTIONS_ADDOPEN.H, FILE_ACTIONS_ADDDUP2.H,
                POSIX_SPAWN.H, WRITE.H, EXIT.H);
    }

    private static void linked(MethodHandle... handles) {
        // each argument initialized its holder class, which is all there was to do
    }

    /** A pointer argument. The segments passed stay alive across the call by their owners. */
    static long a(MemorySegment s) {
        return s.address();
    }

    static MemorySegment cap() {
        return CAPTURE_SEGMENT.get();
    }

    private static int errno(MemorySegment cap) {
        return cap.get(JAVA_INT, ERRNO);
    }

    static int ret(int r, MemorySegment cap) {
        return r < 0 ? -errno(cap) : r;
    }

    static long ret(long r, MemorySegment cap) {
        return r < 0 ? -errno(cap) : r;
    }

    // ---- constants (Linux x86-64 / aarch64 generic values) ----
    public static final int AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
    public static final int SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3;
    public static final int SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    public static final int IPPROTO_IP = 0, IPPROTO_ICMP = 1, IPPROTO_TCP = 6, IPPROTO_UDP = 17,
            IPPROTO_IPV6 = 41, IPPROTO_ICMPV6 = 58;
    public static final int SOL_SOCKET = 1;
    public static final int SO_REUSEADDR = 2, SO_ERROR = 4, SO_SNDBUF = 7, SO_RCVBUF = 8,
            SO_KEEPALIVE = 9, SO_LINGER = 13, SO_REUSEPORT = 15, SO_RCVLOWAT = 18,
            SO_PEEK_OFF = 42, SO_BINDTODEVICE = 25;
    public static final int TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_INFO = 11, TCP_QUICKACK = 12,
            TCP_WINDOW_CLAMP = 10;
    public static final int IPV6_V6ONLY = 26, IP_FREEBIND = 15, IPV6_FREEBIND = 78;
    public static final int MSG_PEEK = 0x2, MSG_DONTWAIT = 0x40, MSG_TRUNC = 0x20,
            MSG_NOSIGNAL = 0x4000, MSG_MORE = 0x8000;
    public static final int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;
    public static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40,
            O_EXCL = 0x80, O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800,
            O_CLOEXEC = 0x80000;
    public static final int F_GETFL = 3, F_SETFL = 4, F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1;
    public static final int EPOLLIN = 0x1, EPOLLPRI = 0x2, EPOLLOUT = 0x4, EPOLLERR = 0x8,
            EPOLLHUP = 0x10, EPOLLRDHUP = 0x2000, EPOLLET = 1 << 31;
    public static final int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public static final int EPOLL_CLOEXEC = 0x80000;

    // ---- sockets ----
    private static final class SOCKET {
        static final MethodHandle H = fn("socket");
    }
    private static final class SOCKETPAIR {
        static final MethodHandle H = fn("socketpair");
    }
    private static final class BIND {
        static final MethodHandle H = fn("bind");
    }
    private static final class CONNECT {
        static final MethodHandle H = fn("connect");
    }
    private static final class LISTEN {
        static final MethodHandle H = fn("listen");
    }
    private static final class ACCEPT4 {
        static final MethodHandle H = fn("accept4");
    }
    private static final class SHUTDOWN {
        static final MethodHandle H = fn("shutdown");
    }
    private static final class CLOSE {
        static final MethodHandle H = fn("close");
    }
    private static final class READ {
        static final MethodHandle H = fn("read");
    }
    private static final class WRITE {
        static final MethodHandle H = fn("write");
    }
    private static final class RECV {
        static final MethodHandle H = fn("recv");
    }
    private static final class SEND {
        static final MethodHandle H = fn("send");
    }
    private static final class RECVFROM {
        static final MethodHandle H = fn("recvfrom");
    }
    private static final class SENDTO {
        static final MethodHandle H = fn("sendto");
    }
    private static final class SENDMSG {
        static final MethodHandle H = fn("sendmsg");
    }
    private static final class RECVMSG {
        static final MethodHandle H = fn("recvmsg");
    }
    private static final class SETSOCKOPT {
        static final MethodHandle H = fn("setsockopt");
    }
    private static final class GETSOCKOPT {
        static final MethodHandle H = fn("getsockopt");
    }
    private static final class GETSOCKNAME {
        static final MethodHandle H = fn("getsockname");
    }
    private static final class GETPEERNAME {
        static final MethodHandle H = fn("getpeername");
    }

    // ---- files and processes ----
    private static final class OPEN {
        static final MethodHandle H = fn("open");
    }
    private static final class PIPE2 {
        static final MethodHandle H = fn("pipe2");
    }
    private static final class DUP2 {
        static final MethodHandle H = fn("dup2");
    }
    private static final class FCNTL {
        static final MethodHandle H = fn("fcntl");
    }
    private static final class UNLINK {
        static final MethodHandle H = fn("unlink");
    }
    private static final class FCHMOD {
        static final MethodHandle H = fn("fchmod");
    }
    private static final class GETPID {
        static final MethodHandle H = fn("getpid");
    }
    private static final class GETUID {
        static final MethodHandle H = fn("getuid");
    }
    private static final class GETGID {
        static final MethodHandle H = fn("getgid");
    }
    private static final class SETSID {
        static final MethodHandle H = fn("setsid");
    }
    private static final class SETUID {
        static final MethodHandle H = fn("setuid");
    }
    private static final class SETGID {
        static final MethodHandle H = fn("setgid");
    }
    private static final class SETGROUPS {
        static final MethodHandle H = fn("setgroups");
    }
    private static final class KILL {
        static final MethodHandle H = fn("kill");
    }
    private static final class UMASK {
        static final MethodHandle H = fn("umask");
    }
    private static final class EXECV {
        static final MethodHandle H = fn("execv");
    }
    private static final class POSIX_SPAWN {
        static final MethodHandle H = fn("posix_spawn");
    }
    private static final class SPAWNATTR_INIT {
        static final MethodHandle H = fn("posix_spawnattr_init");
    }
    private static final class SPAWNATTR_SETFLAGS {
        static final MethodHandle H = fn("posix_spawnattr_setflags");
    }
    private static final class SPAWNATTR_SETSIGMASK {
        static final MethodHandle H = fn("posix_spawnattr_setsigmask");
    }
    private static final class SPAWNATTR_SETSIGDEFAULT {
        static final MethodHandle H = fn("posix_spawnattr_setsigdefault");
    }
    private static final class FILE_ACTIONS_INIT {
        static final MethodHandle H = fn("posix_spawn_file_actions_init");
    }
    private static final class FILE_ACTIONS_ADDOPEN {
        static final MethodHandle H = fn("posix_spawn_file_actions_addopen");
    }
    private static final class FILE_ACTIONS_ADDCLOSE {
        static final MethodHandle H = fn("posix_spawn_file_actions_addclose");
    }
    private static final class FILE_ACTIONS_ADDDUP2 {
        static final MethodHandle H = fn("posix_spawn_file_actions_adddup2");
    }
    private static final class EXIT {
        static final MethodHandle H = fn("_exit");
    }
    private static final class PTHREAD_SIGMASK {
        static final MethodHandle H = fn("pthread_sigmask");
    }
    private static final class STRERROR {
        static final MethodHandle H = fn("strerror");
    }

    // ---- epoll ----
    private static final class EPOLL_CREATE1 {
        static final MethodHandle H = fn("epoll_create1");
    }
    private static final class EPOLL_CTL {
        static final MethodHandle H = fn("epoll_ctl");
    }
    private static final class IOCTL {
        static final MethodHandle H = fn("ioctl");
    }
    private static final class GETRLIMIT {
        static final MethodHandle H = fn("getrlimit");
    }
    private static final class SETRLIMIT {
        static final MethodHandle H = fn("setrlimit");
    }
    private static final class EVENTFD {
        static final MethodHandle H = fn("eventfd");
    }
    private static final class EPOLL_WAIT {
        static final MethodHandle H = fn("epoll_wait");
    }

    public static int socket(int domain, int type, int protocol) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SOCKET.H.invokeExact(c, (long) domain, (long) type, (long) protocol, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** socketpair(2) into {@code fds} (two ints). */
    public static int socketpair(int domain, int type, int protocol, MemorySegment fds) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SOCKETPAIR.H.invokeExact(c, (long) domain, (long) type, (long) protocol, a(fds), 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int bind(int fd, MemorySegment addr, int len) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) BIND.H.invokeExact(c, (long) fd, a(addr), (long) len, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int connect(int fd, MemorySegment addr, int len) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) CONNECT.H.invokeExact(c, (long) fd, a(addr), (long) len, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int listen(int fd, int backlog) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) LISTEN.H.invokeExact(c, (long) fd, (long) backlog, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** accept4(2); {@code addr}/{@code lenInOut} may be NULL segments. */
    public static int accept4(int fd, MemorySegment addr, MemorySegment lenInOut, int flags) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) ACCEPT4.H.invokeExact(c, (long) fd, a(addr), a(lenInOut), (long) flags, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int shutdown(int fd, int how) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SHUTDOWN.H.invokeExact(c, (long) fd, (long) how, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
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

    public static long recv(int fd, long addr, long len, int flags) {
        MemorySegment c = cap();
        try {
            return ret((long) RECV.H.invokeExact(c, (long) fd, addr, len, (long) flags, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long recv(int fd, MemorySegment buf, long len, int flags) {
        return recv(fd, buf.address(), len, flags);
    }

    public static long send(int fd, long addr, long len, int flags) {
        MemorySegment c = cap();
        try {
            return ret((long) SEND.H.invokeExact(c, (long) fd, addr, len, (long) flags, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long send(int fd, MemorySegment buf, long len, int flags) {
        return send(fd, buf.address(), len, flags);
    }

    /** recvfrom(2); {@code addr}/{@code lenInOut} may be NULL segments. */
    public static long recvfrom(int fd, long buf, long len, int flags,
                                MemorySegment addr, MemorySegment lenInOut) {
        MemorySegment c = cap();
        try {
            return ret((long) RECVFROM.H.invokeExact(c, (long) fd, buf, len, (long) flags, a(addr), a(lenInOut)), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long sendto(int fd, long buf, long len, int flags,
                              MemorySegment addr, int addrLen) {
        MemorySegment c = cap();
        try {
            return ret((long) SENDTO.H.invokeExact(c, (long) fd, buf, len, (long) flags, a(addr), (long) addrLen), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long sendmsg(int fd, MemorySegment msghdr, int flags) {
        MemorySegment c = cap();
        try {
            return ret((long) SENDMSG.H.invokeExact(c, (long) fd, a(msghdr), (long) flags, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long recvmsg(int fd, MemorySegment msghdr, int flags) {
        MemorySegment c = cap();
        try {
            return ret((long) RECVMSG.H.invokeExact(c, (long) fd, a(msghdr), (long) flags, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setsockopt(int fd, int level, int name, MemorySegment val, int len) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETSOCKOPT.H.invokeExact(c, (long) fd, (long) level, (long) name, a(val), (long) len, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getsockopt(int fd, int level, int name, MemorySegment val, MemorySegment lenInOut) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) GETSOCKOPT.H.invokeExact(c, (long) fd, (long) level, (long) name, a(val), a(lenInOut), 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getsockname(int fd, MemorySegment addr, MemorySegment lenInOut) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) GETSOCKNAME.H.invokeExact(c, (long) fd, a(addr), a(lenInOut), 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getpeername(int fd, MemorySegment addr, MemorySegment lenInOut) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) GETPEERNAME.H.invokeExact(c, (long) fd, a(addr), a(lenInOut), 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
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

    public static int getpid() {
        try {
            return (int) (long) GETPID.H.invokeExact(cap(), 0L, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getuid() {
        try {
            return (int) (long) GETUID.H.invokeExact(cap(), 0L, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getgid() {
        try {
            return (int) (long) GETGID.H.invokeExact(cap(), 0L, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setsid() {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETSID.H.invokeExact(c, 0L, 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setuid(int uid) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETUID.H.invokeExact(c, (long) uid, 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setgid(int gid) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETGID.H.invokeExact(c, (long) gid, 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** setgroups(0, NULL): drops supplementary groups. */
    public static int clearGroups() {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETGROUPS.H.invokeExact(c, 0L, a(MemorySegment.NULL), 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int kill(int pid, int sig) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) KILL.H.invokeExact(c, (long) pid, (long) sig, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int umask(int mask) {
        try {
            return (int) (long) UMASK.H.invokeExact(cap(), (long) mask, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** execv(2): only returns on failure (negated errno). */
    public static int execv(MemorySegment path, MemorySegment argv) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) EXECV.H.invokeExact(c, a(path), a(argv), 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** posix_spawn(3): returns 0 or a positive error number, as the function itself does. */
    public static int posixSpawn(MemorySegment pidOut, MemorySegment path, MemorySegment fileActions,
                                 MemorySegment attr, MemorySegment argv, MemorySegment envp) {
        try {
            return (int) (long) POSIX_SPAWN.H.invokeExact(cap(), a(pidOut), a(path), a(fileActions), a(attr), a(argv), a(envp));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnattrInit(MemorySegment attr) {
        try {
            return (int) (long) SPAWNATTR_INIT.H.invokeExact(cap(), a(attr), 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnattrSetflags(MemorySegment attr, short flags) {
        try {
            return (int) (long) SPAWNATTR_SETFLAGS.H.invokeExact(cap(), a(attr), (long) flags, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnattrSetsigmask(MemorySegment attr, MemorySegment sigset) {
        try {
            return (int) (long) SPAWNATTR_SETSIGMASK.H.invokeExact(cap(), a(attr), a(sigset), 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnattrSetsigdefault(MemorySegment attr, MemorySegment sigset) {
        try {
            return (int) (long) SPAWNATTR_SETSIGDEFAULT.H.invokeExact(cap(), a(attr), a(sigset), 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnFileActionsInit(MemorySegment fa) {
        try {
            return (int) (long) FILE_ACTIONS_INIT.H.invokeExact(cap(), a(fa), 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnFileActionsAddopen(MemorySegment fa, int fd, MemorySegment path,
                                                   int flags, int mode) {
        try {
            return (int) (long) FILE_ACTIONS_ADDOPEN.H.invokeExact(cap(), a(fa), (long) fd, a(path), (long) flags, (long) mode, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnFileActionsAddclose(MemorySegment fa, int fd) {
        try {
            return (int) (long) FILE_ACTIONS_ADDCLOSE.H.invokeExact(cap(), a(fa), (long) fd, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * _exit(2): ends the process at once, without the JVM's shutdown (no shutdown hooks, no
     * safepoint, no atexit handlers). For a process that has nothing left to do or to flush.
     */
    public static void exitNow(int status) {
        try {
            long unused = (long) EXIT.H.invokeExact(cap(), (long) status, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static final int SIG_UNBLOCK = 1, SIG_SETMASK = 2;

    /** pthread_sigmask(3) for the calling thread: returns 0 or a positive error number. */
    public static int pthreadSigmask(int how, MemorySegment set, MemorySegment oldSet) {
        try {
            return (int) (long) PTHREAD_SIGMASK.H.invokeExact(cap(), (long) how, a(set), a(oldSet), 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnFileActionsAdddup2(MemorySegment fa, int fd, int newFd) {
        try {
            return (int) (long) FILE_ACTIONS_ADDDUP2.H.invokeExact(cap(), a(fa), (long) fd, (long) newFd, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
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

    /** ioctl(2) with a pointer argument; returns 0 or a negated errno. */
    public static int ioctl(int fd, long request, MemorySegment arg) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) IOCTL.H.invokeExact(c, (long) fd, request, a(arg), 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final class MMAP {
        static final MethodHandle H = fn("mmap");
    }
    private static final class MUNMAP {
        static final MethodHandle H = fn("munmap");
    }
    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20,
            MAP_NORESERVE = 0x4000;

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
        return MemorySegment.ofAddress(addr).reinterpret(size, arena, s -> munmap(s.address(), size));
    }

    private static void munmap(long addr, long size) {
        try {
            int ignored = (int) (long) MUNMAP.H.invokeExact(cap(), addr, size, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static final long SIOCOUTQ = 0x5411, SIOCINQ = 0x541B;
    public static final int RLIMIT_NOFILE = 7;

    /** getrlimit(2) into {@code limits} (two longs: soft, hard). */
    public static int getrlimit(int resource, MemorySegment limits) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) GETRLIMIT.H.invokeExact(c, (long) resource, a(limits), 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setrlimit(int resource, MemorySegment limits) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETRLIMIT.H.invokeExact(c, (long) resource, a(limits), 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static final int EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;

    public static int eventfd(int initval, int flags) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) EVENTFD.H.invokeExact(c, (long) initval, (long) flags, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
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

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
