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
 * tcp_listen_handler. A connection accepted on a listening socket becomes a connection to the
 * guest's port that socket's forward names ({@link Tcp#accepted}); with no guest connected it is
 * closed. A dual-stack socket ({@link ListenerSlots#BOTH}) accepts IPv4 peers as ::ffff:a.b.c.d,
 * which is how {@link Tcp} keeps IPv4 addresses anyway: the connection to the guest is IPv4.
 * The sockets are slots ({@link ListenerSlots}): those of {@code -t}, and those
 * {@link Forwards} adds and removes at run time. A removed socket stops accepting; the
 * connections it accepted are flows of their own and run on until they close.
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
    private final MemorySegment opt = Arena.ofAuto().allocate(8, 8);
    private final MemorySegment devNull = Arena.ofAuto().allocateFrom("/dev/null");
    private final ListenerSlots slots = new ListenerSlots(Refs.TCP_LISTEN);
    private int spareFd = -1;
    private long accepted;

    public TcpListeners(EventLoop loop, Link link, Tcp tcp) {
        this.loop = loop;
        this.link = link;
        this.tcp = tcp;
        loop.handler(Refs.TCP_LISTEN, this::onListener);
    }

    /**
     * Serves inbound connections on {@code listening}, the sockets of the forwarded ports (bound
     * by {@code jpasst.Listeners}, maybe in the launching process); {@code fwd} maps their ports
     * to the guest's. Each socket's port and families come from the socket itself.
     */
    public void listen(PortSpec.Forward fwd, int[] listening) {
        for (int fd : listening) {
            int fams = Errno.check(ForwardSockets.familiesOf(fd, peer, peerLen, opt), "TCP listening socket " + fd);
            int port = SockAddr.port(peer);
            Errno.check(add(fd, port, fams, fwd.bindOf(port), fwd.targetOf(port)), "epoll_ctl");
        }
    }

    /**
     * Serves the listening socket {@code fd} of host port {@code port}, taking {@code fams},
     * for guest port {@code target}: its slot, or a negated errno (the socket is then the
     * caller's still).
     */
    int add(int fd, int port, int fams, PortSpec.Bind bind, int target) {
        int s = slots.add(fd, port, fams, bind == null ? PortSpec.Bind.ANY : bind, target);
        int r = loop.add(fd, Epoll.EPOLLIN, slots.ref(s));
        if (r < 0) {
            slots.remove(s);
            return r;
        }
        if (spareFd < 0) spareFd = Descriptors.open(devNull, Descriptors.O_RDONLY | Descriptors.O_CLOEXEC, 0);
        return s;
    }

    /** Stops listening on slot {@code s} and closes its socket: the port is free on the host. */
    void remove(int s) {
        int fd = slots.fd(s);
        loop.remove(fd);
        Descriptors.close(fd);
        slots.remove(s);
    }

    /** The listening sockets (read-only outside this package). */
    public ListenerSlots slots() {
        return slots;
    }

    /** Connections accepted on forwarded ports since start. */
    public long accepted() {
        return accepted;
    }

    private void onListener(long ref, int ev) {
        int s = slots.slotOf(ref);
        if (s < 0) return; // removed in this batch
        int lfd = slots.fd(s);
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
                accepted++;
                tcp.accepted(fd, SockAddr.inanyHi(peer), SockAddr.inanyLo(peer), SockAddr.port(peer), slots.target(s));
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
        for (int s = 0; s < slots.highWater(); s++) {
            if (slots.live(s)) remove(s);
        }
        if (spareFd >= 0) Descriptors.close(spareFd);
        spareFd = -1;
    }
}
