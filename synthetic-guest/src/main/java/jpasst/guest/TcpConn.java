package jpasst.guest;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.ThreadLocalRandom;

import jpasst.guest.net.Bytes;
import jpasst.guest.net.TcpSegment;

/**
 * One TCP connection of the {@link GuestStack}, opened by the guest (IPv4 or IPv6): a peer that
 * behaves as a guest kernel's TCP would, far enough for the daemon's figures to mean something.
 *
 * <ul>
 * <li>Sender: MSS and window scaling in the SYN; never beyond the window the daemon advertises
 *     (scaled) nor the congestion window (RFC 5681: initial window of 10 segments (RFC 6928),
 *     slow start with appropriate byte counting (RFC 3465, L = 2), congestion avoidance, loss
 *     window after a timeout), nor {@link GuestStack#maxInFlight}; retransmits on timeout
 *     (go-back-N from the first unacknowledged byte, exponential backoff from 200 ms, Linux's
 *     minimum RTO), after three duplicate ACKs (one segment), and the SYN after 1 s, 2 s...;
 *     probes a zero window, either as Linux does (a bare ACK one byte behind) or with one byte
 *     beyond it ({@link GuestStack#linuxZeroWindowProbes}).
 * <li>Receiver: takes data in order only, ACKs at least every second segment and at the end of
 *     every batch of frames (as a Linux guest with GRO does, roughly), answers anything out of
 *     order with an immediate duplicate ACK, advertises a fixed window
 *     ({@link GuestStack#rcvWindow}: the application consumes at once).
 * <li>FIN both ways, RST. No TIME_WAIT: a closed connection is forgotten.
 * </ul>
 * Stream positions are offsets from the first byte after the SYN (longs; sequence numbers are
 * computed from them). What is sent comes from a {@link StreamSource} (the pattern by default).
 * Frame path: no allocation.
 */
public final class TcpConn {
    public static final int SYN_SENT = 1, ESTABLISHED = 2, CLOSED = 3;
    static final long RTO_MIN = 200_000_000L, RTO_MAX = 3_000_000_000L, SYN_RTO = 1_000_000_000L;

    private final GuestStack g;
    public final int localPort, remotePort, ourMss;
    public final boolean v6;
    /** The peer's address (IPv4, or IPv6 as two longs). */
    final int dst4;
    final long dstHi, dstLo;
    public final TcpApp app;
    private StreamSource source = StreamSource.PATTERN;
    int state = SYN_SENT;
    boolean reset;
    int index = -1;
    /** Anything the application keeps with the connection. */
    public Object attachment;

    // send side: stream offsets (bytes since the SYN), seq = iss + 1 + offset
    final int iss = ThreadLocalRandom.current().nextInt();
    long sndUna, sndNxt, sndMax;
    long appEnd;            // the application has "written" the stream up to here
    boolean finWanted, finSent, finAcked;
    /** A FIN went out once: the daemon may acknowledge it even while it is to be sent again (after a timeout). */
    boolean finEverSent;
    long sndWnd;            // bytes, scaled
    int peerWs, peerMss = 536;
    boolean wsOk;
    int dupAcks;
    long rtoDeadline, rto = RTO_MIN, synDeadline, synRto = SYN_RTO;
    /** The SYN found no room in the transport: the next timer round writes it (no retransmission). */
    boolean synUnsent;
    long cwnd, ssthresh = Long.MAX_VALUE;

    // receive side
    int irs;
    long rcvNxt;            // offset of the next byte expected
    boolean remoteFin;
    int unackedSegments;
    boolean ackNow;
    long lastAckedRcv = -1;

    // statistics
    long received, retransmitted, synRetransmits;
    long lastProgress = System.nanoTime();

    TcpConn(GuestStack g, int localPort, boolean v6, int dst4, long dstHi, long dstLo, int remotePort, int mss, TcpApp app) {
        this.g = g;
        this.localPort = localPort;
        this.v6 = v6;
        this.dst4 = dst4;
        this.dstHi = dstHi;
        this.dstLo = dstLo;
        this.remotePort = remotePort;
        this.ourMss = mss;
        this.app = app;
    }

    // ---- what the application sees

    public int state() {
        return state;
    }

    public boolean isClosed() {
        return state == CLOSED;
    }

    /** Whether it ended with an RST (sent or received) rather than both FINs. */
    public boolean wasReset() {
        return reset;
    }

    /** Bytes received in order. */
    public long received() {
        return received;
    }

