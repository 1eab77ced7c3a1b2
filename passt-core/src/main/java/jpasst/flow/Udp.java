package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import jpasst.conf.Conf;
import jpasst.conf.PortSpec;
import jpasst.link.FrameBatch;
import jpasst.link.FrameWriter;
import jpasst.link.Link;
import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.packet.Inany;
import jpasst.packet.Ip4;
import jpasst.packet.UdpHdr;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Sockets;
import jpasst.sys.Msghdr;
import jpasst.sys.SockAddr;
import jpasst.sys.SocketOptions;
import jpasst.util.Log;

/**
 * UDP both ways, as passt's udp.c: every guest "flow" (source address and port to destination
 * address and port) is one host UDP socket, and datagrams are copied between the two sides one
 * for one, without any state beyond the flow itself.
 *
 * <p><b>Outbound</b> (the guest starts it): the first datagram of a new 4-tuple opens a socket,
 * bound where possible to the guest's own source port (as passt, so the peer sees the port the
 * guest chose; SO_REUSEADDR lets several flows share it, and when the port is taken the kernel
 * picks one), and connected to the destination the guest named. The only translations: the
 * gateway's address stands for the host, so it becomes loopback ({@link AddressMapping#hostLo}); and with
 * {@code --dns-forward ADDR}, a query to ADDR port 53 goes to the host's first resolver (when
 * the host's resolver is a loopback one, passt forwards queries sent to the gateway the same
 * way, since the guest was handed the gateway as its DNS server). Replies arrive on the connected
 * socket, so they can only come from that peer: each becomes a frame from the address and port
 * the guest originally sent to, whatever the host side really was.
 *
 * <p><b>Inbound</b> ({@code -u SPEC}): listening sockets on the forwarded host ports. A datagram
 * from a new sender opens a flow keyed by (listener, sender address, sender port) and goes to
 * the guest's address at the target port, from the sender's address, where the host's loopback
 * and the host's own address appear as the gateway (the guest has the host's address itself).
 * The guest's replies to that address and port go back out of the listening socket with
 * {@code sendto()} to the original sender. No socket per inbound flow. A port on any address,
 * with both address families on, is one dual-stack socket (as passt): its IPv4 senders appear
 * as ::ffff:a.b.c.d, and since the frame a datagram is read into depends on its family, the
 * sender of each is looked at first ({@code MSG_PEEK}, as passt's udp_peek_addr()).
 *
 * <p>passt's rule that UDP ports follow TCP's {@code -t} when {@code -u} is absent applies to
 * pasta's "auto" mode only: passt itself (checked with the reference binary) listens on UDP ports
 * only when {@code -u} asks, and so does jpasst.
 *
 * <p><b>Expiry</b>: a flow idle (no datagram either way) for {@link Conf#udpTimeoutSeconds}
 * (passt's 180 s) is closed, socket and all; the scan runs about once a second while flows exist.
 * When the guest goes away every flow is closed; the listening sockets stay.
 *
 * <p><b>Sizes</b>: host to guest, a datagram is received straight into its frame (a
 * {@link FrameBatch} of one, which the link reserves with room for the largest: 65507 bytes over
 * IPv4, 65527 over IPv6), and the frame is committed with the real length, so nothing is copied.
 * Over vhost-user the frame is the guest's own receive buffers, as many as the datagram needs;
 * when the guest has none left (or fewer than a datagram needs) the socket waits for "room
 * again" with its datagrams in its own buffer, as passt's vhost-user path leaves them in the
 * socket, instead of having them read and dropped.
 * Guest to host, the payload is sent from where it lies in the link's input batch. IPv4
 * fragments are not reassembled (nor are they by passt): the guest's path MTU (65520) bounds
 * what it can send in one piece.
 *
 * <p>Everything wrong with a datagram from the guest (short header, bad length, bad checksum,
 * port 0, multicast or broadcast destination) drops it quietly (trace level); nothing throws.
 *
 * Hot path: no allocation. The flows are those of the one flow table, {@link Flows}: their
 * addresses, sockets and activity, the lookup both ways (by the guest side for datagrams from the
 * guest, by the sender and listener for datagrams to a forwarded port), and the slot and its
 * generation in each socket's epoll reference.
 */
