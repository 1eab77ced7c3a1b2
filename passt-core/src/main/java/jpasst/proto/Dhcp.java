package jpasst.proto;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import jpasst.conf.Conf;
import jpasst.link.FrameWriter;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
import jpasst.packet.Net;
import jpasst.packet.UdpHdr;
import jpasst.sys.SockAddr;
import jpasst.util.Log;

/**
 * The DHCP server (RFC 2131), as passt's dhcp.c: one client, one address — the host's own — with
 * an infinite lease. DISCOVER gets an OFFER, REQUEST (or a plain BOOTP request) an ACK, carrying
 * subnet mask, router (the host's gateway, which is also our server identifier), DNS servers,
 * domain search list (119, RFC 3397, with name compression), MTU (26) and, when the gateway is
 * off the guest's subnet, a classless static route to it (121). Option 53 comes first, then the
 * options in the order of the client's parameter request list (55), then the rest, padded to the
 * BOOTP minimum, as passt does for clients that insist on either.
 *
 * Where jpasst differs from passt, on purpose: a REQUEST for an address other than the one we hand
 * out gets a NAK (passt ACKs it with our address regardless), so a client that remembers an old
 * lease starts over cleanly; and replies are addressed as RFC 2131 4.1 says (broadcast when the
 * client sets the broadcast flag or for a NAK, else unicast to ciaddr or to the offered address),
 * where passt always unicasts to the offered address.
 *
 * Hot path: requests are rare, but handling them still allocates nothing; the reply is built in
 * the frame reserved for it and the fixed option values are encoded once at start-up.
 */
public final class Dhcp {
    public static final int SERVER_PORT = 67, CLIENT_PORT = 68;
    public static final int DISCOVER = 1, OFFER = 2, REQUEST = 3, DECLINE = 4, ACK = 5, NAK = 6,
            RELEASE = 7, INFORM = 8;

    // BOOTP message layout (RFC 2131 figure 1), relative to the UDP payload
    static final int OP = 0, HTYPE = 1, HLEN = 2, HOPS = 3, XID = 4, SECS = 8, FLAGS = 10,
            CIADDR = 12, YIADDR = 16, SIADDR = 20, GIADDR = 24, CHADDR = 28, SNAME = 44,
            FILE = 108, MAGIC = 236, OPTIONS = 240;
    static final int MAGIC_COOKIE = 0x63825363;
    static final int FLAG_BROADCAST = 0x8000;
    static final int OPT_MIN = 60;
    static final int MAX_REPLY = OPTIONS + 312;

    private final Conf conf;
    private final FrameWriter frames;
    /** Encoded value of each server option (null: not sent), indexed by option code. */
    private final byte[][] serverOpts = new byte[256][];
    private final boolean[] sent = new boolean[256];
    private final MemorySegment requestList = Arena.ofAuto().allocate(256);
    private long offers, acks, naks;

    public Dhcp(Conf conf, FrameWriter frames) {
        this.conf = conf;
        this.frames = frames;
        encodeServerOptions();
    }

