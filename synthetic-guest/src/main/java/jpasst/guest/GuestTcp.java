package jpasst.guest;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Predicate;

/**
 * A hand-driven TCP peer on the guest side of a {@link GuestLink}, for tests of the daemon's TCP
 * translation: it builds the guest's segments byte by byte (IPv4 or IPv6, with IP and TCP
 * checksums computed by {@link Frames#checksum}, independently of the daemon's code) and parses what
 * the daemon sends back, but it is not a TCP stack: nothing is sent, acknowledged or retransmitted
 * unless the test says so. A {@link Conn} only keeps the sequence numbers a test needs
 * ({@code sndNxt}, {@code rcvNxt}) and the options of the handshake.
 *
 * <p>One {@code GuestTcp} per link demultiplexes: segments for another {@link Conn} of the same link
 * are queued for it rather than dropped, so a test can drive several connections at once.
 * Frames that are not TCP (ARP, router advertisements...) are skipped.
 */
public final class GuestTcp {
    public static final int FIN = Frames.FIN, SYN = Frames.SYN, RST = Frames.RST, PSH = Frames.PSH, ACK = Frames.ACK;

    /** The guest's and the gateway's addresses when none are given: the tests' documentation ones. */
    public static final int GUEST4 = Frames.GUEST4, GW4 = Frames.GW4;
    public static final byte[] GUEST6 = Frames.GUEST6, GW6 = Frames.GW6;

    private final GuestLink link;
    private final int guest4;
    private final List<Conn> conns = new ArrayList<>();
    private final ArrayDeque<Seg> unclaimed = new ArrayDeque<>();
    private final List<byte[]> corruptFrames = new ArrayList<>();
    private int ipId = 1;

    public GuestTcp(GuestLink link) {
        this(link, GUEST4);
    }

    /** A peer whose IPv4 address is {@code guest4} (the source of its barrier probes too). */
    public GuestTcp(GuestLink link, int guest4) {
        this.link = link;
        this.guest4 = guest4;
    }

    public GuestLink link() {
        return link;
    }

    // ------------------------------------------------------------------ segments on the wire

    /** One TCP segment the daemon sent, parsed from its frame. */
    public record Seg(boolean v6, byte[] src, byte[] dst, int sport, int dport, int seq, int ack, int flags,
                      int window, int hdrLen, int mss, int ws, byte[] payload, boolean checksumOk,
                      boolean ipChecksumOk, int ttl, long dstMac, long srcMac) {
        public boolean has(int f) {
            return (flags & f) == f;
        }

        public boolean is(int exactFlags) {
            return (flags & (FIN | SYN | RST | ACK)) == exactFlags;
        }

        public int len() {
            return payload.length;
        }

        /**
         * The segment as a guest sees it when its transport vouched for the checksum (vhost-user's
         * DATA_VALID): good, whatever the TCP checksum field holds.
         */
        Seg vouched() {
            return new Seg(v6, src, dst, sport, dport, seq, ack, flags, window, hdrLen, mss, ws, payload, true,
                    ipChecksumOk, ttl, dstMac, srcMac);
        }

        /** Sequence space the segment takes: payload, plus one for SYN and for FIN. */
        public int seqLen() {
            return payload.length + ((flags & SYN) != 0 ? 1 : 0) + ((flags & FIN) != 0 ? 1 : 0);
        }

        @Override
        public String toString() {
            StringBuilder f = new StringBuilder();
            if ((flags & SYN) != 0) f.append('S');
            if ((flags & FIN) != 0) f.append('F');
            if ((flags & RST) != 0) f.append('R');
            if ((flags & PSH) != 0) f.append('P');
            if ((flags & ACK) != 0) f.append('.');
            return sport + ">" + dport + " [" + f + "] seq " + Integer.toUnsignedString(seq) + " ack "
                    + Integer.toUnsignedString(ack) + " win " + window + " len " + payload.length
                    + (mss >= 0 ? " mss " + mss : "") + (ws >= 0 ? " ws " + ws : "")
                    + (checksumOk ? "" : " BAD-CSUM");
        }
    }