public final class Udp implements Transport {
    /** Flows at most (outbound and inbound together). */
    public static final int MAX_FLOWS = 16384;
    /** Largest UDP payload in one IPv4 / IPv6 datagram (no jumbograms). */
    public static final int MAX_PAYLOAD4 = 65535 - Ip4.MIN_LEN - UdpHdr.LEN,
            MAX_PAYLOAD6 = 65535 - UdpHdr.LEN;
    /** Datagrams taken from one socket per event, so one busy flow cannot starve the others. */
    static final int BATCH = 64;
    /** Datagrams one recvmmsg takes at most (each in a frame of the largest size: 2 MB over the stream socket). */
    static final int RECV_BATCH = 32;
    /**
     * Receive buffer asked for a flow's socket and a forwarded port's; the kernel gives at most
     * net.core.rmem_max (twice that, with its overhead). The default, 208 kB, holds six datagrams
     * of 32000 bytes: a host sender outruns the loop between two reads, and the rest is dropped
     * before the daemon sees it (a host peer sending 32000-byte datagrams: 20 → 27.5 Gbit/s to
     * the guest with rmem_max at 4 MB; 1472-byte ones: 18 % → 0 % lost). Memory is taken only
     * while datagrams wait.
     */
    static final int RECEIVE_BUFFER = 4 << 20;
    private static final long TICK_NANOS = 1_000_000_000L;
    private static final int SEND_FLAGS = Sockets.MSG_DONTWAIT | Sockets.MSG_NOSIGNAL;

    private final Conf conf;
    private final EventLoop loop;
    private final Link link;
    private final FrameWriter frames;
    private final Flows flows;
    private final AddressMapping mapping;
    private final long timeoutNanos;
    private final SocketOptions options = new SocketOptions();

    /** The listening sockets of the forwarded ports (-u, and those added at run time). */
    private final ListenerSlots listeners = new ListenerSlots(Refs.UDP_LISTEN);

    private final Arena arena = Arena.ofShared();
    private final MemorySegment sa = arena.allocate(SockAddr.STORAGE, 8);
    private final MemorySegment saLen = arena.allocate(8, 8), opt = arena.allocate(8, 8);
    private final MemorySegment discard = arena.allocate(MAX_PAYLOAD6 + 1, 64);
    private final MemorySegment msghdr = arena.allocate(Msghdr.SIZE, 8);
    /**
     * One datagram at a time, received in place: over vhost-user the largest spans some 43 of a
     * Linux guest's 1.5 KiB receive buffers (MRG_RXBUF), and a buffer crossing a memory region
     * is two pieces.
     */
    private final FrameBatch frame = new FrameBatch(1, 128);
    /** Frames for the datagrams one recvmmsg takes, and its {@code struct mmsghdr}s. */
    private final FrameBatch many = new FrameBatch(RECV_BATCH, 1024);
    private final MemorySegment mmsg = arena.allocate((long) Msghdr.MMSG * RECV_BATCH, 8);
    /** Guest datagrams queued for their host sockets until the end of the link's batch. */
    private final UdpToHost out = new UdpToHost();
    /** References of the sockets that wait for room (see {@link #pause}). */
    private final long[] paused = new long[MAX_FLOWS + 64];
    private int pausedCount;

    private long toHost, toGuest, dropped, sendErrors, expired, opened, openFailures;

    public Udp(Conf conf, EventLoop loop, Link link, FrameWriter frames, Flows flows, AddressMapping mapping) {
        this.conf = conf;
        this.loop = loop;
        this.link = link;
        this.frames = frames;
        this.flows = flows;
        this.mapping = mapping;
        this.timeoutNanos = conf.udpTimeoutSeconds * 1_000_000_000L;
        loop.handler(Refs.UDP, this::onFlowSocket);
        loop.handler(Refs.UDP_LISTEN, this::onListener);
        loop.onTick(this::tick);
    }

