package jpasst.proto;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import jpasst.conf.Conf;
import jpasst.link.FrameWriter;
import jpasst.link.Guest;
import jpasst.packet.Eth;
import jpasst.packet.Ip6;
import jpasst.packet.Net;
import jpasst.packet.UdpHdr;
import jpasst.util.Log;

/**
 * The DHCPv6 server (RFC 8415), as passt's dhcpv6.c: one client, one address — the host's own —
 * valid and preferred forever, T1 and T2 infinite, so a client never needs to come back.
 *
 * <ul>
 * <li>Solicit → Advertise; Request, Renew, Rebind → Reply. Both carry our Server Identifier, an
 * IA_NA with the client's IAID holding the host's address (IA Address option), the client's
 * Client Identifier echoed, the host's IPv6 resolvers (option 23) and search list (option 24, RFC
 * 3646, uncompressed names), and with --fqdn the Client FQDN (option 39, RFC 4704).
 * <li>An IA that asks for any other address gets the IA back with status NotOnLink (RFC 8415
 * 18.3.2), so the client starts over and takes ours.
 * <li>Confirm → Reply with status Success, or NotOnLink if one of its addresses is not ours.
 * <li>Information-request → Reply with resolvers and search list only.
 * <li>Release and Decline → Reply with status Success (nothing to release: the address is the
 * host's and stays the client's).
 * </ul>
 *
 * Our DUID is a DUID-LLT (type 1) of our MAC and the start-up time in seconds since 2000, as
 * passt's. Replies go from our link-local address, port 547, to the client's source address,
 * port 546, and the client's MAC. Messages are checked as RFC 8415 16 requires (a Client
 * Identifier where one is needed, a Server Identifier that is ours where one must be present and
 * none where it must not); anything malformed (an option running past the message, an IA too
 * short) or not for us is dropped.
 *
 * Where jpasst differs from passt, on purpose: a Rebind must not carry a Server Identifier (RFC
 * 8415 16.7; passt requires one, so it never answers a real client's Rebind); an
 * Information-request needs no Client Identifier (RFC 8415 16.12) and its Reply carries no
 * IA_NA (passt includes one); an IA_NA is only sent to a client that asked for one; a Confirm
 * without addresses gets no answer and its NotOnLink status is message-level (RFC 8415 18.3.3);
 * Release and Decline get the Reply the RFC asks for (passt ignores them, so clients retransmit);
 * and a malformed option drops the message instead of ending the option walk.
 *
 * Hot path: requests are rare, but handling them allocates nothing; the fixed options are
 * encoded once at start-up and the reply is built in place in the frame reserved for it.
 */
public final class Dhcpv6 {
    public static final int CLIENT_PORT = 546, SERVER_PORT = 547;
    public static final int SOLICIT = 1, ADVERTISE = 2, REQUEST = 3, CONFIRM = 4, RENEW = 5,
            REBIND = 6, REPLY = 7, RELEASE = 8, DECLINE = 9, INFORMATION_REQUEST = 11;
    public static final int OPT_CLIENTID = 1, OPT_SERVERID = 2, OPT_IA_NA = 3, OPT_IA_TA = 4,
            OPT_IAADDR = 5, OPT_STATUS_CODE = 13, OPT_DNS_SERVERS = 23, OPT_DOMAIN_LIST = 24,
            OPT_CLIENT_FQDN = 39;
    public static final int STATUS_SUCCESS = 0, STATUS_NOT_ON_LINK = 4;
    static final byte[] NOT_ON_LINK_TEXT = "Prefix not appropriate for link.".getBytes(StandardCharsets.US_ASCII);
    static final byte[] SUCCESS_TEXT = "Success.".getBytes(StandardCharsets.US_ASCII);

    // message layout, relative to the UDP payload
    static final int MSG_TYPE = 0, XID = 1, OPTIONS = 4;
    static final int OPT_HDR = 4;
    static final int IA_NA_LEN = 12, IA_TA_LEN = 4, IAADDR_LEN = 24;
    static final int DUID_MAX = 128;
    static final long INFINITE = 0xffff_ffffL;
    /** 2000-01-01T00:00:00Z in Unix seconds: the DUID-LLT epoch. */
    static final long Y2K = 946_684_800L;

