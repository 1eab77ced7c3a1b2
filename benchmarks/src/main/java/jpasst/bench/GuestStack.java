package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import jpasst.packet.ArpHdr;
import jpasst.packet.Checksum;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
import jpasst.packet.Net;
import jpasst.packet.TcpHdr;
import jpasst.packet.UdpHdr;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;

/**
 * The synthetic guest's network stack: what a VM's kernel does on the other side of QEMU's
 * stream socket, written just far enough to drive a passt-compatible daemon at full speed and
 * still be an honest peer, so that the daemon's numbers mean something.
 *
 * <ul>
 * <li>Link: QEMU's stream protocol (4-byte big-endian length, then the Ethernet frame) over the
 *     daemon's UNIX socket, non-blocking, large reads, frames batched into one write. The socket
 *     keeps the kernel's default buffer sizes, as QEMU's does.
 * <li>ARP for the gateway (answering the daemon's requests for our address), and a DHCP client
 *     (DISCOVER, REQUEST) that takes the address, gateway and MTU the daemon hands out.
 * <li>TCP (active open only, IPv4): MSS and window scaling in the SYN; the sender never sends
 *     beyond the window the daemon advertises (scaled) nor its congestion window (RFC 5681:
 *     initial window of 10 segments, slow start, congestion avoidance, loss window after a
 *     timeout), retransmits on timeout (go-back-N from
 *     the first unacknowledged byte, exponential backoff from 200 ms as Linux's minimum RTO), after
 *     three duplicate ACKs (one segment), and probes a zero window; the receiver takes data in
 *     order only, ACKs at least every second full segment and at the end of every batch read
 *     from the socket (as a Linux guest with GRO does, roughly), answers anything out of order
 *     with an immediate duplicate ACK, advertises a fixed receive window (the application
 *     consumes at once), and verifies every checksum it receives (counted, not trusted).
 *     FIN both ways, RST.
 * <li>UDP send, and datagrams to one port counted.
 * </ul>
 *
 * Stream contents are a two-byte pattern that depends only on the stream offset's parity, so the
 * payload's checksum is computed in closed form and retransmissions need no copy of the data:
 * the guest must cost little next to the daemon it measures (its CPU time is reported).
 *
 * Single-threaded: {@link #poll} runs one round of the loop; scenarios call it until they are
 * done. Nothing on the per-frame path allocates.
 */
final class GuestStack implements AutoCloseable {
    /** A connection's owner: callbacks on the loop thread. */
    interface App {
        default void established(Conn c) {}

        /** In-order data, {@code len} bytes at {@code off} of {@code s}. */
        default void data(Conn c, MemorySegment s, long off, int len) {}

        /** The peer acknowledged something or opened its window: more may be sent. */
        default void acked(Conn c) {}

        default void remoteFin(Conn c) {}

        /** Closed (both FINs acknowledged), reset ({@code reset}), or refused before established. */
        default void closed(Conn c, boolean reset) {}
    }

    static final long MAC = 0x5254_0012_3456L;
    static final int IN_SIZE = 8 << 20, OUT_SIZE = 8 << 20;
    static final int OUR_WS = 7;
    static final long RTO_MIN = 200_000_000L, RTO_MAX = 3_000_000_000L;
    static final int PATTERN_EVEN = 0x5a, PATTERN_ODD = 0xc3;

    private final Arena arena = Arena.ofShared();
    private final int fd, epfd;
    private final MemorySegment in = arena.allocate(IN_SIZE + 4 + 65536, 64);
    private final MemorySegment out = arena.allocate(OUT_SIZE, 64);
    private final MemorySegment events = arena.allocate(12 * 4, 8);
    private final MemorySegment ctl = arena.allocate(12, 8);
    /** Payload source: pattern bytes from offset 0 (even phase) or 1 (odd phase). */
    private final MemorySegment pattern = arena.allocate(65536 + 2, 64);
    private int inFill, outHead, outTail;
    private boolean wantOut;
    private boolean verify = true;
    private int ipId;

    // link configuration
    int addr, gw, prefix, mtu = 65520, dhcpMtu;
    long gwMac = Eth.BROADCAST;
    private int dhcpState; // 0 none, 1 discover sent, 2 request sent, 3 bound
    private int dhcpServer, dhcpOffered;

