package jpasst.link;

import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.packet.Checksum;
import jpasst.packet.Eth;
import jpasst.packet.Inany;
import jpasst.packet.Ip4;
import jpasst.packet.Ip6;
import jpasst.packet.Net;
import jpasst.packet.UdpHdr;

/**
 * Frames to the guest, synthesized in place, as passt's tap_push_l2h()/tap_push_ip4h(): the
 * producer writes the transport header and payload of a frame it reserved, and the Ethernet
 * and IP headers around them are written here, to the guest's MAC ({@link Guest#mac}) from
 * ours. Addresses come as {@link Inany} pairs; IPv4-mapped ones make an IPv4 frame. Frames in
 * one piece go through {@link #reserve}/{@link #commit} to the {@link Link}; frames of a
 * {@link FrameBatch} get their headers with {@link #headers} and go with the link's batch commit.
 *
 * Hot path: no allocation.
 */
public final class FrameWriter {
    /** Offset of a UDP payload in an IPv4 frame. */
    public static final int UDP4_PAYLOAD = Eth.LEN + Ip4.MIN_LEN + UdpHdr.LEN;

    private final Conf conf;
    private final Guest guest;
    private final Link link;
    private int ipId;

    public FrameWriter(Conf conf, Guest guest, Link link) {
        this.conf = conf;
        this.guest = guest;
        this.link = link;
    }

    public static int ipHeaderLength(boolean v6) {
        return v6 ? Ip6.LEN : Ip4.MIN_LEN;
    }

    /** Bytes of Ethernet and IP headers before the transport header. */
    public static int l2l3Length(boolean v6) {
        return Eth.LEN + ipHeaderLength(v6);
    }

    /** Offset of the transport header in a frame at {@code frame}. */
    public static long l4(long frame, boolean v6) {
        return frame + l2l3Length(v6);
    }

    /** The pseudo-header sum for the transport checksum of such a frame. */
    public static long pseudo(boolean v6, long srcHi, long srcLo, long dstHi, long dstLo, int proto, int l4Len) {
        return v6 ? Checksum.pseudo6(srcHi, srcLo, dstHi, dstLo, proto, l4Len)
                : Checksum.pseudo4(Inany.v4(srcLo), Inany.v4(dstLo), proto, l4Len);
    }

    /** Reserves a frame for {@code l4Len} bytes of transport header and payload; -1 if no room. */
    public long reserve(boolean v6, int l4Len) {
        return link.reserve(l2l3Length(v6) + l4Len);
    }

    /** The segment reserved frames lie in (fetch it after each reserve). */
    public MemorySegment out() {
        return link.out();
    }

    /**
     * Writes Ethernet and IP headers (to the guest's MAC) in front of a transport segment that is
     * complete, checksum included, and sends the frame.
     */
    public void commit(long frame, boolean v6, long srcHi, long srcLo, long dstHi, long dstLo,
                       int proto, int l4Len) {
        commit(frame, guest.mac, v6, srcHi, srcLo, dstHi, dstLo, proto, l4Len, 64);
    }

    /** As {@link #commit(long, boolean, long, long, long, long, int, int)}, to {@code dstMac} with {@code ttl}. */
    public void commit(long frame, long dstMac, boolean v6, long srcHi, long srcLo, long dstHi,
                       long dstLo, int proto, int l4Len, int ttl) {
        headers(link.out(), frame, dstMac, v6, srcHi, srcLo, dstHi, dstLo, proto, l4Len, ttl);
        link.commit(frame, l2l3Length(v6) + l4Len);
    }

    /** Writes the Ethernet and IP headers of a frame at {@code frame} of {@code s}, to the guest's MAC. */
    public void headers(MemorySegment s, long frame, boolean v6, long srcHi, long srcLo, long dstHi,
                        long dstLo, int proto, int l4Len) {
        headers(s, frame, guest.mac, v6, srcHi, srcLo, dstHi, dstLo, proto, l4Len, 64);
    }