    private final Conf conf;
    private final Guest guest;
    private final FrameWriter frames;
    /** Server Identifier option, header included. */
    private final byte[] serverId;
    /** DNS servers and domain list options, headers included; empty if not sent. */
    private final byte[] dnsOpts;
    /** --fqdn as option 39 (RFC 4704: flags, then the name), empty without --fqdn. */
    private final byte[] fqdnOpt;
    /** Flags of the client's own option 39 in the message being answered; -1 if it sent none. */
    private int clientFqdnFlags = -1;
    private final int maxReply;
    private long advertises, replies, dropped;

    public Dhcpv6(Conf conf, Guest guest, FrameWriter frames) {
        this(conf, guest, frames, System.currentTimeMillis() / 1000);
    }

    Dhcpv6(Conf conf, Guest guest, FrameWriter frames, long unixSeconds) {
        this.conf = conf;
        this.guest = guest;
        this.frames = frames;
        ByteBuffer id = ByteBuffer.allocate(OPT_HDR + 14);
        id.putShort((short) OPT_SERVERID).putShort((short) 14)
                .putShort((short) 1)                  // DUID-LLT
                .putShort((short) 1)                  // hardware type: Ethernet
                .putInt((int) (unixSeconds - Y2K))
                .putShort((short) (conf.ourMac >>> 32)).putInt((int) conf.ourMac);
        serverId = id.array();
        dnsOpts = encodeDns(conf);
        fqdnOpt = encodeFqdn(conf);
        maxReply = OPTIONS + serverId.length + OPT_HDR + IA_NA_LEN + OPT_HDR + IAADDR_LEN
                + OPT_HDR + DUID_MAX + dnsOpts.length + fqdnOpt.length;
    }

    /** Option 39 for --fqdn, as passt: flags 0 (the server does the updates), the name uncompressed. */
    static byte[] encodeFqdn(Conf c) {
        if (c.fqdn == null || c.fqdn.isEmpty()) return new byte[0];
        byte[] name = DnsNames.encodeListUncompressed(java.util.List.of(c.fqdn), 255);
        if (name.length == 0) return new byte[0];
        return ByteBuffer.allocate(OPT_HDR + 1 + name.length)
                .putShort((short) OPT_CLIENT_FQDN).putShort((short) (1 + name.length))
                .put((byte) 0).put(name).array();
    }

    static byte[] encodeDns(Conf c) {
        int n = c.noDhcpDns ? 0 : Math.min(3, c.dns6.length / 2);
        byte[] search = c.noDhcpSearch || c.search.isEmpty() ? new byte[0]
                : DnsNames.encodeListUncompressed(c.search, 1024);
        ByteBuffer b = ByteBuffer.allocate((n > 0 ? OPT_HDR + 16 * n : 0)
                + (search.length > 0 ? OPT_HDR + search.length : 0));
        if (n > 0) {
            b.putShort((short) OPT_DNS_SERVERS).putShort((short) (16 * n));
            for (int i = 0; i < n; i++) b.putLong(c.dns6[2 * i]).putLong(c.dns6[2 * i + 1]);
        }
        if (search.length > 0) {
            b.putShort((short) OPT_DOMAIN_LIST).putShort((short) search.length).put(search);
        }
        return b.array();
    }