    // ---- guest → host ----

    @Override
    public void packet(MemorySegment s, long frame, long l4, int l4Len, boolean isV6,
                       long srcHi, long srcLo, long dstHi, long dstLo, boolean checksumPending) {
        if (l4Len < UdpHdr.LEN) {
            drop("short UDP header");
            return;
        }
        int ulen = UdpHdr.length(s, l4);
        if (ulen < UdpHdr.LEN || ulen > l4Len) {
            drop("bad UDP length");
            return;
        }
        if (!checksumPending && !checksumOk(s, l4, ulen, isV6, srcHi, srcLo, dstHi, dstLo)) {
            drop("bad UDP checksum");
            return;
        }
        int sport = UdpHdr.srcPort(s, l4), dport = UdpHdr.dstPort(s, l4);
        if (dport == 0) {
            drop("UDP to port 0");
            return;
        }
        int f = flows.lookup(Flows.UDP, srcHi, srcLo, sport, dstHi, dstLo, dport);
        if (f < 0) {
            if (!Inany.isUnicast(dstHi, dstLo)) {
                drop("UDP to a multicast, broadcast or unspecified address");
                return;
            }
            f = openOutbound(isV6, srcHi, srcLo, sport, dstHi, dstLo, dport);
            if (f < 0) return;
        }
        flows.touch(f, loop.now());
        if (out.full()) batchDone();
        out.queue(f, s.address() + l4 + UdpHdr.LEN, ulen - UdpHdr.LEN); // leaves at the batch's end
    }

    /**
     * The frames of a batch from the guest are all in: each flow's datagrams from it go to its
     * host socket with one sendmmsg ({@link UdpToHost}), while the link still holds the frames.
     */
    @Override
    public void batchDone() {
        if (out.empty()) return;
        for (int k = 0; k < out.flows(); k++) {
            int f = out.flow(k);
            if (flows.type(f) != Flows.UDP) continue; // (closed meanwhile)
            int queued = out.count(k), fd = flows.fd(f), nameLen = 0;
            if (fd < 0) {       // inbound: back out of the listening socket, to the sender
                fd = listeners.fd((int) flows.hostSocket(f));
                nameLen = SockAddr.inany(out.name(k), flows.hHi(f), flows.hLo(f), flows.hPort(f));
            }
            int lost = out.send(k, fd, nameLen, SEND_FLAGS);
            toHost += queued - lost;
            flows.countToHost(f, queued - lost, out.sentBytes());
            if (lost > 0) {
                sendErrors += lost;
                if (Log.traceEnabled()) Log.trace("UDP flow " + f + ": " + lost + " datagrams not sent");
            }
        }
        out.clear();
    }

    private static boolean checksumOk(MemorySegment s, long l4, int ulen, boolean isV6,
                                      long srcHi, long srcLo, long dstHi, long dstLo) {
        return isV6 ? UdpHdr.checksumOk6(s, l4, ulen, srcHi, srcLo, dstHi, dstLo)
                : UdpHdr.checksumOk4(s, l4, ulen, Inany.v4(srcLo), Inany.v4(dstLo));
    }

