package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;

import jpasst.conf.Conf;
import jpasst.link.FrameWriter;
import jpasst.link.FramesFromGuest;
import jpasst.link.Link;
import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.packet.Inany;
import jpasst.packet.TcpHdr;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;
import jpasst.sys.SocketOptions;
import jpasst.util.Log;

/**
 * TCP translation, the protocol core, as passt's tcp.c: not a TCP stack, but a splice of the
 * guest's TCP connection onto an ordinary host socket, with no copy of the stream kept here.
 * This class is the state machine and the sequence and window accounting; the work around it
 * is done by {@link TcpToGuest} (segments to the guest, data read from the host socket straight
 * into frames), {@link TcpToHost} (guest data written to the host socket, one sendmsg per
 * connection and batch), {@link TcpWindow} (the window offered to the guest) and
 * {@link TcpListeners} (inbound connections); the connections are flows of {@link Flows}.
 *
 * - Guest → host: the payloads of a connection's segments from one batch of the link are
 *   written to its host socket together once the batch's frames are all in ({@link #batchDone}),
 *   and the guest is acknowledged only for what the kernel accepted. The window offered to the
 *   guest is the room left in the socket's send buffer, so the guest never sends what cannot be
 *   taken.
 * - Host → guest: data stays in the host socket's receive queue until the guest acknowledges it.
 *   New data is peeked at the socket's peek offset into frames; acknowledged bytes are then
 *   dropped from the socket with MSG_TRUNC (no copy). A retransmission rewinds the peek offset
 *   and reads the same bytes again.
 * - Handshakes both ways (MSS and window scaling from the guest's SYN), FIN in both directions
 *   with half-close, RST both ways (a refused connect is an RST to the guest; a guest RST is an
 *   abortive close of the host socket), retransmission on timeout and after three duplicate ACKs,
 *   zero-window probing, and timeouts for handshakes (10 s), FIN (60 s) and inactivity (7200 s).
 *
 * Host sockets are edge-triggered: a socket is read until EAGAIN or until the guest's window or
 * the link's room is used up; the guest's next ACK, or "room again", resumes it. ACKs, window
 * updates and data reads caused by a batch of guest frames are done once per batch
 * ({@link #endOfBatch}).
 *
 * Hot path: no allocation per segment. Connection objects are made once per slot and reused;
 * lookups go through {@link Flows}.
 */
public final class Tcp implements Transport {
    public static final int MAX_CONNS_DEFAULT = 128 * 1024;
    static final long SYN_TIMEOUT = 10_000_000_000L;
    static final long FIN_TIMEOUT = 60_000_000_000L;
    static final long RTO_INITIAL = 500_000_000L;
    static final int MAX_RETRANS = 7;
    static final int MSS_DEFAULT = 536;

    // the timers above, as fields: tests change them, on the loop's thread (see #timeouts)
    private long synTimeout = SYN_TIMEOUT, finTimeout = FIN_TIMEOUT, rto = RTO_INITIAL;
    private final long actTimeout;

    private final Conf conf;
    private final EventLoop loop;
    private final Link link;
    private final Flows flows;
    private final AddressMapping mapping;
    private final TcpWindow window;
    private final TcpToGuest toGuest;
    private final TcpToHost toHost = new TcpToHost();
    private FramesFromGuest scattered; // the frame being handled, if in pieces
    private final SocketOptions options = new SocketOptions();
    private final MemorySegment sa = Arena.ofAuto().allocate(SockAddr.STORAGE, 8);
    private TcpConn[] conns = new TcpConn[256];
    private int[] dirty = new int[256];
    private boolean[] isDirty = new boolean[256];
    private int dirtyCount;
    private boolean warnedLimit;
    private long badChecksums;

    public Tcp(Conf conf, EventLoop loop, Link link, FrameWriter frames, Flows flows, AddressMapping mapping) {
        this.conf = conf;
        this.loop = loop;
        this.link = link;
        this.flows = flows;
        this.mapping = mapping;
        this.window = new TcpWindow(loop, flows);
        this.toGuest = new TcpToGuest(link, frames, flows, window);
        this.actTimeout = conf.tcpTimeoutSeconds > 0 ? conf.tcpTimeoutSeconds * 1_000_000_000L : 7200_000_000_000L;
        loop.handler(Refs.TCP, this::onSocket);
        loop.onTick(this::tick);
    }

