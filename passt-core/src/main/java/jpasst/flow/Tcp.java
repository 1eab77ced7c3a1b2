package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ThreadLocalRandom;

import jpasst.conf.Conf;
import jpasst.conf.PortSpec;
import jpasst.link.FrameBatch;
import jpasst.link.FrameWriter;
import jpasst.link.Link;
import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.packet.Checksum;
import jpasst.packet.Inany;
import jpasst.packet.Net;
import jpasst.packet.TcpHdr;
import jpasst.sys.Errno;
import jpasst.sys.Libc;
import jpasst.sys.Msghdr;
import jpasst.sys.SockAddr;
import jpasst.util.Log;

/**
 * TCP translation, as passt's tcp.c: not a TCP stack, but a splice of the guest's TCP connection
 * onto an ordinary host socket, with no copy of the stream kept here.
 *
 * - Guest → host: the payloads of a connection's segments from one batch of the link are
 *   written to its host socket together, with one sendmsg straight from where the frames lie
 *   once the batch's frames are all in (as passt's tcp_data_from_tap takes a connection's packets of a
 *   batch at once; a send per segment cost twice the CPU at MTU 1500), and the guest
 *   is acknowledged only for what the kernel accepted. The window offered to the guest is the
 *   room left in the socket's send buffer, so the guest never sends what cannot be taken (a full
 *   buffer would otherwise mean discarded segments and retransmissions: design.md tells how
 *   passt 2023 suffered from offering more).
 * - Host → guest: data stays in the host socket's receive queue until the guest acknowledges it.
 *   New data is read with MSG_PEEK at the socket's peek offset (SO_PEEK_OFF) straight into the
 *   payload positions of frames the link reserved ({@link FrameBatch}), many frames per recvmsg; acknowledged
 *   bytes are then dropped from the socket with MSG_TRUNC (no copy). A retransmission rewinds the
 *   peek offset and reads the same bytes again.
 * - Handshakes both ways (MSS and window scaling from the guest's SYN), FIN in both directions
 *   with half-close, RST both ways (a refused connect is an RST to the guest; a guest RST is an
 *   abortive close of the host socket), retransmission on timeout and after three duplicate ACKs,
 *   zero-window probing, and timeouts for handshakes (10 s), FIN (60 s) and inactivity (7200 s).
 *
 * Host sockets are edge-triggered: a socket is read until EAGAIN or until the guest's window or
 * the link's room is used up; the guest's next ACK, or "room again", resumes it. ACKs, window
 * updates and data reads caused by a batch of guest frames are done once per batch.
 *
 * Hot path: no allocation per segment. Connection objects come from a free list; lookups go
 * through {@link FlowTable}; iovecs, msghdr and scratch buffers are preallocated off-heap.
 */
public final class Tcp implements Transport {
    public static final int MAX_CONNS_DEFAULT = 128 * 1024;
    static final long SYN_TIMEOUT = 10_000_000_000L;
    static final long FIN_TIMEOUT = 60_000_000_000L;
    static final long RTO_INITIAL = 500_000_000L;
    static final int MAX_RETRANS = 7;
    static final int WS_TO_TAP = 8;
    static final int MAX_FRAMES_PER_READ = 128;
    static final int HDR = TcpHdr.MIN_LEN;
    static final int SYN_HDR = TcpHdr.MIN_LEN + 8;
    static final int MSS_DEFAULT = 536;
    // getsockopt(SOL_SOCKET, SO_MEMINFO): the socket's memory counters (linux/sock_diag.h)
    static final int SO_MEMINFO = 55, SK_MEMINFO_VARS = 9, SK_MEMINFO_SNDBUF = 3, SK_MEMINFO_WMEM_QUEUED = 5;

    // the timers above, as fields: tests shorten them (see #timeouts)
    private volatile long synTimeout = SYN_TIMEOUT, finTimeout = FIN_TIMEOUT, rto = RTO_INITIAL;

    private final Conf conf;
    private final EventLoop loop;
    private final Link link;
    private final FrameWriter frames;
    private final AddressMapping flows;
    private final FlowTable table;
    private final int maxConns;
    private TcpConn[] conns = new TcpConn[256];
    private int[] free = new int[256];
    private int freeCount, highWater, active;
    private int[] dirty = new int[256];
    private boolean[] isDirty = new boolean[256];
    private int dirtyCount;
    private long actTimeout = 7200_000_000_000L;

    private PortSpec.Forward forward;
    private int[] listenFds = new int[0];
    private boolean warnedLimit;
    /**
     * A descriptor held in reserve while there are listeners: out of descriptors, a pending
     * inbound connection is accepted with it and reset, rather than left in the backlog, where
     * it keeps the (level-triggered) listener readable and the loop spinning.
     */
    private int spareFd = -1;

    // preallocated native scratch
    private final Arena arena = Arena.ofShared();
    private final MemorySegment sa = arena.allocate(SockAddr.STORAGE, 8);
    private final MemorySegment saLen = arena.allocate(8, 8);
    private final MemorySegment intVal = arena.allocate(16, 8);
    private final MemorySegment intLen = arena.allocate(8, 8);
    private final MemorySegment meminfo = arena.allocate(4 * SK_MEMINFO_VARS, 8);
    private final MemorySegment msghdr = arena.allocate(Msghdr.SIZE, 8);
    private final FrameBatch toGuest = new FrameBatch(MAX_FRAMES_PER_READ, MAX_FRAMES_PER_READ * 4);
    private final MemorySegment discard = Libc.mmapAnonymous(1 << 20, arena); // only used without SO_PEEK_OFF: not resident unless written

    // Guest data queued for the host sockets until the end of the batch from the guest
    // (batchDone): chunks of the link's input frames, a list per connection in arrival order, and the connections that
    // have some. At most IOV_MAX chunks: one more writes out what is queued first.
    static final int PENDING_MAX = 1024;
    private final long[] pendingAddr = new long[PENDING_MAX];
    private final int[] pendingLen = new int[PENDING_MAX];
    private final int[] pendingNext = new int[PENDING_MAX];
    private final int[] pendingConns = new int[PENDING_MAX];
    private int pendingChunks, pendingConnCount;
    private final MemorySegment sendIov = arena.allocate(16L * PENDING_MAX, 8);
    private final MemorySegment sendMsghdr = arena.allocate(Msghdr.SIZE, 8);

    private long segmentsIn, segmentsOut, resetsSent, badChecksums;