    /**
     * Handles a UDP datagram to port 547 (multicast) from the guest, checksum already verified:
     * {@code udp} the UDP header's offset, {@code udpLen} its length field. Returns true if it
     * was answered.
     */
    public boolean handle(MemorySegment s, long frame, long ip6, long udp, int udpLen) {
        long m = udp + UdpHdr.LEN;
        int mlen = udpLen - UdpHdr.LEN;
        if (mlen < OPTIONS) return drop("message too short");
        long srcHi = Ip6.srcHi(s, ip6), srcLo = Ip6.srcLo(s, ip6);
        if (Ip6.isUnspecified(srcHi, srcLo) || Ip6.isMulticast(srcHi)) return drop("no source address");
        long end = m + mlen;
        // one walk: where the options we care about are (first of each), and whether all fit
        long clientId = -1, serverIdAt = -1, iaNa = -1;
        boolean iaTa = false;
        clientFqdnFlags = -1;
        for (long p = m + OPTIONS; p < end; ) {
            if (end - p < OPT_HDR) return drop("truncated option header");
            int code = Net.u16(s, p), len = Net.u16(s, p + 2);
            if (p + OPT_HDR + len > end) return drop("option runs past the message");
            switch (code) {
                case OPT_CLIENTID -> { if (clientId < 0) clientId = p; }
                case OPT_SERVERID -> { if (serverIdAt < 0) serverIdAt = p; }
                case OPT_IA_NA -> {
                    if (len < IA_NA_LEN) return drop("IA_NA too short");
                    if (iaNa < 0) iaNa = p;
                }
                case OPT_IA_TA -> {
                    if (len < IA_TA_LEN) return drop("IA_TA too short");
                    iaTa = true;
                }
                case OPT_CLIENT_FQDN -> {
                    if (clientFqdnFlags < 0 && len >= 1) clientFqdnFlags = Net.u8(s, p + OPT_HDR);
                }
                default -> { }
            }
            p += OPT_HDR + len;
        }
        if (clientId >= 0) {
            int l = Net.u16(s, clientId + 2);
            if (l < 2 || l > DUID_MAX) return drop("bad client identifier length");
        }
        boolean ours = serverIdAt >= 0 && isOurs(s, serverIdAt);
        int type = Net.u8(s, m + MSG_TYPE);
        switch (type) {
            case SOLICIT -> {
                if (clientId < 0 || serverIdAt >= 0) return drop("Solicit with server id or without client id");
                Log.info("DHCPv6: received SOLICIT, sending ADVERTISE");
                return full(s, frame, m, ADVERTISE, clientId, iaNa, srcHi, srcLo, false);
            }
            case REQUEST, RENEW -> {
                if (clientId < 0 || !ours) return drop("Request/Renew not for us");
                return leased(s, frame, m, end, clientId, iaNa, srcHi, srcLo, type == REQUEST ? "REQUEST" : "RENEW");
            }
            case REBIND -> {
                if (clientId < 0 || serverIdAt >= 0) return drop("Rebind with server id or without client id");
                return leased(s, frame, m, end, clientId, iaNa, srcHi, srcLo, "REBIND");
            }
            case CONFIRM -> {
                if (clientId < 0 || serverIdAt >= 0) return drop("Confirm with server id or without client id");
                long bad = notOnLink(s, m + OPTIONS, end);
                if (bad == NO_ADDRESSES) return drop("Confirm without addresses");
                if (bad >= 0) {
                    Log.info("DHCPv6: received CONFIRM with inappropriate IA, sending NotOnLink status in REPLY");
                    return status(s, frame, m, clientId, srcHi, srcLo, STATUS_NOT_ON_LINK, NOT_ON_LINK_TEXT);
                }
                Log.info("DHCPv6: received CONFIRM, sending REPLY");
                guest.addr6SeenHi = conf.addr6Hi;
                guest.addr6SeenLo = conf.addr6Lo;
                return status(s, frame, m, clientId, srcHi, srcLo, STATUS_SUCCESS, SUCCESS_TEXT);
            }
            case RELEASE, DECLINE -> {
                if (clientId < 0 || !ours) return drop("Release/Decline not for us");
                Log.info("DHCPv6: received " + (type == RELEASE ? "RELEASE" : "DECLINE") + ", sending REPLY");
                return status(s, frame, m, clientId, srcHi, srcLo, STATUS_SUCCESS, SUCCESS_TEXT);
            }
            case INFORMATION_REQUEST -> {
                if (serverIdAt >= 0 && !ours) return drop("Information-request for another server");
                if (iaNa >= 0 || iaTa) return drop("Information-request with an IA");
                Log.info("DHCPv6: received INFORMATION_REQUEST, sending REPLY");
                return full(s, frame, m, REPLY, clientId, -1, srcHi, srcLo, false);
            }
            default -> {
                return drop("message type not for a server");
            }
        }
    }

