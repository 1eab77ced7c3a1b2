package jpasst.proto;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.concurrent.ThreadLocalRandom;

import jpasst.conf.Conf;
import jpasst.link.FrameWriter;
import jpasst.link.Guest;
import jpasst.link.Link;
import jpasst.loop.EventLoop;
import jpasst.packet.Eth;
import jpasst.packet.IcmpHdr;
import jpasst.packet.Ip6;
import jpasst.packet.Nd;
import jpasst.packet.Net;
import jpasst.sys.SockAddr;
import jpasst.util.Log;

/**
 * Neighbor Discovery (RFC 4861), answered by the daemon as passt's ndp.c does. The guest is alone
 * on its link with us, and we are its router: every neighbour it looks for is us.
 *
 * <ul>
 * <li>A Neighbor Solicitation gets a Neighbor Advertisement (Router, Solicited and Override set)
 * carrying our MAC, for any target but the guest's own addresses. Duplicate address detection
 * (unspecified source) gets no answer, so the guest's addresses stay its own.
 * <li>A Router Solicitation gets a Router Advertisement: Managed flag (addresses come from
 * DHCPv6 too), router lifetime 65535 s (RFC 8319), the first 64 bits of the host's address as an
 * on-link, autonomous /64 prefix with infinite lifetimes (so the guest forms a SLAAC address in
 * the host's prefix), our MAC, the MTU, the host's IPv6 resolvers (RDNSS) and search list (DNSSL,
 * RFC 8106), all with infinite lifetimes. The guest's default route points at our link-local
 * address, the source of every NDP message we send.
 * <li>Unsolicited RAs to all nodes, every 200–600 s at random (RFC 4861 6.2.1 with passt's
 * MaxRtrAdvInterval of 600 s), once a guest is connected and has shown its MAC; the first one
 * comes one interval after that, as with passt (the guest's own solicitations come first).
 * </ul>
 *
 * Messages are validated as RFC 4861 6.1.1/7.1.1 require (hop limit 255, code 0, length, options
 * of non-zero length within the message; the checksum is checked by {@link Services6}); anything
 * else is dropped. Where jpasst differs from passt, on purpose: a solicitation for the guest's own
 * address is not answered (as with ARP); an NS for a multicast target is dropped; an RS from the
 * unspecified address is answered to all nodes (passt would send it to ::); RAs to ff02::1 go to
 * the all-nodes Ethernet group 33:33:00:00:00:01 (RFC 2464), not to the guest's unicast MAC; and
 * the DNSSL option goes out whenever there is a search list, with or without IPv6 resolvers
 * (passt sends it only along with RDNSS, but hands the list out over DHCPv6 in either case).
 *
 * Hot path: the RA is encoded once at start-up (it never changes) and copied into the frame
 * reserved for it; answers allocate nothing.
 */
public final class Ndp {
    public static final int ROUTER_LIFETIME = 65535;
    /** RFC 4861 6.2.1 MaxRtrAdvInterval default, and passt's. */
    static final long MAX_RTR_ADV_INTERVAL_NS = 600_000_000_000L;
    /** RFC 4861 10: MIN_DELAY_BETWEEN_RAS. */
    static final long MIN_DELAY_BETWEEN_RAS_NS = 3_000_000_000L;
    static final int NA_LEN = Nd.NA_OPTIONS + Nd.OPT_UNIT;

    private final Conf conf;
    private final Guest guest;
    private final FrameWriter frames;
    private final Link link;
    private final EventLoop loop;
    private final byte[] ra;
    // RFC 4861's intervals; tests shorten them, on the loop's thread (see #intervals)
    private long minIntervalNs = Math.max(MAX_RTR_ADV_INTERVAL_NS / 3, MIN_DELAY_BETWEEN_RAS_NS);
    private long maxIntervalNs = MAX_RTR_ADV_INTERVAL_NS;
    private long nextRa;
    private boolean armed;
    private long nas, ras, unsolicitedRas, dropped;

    public Ndp(Conf conf, Guest guest, FrameWriter frames, Link link, EventLoop loop) {
        this.conf = conf;
        this.guest = guest;
        this.frames = frames;
        this.link = link;
        this.loop = loop;
        this.ra = encodeRa(conf);
    }

