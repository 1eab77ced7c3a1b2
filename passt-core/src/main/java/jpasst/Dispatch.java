package jpasst;

import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
import jpasst.packet.Ip6;
import jpasst.packet.Udp;
import jpasst.proto.Arp;
import jpasst.proto.Dhcp;
import jpasst.tap.Tap;
import jpasst.util.Log;

/**
 * Where every frame from the guest goes first, as passt's tap4_handler/tap6_handler: learn the
 * guest's MAC and address, check the headers (lengths, IPv4 header checksum), then hand the frame
 * to the service that terminates it (ARP, DHCP) or to the flow layer (TCP, UDP, ICMP).
 * Frames that make no sense are counted and dropped; nothing here throws.
 *
 * Hot path: no allocation.
 */
public final class Dispatch implements Tap.Handler {
    /**
     * The flow layer's entry point: a TCP, UDP or ICMP/ICMPv6 packet from the guest, addresses as
     * {@link jpasst.flow.Inany} pairs, {@code l4} the transport header's offset in {@code s}.
     */
    public interface L4 {
        void packet(MemorySegment s, long frame, long l4, int l4Len, boolean v6,
                    long srcHi, long srcLo, long dstHi, long dstLo, int proto);

        void guestGone();

        /** The frames of one tap read are all in (see {@link Tap.Handler#framesDone}). */
        default void framesDone() {}
    }

    /** IPv6 services terminated here (NDP, DHCPv6): true if the packet was theirs. */
    public interface Local6 {
        boolean handle(MemorySegment s, long frame, long ip6, long l4, int l4Len, int proto);
    }

    private final Conf conf;
    private final Arp arp;
    private final Dhcp dhcp;
    private L4 l4;
    private Local6 local6;
    private long dropped;

    public Dispatch(Conf conf, Arp arp, Dhcp dhcp) {
        this.conf = conf;
        this.arp = arp;
        this.dhcp = dhcp;
    }

    public void l4(L4 l4) {
        this.l4 = l4;
    }

    public void local6(Local6 local6) {
        this.local6 = local6;
    }

    @Override
    public void frame(MemorySegment s, long off, int len) {
        long src = Eth.src(s, off);
        if ((src & 0x0100_0000_0000L) == 0 && src != conf.guestMac) {
            conf.guestMac = src;
            if (Log.debugEnabled()) Log.debug("Guest MAC address: " + jpasst.packet.Net.macString(src));
        }
        switch (Eth.type(s, off)) {
            case Eth.TYPE_ARP -> {
                if (conf.v4) arp.handle(s, off, len);
            }
            case Eth.TYPE_IPV4 -> ip4(s, off, len);
            case Eth.TYPE_IPV6 -> ip6(s, off, len);
            default -> drop("unhandled EtherType");
        }
    }

    private void ip4(MemorySegment s, long off, int len) {
        if (!conf.v4) {
            drop("IPv4 disabled");
            return;
        }
        long ip = off + Eth.LEN;
        int avail = len - Eth.LEN;
        if (avail < Ip4.MIN_LEN || Ip4.version(s, ip) != 4) {
            drop("short or non-IPv4 header");
            return;
        }
        int hl = Ip4.headerLength(s, ip);
        int total = Ip4.totalLength(s, ip);
        if (hl < Ip4.MIN_LEN || total < hl || total > avail) {
            drop("bad IPv4 lengths");
            return;
        }
        if (!Ip4.checksumOk(s, ip)) {
            drop("bad IPv4 header checksum");
            return;
        }
        if (Ip4.isFragment(s, ip)) {
            drop("IPv4 fragment"); // passt does not reassemble either: the guest's DF/PMTU takes care
            return;
        }
        int srcAddr = Ip4.src(s, ip), dstAddr = Ip4.dst(s, ip);
        if (srcAddr != 0 && srcAddr != conf.addr4Seen && !Ip4.isMulticast(srcAddr) && srcAddr != -1) {
            conf.addr4Seen = srcAddr;
        }
        int proto = Ip4.proto(s, ip);
        long l4off = ip + hl;
        int l4len = total - hl;
        if (proto == 17 && l4len >= Udp.LEN && Udp.dstPort(s, l4off) == Dhcp.SERVER_PORT) {
            int ulen = Udp.length(s, l4off);
            if (ulen < Udp.LEN || ulen > l4len) {
                drop("bad UDP length");
                return;
            }
            if (dhcp.handle(s, off, l4off, ulen)) return;
            if (!conf.noDhcp) return;
        }
        if (l4 != null) {
            l4.packet(s, off, l4off, l4len, false, 0, jpasst.flow.Inany.lo4(srcAddr),
                    0, jpasst.flow.Inany.lo4(dstAddr), proto);
        } else {
            drop("no handler for IPv4 protocol");
        }
    }

    private void ip6(MemorySegment s, long off, int len) {
        if (!conf.v6) {
            drop("IPv6 disabled");
            return;
        }
        long ip = off + Eth.LEN;
        int avail = len - Eth.LEN;
        if (avail < Ip6.LEN || Ip6.version(s, ip) != 6) {
            drop("short or non-IPv6 header");
            return;
        }
        int plen = Ip6.payloadLength(s, ip);
        if (plen > avail - Ip6.LEN) {
            drop("bad IPv6 payload length");
            return;
        }
        long ul = Ip6.upperLayer(s, ip, Ip6.LEN + plen);
        if (ul < 0) {
            drop("truncated IPv6 extension header");
            return;
        }
        int proto = (int) (ul >>> 32);
        int hl = (int) ul;
        long srcHi = Ip6.srcHi(s, ip), srcLo = Ip6.srcLo(s, ip);
        if (Ip6.isLinkLocal(srcHi)) {
            conf.addr6LlSeenHi = srcHi;
            conf.addr6LlSeenLo = srcLo;
        } else if (!Ip6.isUnspecified(srcHi, srcLo) && !Ip6.isMulticast(srcHi)) {
            conf.addr6SeenHi = srcHi;
            conf.addr6SeenLo = srcLo;
        }
        long l4off = ip + hl;
        int l4len = Ip6.LEN + plen - hl;
        if (local6 != null && local6.handle(s, off, ip, l4off, l4len, proto)) return;
        if (l4 != null) {
            l4.packet(s, off, l4off, l4len, true, srcHi, srcLo, Ip6.dstHi(s, ip), Ip6.dstLo(s, ip), proto);
        } else {
            drop("no handler for IPv6 protocol");
        }
    }

    @Override
    public void guestGone() {
        if (l4 != null) l4.guestGone();
    }

    @Override
    public void framesDone() {
        if (l4 != null) l4.framesDone();
    }

    private void drop(String why) {
        dropped++;
        if (Log.traceEnabled()) Log.trace("dropped frame: " + why);
    }

    public long dropped() {
        return dropped;
    }
}
