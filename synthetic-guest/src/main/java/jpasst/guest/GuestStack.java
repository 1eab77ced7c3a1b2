package jpasst.guest;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

import jpasst.guest.net.ArpPacket;
import jpasst.guest.net.Bytes;
import jpasst.guest.net.Ethernet;
import jpasst.guest.net.IcmpMessage;
import jpasst.guest.net.InetChecksum;
import jpasst.guest.net.Ipv4;
import jpasst.guest.net.Ipv6;
import jpasst.guest.net.TcpSegment;
import jpasst.guest.net.UdpDatagram;

/**
 * The synthetic guest's network stack: what a VM's kernel does on the other side of the daemon's
 * guest transport, written just far enough to drive a passt-compatible daemon at full speed and
 * still be an honest peer, so that the daemon's figures and the tests' verdicts mean something.
 *
 * <ul>
 * <li>Link: a {@link Transport}, QEMU's stream socket or vhost-user, the stack does not care.
 * <li>IPv4: ARP (resolving the gateway, answering for its own address, probes as barriers), a
 *     DHCP client ({@link Dhcp4Client}: address, gateway, MTU, DNS).
 * <li>IPv6: a link-local address from the MAC (EUI-64), router solicitation and SLAAC from the
 *     router advertisement ({@link Slaac}: prefix, router, MTU, RDNSS; neighbour solicitations
 *     for its addresses answered), a DHCPv6 client ({@link Dhcp6Client}: IA_NA).
 * <li>TCP, active open over either family ({@link TcpConn}: windows, congestion control, ACKs,
 *     retransmission, zero-window probes), every received checksum verified unless the
 *     transport vouched for it (counted in {@link #badChecksums}, the segment dropped).
 * <li>UDP: datagrams sent (the pattern, or bytes given), received ones counted and handed to a
 *     {@link UdpApp}; ICMP and ICMPv6 echo requests sent, replies counted.
 * </ul>
 *
 * Single-threaded: {@link #poll} runs one round (frames in, timers, frames out); callers run it
 * until they are done ({@link #pollUntil}). Nothing on the per-frame path allocates: frames are
 * parsed where they lie and written in place into the transport's output.
 */
public final class GuestStack implements AutoCloseable {
    public static final long DEFAULT_MAC = 0x5254_0012_3456L;
    static final int OUR_WS = 7;

    /** Datagrams that came to the guest. */
    public interface UdpApp {
        /** {@code len} payload bytes at {@code off} of {@code s}, from {@code srcPort} to {@code dstPort}. */
        void datagram(int srcPort, int dstPort, MemorySegment s, long off, int len);
    }

    private final Transport link;
    public final long mac;
    private final Transport.Receiver receiver = this::frame;
    private int ipId;
    private boolean verify = true;

    // IPv4
    int addr4, prefix4, gw4, mtu = 65520, dhcpMtu, dns4;
    long gwMac = Ethernet.BROADCAST, dhcpServerMac = Ethernet.BROADCAST;
    final Dhcp4Client dhcp4 = new Dhcp4Client(this);
    private int probeTarget, probeAnswered;

    // IPv6
    final long ll6Hi = Ipv6.LINK_LOCAL_HI, ll6Lo;
    long slaacHi, slaacLo, dhcp6Hi, dhcp6Lo, router6Hi, router6Lo, dns6Hi, dns6Lo;
    long routerMac = Ethernet.BROADCAST;
    int prefix6, mtu6;
    final Slaac slaac = new Slaac(this);
    final Dhcp6Client dhcp6 = new Dhcp6Client(this);

    // TCP
    /** The window the guest advertises, bytes (the application consumes at once). */
    public int rcvWindow = 4 << 20;
    /** At most this many bytes in flight per connection (the windows aside). */
    public long maxInFlight = Long.MAX_VALUE;
    /** Zero-window probes as Linux sends them (a bare ACK one byte behind) instead of one byte beyond the window. */
    public boolean linuxZeroWindowProbes;
    private final TcpConn[] byPort = new TcpConn[65536];
    private final ArrayList<TcpConn> conns = new ArrayList<>();
    private int nextPort = 20000, rotation;
    private long nextTimerScan;