    /** Opens a connected socket for a new guest flow; returns the flow index or -1. */
    private int openOutbound(boolean isV6, long srcHi, long srcLo, int sport,
                             long dstHi, long dstLo, int dport) {
        if (mapping.forbiddenDestination(dstHi, dstLo)) return -1;
        long tHi = mapping.targetHi(dstHi, dstLo, dport), tLo = mapping.targetLo(dstHi, dstLo, dport);
        int f = flows.open(Flows.UDP);
        if (f < 0) {
            openFailures++;
            if (Log.debugEnabled()) Log.debug("UDP: flow table full, datagram dropped");
            return -1;
        }
        boolean hostV4 = Inany.isV4(tHi, tLo);
        int sock = Sockets.socket(hostV4 ? Sockets.AF_INET : Sockets.AF_INET6,
                Sockets.SOCK_DGRAM | Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC, Sockets.IPPROTO_UDP);
        if (sock < 0) {
            openFailures++;
            if (Log.debugEnabled()) Log.debug("UDP: socket: " + Errno.text(sock));
            flows.close(f);
            return -1;
        }
        options.setInt(sock, Sockets.SOL_SOCKET, Sockets.SO_REUSEADDR, 1);
        options.setInt(sock, Sockets.SOL_SOCKET, Sockets.SO_RCVBUF, RECEIVE_BUFFER);
        if (!hostV4) options.setInt(sock, Sockets.IPPROTO_IPV6, Sockets.IPV6_V6ONLY, 1);
        bindOutbound(sock, hostV4, sport);
        mapping.bindOutboundDevice(sock, tHi, tLo); // --outbound-if4/6
        int len = SockAddr.inany(sa, tHi, tLo, dport);
        int r = Sockets.connect(sock, sa, len);
        if (r < 0) {
            openFailures++;
            if (Log.debugEnabled()) {
                Log.debug("UDP: connect to " + Inany.toString(tHi, tLo) + ":" + dport + ": " + Errno.text(r));
            }
            Descriptors.close(sock);
            flows.close(f);
            return -1;
        }
        flows.guestSide(f, isV6, srcHi, srcLo, sport, dstHi, dstLo, dport);
        flows.hostSide(f, tHi, tLo, dport);
        flows.fd(f, sock);
        if (!flows.keyGuestSide(f)) {
            close(f);
            openFailures++;
            return -1;
        }
        r = loop.add(sock, Epoll.EPOLLIN, flows.ref(Refs.UDP, f));
        if (r < 0) {
            openFailures++;
            close(f);
            return -1;
        }
        started(f);
        if (Log.debugEnabled()) {
            Log.debug("UDP flow " + f + ": " + Inany.toString(srcHi, srcLo) + ":" + sport + " -> "
                    + Inany.toString(dstHi, dstLo) + ":" + dport + " (host side "
                    + Inany.toString(tHi, tLo) + ":" + dport + ", socket " + sock + ")");
        }
        return f;
    }

    /** The guest's source port on the host too when it is free (or shareable), as passt. */
    private void bindOutbound(int sock, boolean hostV4, int sport) {
        int len;
        if (hostV4) {
            len = SockAddr.in4(sa, conf.outbound4, sport);
        } else {
            len = SockAddr.in6(sa, conf.outbound6Hi, conf.outbound6Lo, sport, 0);
        }
        if (sport != 0 && Sockets.bind(sock, sa, len) == 0) return;
        if (hostV4 ? conf.outbound4 != 0 : (conf.outbound6Hi | conf.outbound6Lo) != 0) {
            len = hostV4 ? SockAddr.in4(sa, conf.outbound4, 0)
                    : SockAddr.in6(sa, conf.outbound6Hi, conf.outbound6Lo, 0, 0);
            Sockets.bind(sock, sa, len);
        }
    }

    // ---- host → guest ----

    /** Reserving the frame for the next datagram: a frame is ready, or there is no guest, or no room now. */
    private static final int RESERVED = 0, NO_GUEST = 1, NO_ROOM = 2;

    /**
     * Reserves the frame for the next datagram of socket {@code sock}, room for the largest. A
     * link may offer less when the guest's buffers run out (vhost-user): then the datagram's
     * length is looked at, and one that would not fit waits, as when there is no room at all.
     */
    private int reserveFrame(int sock, boolean isV6) {
        int max = isV6 ? MAX_PAYLOAD6 : MAX_PAYLOAD4;
        if (link.reserve(frame, FrameWriter.l2l3Length(isV6) + UdpHdr.LEN, max, 1) != 1) {
            return link.connected() ? NO_ROOM : NO_GUEST;
        }
        if (frame.capacity(0) < max) {
            long len = Sockets.recv(sock, discard.address(), 0, Sockets.MSG_PEEK | Sockets.MSG_TRUNC | Sockets.MSG_DONTWAIT);
            if (len > frame.capacity(0)) {
                link.commit(frame, 0);
                return NO_ROOM;
            }
        }
        return RESERVED;
    }

