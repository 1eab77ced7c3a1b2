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
 * The listening socket of one forwarded port, set up as passt sets it up (SO_REUSEADDR,
 * IPV6_V6ONLY, IP_FREEBIND with {@code --freebind}, SO_BINDTODEVICE for {@code %IFACE}), bound
 * to the spec's address or to any. A port on any address with both address families on is one
 * dual-stack socket ({@link ListenerSlots#BOTH}: IPv6, IPV6_V6ONLY off, IPv4 peers as
 * ::ffff:a.b.c.d), as passt binds it; when that cannot be bound (one family's port is taken) the
 * caller falls back to a socket per family, as passt does. The launcher binds the ports of
 * {@code -t}/{@code -u} with these ({@code jpasst.Listeners}, thousands at a time), and
 * {@link Forwards} the ports added at run time, one by one on the loop's thread.
 */
public final class ForwardSockets {
    private ForwardSockets() {}

    /** The families a socket for {@code b} takes: both on one socket when both are on and {@code b} names no address. */
    public static int families(Conf c, PortSpec.Bind b) {
        if (b.anyAddress()) return (c.v4 ? ListenerSlots.IPV4 : 0) | (c.v6 ? ListenerSlots.IPV6 : 0);
        return b.family() == 6 ? (c.v6 ? ListenerSlots.IPV6 : 0) : (c.v4 ? ListenerSlots.IPV4 : 0);
    }

    /**
     * The socket options of a forwarded port's socket {@code fd} for {@code fams}; 0, or a
     * negated errno if {@code strictDevice} and the interface cannot be bound to. {@code sa}
     * and {@code opt} are scratch memory (a sockaddr_storage, 16 bytes).
     */
    private static int options(Conf c, int fd, int fams, PortSpec.Bind b, MemorySegment sa, MemorySegment opt,
                              boolean strictDevice) {
        boolean v6 = fams != ListenerSlots.IPV4;
        setInt(fd, Sockets.SOL_SOCKET, Sockets.SO_REUSEADDR, 1, opt);
        // (off explicitly for a dual-stack socket: the default is net.ipv6.bindv6only's)
        if (v6) setInt(fd, Sockets.IPPROTO_IPV6, Sockets.IPV6_V6ONLY, fams == ListenerSlots.IPV6 ? 1 : 0, opt);
        if (c.freebind) {
            setInt(fd, v6 ? Sockets.IPPROTO_IPV6 : Sockets.IPPROTO_IP, v6 ? Sockets.IPV6_FREEBIND : Sockets.IP_FREEBIND, 1, opt);
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
    private static int bind(int fd, int fams, PortSpec.Bind b, int port, MemorySegment sa) {
        int len = fams != ListenerSlots.IPV4
                ? SockAddr.in6(sa, b.family() == 6 ? b.addr6Hi() : 0, b.family() == 6 ? b.addr6Lo() : 0, port, 0)
                : SockAddr.in4(sa, b.family() == 4 ? b.addr4() : 0, port);
        return Sockets.bind(fd, sa, len);
    }

    /**
     * A bound socket for {@code port} taking {@code fams}, listening if {@code tcp}: its
     * descriptor (non-blocking, close-on-exec), or a negated errno with nothing left open. An
     * interface that cannot be bound to is an error (at run time nothing is skipped quietly).
     */
    public static int open(Conf c, boolean tcp, int port, int fams, PortSpec.Bind b, MemorySegment sa, MemorySegment opt) {
        int fd = Sockets.socket(fams == ListenerSlots.IPV4 ? Sockets.AF_INET : Sockets.AF_INET6,
                (tcp ? Sockets.SOCK_STREAM : Sockets.SOCK_DGRAM) | Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC,
                tcp ? 0 : Sockets.IPPROTO_UDP);
        if (fd < 0) return fd;
        int r = setUp(c, fd, tcp, port, fams, b, sa, opt, true);
        if (r < 0) {
            Descriptors.close(fd);
            return r;
        }
        return fd;
    }

    /**
     * The options of the socket {@code fd} of {@code port} for {@code fams}, its bind and
     * ({@code tcp}) listen: 0, or a negated errno ({@code strictDevice}: see {@link #options}).
     */
    public static int setUp(Conf c, int fd, boolean tcp, int port, int fams, PortSpec.Bind b, MemorySegment sa,
                            MemorySegment opt, boolean strictDevice) {
        int r = options(c, fd, fams, b, sa, opt, strictDevice);
        if (r == 0) r = bind(fd, fams, b, port, sa);
        if (r == 0 && tcp) r = Sockets.listen(fd, 128);
        return r;
    }

    /**
     * The families the bound socket {@code fd} takes ({@link ListenerSlots#IPV4}, {@code IPV6}
     * or {@code BOTH}), its address left in {@code sa} (a sockaddr_storage; {@code len} and
     * {@code opt} scratch, 4 bytes each at least); a negated errno if it is no socket.
     */
    public static int familiesOf(int fd, MemorySegment sa, MemorySegment len, MemorySegment opt) {
        len.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
        int r = Sockets.getsockname(fd, sa, len);
        if (r < 0) return r;
        if (SockAddr.family(sa) != Sockets.AF_INET6) return ListenerSlots.IPV4;
        len.set(ValueLayout.JAVA_INT, 0, 4);
        r = Sockets.getsockopt(fd, Sockets.IPPROTO_IPV6, Sockets.IPV6_V6ONLY, opt, len);
        if (r < 0) return r;
        return opt.get(ValueLayout.JAVA_INT, 0) != 0 ? ListenerSlots.IPV6 : ListenerSlots.BOTH;
    }
    private static void setInt(int fd, int level, int name, int value, MemorySegment opt) {
        opt.set(ValueLayout.JAVA_INT, 0, value);
        Sockets.setsockopt(fd, level, name, opt, 4);
    }
}
