package jpasst;

import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.control.Operations;
import jpasst.flow.Transport;
import jpasst.link.FramesFromGuest;
import jpasst.link.Guest;
import jpasst.link.Receiver;
import jpasst.packet.Eth;
import jpasst.packet.Inany;
import jpasst.packet.Ip4;
import jpasst.packet.Ip6;
import jpasst.packet.UdpHdr;
import jpasst.proto.Arp;
import jpasst.proto.Dhcp;
import jpasst.proto.Services6;
import jpasst.util.Log;

/**
 * Where every frame from the guest goes first, as passt's tap4_handler/tap6_handler: learn the
 * guest's MAC and address, check the headers (lengths, IPv4 header checksum), then hand the frame
 * to the service that terminates it (ARP, DHCP, NDP, DHCPv6) or to its transport (TCP, UDP,
 * ICMP). Frames that make no sense are counted and dropped; nothing here throws.
 *
 * It is the link's {@link Receiver}, and {@link #receive} is the frame's way in, whole: the
 * link read a batch; each frame is dispatched; then the transports send what they queued from
 * the batch (TCP: one sendmsg per connection) while the frames still lie there; then the link
 * takes its buffer back.
 *
 * Hot path: no allocation.
 */
public final class Dispatch implements Receiver, Operations.FrameDrops {
    private final Conf conf;
    private final Guest guest;
    private final Arp arp;
    private final Dhcp dhcp;
    private final Services6 services6;
    private final Transport tcp, udp, icmp;
    /** Why a frame from the guest was dropped: an index into {@link #DROP_REASONS} and the counters. */
    public static final int UNHANDLED_ETHERTYPE = 0, IPV4_DISABLED = 1, SHORT_OR_NON_IPV4_HEADER = 2,
            BAD_IPV4_LENGTHS = 3, BAD_IPV4_HEADER_CHECKSUM = 4, IPV4_FRAGMENT = 5, BAD_UDP_LENGTH = 6,
            IPV6_DISABLED = 7, SHORT_OR_NON_IPV6_HEADER = 8, BAD_IPV6_PAYLOAD_LENGTH = 9,
            TRUNCATED_IPV6_EXTENSION_HEADER = 10, NO_HANDLER_FOR_PROTOCOL = 11;
    /** The reasons, as the control socket's statistics name them. */
    public static final String[] DROP_REASONS = {"unhandled EtherType", "IPv4 disabled", "short or non-IPv4 header",
            "bad IPv4 lengths", "bad IPv4 header checksum", "IPv4 fragment", "bad UDP length", "IPv6 disabled",
            "short or non-IPv6 header", "bad IPv6 payload length", "truncated IPv6 extension header",
            "no handler for protocol"};
    /** Frames dropped, per reason (plain fields of the loop's thread). */
    private final long[] droppedBy = new long[DROP_REASONS.length];
    private long dropped;
    /** No frame with the guest's MAC since it connected: the next one tells the services. */
    private boolean unseen = true;

    public Dispatch(Conf conf, Guest guest, Arp arp, Dhcp dhcp, Services6 services6,
                    Transport tcp, Transport udp, Transport icmp) {
        this.conf = conf;
        this.guest = guest;
        this.arp = arp;
        this.dhcp = dhcp;
        this.services6 = services6;
        this.tcp = tcp;
        this.udp = udp;
        this.icmp = icmp;
    }

    @Override
    public void receive(FramesFromGuest in) {
        boolean pieces = false;
        try {
            while (in.next()) {
                // a frame in pieces is TCP with its headers whole in the first (the link saw to
                // it, on its own copy): only TCP's payload reads go past them
                if (in.tailCount() > 0 != pieces) {
                    pieces = !pieces;
                    tcp.scatteredFrame(pieces ? in : null);
                }
                frame(in.segment(), in.offset(), in.length(), in.checksumPending());
            }
        } finally {
            if (pieces) tcp.scatteredFrame(null);
            tcp.batchDone(); // (also after a bug threw: nothing may point into the batch once it is back)
            udp.batchDone();
            icmp.batchDone();
        }
    }

    @Override
    public void guestGone() {
        unseen = true;
        tcp.guestGone();
        udp.guestGone();
        icmp.guestGone();
    }

    @Override
    public void roomAgain() {
        tcp.roomAgain();
        udp.roomAgain();
        icmp.roomAgain();
    }

    /** One frame from the guest, {@code len} bytes at {@code off} of {@code s}. */
    public void frame(MemorySegment s, long off, int len) {
        frame(s, off, len, false);
    }

    /**
     * One frame from the guest; {@code checksumPending}: its transport checksum was left to the
     * device ({@link FramesFromGuest#checksumPending()}), not to be checked.
     */
    public void frame(MemorySegment s, long off, int len, boolean checksumPending) {
        long src = Eth.src(s, off);
        if ((src & 0x0100_0000_0000L) == 0 && (src != guest.mac || unseen)) {
            guest.mac = src;
            unseen = false;
            if (Log.debugEnabled()) Log.debug("Guest MAC address: " + jpasst.packet.Net.macString(src));
            services6.guestSeen();
        }
        switch (Eth.type(s, off)) {
            case Eth.TYPE_ARP -> {
                if (conf.v4) arp.handle(s, off, len);
            }
            case Eth.TYPE_IPV4 -> ip4(s, off, len, checksumPending);
            case Eth.TYPE_IPV6 -> ip6(s, off, len, checksumPending);
            default -> drop(UNHANDLED_ETHERTYPE);
        }
    }