    /**
     * No room for the next datagram of the socket with reference {@code ref}: as passt over
     * vhost-user leaves it in the socket, the socket is left alone (its EPOLLIN interest taken
     * off, or the level-triggered loop would spin on it) until the link has room again
     * ({@link #roomAgain}); the datagrams wait in the socket's own buffer, where the kernel
     * drops what does not fit, as a full receive queue would. False if too many wait already.
     */
    private boolean pause(int sock, long ref) {
        if (pausedCount == paused.length) return false;
        loop.modify(sock, 0, ref);
        paused[pausedCount++] = ref;
        return true;
    }

    /** Room for frames to the guest is back: the sockets that waited for it are read again. */
    @Override
    public void roomAgain() {
        int n = pausedCount;
        pausedCount = 0;
        for (int i = 0; i < n; i++) {
            long ref = paused[i];
            if (EventLoop.type(ref) == Refs.UDP_LISTEN) {
                int li = listeners.slotOf(ref);
                if (li >= 0) loop.modify(listeners.fd(li), Epoll.EPOLLIN, ref); // (removed meanwhile: nothing to do)
            } else {
                int f = flows.flowOf(ref, Flows.UDP);
                if (f >= 0) loop.modify(flows.fd(f), Epoll.EPOLLIN, ref); // (closed meanwhile: nothing to do)
            }
        }
    }

    /**
     * Whether the datagram just received did not fit the frame (a guest whose receive buffers
     * the batch could not describe in full): it is dropped rather than delivered cut short.
     */
    private boolean truncated() {
        if ((Msghdr.flags(msghdr) & Sockets.MSG_TRUNC) == 0) return false;
        link.commit(frame, 0);
        dropped++;
        if (Log.debugEnabled()) Log.debug("UDP: a datagram larger than the guest's receive buffers, dropped");
        return true;
    }

    /** Completes the datagram of {@code n} bytes received into the frame, and sends it to the guest. */
    private void datagramToGuest(int f, int n) {
        flows.touch(f, loop.now());
        frame.payloadLength(0, n);
        frames.udpHeaders(frame, 0, flows.v6(f), flows.rHi(f), flows.rLo(f), flows.gHi(f), flows.gLo(f),
                flows.rPort(f), flows.gPort(f));
        link.commit(frame, 1);
        toGuest++;
        flows.countToGuest(f, 1, n);
    }

    /**
     * Datagrams from a flow's socket: as many as come at once (up to {@link #RECV_BATCH}) with
     * one recvmmsg, each straight into a frame of its own, sent to the guest together, as
     * passt's udp_buf does ({@link #receiveMany}); one at a time when the link cannot give
     * full-size frames (a vhost-user guest short of receive buffers), or has no room.
     */
    private void onFlowSocket(long ref, int events) {
        int f = flows.flowOf(ref, Flows.UDP);
        if (f < 0) return; // closed meanwhile
        int sock = flows.fd(f);
        for (int i = 0; i < BATCH; i++) {
            int got = receiveMany(f, sock, Math.min(RECV_BATCH, BATCH - i));
            if (got < 0) return;  // drained
            if (got > 0) {
                i += got - 1;
                continue;
            }
            int r = reserveFrame(sock, flows.v6(f));
            if (r == NO_ROOM && pause(sock, ref)) return;
            if (r != RESERVED) {
                if (Sockets.recv(sock, discard.address(), discard.byteSize(), Sockets.MSG_DONTWAIT) < 0) return;
                dropped++;
                continue;
            }
            long n = Sockets.recvmsg(sock, Msghdr.set(msghdr, frame.iovecAddress(1), frame.pieces()),
                    Sockets.MSG_DONTWAIT);
            if (n < 0) {
                link.commit(frame, 0);
                if (n == -Errno.EAGAIN || n == -Errno.EINTR) return;
                // an ICMP error for an earlier datagram (refused, unreachable): nothing to deliver
                if (Log.traceEnabled()) Log.trace("UDP flow " + f + ": recv: " + Errno.text((int) n));
                continue;
            }
            if (truncated()) continue;
            datagramToGuest(f, (int) n);
        }
    }

