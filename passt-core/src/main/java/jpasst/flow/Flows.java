package jpasst.flow;

import java.lang.foreign.MemorySegment;

import jpasst.Dispatch;
import jpasst.conf.Conf;
import jpasst.util.Log;

/**
 * The flow layer's front door: packets from the guest go to the handler of their transport
 * (TCP, UDP, ICMP/ICMPv6), and the address translations that all of them share live here.
 *
 * passt keeps no NAT state: the guest uses the host's own address, a flow's host socket talks to
 * the destination the guest named, and only one translation exists — the gateway's address
 * stands for the host itself, so traffic to it goes to the host's loopback (127.0.0.1 or ::1),
 * and traffic from the host's loopback appears to come from the gateway. --no-map-gw turns it off.
 *
 * Hot path: no allocation.
 */
public final class Flows implements Dispatch.L4 {
    /** One transport's handler. */
    public interface Proto {
        void packet(MemorySegment s, long frame, long l4, int l4Len, boolean v6,
                    long srcHi, long srcLo, long dstHi, long dstLo);

        /** The guest went away: close every flow. */
        void guestGone();
    }

    public static final long LOOPBACK4_LO = Inany.lo4(0x7f000001);

    private final Conf conf;
    private Proto tcp, udp, icmp, icmp6;
    private long unhandled;

    public Flows(Conf conf) {
        this.conf = conf;
    }

    public void tcp(Proto p) {
        tcp = p;
    }

    public void udp(Proto p) {
        udp = p;
    }

    public void icmp(Proto p) {
        icmp = p;
    }

    public void icmp6(Proto p) {
        icmp6 = p;
    }

    @Override
    public void packet(MemorySegment s, long frame, long l4, int l4Len, boolean v6,
                       long srcHi, long srcLo, long dstHi, long dstLo, int proto) {
        Proto p = switch (proto) {
            case 6 -> conf.noTcp ? null : tcp;
            case 17 -> conf.noUdp ? null : udp;
            case 1 -> v6 || conf.noIcmp ? null : icmp;
            case 58 -> !v6 || conf.noIcmp ? null : icmp6;
            default -> null;
        };
        if (p == null) {
            unhandled++;
            if (Log.traceEnabled()) Log.trace("no handler for protocol " + proto);
            return;
        }
        p.packet(s, frame, l4, l4Len, v6, srcHi, srcLo, dstHi, dstLo);
    }

    @Override
    public void guestGone() {
        if (tcp != null) tcp.guestGone();
        if (udp != null) udp.guestGone();
        if (icmp != null) icmp.guestGone();
        if (icmp6 != null) icmp6.guestGone();
    }

    /** Whether the guest-side destination is the gateway, which stands for the host. */
    public boolean isGateway(long hi, long lo) {
        if (conf.noMapGw) return false;
        if (Inany.isV4(hi, lo)) return conf.gw4 != 0 && Inany.v4(lo) == conf.gw4;
        return (hi == conf.gw6Hi && lo == conf.gw6Lo && (hi | lo) != 0)
                || (hi == conf.ourLl6Hi && lo == conf.ourLl6Lo && (hi | lo) != 0);
    }

    /** High half of the host-side address for a guest-side destination (gateway → loopback). */
    public long hostHi(long hi, long lo) {
        return isGateway(hi, lo) ? 0 : hi;
    }

    /** Low half of the host-side address for a guest-side destination (gateway → loopback). */
    public long hostLo(long hi, long lo) {
        if (!isGateway(hi, lo)) return lo;
        return Inany.isV4(hi, lo) ? LOOPBACK4_LO : 1;
    }

    /** High half of the guest-side source for a host-side peer (loopback → gateway). */
    public long guestHi(long hi, long lo) {
        if (conf.noMapGw) return hi;
        if (Inany.isV4(hi, lo) && (Inany.v4(lo) >>> 24) == 127) return 0;
        if (hi == 0 && lo == 1) return conf.gw6Hi != 0 ? conf.gw6Hi : conf.ourLl6Hi;
        return hi;
    }

    /** Low half of the guest-side source for a host-side peer (loopback → gateway). */
    public long guestLo(long hi, long lo) {
        if (conf.noMapGw) return lo;
        if (Inany.isV4(hi, lo) && (Inany.v4(lo) >>> 24) == 127) return Inany.lo4(conf.gw4);
        if (hi == 0 && lo == 1) return conf.gw6Hi != 0 ? conf.gw6Lo : conf.ourLl6Lo;
        return lo;
    }

    /** The guest's address of the given family, as seen on its frames, else as configured. */
    public long guestAddrHi(boolean v6) {
        if (!v6) return 0;
        return (conf.addr6SeenHi | conf.addr6SeenLo) != 0 ? conf.addr6SeenHi : conf.addr6Hi;
    }

    public long guestAddrLo(boolean v6) {
        if (!v6) return Inany.lo4(conf.addr4Seen != 0 ? conf.addr4Seen : conf.addr4);
        return (conf.addr6SeenHi | conf.addr6SeenLo) != 0 ? conf.addr6SeenLo : conf.addr6Lo;
    }

    public long unhandled() {
        return unhandled;
    }
}