    private void encodeServerOptions() {
        int mask = Ip4.mask(conf.prefix4);
        serverOpts[1] = int4(mask);
        serverOpts[3] = int4(conf.gw4);
        serverOpts[51] = int4(0xffffffff);
        serverOpts[54] = int4(conf.gw4);
        if (conf.mtu != 0) serverOpts[26] = new byte[] {(byte) (conf.mtu >>> 8), (byte) conf.mtu};
        if (!conf.noDhcpDns && conf.dns4.length > 0) {
            byte[] d = new byte[4 * conf.dns4.length];
            for (int i = 0; i < conf.dns4.length; i++) System.arraycopy(int4(conf.dns4[i]), 0, d, 4 * i, 4);
            serverOpts[6] = d;
        }
        if (!conf.noDhcpSearch && !conf.search.isEmpty()) {
            byte[] s = DnsNames.encodeList(conf.search, 255);
            if (s.length > 0) serverOpts[119] = s;
        }
        if (conf.hostname != null) serverOpts[12] = conf.hostname.getBytes(StandardCharsets.US_ASCII);
        if (conf.fqdn != null) {
            byte[] name = DnsNames.encodeList(java.util.List.of(conf.fqdn), 250);
            byte[] f = new byte[3 + name.length];
            f[0] = 0x4; // E bit: canonical wire format (RFC 4702)
            System.arraycopy(name, 0, f, 3, name.length);
            serverOpts[81] = f;
        }
        if ((conf.addr4 & mask) != (conf.gw4 & mask)) {
            // a.b.c.d/32 via 0.0.0.0 (on link), then default via a.b.c.d
            byte[] r = new byte[14];
            r[0] = 32;
            System.arraycopy(int4(conf.gw4), 0, r, 1, 4);
            // bytes 5..8: router 0.0.0.0; byte 9: prefix 0; bytes 10..13: router = gateway
            System.arraycopy(int4(conf.gw4), 0, r, 10, 4);
            serverOpts[121] = r;
        }
    }