    public Tcp(Conf conf, EventLoop loop, Link link, FrameWriter frames, AddressMapping flows, int maxConns) {
        this.conf = conf;
        this.loop = loop;
        this.link = link;
        this.frames = frames;
        this.flows = flows;
        this.maxConns = maxConns;
        this.table = new FlowTable(1024, maxConns);
        loop.handler(Refs.TCP, this::onSocket);
        loop.handler(Refs.TCP_LISTEN, this::onListen);
        loop.onTick(this::tick);
        if (conf.tcpTimeoutSeconds > 0) actTimeout = conf.tcpTimeoutSeconds * 1_000_000_000L;
    }

    /** Shorter timers for tests: handshake, FIN and initial retransmission timeouts, in ns. */
    void timeouts(long syn, long fin, long retransmit) {
        synTimeout = syn;
        finTimeout = fin;
        rto = retransmit;
    }

    public int activeConnections() {
        return active;
    }

    public long resetsSent() {
        return resetsSent;
    }

    public long badChecksums() {
        return badChecksums;
    }

    // ------------------------------------------------------------------ inbound listeners (-t)

    /**
     * Serves inbound connections on {@code fds}, the listening sockets of the forwarded ports
     * (bound by {@link jpasst.Listeners}, maybe in the launching process); {@code fwd} maps their
     * ports to the guest's.
     */
    public void listen(PortSpec.Forward fwd, int[] fds) {
        this.forward = fwd;
        for (int fd : fds) {
            saLen.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
            Errno.check(Libc.getsockname(fd, sa, saLen), "TCP listening socket " + fd);
            boolean v6 = SockAddr.family(sa) == Libc.AF_INET6;
            int port = SockAddr.port(sa);
            Errno.check(loop.add(fd, Libc.EPOLLIN, EventLoop.ref(Refs.TCP_LISTEN, (long) fd << 17 | (v6 ? 1L << 16 : 0) | port)),
                    "epoll_ctl");
        }
        listenFds = fds;
        if (fds.length > 0) spareFd = openSpare();
    }

    private MemorySegment devNull;

