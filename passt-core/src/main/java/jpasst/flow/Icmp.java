package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.conf.Conf;
import jpasst.link.FrameWriter;
import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.packet.Inany;
import jpasst.packet.Ip4;
import jpasst.packet.IcmpHdr;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;
import jpasst.util.Log;

/**
 * ICMP and ICMPv6 echo ("ping") through unprivileged ping sockets, as passt's icmp.c: no raw
 * sockets and no privileges, only {@code socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)} (and
 * {@code AF_INET6}/{@code IPPROTO_ICMPV6}), which the kernel allows to the groups in
 * {@code net.ipv4.ping_group_range} (that one sysctl governs both families).
 *
 * <p>One flow, and one ping socket, per (guest address, destination, echo identifier): the echo
 * request's ICMP header and payload are sent as they are with {@code sendto()} to the destination
 * (the gateway's address meaning the host's loopback, as for TCP and UDP). A ping socket owns an
 * identifier, its local "port": the kernel writes it into every request and hands the socket only
 * the replies that carry it. passt binds the socket to the guest's own identifier; jpasst lets the
 * kernel pick a free one instead, because the kernel lets two ping sockets bind the same
 * identifier (seen here: no EADDRINUSE) and then hands a reply to whichever it finds first, so two
 * guest flows with one identifier, or a host ping using it, would steal each other's replies.
 * Each reply is rewritten to the flow's guest identifier (the sequence number is left alone), its
 * checksum recomputed, and it goes to the guest from the address the guest pinged.
 *
 * <p>If the kernel refuses ping sockets (EACCES/EPERM: {@code ping_group_range} excludes us),
 * one warning says so with passt's words and the fix; later requests are dropped quietly (each
 * still tries, so fixing the sysctl needs no restart). Flows idle for
 * {@link Conf#icmpTimeoutSeconds} (passt's 60 s) are closed, as are all of them when the guest
 * goes away.
 *
 * <p>Anything but a well-formed echo request with a correct checksum is dropped quietly (trace).
 *
 * Hot path: no allocation. Replies are received straight into their frame (one piece, reserved
 * from the link) and committed with their real length.
 */
public final class Icmp implements Transport {
    public static final int MAX_FLOWS = 4096;
    static final int BATCH = 32;
    private static final long TICK_NANOS = 1_000_000_000L;
    private static final int MAX_MESSAGE = 65535 - Ip4.MIN_LEN;
    private static final int MAX_MESSAGE6 = 65535;

    private final Conf conf;
    private final EventLoop loop;
    private final FrameWriter frames;
    private final Flows flows;
    private final AddressMapping mapping;
    private final long timeoutNanos;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment sa = arena.allocate(SockAddr.STORAGE, 8);
    private final MemorySegment saLen = arena.allocate(8, 8);
    private final MemorySegment discard = arena.allocate(MAX_MESSAGE6, 64);

    private boolean warned;
    private long requests, replies, dropped, refused, expired, sendErrors;

    public Icmp(Conf conf, EventLoop loop, FrameWriter frames, Flows flows, AddressMapping mapping) {
        this.conf = conf;
        this.loop = loop;
        this.frames = frames;
        this.flows = flows;
        this.mapping = mapping;
        this.timeoutNanos = conf.icmpTimeoutSeconds * 1_000_000_000L;
        loop.handler(Refs.ICMP, this::onSocket);
        loop.onTick(this::tick);
    }

    // ---- guest → host ----