    /** Parses a frame from the daemon; null if it is not TCP over IPv4/IPv6. */
    public static Seg parse(byte[] f) {
        if (f.length < 14) return null;
        int type = Frames.u16(f, 12);
        boolean v6;
        int l4, l4Len, ttl;
        byte[] src, dst;
        boolean ipOk = true;
        long pseudo;
        if (type == 0x0800) {
            if (f.length < 34 || Frames.u8(f, 23) != 6) return null;
            int ihl = (Frames.u8(f, 14) & 0xf) * 4;
            int total = Frames.u16(f, 16);
            l4 = 14 + ihl;
            l4Len = total - ihl;
            if (14 + total > f.length) return null;
            src = Frames.slice(f, 26, 4);
            dst = Frames.slice(f, 30, 4);
            ipOk = Frames.checksum(f, 14, ihl, 0) == 0;
            ttl = Frames.u8(f, 22);
            pseudo = Frames.pseudo4(Frames.i32(f, 26), Frames.i32(f, 30), 6, l4Len);
            v6 = false;
        } else if (type == 0x86dd) {
            if (f.length < 54 || Frames.u8(f, 20) != 6) return null;
            l4 = 54;
            l4Len = Frames.u16(f, 18);
            if (54 + l4Len > f.length) return null;
            src = Frames.slice(f, 22, 16);
            dst = Frames.slice(f, 38, 16);
            ttl = Frames.u8(f, 21);
            pseudo = V6Frames.pseudo(src, dst, 6, l4Len);
            v6 = true;
        } else {
            return null;
        }
        if (l4Len < 20) return null;
        int hl = (Frames.u8(f, l4 + 12) >>> 4) * 4;
        int mss = -1, ws = -1;
        for (int p = l4 + 20; p < l4 + hl; ) {
            int kind = Frames.u8(f, p);
            if (kind == 0) break;
            if (kind == 1) {
                p++;
                continue;
            }
            int len = Frames.u8(f, p + 1);
            if (len < 2) break;
            if (kind == 2 && len == 4) mss = Frames.u16(f, p + 2);
            if (kind == 3 && len == 3) ws = Frames.u8(f, p + 2);
            p += len;
        }
        boolean ok = Frames.checksum(f, l4, l4Len, pseudo) == 0;
        return new Seg(v6, src, dst, Frames.u16(f, l4), Frames.u16(f, l4 + 2), Frames.i32(f, l4 + 4),
                Frames.i32(f, l4 + 8), Frames.u8(f, l4 + 13), Frames.u16(f, l4 + 14), hl, mss, ws,
                Frames.slice(f, l4 + hl, l4Len - hl), ok, ipOk, ttl, Frames.mac(f, 0), Frames.mac(f, 6));
    }

    /** The TCP options of a SYN: MSS (if > 0) and window scale (if >= 0), NOP-padded. */
    public static byte[] synOptions(int mss, int ws) {
        return Frames.synOptions(mss, ws);
    }

    /**
     * A TCP segment in a complete Ethernet frame from the guest to the daemon's MAC, IP and TCP
     * checksums right (unless {@code badChecksum}: then the TCP checksum is off by one).
     */
    public byte[] frame(boolean v6, byte[] src, byte[] dst, int sport, int dport, int seq, int ack,
                        int flags, int window, byte[] options, byte[] payload, boolean badChecksum) {
        byte[] l4 = Frames.tcpSegment(sport, dport, seq, ack, flags, window, options, payload);
        long pseudo = v6 ? V6Frames.pseudo(src, dst, 6, l4.length)
                : Frames.pseudo4(ByteBuffer.wrap(src).getInt(), ByteBuffer.wrap(dst).getInt(), 6, l4.length);
        int c = Frames.checksum(l4, 0, l4.length, pseudo);
        if (badChecksum) c = (c + 1) & 0xffff;
        l4[16] = (byte) (c >>> 8);
        l4[17] = (byte) c;
        if (v6) return Frames.frame6(Frames.ip6(6, src, dst, l4));
        byte[] ip = Frames.ip4(6, ByteBuffer.wrap(src).getInt(), ByteBuffer.wrap(dst).getInt(), l4);
        int id = ipId++ & 0xffff;
        ip[4] = (byte) (id >>> 8);
        ip[5] = (byte) id;
        ip[10] = ip[11] = 0;
        int ic = Frames.checksum(ip, 0, 20, 0);
        ip[10] = (byte) (ic >>> 8);
        ip[11] = (byte) ic;
        return Frames.frame4(ip);
    }

