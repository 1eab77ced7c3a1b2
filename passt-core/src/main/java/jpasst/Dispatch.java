package jpasst;

import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
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
    /** The flow layer's entry points, one per transport. */
    public interface L4 {
        /** An IPv4 packet of protocol {@code proto}; {@code l4} is the transport header's offset. */
        void ip4(MemorySegment s, long frame, long l4, int l4Len, int src, int dst, int proto);

        void guestGone();
    }

    private final Conf conf;
    private final Arp arp;
    private final Dhcp dhcp;
    private L4 l4;
    private long dropped;

    public Dispatch(Conf conf, Arp arp, Dhcp dhcp) {
        this.conf = conf;
        this.arp = arp;
        this.dhcp = dhcp;
    }

    public void l4(L4 l4) {
        this.l4 = l4;
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
        if (l4 != null) l4.ip4(s, off, l4off, l4len, srcAddr, dstAddr, proto);
        else drop("no handler for IPv4 protocol");
    }

    @Override
    public void guestGone() {
        if (l4 != null) l4.guestGone();
    }

    private void drop(String why) {
        dropped++;
        if (Log.traceEnabled()) Log.trace("dropped frame: " + why);
    }

    public long dropped() {
        return dropped;
    }
}