    private boolean leased(MemorySegment s, long frame, long m, long end, long clientId, long iaNa,
                           long srcHi, long srcLo, String what) {
        long bad = notOnLink(s, m + OPTIONS, end);
        if (bad >= 0) {
            Log.info("DHCPv6: received " + what + " with inappropriate IA, sending NotOnLink status in REPLY");
            return notOnLinkIa(s, frame, m, clientId, bad, srcHi, srcLo);
        }
        Log.info("DHCPv6: received " + what + ", sending REPLY");
        return full(s, frame, m, REPLY, clientId, iaNa, srcHi, srcLo, true);
    }

    private boolean isOurs(MemorySegment s, long opt) {
        if (Net.u16(s, opt + 2) != serverId.length - OPT_HDR) return false;
        for (int i = 0; i < serverId.length; i++) {
            if (s.get(ValueLayout.JAVA_BYTE, opt + i) != serverId[i]) return false;
        }
        return true;
    }

    static final long NO_ADDRESSES = -2;

    /**
     * The offset of the first IA_NA or IA_TA holding an address that is not ours, -1 if every
     * address is ours, {@link #NO_ADDRESSES} if there is none. The options are known to fit.
     */
    private long notOnLink(MemorySegment s, long from, long end) {
        boolean any = false;
        for (long p = from; p < end; p += OPT_HDR + Net.u16(s, p + 2)) {
            int code = Net.u16(s, p);
            if (code != OPT_IA_NA && code != OPT_IA_TA) continue;
            long iaEnd = p + OPT_HDR + Net.u16(s, p + 2);
            for (long q = p + OPT_HDR + (code == OPT_IA_NA ? IA_NA_LEN : IA_TA_LEN); q + OPT_HDR <= iaEnd; ) {
                int len = Net.u16(s, q + 2);
                if (q + OPT_HDR + len > iaEnd) break;
                if (Net.u16(s, q) == OPT_IAADDR && len >= IAADDR_LEN) {
                    any = true;
                    if (Net.i64(s, q + OPT_HDR) != conf.addr6Hi || Net.i64(s, q + OPT_HDR + 8) != conf.addr6Lo) {
                        return p;
                    }
                }
                q += OPT_HDR + len;
            }
        }
        return any ? -1 : NO_ADDRESSES;
    }

    /** Advertise or Reply: server id, IA_NA (if asked for), client id, DNS options. */
    private boolean full(MemorySegment s, long frame, long m, int type, long clientId, long iaNa,
                         long dstHi, long dstLo, boolean leased) {
        long f = frames.reserve(true, UdpHdr.LEN + maxReply);
        if (f < 0) return false;
        MemorySegment o = frames.out();
        long r = FrameWriter.l4(f, true) + UdpHdr.LEN;
        long p = header(s, m, o, r, type);
        if (iaNa >= 0) {
            Net.u16(o, p, OPT_IA_NA);
            Net.u16(o, p + 2, IA_NA_LEN + OPT_HDR + IAADDR_LEN);
            Net.i32(o, p + 4, Net.i32(s, iaNa + OPT_HDR));      // the client's IAID
            Net.i32(o, p + 8, (int) INFINITE);                 // T1
            Net.i32(o, p + 12, (int) INFINITE);                // T2
            p += OPT_HDR + IA_NA_LEN;
            Net.u16(o, p, OPT_IAADDR);
            Net.u16(o, p + 2, IAADDR_LEN);
            Net.i64(o, p + 4, conf.addr6Hi);
            Net.i64(o, p + 12, conf.addr6Lo);
            Net.i32(o, p + 20, (int) INFINITE);                // preferred lifetime
            Net.i32(o, p + 24, (int) INFINITE);                // valid lifetime
            p += OPT_HDR + IAADDR_LEN;
        }
        p = copyOption(s, clientId, o, p);
        MemorySegment.copy(dnsOpts, 0, o, ValueLayout.JAVA_BYTE, p, dnsOpts.length);
        p += dnsOpts.length;
        if (fqdnOpt.length > 0) {
            MemorySegment.copy(fqdnOpt, 0, o, ValueLayout.JAVA_BYTE, p, fqdnOpt.length);
            // a client asking to do the update itself (S) learns that we override it (O), as passt
            if (clientFqdnFlags >= 0 && (clientFqdnFlags & 0x01) != 0) Net.u8(o, p + OPT_HDR, 0x02);
            p += fqdnOpt.length;
        }
        send(s, frame, f, (int) (p - r), dstHi, dstLo);
        if (type == ADVERTISE) {
            advertises++;
        } else {
            replies++;
        }
        if (leased && iaNa >= 0) {
            guest.addr6SeenHi = conf.addr6Hi;
            guest.addr6SeenLo = conf.addr6Lo;
        }
        return true;
    }