    /** The Router Advertisement, from the ICMPv6 header on, checksum zero. */
    static byte[] encodeRa(Conf c) {
        byte[] search = c.noDhcpSearch || c.search.isEmpty() ? new byte[0]
                : DnsNames.encodeListUncompressed(c.search, 255 * Nd.OPT_UNIT - 8);
        int dns = c.noDhcpDns ? 0 : Math.min(3, c.dns6.length / 2);
        int dnsslUnits = search.length == 0 ? 0 : (8 + search.length + Nd.OPT_UNIT - 1) / Nd.OPT_UNIT;
        // local mode (no IPv6 address on the host): no prefix to take an address from, and none
        // to ask DHCPv6 for; the guest keeps its link-local address and has us as its router
        boolean prefix = c.addr6Given();
        int len = Nd.RA_OPTIONS + (prefix ? Nd.PREFIX_OPT_LEN : 0) + Nd.OPT_UNIT
                + (c.mtu != 0 ? Nd.OPT_UNIT : 0)
                + (dns > 0 ? 8 + 16 * dns : 0)
                + dnsslUnits * Nd.OPT_UNIT;
        ByteBuffer b = ByteBuffer.allocate(len);
        b.put((byte) IcmpHdr.V6_ROUTER_ADVERT).put((byte) 0).putShort((short) 0);
        b.put((byte) 255);                               // current hop limit, as passt
        b.put((byte) (prefix ? Nd.RA_FLAG_MANAGED : 0));
        b.putShort((short) ROUTER_LIFETIME);
        b.putInt(0).putInt(0);                           // reachable time, retransmission timer
        if (prefix) {
            b.put((byte) Nd.OPT_PREFIX).put((byte) 4).put((byte) 64)
                    .put((byte) (Nd.PREFIX_FLAG_ON_LINK | Nd.PREFIX_FLAG_AUTONOMOUS))
                    .putInt(-1).putInt(-1).putInt(0)     // valid, preferred: infinite; reserved
                    .putLong(c.addr6Hi).putLong(0);      // the host's /64
        }
        b.put((byte) Nd.OPT_SOURCE_LL).put((byte) 1);
        b.putShort((short) (c.ourMac >>> 32)).putInt((int) c.ourMac);
        if (c.mtu != 0) {
            b.put((byte) Nd.OPT_MTU).put((byte) 1).putShort((short) 0).putInt(c.mtu);
        }
        if (dns > 0) {
            b.put((byte) Nd.OPT_RDNSS).put((byte) (1 + 2 * dns)).putShort((short) 0).putInt(-1);
            for (int i = 0; i < dns; i++) b.putLong(c.dns6[2 * i]).putLong(c.dns6[2 * i + 1]);
        }
        if (dnsslUnits > 0) {
            b.put((byte) Nd.OPT_DNSSL).put((byte) dnsslUnits).putShort((short) 0).putInt(-1);
            b.put(search);                               // zero padding: the buffer is zeroed
        }
        return b.array();
    }

    /**
     * Handles a Neighbor Discovery message from the guest (ICMPv6 types 133–137) whose checksum
     * is right: {@code icmp} the ICMPv6 header's offset, {@code len} the message length.
     */
    public void handle(MemorySegment s, long frame, long ip6, long icmp, int len) {
        if (Ip6.hopLimit(s, ip6) != 255) {
            drop("hop limit not 255: not from the link");
            return;
        }
        if (IcmpHdr.code(s, icmp) != 0) {
            drop("non-zero code");
            return;
        }
        switch (IcmpHdr.type(s, icmp)) {
            case IcmpHdr.V6_NEIGHBOR_SOLICIT -> ns(s, frame, ip6, icmp, len);
            case IcmpHdr.V6_ROUTER_SOLICIT -> rs(s, frame, ip6, icmp, len);
            default -> { } // advertisements and redirects from the guest: nothing to do
        }
    }

    private void ns(MemorySegment s, long frame, long ip6, long icmp, int len) {
        if (len < Nd.NS_OPTIONS) {
            drop("short neighbor solicitation");
            return;
        }
        long tHi = Nd.targetHi(s, icmp), tLo = Nd.targetLo(s, icmp);
        if (Ip6.isMulticast(tHi)) {
            drop("neighbor solicitation for a multicast target");
            return;
        }
        long opts = Nd.options(s, icmp + Nd.NS_OPTIONS, icmp + len);
        if (opts < 0) {
            drop("bad neighbor solicitation option");
            return;
        }
        long srcHi = Ip6.srcHi(s, ip6), srcLo = Ip6.srcLo(s, ip6);
        if (Ip6.isUnspecified(srcHi, srcLo)) {
            return; // duplicate address detection: silence means the address is free
        }
        if (isGuests(tHi, tLo)) {
            return;
        }
        long f = frames.reserve(true, NA_LEN);
        if (f < 0) return;
        MemorySegment o = frames.out();
        long p = FrameWriter.l4(f, true);
        Net.u8(o, p + IcmpHdr.TYPE, IcmpHdr.V6_NEIGHBOR_ADVERT);
        Net.u8(o, p + IcmpHdr.CODE, 0);
        Net.i32(o, p + Nd.NA_FLAGS,
                (Nd.NA_FLAG_ROUTER | Nd.NA_FLAG_SOLICITED | Nd.NA_FLAG_OVERRIDE) << 24);
        Net.i64(o, p + Nd.TARGET, tHi);
        Net.i64(o, p + Nd.TARGET + 8, tLo);
        Net.u8(o, p + Nd.NA_OPTIONS, Nd.OPT_TARGET_LL);
        Net.u8(o, p + Nd.NA_OPTIONS + 1, 1);
        Net.mac(o, p + Nd.NA_OPTIONS + 2, conf.ourMac);
        IcmpHdr.checksum6(o, p, NA_LEN, conf.ourLl6Hi, conf.ourLl6Lo, srcHi, srcLo);
        frames.commit(f, Eth.src(s, frame), true, conf.ourLl6Hi, conf.ourLl6Lo, srcHi, srcLo,
                58, NA_LEN, 255);
        nas++;
        if (Log.traceEnabled()) {
            Log.trace("NDP: " + SockAddr.ip6String(tHi, tLo) + " is at " + Net.macString(conf.ourMac));
        }
    }

