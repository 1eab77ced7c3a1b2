package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import jpasst.conf.Conf;
import jpasst.link.FrameWriter;
import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.packet.Inany;
import jpasst.packet.Ip4;
import jpasst.packet.Ip6;
import jpasst.sys.Errno;
import jpasst.sys.Libc;
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
    private final AddressMapping flows;
    private final long timeoutNanos;
    private final FlowTable table = new FlowTable(64, 2 * MAX_FLOWS);

    private final boolean[] used = new boolean[MAX_FLOWS];
    private final int[] fd = new int[MAX_FLOWS];
    private final boolean[] v6 = new boolean[MAX_FLOWS];
    private final int[] guestId = new int[MAX_FLOWS];
    private final long[] gHi = new long[MAX_FLOWS], gLo = new long[MAX_FLOWS];   // the guest
    private final long[] dHi = new long[MAX_FLOWS], dLo = new long[MAX_FLOWS];   // what it pinged
    private final long[] tHi = new long[MAX_FLOWS], tLo = new long[MAX_FLOWS];   // where it goes
    private final long[] last = new long[MAX_FLOWS];
    private final int[] free = new int[MAX_FLOWS];
    private int freeTop, active, highWater;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment sa = arena.allocate(SockAddr.STORAGE, 8);
    private final MemorySegment saLen = arena.allocate(8, 8);
    private final MemorySegment discard = arena.allocate(MAX_MESSAGE6, 64);

    private boolean warned;
    private long requests, replies, dropped, refused, expired, sendErrors;

    public Icmp(Conf conf, EventLoop loop, FrameWriter frames, AddressMapping flows) {
        this.conf = conf;
        this.loop = loop;
        this.frames = frames;
        this.flows = flows;
        this.timeoutNanos = conf.icmpTimeoutSeconds * 1_000_000_000L;
        for (int i = 0; i < MAX_FLOWS; i++) free[i] = MAX_FLOWS - 1 - i;
        freeTop = MAX_FLOWS;
        Arrays.fill(fd, -1);
        loop.handler(Refs.ICMP, this::onSocket);
        loop.onTick(this::tick);
    }

    // ---- guest → host ----

    @Override
    public void packet(MemorySegment s, long frame, long l4, int l4Len, boolean isV6,
                       long srcHi, long srcLo, long dstHi, long dstLo) {
        if (l4Len < jpasst.packet.Icmp.ECHO_LEN) {
            drop("short ICMP header");
            return;
        }
        int type = jpasst.packet.Icmp.type(s, l4);
        if (type != (isV6 ? jpasst.packet.Icmp.V6_ECHO_REQUEST : jpasst.packet.Icmp.ECHO_REQUEST)
                || jpasst.packet.Icmp.code(s, l4) != 0) {
            drop("not an echo request");
            return;
        }
        boolean ok = isV6 ? jpasst.packet.Icmp.checksumOk6(s, l4, l4Len, srcHi, srcLo, dstHi, dstLo)
                : jpasst.packet.Icmp.checksumOk4(s, l4, l4Len);
        if (!ok) {
            drop("bad ICMP checksum");
            return;
        }
        if (!unicast(dstHi, dstLo)) {
            drop("echo request to a multicast, broadcast or unspecified address");
            return;
        }
        int id = jpasst.packet.Icmp.id(s, l4);
        long meta = id;
        int f = table.get(srcHi, srcLo, dstHi, dstLo, meta);
        if (f < 0) {
            f = open(isV6, srcHi, srcLo, dstHi, dstLo, id);
            if (f < 0) {
                dropped++;
                return;
            }
        }
        last[f] = loop.now();
        int len = SockAddr.inany(sa, tHi[f], tLo[f], 0);
        long n = Libc.sendto(fd[f], s.address() + l4, l4Len, Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL, sa, len);
        if (n < 0) {
            sendErrors++;
            if (Log.traceEnabled()) Log.trace("ICMP flow " + f + ": sendto: " + Errno.text((int) n));
            return;
        }
        requests++;
        if (Log.traceEnabled()) {
            Log.trace("ICMP flow " + f + ": echo request id " + id + " seq "
                    + jpasst.packet.Icmp.seq(s, l4) + " to " + Inany.toString(tHi[f], tLo[f]));
        }
    }

    private static boolean unicast(long hi, long lo) {
        if (Inany.isV4(hi, lo)) {
            int a = Inany.v4(lo);
            return a != 0 && a != Ip4.BROADCAST && !Ip4.isMulticast(a);
        }
        return !Ip6.isMulticast(hi) && !Ip6.isUnspecified(hi, lo);
    }

    private int open(boolean isV6, long srcHi, long srcLo, long dstHi, long dstLo, int id) {
        if (freeTop == 0) {
            if (Log.debugEnabled()) Log.debug("ICMP: flow table full, echo request dropped");
            return -1;
        }
        if (flows.forbiddenDestination(dstHi, dstLo)) return -1;
        long toHi = flows.hostHi(dstHi, dstLo), toLo = flows.hostLo(dstHi, dstLo);
        boolean hostV4 = Inany.isV4(toHi, toLo);
        int sock = Libc.socket(hostV4 ? Libc.AF_INET : Libc.AF_INET6,
                Libc.SOCK_DGRAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC,
                hostV4 ? Libc.IPPROTO_ICMP : Libc.IPPROTO_ICMPV6);
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
            Libc.bind(sock, sa, len);
        }
        flows.bindOutboundDevice(sock, toHi, toLo); // --outbound-if4/6
        int f = free[--freeTop];
        if (f + 1 > highWater) highWater = f + 1;
        if (!table.put(srcHi, srcLo, dstHi, dstLo, id, f)) {
            free[freeTop++] = f;
            Libc.close(sock);
            return -1;
        }
        used[f] = true;
        fd[f] = sock;
        v6[f] = isV6;
        guestId[f] = id;
        gHi[f] = srcHi;
        gLo[f] = srcLo;
        dHi[f] = dstHi;
        dLo[f] = dstLo;
        tHi[f] = toHi;
        tLo[f] = toLo;
        last[f] = loop.now();
        if (loop.add(sock, Libc.EPOLLIN, EventLoop.ref(Refs.ICMP, (long) sock << 24 | f)) < 0) {
            close(f);
            return -1;
        }
        active++;
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
        if (Libc.getsockname(sock, sa, saLen) < 0) return -1;
        return SockAddr.port(sa);
    }

    // ---- host → guest ----

    private void onSocket(long ref, int events) {
        long v = EventLoop.value(ref);
        int f = (int) (v & 0xffffff), sock = (int) (v >>> 24);
        if (f >= MAX_FLOWS || !used[f] || fd[f] != sock) return;
        boolean isV6 = v6[f];
        int max = isV6 ? MAX_MESSAGE6 : MAX_MESSAGE;
        for (int i = 0; i < BATCH; i++) {
            long frame = frames.reserve(isV6, max);
            if (frame < 0) {
                if (Libc.recv(sock, discard.address(), discard.byteSize(), Libc.MSG_DONTWAIT) < 0) return;
                dropped++;
                continue;
            }
            long l4 = FrameWriter.l4(frame, isV6);
            MemorySegment o = frames.out();
            long n = Libc.recv(sock, o.address() + l4, max, Libc.MSG_DONTWAIT);
            if (n < 0) {
                if (n == -Errno.EAGAIN || n == -Errno.EINTR) return;
                if (Log.traceEnabled()) Log.trace("ICMP flow " + f + ": recv: " + Errno.text((int) n));
                continue;
            }
            int len = (int) n;
            if (len < jpasst.packet.Icmp.ECHO_LEN || jpasst.packet.Icmp.type(o, l4)
                    != (isV6 ? jpasst.packet.Icmp.V6_ECHO_REPLY : jpasst.packet.Icmp.ECHO_REPLY)) {
                drop("unexpected message on a ping socket");
                continue;
            }
            // back to the identifier the guest chose; the sequence number is the guest's already
            jpasst.packet.Net.u16(o, l4 + jpasst.packet.Icmp.ID, guestId[f]);
            if (isV6) {
                jpasst.packet.Icmp.checksum6(o, l4, len, dHi[f], dLo[f], gHi[f], gLo[f]);
            } else {
                jpasst.packet.Icmp.checksum4(o, l4, len);
            }
            last[f] = loop.now();
            frames.commit(frame, isV6, dHi[f], dLo[f], gHi[f], gLo[f], isV6 ? 58 : 1, len);
            replies++;
        }
    }

    // ---- bookkeeping ----

    private void close(int f) {
        if (!used[f]) return;
        if (table.get(gHi[f], gLo[f], dHi[f], dLo[f], guestId[f]) == f) {
            table.remove(gHi[f], gLo[f], dHi[f], dLo[f], guestId[f]);
        }
        loop.remove(fd[f]);
        Libc.close(fd[f]);
        fd[f] = -1;
        used[f] = false;
        free[freeTop++] = f;
        active--;
    }

    private void tick(long now) {
        if (active == 0) return;
        for (int f = 0; f < highWater; f++) {
            if (used[f] && now - last[f] > timeoutNanos) {
                if (Log.debugEnabled()) Log.debug("ICMP flow " + f + ": idle, closed");
                close(f);
                expired++;
            }
        }
        if (active == 0) {
            highWater = 0;
            for (int i = 0; i < MAX_FLOWS; i++) free[i] = MAX_FLOWS - 1 - i;
            freeTop = MAX_FLOWS;
        } else {
            loop.wakeAt(now + TICK_NANOS);
        }
    }

    @Override
    public void guestGone() {
        for (int f = 0; f < highWater; f++) close(f);
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
        return active;
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
        return f < MAX_FLOWS && used[f] ? localId(fd[f]) : -1;
    }
}