    private int openSpare() {
        if (devNull == null) devNull = arena.allocateFrom("/dev/null");
        return Libc.open(devNull, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
    }

    /** Out of descriptors: accepts one pending connection with the spare one and resets it. */
    private boolean shed(int lfd) {
        if (spareFd < 0) return false;
        Libc.close(spareFd);
        int fd = Libc.accept4(lfd, MemorySegment.NULL, MemorySegment.NULL, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
        if (fd >= 0) abortiveClose(fd);
        spareFd = openSpare();
        return fd >= 0;
    }

    private void onListen(long ref, int ev) {
        long v = EventLoop.value(ref);
        int lfd = (int) (v >>> 17);
        boolean v6 = (v & (1L << 16)) != 0;
        int port = (int) (v & 0xffff);
        for (int i = 0; i < 64; i++) {
            saLen.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
            int fd = Libc.accept4(lfd, sa, saLen, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
            if (fd < 0) {
                if (fd == -Errno.EMFILE || fd == -Errno.ENFILE) {
                    limitReached("out of file descriptors");
                    if (shed(lfd)) continue; // reset, and on to the next one waiting
                }
                return;
            }
            if (link.connected()) accepted(fd, v6, port);
            else Libc.close(fd);
        }
    }

    private void accepted(int fd, boolean v6, int port) {
        long peerHi = SockAddr.inanyHi(sa), peerLo = SockAddr.inanyLo(sa);
        int peerPort = SockAddr.port(sa);
        boolean guestV6 = !Inany.isV4(peerHi, peerLo);
        if (guestV6 ? !conf.v6 : !conf.v4) {
            abortiveClose(fd);
            return;
        }
        TcpConn c = allocate();
        if (c == null) {
            abortiveClose(fd);
            return;
        }
        c.fd = fd;
        c.v6 = guestV6;
        c.rHi = flows.guestHi(peerHi, peerLo);
        c.rLo = flows.guestLo(peerHi, peerLo);
        c.rPort = peerPort;
        c.gHi = flows.guestAddrHi(guestV6);
        c.gLo = flows.guestAddrLo(guestV6);
        c.gPort = forward.targetOf(port);
        if (!table.put(c.gHi, c.gLo, c.rHi, c.rLo, meta(c.gPort, c.rPort), c.index)) {
            release(c);
            abortiveClose(fd);
            limitReached("flow table full");
            return;
        }
        c.seqInitToTap = ThreadLocalRandom.current().nextInt();
        c.seqToTap = c.seqInitToTap;
        c.seqAckFromTap = c.seqInitToTap;
        c.seqConsumed = c.seqInitToTap + 1;
        c.events = TcpConn.SOCK_ACCEPTED;
        c.wsToTap = WS_TO_TAP; // offered in our SYN; kept only if the guest offers scaling too
        c.lastActivity = loop.now();
        prepareSocket(c);
        loop.add(fd, Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLET, sockRef(c));
        sendSyn(c, false);
        c.seqToTap = c.seqHighToTap = c.seqInitToTap + 1;
        arm(c, synTimeout);
    }

    // ------------------------------------------------------------------ guest → us

    @Override
    public void packet(MemorySegment s, long frame, long l4, int l4Len, boolean v6,
                       long srcHi, long srcLo, long dstHi, long dstLo) {
        if (l4Len < TcpHdr.MIN_LEN) return;
        int hl = TcpHdr.headerLength(s, l4);
        if (hl < TcpHdr.MIN_LEN || hl > l4Len) return;
        if (!TcpHdr.checksumOk(s, l4, l4Len, FrameWriter.pseudo(v6, srcHi, srcLo, dstHi, dstLo, 6, l4Len))) {
            badChecksums++;
            return;
        }
        segmentsIn++;
        int sport = TcpHdr.srcPort(s, l4), dport = TcpHdr.dstPort(s, l4);
        int flags = TcpHdr.flags(s, l4);
        int idx = table.get(srcHi, srcLo, dstHi, dstLo, meta(sport, dport));
        if (idx < 0) {
            if ((flags & (TcpHdr.SYN | TcpHdr.ACK_FLAG | TcpHdr.RST)) == TcpHdr.SYN) {
                connect(s, l4, hl, v6, srcHi, srcLo, sport, dstHi, dstLo, dport);
            } else if ((flags & TcpHdr.RST) == 0) {
                rstUnknown(s, l4, l4Len - hl, v6, srcHi, srcLo, sport, dstHi, dstLo, dport, flags);
            }
            return;
        }
        TcpConn c = conns[idx];
        c.lastActivity = loop.now();
        if ((flags & TcpHdr.RST) != 0) {
            // RFC 5961: accept a reset in the window; we are lenient, as passt, within the window
            closeConn(c, true);
            return;
        }
        if (c.has(TcpConn.SOCK_ACCEPTED) && !c.has(TcpConn.ESTABLISHED)) {
            synAckFromGuest(c, s, l4, hl, flags);
            return;
        }
        if (c.has(TcpConn.TAP_SYN_RCVD) && !c.has(TcpConn.ESTABLISHED)) {
            if ((flags & TcpHdr.SYN) != 0) {
                // The guest sends its SYN again: before the host connect completed, our SYN-ACK
                // follows it anyway; after, ours was lost and goes again (same sequence number).
                if ((flags & TcpHdr.ACK_FLAG) == 0 && c.has(TcpConn.TAP_SYN_ACK_SENT)
                        && TcpHdr.seq(s, l4) + 1 == c.seqFromTap) {
                    sendSyn(c, true);
                }
                return;
            }
            if (!c.has(TcpConn.TAP_SYN_ACK_SENT) || (flags & TcpHdr.ACK_FLAG) == 0) return;
            if (TcpHdr.ack(s, l4) != c.seqInitToTap + 1) {
                sendFlags(c, TcpHdr.RST, TcpHdr.ack(s, l4), 0);
                return;
            }
            c.events |= TcpConn.ESTABLISHED;
            c.seqAckFromTap = c.seqInitToTap + 1;
            c.deadline = 0;
            c.retrans = 0;
            // The host may have sent already (a server that speaks first): its EPOLLIN edge came
            // before the handshake was complete and will not come again, so read now.
            c.sockReadable = true;
            markDirty(c);
        }
        if ((flags & TcpHdr.SYN) != 0) {
            markAck(c); // a stray SYN on an established connection: answer with an ACK (RFC 5961 4)
            return;
        }
        if ((flags & TcpHdr.ACK_FLAG) != 0) ackFromGuest(c, TcpHdr.ack(s, l4), TcpHdr.window(s, l4), l4Len - hl);
        int dataLen = l4Len - hl;
        if (dataLen > 0 || (flags & TcpHdr.FIN) != 0) {
            dataFromGuest(c, s, l4 + hl, dataLen, TcpHdr.seq(s, l4), flags);
        } else if (c.inUse && TcpHdr.before(TcpHdr.seq(s, l4), c.seqNextFromTap())) {
            // a keep-alive or zero-window probe (no data, one byte behind): it wants an ACK
            // (RFC 9293 3.10.7.4), or the guest's kernel gives up on the connection
            markAck(c);
        }
    }

    private static long meta(int guestPort, int remotePort) {
        return 6L << 32 | (long) guestPort << 16 | remotePort;
    }

    /** A guest SYN for a new connection: open the host socket and connect it. */
    private void connect(MemorySegment s, long l4, int hl, boolean v6, long srcHi, long srcLo,
                         int sport, long dstHi, long dstLo, int dport) {
        if (!link.connected()) return;
        if (flows.forbiddenDestination(dstHi, dstLo)) {
            rstReply(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, 0, TcpHdr.seq(s, l4) + 1,
                    TcpHdr.RST | TcpHdr.ACK_FLAG);
            return;
        }
        long hHi = flows.hostHi(dstHi, dstLo), hLo = flows.hostLo(dstHi, dstLo);
        boolean hostV6 = !Inany.isV4(hHi, hLo);
        if (Inany.isV4(dstHi, dstLo) ? (Inany.v4(dstLo) == -1 || (Inany.v4(dstLo) >>> 28) == 0xe)
                : jpasst.packet.Ip6.isMulticast(dstHi)) {
            return; // no connections to broadcast or multicast addresses
        }
        int fd = Libc.socket(hostV6 ? Libc.AF_INET6 : Libc.AF_INET,
                Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        int seq = TcpHdr.seq(s, l4);
        if (fd < 0) {
            if (fd == -Errno.EMFILE || fd == -Errno.ENFILE) limitReached("out of file descriptors");
            rstReply(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, 0, seq + 1, TcpHdr.RST | TcpHdr.ACK_FLAG);
            return;
        }
        TcpConn c = allocate();
        if (c == null || !table.put(srcHi, srcLo, dstHi, dstLo, meta(sport, dport), c == null ? 0 : c.index)) {
            if (c != null) release(c);
            Libc.close(fd);
            limitReached("flow table full");
            rstReply(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, 0, seq + 1, TcpHdr.RST | TcpHdr.ACK_FLAG);
            return;
        }
        c.fd = fd;
        c.v6 = v6;
        c.gHi = srcHi;
        c.gLo = srcLo;
        c.gPort = sport;
        c.rHi = dstHi;
        c.rLo = dstLo;
        c.rPort = dport;
        c.events = TcpConn.TAP_SYN_RCVD;
        c.seqFromTap = seq + 1;
        c.seqAckToTap = c.seqFromTap;
        c.lastActivity = loop.now();
        synOptions(c, s, l4, hl);
        c.seqInitToTap = ThreadLocalRandom.current().nextInt();
        c.seqToTap = c.seqInitToTap;
        c.seqAckFromTap = c.seqInitToTap;
        c.seqConsumed = c.seqInitToTap + 1;
        prepareSocket(c);
        if (conf.outbound4 != 0 && !hostV6) {
            SockAddr.in4(sa, conf.outbound4, 0);
            Libc.bind(fd, sa, SockAddr.IN_SIZE);
        } else if ((conf.outbound6Hi | conf.outbound6Lo) != 0 && hostV6) { // -o for IPv6
            Libc.bind(fd, sa, SockAddr.in6(sa, conf.outbound6Hi, conf.outbound6Lo, 0, 0));
        }
        flows.bindOutboundDevice(fd, hHi, hLo); // --outbound-if4/6
        int len = SockAddr.inany(sa, hHi, hLo, dport);
        if (Log.debugEnabled()) {
            Log.debug("TCP: " + Inany.toString(srcHi, srcLo) + ":" + sport + " -> "
                    + Inany.toString(dstHi, dstLo) + ":" + dport + " via host " + Inany.toString(hHi, hLo));
        }
        int r = Libc.connect(fd, sa, len);
        if (r < 0 && r != -Errno.EINPROGRESS) {
            if (Log.debugEnabled()) {
                Log.debug("TCP: connect to " + Inany.toString(hHi, hLo) + ":" + dport + ": " + Errno.text(r));
            }
            rstReply(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, 0, seq + 1, TcpHdr.RST | TcpHdr.ACK_FLAG);
            closeConn(c, false);
            return;
        }
        loop.add(fd, Libc.EPOLLOUT | Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLET,
                sockRef(c));
        arm(c, synTimeout);
        if (r == 0) connected(c);
    }

    private void synOptions(TcpConn c, MemorySegment s, long l4, int hl) {
        int mss = TcpHdr.option(s, l4, hl, TcpHdr.OPT_MSS);
        c.mss = mss > 0 ? mss : MSS_DEFAULT;
        int limit = maxMss(c.v6);
        if (c.mss > limit) c.mss = limit;
        int ws = TcpHdr.option(s, l4, hl, TcpHdr.OPT_WS);
        if (ws >= 0) {
            c.wsFromTap = Math.min(ws, 14);
            c.wsToTap = WS_TO_TAP;
        } else {
            c.wsFromTap = 0;
            c.wsToTap = 0;
        }
        c.wndFromTap = TcpHdr.window(s, l4); // never scaled in a SYN
    }

    private int maxMss(boolean v6) {
        int mtu = conf.mtu == 0 ? 65520 : conf.mtu;
        return mtu - (v6 ? 60 : 40);
    }

    private void synAckFromGuest(TcpConn c, MemorySegment s, long l4, int hl, int flags) {
        if ((flags & (TcpHdr.SYN | TcpHdr.ACK_FLAG)) != (TcpHdr.SYN | TcpHdr.ACK_FLAG)) return;
        if (TcpHdr.ack(s, l4) != c.seqInitToTap + 1) {
            closeConn(c, true);
            return;
        }
        synOptions(c, s, l4, hl);
        c.seqFromTap = TcpHdr.seq(s, l4) + 1;
        c.seqAckFromTap = c.seqInitToTap + 1;
        c.events |= TcpConn.ESTABLISHED;
        c.deadline = 0;
        c.retrans = 0;
        markAck(c);
        c.sockReadable = true;
        markDirty(c);
    }

    private void ackFromGuest(TcpConn c, int ack, int window, int dataLen) {
        int wnd = window << c.wsFromTap;
        if (TcpHdr.before(c.seqHighToTap, ack)) return; // acknowledges what we never sent
        if (TcpHdr.before(c.seqToTap, ack)) {
            // After going back to retransmit, the guest acknowledges beyond what was sent again:
            // it had those bytes. Go on from its ACK rather than sending them once more (and
            // rather than ignoring the ACK, its window with it: with a shrunken window that
            // would leave the connection retransmitting one segment forever).
            c.seqToTap = ack;
            if (c.has(TcpConn.SOCK_FIN_RCVD) && ack == c.seqFinToTap + 1) {
                c.events |= TcpConn.TAP_FIN_SENT;
            } else if (c.peekOffset) {
                setInt(c.fd, Libc.SOL_SOCKET, Libc.SO_PEEK_OFF, ack - c.seqConsumed);
            }
        }
        if (TcpHdr.before(c.seqAckFromTap, ack)) {
            c.seqAckFromTap = ack;
            c.dupAcks = 0;
            c.retrans = 0;
            c.deadline = c.seqAckFromTap == c.seqToTap ? 0 : loop.now() + rto;
            if (c.deadline != 0) loop.wakeAt(c.deadline);
            if (c.has(TcpConn.TAP_FIN_SENT) && ack == c.seqFinToTap + 1) c.events |= TcpConn.TAP_FIN_ACKED;
            markDirty(c);
        } else if (ack == c.seqAckFromTap && dataLen == 0 && wnd == c.wndFromTap && c.inFlight() > 0) {
            if (++c.dupAcks == 3) retransmit(c);
        }
        if (wnd != c.wndFromTap) {
            if (wnd > c.wndFromTap) {
                if (c.wndFromTap == 0 && c.inFlight() == 0) {
                    // the window opened: the zero-window probe timer (backed off) is not the
                    // retransmission timer of the data that now leaves, which starts afresh
                    c.deadline = 0;
                    c.retrans = 0;
                }
                markDirty(c);
            }
            c.wndFromTap = wnd;
        }
        if (c.has(TcpConn.TAP_FIN_ACKED) && c.has(TcpConn.SOCK_FIN_SENT)) closeConn(c, false);
    }

    private void dataFromGuest(TcpConn c, MemorySegment s, long data, int len, int seq, int flags) {
        if (c.has(TcpConn.TAP_FIN_RCVD)) {
            markAck(c);
            return;
        }
        int skip = c.seqNextFromTap() - seq;
        if (skip < 0) {            // a gap: out of order, ask again for what we miss
            markAck(c);
            return;
        }
        if (skip < len) {
            queue(c, s.address() + data + skip, len - skip);
            if (!c.inUse) return;  // (a full queue was written out, and that failed)
        }
        if ((flags & TcpHdr.FIN) != 0) {
            flushPending(c);       // the FIN follows the data only if all of it was written
            if (!c.inUse) return;
        }
        if ((flags & TcpHdr.FIN) != 0 && c.seqFromTap == seq + len) {
            c.seqFromTap++;
            c.events |= TcpConn.TAP_FIN_RCVD;
            Libc.shutdown(c.fd, Libc.SHUT_WR);
            c.events |= TcpConn.SOCK_FIN_SENT;
            if (!c.has(TcpConn.TAP_FIN_SENT)) arm(c, finTimeout);
        }
        markAck(c);
        if (c.has(TcpConn.TAP_FIN_ACKED) && c.has(TcpConn.SOCK_FIN_SENT)) {
            sendAck(c);
            closeConn(c, false);
        }
    }

    /** Queues guest data for the host socket (see {@link #batchDone}). */
    private void queue(TcpConn c, long addr, int len) {
        if (pendingChunks == PENDING_MAX) {
            batchDone();
            if (!c.inUse) return;
        }
        int i = pendingChunks++;
        pendingAddr[i] = addr;
        pendingLen[i] = len;
        pendingNext[i] = -1;
        if (c.pendingHead < 0) {
            c.pendingHead = i;
            pendingConns[pendingConnCount++] = c.index;
        } else {
            pendingNext[c.pendingTail] = i;
        }
        c.pendingTail = i;
        c.pendingBytes += len;
    }

    /**
     * The frames of a batch from the guest are all in: each connection's queued data goes to its
     * host socket in one call, while the link still holds the frames. What the socket does not
     * take is not acknowledged, and the guest sends it again.
     */
    @Override
    public void batchDone() {
        for (int k = 0; k < pendingConnCount; k++) {
            TcpConn c = conns[pendingConns[k]];
            if (c != null && c.inUse) flushPending(c);
        }
        pendingConnCount = 0;
        pendingChunks = 0;
    }

    private void flushPending(TcpConn c) {
        if (c.pendingHead < 0) return;
        int chunks = 0;
        for (int i = c.pendingHead; i >= 0; i = pendingNext[i]) {
            Msghdr.iovec(sendIov, chunks++, pendingAddr[i], pendingLen[i]);
        }
        int want = c.pendingBytes;
        c.pendingHead = c.pendingTail = -1;
        c.pendingBytes = 0;
        long n = Libc.sendmsg(c.fd, Msghdr.set(sendMsghdr, sendIov.address(), chunks),
                Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
        if (n < 0) {
            if (n == -Errno.EAGAIN) {
                wantWrite(c);
            } else {
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
                closeConn(c, false);
            }
            return;
        }
        c.seqFromTap += (int) n;
        if (n < want) wantWrite(c);
    }

    private void wantWrite(TcpConn c) {
        if (c.wantWrite) return;
        c.wantWrite = true;
        loop.modify(c.fd, Libc.EPOLLIN | Libc.EPOLLOUT | Libc.EPOLLRDHUP | Libc.EPOLLET,
                sockRef(c));
    }

    // ------------------------------------------------------------------ host socket events

    private void onSocket(long ref, int ev) {
        long v = EventLoop.value(ref);
        int idx = (int) v;
        TcpConn c = idx >= 0 && idx < highWater ? conns[idx] : null;
        // An event for a socket closed earlier in this batch whose slot a new connection took
        // already (a guest's RST or last ACK, then its next SYN, in one read): not the new one's.
        if (c == null || !c.inUse || c.generation != (int) (v >>> 32)) return;
        if (c.has(TcpConn.TAP_SYN_RCVD) && !c.has(TcpConn.TAP_SYN_ACK_SENT)) {
            if ((ev & (Libc.EPOLLOUT | Libc.EPOLLERR | Libc.EPOLLHUP)) == 0) return;
            int err = soError(c.fd);
            if (err != 0 || (ev & Libc.EPOLLERR) != 0) {
                if (Log.debugEnabled()) Log.debug("TCP: connect failed: " + Errno.text(err == 0 ? Errno.ECONNREFUSED : err));
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, 0, c.seqFromTap);
                closeConn(c, false);
                return;
            }
            connected(c);
            return;
        }
        if ((ev & Libc.EPOLLERR) != 0) {
            int err = soError(c.fd);
            if (err != 0) {
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
                closeConn(c, false);
                return;
            }
        }
        if ((ev & Libc.EPOLLOUT) != 0 && c.wantWrite) {
            c.wantWrite = false;
            loop.modify(c.fd, Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLET, sockRef(c));
            markAck(c); // a window update: the host socket has room again
        }
        if ((ev & (Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLHUP)) != 0) {
            c.sockReadable = true;
            if ((ev & (Libc.EPOLLRDHUP | Libc.EPOLLHUP)) != 0) c.rdHup = true;
            c.lastActivity = loop.now();
            if (c.has(TcpConn.ESTABLISHED)) sockToTap(c);
        }
    }

    /** The epoll reference of a connection's socket: its slot and the slot's generation. */
    private static long sockRef(TcpConn c) {
        return EventLoop.ref(Refs.TCP, (long) c.generation << 32 | c.index);
    }

    private void connected(TcpConn c) {
        loop.modify(c.fd, Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLET, sockRef(c));
        c.events |= TcpConn.TAP_SYN_ACK_SENT;
        sendSyn(c, true);
        c.seqToTap = c.seqHighToTap = c.seqInitToTap + 1;
        arm(c, synTimeout);
    }

    private void prepareSocket(TcpConn c) {
        c.peekOffset = setInt(c.fd, Libc.SOL_SOCKET, Libc.SO_PEEK_OFF, 0) == 0;
    }

    /**
     * Reads what the guest's window and the link's room allow, straight into frames: the link
     * reserves them, one recvmsg (MSG_PEEK) fills their payloads, the headers are written
     * around what came, and the link sends them.
     */
    private void sockToTap(TcpConn c) {
        for (int round = 0; round < 8 && c.inUse; round++) {
            if (c.has(TcpConn.TAP_FIN_SENT)) return;
            if (c.has(TcpConn.SOCK_FIN_RCVD) && c.seqToTap == c.seqFinToTap) {
                sockEof(c); // all data sent again after going back: the FIN once more
                return;
            }
            int wnd = c.wndFromTap - c.inFlight();
            if (wnd <= 0) {
                if (c.deadline == 0) arm(c, rto); // zero window: probe later
                return;
            }
            // without a peek offset, skip what was sent and not yet dropped from the socket
            int skip = c.peekOffset ? 0 : c.seqToTap - c.seqConsumed;
            if (skip > discard.byteSize()) return; // cannot peek past so much unacknowledged data
            int mss = Math.min(c.mss, maxMss(c.v6));
            int wantFrames = (int) Math.min(MAX_FRAMES_PER_READ, ((long) wnd + mss - 1) / mss);
            int reserved = link.reserve(toGuest, FrameWriter.l2l3Length(c.v6) + HDR, mss, wantFrames);
            if (reserved == 0) {
                c.sockReadable = true; // "room again" resumes it
                return;
            }
            long room = 0;
            for (int i = 0; i < reserved; i++) room += toGuest.capacity(i);
            int want = (int) Math.min(wnd, room);
            int pieces = toGuest.limit(want);
            long n;
            if (skip > 0) {
                toGuest.lead(discard.address(), skip);
                n = Libc.recvmsg(c.fd, Msghdr.set(msghdr, toGuest.iovecAddress(0), pieces + 1),
                        Libc.MSG_PEEK | Libc.MSG_DONTWAIT);
            } else {
                n = Libc.recvmsg(c.fd, Msghdr.set(msghdr, toGuest.iovecAddress(1), pieces),
                        Libc.MSG_PEEK | Libc.MSG_DONTWAIT);
            }
            if (n < 0) {
                link.commit(toGuest, 0);
                if (n == -Errno.EAGAIN) {
                    c.sockReadable = false;
                    return;
                }
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
                closeConn(c, false);
                return;
            }
            if (n == 0) {           // end of stream right at the offset: the host peer closed
                link.commit(toGuest, 0);
                c.sockReadable = false;
                sockEof(c);
                return;
            }
            n -= skip;
            if (n <= 0) {           // (no peek offset) nothing beyond what was sent
                link.commit(toGuest, 0);
                c.sockReadable = false;
                return;
            }
            int got = (int) n;
            int sent = 0, filled = 0;
            int win = windowToTap(c) >>> c.wsToTap; // once per read: the frames go out together
            for (int i = 0; sent < got; i++) {
                int chunk = Math.min(toGuest.capacity(i), got - sent);
                boolean last = sent + chunk == got;
                dataFrame(c, i, c.seqToTap + sent, chunk, last, win);
                sent += chunk;
                filled++;
            }
            link.commit(toGuest, filled);
            segmentsOut += filled;
            c.seqToTap += got;
            if (TcpHdr.before(c.seqHighToTap, c.seqToTap)) c.seqHighToTap = c.seqToTap;
            c.seqAckToTap = c.seqFromTap;
            c.ackPending = false;
            if (c.deadline == 0) arm(c, rto);
            if (got < want) {
                // All the socket had. If the host peer has closed (its FIN follows its data),
                // that is the end of the stream: the FIN goes now, not after another event.
                c.sockReadable = false;
                if (c.has(TcpConn.SOCK_FIN_RCVD) ? c.seqToTap == c.seqFinToTap : c.rdHup) sockEof(c);
                return;
            }
        }
    }

    private void sockEof(TcpConn c) {
        if (c.has(TcpConn.TAP_FIN_SENT)) return;
        // recv with MSG_PEEK returned 0 at the peek offset: no data beyond what the guest has
        if (!c.has(TcpConn.SOCK_FIN_RCVD)) {
            c.events |= TcpConn.SOCK_FIN_RCVD;
            c.seqFinToTap = c.seqToTap;
        }
        c.events |= TcpConn.TAP_FIN_SENT;
        sendFlags(c, TcpHdr.FIN | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
        c.seqToTap++;
        if (TcpHdr.before(c.seqHighToTap, c.seqToTap)) c.seqHighToTap = c.seqToTap;
        arm(c, c.has(TcpConn.TAP_FIN_RCVD) ? finTimeout : rto);
    }

    /** Drops acknowledged bytes from the host socket's receive queue, without copying them. */
    private void consumeAcked(TcpConn c) {
        int ackedData = c.has(TcpConn.SOCK_FIN_RCVD) && TcpHdr.before(c.seqFinToTap, c.seqAckFromTap)
                ? c.seqFinToTap : c.seqAckFromTap;
        int acked = ackedData - c.seqConsumed;
        if (acked <= 0) return;
        long n = Libc.recv(c.fd, 0L, acked, Libc.MSG_TRUNC | Libc.MSG_DONTWAIT);
        if (n > 0) c.seqConsumed += (int) n;
    }

    // ------------------------------------------------------------------ frames to the guest

    /** Writes the headers of data frame {@code i} of the batch, {@code len} bytes of payload in place. */
    private void dataFrame(TcpConn c, int i, int seq, int len, boolean push, int win) {
        MemorySegment s = toGuest.header(i);
        long frame = toGuest.headerOffset(i);
        long l4 = FrameWriter.l4(frame, c.v6);
        TcpHdr.write(s, l4, c.rPort, c.gPort, seq, c.seqFromTap, HDR,
                TcpHdr.ACK_FLAG | (push ? TcpHdr.PSH : 0), win);
        toGuest.payloadLength(i, len);
        int l4Len = HDR + len;
        if (link.checksumsNeeded()) {
            long sum = toGuest.sum(i, l4, FrameWriter.pseudo(c.v6, c.rHi, c.rLo, c.gHi, c.gLo, 6, l4Len));
            Net.u16(s, l4 + TcpHdr.CHECKSUM, Checksum.finish(sum));
        }
        frames.headers(s, frame, c.v6, c.rHi, c.rLo, c.gHi, c.gLo, 6, l4Len);
    }

    private void sendSyn(TcpConn c, boolean ack) {
        long frame = frames.reserve(c.v6, SYN_HDR);
        if (frame < 0) return;
        MemorySegment o = frames.out();
        long l4 = FrameWriter.l4(frame, c.v6);
        int win = ack ? windowToTap(c) : 65535 << WS_TO_TAP;
        TcpHdr.write(o, l4, c.rPort, c.gPort, c.seqInitToTap, ack ? c.seqFromTap : 0, SYN_HDR,
                TcpHdr.SYN | (ack ? TcpHdr.ACK_FLAG : 0), Math.min(65535, win));
        Net.u8(o, l4 + 20, TcpHdr.OPT_MSS);
        Net.u8(o, l4 + 21, 4);
        Net.u16(o, l4 + 22, maxMss(c.v6));
        Net.u8(o, l4 + 24, TcpHdr.OPT_NOP);
        boolean ws = !ack || c.wsToTap > 0;
        Net.u8(o, l4 + 25, ws ? TcpHdr.OPT_WS : TcpHdr.OPT_NOP);
        Net.u8(o, l4 + 26, ws ? 3 : TcpHdr.OPT_NOP);
        Net.u8(o, l4 + 27, ws ? WS_TO_TAP : TcpHdr.OPT_NOP);
        TcpHdr.checksum(o, l4, SYN_HDR, FrameWriter.pseudo(c.v6, c.rHi, c.rLo, c.gHi, c.gLo, 6, SYN_HDR));
        frames.commit(frame, c.v6, c.rHi, c.rLo, c.gHi, c.gLo, 6, SYN_HDR);
        if (ack) c.seqAckToTap = c.seqFromTap;
        segmentsOut++;
    }

    private void sendAck(TcpConn c) {
        sendFlags(c, TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
        c.seqAckToTap = c.seqFromTap;
        c.ackPending = false;
    }

    private void sendFlags(TcpConn c, int flags, int seq, int ack) {
        long frame = frames.reserve(c.v6, HDR);
        if (frame < 0) return;
        MemorySegment o = frames.out();
        long l4 = FrameWriter.l4(frame, c.v6);
        int win = (flags & TcpHdr.RST) != 0 ? 0 : windowToTap(c) >>> c.wsToTap;
        TcpHdr.write(o, l4, c.rPort, c.gPort, seq, ack, HDR, flags, win);
        TcpHdr.checksum(o, l4, HDR, FrameWriter.pseudo(c.v6, c.rHi, c.rLo, c.gHi, c.gLo, 6, HDR));
        frames.commit(frame, c.v6, c.rHi, c.rLo, c.gHi, c.gLo, 6, HDR);
        if ((flags & TcpHdr.RST) != 0) {
            resetsSent++;
            c.ackPending = false; // after a reset nothing more is owed
        }
        segmentsOut++;
    }

    /** An RST for a segment that belongs to no connection (RFC 9293 3.10.7.1). */
    private void rstUnknown(MemorySegment s, long l4, int dataLen, boolean v6, long srcHi, long srcLo,
                            int sport, long dstHi, long dstLo, int dport, int flags) {
        if ((flags & TcpHdr.ACK_FLAG) != 0) {
            rstReply(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, TcpHdr.ack(s, l4), 0, TcpHdr.RST);
        } else {
            int segLen = dataLen + ((flags & TcpHdr.SYN) != 0 ? 1 : 0) + ((flags & TcpHdr.FIN) != 0 ? 1 : 0);
            rstReply(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, 0, TcpHdr.seq(s, l4) + segLen,
                    TcpHdr.RST | TcpHdr.ACK_FLAG);
        }
    }

    private void rstReply(boolean v6, long fromHi, long fromLo, int fromPort, long toHi, long toLo,
                          int toPort, int seq, int ack, int flags) {
        long frame = frames.reserve(v6, HDR);
        if (frame < 0) return;
        MemorySegment o = frames.out();
        long l4 = FrameWriter.l4(frame, v6);
        TcpHdr.write(o, l4, fromPort, toPort, seq, ack, HDR, flags, 0);
        TcpHdr.checksum(o, l4, HDR, FrameWriter.pseudo(v6, fromHi, fromLo, toHi, toLo, 6, HDR));
        frames.commit(frame, v6, fromHi, fromLo, toHi, toLo, 6, HDR);
        resetsSent++;
    }

    /**
     * The window to offer the guest: what the host socket's send buffer can still take, so that
     * whatever the guest sends within it is accepted by send() and nothing has to be dropped.
     */
    private int windowToTap(TcpConn c) {
        // send() takes data while the memory queued on the socket (sk_wmem_queued) is below its
        // buffer size (sk_sndbuf); both count skb truesize, payload plus overhead, and the
        // overhead is large: 40% measured with 60000-byte sends to a peer that does not read,
        // more with small segments. So the room in payload bytes is the free memory scaled by
        // the payload share of what is queued now (SIOCOUTQ against sk_wmem_queued), or by 3/4
        // while the queue is too short to tell; less a sixteenth, as the share varies.
        // (Counting only the payload queued, against 7/8 of SO_SNDBUF, offered a fifth more
        // than send() took: segments the guest sent within the window were not acknowledged.)
        intLen.set(ValueLayout.JAVA_INT, 0, 4 * SK_MEMINFO_VARS);
        int sndbuf = 0;
        long free = 0, room = 0;
        int outq = Libc.ioctl(c.fd, Libc.SIOCOUTQ, intVal) == 0 ? intVal.get(ValueLayout.JAVA_INT, 0) : 0;
        if (Libc.getsockopt(c.fd, Libc.SOL_SOCKET, SO_MEMINFO, meminfo, intLen) == 0) {
            sndbuf = meminfo.get(ValueLayout.JAVA_INT, 4 * SK_MEMINFO_SNDBUF);
            int queued = meminfo.get(ValueLayout.JAVA_INT, 4 * SK_MEMINFO_WMEM_QUEUED);
            free = (long) sndbuf - queued;
            room = queued >= 32768 && outq < queued ? free * outq / queued : free * 3 / 4;
        }
        int max = 65535 << c.wsToTap;
        int w = (int) Math.max(0, Math.min(room - room / 16, max));
        if (c.wsToTap > 0) w &= ~((1 << c.wsToTap) - 1);
        c.wndToTap = w;
        // A small window must open again by itself when the host drains the socket, or the guest
        // waits for its zero-window probe (200 ms and more, backing off). With less than a
        // quarter of the buffer's memory free the socket is not writable (Linux: writable while
        // queued <= 2/3 of sndbuf), so EPOLLOUT comes once it is again, and its handler sends the
        // window update. The free memory itself decides, not the window: without window scaling
        // the window is capped at 64 KiB, and asking for EPOLLOUT on a writable socket would
        // answer every ACK with another one, forever.
        if (free < sndbuf / 4 && !c.wantWrite && c.has(TcpConn.ESTABLISHED) && !c.has(TcpConn.SOCK_FIN_SENT)) {
            wantWrite(c);
        }
        return w;
    }

    // ------------------------------------------------------------------ batching and timers

    private void markAck(TcpConn c) {
        c.ackPending = true;
        markDirty(c);
    }

    private void markDirty(TcpConn c) {
        if (isDirty[c.index]) return;
        isDirty[c.index] = true;
        if (dirtyCount == dirty.length) dirty = java.util.Arrays.copyOf(dirty, dirty.length * 2);
        dirty[dirtyCount++] = c.index;
    }

    /** End of a batch of events: consume acknowledged data, read more, send pending ACKs. */
    public void endOfBatch() {
        batchDone(); // (nothing is queued here unless a frame's handler got here itself)
        for (int i = 0; i < dirtyCount; i++) {
            int idx = dirty[i];
            isDirty[idx] = false;
            TcpConn c = conns[idx];
            if (c == null || !c.inUse) continue;
            if (c.has(TcpConn.ESTABLISHED)) {
                consumeAcked(c);
                // only if the socket may have more: with EPOLLET a read that came short (or got
                // EAGAIN) clears sockReadable and the next edge sets it, so an ACK of guest data
                // costs no empty recvmsg
                if (c.inUse && c.sockReadable && !c.has(TcpConn.TAP_FIN_SENT)) sockToTap(c);
            }
            if (c.inUse && c.ackPending && c.has(TcpConn.ESTABLISHED)) sendAck(c);
        }
        dirtyCount = 0;
    }

    /**
     * Room for frames to the guest is back: connections that stopped for lack of it go on, at
     * the end of this batch of events ({@link #endOfBatch}).
     */
    @Override
    public void roomAgain() {
        for (int i = 0; i < highWater; i++) {
            TcpConn c = conns[i];
            if (c != null && c.inUse && c.sockReadable && c.has(TcpConn.ESTABLISHED)) markDirty(c);
        }
    }

    private void arm(TcpConn c, long after) {
        c.deadline = loop.now() + after;
        loop.wakeAt(c.deadline);
    }

    private void tick(long now) {
        long next = now + 1_000_000_000L;
        for (int i = 0; i < highWater; i++) {
            TcpConn c = conns[i];
            if (c == null || !c.inUse) continue;
            if (now - c.lastActivity > actTimeout) {
                if (Log.debugEnabled()) Log.debug("TCP: inactivity timeout, resetting connection");
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
                closeConn(c, true);
                continue;
            }
            if (c.deadline != 0 && now - c.deadline >= 0) timeout(c);
            if (c.inUse && c.deadline != 0 && c.deadline < next) next = c.deadline;
        }
        loop.wakeAt(next);
    }

    private void timeout(TcpConn c) {
        c.deadline = 0;
        if (!c.has(TcpConn.ESTABLISHED)) {
            if (c.has(TcpConn.SOCK_ACCEPTED) && ++c.retrans <= 3) {
                sendSyn(c, false); // guest did not answer our SYN yet
                arm(c, synTimeout / 4);
                return;
            }
            if (Log.debugEnabled()) Log.debug("TCP: handshake timeout");
            if (c.has(TcpConn.TAP_SYN_RCVD)) sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
            closeConn(c, true);
            return;
        }
        if (c.has(TcpConn.TAP_FIN_RCVD) && c.has(TcpConn.TAP_FIN_ACKED)) {
            closeConn(c, false);
            return;
        }
        if (c.seqAckFromTap != c.seqToTap) {
            if (++c.retrans > MAX_RETRANS) {
                if (Log.debugEnabled()) Log.debug("TCP: retransmission limit, resetting connection");
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
                closeConn(c, true);
                return;
            }
            retransmit(c);
            if (c.inUse) arm(c, rto << Math.min(c.retrans, 6));
        } else if (c.wndFromTap == 0 && c.sockReadable) {
            // Zero-window probe. An ACK at the next sequence number is acceptable to the guest
            // and answered by nothing; one just below its window is not, and RFC 9293 3.10.7.4
            // has it answered with an ACK carrying the current window (Linux probes this way).
            sendFlags(c, TcpHdr.ACK_FLAG, c.seqToTap - 1, c.seqFromTap);
            c.seqAckToTap = c.seqFromTap;
            c.ackPending = false;
            arm(c, rto << Math.min(++c.retrans, 6));
        } else if (c.has(TcpConn.TAP_FIN_RCVD) || c.has(TcpConn.TAP_FIN_SENT)) {
            if (c.has(TcpConn.TAP_FIN_RCVD) && c.has(TcpConn.TAP_FIN_SENT)) closeConn(c, false);
        }
    }

    /** Go back to the first byte the guest has not acknowledged and send from there again. */
    private void retransmit(TcpConn c) {
        c.dupAcks = 0;
        if (c.has(TcpConn.TAP_FIN_SENT) && !c.has(TcpConn.TAP_FIN_ACKED)) {
            c.events &= ~TcpConn.TAP_FIN_SENT; // sent again after the data (seqFinToTap stays)
        }
        // Acknowledged bytes may still be in the socket (they are dropped at the end of a batch,
        // and this can run in the middle of one, on the third duplicate ACK): drop them first,
        // and point the peek offset at the first unacknowledged byte counted from the socket's
        // head, or the bytes resent would be older ones under the new sequence numbers.
        consumeAcked(c);
        c.seqToTap = c.seqAckFromTap;
        if (c.peekOffset) setInt(c.fd, Libc.SOL_SOCKET, Libc.SO_PEEK_OFF, c.seqToTap - c.seqConsumed);
        c.sockReadable = true;
        sockToTap(c);
    }

    // ------------------------------------------------------------------ connection table

    private TcpConn allocate() {
        if (active >= maxConns) {
            limitReached("connection limit (" + maxConns + ") reached");
            return null;
        }
        int idx;
        if (freeCount > 0) {
            idx = free[--freeCount];
        } else {
            idx = highWater++;
            if (idx >= conns.length) {
                int n = Math.min(conns.length * 2, Math.max(maxConns, 256));
                conns = java.util.Arrays.copyOf(conns, n);
                free = java.util.Arrays.copyOf(free, n);
                isDirty = java.util.Arrays.copyOf(isDirty, n);
            }
        }
        TcpConn c = conns[idx];
        if (c == null) conns[idx] = c = new TcpConn(idx);
        c.reset();
        c.inUse = true;
        c.generation = (c.generation + 1) & 0xffffff;
        active++;
        return c;
    }

    private void release(TcpConn c) {
        c.reset();
        free[freeCount++] = c.index;
        active--;
    }

    private void closeConn(TcpConn c, boolean abortive) {
        if (!c.inUse) return;
        // A clean close still owes the guest the ACK marked for the end of the batch (for its
        // FIN, when its ACK of our FIN came in the same batch): without it the guest sends its
        // FIN again, to a connection that is gone, and gets a reset.
        if (!abortive && c.ackPending && c.has(TcpConn.ESTABLISHED)) sendAck(c);
        table.remove(c.gHi, c.gLo, c.rHi, c.rLo, meta(c.gPort, c.rPort));
        if (c.fd >= 0) {
            loop.remove(c.fd);
            if (abortive) abortiveClose(c.fd);
            else Libc.close(c.fd);
        }
        release(c);
    }

    private void abortiveClose(int fd) {
        intVal.set(ValueLayout.JAVA_INT, 0, 1);
        intVal.set(ValueLayout.JAVA_INT, 4, 0);
        Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_LINGER, intVal, 8);
        Libc.close(fd);
    }

    private void limitReached(String why) {
        if (!warnedLimit) {
            Log.warn("TCP: " + why + ": new connections get a reset");
            warnedLimit = true;
        }
    }

    @Override
    public void guestGone() {
        for (int i = 0; i < highWater; i++) {
            TcpConn c = conns[i];
            if (c != null && c.inUse) closeConn(c, true);
        }
        pendingConnCount = pendingChunks = 0;
        dirtyCount = 0;
        java.util.Arrays.fill(isDirty, false);
    }

    private int setInt(int fd, int level, int name, int value) {
        intVal.set(ValueLayout.JAVA_INT, 0, value);
        return Libc.setsockopt(fd, level, name, intVal, 4);
    }

    private int soError(int fd) {
        intLen.set(ValueLayout.JAVA_INT, 0, 4);
        if (Libc.getsockopt(fd, Libc.SOL_SOCKET, Libc.SO_ERROR, intVal, intLen) < 0) return Errno.EIO;
        return intVal.get(ValueLayout.JAVA_INT, 0);
    }

    public void close() {
        guestGone();
        for (int fd : listenFds) Libc.close(fd);
        if (spareFd >= 0) Libc.close(spareFd);
        spareFd = -1;
    }
}
