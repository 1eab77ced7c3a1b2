package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.link.FrameBatch;
import jpasst.link.FrameWriter;
import jpasst.link.Link;
import jpasst.packet.Checksum;
import jpasst.packet.Net;
import jpasst.packet.TcpHdr;
import jpasst.sys.Errno;
import jpasst.sys.Memory;
import jpasst.sys.Sockets;
import jpasst.sys.Msghdr;

/**
 * TCP segments to the guest, as passt's tcp_buf.c and tcp_vu.c are, written once over the link
 * seam: control segments (SYN, ACK, FIN, RST) built in one piece, and data read from a host
 * socket straight into frames. For data, the link reserves frames in a {@link FrameBatch} (in
 * its output buffer, or in the guest's own receive buffers), one recvmsg with MSG_PEEK fills
 * their payloads at the socket's peek offset (SO_PEEK_OFF), many frames per call, the headers
 * are written around what came, and the link sends them: no copy but the kernel's. The data
 * stays in the socket until the guest acknowledges it (the protocol core, {@link Tcp}, drops
 * it then, and rewinds the peek offset to retransmit); which transport carries the frames this
 * class does not know, except whether the guest takes frames of many segments
 * ({@link Link#largeTcpFrames}, vhost-user's GUEST_TSO4/6): then a frame carries as many whole
 * segments as an IP packet holds, one set of headers for up to 64 KiB of data, and the link
 * tells the guest the segment size. It keeps no state of a connection's: {@link TcpConn} says
 * where the sequence numbers are, {@link Flows} the addresses, {@link TcpWindow} the window.
 *
 * Hot path: no allocation per segment (the batch, msghdr and discard buffer are preallocated).
 */
final class TcpToGuest {
    static final int HDR = TcpHdr.MIN_LEN;
    static final int SYN_HDR = TcpHdr.MIN_LEN + 8;
    /** Our window scale, offered in every SYN. */
    static final int WS_TO_TAP = 8;
    /**
     * Frames, and payload pieces, one recvmsg fills at most: as many iovecs as it takes
     * (UIO_MAXIOV, 1024) less the lead entry. At MTU 1500 a read of 128 frames (187 KB) cost
     * over vhost-user 1.2-1.5x the CPU per GB of one of up to 1023 (up to 1.5 MB; upstream
     * passt reads ~900 KB at a time there).
     */
    static final int MAX_FRAMES_PER_READ = 1023;
    /** {@link #data}: the link has no room now ("room again" follows), or cannot peek that far. */
    static final long NO_ROOM = Long.MIN_VALUE;

    private final Link link;
    private final FrameWriter frames;
    private final Flows flows;
    private final TcpWindow window;
    private final FrameBatch batch = new FrameBatch(MAX_FRAMES_PER_READ, MAX_FRAMES_PER_READ);
    private final MemorySegment msghdr = Arena.ofAuto().allocate(Msghdr.SIZE, 8);
    // only without SO_PEEK_OFF, to skip what was sent already: mapped, not resident unless written
    private final MemorySegment discard = Memory.mmapAnonymous(1 << 20, Arena.ofAuto());
    private boolean shortRead;
    long resetsSent;

    TcpToGuest(Link link, FrameWriter frames, Flows flows, TcpWindow window) {
        this.link = link;
        this.frames = frames;
        this.flows = flows;
        this.window = window;
    }

    /**
     * Reads up to {@code wnd} bytes of new data from {@code c}'s socket into frames of up to
     * {@code mss} bytes of payload, as far as the link has room, and sends them (with ACK, and
     * PSH on the last). Returns the bytes sent, 0 at the end of the stream, {@link #NO_ROOM},
     * or a negated errno (-EAGAIN: nothing new). Sequence numbers are the caller's to advance;
     * {@link #shortRead()} tells whether the socket had less than asked for.
     */
    long data(TcpConn c, int wnd, int mss) {
        int f = c.index;
        boolean v6 = flows.v6(f);
        // without a peek offset, skip what was sent and not yet dropped from the socket
        int skip = c.peekOffset ? 0 : c.seqToTap - c.seqConsumed;
        if (skip > discard.byteSize()) return NO_ROOM; // cannot peek past so much unacknowledged data
        // where the guest takes frames of many segments, as many whole segments as an IP packet holds
        int perFrame = link.largeTcpFrames(v6) ? Math.max(mss, (maxSegment(v6) - HDR) / mss * mss) : mss;
        long most = Math.min(wnd, link.readLimit());
        int wantFrames = (int) Math.min(MAX_FRAMES_PER_READ, (most + perFrame - 1) / perFrame);
        int reserved = link.reserve(batch, FrameWriter.l2l3Length(v6) + HDR, perFrame, wantFrames);
        if (reserved == 0) return NO_ROOM;
        if (perFrame > mss) batch.segmentSize(mss, v6);
        int want = (int) Math.min(most, batch.capacity());
        int pieces = batch.limit(want);
        long n;
        if (skip > 0) {
            batch.lead(discard.address(), skip);
            n = Sockets.recvmsg(flows.fd(f), Msghdr.set(msghdr, batch.iovecAddress(0), pieces + 1),
                    Sockets.MSG_PEEK | Sockets.MSG_DONTWAIT);
        } else {
            n = Sockets.recvmsg(flows.fd(f), Msghdr.set(msghdr, batch.iovecAddress(1), pieces),
                    Sockets.MSG_PEEK | Sockets.MSG_DONTWAIT);
        }
        if (n <= 0) {                // an error, or the end of the stream right at the offset
            link.commit(batch, 0);
            return n;
        }
        n -= skip;
        if (n <= 0) {
            link.commit(batch, 0);
            return -Errno.EAGAIN;    // (no peek offset) nothing beyond what was sent
        }
        int got = (int) n;
        shortRead = got < want;
        int win = window.toGuest(c) >>> c.wsToTap; // once per read: the frames go out together
        int sent = 0, filled = 0;
        for (int i = 0; sent < got; i++) {
            int chunk = Math.min(batch.capacity(i), got - sent);
            dataHeaders(c, i, c.seqToTap + sent, chunk, sent + chunk == got, win);
            sent += chunk;
            filled++;
        }
        link.commit(batch, filled);
        return got;
    }

