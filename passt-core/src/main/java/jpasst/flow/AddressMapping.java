package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.link.Guest;
import jpasst.packet.Inany;
import jpasst.packet.Ip4;
import jpasst.sys.Errno;
import jpasst.sys.Sockets;
import jpasst.util.Log;

/**
 * Where a flow goes, as passt's fwd.c: the address translations that TCP, UDP and ICMP share.
 *
 * passt keeps no NAT state: the guest uses the host's own address and a flow's host socket talks
 * to the destination the guest named, but for two address translations (passt's nat_outbound()
 * and nat_inbound()). The host-loopback address (--map-host-loopback, by default the gateway's;
 * none with --no-map-gw) stands for the host itself: traffic to it goes to the host's loopback
 * (127.0.0.1 or ::1), and traffic from the host's loopback appears to come from it. The
 * --map-guest-addr address (none by default) stands for the guest's own address as the host
 * knows it, so the guest reaches services on the host's address that its own shadows. DNS to
 * the --dns-forward address (TCP or UDP, port 53 or 853) goes to the host's resolver.
 *
 * Hot path: no allocation.
 */
public final class AddressMapping {
    public static final long LOOPBACK4_LO = Inany.lo4(0x7f000001);

    private final Conf conf;
    private final Guest guest;
    private final MemorySegment outboundIf4, outboundIf6; // C strings, null if not given

    public AddressMapping(Conf conf, Guest guest) {
        this.conf = conf;
        this.guest = guest;
        this.outboundIf4 = conf.outboundIf4 == null ? null : Arena.ofAuto().allocateFrom(conf.outboundIf4);
        this.outboundIf6 = conf.outboundIf6 == null ? null : Arena.ofAuto().allocateFrom(conf.outboundIf6);
    }

