package jpasst.proto;

import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.packet.IcmpHdr;
import jpasst.packet.Ip6;
import jpasst.packet.UdpHdr;
import jpasst.util.Log;

/**
 * The IPv6 control plane's front door, as the ICMPv6 and UDP branches of passt's tap6_handler:
 * Neighbor Discovery (ICMPv6 types 133–137) goes to {@link Ndp}, DHCPv6 (UDP to port 547 at a
 * multicast address) to {@link Dhcpv6}; everything else goes on to the flow layer. Checksums are
 * verified here (the ICMPv6 one always, the UDP one is mandatory over IPv6: zero is wrong too);
 * a packet that fails, or makes no sense, is counted and dropped, never answered.
 *
 * With --no-ndp, Neighbor Discovery messages are swallowed unanswered; with --no-dhcpv6, so are
 * DHCPv6 messages to the servers' multicast group, as passt does: they are link-local and the
 * host has nobody to forward them to. A datagram to port 547 at a unicast address is not ours
 * (we never tell clients to unicast) and goes to the flow layer like any other.
 *
 * Hot path: no allocation.
 */
public final class Services6 {
    private final Conf conf;
    private final Ndp ndp;
    private final Dhcpv6 dhcpv6;
    private long dropped;

    public Services6(Conf conf, Ndp ndp, Dhcpv6 dhcpv6) {
        this.conf = conf;
        this.ndp = ndp;
        this.dhcpv6 = dhcpv6;
    }

    /** An IPv6 packet from the guest: true if it was NDP's or DHCPv6's (answered or dropped here). */
    /** The guest's first frame with its MAC, after it connected (or a new MAC). */
    public void guestSeen() {
        ndp.guestSeen();
    }

    public boolean handle(MemorySegment s, long frame, long ip6, long l4, int l4Len, int proto, boolean checksumPending) {
        if (proto == 58) return icmp6(s, frame, ip6, l4, l4Len, checksumPending);
        if (proto == 17 && l4Len >= UdpHdr.LEN && UdpHdr.dstPort(s, l4) == Dhcpv6.SERVER_PORT
                && Ip6.isMulticast(Ip6.dstHi(s, ip6))) {
            return dhcpv6(s, frame, ip6, l4, l4Len, checksumPending);
        }
        return false;
    }

    private boolean icmp6(MemorySegment s, long frame, long ip6, long l4, int len, boolean checksumPending) {
        if (len < 4) return drop("truncated ICMPv6 header");
        int type = IcmpHdr.type(s, l4);
        if (type < IcmpHdr.V6_ROUTER_SOLICIT || type > jpasst.packet.Nd.TYPE_REDIRECT) return false;
        if (!checksumPending && !IcmpHdr.checksumOk6(s, l4, len, Ip6.srcHi(s, ip6), Ip6.srcLo(s, ip6),
                Ip6.dstHi(s, ip6), Ip6.dstLo(s, ip6))) {
            return drop("bad ICMPv6 checksum");
        }
        if (!conf.noNdp) ndp.handle(s, frame, ip6, l4, len);
        return true;
    }

    private boolean dhcpv6(MemorySegment s, long frame, long ip6, long udp, int l4Len, boolean checksumPending) {
        int udpLen = UdpHdr.length(s, udp);
        if (udpLen < UdpHdr.LEN || udpLen > l4Len) return drop("bad UDP length");
        if (!checksumPending && !UdpHdr.checksumOk6(s, udp, udpLen, Ip6.srcHi(s, ip6), Ip6.srcLo(s, ip6),
                Ip6.dstHi(s, ip6), Ip6.dstLo(s, ip6))) {
            return drop("bad UDP checksum");
        }
        if (!conf.noDhcpv6) dhcpv6.handle(s, frame, ip6, udp, udpLen);
        return true;
    }

    private boolean drop(String why) {
        dropped++;
        if (Log.debugEnabled()) Log.debug("IPv6: " + why + ", dropped");
        return true;
    }

    public long dropped() {
        return dropped;
    }
}
