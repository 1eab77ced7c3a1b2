package jpasst.sys;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static jpasst.sys.Native.a;
import static jpasst.sys.Native.cap;
import static jpasst.sys.Native.fn;
import static jpasst.sys.Native.ret;
import static jpasst.sys.Native.rethrow;

/**
 * Sockets: socket, bind, connect, listen, accept4, shutdown, recv and send in their forms
 * (recvfrom, sendto, recvmsg, sendmsg: see {@link Msghdr}), the socket options, and the
 * constants they take (Linux's values, the same on x86-64 and AArch64). Addresses are written by
 * {@link SockAddr}; close, read and write, which any descriptor takes, are {@link Descriptors}'.
 *
 * Hot path: no allocation (see {@link Native}).
 */
public final class Sockets {
    private Sockets() {}

    public static final int AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
    public static final int SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3;
    public static final int SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    public static final int IPPROTO_IP = 0, IPPROTO_ICMP = 1, IPPROTO_TCP = 6, IPPROTO_UDP = 17,
            IPPROTO_IPV6 = 41, IPPROTO_ICMPV6 = 58;
    public static final int SOL_SOCKET = 1;
    public static final int SO_REUSEADDR = 2, SO_ERROR = 4, SO_SNDBUF = 7, SO_RCVBUF = 8,
            SO_KEEPALIVE = 9, SO_LINGER = 13, SO_REUSEPORT = 15, SO_RCVLOWAT = 18,
            SO_PEEK_OFF = 42, SO_BINDTODEVICE = 25, SO_PEERCRED = 17;
    public static final int TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_INFO = 11, TCP_QUICKACK = 12,
            TCP_WINDOW_CLAMP = 10;
    public static final int IPV6_V6ONLY = 26, IP_FREEBIND = 15, IPV6_FREEBIND = 78;
    public static final int MSG_PEEK = 0x2, MSG_DONTWAIT = 0x40, MSG_TRUNC = 0x20,
            MSG_NOSIGNAL = 0x4000, MSG_MORE = 0x8000;
    /** recvmsg(2) with descriptors (SCM_RIGHTS): control data cut short; descriptors close-on-exec. */
    public static final int MSG_CTRUNC = 0x8, MSG_CMSG_CLOEXEC = 0x40000000;
    public static final int SCM_RIGHTS = 1;
    public static final int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;
    /** ioctl(2) requests on a socket: bytes not yet acknowledged (TCP) or sent; bytes to read. */
    public static final long SIOCOUTQ = 0x5411, SIOCINQ = 0x541B;

    static final class SOCKET {
        static final MethodHandle H = fn("socket");
    }
    private static final class SOCKETPAIR {
        static final MethodHandle H = fn("socketpair");
    }
    static final class BIND {
        static final MethodHandle H = fn("bind");
    }
    static final class CONNECT {
        static final MethodHandle H = fn("connect");
    }
    static final class LISTEN {
        static final MethodHandle H = fn("listen");
    }
    private static final class ACCEPT4 {
        static final MethodHandle H = fn("accept4");
    }
    private static final class SHUTDOWN {
        static final MethodHandle H = fn("shutdown");
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

    /*
     * The data-path calls take the buffer as a raw address, as Descriptors.read and write do (no
     * slice object per call); the segment overloads are for everything else.
     */

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
}