    /**
     * --outbound-if4/--outbound-if6: binds a new host socket for a guest flow to that interface
     * (SO_BINDTODEVICE, unprivileged since Linux 5.7), unless it goes to the host's loopback,
     * which is not behind any outbound interface. {@code hi}/{@code lo}: the host-side destination.
     */
    public void bindOutboundDevice(int fd, long hi, long lo) {
        boolean v4 = Inany.isV4(hi, lo);
        MemorySegment name = v4 ? outboundIf4 : outboundIf6;
        if (name == null) return;
        if (v4 ? (Inany.v4(lo) >>> 24) == 127 : hi == 0 && lo == 1) return;
        int r = Sockets.setsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_BINDTODEVICE, name, (int) name.byteSize());
        if (r < 0 && Log.debugEnabled()) {
            Log.debug("Can't bind outbound socket to " + (v4 ? conf.outboundIf4 : conf.outboundIf6) + ": " + Errno.text(r));
        }
    }

    /**
     * Whether the guest-side destination stands for the host itself: the --map-host-loopback
     * address, by default the gateway's (none with --no-map-gw or --map-host-loopback none).
     * jpasst also takes its own link-local address (fe80::1 when the gateway is not link-local)
     * for the host while the IPv6 mapping is the default one.
     */
    public boolean isGateway(long hi, long lo) {
        if (Inany.isV4(hi, lo)) {
            int a = Inany.v4(lo);
            return a != 0 && a == conf.hostLoopbackMap4();
        }
        if ((hi | lo) == 0) return false;
        long mHi = conf.hostLoopbackMap6Hi(), mLo = conf.hostLoopbackMap6Lo();
        if ((mHi | mLo) != 0 && hi == mHi && lo == mLo) return true;
        return !conf.noMapGw && !conf.mapHostLoopback6Given() && hi == conf.ourLl6Hi && lo == conf.ourLl6Lo;
    }

    /** Whether the guest-side destination is the --map-guest-addr address of its family. */
    private boolean isGuestAddrMap(long hi, long lo) {
        if (Inany.isV4(hi, lo)) {
            int a = Inany.v4(lo);
            return a != 0 && a == conf.mapGuestAddr4;
        }
        return (conf.mapGuestAddr6Hi | conf.mapGuestAddr6Lo) != 0
                && hi == conf.mapGuestAddr6Hi && lo == conf.mapGuestAddr6Lo;
    }

    /**
     * Destinations a guest may not name itself: the host's loopback (127.0.0.0/8, ::1) and the
     * unspecified address, which a host socket would take for the host itself. The host is
     * reached only through the mapped address (the gateway's, or --map-host-loopback's), so
     * --no-map-gw really closes that door. Current passt refuses these too; passt 2023 did not.
     */
    public boolean forbiddenDestination(long hi, long lo) {
        if (Inany.isV4(hi, lo)) {
            int a = Inany.v4(lo);
            return (a >>> 24) == 127 || a == 0;
        }
        return hi == 0 && (lo == 0 || lo == 1);
    }

    /**
     * High half of the host-side address for a guest-side destination, as passt's
     * nat_outbound(): the host-loopback address becomes 127.0.0.1 or ::1, the --map-guest-addr
     * address becomes the guest's assigned address (by default the host's own), anything else
     * stays as it is.
     */
    public long hostHi(long hi, long lo) {
        if (isGateway(hi, lo)) return 0;
        if (isGuestAddrMap(hi, lo)) return Inany.isV4(hi, lo) ? 0 : conf.addr6Hi;
        return hi;
    }

    /** Low half of the host-side address for a guest-side destination: see {@link #hostHi}. */
    public long hostLo(long hi, long lo) {
        if (isGateway(hi, lo)) return Inany.isV4(hi, lo) ? LOOPBACK4_LO : 1;
        if (isGuestAddrMap(hi, lo)) return Inany.isV4(hi, lo) ? Inany.lo4(conf.addr4) : conf.addr6Lo;
        return lo;
    }

    /**
     * High half of where a guest's TCP or UDP flow to this destination and port goes on the
     * host, as passt's fwd_nat_from_tap(): DNS (port 53, or 853 for DNS over TLS) to the
     * --dns-forward address goes to the host's resolver, anything else as {@link #hostHi}.
     */
    public long targetHi(long hi, long lo, int port) {
        return dnsForwarded(hi, lo, port) ? dnsHostHi(Inany.isV4(hi, lo)) : hostHi(hi, lo);
    }

    /** Low half of where a guest's TCP or UDP flow goes on the host: see {@link #targetHi}. */
    public long targetLo(long hi, long lo, int port) {
        return dnsForwarded(hi, lo, port) ? dnsHostLo(Inany.isV4(hi, lo)) : hostLo(hi, lo);
    }

    /**
     * Whether a TCP or UDP flow to this destination and port goes to the host's resolver
     * (--dns-forward; without it, passt forwards queries to the gateway when the host's resolver
     * is a loopback one, handed out as the gateway), as passt's is_dns_flow().
     */
    boolean dnsForwarded(long hi, long lo, int port) {
        if (port != 53 && port != 853) return false;
        if (Inany.isV4(hi, lo)) {
            if (conf.dnsHost4 == 0) return false;
            int a = Inany.v4(lo);
            if (conf.dnsMatch4 != 0) return a == conf.dnsMatch4;
            return Ip4.isLoopback(conf.dnsHost4) && !conf.noMapGw && conf.gw4 != 0 && a == conf.gw4;
        }
        if ((conf.dnsMatch6Hi | conf.dnsMatch6Lo) == 0) return false;
        return hi == conf.dnsMatch6Hi && lo == conf.dnsMatch6Lo && (dnsHostHi(false) | dnsHostLo(false)) != 0;
    }

    /** The host's resolver that forwarded DNS goes to: --dns-host, else the first of resolv.conf. */
    private long dnsHostHi(boolean v4) {
        if (v4) return 0;
        if ((conf.dnsHost6Hi | conf.dnsHost6Lo) != 0) return conf.dnsHost6Hi;
        return conf.dns6.length >= 2 ? hostHi(conf.dns6[0], conf.dns6[1]) : 0;
    }

    private long dnsHostLo(boolean v4) {
        if (v4) return Inany.lo4(conf.dnsHost4);
        if ((conf.dnsHost6Hi | conf.dnsHost6Lo) != 0) return conf.dnsHost6Lo;
        return conf.dns6.length >= 2 ? hostLo(conf.dns6[0], conf.dns6[1]) : 0;
    }

    /** Whether --map-guest-addr gave an address of this family. */
    public boolean guestAddrMapped(boolean v6) {
        return v6 ? (conf.mapGuestAddr6Hi | conf.mapGuestAddr6Lo) != 0 : conf.mapGuestAddr4 != 0;
    }

    // what a host-side source address becomes on the guest side (passt's nat_inbound())
    private static final int SAME = 0, HOST_LOOPBACK4 = 1, HOST_LOOPBACK6 = 2, GUEST_ADDR4 = 3,
            GUEST_ADDR6 = 4, OUR_ADDR4 = 5, OUR_LL6 = 6;

    /**
     * passt's nat_inbound(): 127.0.0.1 (::1) appears as the host-loopback address; the guest's
     * assigned address (the host's own, by default) as the --map-guest-addr address if there is
     * one; addresses the guest can reach as they are stay; anything else (other loopback
     * addresses, the unspecified address, the guest's own address) appears as our address on the
     * link: the gateway's for IPv4, our link-local one for IPv6.
     */
    private int inbound(long hi, long lo) {
        if (Inany.isV4(hi, lo)) {
            int a = Inany.v4(lo);
            if (a == 0x7f000001 && conf.hostLoopbackMap4() != 0) return HOST_LOOPBACK4;
            if (conf.mapGuestAddr4 != 0 && a == conf.addr4) return GUEST_ADDR4;
            if ((a >>> 24) != 127 && a != 0 && a != conf.addr4 && a != guest.addr4Seen) return SAME;
            return conf.gw4 != 0 ? OUR_ADDR4 : SAME;
        }
        boolean loopback = hi == 0 && lo == 1;
        if (loopback && (conf.hostLoopbackMap6Hi() | conf.hostLoopbackMap6Lo()) != 0) return HOST_LOOPBACK6;
        boolean assigned = hi == conf.addr6Hi && lo == conf.addr6Lo;
        if (assigned && (conf.mapGuestAddr6Hi | conf.mapGuestAddr6Lo) != 0) return GUEST_ADDR6;
        boolean seen = guest.addr6Seen() && hi == guest.addr6SeenHi && lo == guest.addr6SeenLo;
        if (!loopback && !assigned && !seen) return SAME;
        return (conf.ourLl6Hi | conf.ourLl6Lo) != 0 ? OUR_LL6 : SAME;
    }

    /** High half of the guest-side source for a host-side peer: see {@link #inbound}. */
    public long guestHi(long hi, long lo) {
        return switch (inbound(hi, lo)) {
            case HOST_LOOPBACK4, GUEST_ADDR4, OUR_ADDR4 -> 0;
            case HOST_LOOPBACK6 -> conf.hostLoopbackMap6Hi();
            case GUEST_ADDR6 -> conf.mapGuestAddr6Hi;
            case OUR_LL6 -> conf.ourLl6Hi;
            default -> hi;
        };
    }

    /** Low half of the guest-side source for a host-side peer: see {@link #inbound}. */
    public long guestLo(long hi, long lo) {
        return switch (inbound(hi, lo)) {
            case HOST_LOOPBACK4 -> Inany.lo4(conf.hostLoopbackMap4());
            case GUEST_ADDR4 -> Inany.lo4(conf.mapGuestAddr4);
            case OUR_ADDR4 -> Inany.lo4(conf.gw4);
            case HOST_LOOPBACK6 -> conf.hostLoopbackMap6Lo();
            case GUEST_ADDR6 -> conf.mapGuestAddr6Lo;
            case OUR_LL6 -> conf.ourLl6Lo;
            default -> lo;
        };
    }

    /**
     * The guest's address of the given family, as seen on its frames, else as configured; for
     * IPv6 in local mode (no address configured), the link-local one it uses.
     */
    public long guestAddrHi(boolean v6) {
        if (!v6) return 0;
        if (guest.addr6Seen()) return guest.addr6SeenHi;
        return conf.addr6Given() ? conf.addr6Hi : guest.addr6LlSeenHi;
    }

    public long guestAddrLo(boolean v6) {
        if (!v6) return Inany.lo4(guest.addr4Seen != 0 ? guest.addr4Seen : conf.addr4);
        if (guest.addr6Seen()) return guest.addr6SeenLo;
        return conf.addr6Given() ? conf.addr6Lo : guest.addr6LlSeenLo;
    }
}