    private void headers(MemorySegment s, long frame, long dstMac, boolean v6, long srcHi, long srcLo,
                         long dstHi, long dstLo, int proto, int l4Len, int ttl) {
        if (v6) {
            Eth.write(s, frame, dstMac, conf.ourMac, Eth.TYPE_IPV6);
            Ip6.write(s, frame + Eth.LEN, l4Len, proto, ttl, srcHi, srcLo, dstHi, dstLo);
        } else {
            Eth.write(s, frame, dstMac, conf.ourMac, Eth.TYPE_IPV4);
            Ip4.write(s, frame + Eth.LEN, Ip4.MIN_LEN + l4Len, nextId(), ttl, proto,
                    Inany.v4(srcLo), Inany.v4(dstLo));
        }
    }

    /** Reserves an IPv4/UDP frame with room for {@code maxPayload} bytes (payload at +{@link #UDP4_PAYLOAD}). */
    public long reserveUdp4(int maxPayload) {
        return reserve(false, UdpHdr.LEN + maxPayload);
    }

    /** Completes and sends an IPv4 UDP datagram whose payload is already in place. */
    public void commitUdp4(long frame, long dstMac, int src, int srcPort, int dst, int dstPort,
                           int payloadLen) {
        commitUdp(frame, dstMac, false, 0, Inany.lo4(src), 0, Inany.lo4(dst), srcPort, dstPort, payloadLen);
    }

    /** Completes and sends a UDP datagram of either family whose payload is already in place. */
    public void commitUdp(long frame, long dstMac, boolean v6, long srcHi, long srcLo, long dstHi,
                          long dstLo, int srcPort, int dstPort, int payloadLen) {
        MemorySegment o = link.out();
        int udpLen = UdpHdr.LEN + payloadLen;
        long udp = l4(frame, v6);
        UdpHdr.write(o, udp, srcPort, dstPort, udpLen);
        UdpHdr.checksum(o, udp, udpLen, pseudo(v6, srcHi, srcLo, dstHi, dstLo, 17, udpLen));
        commit(frame, dstMac, v6, srcHi, srcLo, dstHi, dstLo, 17, udpLen, v6 ? 255 : 64);
    }

    /**
     * Writes the UDP, IP and Ethernet headers of frame {@code i} of {@code b}, a datagram to
     * the guest whose payload ({@link FrameBatch#payloadLength}) is in place; the UDP checksum
     * only if the link needs it. Else IPv4's is 0 (none), and IPv6's, which may not be 0 (Linux
     * drops such a datagram whatever vhost-user's "data valid" flag says), is 0xffff, any other
     * value than 0 being as good there, as passt writes it.
     */
    public void udpHeaders(FrameBatch b, int i, boolean v6, long srcHi, long srcLo, long dstHi,
                           long dstLo, int srcPort, int dstPort) {
        MemorySegment s = b.header(i);
        long frame = b.headerOffset(i);
        int udpLen = UdpHdr.LEN + b.payloadLength(i);
        long udp = l4(frame, v6);
        UdpHdr.write(s, udp, srcPort, dstPort, udpLen);
        if (link.checksumsNeeded()) {
            int c = Checksum.finish(b.sum(i, udp, pseudo(v6, srcHi, srcLo, dstHi, dstLo, 17, udpLen)));
            Net.u16(s, udp + UdpHdr.CHECKSUM, c == 0 ? 0xffff : c);
        } else if (v6) {
            Net.u16(s, udp + UdpHdr.CHECKSUM, 0xffff);
        }
        headers(s, frame, guest.mac, v6, srcHi, srcLo, dstHi, dstLo, 17, udpLen, v6 ? 255 : 64);
    }

    /** The next IPv4 identification. */
    public int nextId() {
        ipId = (ipId + 1) & 0xffff;
        return ipId;
    }
}