    private UdpApp udpApp;

    // counters
    public long badChecksums, retransmittedBytes, retransmitTimeouts, fastRetransmits, dupAcksSent, outOfOrder,
            zeroWindowProbes, synRetransmits, resetsIn, udpSent, udpIn, udpBytesIn, echoRepliesIn, outputFull;
    /** The identifier and sequence number of the last echo reply. */
    public int lastEchoId = -1, lastEchoSeq = -1;

    public GuestStack(Transport link) {
        this(link, DEFAULT_MAC);
    }

    public GuestStack(Transport link, long mac) {
        this.link = link;
        this.mac = mac;
        ll6Lo = eui64(mac);
    }

    /** A stack on a stream transport to the daemon's socket at {@code path} (waits up to 5 s for it). */
    public static GuestStack stream(String path) throws IOException {
        return new GuestStack(StreamTransport.connect(path, 5_000));
    }

    /** The interface identifier of {@code mac} (modified EUI-64, RFC 4291 2.5.1). */
    static long eui64(long mac) {
        long hi = (mac >>> 24) ^ 0x020000L, lo = mac & 0xffffff;
        return hi << 40 | 0xfffeL << 24 | lo;
    }

    public Transport transport() {
        return link;
    }

    /** Whether received checksums are verified (they are by default). */
    public void verifyChecksums(boolean v) {
        verify = v;
    }

    public void udpApp(UdpApp app) {
        udpApp = app;
    }

    // ------------------------------------------------------------------ what the guest learned

    public int address4() {
        return addr4;
    }

    public int prefix4() {
        return prefix4;
    }

    public int gateway4() {
        return gw4;
    }

    /** The link MTU: 65520 until the DHCP lease says otherwise. */
    public int mtu() {
        return mtu;
    }

    /** The MTU option of the DHCP lease (0 if none). */
    public int dhcpMtu() {
        return dhcpMtu;
    }

    public int dns4() {
        return dns4;
    }

    /** The gateway's MAC (broadcast until resolved). */
    public long gatewayMac() {
        return gwMac;
    }

    /** The MAC of the DHCP server (the daemon), from its ACK. */
    public long dhcpServerMac() {
        return dhcpServerMac;
    }

    public long linkLocal6Hi() {
        return ll6Hi;
    }

    public long linkLocal6Lo() {
        return ll6Lo;
    }

    /** The SLAAC address (0 until a router advertisement gave a prefix). */
    public long slaac6Hi() {
        return slaacHi;
    }

    public long slaac6Lo() {
        return slaacLo;
    }

    public int prefix6() {
        return prefix6;
    }

    /** The DHCPv6 address (0 until bound). */
    public long dhcp6Hi() {
        return dhcp6Hi;
    }

    public long dhcp6Lo() {
        return dhcp6Lo;
    }

    /** The router's (the daemon's) link-local address, from its advertisement. */
    public long router6Hi() {
        return router6Hi;
    }

    public long router6Lo() {
        return router6Lo;
    }

    public long routerMac() {
        return routerMac;
    }

    /** The MTU option of the router advertisement (0 if none). */
    public int mtu6() {
        return mtu6;
    }

    public long dns6Hi() {
        return dns6Hi;
    }

    public long dns6Lo() {
        return dns6Lo;
    }

    /** The guest's open TCP connections (the list itself: do not change it). */
    public List<TcpConn> connections() {
        return conns;
    }

    /** Bytes the transport has not handed to the daemon yet. */
    public long queued() {
        return link.queued();
    }

    // ------------------------------------------------------------------ the loop