    /**
     * Up to {@code want} datagrams of flow {@code f}'s socket {@code sock} with one recvmmsg into
     * frames of the largest size, sent to the guest: how many, 0 if the link gives no such
     * frames now (the caller goes one at a time), -1 if the socket had none (or fewer than
     * asked: it is drained).
     */
    private int receiveMany(int f, int sock, int want) {
        boolean isV6 = flows.v6(f);
        int max = isV6 ? MAX_PAYLOAD6 : MAX_PAYLOAD4;
        int n = link.reserve(many, FrameWriter.l2l3Length(isV6) + UdpHdr.LEN, max, want);
        int full = 0;
        while (full < n && many.capacity(full) >= max) full++;
        if (full == 0) {
            link.commit(many, 0);
            return 0;
        }
        for (int j = 0; j < full; j++) {
            Msghdr.mmsg(mmsg, j, 0, 0, many.iovecAddress(1 + many.firstPiece(j)), many.endPiece(j) - many.firstPiece(j));
        }
        int got = Sockets.recvmmsg(sock, mmsg.address(), full, Sockets.MSG_DONTWAIT);
        if (got <= 0) {
            link.commit(many, 0);
            if (got == -Errno.EAGAIN || got == -Errno.EINTR || got == 0) return -1;
            // an ICMP error for an earlier datagram (refused, unreachable): nothing to deliver
            if (Log.traceEnabled()) Log.trace("UDP flow " + f + ": recv: " + Errno.text(got));
            return 1;
        }
        flows.touch(f, loop.now());
        long bytes = 0;
        for (int j = 0; j < got; j++) {
            many.payloadLength(j, Msghdr.mmsgLength(mmsg, j));
            bytes += Msghdr.mmsgLength(mmsg, j);
            frames.udpHeaders(many, j, isV6, flows.rHi(f), flows.rLo(f), flows.gHi(f), flows.gLo(f),
                    flows.rPort(f), flows.gPort(f));
        }
        link.commit(many, got);
        toGuest += got;
        flows.countToGuest(f, got, bytes);
        return got < full ? -1 : got;
    }

    private void onListener(long ref, int events) {
        int li = listeners.slotOf(ref);
        if (li < 0) return; // removed in this batch
        int sock = listeners.fd(li);
        int fams = listeners.families(li);
        boolean isV6 = fams == ListenerSlots.IPV6;
        // the flows' receive buffer, once the port carries traffic: not when it is bound, where
        // thousands of forwarded ports would each pay a system call at start
        if (listeners.firstUse(li)) options.setInt(sock, Sockets.SOL_SOCKET, Sockets.SO_RCVBUF, RECEIVE_BUFFER);
        for (int i = 0; i < BATCH; i++) {
            if (fams == ListenerSlots.BOTH) {
                // which family's frame the next datagram needs: its sender, looked at first, as
                // passt's udp_peek_addr() does on a dual-stack socket
                long peeked = Sockets.recvmsg(sock, Msghdr.set(msghdr, sa, SockAddr.STORAGE, 0, 0),
                        Sockets.MSG_PEEK | Sockets.MSG_DONTWAIT);
                if (peeked == -Errno.EAGAIN || peeked == -Errno.EINTR) return;
                isV6 = !Inany.isV4(SockAddr.inanyHi(sa), SockAddr.inanyLo(sa));
            }
            int r = reserveFrame(sock, isV6);
            if (r == NO_ROOM && pause(sock, ref)) return;
            if (r != RESERVED) {
                if (Sockets.recv(sock, discard.address(), discard.byteSize(), Sockets.MSG_DONTWAIT) < 0) return;
                dropped++;
                continue;
            }
            long n = Sockets.recvmsg(sock, Msghdr.set(msghdr, sa, SockAddr.STORAGE, frame.iovecAddress(1),
                    frame.pieces()), Sockets.MSG_DONTWAIT);
            if (n < 0) {
                link.commit(frame, 0);
                if (n == -Errno.EAGAIN || n == -Errno.EINTR) return;
                continue;
            }
            if (truncated()) continue;
            long sHi = SockAddr.inanyHi(sa), sLo = SockAddr.inanyLo(sa);
            int sPort = SockAddr.port(sa);
            int f = flows.lookupHostSide(Flows.UDP, li, sHi, sLo, sPort);
            if (f < 0) f = openInbound(li, isV6, sHi, sLo, sPort); // (no frames: the datagram's stays reserved)
            if (f < 0) {
                link.commit(frame, 0);
                dropped++;
                continue;
            }
            datagramToGuest(f, (int) n);
        }
    }

