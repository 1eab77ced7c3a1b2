package jpasst.flow;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

import jpasst.conf.Conf;
import jpasst.conf.PortSpec;
import jpasst.sys.Descriptors;
import jpasst.sys.SockAddr;
import jpasst.sys.Sockets;

/**
 * The listening socket of one forwarded port and address family, set up as passt sets it up
 * (SO_REUSEADDR, IPV6_V6ONLY, IP_FREEBIND with {@code --freebind}, SO_BINDTODEVICE for
 * {@code %IFACE}), bound to the spec's address or to any. The launcher binds the ports of
 * {@code -t}/{@code -u} with these ({@code jpasst.Listeners}, thousands at a time), and
 * {@link Forwards} the ports added at run time, one by one on the loop's thread.
 */
public final class ForwardSockets {
    private ForwardSockets() {}

    /**
     * The socket options of a forwarded port's socket {@code fd}; 0, or a negated errno if
     * {@code strictDevice} and the interface cannot be bound to. {@code sa} and {@code opt} are
     * scratch memory (a sockaddr_storage, 16 bytes).
     */
    private static int options(Conf c, int fd, boolean v6, PortSpec.Bind b, MemorySegment sa, MemorySegment opt,
                              boolean strictDevice) {
        setInt(fd, Sockets.SOL_SOCKET, Sockets.SO_REUSEADDR, opt);
        if (v6) setInt(fd, Sockets.IPPROTO_IPV6, Sockets.IPV6_V6ONLY, opt);
        if (c.freebind) {
            setInt(fd, v6 ? Sockets.IPPROTO_IPV6 : Sockets.IPPROTO_IP, v6 ? Sockets.IPV6_FREEBIND : Sockets.IP_FREEBIND, opt);
        }
        if (b.iface() != null) {
            byte[] name = b.iface().getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(name, 0, sa, ValueLayout.JAVA_BYTE, 0, name.length);
            sa.set(ValueLayout.JAVA_BYTE, name.length, (byte) 0);
            int r = Sockets.setsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_BINDTODEVICE, sa, name.length + 1);
            if (r < 0 && strictDevice) return r;
        }
        return 0;
    }

    /** Binds {@code fd} to {@code port} at the spec's address of that family, or any: 0 or a negated errno. */
    private static int bind(int fd, boolean v6, PortSpec.Bind b, int port, MemorySegment sa) {
        int len = v6 ? SockAddr.in6(sa, b.family() == 6 ? b.addr6Hi() : 0, b.family() == 6 ? b.addr6Lo() : 0, port, 0)
                : SockAddr.in4(sa, b.family() == 4 ? b.addr4() : 0, port);
        return Sockets.bind(fd, sa, len);
    }

    /**
     * A bound socket for {@code port} and one family, listening if {@code tcp}: its descriptor
     * (non-blocking, close-on-exec), or a negated errno with nothing left open. An interface
     * that cannot be bound to is an error (at run time nothing is skipped quietly).
     */
    public static int open(Conf c, boolean tcp, int port, boolean v6, PortSpec.Bind b, MemorySegment sa, MemorySegment opt) {
        int fd = Sockets.socket(v6 ? Sockets.AF_INET6 : Sockets.AF_INET,
                (tcp ? Sockets.SOCK_STREAM : Sockets.SOCK_DGRAM) | Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC,
                tcp ? 0 : Sockets.IPPROTO_UDP);
        if (fd < 0) return fd;
        int r = setUp(c, fd, tcp, port, v6, b, sa, opt, true);
        if (r < 0) {
            Descriptors.close(fd);
            return r;
        }
        return fd;
    }

    /**
     * The options of the socket {@code fd} of {@code port}, its bind and ({@code tcp}) listen: 0,
     * or a negated errno ({@code strictDevice}: see {@link #options}).
     */
    public static int setUp(Conf c, int fd, boolean tcp, int port, boolean v6, PortSpec.Bind b, MemorySegment sa,
                            MemorySegment opt, boolean strictDevice) {
        int r = options(c, fd, v6, b, sa, opt, strictDevice);
        if (r == 0) r = bind(fd, v6, b, port, sa);
        if (r == 0 && tcp) r = Sockets.listen(fd, 128);
        return r;
    }

    private static void setInt(int fd, int level, int name, MemorySegment opt) {
        opt.set(ValueLayout.JAVA_INT, 0, 1);
        Sockets.setsockopt(fd, level, name, opt, 4);
    }
}