    /** One round: what is queued goes out, frames in (up to {@code timeoutMs} for the first), timers, frames out. */
    public void poll(int timeoutMs) {
        int frames = link.poll(receiver, timeoutMs);
        if (frames > 0) {
            // end of a batch: ACK what came in (the delayed ACK of a kernel with GRO, roughly)
            for (int i = 0; i < conns.size(); i++) conns.get(i).endOfBatch();
        }
        long now = System.nanoTime();
        if (now - nextTimerScan >= 0) {
            nextTimerScan = now + 5_000_000L;
            for (int i = 0; i < conns.size(); i++) conns.get(i).timer(now);
        }
        int n = conns.size();
        if (n > 0) { // who goes first changes, so no connection starves when the output fills
            int first = Math.floorMod(rotation++, n);
            for (int k = 0; k < n && k < conns.size(); k++) {
                if (!conns.get((first + k) % conns.size()).output()) break;
            }
        }
        link.flush();
    }

    /** Polls until {@code done} holds or {@code timeoutMs} pass; false on timeout. */
    public boolean pollUntil(BooleanSupplier done, long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (!done.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) return false;
            poll(10);
        }
        return true;
    }

    /** Polls for {@code ms} milliseconds. */
    public void pollFor(long ms) {
        long end = System.nanoTime() + ms * 1_000_000;
        while (System.nanoTime() - end < 0) poll(1);
    }

    // ------------------------------------------------------------------ output

    MemorySegment out() {
        return link.out();
    }

    /** Room for a frame of {@code len} bytes, or -1 (counted) if the transport has none now. */
    long reserve(int len) {
        long f = link.reserve(len);
        if (f < 0) outputFull++;
        return f;
    }

    void commit(long f, int len) {
        link.commit(f, len);
    }

    /**
     * Commits frame {@code f} with its transport checksum left to the device, as Linux does with
     * checksum offload: the checksum field (at {@code l4} + {@code field}) holds the folded
     * pseudo-header sum {@code pseudo}, not complemented, and the header says where to complete it.
     */
    void commitLeavingChecksum(long f, int len, long l4, int field, long pseudo) {
        Bytes.u16(link.out(), l4 + field, InetChecksum.fold(pseudo));
        link.commitLeavingChecksum(f, len, (int) (l4 - f), field);
    }

    /**
     * The most data one frame of {@code c} may carry: one segment, or where the transport takes
     * frames of many segments as many whole ones as an IP packet holds.
     */
    int largestSegment(TcpConn c) {
        int smss = c.smss();
        if (!link.checksumOffload() || !link.segmentationOffload(c.v6)) return smss;
        int room = (c.v6 ? 65535 : 65535 - Ipv4.MIN_LEN) - TcpSegment.MIN_LEN;
        return Math.max(smss, room / smss * smss);
    }

    int nextId() {
        ipId = (ipId + 1) & 0xffff;
        return ipId;
    }

    /** The MAC the guest sends IPv4 to: the gateway's, else the DHCP server's, else broadcast. */
    long nextHop4() {
        return gwMac != Ethernet.BROADCAST ? gwMac : dhcpServerMac;
    }

    long nextHop6() {
        return routerMac != Ethernet.BROADCAST ? routerMac : nextHop4();
    }

    /** The IPv6 source for {@code dstHi}: link-local to link-local, else the DHCPv6 address, else SLAAC's. */
    long src6Hi(long dstHi) {
        if ((dstHi & 0xffc0_0000_0000_0000L) == Ipv6.LINK_LOCAL_HI) return ll6Hi;
        return dhcp6Hi != 0 ? dhcp6Hi : slaacHi;
    }

    long src6Lo(long dstHi) {
        if ((dstHi & 0xffc0_0000_0000_0000L) == Ipv6.LINK_LOCAL_HI) return ll6Lo;
        return dhcp6Hi != 0 ? dhcp6Lo : slaacLo;
    }

    long reserveTcp(TcpConn c, int l4Len) {
        return reserve(Ethernet.LEN + (c.v6 ? Ipv6.LEN : Ipv4.MIN_LEN) + l4Len);
    }

    long l4(TcpConn c, long f) {
        return f + Ethernet.LEN + (c.v6 ? Ipv6.LEN : Ipv4.MIN_LEN);
    }

    /**
     * Checksum, IP and Ethernet headers of a segment whose TCP header ({@code hl} bytes) and
     * {@code len} payload bytes are written; {@code payloadSum} is the payload's partial sum if
     * known, else -1.
     */
    void finishTcp(TcpConn c, long f, int hl, long payloadOff, int len, long payloadSum) {
        MemorySegment out = link.out();
        long t = l4(c, f);
        int l4Len = hl + len;
        boolean offload = link.checksumOffload();
        long sum = 0;
        if (!offload) {
            sum = InetChecksum.sum(out, t, hl);
            if (len > 0) sum += payloadSum >= 0 ? payloadSum : InetChecksum.sum(out, t + hl, len);
        }
        if (c.v6) {
            long sHi = src6Hi(c.dstHi), sLo = src6Lo(c.dstHi);
            sum += InetChecksum.pseudo6(sHi, sLo, c.dstHi, c.dstLo, Ipv4.TCP, l4Len);
            Ethernet.write(out, f, nextHop6(), mac, Ethernet.IPV6);
            Ipv6.write(out, f + Ethernet.LEN, l4Len, Ipv4.TCP, 64, sHi, sLo, c.dstHi, c.dstLo);
        } else {
            sum += InetChecksum.pseudo4(addr4, c.dst4, Ipv4.TCP, l4Len);
            Ethernet.write(out, f, nextHop4(), mac, Ethernet.IPV4);
            Ipv4.write(out, f + Ethernet.LEN, Ipv4.MIN_LEN + l4Len, nextId(), 64, Ipv4.TCP, addr4, c.dst4);
        }
        if (offload) {
            Bytes.u16(out, t + TcpSegment.CHECKSUM, InetChecksum.fold(sum));
            int hdrs = (int) (t - f);
            if (len > c.smss()) { // a frame of many segments (segmentationOffload): the device's to cut, as Linux's TSO
                link.commitSegmented(f, hdrs + l4Len, hdrs, TcpSegment.CHECKSUM, c.v6, hdrs + hl, c.smss());
            } else {
                link.commitLeavingChecksum(f, hdrs + l4Len, hdrs, TcpSegment.CHECKSUM);
            }
            return;
        }
        Bytes.u16(out, t + TcpSegment.CHECKSUM, InetChecksum.finish(sum));
        commit(f, (int) (t - f) + l4Len);
    }

    // ------------------------------------------------------------------ frames from the daemon

    private void frame(MemorySegment s, long off, int len, boolean vouched) {
        if (len < Ethernet.LEN) return;
        int type = Ethernet.type(s, off);
        if (type == Ethernet.ARP) {
            if (len >= Ethernet.LEN + ArpPacket.LEN) arp(s, off + Ethernet.LEN);
        } else if (type == Ethernet.IPV4) {
            ipv4(s, off, len, vouched);
        } else if (type == Ethernet.IPV6) {
            ipv6(s, off, len, vouched);
        }
    }

    private void ipv4(MemorySegment s, long f, int len, boolean vouched) {
        long ip = f + Ethernet.LEN;
        if (len < Ethernet.LEN + Ipv4.MIN_LEN || Ipv4.version(s, ip) != 4) return;
        int hl = Ipv4.headerLength(s, ip);
        int total = Ipv4.totalLength(s, ip);
        if (total > len - Ethernet.LEN || hl < Ipv4.MIN_LEN || total < hl) return;
        if (verify && !Ipv4.checksumOk(s, ip)) {
            badChecksums++;
            return;
        }
        int proto = Ipv4.proto(s, ip);
        long l4 = ip + hl;
        int l4Len = total - hl;
        int src = Ipv4.src(s, ip), dst = Ipv4.dst(s, ip);
        boolean check = verify && !vouched;
        if (proto == Ipv4.TCP) {
            if (l4Len < TcpSegment.MIN_LEN) return;
            if (check && !InetChecksum.ok(InetChecksum.sum(s, l4, l4Len) + InetChecksum.pseudo4(src, dst, Ipv4.TCP, l4Len))) {
                badChecksums++;
                return;
            }
            tcp(s, l4, l4Len);
        } else if (proto == Ipv4.UDP) {
            if (l4Len < UdpDatagram.LEN) return;
            if (check && Bytes.u16(s, l4 + UdpDatagram.CHECKSUM) != 0
                    && !InetChecksum.ok(InetChecksum.sum(s, l4, l4Len) + InetChecksum.pseudo4(src, dst, Ipv4.UDP, l4Len))) {
                badChecksums++;
                return;
            }
            int sport = UdpDatagram.srcPort(s, l4), dport = UdpDatagram.dstPort(s, l4);
            if (sport == 67 && dport == 68) {
                dhcp4.reply(s, f, l4 + UdpDatagram.LEN, l4Len - UdpDatagram.LEN);
            } else {
                udp(sport, dport, s, l4 + UdpDatagram.LEN, l4Len - UdpDatagram.LEN);
            }
        } else if (proto == Ipv4.ICMP && l4Len >= IcmpMessage.ECHO_LEN) {
            if (check && !InetChecksum.ok(InetChecksum.sum(s, l4, l4Len))) {
                badChecksums++;
                return;
            }
            if (IcmpMessage.type(s, l4) == IcmpMessage.ECHO_REPLY) echoReply(s, l4);
        }
    }

    private void ipv6(MemorySegment s, long f, int len, boolean vouched) {
        long ip = f + Ethernet.LEN;
        if (len < Ethernet.LEN + Ipv6.LEN || Bytes.u8(s, ip) >>> 4 != 6) return;
        int l4Len = Ipv6.payloadLength(s, ip);
        if (l4Len > len - Ethernet.LEN - Ipv6.LEN) return;
        int next = Ipv6.next(s, ip);
        long l4 = ip + Ipv6.LEN;
        boolean check = verify && !vouched;
        if (check && (next == Ipv4.TCP || next == Ipv4.UDP || next == Ipv6.ICMPV6)) {
            long pseudo = InetChecksum.pseudo6(Ipv6.srcHi(s, ip), Ipv6.srcLo(s, ip), Ipv6.dstHi(s, ip), Ipv6.dstLo(s, ip),
                    next, l4Len);
            if (!InetChecksum.ok(InetChecksum.sum(s, l4, l4Len) + pseudo)) {
                badChecksums++;
                return;
            }
        }
        if (next == Ipv4.TCP) {
            if (l4Len >= TcpSegment.MIN_LEN) tcp(s, l4, l4Len);
        } else if (next == Ipv4.UDP) {
            if (l4Len < UdpDatagram.LEN) return;
            int sport = UdpDatagram.srcPort(s, l4), dport = UdpDatagram.dstPort(s, l4);
            if (sport == 547 && dport == 546) dhcp6.reply(s, l4 + UdpDatagram.LEN, l4Len - UdpDatagram.LEN);
            else udp(sport, dport, s, l4 + UdpDatagram.LEN, l4Len - UdpDatagram.LEN);
        } else if (next == Ipv6.ICMPV6 && l4Len >= IcmpMessage.HEADER) {
            int type = IcmpMessage.type(s, l4);
            if (type == IcmpMessage.V6_ECHO_REPLY && l4Len >= IcmpMessage.ECHO_LEN) echoReply(s, l4);
            else slaac.icmp6(s, f, ip, l4, l4Len, type);
        }
    }

    private void tcp(MemorySegment s, long l4, int l4Len) {
        TcpConn c = byPort[TcpSegment.dstPort(s, l4)];
        if (c == null || c.remotePort != TcpSegment.srcPort(s, l4)) return;
        c.segment(s, l4, l4Len);
    }

    private void udp(int sport, int dport, MemorySegment s, long payload, int len) {
        udpIn++;
        udpBytesIn += len;
        if (udpApp != null) udpApp.datagram(sport, dport, s, payload, len);
    }

    private void echoReply(MemorySegment s, long m) {
        echoRepliesIn++;
        lastEchoId = Bytes.u16(s, m + IcmpMessage.ECHO_ID);
        lastEchoSeq = Bytes.u16(s, m + IcmpMessage.ECHO_SEQ);
    }

    // ------------------------------------------------------------------ ARP

    private void arp(MemorySegment s, long a) {
        int op = ArpPacket.op(s, a);
        if (op == ArpPacket.REPLY) {
            int spa = ArpPacket.spa(s, a);
            if (spa == gw4 && gw4 != 0) gwMac = ArpPacket.sha(s, a);
            if (spa == probeTarget) probeAnswered = spa;
        } else if (op == ArpPacket.REQUEST && addr4 != 0 && ArpPacket.tpa(s, a) == addr4) {
            long f = reserve(Ethernet.LEN + ArpPacket.LEN);
            if (f < 0) return;
            long sha = ArpPacket.sha(s, a);
            int spa = ArpPacket.spa(s, a);
            MemorySegment out = link.out();
            Ethernet.write(out, f, sha, mac, Ethernet.ARP);
            ArpPacket.write(out, f + Ethernet.LEN, ArpPacket.REPLY, mac, addr4, sha, spa);
            commit(f, Ethernet.LEN + ArpPacket.LEN);
        }
    }

    /** Sends an ARP request for {@code target} (from our address, or 0.0.0.0 before DHCP). */
    public boolean arpRequest(int target) {
        long f = reserve(Ethernet.LEN + ArpPacket.LEN);
        if (f < 0) return false;
        MemorySegment out = link.out();
        Ethernet.write(out, f, Ethernet.BROADCAST, mac, Ethernet.ARP);
        ArpPacket.write(out, f + Ethernet.LEN, ArpPacket.REQUEST, mac, addr4, 0, target);
        commit(f, Ethernet.LEN + ArpPacket.LEN);
        return true;
    }

    /** Resolves the gateway's MAC (asking again every 500 ms); true when it answered. */
    public boolean arpGateway(long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (gwMac == Ethernet.BROADCAST && System.nanoTime() - deadline < 0) {
            arpRequest(gw4);
            pollUntil(() -> gwMac != Ethernet.BROADCAST, 500);
        }
        return gwMac != Ethernet.BROADCAST;
    }

    /**
     * A barrier: an ARP request for {@code target} (an address the daemon answers for, one of
     * 203.0.113.0/24 say), then polls until its reply; the daemon has then handled everything
     * sent before. False after {@code timeoutMs}.
     */
    public boolean arpProbe(int target, long timeoutMs) {
        probeTarget = target;
        probeAnswered = 0;
        arpRequest(target);
        boolean ok = pollUntil(() -> probeAnswered == target, timeoutMs);
        probeTarget = 0;
        return ok;
    }

    // ------------------------------------------------------------------ DHCP, SLAAC, DHCPv6

    /** DHCP: DISCOVER, OFFER, REQUEST, ACK (again after a second without an answer); true once bound. */
    public boolean dhcp(long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (!dhcp4.bound() && System.nanoTime() - deadline < 0) {
            dhcp4.discover();
            if (!pollUntil(() -> dhcp4.requested() || dhcp4.bound(), 1000)) continue;
            pollUntil(dhcp4::bound, 1000);
        }
        return dhcp4.bound();
    }

    /**
     * Router solicitation until a router advertisement gave a prefix for SLAAC (asking again
     * every second); true once the guest has its SLAAC address.
     */
    public boolean slaac(long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (slaacHi == 0 && System.nanoTime() - deadline < 0) {
            slaac.solicit();
            pollUntil(() -> slaacHi != 0, 1000);
        }
        return slaacHi != 0;
    }

    /** DHCPv6: SOLICIT, ADVERTISE, REQUEST, REPLY; true once it has its address. */
    public boolean dhcp6(long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (!dhcp6.bound() && System.nanoTime() - deadline < 0) {
            dhcp6.solicit();
            if (!pollUntil(() -> dhcp6.requested() || dhcp6.bound(), 1000)) continue;
            pollUntil(dhcp6::bound, 1000);
        }
        return dhcp6.bound();
    }

    // ------------------------------------------------------------------ UDP and ICMP

    /** Sends one datagram of {@code payload} pattern bytes to the gateway; false if the output is full. */
    public boolean sendUdp(int srcPort, int dstPort, int payload) {
        return sendUdp4(gw4, srcPort, dstPort, StreamSource.PATTERN, 0, payload);
    }

    /** A datagram of {@code len} bytes from stream offset {@code off} of {@code src} to {@code dst} (IPv4). */
    public boolean sendUdp4(int dst, int srcPort, int dstPort, StreamSource src, long off, int len) {
        int udpLen = UdpDatagram.LEN + len;
        int frameLen = Ethernet.LEN + Ipv4.MIN_LEN + udpLen;
        long f = reserve(frameLen);
        if (f < 0) return false;
        MemorySegment out = link.out();
        long ip = f + Ethernet.LEN, u = ip + Ipv4.MIN_LEN;
        src.copy(off, out, u + UdpDatagram.LEN, len);
        Ethernet.write(out, f, nextHop4(), mac, Ethernet.IPV4);
        Ipv4.write(out, ip, Ipv4.MIN_LEN + udpLen, nextId(), 64, Ipv4.UDP, addr4, dst);
        UdpDatagram.write(out, u, srcPort, dstPort, udpLen);
        finishUdp(f, frameLen, u, InetChecksum.pseudo4(addr4, dst, Ipv4.UDP, udpLen), src, off, len);
        return true;
    }

    /** The same over IPv6, to {@code dstHi:dstLo}. */
    public boolean sendUdp6(long dstHi, long dstLo, int srcPort, int dstPort, StreamSource src, long off, int len) {
        int udpLen = UdpDatagram.LEN + len;
        int frameLen = Ethernet.LEN + Ipv6.LEN + udpLen;
        long f = reserve(frameLen);
        if (f < 0) return false;
        MemorySegment out = link.out();
        long ip = f + Ethernet.LEN, u = ip + Ipv6.LEN;
        long sHi = src6Hi(dstHi), sLo = src6Lo(dstHi);
        src.copy(off, out, u + UdpDatagram.LEN, len);
        Ethernet.write(out, f, nextHop6(), mac, Ethernet.IPV6);
        Ipv6.write(out, ip, udpLen, Ipv4.UDP, 64, sHi, sLo, dstHi, dstLo);
        UdpDatagram.write(out, u, srcPort, dstPort, udpLen);
        finishUdp(f, frameLen, u, InetChecksum.pseudo6(sHi, sLo, dstHi, dstLo, Ipv4.UDP, udpLen), src, off, len);
        return true;
    }

    /**
     * Checksums the datagram at {@code u} of frame {@code f} (its {@code len} payload bytes from
     * stream offset {@code off} of {@code src}, behind the pseudo-header sum {@code pseudo}), or
     * leaves the checksum to the device where the transport took that offload, and commits it.
     */
    private void finishUdp(long f, int frameLen, long u, long pseudo, StreamSource src, long off, int len) {
        udpSent++;
        if (link.checksumOffload()) {
            commitLeavingChecksum(f, frameLen, u, UdpDatagram.CHECKSUM, pseudo);
            return;
        }
        MemorySegment out = link.out();
        long psum = src.sum(off, len);
        long sum = InetChecksum.sum(out, u, UdpDatagram.LEN) + pseudo
                + (psum >= 0 ? psum : InetChecksum.sum(out, u + UdpDatagram.LEN, len));
        UdpDatagram.checksum(out, u, sum);
        commit(f, frameLen);
    }

    /** An ICMP echo request of {@code len} pattern bytes to {@code dst}. */
    public boolean ping4(int dst, int id, int seq, int len) {
        int l4Len = IcmpMessage.ECHO_LEN + len;
        long f = reserve(Ethernet.LEN + Ipv4.MIN_LEN + l4Len);
        if (f < 0) return false;
        MemorySegment out = link.out();
        long m = f + Ethernet.LEN + Ipv4.MIN_LEN;
        echo(out, m, IcmpMessage.ECHO_REQUEST, id, seq, len);
        Bytes.u16(out, m + IcmpMessage.CHECKSUM, InetChecksum.finish(InetChecksum.sum(out, m, l4Len)));
        Ethernet.write(out, f, nextHop4(), mac, Ethernet.IPV4);
        Ipv4.write(out, f + Ethernet.LEN, Ipv4.MIN_LEN + l4Len, nextId(), 64, Ipv4.ICMP, addr4, dst);
        commit(f, Ethernet.LEN + Ipv4.MIN_LEN + l4Len);
        return true;
    }

    /** An ICMPv6 echo request of {@code len} pattern bytes to {@code dstHi:dstLo}. */
    public boolean ping6(long dstHi, long dstLo, int id, int seq, int len) {
        int l4Len = IcmpMessage.ECHO_LEN + len;
        long f = reserve(Ethernet.LEN + Ipv6.LEN + l4Len);
        if (f < 0) return false;
        MemorySegment out = link.out();
        long m = f + Ethernet.LEN + Ipv6.LEN;
        long sHi = src6Hi(dstHi), sLo = src6Lo(dstHi);
        echo(out, m, IcmpMessage.V6_ECHO_REQUEST, id, seq, len);
        long sum = InetChecksum.sum(out, m, l4Len) + InetChecksum.pseudo6(sHi, sLo, dstHi, dstLo, Ipv6.ICMPV6, l4Len);
        Bytes.u16(out, m + IcmpMessage.CHECKSUM, InetChecksum.finish(sum));
        Ethernet.write(out, f, nextHop6(), mac, Ethernet.IPV6);
        Ipv6.write(out, f + Ethernet.LEN, l4Len, Ipv6.ICMPV6, 64, sHi, sLo, dstHi, dstLo);
        commit(f, Ethernet.LEN + Ipv6.LEN + l4Len);
        return true;
    }

    private static void echo(MemorySegment out, long m, int type, int id, int seq, int len) {
        IcmpMessage.write(out, m, type, 0);
        Bytes.u16(out, m + IcmpMessage.ECHO_ID, id);
        Bytes.u16(out, m + IcmpMessage.ECHO_SEQ, seq);
        StreamSource.PATTERN.copy(0, out, m + IcmpMessage.ECHO_LEN, len);
    }

    // ------------------------------------------------------------------ TCP

    /** Opens a connection to the IPv4 gateway's {@code port} (the host's loopback, through the daemon). */
    public TcpConn connect(int port, int mss, TcpApp app) {
        return connect4(gw4, port, mss, app);
    }

    /** Opens a connection to {@code dst}:{@code port} over IPv4; the SYN is queued. */
    public TcpConn connect4(int dst, int port, int mss, TcpApp app) {
        return open(false, dst, 0, 0, port, mss, app);
    }

    /** Opens a connection to {@code dstHi:dstLo} port {@code port} over IPv6. */
    public TcpConn connect6(long dstHi, long dstLo, int port, int mss, TcpApp app) {
        return open(true, 0, dstHi, dstLo, port, mss, app);
    }

    private TcpConn open(boolean v6, int dst4, long dstHi, long dstLo, int port, int mss, TcpApp app) {
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
        TcpConn c = new TcpConn(this, local, v6, dst4, dstHi, dstLo, port, mss, app);
        byPort[local] = c;
        c.index = conns.size();
        conns.add(c);
        c.sendSyn();
        return c;
    }

    void forget(TcpConn c) {
        if (byPort[c.localPort] == c) byPort[c.localPort] = null;
        int i = c.index;
        if (i < 0) return;
        TcpConn last = conns.remove(conns.size() - 1);
        if (last != c) {
            conns.set(i, last);
            last.index = i;
        }
        c.index = -1;
    }

    /**
     * Closes the transport, as a guest that goes away does: its connections end without a word
     * (the daemon closes their host sockets when it sees the guest gone). {@link TcpConn#abort}
     * them first for RSTs.
     */
    @Override
    public void close() {
        link.flush();
        link.close();
    }
}