    /** A new sender on a forwarded port, of IPv6 ({@code isV6}) or IPv4: the flow the guest's replies will find. */
    private int openInbound(int li, boolean isV6, long sHi, long sLo, int sPort) {
        if (isV6 ? !conf.v6 : !conf.v4) return -1;
        long guestHi = mapping.guestAddrHi(isV6), guestLo = mapping.guestAddrLo(isV6);
        if ((guestHi | guestLo) == 0 || (!isV6 && Inany.v4(guestLo) == 0)) return -1;
        long peerHi, peerLo;
        if (sHi == guestHi && sLo == guestLo && !mapping.guestAddrMapped(isV6)) {
            // the host's own address is the guest's: without --map-guest-addr, it can only
            // appear as the host-loopback address (the gateway)
            peerHi = mapping.guestHi(0, isV6 ? 1 : AddressMapping.LOOPBACK4_LO);
            peerLo = mapping.guestLo(0, isV6 ? 1 : AddressMapping.LOOPBACK4_LO);
        } else {
            peerHi = mapping.guestHi(sHi, sLo);
            peerLo = mapping.guestLo(sHi, sLo);
        }
        int target = listeners.target(li);
        int f = flows.open(Flows.UDP);
        if (f < 0) {
            openFailures++;
            if (Log.debugEnabled()) Log.debug("UDP: flow table full, datagram dropped");
            return -1;
        }
        flows.guestSide(f, isV6, guestHi, guestLo, target, peerHi, peerLo, sPort);
        flows.hostSide(f, sHi, sLo, sPort);
        if (!flows.keyHostSide(f, li)) {
            flows.close(f);
            openFailures++;
            return -1;
        }
        // (if the guest already has a flow on this 4-tuple, its replies keep going there)
        if (flows.lookup(Flows.UDP, guestHi, guestLo, target, peerHi, peerLo, sPort) < 0) flows.keyGuestSide(f);
        started(f);
        if (Log.debugEnabled()) {
            Log.debug("UDP flow " + f + ": " + Inany.toString(sHi, sLo) + ":" + sPort + " -> port "
                    + listeners.port(li) + " -> guest " + Inany.toString(guestHi, guestLo) + ":" + target
                    + " from " + Inany.toString(peerHi, peerLo));
        }
        return f;
    }

    // ---- flow bookkeeping ----

    private void started(int f) {
        opened++;
        flows.touch(f, loop.now());
        loop.wakeAt(loop.now() + TICK_NANOS);
    }

    /** Closes flow {@code f}: its socket, if it has one of its own, and its slot. */
    private void close(int f) {
        flows.close(f, Flows.UDP, loop);
    }

    private void tick(long now) {
        if (flows.count(Flows.UDP) == 0) return;
        expired += flows.expireIdle(Flows.UDP, now, timeoutNanos, loop);
        if (flows.count(Flows.UDP) > 0) loop.wakeAt(now + TICK_NANOS);
    }