    // TCP
    private final Conn[] byPort = new Conn[65536];
    final List<Conn> conns = new ArrayList<>();
    private int nextPort = 20000;
    private long nextTimerScan;
    int rcvWindow = 4 << 20;

    // counters
    /** UDP datagrams to this port are counted ({@link #udpReceived}, their payload bytes), nothing else. */
    int udpReceivePort = -1;
    long udpReceived, udpReceivedBytes;
    long framesIn, framesOut, bytesIn, bytesOut, badChecksums, retransmittedBytes, retransmitTimeouts,
            fastRetransmits, dupAcksSent, outOfOrder, udpSent, outputFull, zeroWindowProbes;

    GuestStack(String socketPath) {
        for (int i = 0; i < pattern.byteSize(); i++) {
            pattern.set(ValueLayout.JAVA_BYTE, i, (byte) ((i & 1) == 0 ? PATTERN_EVEN : PATTERN_ODD));
        }
        fd = Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0);
        if (fd < 0) throw new IllegalStateException("socket: " + Errno.text(fd));
        int r;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = a.allocate(SockAddr.UN_SIZE);
            int len = SockAddr.unix(sa, socketPath);
            long deadline = System.nanoTime() + 5_000_000_000L;
            while ((r = Sockets.connect(fd, sa, len)) < 0 && System.nanoTime() < deadline
                    && (r == -Errno.ECONNREFUSED || r == -Errno.ENOENT)) {
                sleepMs(5);
            }
        }
        if (r < 0) {
            Descriptors.close(fd);
            throw new IllegalStateException("connect to " + socketPath + ": " + Errno.text(r));
        }
        Descriptors.fcntl(fd, Descriptors.F_SETFL, Descriptors.fcntl(fd, Descriptors.F_GETFL, 0) | Descriptors.O_NONBLOCK);
        epfd = Epoll.epollCreate1(Epoll.EPOLL_CLOEXEC);
        epoll(Epoll.EPOLL_CTL_ADD, Epoll.EPOLLIN | Epoll.EPOLLRDHUP);
    }

    void verifyChecksums(boolean v) {
        verify = v;
    }

    private void epoll(int op, int ev) {
        ctl.set(ValueLayout.JAVA_INT_UNALIGNED, 0, ev);
        ctl.set(ValueLayout.JAVA_LONG_UNALIGNED, 4, 1L);
        Epoll.epollCtl(epfd, op, fd, ctl);
    }

    static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------------ the loop

    /** One round: write what is queued, wait up to {@code timeoutMs} for input, handle it, timers. */
    void poll(int timeoutMs) {
        flush();
        int n = Epoll.epollWait(epfd, events, 4, outHead < outTail && wantOut ? timeoutMs : timeoutMs);
        if (n > 0) {
            int ev = events.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
            if ((ev & Epoll.EPOLLIN) != 0) readFrames();
            if ((ev & (Epoll.EPOLLHUP | Epoll.EPOLLERR)) != 0 && (ev & Epoll.EPOLLIN) == 0) {
                throw new IllegalStateException("the daemon closed the guest's connection");
            }
        }
        long now = System.nanoTime();
        if (now - nextTimerScan >= 0) {
            nextTimerScan = now + 5_000_000L;
            for (int i = 0; i < conns.size(); i++) conns.get(i).timer(now);
        }
        for (int i = 0; i < conns.size(); i++) conns.get(i).output();
        flush();
    }

    /** Polls until {@code done} holds or {@code timeoutMs} passes; false on timeout. */
    boolean pollUntil(java.util.function.BooleanSupplier done, long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (!done.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) return false;
            poll(10);
        }
        return true;
    }

    private void readFrames() {
        for (int round = 0; round < 8; round++) {
            long want = IN_SIZE - inFill;
            long n = Descriptors.read(fd, in.address() + inFill, want);
            if (n == 0) throw new IllegalStateException("the daemon closed the guest's connection");
            if (n < 0) {
                if (n == -Errno.EAGAIN || n == -Errno.EINTR) break;
                throw new IllegalStateException("read from the daemon: " + Errno.text((int) n));
            }
            bytesIn += n;
            inFill += (int) n;
            int pos = 0;
            while (inFill - pos >= 4) {
                int len = in.get(Net.INT, pos);
                if (len < 14 || len > 65535 + 4) throw new IllegalStateException("bad frame length " + len);
                if (inFill - pos - 4 < len) break;
                framesIn++;
                frame(in, pos + 4, len);
                pos += 4 + len;
            }
            if (pos > 0) {
                int rest = inFill - pos;
                if (rest > 0) MemorySegment.copy(in, pos, in, 0, rest);
                inFill = rest;
            }
            if (n < want) break;
        }
        // end of a batch: ACK what came in (the delayed ACK of a kernel with GRO, roughly)
        for (int i = 0; i < conns.size(); i++) conns.get(i).endOfBatch();
    }

    // ------------------------------------------------------------------ output buffer

    /** Room for a frame of {@code len} bytes: its offset in {@link #out}, or -1 if full. */
    private long reserve(int len) {
        if (outTail + 4 + len > OUT_SIZE) {
            flush();
            if (outHead > 0) {
                MemorySegment.copy(out, outHead, out, 0, outTail - outHead);
                outTail -= outHead;
                outHead = 0;
            }
            if (outTail + 4 + len > OUT_SIZE) {
                outputFull++;
                return -1;
            }
        }
        return outTail + 4;
    }

    private void commit(long off, int len) {
        out.set(Net.INT, off - 4, len);
        outTail = (int) off + len;
        framesOut++;
    }

    /** Bytes queued and not written yet. */
    int queued() {
        return outTail - outHead;
    }

    void flush() {
        while (outHead < outTail) {
            long n = Descriptors.write(fd, out.address() + outHead, outTail - outHead);
            if (n < 0) {
                if (n == -Errno.EINTR) continue;
                if (n == -Errno.EAGAIN) {
                    if (!wantOut) {
                        wantOut = true;
                        epoll(Epoll.EPOLL_CTL_MOD, Epoll.EPOLLIN | Epoll.EPOLLRDHUP | Epoll.EPOLLOUT);
                    }
                    return;
                }
                throw new IllegalStateException("write to the daemon: " + Errno.text((int) n));
            }
            bytesOut += n;
            outHead += (int) n;
        }
        outHead = outTail = 0;
        if (wantOut) {
            wantOut = false;
            epoll(Epoll.EPOLL_CTL_MOD, Epoll.EPOLLIN | Epoll.EPOLLRDHUP);
        }
    }

    // ------------------------------------------------------------------ frames from the daemon

    private void frame(MemorySegment s, long off, int len) {
        int type = Eth.type(s, off);
        if (type == Eth.TYPE_ARP) {
            arp(s, off + Eth.LEN, len - Eth.LEN);
            return;
        }
        if (type != Eth.TYPE_IPV4) return;
        long ip = off + Eth.LEN;
        if (len < Eth.LEN + Ip4.MIN_LEN || Ip4.version(s, ip) != 4) return;
        int hl = Ip4.headerLength(s, ip);
        int total = Ip4.totalLength(s, ip);
        if (total > len - Eth.LEN || hl < Ip4.MIN_LEN) return;
        if (verify && !Ip4.checksumOk(s, ip)) {
            badChecksums++;
            return;
        }
        int proto = Ip4.proto(s, ip);
        long l4 = ip + hl;
        int l4Len = total - hl;
        int src = Ip4.src(s, ip), dst = Ip4.dst(s, ip);
        if (proto == 6) {
            tcp(s, l4, l4Len, src, dst);
        } else if (proto == 17 && l4Len >= UdpHdr.LEN && UdpHdr.dstPort(s, l4) == 68 && UdpHdr.srcPort(s, l4) == 67) {
            dhcpReply(s, l4 + UdpHdr.LEN, l4Len - UdpHdr.LEN);
        } else if (proto == 17 && l4Len >= UdpHdr.LEN && UdpHdr.dstPort(s, l4) == udpReceivePort) {
            if (verify && UdpHdr.checksum(s, l4) != 0
                    && Checksum.fold(Checksum.sum(s, l4, l4Len, Checksum.pseudo4(src, dst, 17, l4Len))) != 0xffff) {
                badChecksums++;
                return;
            }
            udpReceived++;
            udpReceivedBytes += l4Len - UdpHdr.LEN;
        }
    }

    private void tcp(MemorySegment s, long l4, int l4Len, int src, int dst) {
        if (l4Len < TcpHdr.MIN_LEN) return;
        if (verify && !TcpHdr.checksumOk(s, l4, l4Len, Checksum.pseudo4(src, dst, 6, l4Len))) {
            badChecksums++;
            return;
        }
        Conn c = byPort[TcpHdr.dstPort(s, l4)];
        if (c == null || c.remotePort != TcpHdr.srcPort(s, l4)) return;
        c.segment(s, l4, l4Len);
    }

    // ------------------------------------------------------------------ ARP and DHCP

    private void arp(MemorySegment s, long a, int len) {
        if (len < ArpHdr.LEN) return;
        int op = ArpHdr.op(s, a);
        if (op == ArpHdr.OP_REPLY && ArpHdr.spa(s, a) == gw) {
            gwMac = ArpHdr.sha(s, a);
        } else if (op == ArpHdr.OP_REQUEST && addr != 0 && ArpHdr.tpa(s, a) == addr) {
            long f = reserve(Eth.LEN + ArpHdr.LEN);
            if (f < 0) return;
            long sha = ArpHdr.sha(s, a);
            int spa = ArpHdr.spa(s, a);
            Eth.write(out, f, sha, MAC, Eth.TYPE_ARP);
            ArpHdr.write(out, f + Eth.LEN, ArpHdr.OP_REPLY, MAC, addr, sha, spa);
            commit(f, Eth.LEN + ArpHdr.LEN);
        }
    }

    /** Resolves the gateway's MAC; true when it answered. */
    boolean arpGateway(long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (gwMac == Eth.BROADCAST && System.nanoTime() - deadline < 0) {
            long f = reserve(Eth.LEN + ArpHdr.LEN);
            Eth.write(out, f, Eth.BROADCAST, MAC, Eth.TYPE_ARP);
            ArpHdr.write(out, f + Eth.LEN, ArpHdr.OP_REQUEST, MAC, addr, 0, gw);
            commit(f, Eth.LEN + ArpHdr.LEN);
            pollUntil(() -> gwMac != Eth.BROADCAST, 500);
        }
        return gwMac != Eth.BROADCAST;
    }

    /** DHCP: DISCOVER, OFFER, REQUEST, ACK. True once bound. */
    boolean dhcp(long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (dhcpState != 3 && System.nanoTime() - deadline < 0) {
            dhcpState = 1;
            dhcpSend(1, 0, 0);
            if (!pollUntil(() -> dhcpState == 2 || dhcpState == 3, 1000)) continue;
            pollUntil(() -> dhcpState == 3, 1000);
        }
        return dhcpState == 3;
    }

    private void dhcpSend(int type, int requested, int server) {
        int mlen = 300;
        long f = reserve(Eth.LEN + Ip4.MIN_LEN + UdpHdr.LEN + mlen);
        long ip = f + Eth.LEN, udp = ip + Ip4.MIN_LEN, m = udp + UdpHdr.LEN;
        long p = BenchFrames.bootRequest(out, m, mlen, 0x6a706173, MAC);
        Net.u8(out, p++, 53);
        Net.u8(out, p++, 1);
        Net.u8(out, p++, type);
        if (requested != 0) {
            Net.u8(out, p++, 50);
            Net.u8(out, p++, 4);
            Net.i32(out, p, requested);
            p += 4;
            Net.u8(out, p++, 54);
            Net.u8(out, p++, 4);
            Net.i32(out, p, server);
            p += 4;
        }
        Net.u8(out, p++, 55);
        Net.u8(out, p++, 4);
        Net.u8(out, p++, 1);
        Net.u8(out, p++, 3);
        Net.u8(out, p++, 6);
        Net.u8(out, p++, 26);
        Net.u8(out, p, 255);
        Eth.write(out, f, Eth.BROADCAST, MAC, Eth.TYPE_IPV4);
        Ip4.write(out, ip, Ip4.MIN_LEN + UdpHdr.LEN + mlen, nextId(), 64, 17, 0, Ip4.BROADCAST);
        UdpHdr.write(out, udp, 68, 67, UdpHdr.LEN + mlen);
        UdpHdr.checksum4(out, udp, UdpHdr.LEN + mlen, 0, Ip4.BROADCAST);
        commit(f, Eth.LEN + Ip4.MIN_LEN + UdpHdr.LEN + mlen);
    }

    private void dhcpReply(MemorySegment s, long m, int mlen) {
        if (mlen < 240 || Net.u8(s, m) != 2 || Net.i32(s, m + 4) != 0x6a706173) return;
        int type = 0, router = 0, mask = 0, server = 0, mtuOpt = 0;
        long p = m + 240, end = m + mlen;
        while (p + 1 < end) {
            int code = Net.u8(s, p);
            if (code == 0) {
                p++;
                continue;
            }
            if (code == 255) break;
            int olen = Net.u8(s, p + 1);
            long v = p + 2;
            if (v + olen > end) break;
            switch (code) {
                case 53 -> type = Net.u8(s, v);
                case 3 -> router = olen >= 4 ? Net.i32(s, v) : 0;
                case 1 -> mask = olen >= 4 ? Net.i32(s, v) : 0;
                case 54 -> server = olen >= 4 ? Net.i32(s, v) : 0;
                case 26 -> mtuOpt = olen >= 2 ? Net.u16(s, v) : 0;
                default -> { }
            }
            p = v + olen;
        }
        int yiaddr = Net.i32(s, m + 16);
        if (type == 2 && dhcpState == 1) {
            dhcpOffered = yiaddr;
            dhcpServer = server;
            dhcpState = 2;
            dhcpSend(3, yiaddr, server);
        } else if (type == 5 && dhcpState == 2) {
            addr = yiaddr;
            gw = router;
            prefix = Integer.bitCount(mask);
            dhcpMtu = mtuOpt;
            if (mtuOpt > 0) mtu = mtuOpt;
            dhcpState = 3;
        }
    }

    private int nextId() {
        ipId = (ipId + 1) & 0xffff;
        return ipId;
    }

    // ------------------------------------------------------------------ UDP

    /** Sends one datagram of {@code payload} pattern bytes to the gateway; false if the buffer is full. */
    boolean sendUdp(int srcPort, int dstPort, int payload) {
        int udpLen = UdpHdr.LEN + payload;
        int frameLen = Eth.LEN + Ip4.MIN_LEN + udpLen;
        long f = reserve(frameLen);
        if (f < 0) return false;
        long ip = f + Eth.LEN, udp = ip + Ip4.MIN_LEN;
        MemorySegment.copy(pattern, 0, out, udp + UdpHdr.LEN, payload);
        Eth.write(out, f, gwMac, MAC, Eth.TYPE_IPV4);
        Ip4.write(out, ip, Ip4.MIN_LEN + udpLen, nextId(), 64, 17, addr, gw);
        UdpHdr.write(out, udp, srcPort, dstPort, udpLen);
        long sum = Checksum.sum(out, udp, UdpHdr.LEN, Checksum.pseudo4(addr, gw, 17, udpLen)) + patternSum(0, payload);
        int c = Checksum.finish(sum);
        Net.u16(out, udp + UdpHdr.CHECKSUM, c == 0 ? 0xffff : c);
        commit(f, frameLen);
        udpSent++;
        return true;
    }

    /** Sends one datagram holding the 32-bit {@code word} (big-endian) to the gateway, and flushes it. */
    void sendUdpWord(int srcPort, int dstPort, int word) {
        int udpLen = UdpHdr.LEN + 4;
        int frameLen = Eth.LEN + Ip4.MIN_LEN + udpLen;
        long f = reserve(frameLen);
        if (f < 0) throw new IllegalStateException("no room for a datagram");
        long ip = f + Eth.LEN, udp = ip + Ip4.MIN_LEN;
        Net.i32(out, udp + UdpHdr.LEN, word);
        Eth.write(out, f, gwMac, MAC, Eth.TYPE_IPV4);
        Ip4.write(out, ip, Ip4.MIN_LEN + udpLen, nextId(), 64, 17, addr, gw);
        UdpHdr.write(out, udp, srcPort, dstPort, udpLen);
        UdpHdr.checksum4(out, udp, udpLen, addr, gw);
        commit(f, frameLen);
        pollUntil(() -> queued() == 0, 1000);
    }

    /** The partial checksum of {@code len} pattern bytes starting at stream offset {@code off}. */
    static long patternSum(long off, int len) {
        long word = (off & 1) == 0 ? (PATTERN_EVEN << 8 | PATTERN_ODD) : (PATTERN_ODD << 8 | PATTERN_EVEN);
        long sum = (long) (len >>> 1) * word;
        if ((len & 1) != 0) sum += (long) (((off + len - 1) & 1) == 0 ? PATTERN_EVEN : PATTERN_ODD) << 8;
        return sum;
    }

    // ------------------------------------------------------------------ TCP

    /** Opens a connection to the gateway's {@code port} (the host's loopback, through the daemon). */
    Conn connect(int port, int mss, App app) {
        int local = -1;
        for (int i = 0; i < 45000; i++) {
            int p = nextPort++;
            if (nextPort >= 65000) nextPort = 20000;
            if (byPort[p] == null) {
                local = p;
                break;
            }
        }
        if (local < 0) throw new IllegalStateException("no free local port");
        Conn c = new Conn(local, port, mss, app);
        byPort[local] = c;
        conns.add(c);
        c.sendSyn();
        return c;
    }

    private void forget(Conn c) {
        if (byPort[c.localPort] == c) byPort[c.localPort] = null;
        conns.remove(c);
    }

    final class Conn {
        static final int SYN_SENT = 1, ESTABLISHED = 2, CLOSED = 3;

        final int localPort, remotePort, ourMss;
        final App app;
        int state = SYN_SENT;
        Object attachment;

        // send side: stream offsets (bytes since the SYN), seq = iss + 1 + offset
        final int iss = java.util.concurrent.ThreadLocalRandom.current().nextInt();
        long sndUna, sndNxt, sndMax;
        long appEnd;            // the application has "written" the stream up to here
        boolean finWanted, finSent, finAcked;
        long sndWnd;            // bytes, scaled
        int peerWs, peerMss = 536;
        boolean wsOk;
        int dupAcks;
        long rtoDeadline, rto = RTO_MIN, synDeadline;
        long cwnd, ssthresh = Long.MAX_VALUE;   // RFC 5681 congestion window, bytes

        // receive side
        int irs;
        long rcvNxt;            // offset of the next byte expected
        boolean remoteFin;
        int unackedSegments;
        boolean ackNow;
        long lastAckedRcv = -1;

        // statistics
        long received, retransmitted;

        Conn(int localPort, int remotePort, int mss, App app) {
            this.localPort = localPort;
            this.remotePort = remotePort;
            this.ourMss = mss;
            this.app = app;
        }

        int smss() {
            return Math.min(peerMss, ourMss);
        }

        int seqOf(long off) {
            return iss + 1 + (int) off;
        }

        private void sendSyn() {
            int hl = TcpHdr.MIN_LEN + 8;
            long f = reserve(Eth.LEN + Ip4.MIN_LEN + hl);
            if (f < 0) return;
            long l4 = f + Eth.LEN + Ip4.MIN_LEN;
            TcpHdr.write(out, l4, localPort, remotePort, iss, 0, hl, TcpHdr.SYN, 65535);
            Net.u8(out, l4 + 20, TcpHdr.OPT_MSS);
            Net.u8(out, l4 + 21, 4);
            Net.u16(out, l4 + 22, ourMss);
            Net.u8(out, l4 + 24, TcpHdr.OPT_NOP);
            Net.u8(out, l4 + 25, TcpHdr.OPT_WS);
            Net.u8(out, l4 + 26, 3);
            Net.u8(out, l4 + 27, OUR_WS);
            finishSegment(f, hl, 0, 0);
            synDeadline = System.nanoTime() + 1_000_000_000L;
        }

        /** Checksum, IP and Ethernet headers of a segment whose TCP header is written. */
        private void finishSegment(long f, int hl, long payloadOff, int len) {
            long l4 = f + Eth.LEN + Ip4.MIN_LEN;
            int l4Len = hl + len;
            long sum = Checksum.sum(out, l4, hl, Checksum.pseudo4(addr, gw, 6, l4Len));
            if (len > 0) sum += patternSum(payloadOff, len);
            Net.u16(out, l4 + TcpHdr.CHECKSUM, Checksum.finish(sum));
            Eth.write(out, f, gwMac, MAC, Eth.TYPE_IPV4);
            Ip4.write(out, f + Eth.LEN, Ip4.MIN_LEN + l4Len, nextId(), 64, 6, addr, gw);
            commit(f, Eth.LEN + Ip4.MIN_LEN + l4Len);
        }

        private int advertisedWindow() {
            return wsOk ? Math.min(65535, rcvWindow >>> OUR_WS) : Math.min(65535, rcvWindow);
        }

        /** A data (or FIN, or pure ACK when {@code len} is 0) segment at stream offset {@code off}. */
        private boolean sendSegment(long off, int len, boolean fin) {
            long f = reserve(Eth.LEN + Ip4.MIN_LEN + TcpHdr.MIN_LEN + len);
            if (f < 0) return false;
            long l4 = f + Eth.LEN + Ip4.MIN_LEN;
            int flags = TcpHdr.ACK_FLAG | (len > 0 ? TcpHdr.PSH : 0) | (fin ? TcpHdr.FIN : 0);
            int ack = irs + 1 + (int) rcvNxt + (remoteFin ? 1 : 0);
            TcpHdr.write(out, l4, localPort, remotePort, seqOf(off), ack, TcpHdr.MIN_LEN, flags, advertisedWindow());
            if (len > 0) MemorySegment.copy(pattern, off & 1, out, l4 + TcpHdr.MIN_LEN, len);
            finishSegment(f, TcpHdr.MIN_LEN, off, len);
            unackedSegments = 0;
            ackNow = false;
            lastAckedRcv = rcvNxt + (remoteFin ? 1 : 0);
            return true;
        }

        private void sendRst() {
            long f = reserve(Eth.LEN + Ip4.MIN_LEN + TcpHdr.MIN_LEN);
            if (f < 0) return;
            long l4 = f + Eth.LEN + Ip4.MIN_LEN;
            TcpHdr.write(out, l4, localPort, remotePort, seqOf(sndNxt), 0, TcpHdr.MIN_LEN, TcpHdr.RST, 0);
            finishSegment(f, TcpHdr.MIN_LEN, 0, 0);
        }

        /** The application writes {@code n} more bytes (pattern) to the stream. */
        void write(long n) {
            appEnd += n;
        }

        /** Sends FIN once everything written is sent. */
        void close() {
            finWanted = true;
        }

        /** Aborts with an RST and forgets the connection. */
        void abort() {
            if (state != CLOSED) {
                sendRst();
                state = CLOSED;
                forget(this);
            }
        }

        boolean isClosed() {
            return state == CLOSED;
        }

        long inFlight() {
            return sndNxt - sndUna;
        }

        /** Segments from the daemon. */
        void segment(MemorySegment s, long l4, int l4Len) {
            int flags = TcpHdr.flags(s, l4);
            int hl = TcpHdr.headerLength(s, l4);
            if (hl < TcpHdr.MIN_LEN || hl > l4Len) return;
            if ((flags & TcpHdr.RST) != 0) {
                state = CLOSED;
                forget(this);
                app.closed(this, true);
                return;
            }
            if (state == SYN_SENT) {
                if ((flags & (TcpHdr.SYN | TcpHdr.ACK_FLAG)) != (TcpHdr.SYN | TcpHdr.ACK_FLAG)
                        || TcpHdr.ack(s, l4) != iss + 1) {
                    return;
                }
                irs = TcpHdr.seq(s, l4);
                int mss = TcpHdr.option(s, l4, hl, TcpHdr.OPT_MSS);
                peerMss = mss > 0 ? mss : 536;
                int ws = TcpHdr.option(s, l4, hl, TcpHdr.OPT_WS);
                wsOk = ws >= 0;
                peerWs = wsOk ? Math.min(ws, 14) : 0;
                sndWnd = TcpHdr.window(s, l4); // never scaled in a SYN
                cwnd = 10L * smss();           // RFC 6928 initial window
                state = ESTABLISHED;
                synDeadline = 0;
                sendSegment(sndNxt, 0, false); // the handshake's ACK
                app.established(this);
                return;
            }
            if (state != ESTABLISHED) return;
            if ((flags & TcpHdr.SYN) != 0) { // a retransmitted SYN-ACK: our ACK was lost
                ackNow = true;
                return;
            }
            int dataLen = l4Len - hl;
            if ((flags & TcpHdr.ACK_FLAG) != 0) ack(TcpHdr.ack(s, l4), TcpHdr.window(s, l4), dataLen);
            if (state != ESTABLISHED) return;
            if (dataLen > 0 || (flags & TcpHdr.FIN) != 0) {
                data(s, l4 + hl, dataLen, TcpHdr.seq(s, l4), (flags & TcpHdr.FIN) != 0);
            }
        }

        private void ack(int ackSeq, int window, int dataLen) {
            long wnd = (long) window << peerWs;
            int finBit = finSent ? 1 : 0;
            long acked = sndUna + (ackSeq - seqOf(sndUna));   // as a stream offset (FIN counts one)
            long top = sndMax + finBit;
            if (acked > top || acked < sndUna) return;        // acknowledges what we never sent, or old
            if (acked > sndUna || (finSent && !finAcked && acked == top)) {
                if (finSent && acked == top) {
                    finAcked = true;
                    acked = sndMax;
                }
                long newly = Math.max(0, acked - sndUna);
                // slow start with appropriate byte counting (RFC 3465, L = 2), then +1 SMSS per RTT
                if (cwnd < ssthresh) cwnd += Math.min(newly, 2L * smss());
                else cwnd += Math.max(1, (long) smss() * Math.min(newly, smss()) / cwnd);
                sndUna = Math.max(sndUna, acked);
                if (sndNxt < sndUna) sndNxt = sndUna;
                dupAcks = 0;
                rto = RTO_MIN;
                rtoDeadline = sndNxt > sndUna ? System.nanoTime() + rto : 0;
                sndWnd = wnd;
                app.acked(this);
            } else if (acked == sndUna && dataLen == 0 && wnd == sndWnd && sndMax > sndUna) {
                if (++dupAcks == 3) {
                    fastRetransmits++;
                    ssthresh = Math.max((sndMax - sndUna) / 2, 2L * smss());
                    cwnd = ssthresh;
                    int len = (int) Math.min(peerMss, sndMax - sndUna);
                    if (sendSegment(sndUna, Math.min(len, ourMss), false)) {
                        retransmitted += len;
                        retransmittedBytes += len;
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
                outOfOrder++;
                dupAcksSent++;
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
            forget(this);
            app.closed(this, false);
        }

        void endOfBatch() {
            if (state == ESTABLISHED && lastAckedRcv != rcvNxt + (remoteFin ? 1 : 0)) ackNow = true;
        }

        /** Sends what the window allows, then a FIN or a pending ACK. */
        void output() {
            if (state != ESTABLISHED) return;
            long limit = sndUna + Math.min(sndWnd, cwnd);
            while (sndNxt < appEnd) {
                long room = limit - sndNxt;
                if (room <= 0) break;
                int len = (int) Math.min(Math.min(room, appEnd - sndNxt), Math.min(peerMss, ourMss));
                if (!sendSegment(sndNxt, len, false)) return;
                if (sndNxt < sndMax) {
                    retransmitted += len;
                    retransmittedBytes += len;
                }
                sndNxt += len;
                if (sndNxt > sndMax) sndMax = sndNxt;
                if (rtoDeadline == 0) rtoDeadline = System.nanoTime() + rto;
            }
            if (sndNxt < appEnd && sndWnd == 0 && rtoDeadline == 0) {
                rtoDeadline = System.nanoTime() + rto; // zero window: probe when it expires
            }
            if (finWanted && !finSent && sndNxt == appEnd) {
                if (sendSegment(sndNxt, 0, true)) {
                    finSent = true;
                    if (rtoDeadline == 0) rtoDeadline = System.nanoTime() + rto;
                }
            } else if (ackNow) {
                sendSegment(sndNxt, 0, false);
            }
        }

        void timer(long now) {
            if (state == SYN_SENT && synDeadline != 0 && now - synDeadline >= 0) {
                sendSyn();
                return;
            }
            if (state != ESTABLISHED || rtoDeadline == 0 || now - rtoDeadline < 0) return;
            rtoDeadline = 0;
            if (sndMax > sndUna || (finSent && !finAcked)) {
                retransmitTimeouts++;
                ssthresh = Math.max((sndMax - sndUna) / 2, 2L * smss());
                cwnd = smss();                   // RFC 5681 3.1: loss window
                sndNxt = sndUna;                 // go back N
                if (finSent && !finAcked) finSent = false;
                rto = Math.min(rto * 2, RTO_MAX);
                rtoDeadline = now + rto;
            } else if (sndNxt < appEnd && sndWnd == 0) {
                // zero-window probe: one byte beyond the window
                zeroWindowProbes++;
                if (sendSegment(sndNxt, 1, false)) {
                    sndNxt += 1;
                    if (sndNxt > sndMax) sndMax = sndNxt;
                }
                rto = Math.min(rto * 2, RTO_MAX);
                rtoDeadline = now + rto;
            }
        }
    }

    @Override
    public void close() {
        for (Conn c : new ArrayList<>(conns)) c.abort();
        flush();
        Descriptors.close(epfd);
        Descriptors.close(fd);
    }
}