    /** Bytes of the stream the daemon acknowledged. */
    public long acknowledged() {
        return sndUna;
    }

    /** The highest stream offset sent. */
    public long sent() {
        return sndMax;
    }

    public long retransmitted() {
        return retransmitted;
    }

    public long inFlight() {
        return sndNxt - sndUna;
    }

    public long sendWindow() {
        return sndWnd;
    }

    public long congestionWindow() {
        return cwnd;
    }

    /** When the connection last made progress (nanoTime): an ACK of new data, the handshake. */
    public long lastProgress() {
        return lastProgress;
    }

    public int smss() {
        return Math.min(peerMss, ourMss);
    }

    /** Sends the stream's bytes from {@code s} from now on (before any is sent). */
    public void source(StreamSource s) {
        source = s;
    }

    /** The application "writes" {@code n} more bytes of its stream. */
    public void write(long n) {
        appEnd += n;
    }

    /** Sends FIN once everything written is sent. */
    public void close() {
        finWanted = true;
    }

    /** Aborts with an RST and forgets the connection (the application is not called back). */
    public void abort() {
        if (state != CLOSED) {
            sendRst();
            state = CLOSED;
            reset = true;
            g.forget(this);
        }
    }

    @Override
    public String toString() {
        String s = state == SYN_SENT ? "SYN_SENT" : state == ESTABLISHED ? "ESTABLISHED" : reset ? "RESET" : "CLOSED";
        return "port " + localPort + "->" + remotePort + " " + s + " sent " + sndMax + " acked " + sndUna
                + (finSent ? " FIN sent" : "") + (finAcked ? " FIN acked" : "") + " got " + received
                + (remoteFin ? " FIN in" : "") + " window " + sndWnd + " cwnd " + cwnd;
    }

    // ---- segments out

    int seqOf(long off) {
        return iss + 1 + (int) off;
    }

    void sendSyn() {
        int hl = TcpSegment.MIN_LEN + 8;
        long f = g.reserveTcp(this, hl);
        synUnsent = f < 0;
        if (synUnsent) return;
        MemorySegment out = g.out();
        long t = g.l4(this, f);
        TcpSegment.write(out, t, localPort, remotePort, iss, 0, hl, TcpSegment.SYN, 65535);
        Bytes.i32(out, t + 20, TcpSegment.OPT_MSS << 24 | 4 << 16 | ourMss);
        Bytes.i32(out, t + 24, TcpSegment.OPT_NOP << 24 | TcpSegment.OPT_WS << 16 | 3 << 8 | GuestStack.OUR_WS);
        g.finishTcp(this, f, hl, 0, 0, -1);
        synDeadline = System.nanoTime() + synRto;
    }

    private int advertisedWindow() {
        return wsOk ? Math.min(65535, g.rcvWindow >>> GuestStack.OUR_WS) : Math.min(65535, g.rcvWindow);
    }

    /** A data (or FIN, or pure ACK when {@code len} is 0) segment at stream offset {@code off}. */
    boolean sendSegment(long off, int len, boolean fin) {
        return sendSegment(seqOf(off), off, len, fin ? TcpSegment.ACK | TcpSegment.FIN : TcpSegment.ACK);
    }

    private boolean sendSegment(int seq, long off, int len, int flags) {
        long f = g.reserveTcp(this, TcpSegment.MIN_LEN + len);
        if (f < 0) return false;
        MemorySegment out = g.out();
        long t = g.l4(this, f);
        if (len > 0) flags |= TcpSegment.PSH;
        int ack = irs + 1 + (int) rcvNxt + (remoteFin ? 1 : 0);
        TcpSegment.write(out, t, localPort, remotePort, seq, ack, TcpSegment.MIN_LEN, flags, advertisedWindow());
        long sum = -1;
        if (len > 0) {
            source.copy(off, out, t + TcpSegment.MIN_LEN, len);
            sum = source.sum(off, len);
        }
        g.finishTcp(this, f, TcpSegment.MIN_LEN, off, len, sum);
        unackedSegments = 0;
        ackNow = false;
        lastAckedRcv = rcvNxt + (remoteFin ? 1 : 0);
        return true;
    }