    /** Reply with a message-level status: server id, client id, status code. */
    private boolean status(MemorySegment s, long frame, long m, long clientId, long dstHi, long dstLo,
                           int code, byte[] text) {
        long f = frames.reserve(true, UdpHdr.LEN + maxReply);
        if (f < 0) return false;
        MemorySegment o = frames.out();
        long r = FrameWriter.l4(f, true) + UdpHdr.LEN;
        long p = header(s, m, o, r, REPLY);
        p = copyOption(s, clientId, o, p);
        p = putStatus(o, p, code, text);
        send(s, frame, f, (int) (p - r), dstHi, dstLo);
        replies++;
        return true;
    }

    /** Reply to a Request/Renew/Rebind whose IA at {@code ia} holds an address not ours. */
    private boolean notOnLinkIa(MemorySegment s, long frame, long m, long clientId, long ia,
                                long dstHi, long dstLo) {
        long f = frames.reserve(true, UdpHdr.LEN + maxReply + NOT_ON_LINK_TEXT.length + 2 * OPT_HDR);
        if (f < 0) return false;
        MemorySegment o = frames.out();
        long r = FrameWriter.l4(f, true) + UdpHdr.LEN;
        long p = header(s, m, o, r, REPLY);
        int code = Net.u16(s, ia);
        int fixed = code == OPT_IA_NA ? IA_NA_LEN : IA_TA_LEN;
        Net.u16(o, p, code);
        Net.u16(o, p + 2, fixed + OPT_HDR + 2 + NOT_ON_LINK_TEXT.length);
        MemorySegment.copy(s, ia + OPT_HDR, o, p + OPT_HDR, fixed);   // IAID (and T1, T2)
        p = putStatus(o, p + OPT_HDR + fixed, STATUS_NOT_ON_LINK, NOT_ON_LINK_TEXT);
        p = copyOption(s, clientId, o, p);
        send(s, frame, f, (int) (p - r), dstHi, dstLo);
        replies++;
        return true;
    }

    private long header(MemorySegment s, long m, MemorySegment o, long r, int type) {
        Net.i32(o, r, Net.i32(s, m) & 0x00ff_ffff | type << 24);   // type, the client's xid
        MemorySegment.copy(serverId, 0, o, ValueLayout.JAVA_BYTE, r + OPTIONS, serverId.length);
        return r + OPTIONS + serverId.length;
    }

    private static long copyOption(MemorySegment s, long opt, MemorySegment o, long p) {
        if (opt < 0) return p;
        int len = OPT_HDR + Net.u16(s, opt + 2);
        MemorySegment.copy(s, opt, o, p, len);
        return p + len;
    }

    private static long putStatus(MemorySegment o, long p, int code, byte[] text) {
        Net.u16(o, p, OPT_STATUS_CODE);
        Net.u16(o, p + 2, 2 + text.length);
        Net.u16(o, p + 4, code);
        MemorySegment.copy(text, 0, o, ValueLayout.JAVA_BYTE, p + 6, text.length);
        return p + 6 + text.length;
    }

    private void send(MemorySegment s, long frame, long f, int len, long dstHi, long dstLo) {
        frames.commitUdp(f, Eth.src(s, frame), true, conf.ourLl6Hi, conf.ourLl6Lo, dstHi, dstLo,
                SERVER_PORT, CLIENT_PORT, len);
    }

    private boolean drop(String why) {
        dropped++;
        if (Log.debugEnabled()) Log.debug("DHCPv6: " + why + ", dropped");
        return false;
    }

    public long advertises() {
        return advertises;
    }

    public long replies() {
        return replies;
    }

    public long dropped() {
        return dropped;
    }
}