    @Override
    public void guestGone() {
        out.clear();
        for (int f = 0; f < flows.highWater(); f++) close(f);
        roomAgain(); // the listening sockets that waited are read (and, with no guest, emptied) again
    }

    // ---- listening sockets (-u) ----

    /**
     * Serves the forwarded ports of {@code -u} on {@code fds}, their bound sockets (bound by
     * {@link jpasst.Listeners}, maybe in the launching process); {@code fwd} maps their ports to
     * the guest's.
     */
    public void listen(PortSpec.Forward fwd, int[] fds) {
        for (int sock : fds) {
            int fams = Errno.check(ForwardSockets.familiesOf(sock, sa, saLen, opt), "UDP socket " + sock);
            int port = SockAddr.port(sa);
            if (Log.debugEnabled()) {
                Log.debug("UDP: listening on " + (fams != ListenerSlots.IPV4
                        ? "[" + SockAddr.ip6String(SockAddr.addr6Hi(sa), SockAddr.addr6Lo(sa)) + "]"
                        : SockAddr.ip4String(SockAddr.addr4(sa))) + ":" + port + (fams == ListenerSlots.BOTH ? " (IPv4 too)" : "")
                        + " for guest port " + fwd.targetOf(port));
            }
            Errno.check(addListener(sock, port, fams, fwd.bindOf(port), fwd.targetOf(port)), "epoll_ctl");
        }
    }

    /**
     * Serves the bound socket {@code sock} of host port {@code port}, taking {@code fams}, for
     * guest port {@code target}: its slot, or a negated errno (the socket is then the caller's
     * still).
     */
    int addListener(int sock, int port, int fams, PortSpec.Bind bind, int target) {
        int li = listeners.add(sock, port, fams, bind == null ? PortSpec.Bind.ANY : bind, target);
        int r = loop.add(sock, Epoll.EPOLLIN, listeners.ref(li));
        if (r < 0) {
            listeners.remove(li);
            return r;
        }
        return li;
    }

    /**
     * Closes the listening socket of slot {@code li}: the port is free on the host. Its inbound
     * flows go with it (UDP has no connection of its own to keep: the guest's replies could only
     * leave from the port that is gone).
     */
    void removeListener(int li) {
        for (int f = 0; f < flows.highWater(); f++) {
            if (flows.type(f) == Flows.UDP && flows.fd(f) < 0 && flows.hostSocket(f) == li) close(f);
        }
        int sock = listeners.fd(li);
        loop.remove(sock);
        Descriptors.close(sock);
        listeners.remove(li);
    }

    /** The listening sockets (read-only outside this package). */
    public ListenerSlots listeners() {
        return listeners;
    }

    private void closeListeners() {
        for (int li = 0; li < listeners.highWater(); li++) {
            if (listeners.live(li)) removeListener(li);
        }
    }

    /** Closes every flow and listening socket (daemon shutdown). */
    public void close() {
        guestGone();
        closeListeners();
    }

    private void drop(String why) {
        dropped++;
        if (Log.traceEnabled()) Log.trace("UDP: dropped: " + why);
    }

    // ---- numbers, for tests and debugging ----

    /** Open flows. */
    public int active() {
        return flows.count(Flows.UDP);
    }

    /** Host ports listened on, once per socket ({@code -u}: a port twice where each family has its own). */
    public List<Integer> listeningPorts() {
        List<Integer> p = new java.util.ArrayList<>();
        for (int li = 0; li < listeners.highWater(); li++) if (listeners.live(li)) p.add(listeners.port(li));
        return List.copyOf(p);
    }

    public long toHost() {
        return toHost;
    }

    public long toGuest() {
        return toGuest;
    }

    public long dropped() {
        return dropped;
    }

    public long expired() {
        return expired;
    }

    public long opened() {
        return opened;
    }

    public long sendErrors() {
        return sendErrors;
    }

    public long openFailures() {
        return openFailures;
    }
}