    /** RST, with the ACK of what came once established (before, the daemon knows only our SYN). */
    private void sendRst() {
        long f = g.reserveTcp(this, TcpSegment.MIN_LEN);
        if (f < 0) return;
        long t = g.l4(this, f);
        boolean est = state == ESTABLISHED;
        int ack = est ? irs + 1 + (int) rcvNxt + (remoteFin ? 1 : 0) : 0;
        TcpSegment.write(g.out(), t, localPort, remotePort, seqOf(sndNxt), ack, TcpSegment.MIN_LEN,
                est ? TcpSegment.RST | TcpSegment.ACK : TcpSegment.RST, 0);
        g.finishTcp(this, f, TcpSegment.MIN_LEN, 0, 0, -1);
    }

    // ---- segments in

    /** A segment from the daemon for this connection; its checksum was checked (or vouched for). */
    void segment(MemorySegment s, long t, int l4Len) {
        int flags = TcpSegment.flags(s, t);
        int hl = TcpSegment.headerLength(s, t);
        if (hl < TcpSegment.MIN_LEN || hl > l4Len) return;
        if ((flags & TcpSegment.RST) != 0) {
            state = CLOSED;
            reset = true;
            g.forget(this);
            g.resetsIn++;
            app.closed(this, true);
            return;
        }
        if (state == SYN_SENT) {
            if ((flags & (TcpSegment.SYN | TcpSegment.ACK)) != (TcpSegment.SYN | TcpSegment.ACK)
                    || TcpSegment.ack(s, t) != iss + 1) {
                return;
            }
            irs = TcpSegment.seq(s, t);
            int mss = TcpSegment.option(s, t, hl, TcpSegment.OPT_MSS);
            peerMss = mss > 0 ? mss : 536;
            int ws = TcpSegment.option(s, t, hl, TcpSegment.OPT_WS);
            wsOk = ws >= 0;
            peerWs = wsOk ? Math.min(ws, 14) : 0;
            sndWnd = TcpSegment.window(s, t); // never scaled in a SYN
            cwnd = 10L * smss();
            state = ESTABLISHED;
            synDeadline = 0;
            lastProgress = System.nanoTime();
            sendSegment(sndNxt, 0, false); // the handshake's ACK
            app.established(this);
            return;
        }
        if (state != ESTABLISHED) return;
        if ((flags & TcpSegment.SYN) != 0) { // a retransmitted SYN-ACK: our ACK was lost
            ackNow = true;
            return;
        }
        int dataLen = l4Len - hl;
        if ((flags & TcpSegment.ACK) != 0) ack(TcpSegment.ack(s, t), TcpSegment.window(s, t), dataLen);
        if (state != ESTABLISHED) return;
        if (dataLen > 0 || (flags & TcpSegment.FIN) != 0) {
            data(s, t + hl, dataLen, TcpSegment.seq(s, t), (flags & TcpSegment.FIN) != 0);
        }
    }

    private void ack(int ackSeq, int window, int dataLen) {
        long wnd = (long) window << peerWs;
        int finBit = finEverSent ? 1 : 0;
        long acked = sndUna + (ackSeq - seqOf(sndUna));   // as a stream offset (FIN counts one)
        long top = sndMax + finBit;
        if (acked > top || acked < sndUna) return;        // acknowledges what we never sent, or old
        if (acked > sndUna || (finEverSent && !finAcked && acked == top)) {
            if (finEverSent && acked == top) {
                finAcked = finSent = true;
                acked = sndMax;
                if (sndNxt < sndMax) sndNxt = sndMax;   // what a timeout would have sent again
            }
            long newly = Math.max(0, acked - sndUna);
            if (cwnd < ssthresh) cwnd += Math.min(newly, 2L * smss());
            else cwnd += Math.max(1, (long) smss() * Math.min(newly, smss()) / cwnd);
            sndUna = Math.max(sndUna, acked);
            if (sndNxt < sndUna) sndNxt = sndUna;
            dupAcks = 0;
            rto = RTO_MIN;
            lastProgress = System.nanoTime();
            rtoDeadline = sndNxt > sndUna ? lastProgress + rto : 0;
            sndWnd = wnd;
            app.acked(this);
        } else if (acked == sndUna && dataLen == 0 && wnd == sndWnd && sndMax > sndUna) {
            if (++dupAcks == 3) {
                g.fastRetransmits++;
                ssthresh = Math.max((sndMax - sndUna) / 2, 2L * smss());
                cwnd = ssthresh;
                int len = (int) Math.min(smss(), sndMax - sndUna);
                if (sendSegment(sndUna, len, false)) {
                    retransmitted += len;
                    g.retransmittedBytes += len;
                }
            }
        } else if (wnd != sndWnd) {
            boolean opened = wnd > sndWnd;
            sndWnd = wnd;
            if (opened) app.acked(this);
        }
        if (finAcked && remoteFin) finish();
    }

