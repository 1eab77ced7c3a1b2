package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.conf.PortSpec;
import jpasst.link.Link;
import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;
import jpasst.sys.SocketOptions;

/**
 * Inbound TCP ({@code -t}): the listening sockets of the forwarded ports, as passt's
 * tcp_listen_handler. A connection accepted on host port P becomes a connection to the guest's
 * port the spec maps P to ({@link Tcp#accepted}); with no guest connected it is closed.
 *
 * While there are listeners one descriptor is held in reserve (on /dev/null): out of
 * descriptors, a pending connection is accepted with it and reset, rather than left in the
 * backlog, where it would keep the (level-triggered) listener readable and the loop spinning.
 */
public final class TcpListeners {
    private final EventLoop loop;
    private final Link link;
    private final Tcp tcp;
    private final SocketOptions options = new SocketOptions();
    private final MemorySegment peer = Arena.ofAuto().allocate(SockAddr.STORAGE, 8);
    private final MemorySegment peerLen = Arena.ofAuto().allocate(8, 8);
    private final MemorySegment devNull = Arena.ofAuto().allocateFrom("/dev/null");
    private PortSpec.Forward forward;
    private int[] fds = new int[0];
    private int spareFd = -1;

    public TcpListeners(EventLoop loop, Link link, Tcp tcp) {
        this.loop = loop;
        this.link = link;
        this.tcp = tcp;
        loop.handler(Refs.TCP_LISTEN, this::onListener);
    }

    /**
     * Serves inbound connections on {@code listening}, the sockets of the forwarded ports (bound
     * by {@code jpasst.Listeners}, maybe in the launching process); {@code fwd} maps their ports
     * to the guest's. Each socket's port and family come from the socket itself.
     */
    public void listen(PortSpec.Forward fwd, int[] listening) {
        this.forward = fwd;
        for (int fd : listening) {
            peerLen.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
            Errno.check(Sockets.getsockname(fd, peer, peerLen), "TCP listening socket " + fd);
            boolean v6 = SockAddr.family(peer) == Sockets.AF_INET6;
            int port = SockAddr.port(peer);
            Errno.check(loop.add(fd, Epoll.EPOLLIN, EventLoop.ref(Refs.TCP_LISTEN, (long) fd << 17 | (v6 ? 1L << 16 : 0) | port)),
                    "epoll_ctl");
        }
        fds = listening;
        if (listening.length > 0) spareFd = Descriptors.open(devNull, Descriptors.O_RDONLY | Descriptors.O_CLOEXEC, 0);
    }

    private void onListener(long ref, int ev) {
        long v = EventLoop.value(ref);
        int lfd = (int) (v >>> 17);
        int port = (int) (v & 0xffff);
        for (int i = 0; i < 64; i++) {
            peerLen.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
            int fd = Sockets.accept4(lfd, peer, peerLen, Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC);
            if (fd < 0) {
                if (fd == -Errno.EMFILE || fd == -Errno.ENFILE) {
                    tcp.limitReached("out of file descriptors");
                    if (shed(lfd)) continue; // reset, and on to the next one waiting
                }
                return;
            }
            if (link.connected()) {
                tcp.accepted(fd, SockAddr.inanyHi(peer), SockAddr.inanyLo(peer), SockAddr.port(peer),
                        forward.targetOf(port));
            } else {
                Descriptors.close(fd);
            }
        }
    }

    /** Out of descriptors: accepts one pending connection with the spare one and resets it. */
    private boolean shed(int lfd) {
        if (spareFd < 0) return false;
        Descriptors.close(spareFd);
        int fd = Sockets.accept4(lfd, MemorySegment.NULL, MemorySegment.NULL, Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC);
        if (fd >= 0) options.abortiveClose(fd);
        spareFd = Descriptors.open(devNull, Descriptors.O_RDONLY | Descriptors.O_CLOEXEC, 0);
        return fd >= 0;
    }

    /** Closes the listening sockets and the spare descriptor (daemon shutdown). */
    public void close() {
        for (int fd : fds) Descriptors.close(fd);
        fds = new int[0];
        if (spareFd >= 0) Descriptors.close(spareFd);
        spareFd = -1;
    }
}