    private boolean isGuests(long hi, long lo) {
        return (hi == conf.addr6Hi && lo == conf.addr6Lo)
                || (hi == guest.addr6SeenHi && lo == guest.addr6SeenLo)
                || (hi == guest.addr6LlSeenHi && lo == guest.addr6LlSeenLo);
    }

    private void rs(MemorySegment s, long frame, long ip6, long icmp, int len) {
        if (len < Nd.RS_OPTIONS) {
            drop("short router solicitation");
            return;
        }
        long opts = Nd.options(s, icmp + Nd.RS_OPTIONS, icmp + len);
        long srcHi = Ip6.srcHi(s, ip6), srcLo = Ip6.srcLo(s, ip6);
        boolean unspecified = Ip6.isUnspecified(srcHi, srcLo);
        if (opts < 0 || unspecified && (opts & 1L << Nd.OPT_SOURCE_LL) != 0) {
            drop("bad router solicitation option");
            return;
        }
        if (conf.noRa) return;
        Log.info("NDP: received RS, sending RA");
        if (unspecified) {
            sendRa(Nd.ALL_NODES_HI, Nd.ALL_NODES_LO, Nd.multicastMac(Nd.ALL_NODES_LO));
        } else {
            sendRa(srcHi, srcLo, Eth.src(s, frame));
        }
        ras++;
    }

    private boolean sendRa(long dstHi, long dstLo, long dstMac) {
        long f = frames.reserve(true, ra.length);
        if (f < 0) return false;
        MemorySegment o = frames.out();
        long p = FrameWriter.l4(f, true);
        MemorySegment.copy(ra, 0, o, ValueLayout.JAVA_BYTE, p, ra.length);
        IcmpHdr.checksum6(o, p, ra.length, conf.ourLl6Hi, conf.ourLl6Lo, dstHi, dstLo);
        frames.commit(f, dstMac, true, conf.ourLl6Hi, conf.ourLl6Lo, dstHi, dstLo, 58, ra.length, 255);
        return true;
    }

    /**
     * The unsolicited RA timer, called by the loop after every batch: arms itself when a guest
     * is there, sends when due, and starts over when the guest goes.
     */
    public void tick(long now) {
        if (!conf.v6 || conf.noNdp || conf.noRa) return;
        if (!link.connected()) {
            armed = false;
            return;
        }
        if (guest.mac == Eth.BROADCAST) {
            armed = false; // (its MAC, once known, brings us back: see guestSeen)
            return;
        }
        if (!armed) {
            armed = true;
            nextRa = now + interval();
        } else if (now - nextRa >= 0) {
            long next = interval();
            if (sendRa(Nd.ALL_NODES_HI, Nd.ALL_NODES_LO, Nd.multicastMac(Nd.ALL_NODES_LO))) {
                unsolicitedRas++;
                Log.info("NDP: sending unsolicited RA, next in " + next / 1_000_000_000L + "s");
            }
            nextRa = now + next;
        }
        loop.wakeAt(nextRa);
    }

    /**
     * A guest is there with its MAC known (its first frame, or a new MAC): the timer is looked
     * at in this batch. The loop sleeps while nothing is due, so nothing else would.
     */
    public void guestSeen() {
        loop.wakeAt(loop.now());
    }

    private long interval() {
        return maxIntervalNs > minIntervalNs
                ? ThreadLocalRandom.current().nextLong(minIntervalNs, maxIntervalNs) : minIntervalNs;
    }

    /** Tests only, on the loop's thread: shorter unsolicited RA intervals. */
    void intervals(long minNs, long maxNs) {
        minIntervalNs = minNs;
        maxIntervalNs = maxNs;
        armed = false;
    }

    private void drop(String why) {
        dropped++;
        if (Log.debugEnabled()) Log.debug("NDP: " + why + ", dropped");
    }

    public long neighborAdvertisements() {
        return nas;
    }

    public long routerAdvertisements() {
        return ras;
    }

    public long unsolicitedRouterAdvertisements() {
        return unsolicitedRas;
    }

    public long dropped() {
        return dropped;
    }
}