    private void data(MemorySegment s, long payload, int len, int seq, boolean fin) {
        long off = rcvNxt + (seq - (irs + 1 + (int) rcvNxt));
        if (remoteFin) {
            ackNow = true;
            return;
        }
        if (off > rcvNxt) {                 // a gap: ask again for what is missing
            g.outOfOrder++;
            g.dupAcksSent++;
            ackNow = true;
            return;
        }
        int skip = (int) (rcvNxt - off);
        if (skip > len || (skip == len && !fin)) {        // old, already had it
            ackNow = true;
            return;
        }
        int fresh = len - skip;
        if (fresh > 0) {
            rcvNxt += fresh;
            received += fresh;
            unackedSegments++;
            app.data(this, s, payload + skip, fresh);
            if (unackedSegments >= 2) ackNow = true;
        }
        if (fin) {
            remoteFin = true;
            ackNow = true;
            app.remoteFin(this);
            if (finAcked) finish();
        }
    }

    private void finish() {
        if (state == CLOSED) return;
        if (ackNow || lastAckedRcv != rcvNxt + 1) sendSegment(sndNxt, 0, false);
        state = CLOSED;
        g.forget(this);
        app.closed(this, false);
    }

    void endOfBatch() {
        if (state == ESTABLISHED && lastAckedRcv != rcvNxt + (remoteFin ? 1 : 0)) ackNow = true;
    }

    /** Sends what the windows allow, then a FIN or a pending ACK; false if the output is full. */
    boolean output() {
        if (state != ESTABLISHED) return true;
        long limit = sndUna + Math.min(Math.min(sndWnd, cwnd), g.maxInFlight);
        int largest = g.largestSegment(this);
        while (sndNxt < appEnd) {
            long room = limit - sndNxt;
            if (room <= 0) break;
            int len = (int) Math.min(Math.min(room, appEnd - sndNxt), largest);
            if (!sendSegment(sndNxt, len, false)) return false;
            if (sndNxt < sndMax) {
                retransmitted += len;
                g.retransmittedBytes += len;
            }
            sndNxt += len;
            if (sndNxt > sndMax) sndMax = sndNxt;
            if (rtoDeadline == 0) rtoDeadline = System.nanoTime() + rto;
        }
        if (sndNxt < appEnd && sndWnd == 0 && rtoDeadline == 0) {
            rtoDeadline = System.nanoTime() + rto; // zero window: probe when it expires
        }
        if (finWanted && !finSent && sndNxt == appEnd) {
            if (!sendSegment(sndNxt, 0, true)) return false;
            finSent = finEverSent = true;
            if (rtoDeadline == 0) rtoDeadline = System.nanoTime() + rto;
        } else if (ackNow) {
            if (!sendSegment(sndNxt, 0, false)) return false;
        }
        return true;
    }

    void timer(long now) {
        if (state == SYN_SENT && synUnsent) {
            sendSyn();
            return;
        }
        if (state == SYN_SENT && synDeadline != 0 && now - synDeadline >= 0) {
            synRto = Math.min(synRto * 2, RTO_MAX);
            synRetransmits++;
            g.synRetransmits++;
            sendSyn();
            return;
        }
        if (state != ESTABLISHED || rtoDeadline == 0 || now - rtoDeadline < 0) return;
        rtoDeadline = 0;
        if (sndMax > sndUna || (finSent && !finAcked)) {
            g.retransmitTimeouts++;
            ssthresh = Math.max((sndMax - sndUna) / 2, 2L * smss());
            cwnd = smss();                   // RFC 5681 3.1: loss window
            sndNxt = sndUna;                 // go back N
            if (finSent && !finAcked) finSent = false;
            rto = Math.min(rto * 2, RTO_MAX);
            rtoDeadline = now + rto;
        } else if (sndNxt < appEnd && sndWnd == 0) {
            g.zeroWindowProbes++;
            if (g.linuxZeroWindowProbes) {
                sendSegment(seqOf(sndUna) - 1, sndUna, 0, TcpSegment.ACK);
            } else if (sendSegment(sndNxt, 1, false)) { // one byte beyond the window
                sndNxt += 1;
                if (sndNxt > sndMax) sndMax = sndNxt;
            }
            rto = Math.min(rto * 2, RTO_MAX);
            rtoDeadline = now + rto;
        }
    }
}
