package jpasst.tap;

import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
import jpasst.packet.Udp;

/**
 * Frames to the guest, synthesized in place in the tap's output buffer: the caller reserves a
 * frame, writes the payload at the returned payload offset, then has the headers (and checksums)
 * written around it here before the frame is committed. Nothing is copied twice.
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

    /**
     * Reserves an IPv4/UDP frame with room for {@code maxPayload} bytes; returns the frame offset
     * in {@code tap.out()} (payload at offset + {@link #UDP4_PAYLOAD}), or -1 if it cannot be sent.
     */
    public long reserveUdp4(int maxPayload) {
        return tap.reserve(UDP4_PAYLOAD + maxPayload);
    }

    /** Completes and queues a UDP datagram whose payload is already in place. */
    public void commitUdp4(long frame, long dstMac, int src, int srcPort, int dst, int dstPort,
                           int payloadLen) {
        MemorySegment o = tap.out();
        int udpLen = Udp.LEN + payloadLen;
        Eth.write(o, frame, dstMac, conf.ourMac, Eth.TYPE_IPV4);
        Ip4.write(o, frame + Eth.LEN, Ip4.MIN_LEN + udpLen, nextId(), 64, 17, src, dst);
        long udp = frame + Eth.LEN + Ip4.MIN_LEN;
        Udp.write(o, udp, srcPort, dstPort, udpLen);
        Udp.checksum4(o, udp, udpLen, src, dst);
        tap.commit(frame, UDP4_PAYLOAD + payloadLen);
    }

    public int nextId() {
        ipId = (ipId + 1) & 0xffff;
        return ipId;
    }
}
