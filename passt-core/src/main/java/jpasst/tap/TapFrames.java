package jpasst.tap;

import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.flow.Inany;
import jpasst.packet.Checksum;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
import jpasst.packet.Ip6;
import jpasst.packet.Udp;

/**
 * Frames to the guest, synthesized in place in the tap's output buffer: the caller reserves a
 * frame, writes the transport header and payload at {@link #l4(long, boolean)}, and has the
 * Ethernet and IP headers written around them here when it commits. Addresses come as
 * {@link Inany} pairs; IPv4-mapped ones make an IPv4 frame. Nothing is copied twice.
 *
 * Hot path: no allocation.
 */
public final class TapFrames {
    public static final int UDP4_PAYLOAD = Eth.LEN + Ip4.MIN_LEN + Udp.LEN;

    private final Conf conf;
    private final Tap tap;
    private int ipId;

    public TapFrames(Conf conf, Tap tap) {
        this.conf = conf;
        this.tap = tap;
    }

    public Tap tap() {
        return tap;
    }

    public MemorySegment out() {
        return tap.out();
    }

    public static int ipHeaderLength(boolean v6) {
        return v6 ? Ip6.LEN : Ip4.MIN_LEN;
    }

    /** Offset of the transport header in a frame at {@code frame}. */
    public static long l4(long frame, boolean v6) {
        return frame + Eth.LEN + ipHeaderLength(v6);
    }

    /** Reserves a frame for {@code l4Len} bytes of transport header and payload; -1 if no room. */
    public long reserve(boolean v6, int l4Len) {
        return tap.reserve(Eth.LEN + ipHeaderLength(v6) + l4Len);
    }

    /** The pseudo-header sum for the transport checksum of such a frame. */
    public static long pseudo(boolean v6, long srcHi, long srcLo, long dstHi, long dstLo, int proto, int l4Len) {
        return v6 ? Checksum.pseudo6(srcHi, srcLo, dstHi, dstLo, proto, l4Len)
                : Checksum.pseudo4(Inany.v4(srcLo), Inany.v4(dstLo), proto, l4Len);
    }

    /**
     * Writes Ethernet and IP headers (to the guest's MAC) in front of a transport segment that is
     * complete, checksum included, and queues the frame.
     */
    public void commit(long frame, boolean v6, long srcHi, long srcLo, long dstHi, long dstLo,
                       int proto, int l4Len) {
        commit(frame, conf.guestMac, v6, srcHi, srcLo, dstHi, dstLo, proto, l4Len, 64);
    }

    public void commit(long frame, long dstMac, boolean v6, long srcHi, long srcLo, long dstHi,
                       long dstLo, int proto, int l4Len, int ttl) {
        MemorySegment o = tap.out();
        if (v6) {
            Eth.write(o, frame, dstMac, conf.ourMac, Eth.TYPE_IPV6);
            Ip6.write(o, frame + Eth.LEN, l4Len, proto, ttl, srcHi, srcLo, dstHi, dstLo);
        } else {
            Eth.write(o, frame, dstMac, conf.ourMac, Eth.TYPE_IPV4);
            Ip4.write(o, frame + Eth.LEN, Ip4.MIN_LEN + l4Len, nextId(), ttl, proto,
                    Inany.v4(srcLo), Inany.v4(dstLo));
        }
        tap.commit(frame, Eth.LEN + ipHeaderLength(v6) + l4Len);
    }

    /** Reserves an IPv4/UDP frame with room for {@code maxPayload} bytes (payload at +{@link #UDP4_PAYLOAD}). */
    public long reserveUdp4(int maxPayload) {
        return reserve(false, Udp.LEN + maxPayload);
    }

    /** Completes and queues an IPv4 UDP datagram whose payload is already in place. */
    public void commitUdp4(long frame, long dstMac, int src, int srcPort, int dst, int dstPort,
                           int payloadLen) {
        commitUdp(frame, dstMac, false, 0, Inany.lo4(src), 0, Inany.lo4(dst), srcPort, dstPort, payloadLen);
    }

    /** Completes and queues a UDP datagram of either family whose payload is already in place. */
    public void commitUdp(long frame, long dstMac, boolean v6, long srcHi, long srcLo, long dstHi,
                          long dstLo, int srcPort, int dstPort, int payloadLen) {
        MemorySegment o = tap.out();
        int udpLen = Udp.LEN + payloadLen;
        long udp = l4(frame, v6);
        Udp.write(o, udp, srcPort, dstPort, udpLen);
        int c = Checksum.finish(Checksum.sum(o, udp, udpLen, pseudo(v6, srcHi, srcLo, dstHi, dstLo, 17, udpLen)));
        jpasst.packet.Net.u16(o, udp + Udp.CHECKSUM, c == 0 ? 0xffff : c);
        commit(frame, dstMac, v6, srcHi, srcLo, dstHi, dstLo, 17, udpLen, v6 ? 255 : 64);
    }

    public int nextId() {
        ipId = (ipId + 1) & 0xffff;
        return ipId;
    }
}