    /** The largest TCP segment, header included, an IP packet carries: its length fields are 16 bits. */
    static int maxSegment(boolean v6) {
        return v6 ? 65535 : 65535 - FrameWriter.ipHeaderLength(false);
    }

    /** Whether the last {@link #data} read came short: the socket had all of it. */
    boolean shortRead() {
        return shortRead;
    }

    /** Writes the headers of data frame {@code i} of the batch, {@code len} bytes of payload in place. */
    private void dataHeaders(TcpConn c, int i, int seq, int len, boolean push, int win) {
        int f = c.index;
        boolean v6 = flows.v6(f);
        MemorySegment s = batch.header(i);
        long frame = batch.headerOffset(i);
        long l4 = FrameWriter.l4(frame, v6);
        TcpHdr.write(s, l4, flows.rPort(f), flows.gPort(f), seq, c.seqFromTap, HDR,
                TcpHdr.ACK_FLAG | (push ? TcpHdr.PSH : 0), win);
        batch.payloadLength(i, len);
        int l4Len = HDR + len;
        if (link.checksumsNeeded()) {
            long sum = batch.sum(i, l4, FrameWriter.pseudo(v6, flows.rHi(f), flows.rLo(f), flows.gHi(f), flows.gLo(f), 6, l4Len));
            Net.u16(s, l4 + TcpHdr.CHECKSUM, Checksum.finish(sum));
        }
        frames.headers(s, frame, v6, flows.rHi(f), flows.rLo(f), flows.gHi(f), flows.gLo(f), 6, l4Len);
    }

    /**
     * Our SYN (inbound connections) or SYN-ACK (outbound), with our MSS ({@code mss}) and
     * window scale; the window of a SYN is never scaled.
     */
    void syn(TcpConn c, boolean ack, int mss) {
        int f = c.index;
        boolean v6 = flows.v6(f);
        long frame = frames.reserve(v6, SYN_HDR);
        if (frame < 0) return;
        MemorySegment o = frames.out();
        long l4 = FrameWriter.l4(frame, v6);
        int win = ack ? window.toGuest(c) : 65535 << WS_TO_TAP;
        TcpHdr.write(o, l4, flows.rPort(f), flows.gPort(f), c.seqInitToTap, ack ? c.seqFromTap : 0, SYN_HDR,
                TcpHdr.SYN | (ack ? TcpHdr.ACK_FLAG : 0), Math.min(65535, win));
        Net.u8(o, l4 + 20, TcpHdr.OPT_MSS);
        Net.u8(o, l4 + 21, 4);
        Net.u16(o, l4 + 22, mss);
        Net.u8(o, l4 + 24, TcpHdr.OPT_NOP);
        boolean ws = !ack || c.wsToTap > 0;
        Net.u8(o, l4 + 25, ws ? TcpHdr.OPT_WS : TcpHdr.OPT_NOP);
        Net.u8(o, l4 + 26, ws ? 3 : TcpHdr.OPT_NOP);
        Net.u8(o, l4 + 27, ws ? WS_TO_TAP : TcpHdr.OPT_NOP);
        commit(frame, v6, flows.rHi(f), flows.rLo(f), flows.gHi(f), flows.gLo(f), SYN_HDR);
    }

    /**
     * A segment of {@code c} without data: ACK, FIN or RST, with the window (none on a RST).
     * False if the link had no room for it (the guest's receive queue full): nothing was sent.
     */
    boolean flags(TcpConn c, int flags, int seq, int ack) {
        int f = c.index;
        boolean v6 = flows.v6(f);
        long frame = frames.reserve(v6, HDR);
        if (frame < 0) return false;
        int win = (flags & TcpHdr.RST) != 0 ? 0 : window.toGuest(c) >>> c.wsToTap;
        TcpHdr.write(frames.out(), FrameWriter.l4(frame, v6), flows.rPort(f), flows.gPort(f), seq, ack, HDR, flags, win);
        commit(frame, v6, flows.rHi(f), flows.rLo(f), flows.gHi(f), flows.gLo(f), HDR);
        if ((flags & TcpHdr.RST) != 0) resetsSent++;
        return true;
    }

    /** A reset from {@code from} to {@code to} for a segment that belongs to no connection. */
    void reset(boolean v6, long fromHi, long fromLo, int fromPort, long toHi, long toLo, int toPort,
               int seq, int ack, int flags) {
        long frame = frames.reserve(v6, HDR);
        if (frame < 0) return;
        TcpHdr.write(frames.out(), FrameWriter.l4(frame, v6), fromPort, toPort, seq, ack, HDR, flags, 0);
        commit(frame, v6, fromHi, fromLo, toHi, toLo, HDR);
        resetsSent++;
    }

    /** Checksums the TCP segment of {@code l4Len} bytes in the frame and sends it. */
    private void commit(long frame, boolean v6, long srcHi, long srcLo, long dstHi, long dstLo, int l4Len) {
        TcpHdr.checksum(frames.out(), FrameWriter.l4(frame, v6), l4Len,
                FrameWriter.pseudo(v6, srcHi, srcLo, dstHi, dstLo, 6, l4Len));
        frames.commit(frame, v6, srcHi, srcLo, dstHi, dstLo, 6, l4Len);
    }
}