    @Override
    public void packet(MemorySegment s, long frame, long l4, int l4Len, boolean isV6,
                       long srcHi, long srcLo, long dstHi, long dstLo, boolean checksumPending) {
        if (l4Len < IcmpHdr.ECHO_LEN) {
            drop("short ICMP header");
            return;
        }
        int type = IcmpHdr.type(s, l4);
        if (type != (isV6 ? IcmpHdr.V6_ECHO_REQUEST : IcmpHdr.ECHO_REQUEST)
                || IcmpHdr.code(s, l4) != 0) {
            drop("not an echo request");
            return;
        }
        boolean ok = checksumPending || (isV6 ? IcmpHdr.checksumOk6(s, l4, l4Len, srcHi, srcLo, dstHi, dstLo)
                : IcmpHdr.checksumOk4(s, l4, l4Len));
        if (!ok) {
            drop("bad ICMP checksum");
            return;
        }
        if (!Inany.isUnicast(dstHi, dstLo)) {
            drop("echo request to a multicast, broadcast or unspecified address");
            return;
        }
        int id = IcmpHdr.id(s, l4);
        int f = flows.lookup(Flows.ICMP, srcHi, srcLo, id, dstHi, dstLo, 0);
        if (f < 0) {
            f = open(isV6, srcHi, srcLo, dstHi, dstLo, id);
            if (f < 0) {
                dropped++;
                return;
            }
        }
        flows.touch(f, loop.now());
        int len = SockAddr.inany(sa, flows.hHi(f), flows.hLo(f), 0);
        long n = Sockets.sendto(flows.fd(f), s.address() + l4, l4Len, Sockets.MSG_DONTWAIT | Sockets.MSG_NOSIGNAL, sa, len);
        if (n < 0) {
            sendErrors++;
            if (Log.traceEnabled()) Log.trace("ICMP flow " + f + ": sendto: " + Errno.text((int) n));
            return;
        }
        requests++;
        flows.countToHost(f, 1, n);
        if (Log.traceEnabled()) {
            Log.trace("ICMP flow " + f + ": echo request id " + id + " seq "
                    + IcmpHdr.seq(s, l4) + " to " + Inany.toString(flows.hHi(f), flows.hLo(f)));
        }
    }