    /** Sends several frames at once, so the daemon most likely handles them in one batch. */
    public void sendBatch(List<byte[]> frames) throws IOException {
        link.sendBatch(frames);
    }

    /** The next TCP segment that belongs to no {@link Conn} of this link; null on timeout. */
    public Seg receiveUnclaimed(long timeoutMs) throws IOException {
        return next(null, timeoutMs);
    }

    /** Frames that failed an IP or TCP checksum check (they are still delivered, flagged). */
    public List<byte[]> corruptFrames() {
        return corruptFrames;
    }

    private Seg next(Conn who, long timeoutMs) throws IOException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (true) {
            ArrayDeque<Seg> q = who == null ? unclaimed : who.queue;
            if (!q.isEmpty()) return q.poll();
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) return null;
            byte[] f = link.receive(left);
            if (f == null) return null;
            queue(f);
        }
    }

    /** A TCP segment from the daemon goes to the queue of its connection (or the unclaimed ones); anything else is skipped. */
    private void queue(byte[] f) {
        Seg s = parse(f);
        if (s == null) return;
        if (!s.checksumOk && link.lastChecksumsVouched()) s = s.vouched();
        if (!s.checksumOk || !s.ipChecksumOk) corruptFrames.add(f);
        Conn owner = null;
        for (Conn c : conns) {
            if (c.matches(s)) {
                owner = c;
                break;
            }
        }
        if (owner == null) unclaimed.add(s);
        else owner.queue.add(s);
    }

    /**
     * Returns once the daemon has handled every frame sent before, and the end of the batch of
     * events they came in (the ACKs and reads it does then): a probe, an ARP request for an
     * address of its own, is answered after them ({@link GuestLink#barrier}). TCP segments that
     * come meanwhile are kept for their connections.
     */
    public void barrier() throws IOException {
        link.barrier(guest4);
    }

    // ------------------------------------------------------------------ connections

    /** A connection from the guest's {@code guestPort} to {@code peer}:{@code peerPort} (IPv4). */
    public Conn conn4(int guestPort, int peer, int peerPort) {
        return conn(false, ByteBuffer.allocate(4).putInt(guest4).array(),
                ByteBuffer.allocate(4).putInt(peer).array(), guestPort, peerPort);
    }

    /** A connection from the guest's {@code guestPort} to the IPv4 gateway (the host's loopback). */
    public Conn conn4(int guestPort, int peerPort) {
        return conn4(guestPort, GW4, peerPort);
    }

    /** A connection from the guest's IPv6 address to {@code peer}:{@code peerPort}. */
    public Conn conn6(int guestPort, byte[] peer, int peerPort) {
        return conn(true, GUEST6, peer, guestPort, peerPort);
    }

    public Conn conn(boolean v6, byte[] guest, byte[] peer, int guestPort, int peerPort) {
        Conn c = new Conn(v6, guest, peer, guestPort, peerPort);
        conns.add(c);
        return c;
    }

    /**
     * Waits for the daemon to open a connection into the guest (a SYN for {@code guestPort}, from
     * a -t forwarded port) and returns it, SYN recorded, not yet answered.
     */
    public Conn acceptSyn(int guestPort, long timeoutMs) throws IOException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (true) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) return null;
            Seg s = next(null, left);
            if (s == null) return null;
            if (s.dport == guestPort && s.is(SYN)) {
                Conn c = conn(s.v6, s.dst, s.src, guestPort, s.sport);
                c.syn = s;
                c.peerIss = s.seq;
                c.rcvNxt = s.seq + 1;
                c.peerMss = s.mss;
                c.peerWs = s.ws;
                return c;
            }
        }
    }

    /** One connection's view: addresses, ports, and the sequence numbers the test drives. */
    public final class Conn {
        public final boolean v6;
        public final byte[] guest, peer;
        public final int guestPort, peerPort;
        final ArrayDeque<Seg> queue = new ArrayDeque<>();

        /** Guest's initial sequence number and next sequence number to send. */
        public int iss = 0x1000_0000, sndNxt = iss;
        /** Next sequence number expected from the daemon, and the daemon's ISN. */
        public int rcvNxt, peerIss;
        /** The window the guest advertises (already scaled down: the raw 16-bit field). */
        public int window = 65535;
        /** The daemon's options from its SYN or SYN-ACK; -1 if absent. */
        public int peerMss = -1, peerWs = -1;
        public Seg syn, synAck;

        Conn(boolean v6, byte[] guest, byte[] peer, int guestPort, int peerPort) {
            this.v6 = v6;
            this.guest = guest;
            this.peer = peer;
            this.guestPort = guestPort;
            this.peerPort = peerPort;
        }

        /** The guest side this connection belongs to. */
        public GuestTcp guest() {
            return GuestTcp.this;
        }

        boolean matches(Seg s) {
            return s.v6 == v6 && s.sport == peerPort && s.dport == guestPort && Arrays.equals(s.src, peer);
        }

        /** A frame of this connection, checksums right. */
        public byte[] frame(int seq, int ack, int flags, int window, byte[] options, byte[] payload) {
            return GuestTcp.this.frame(v6, guest, peer, guestPort, peerPort, seq, ack, flags, window, options,
                    payload, false);
        }

        public void send(int seq, int ack, int flags, int window, byte[] options, byte[] payload) throws IOException {
            link.send(frame(seq, ack, flags, window, options, payload));
        }

        /** The same segment with a TCP checksum that is off by one. */
        public void sendBadChecksum(int seq, int ack, int flags, int window, byte[] payload) throws IOException {
            link.send(GuestTcp.this.frame(v6, guest, peer, guestPort, peerPort, seq, ack, flags, window,
                    new byte[0], payload, true));
        }

        /** Sends a SYN (with the given MSS and window scale, -1 for none) from {@code iss}. */
        public void sendSyn(int mss, int ws) throws IOException {
            sndNxt = iss;
            send(iss, 0, SYN, window, synOptions(mss, ws), new byte[0]);
            sndNxt = iss + 1;
        }

        /** SYN, the daemon's SYN-ACK (returned, checked for the right ack), and the final ACK. */
        public Seg connect(int mss, int ws, long timeoutMs) throws IOException {
            sendSyn(mss, ws);
            Seg s = receive(timeoutMs);
            if (s == null) throw new AssertionError("no answer to the SYN");
            if (!s.is(SYN | ACK)) throw new AssertionError("not a SYN-ACK: " + s);
            if (s.ack != iss + 1) throw new AssertionError("SYN-ACK acknowledges " + s.ack + ", not " + (iss + 1));
            synAck = s;
            peerIss = s.seq;
            rcvNxt = s.seq + 1;
            peerMss = s.mss;
            peerWs = s.ws;
            ack();
            return s;
        }

        /** Answers the daemon's SYN (see {@link #acceptSyn}) with a SYN-ACK and these options. */
        public void synAck(int mss, int ws) throws IOException {
            send(iss, rcvNxt, SYN | ACK, window, synOptions(mss, ws), new byte[0]);
            sndNxt = iss + 1;
        }

        /** An ACK of everything received so far ({@code rcvNxt}) with the current window. */
        public void ack() throws IOException {
            send(sndNxt, rcvNxt, ACK, window, new byte[0], new byte[0]);
        }

        public void ack(int ackSeq, int window) throws IOException {
            send(sndNxt, ackSeq, ACK, window, new byte[0], new byte[0]);
        }

        /** One segment of data (ACK, PSH) at {@code sndNxt}; advances {@code sndNxt}. */
        public void sendData(byte[] data) throws IOException {
            send(sndNxt, rcvNxt, ACK | PSH, window, new byte[0], data);
            sndNxt += data.length;
        }

        /** The whole of {@code data} in segments of at most {@code mss} bytes. */
        public void sendData(byte[] data, int mss) throws IOException {
            for (int off = 0; off < data.length; off += mss) {
                sendData(Arrays.copyOfRange(data, off, Math.min(data.length, off + mss)));
            }
        }

        public void fin() throws IOException {
            send(sndNxt, rcvNxt, FIN | ACK, window, new byte[0], new byte[0]);
            sndNxt++;
        }

        public void rst() throws IOException {
            send(sndNxt, 0, RST, 0, new byte[0], new byte[0]);
        }

        /** The next segment of this connection from the daemon; null on timeout. */
        public Seg receive(long timeoutMs) throws IOException {
            return next(this, timeoutMs);
        }

        /** The next segment that has come already, or null: no waiting (once the daemon handled what was sent: its loop synced, or a barrier). */
        public Seg receiveNow() throws IOException {
            for (byte[] f; (f = link.receiveNow()) != null; ) queue(f);
            return queue.poll();
        }

        /** The next segment with any of {@code flags} set, skipping others; null on timeout. */
        public Seg receiveWith(int flags, long timeoutMs) throws IOException {
            return receiveUntil(s -> (s.flags & flags) != 0, timeoutMs);
        }

        /** Receives segments until {@code match} accepts one, which it returns; null on timeout. */
        private Seg receiveUntil(Predicate<Seg> match, long timeoutMs) throws IOException {
            long deadline = System.nanoTime() + timeoutMs * 1_000_000;
            while (true) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) return null;
                Seg s = receive(left);
                if (s == null || match.test(s)) return s;
            }
        }

        /**
         * Receives in-order data until {@code n} bytes arrived, acknowledging each segment as it
         * comes (so the daemon's window stays open); segments that are not the next expected are
         * ignored (a duplicate ACK goes back). Fails on a bad checksum or a timeout.
         */
        public byte[] receiveData(int n, long timeoutMs) throws IOException {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            long deadline = System.nanoTime() + timeoutMs * 1_000_000;
            while (out.size() < n) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                Seg s = left > 0 ? receive(left) : null;
                if (s == null) {
                    throw new AssertionError("got " + out.size() + " of " + n + " bytes");
                }
                if (!s.checksumOk) throw new AssertionError("bad checksum: " + s);
                if (s.has(RST)) throw new AssertionError("reset after " + out.size() + " bytes: " + s);
                if (s.len() == 0) continue;
                if (s.seq == rcvNxt) {
                    out.writeBytes(s.payload);
                    rcvNxt += s.len();
                }
                ack();
            }
            return out.toByteArray();
        }

        /**
         * Sends {@code data} in segments of up to {@code mss} bytes within the window the daemon
         * offers, going back to the last acknowledged byte when nothing comes back, until all of
         * it is acknowledged (fails on a reset or after {@code timeoutMs}).
         */
        public void upload(byte[] data, int mss, long timeoutMs) throws IOException {
            int base = sndNxt;
            int shift = peerWs >= 0 ? peerWs : 0;
            long wnd = synAck != null ? synAck.window() : 65535;
            int acked = 0, sent = 0;
            long deadline = System.nanoTime() + timeoutMs * 1_000_000;
            while (acked < data.length) {
                if (System.nanoTime() > deadline) throw new AssertionError("upload stalled at " + acked + " of " + data.length);
                while (sent < data.length && sent - acked < wnd) {
                    int len = (int) Math.min(Math.min(mss, data.length - sent), wnd - (sent - acked));
                    send(base + sent, rcvNxt, ACK | PSH, window, new byte[0], Arrays.copyOfRange(data, sent, sent + len));
                    sent += len;
                }
                Seg s = receive(wnd == 0 ? 2000 : 300);
                if (s == null) {
                    sent = acked; // nothing came back: go back to the last ACK
                    continue;
                }
                if (s.has(RST)) throw new AssertionError("reset during upload: " + s);
                if (!s.has(ACK)) continue;
                int a = s.ack() - base;
                if (a > acked) acked = Math.min(a, data.length);
                wnd = (long) s.window() << shift;
            }
            sndNxt = base + data.length;
        }

        /** Segments that arrive within {@code ms} (none expected usually), without acknowledging. */
        public List<Seg> drain(long ms) throws IOException {
            List<Seg> l = new ArrayList<>();
            receiveUntil(s -> {
                l.add(s);
                return false; // keep them all, until the time is up
            }, ms);
            return l;
        }

        @Override
        public String toString() {
            return (v6 ? "[" + HexFormat.of().formatHex(guest) + "]" : HexFormat.of().formatHex(guest)) + ":"
                    + guestPort + " -> " + peerPort;
        }
    }
}