    private static byte[] int4(int v) {
        return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v};
    }

    /**
     * Handles a UDP datagram to port 67 from the guest; {@code ip} is the IPv4 header offset,
     * {@code udp} the UDP header offset, {@code udpLen} the UDP length from the IP header.
     * Returns true if it was a DHCP message we answered.
     */
    public boolean handle(MemorySegment s, long frame, long udp, int udpLen) {
        if (conf.noDhcp) return false;
        int mlen = udpLen - UdpHdr.LEN;
        long m = udp + UdpHdr.LEN;
        if (mlen < OPTIONS || Net.u8(s, m + OP) != 1 || Net.i32(s, m + MAGIC) != MAGIC_COOKIE) {
            Log.debug("DHCP: malformed request dropped");
            return false;
        }
        int type = 0, requested = 0, serverId = 0, reqListLen = 0;
        long p = m + OPTIONS, end = m + mlen;
        while (p < end) {
            int code = Net.u8(s, p);
            if (code == 0) { p++; continue; }
            if (code == 255) break;
            if (p + 2 > end) return malformed();
            int olen = Net.u8(s, p + 1);
            if (p + 2 + olen > end) return malformed();
            long v = p + 2;
            switch (code) {
                case 53 -> { if (olen >= 1) type = Net.u8(s, v); }
                case 50 -> { if (olen == 4) requested = Net.i32(s, v); }
                case 54 -> { if (olen == 4) serverId = Net.i32(s, v); }
                case 55 -> {
                    MemorySegment.copy(s, v, requestList, 0, olen);
                    reqListLen = olen;
                }
                default -> { }
            }
            p += 2 + olen;
        }
        int reply;
        if (type == DISCOVER) {
            reply = OFFER;
        } else if (type == REQUEST || type == 0) {
            if (serverId != 0 && serverId != conf.gw4) {
                Log.debug("DHCP: request for another server, ignored");
                return false;
            }
            int asked = requested != 0 ? requested : Net.i32(s, m + CIADDR);
            reply = asked != 0 && asked != conf.addr4 ? NAK : ACK;
        } else {
            return false; // DECLINE, RELEASE, INFORM: nothing to answer, as passt
        }

        long f = frames.reserveUdp4(MAX_REPLY);
        if (f < 0) return false;
        MemorySegment o = frames.out();
        long r = f + FrameWriter.UDP4_PAYLOAD;
        Net.zero(o, r, OPTIONS);
        Net.u8(o, r + OP, 2);
        Net.u8(o, r + HTYPE, Net.u8(s, m + HTYPE));
        Net.u8(o, r + HLEN, Net.u8(s, m + HLEN));
        Net.i32(o, r + XID, Net.i32(s, m + XID));
        int flags = Net.u16(s, m + FLAGS);
        Net.u16(o, r + FLAGS, flags);
        int ciaddr = Net.i32(s, m + CIADDR);
        if (reply == ACK) Net.i32(o, r + CIADDR, ciaddr);
        if (reply != NAK) Net.i32(o, r + YIADDR, conf.addr4);
        Net.i32(o, r + GIADDR, Net.i32(s, m + GIADDR));
        MemorySegment.copy(s, m + CHADDR, o, r + CHADDR, 16);
        Net.i32(o, r + MAGIC, MAGIC_COOKIE);
        int optLen = reply == NAK ? writeNak(o, r + OPTIONS) : writeOptions(o, r + OPTIONS, reply, reqListLen);

        long chaddr = Net.mac(s, m + CHADDR);
        boolean broadcast = reply == NAK || (ciaddr == 0 && (flags & FLAG_BROADCAST) != 0);
        int dst = broadcast ? Ip4.BROADCAST : ciaddr != 0 ? ciaddr : conf.addr4;
        long dstMac = broadcast ? Eth.BROADCAST : chaddr;
        frames.commitUdp4(f, dstMac, conf.gw4, SERVER_PORT, dst, CLIENT_PORT, OPTIONS + optLen);

        if (reply == OFFER) offers++;
        else if (reply == ACK) acks++;
        else naks++;
        if (!Log.infoEnabled()) return true; // the lines below build strings: not for -q
        Log.info("DHCP: " + (reply == OFFER ? "offer to discover" : reply == ACK
                ? (type == 0 ? "BOOTP: ack to request" : "ack to request") : "nak to request for "
                + SockAddr.ip4String(requested != 0 ? requested : ciaddr)));
        Log.info("    from " + Net.macString(chaddr));
        return true;
    }

    private static boolean malformed() {
        Log.debug("DHCP: truncated option, request dropped");
        return false;
    }

    private int writeOptions(MemorySegment o, long at, int reply, int reqListLen) {
        java.util.Arrays.fill(sent, false);
        long p = at;
        boolean typeRequested = false;
        for (int i = 0; i < reqListLen; i++) if (Net.u8(requestList, i) == 53) typeRequested = true;
        if (!typeRequested) p = putType(o, p, reply);
        for (int i = 0; i < reqListLen; i++) {
            int code = Net.u8(requestList, i);
            if (code == 53) p = putType(o, p, reply);
            else if (serverOpts[code] != null && !sent[code]) p = put(o, p, code, serverOpts[code]);
        }
        for (int code = 1; code < 255; code++) {
            if (serverOpts[code] != null && !sent[code]) p = put(o, p, code, serverOpts[code]);
        }
        return end(o, at, p);
    }

    private int writeNak(MemorySegment o, long at) {
        java.util.Arrays.fill(sent, false);
        long p = putType(o, at, NAK);
        p = put(o, p, 54, serverOpts[54]);
        return end(o, at, p);
    }

    private long putType(MemorySegment o, long p, int reply) {
        if (sent[53]) return p;
        sent[53] = true;
        Net.u8(o, p, 53);
        Net.u8(o, p + 1, 1);
        Net.u8(o, p + 2, reply);
        return p + 3;
    }

    private long put(MemorySegment o, long p, int code, byte[] v) {
        sent[code] = true;
        Net.u8(o, p, code);
        Net.u8(o, p + 1, v.length);
        MemorySegment.copy(v, 0, o, java.lang.foreign.ValueLayout.JAVA_BYTE, p + 2, v.length);
        return p + 2 + v.length;
    }

    private static int end(MemorySegment o, long at, long p) {
        Net.u8(o, p++, 255);
        int len = (int) (p - at);
        if (len < OPT_MIN) {
            Net.zero(o, p, OPT_MIN - len);
            len = OPT_MIN;
        }
        return len;
    }

    public long offers() {
        return offers;
    }

    public long acks() {
        return acks;
    }

    public long naks() {
        return naks;
    }
}