    private int open(boolean isV6, long srcHi, long srcLo, long dstHi, long dstLo, int id) {
        if (flows.count(Flows.ICMP) == flows.limit(Flows.ICMP)) {
            if (Log.debugEnabled()) Log.debug("ICMP: flow table full, echo request dropped");
            return -1;
        }
        if (mapping.forbiddenDestination(dstHi, dstLo)) return -1;
        long toHi = mapping.hostHi(dstHi, dstLo), toLo = mapping.hostLo(dstHi, dstLo);
        boolean hostV4 = Inany.isV4(toHi, toLo);
        int sock = Sockets.socket(hostV4 ? Sockets.AF_INET : Sockets.AF_INET6,
                Sockets.SOCK_DGRAM | Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC,
                hostV4 ? Sockets.IPPROTO_ICMP : Sockets.IPPROTO_ICMPV6);
        if (sock < 0) {
            if (sock == -Errno.EACCES || sock == -Errno.EPERM) {
                refused++;
                if (!warned) {
                    warned = true;
                    Log.warn("Cannot open \"ping\" socket. You might need to:");
                    Log.warn("  sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"");
                    Log.warn("...echo requests/replies will fail.");
                }
            } else if (Log.debugEnabled()) {
                Log.debug("ICMP: ping socket: " + Errno.text(sock));
            }
            return -1;
        }
        // identifier 0: the kernel picks one no other ping socket has (it lets two sockets bind
        // the same one, and then hands a reply to whichever it finds first)
        if (hostV4 ? conf.outbound4 != 0 : (conf.outbound6Hi | conf.outbound6Lo) != 0) {
            int len = hostV4 ? SockAddr.in4(sa, conf.outbound4, 0)
                    : SockAddr.in6(sa, conf.outbound6Hi, conf.outbound6Lo, 0, 0);
            Sockets.bind(sock, sa, len);
        }
        mapping.bindOutboundDevice(sock, toHi, toLo); // --outbound-if4/6
        int f = flows.open(Flows.ICMP);
        if (f < 0) {
            Descriptors.close(sock);
            return -1;
        }
        // the guest side's "ports": the guest's echo identifier, and none
        flows.guestSide(f, isV6, srcHi, srcLo, id, dstHi, dstLo, 0);
        flows.hostSide(f, toHi, toLo, 0);
        flows.fd(f, sock);
        flows.touch(f, loop.now());
        if (!flows.keyGuestSide(f) || loop.add(sock, Epoll.EPOLLIN, flows.ref(Refs.ICMP, f)) < 0) {
            close(f);
            return -1;
        }
        loop.wakeAt(loop.now() + TICK_NANOS);
        if (Log.debugEnabled()) {
            Log.debug("ICMP flow " + f + ": echo id " + id + " " + Inany.toString(srcHi, srcLo) + " -> "
                    + Inany.toString(dstHi, dstLo) + " (host side " + Inany.toString(toHi, toLo)
                    + ", ping socket " + sock + ", kernel id " + localId(sock) + ")");
        }
        return f;
    }

    /** The identifier the kernel uses for this ping socket (its bound "port"), or -1. */
    private int localId(int sock) {
        saLen.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
        if (Sockets.getsockname(sock, sa, saLen) < 0) return -1;
        return SockAddr.port(sa);
    }

    // ---- host → guest ----

    private void onSocket(long ref, int events) {
        int f = flows.flowOf(ref, Flows.ICMP);
        if (f < 0) return; // closed meanwhile
        int sock = flows.fd(f);
        boolean isV6 = flows.v6(f);
        int max = isV6 ? MAX_MESSAGE6 : MAX_MESSAGE;
        for (int i = 0; i < BATCH; i++) {
            long frame = frames.reserve(isV6, max);
            if (frame < 0) {
                if (Sockets.recv(sock, discard.address(), discard.byteSize(), Sockets.MSG_DONTWAIT) < 0) return;
                dropped++;
                continue;
            }
            long l4 = FrameWriter.l4(frame, isV6);
            MemorySegment o = frames.out();
            long n = Sockets.recv(sock, o.address() + l4, max, Sockets.MSG_DONTWAIT);
            if (n < 0) {
                if (n == -Errno.EAGAIN || n == -Errno.EINTR) return;
                if (Log.traceEnabled()) Log.trace("ICMP flow " + f + ": recv: " + Errno.text((int) n));
                continue;
            }
            int len = (int) n;
            if (len < IcmpHdr.ECHO_LEN || IcmpHdr.type(o, l4)
                    != (isV6 ? IcmpHdr.V6_ECHO_REPLY : IcmpHdr.ECHO_REPLY)) {
                drop("unexpected message on a ping socket");
                continue;
            }
            // back to the identifier the guest chose; the sequence number is the guest's already
            jpasst.packet.Net.u16(o, l4 + IcmpHdr.ID, flows.gPort(f));
            if (isV6) {
                IcmpHdr.checksum6(o, l4, len, flows.rHi(f), flows.rLo(f), flows.gHi(f), flows.gLo(f));
            } else {
                IcmpHdr.checksum4(o, l4, len);
            }
            flows.touch(f, loop.now());
            frames.commit(frame, isV6, flows.rHi(f), flows.rLo(f), flows.gHi(f), flows.gLo(f), isV6 ? 58 : 1, len);
            replies++;
            flows.countToGuest(f, 1, len);
        }
    }

    // ---- bookkeeping ----

    /** Closes flow {@code f}: its ping socket and its slot. */
    private void close(int f) {
        flows.close(f, Flows.ICMP, loop);
    }

    private void tick(long now) {
        if (flows.count(Flows.ICMP) == 0) return;
        expired += flows.expireIdle(Flows.ICMP, now, timeoutNanos, loop);
        if (flows.count(Flows.ICMP) > 0) loop.wakeAt(now + TICK_NANOS);
    }

    @Override
    public void guestGone() {
        for (int f = 0; f < flows.highWater(); f++) close(f);
    }

    public void close() {
        guestGone();
    }

    private void drop(String why) {
        dropped++;
        if (Log.traceEnabled()) Log.trace("ICMP: dropped: " + why);
    }

    // ---- numbers, for tests and debugging ----

    public int active() {
        return flows.count(Flows.ICMP);
    }

    /** Whether the "ping socket refused" warning was given. */
    public boolean warned() {
        return warned;
    }

    public long refused() {
        return refused;
    }

    public long requests() {
        return requests;
    }

    public long replies() {
        return replies;
    }

    public long dropped() {
        return dropped;
    }

    public long expired() {
        return expired;
    }

    public long sendErrors() {
        return sendErrors;
    }

    /** The kernel's identifier for flow {@code f}'s ping socket (tests), or -1. */
    int kernelId(int f) {
        return f < flows.highWater() && flows.type(f) == Flows.ICMP ? localId(flows.fd(f)) : -1;
    }
}