    private void ip4(MemorySegment s, long off, int len, boolean checksumPending) {
        if (!conf.v4) {
            drop(IPV4_DISABLED);
            return;
        }
        long ip = off + Eth.LEN;
        int avail = len - Eth.LEN;
        if (avail < Ip4.MIN_LEN || Ip4.version(s, ip) != 4) {
            drop(SHORT_OR_NON_IPV4_HEADER);
            return;
        }
        int hl = Ip4.headerLength(s, ip);
        int total = Ip4.totalLength(s, ip);
        if (hl < Ip4.MIN_LEN || total < hl || total > avail) {
            drop(BAD_IPV4_LENGTHS);
            return;
        }
        if (!Ip4.checksumOk(s, ip)) {
            drop(BAD_IPV4_HEADER_CHECKSUM);
            return;
        }
        if (Ip4.isFragment(s, ip)) {
            drop(IPV4_FRAGMENT); // passt does not reassemble either: the guest's DF/PMTU takes care
            return;
        }
        int srcAddr = Ip4.src(s, ip), dstAddr = Ip4.dst(s, ip);
        if (srcAddr != 0 && srcAddr != guest.addr4Seen && !Ip4.isMulticast(srcAddr) && srcAddr != -1) {
            guest.addr4Seen = srcAddr;
        }
        int proto = Ip4.proto(s, ip);
        long l4off = ip + hl;
        int l4len = total - hl;
        if (proto == 17 && l4len >= UdpHdr.LEN && UdpHdr.dstPort(s, l4off) == Dhcp.SERVER_PORT) {
            int ulen = UdpHdr.length(s, l4off);
            if (ulen < UdpHdr.LEN || ulen > l4len) {
                drop(BAD_UDP_LENGTH);
                return;
            }
            if (dhcp.handle(s, off, l4off, ulen)) return;
            if (!conf.noDhcp) return;
        }
        transport(s, off, l4off, l4len, false, 0, Inany.lo4(srcAddr), 0, Inany.lo4(dstAddr), proto, checksumPending);
    }

    private void ip6(MemorySegment s, long off, int len, boolean checksumPending) {
        if (!conf.v6) {
            drop(IPV6_DISABLED);
            return;
        }
        long ip = off + Eth.LEN;
        int avail = len - Eth.LEN;
        if (avail < Ip6.LEN || Ip6.version(s, ip) != 6) {
            drop(SHORT_OR_NON_IPV6_HEADER);
            return;
        }
        int plen = Ip6.payloadLength(s, ip);
        if (plen > avail - Ip6.LEN) {
            drop(BAD_IPV6_PAYLOAD_LENGTH);
            return;
        }
        long ul = Ip6.upperLayer(s, ip, Ip6.LEN + plen);
        if (ul < 0) {
            drop(TRUNCATED_IPV6_EXTENSION_HEADER);
            return;
        }
        int proto = (int) (ul >>> 32);
        int hl = (int) ul;
        long srcHi = Ip6.srcHi(s, ip), srcLo = Ip6.srcLo(s, ip);
        if (Ip6.isLinkLocal(srcHi)) {
            guest.addr6LlSeenHi = srcHi;
            guest.addr6LlSeenLo = srcLo;
        } else if (!Ip6.isUnspecified(srcHi, srcLo) && !Ip6.isMulticast(srcHi)) {
            guest.addr6SeenHi = srcHi;
            guest.addr6SeenLo = srcLo;
        }
        long l4off = ip + hl;
        int l4len = Ip6.LEN + plen - hl;
        if (services6.handle(s, off, ip, l4off, l4len, proto, checksumPending)) return;
        transport(s, off, l4off, l4len, true, srcHi, srcLo, Ip6.dstHi(s, ip), Ip6.dstLo(s, ip), proto, checksumPending);
    }

    /** To the transport of {@code proto}, unless it is switched off (--no-tcp, --no-udp, --no-icmp). */
    private void transport(MemorySegment s, long frame, long l4, int l4Len, boolean v6,
                           long srcHi, long srcLo, long dstHi, long dstLo, int proto, boolean checksumPending) {
        Transport t = switch (proto) {
            case 6 -> conf.noTcp ? null : tcp;
            case 17 -> conf.noUdp ? null : udp;
            case 1 -> v6 || conf.noIcmp ? null : icmp;
            case 58 -> !v6 || conf.noIcmp ? null : icmp;
            default -> null;
        };
        if (t == null) {
            drop(NO_HANDLER_FOR_PROTOCOL);
            return;
        }
        t.packet(s, frame, l4, l4Len, v6, srcHi, srcLo, dstHi, dstLo, checksumPending);
    }

    private void drop(int why) {
        dropped++;
        droppedBy[why]++;
        if (Log.traceEnabled()) Log.trace("dropped frame: " + DROP_REASONS[why]);
    }

    /** Frames dropped for reason {@code why} (one of {@link #DROP_REASONS}' indices). */
    @Override
    public long dropped(int why) {
        return droppedBy[why];
    }

    @Override
    public java.util.List<String> reasons() {
        return java.util.List.of(DROP_REASONS);
    }

    public long dropped() {
        return dropped;
    }
}