    /** Other timers for tests (on the loop's thread): handshake, FIN and initial retransmission timeouts, in ns. */
    void timeouts(long syn, long fin, long retransmit) {
        synTimeout = syn;
        finTimeout = fin;
        rto = retransmit;
    }

    public int activeConnections() {
        return flows.count(Flows.TCP);
    }

    public long resetsSent() {
        return toGuest.resetsSent;
    }

    public long badChecksums() {
        return badChecksums;
    }

    /** Whether TCP flow {@code f} came in on a forwarded port (else the guest opened it). */
    public boolean inbound(int f) {
        TcpConn c = f < conns.length ? conns[f] : null;
        return c != null && c.has(TcpConn.SOCK_ACCEPTED);
    }

    /** TCP flow {@code f}'s state in passt's words, for listings: its events, or "closed". */
    public String stateOf(int f) {
        TcpConn c = f < conns.length ? conns[f] : null;
        if (c == null || !live(c)) return "closed";
        String[] names = {"SOCK_ACCEPTED", "TAP_SYN_RCVD", "TAP_SYN_ACK_SENT", "ESTABLISHED", "SOCK_FIN_RCVD",
                "SOCK_FIN_SENT", "TAP_FIN_RCVD", "TAP_FIN_SENT", "TAP_FIN_ACKED"};
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < names.length; i++) {
            if ((c.events & (1 << i)) == 0) continue;
            if (b.length() > 0) b.append(',');
            b.append(names[i]);
        }
        return b.length() == 0 ? "NEW" : b.toString();
    }

    private boolean live(TcpConn c) {
        return flows.type(c.index) == Flows.TCP;
    }

    private int fd(TcpConn c) {
        return flows.fd(c.index);
    }

    // ------------------------------------------------------------------ new connections

    /**
     * An inbound connection accepted on socket {@code fd} from the host peer at
     * {@code peerHi/peerLo} port {@code peerPort}, for the guest's port {@code guestPort}
     * (see {@link TcpListeners}): it goes to the guest with our SYN.
     */
    void accepted(int fd, long peerHi, long peerLo, int peerPort, int guestPort) {
        boolean v6 = !Inany.isV4(peerHi, peerLo);
        if (v6 ? !conf.v6 : !conf.v4) {
            options.abortiveClose(fd);
            return;
        }
        TcpConn c = open(fd, v6, mapping.guestAddrHi(v6), mapping.guestAddrLo(v6), guestPort,
                mapping.guestHi(peerHi, peerLo), mapping.guestLo(peerHi, peerLo), peerPort);
        if (c == null) {
            options.abortiveClose(fd);
            return;
        }
        flows.hostSide(c.index, peerHi, peerLo, peerPort);
        c.seqInitToTap = ThreadLocalRandom.current().nextInt();
        c.seqToTap = c.seqInitToTap;
        c.seqAckFromTap = c.seqInitToTap;
        c.seqConsumed = c.seqInitToTap + 1;
        c.events = TcpConn.SOCK_ACCEPTED;
        c.wsToTap = TcpToGuest.WS_TO_TAP; // offered in our SYN; kept only if the guest offers scaling too
        prepareSocket(c);
        loop.add(fd, TcpWindow.EVENTS, flows.ref(Refs.TCP, c.index));
        toGuest.syn(c, false, maxMss(v6));
        c.seqToTap = c.seqHighToTap = c.seqInitToTap + 1;
        arm(c, synTimeout);
    }

    /** A guest SYN for a new connection: open the host socket and connect it. */
    private void connect(MemorySegment s, long l4, int hl, boolean v6, long srcHi, long srcLo,
                         int sport, long dstHi, long dstLo, int dport) {
        if (!link.connected()) return;
        int seq = TcpHdr.seq(s, l4);
        if (mapping.forbiddenDestination(dstHi, dstLo)) {
            toGuest.reset(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, 0, seq + 1, TcpHdr.RST | TcpHdr.ACK_FLAG);
            return;
        }
        long hHi = mapping.targetHi(dstHi, dstLo, dport), hLo = mapping.targetLo(dstHi, dstLo, dport);
        boolean hostV6 = !Inany.isV4(hHi, hLo);
        if (Inany.isV4(dstHi, dstLo) ? (Inany.v4(dstLo) == -1 || (Inany.v4(dstLo) >>> 28) == 0xe)
                : jpasst.packet.Ip6.isMulticast(dstHi)) {
            return; // no connections to broadcast or multicast addresses
        }
        int fd = Sockets.socket(hostV6 ? Sockets.AF_INET6 : Sockets.AF_INET,
                Sockets.SOCK_STREAM | Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            if (fd == -Errno.EMFILE || fd == -Errno.ENFILE) limitReached("out of file descriptors");
            toGuest.reset(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, 0, seq + 1, TcpHdr.RST | TcpHdr.ACK_FLAG);
            return;
        }
        TcpConn c = open(fd, v6, srcHi, srcLo, sport, dstHi, dstLo, dport);
        if (c == null) {
            Descriptors.close(fd);
            toGuest.reset(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, 0, seq + 1, TcpHdr.RST | TcpHdr.ACK_FLAG);
            return;
        }
        flows.hostSide(c.index, hHi, hLo, dport);
        c.events = TcpConn.TAP_SYN_RCVD;
        c.seqFromTap = seq + 1;
        synOptions(c, s, l4, hl);
        c.seqInitToTap = ThreadLocalRandom.current().nextInt();
        c.seqToTap = c.seqInitToTap;
        c.seqAckFromTap = c.seqInitToTap;
        c.seqConsumed = c.seqInitToTap + 1;
        prepareSocket(c);
        if (conf.outbound4 != 0 && !hostV6) {
            SockAddr.in4(sa, conf.outbound4, 0);
            Sockets.bind(fd, sa, SockAddr.IN_SIZE);
        } else if ((conf.outbound6Hi | conf.outbound6Lo) != 0 && hostV6) { // -o for IPv6
            Sockets.bind(fd, sa, SockAddr.in6(sa, conf.outbound6Hi, conf.outbound6Lo, 0, 0));
        }
        mapping.bindOutboundDevice(fd, hHi, hLo); // --outbound-if4/6
        int len = SockAddr.inany(sa, hHi, hLo, dport);
        if (Log.debugEnabled()) {
            Log.debug("TCP: " + Inany.toString(srcHi, srcLo) + ":" + sport + " -> "
                    + Inany.toString(dstHi, dstLo) + ":" + dport + " via host " + Inany.toString(hHi, hLo));
        }
        int r = Sockets.connect(fd, sa, len);
        if (r < 0 && r != -Errno.EINPROGRESS) {
            if (Log.debugEnabled()) {
                Log.debug("TCP: connect to " + Inany.toString(hHi, hLo) + ":" + dport + ": " + Errno.text(r));
            }
            toGuest.reset(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, 0, seq + 1, TcpHdr.RST | TcpHdr.ACK_FLAG);
            closeConn(c, false);
            return;
        }
        loop.add(fd, TcpWindow.EVENTS | Epoll.EPOLLOUT, flows.ref(Refs.TCP, c.index));
        arm(c, synTimeout);
        if (r == 0) connected(c);
    }

    /** A flow for a new connection on socket {@code fd}, found by its guest side; null if there is no room. */
    private TcpConn open(int fd, boolean v6, long gHi, long gLo, int gPort, long rHi, long rLo, int rPort) {
        int f = flows.open(Flows.TCP);
        if (f < 0) {
            limitReached("connection limit (" + flows.limit(Flows.TCP) + ") reached");
            return null;
        }
        flows.guestSide(f, v6, gHi, gLo, gPort, rHi, rLo, rPort);
        if (!flows.keyGuestSide(f)) {
            flows.close(f);
            limitReached("flow table full");
            return null;
        }
        flows.fd(f, fd);
        flows.touch(f, loop.now());
        if (f >= conns.length) {
            int n = Math.max(conns.length * 2, f + 1);
            conns = Arrays.copyOf(conns, n);
            isDirty = Arrays.copyOf(isDirty, n);
        }
        TcpConn c = conns[f];
        if (c == null) conns[f] = c = new TcpConn(f);
        c.reset();
        return c;
    }

    private void prepareSocket(TcpConn c) {
        c.peekOffset = options.setInt(fd(c), Sockets.SOL_SOCKET, Sockets.SO_PEEK_OFF, 0) == 0;
        // no Nagle of our own, as passt: the guest's TCP decides when a small segment goes (it
        // has its own Nagle), and a second one here would hold it back until an ACK came
        options.setInt(fd(c), Sockets.IPPROTO_TCP, Sockets.TCP_NODELAY, 1);
    }

    private void connected(TcpConn c) {
        loop.modify(fd(c), TcpWindow.EVENTS, flows.ref(Refs.TCP, c.index));
        c.events |= TcpConn.TAP_SYN_ACK_SENT;
        toGuest.syn(c, true, maxMss(flows.v6(c.index)));
        c.seqToTap = c.seqHighToTap = c.seqInitToTap + 1;
        arm(c, synTimeout);
    }

    private void synOptions(TcpConn c, MemorySegment s, long l4, int hl) {
        int mss = TcpHdr.option(s, l4, hl, TcpHdr.OPT_MSS);
        c.mss = mss > 0 ? mss : MSS_DEFAULT;
        int limit = maxMss(flows.v6(c.index));
        if (c.mss > limit) c.mss = limit;
        int ws = TcpHdr.option(s, l4, hl, TcpHdr.OPT_WS);
        if (ws >= 0) {
            c.wsFromTap = Math.min(ws, 14);
            c.wsToTap = TcpToGuest.WS_TO_TAP;
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

    void limitReached(String why) {
        if (!warnedLimit) {
            Log.warn("TCP: " + why + ": new connections get a reset");
            warnedLimit = true;
        }
    }

    // ------------------------------------------------------------------ guest → us

    @Override
    public void packet(MemorySegment s, long frame, long l4, int l4Len, boolean v6,
                       long srcHi, long srcLo, long dstHi, long dstLo, boolean checksumPending) {
        if (l4Len < TcpHdr.MIN_LEN) return;
        int hl = TcpHdr.headerLength(s, l4);
        if (hl < TcpHdr.MIN_LEN || hl > l4Len) return;
        if (!checksumPending && !TcpHdr.checksumOk(s, l4, l4Len, FrameWriter.pseudo(v6, srcHi, srcLo, dstHi, dstLo, 6, l4Len))) {
            badChecksums++;
            return;
        }
        int sport = TcpHdr.srcPort(s, l4), dport = TcpHdr.dstPort(s, l4);
        int flags = TcpHdr.flags(s, l4);
        int f = flows.lookup(Flows.TCP, srcHi, srcLo, sport, dstHi, dstLo, dport);
        if (f < 0) {
            if ((flags & (TcpHdr.SYN | TcpHdr.ACK_FLAG | TcpHdr.RST)) == TcpHdr.SYN) {
                connect(s, l4, hl, v6, srcHi, srcLo, sport, dstHi, dstLo, dport);
            } else if ((flags & TcpHdr.RST) == 0) {
                resetUnknown(s, l4, l4Len - hl, v6, srcHi, srcLo, sport, dstHi, dstLo, dport, flags);
            }
            return;
        }
        TcpConn c = conns[f];
        flows.touch(f, loop.now());
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
                    toGuest.syn(c, true, maxMss(v6));
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
        } else if (live(c) && TcpHdr.before(TcpHdr.seq(s, l4), c.seqNextFromTap())) {
            // a keep-alive or zero-window probe (no data, one byte behind): it wants an ACK
            // (RFC 9293 3.10.7.4), or the guest's kernel gives up on the connection
            markAck(c);
        }
    }

    /** An RST for a segment that belongs to no connection (RFC 9293 3.10.7.1). */
    private void resetUnknown(MemorySegment s, long l4, int dataLen, boolean v6, long srcHi, long srcLo,
                              int sport, long dstHi, long dstLo, int dport, int flags) {
        if ((flags & TcpHdr.ACK_FLAG) != 0) {
            toGuest.reset(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, TcpHdr.ack(s, l4), 0, TcpHdr.RST);
        } else {
            int segLen = dataLen + ((flags & TcpHdr.SYN) != 0 ? 1 : 0) + ((flags & TcpHdr.FIN) != 0 ? 1 : 0);
            toGuest.reset(v6, dstHi, dstLo, dport, srcHi, srcLo, sport, 0, TcpHdr.seq(s, l4) + segLen,
                    TcpHdr.RST | TcpHdr.ACK_FLAG);
        }
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

    private void ackFromGuest(TcpConn c, int ack, int wnd16, int dataLen) {
        int wnd = wnd16 << c.wsFromTap;
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
                options.setInt(fd(c), Sockets.SOL_SOCKET, Sockets.SO_PEEK_OFF, ack - c.seqConsumed);
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

    /**
     * The frame being handled, if the link handed it over in pieces ({@link FramesFromGuest#tailCount}):
     * its payload is queued piece by piece, where it lies. Set by the receiver for each frame.
     */
    @Override
    public void scatteredFrame(FramesFromGuest frame) {
        scattered = frame;
    }

    /**
     * Queues the {@code n} bytes of the scattered frame that start at native address {@code from}
     * (in its first piece, or past its end: counted on into the tail), piece by piece; false if
     * the connection went away meanwhile.
     */
    private boolean queueScattered(TcpConn c, long from, int n) {
        FramesFromGuest f = scattered;
        long pos = from - (f.segment().address() + f.offset()), end = pos + n, at = f.headLength();
        if (pos < 0 || end > f.length()) return true; // cannot be (the lengths were checked): nothing queued, not acknowledged
        if (pos < at && !queueChunk(c, from, (int) (Math.min(end, at) - pos))) return false;
        for (int k = 0, tails = f.tailCount(); k < tails && at < end; k++) {
            int len = f.tailLength(k);
            long a = Math.max(pos, at), b = Math.min(end, at + len);
            if (a < b && !queueChunk(c, f.tailAddress(k) + (a - at), (int) (b - a))) return false;
            at += len;
        }
        return true;
    }

    private boolean queueChunk(TcpConn c, long address, int len) {
        if (toHost.full()) {
            batchDone();       // (at most IOV_MAX chunks queued: out with them first)
            if (!live(c)) return false;
        }
        toHost.queue(c, address, len);
        return true;
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
            boolean queued = scattered != null ? queueScattered(c, s.address() + data + skip, len - skip)
                    : queueChunk(c, s.address() + data + skip, len - skip);
            if (!queued) return;
        }
        if ((flags & TcpHdr.FIN) != 0) {
            sendQueued(c);         // the FIN follows the data only if all of it was written
            if (!live(c)) return;
        }
        if ((flags & TcpHdr.FIN) != 0 && c.seqFromTap == seq + len) {
            c.seqFromTap++;
            c.events |= TcpConn.TAP_FIN_RCVD;
            Sockets.shutdown(fd(c), Sockets.SHUT_WR);
            c.events |= TcpConn.SOCK_FIN_SENT;
            if (!c.has(TcpConn.TAP_FIN_SENT)) arm(c, finTimeout);
        }
        markAck(c);
        if (c.has(TcpConn.TAP_FIN_ACKED) && c.has(TcpConn.SOCK_FIN_SENT)) {
            sendAck(c);
            closeConn(c, false);
        }
    }

    /**
     * The frames of a batch from the guest are all in: each connection's queued data goes to its
     * host socket in one call, while the link still holds the frames ({@link TcpToHost}).
     */
    @Override
    public void batchDone() {
        for (int k = 0; k < toHost.connections(); k++) {
            TcpConn c = conns[toHost.connection(k)];
            if (live(c)) sendQueued(c);
        }
        toHost.clear();
    }

    /** What is queued for {@code c} goes to its socket; what the socket does not take is not acknowledged, and the guest sends it again. */
    private void sendQueued(TcpConn c) {
        int want = c.pendingBytes;
        long n = toHost.send(c, fd(c));
        if (n == TcpToHost.NOTHING) return;
        if (n < 0) {
            if (n == -Errno.EAGAIN) {
                window.wantWrite(c);
            } else {
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
                closeConn(c, false);
            }
            return;
        }
        c.seqFromTap += (int) n;
        if (n < want) window.wantWrite(c);
    }

    // ------------------------------------------------------------------ host socket events

    private void onSocket(long ref, int ev) {
        // An event for a socket closed earlier in this batch whose slot a new connection took
        // already (a guest's RST or last ACK, then its next SYN, in one read): not the new one's.
        int f = flows.flowOf(ref, Flows.TCP);
        if (f < 0) return;
        TcpConn c = conns[f];
        if (c.has(TcpConn.TAP_SYN_RCVD) && !c.has(TcpConn.TAP_SYN_ACK_SENT)) {
            if ((ev & (Epoll.EPOLLOUT | Epoll.EPOLLERR | Epoll.EPOLLHUP)) == 0) return;
            int err = options.error(fd(c));
            if (err != 0 || (ev & Epoll.EPOLLERR) != 0) {
                if (Log.debugEnabled()) Log.debug("TCP: connect failed: " + Errno.text(err == 0 ? Errno.ECONNREFUSED : err));
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, 0, c.seqFromTap);
                closeConn(c, false);
                return;
            }
            connected(c);
            return;
        }
        if ((ev & Epoll.EPOLLERR) != 0) {
            int err = options.error(fd(c));
            if (err != 0) {
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
                closeConn(c, false);
                return;
            }
        }
        if ((ev & Epoll.EPOLLOUT) != 0 && c.wantWrite) {
            window.writable(c);
            markAck(c); // a window update: the host socket has room again
        }
        if ((ev & (Epoll.EPOLLIN | Epoll.EPOLLRDHUP | Epoll.EPOLLHUP)) != 0) {
            c.sockReadable = true;
            if ((ev & (Epoll.EPOLLRDHUP | Epoll.EPOLLHUP)) != 0) c.rdHup = true;
            flows.touch(f, loop.now());
            if (c.has(TcpConn.ESTABLISHED)) sockToTap(c);
        }
    }

    // ------------------------------------------------------------------ host → guest

    /** Sends what the guest's window and the link's room allow of what the host socket has. */
    private void sockToTap(TcpConn c) {
        for (int round = 0; round < 8 && live(c); round++) {
            if (c.has(TcpConn.TAP_FIN_SENT)) return;
            if (c.has(TcpConn.SOCK_FIN_RCVD) && c.seqToTap == c.seqFinToTap) {
                sockEof(c); // all data sent again after going back: the FIN once more
                return;
            }
            int wnd = c.wndFromTap - c.inFlight();
            if (wnd <= 0) {
                window.input(c, false); // until the guest's ACK opens the window (endOfBatch)
                if (c.deadline == 0) arm(c, rto); // zero window: probe later
                return;
            }
            if (c.inputOff) {
                window.input(c, true);
                c.sockReadable = true; // what came meanwhile raised no event
            }
            long n = toGuest.data(c, wnd, Math.min(c.mss, maxMss(flows.v6(c.index))));
            if (n == TcpToGuest.NO_ROOM) {
                c.sockReadable = true; // "room again" resumes it
                return;
            }
            if (n == -Errno.EAGAIN) {
                c.sockReadable = false;
                return;
            }
            if (n < 0) {
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
                closeConn(c, false);
                return;
            }
            if (n == 0) {           // end of stream right at the offset: the host peer closed
                c.sockReadable = false;
                sockEof(c);
                return;
            }
            c.seqToTap += (int) n;
            if (TcpHdr.before(c.seqHighToTap, c.seqToTap)) c.seqHighToTap = c.seqToTap;
            c.ackPending = false; // the data carried the ACK
            if (c.deadline == 0) arm(c, rto);
            if (toGuest.shortRead()) {
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
        long n = Sockets.recv(fd(c), 0L, acked, Sockets.MSG_TRUNC | Sockets.MSG_DONTWAIT);
        if (n > 0) c.seqConsumed += (int) n;
    }

    /**
     * The ACK owed to the guest, with the window. Without room in the link it stays owed, and
     * goes when room is back ({@link #roomAgain}): a window update lost so would leave the
     * guest waiting for its zero-window probe.
     */
    private void sendAck(TcpConn c) {
        if (sendFlags(c, TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap)) c.ackPending = false;
    }

    private boolean sendFlags(TcpConn c, int flags, int seq, int ack) {
        boolean sent = toGuest.flags(c, flags, seq, ack);
        if ((flags & TcpHdr.RST) != 0) c.ackPending = false; // after a reset nothing more is owed
        return sent;
    }

    // ------------------------------------------------------------------ batching and timers

    private void markAck(TcpConn c) {
        c.ackPending = true;
        markDirty(c);
    }

    private void markDirty(TcpConn c) {
        if (isDirty[c.index]) return;
        isDirty[c.index] = true;
        if (dirtyCount == dirty.length) dirty = Arrays.copyOf(dirty, dirty.length * 2);
        dirty[dirtyCount++] = c.index;
    }

    /** End of a batch of events: consume acknowledged data, read more, send pending ACKs. */
    public void endOfBatch() {
        batchDone(); // (nothing is queued here unless a frame's handler got here itself)
        for (int i = 0; i < dirtyCount; i++) {
            int f = dirty[i];
            isDirty[f] = false;
            TcpConn c = conns[f];
            if (c == null || !live(c)) continue;
            if (c.has(TcpConn.ESTABLISHED)) {
                consumeAcked(c);
                // only if the socket may have more: with EPOLLET a read that came short (or got
                // EAGAIN) clears sockReadable and the next edge sets it, so an ACK of guest data
                // costs no empty recvmsg
                if (live(c) && (c.sockReadable || c.inputOff) && !c.has(TcpConn.TAP_FIN_SENT)) sockToTap(c);
            }
            if (live(c) && c.ackPending && c.has(TcpConn.ESTABLISHED)) sendAck(c);
        }
        dirtyCount = 0;
    }

    /**
     * Room for frames to the guest is back: connections that stopped for lack of it go on, and
     * ACKs that found none go, at the end of this batch of events ({@link #endOfBatch}).
     */
    @Override
    public void roomAgain() {
        for (int f = 0; f < flows.highWater(); f++) {
            if (flows.type(f) != Flows.TCP) continue;
            TcpConn c = conns[f];
            if ((c.sockReadable || c.inputOff || c.ackPending) && c.has(TcpConn.ESTABLISHED)) markDirty(c);
        }
    }

    private void arm(TcpConn c, long after) {
        c.deadline = loop.now() + after;
        loop.wakeAt(c.deadline);
    }

    private void tick(long now) {
        long next = now + 1_000_000_000L;
        boolean any = false; // no connection: no tick until the next one arms a timer
        for (int f = 0; f < flows.highWater(); f++) {
            if (flows.type(f) != Flows.TCP) continue;
            any = true;
            TcpConn c = conns[f];
            if (now - flows.lastActivity(f) > actTimeout) {
                if (Log.debugEnabled()) Log.debug("TCP: inactivity timeout, resetting connection");
                sendFlags(c, TcpHdr.RST | TcpHdr.ACK_FLAG, c.seqToTap, c.seqFromTap);
                closeConn(c, true);
                continue;
            }
            if (c.deadline != 0 && now - c.deadline >= 0) timeout(c);
            if (live(c) && c.deadline != 0 && c.deadline < next) next = c.deadline;
        }
        if (any) loop.wakeAt(next);
    }

    private void timeout(TcpConn c) {
        c.deadline = 0;
        if (!c.has(TcpConn.ESTABLISHED)) {
            if (c.has(TcpConn.SOCK_ACCEPTED) && ++c.retrans <= 3) {
                toGuest.syn(c, false, maxMss(flows.v6(c.index))); // guest did not answer our SYN yet
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
            if (live(c)) arm(c, rto << Math.min(c.retrans, 6));
        } else if (c.wndFromTap == 0 && (c.sockReadable || c.inputOff)) {
            // Zero-window probe. An ACK at the next sequence number is acceptable to the guest
            // and answered by nothing; one just below its window is not, and RFC 9293 3.10.7.4
            // has it answered with an ACK carrying the current window (Linux probes this way).
            sendFlags(c, TcpHdr.ACK_FLAG, c.seqToTap - 1, c.seqFromTap);
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
        if (c.peekOffset) options.setInt(fd(c), Sockets.SOL_SOCKET, Sockets.SO_PEEK_OFF, c.seqToTap - c.seqConsumed);
        c.sockReadable = true;
        sockToTap(c);
    }

    // ------------------------------------------------------------------ closing

    private void closeConn(TcpConn c, boolean abortive) {
        if (!live(c)) return;
        // A clean close still owes the guest the ACK marked for the end of the batch (for its
        // FIN, when its ACK of our FIN came in the same batch): without it the guest sends its
        // FIN again, to a connection that is gone, and gets a reset.
        if (!abortive && c.ackPending && c.has(TcpConn.ESTABLISHED)) sendAck(c);
        int fd = fd(c);
        // bytes the guest acknowledged are still in the socket until the end of the batch: a
        // close with unread bytes is a reset, which would throw away what is still queued to
        // the host (the guest's last data, its FIN)
        if (!abortive && fd >= 0 && c.has(TcpConn.ESTABLISHED)) consumeAcked(c);
        if (fd >= 0) {
            loop.remove(fd);
            if (abortive) options.abortiveClose(fd);
            else Descriptors.close(fd);
        }
        c.pendingHead = c.pendingTail = -1;
        c.pendingBytes = 0;
        flows.close(c.index);
    }

    @Override
    public void guestGone() {
        for (int f = 0; f < flows.highWater(); f++) {
            if (flows.type(f) == Flows.TCP) closeConn(conns[f], true);
        }
        toHost.clear();
        dirtyCount = 0;
        Arrays.fill(isDirty, false);
    }

    /** Closes every connection (daemon shutdown). */
    public void close() {
        guestGone();
    }
}
