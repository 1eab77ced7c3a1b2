package jpasst.vhost;

import java.lang.foreign.MemorySegment;

import static jpasst.vhost.VhostUserMsg.U32;
import static jpasst.vhost.VhostUserMsg.U64;

/**
 * The virtio-net header in front of every frame on both queues (virtio 1.x, 5.1.6): 12 bytes with
 * VIRTIO_F_VERSION_1 (flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers).
 *
 * On the transmit queue only its flags count: NEEDS_CSUM (with VIRTIO_NET_F_CSUM) says the frame's
 * TCP or UDP checksum is left to the device, which then does not check it. A TCP frame of many
 * segments (HOST_TSO4/6) is taken as one segment: jpasst ends TCP, its IP header has the lengths,
 * so gso_type and the rest are not looked at.
 * On the receive queue it is written at the start of a frame's first buffer: flags DATA_VALID as
 * passt sets them (the checksums are good, the guest need not verify them), num_buffers, the
 * number of buffers the frame spans (MRG_RXBUF; 1 without), and GSO_NONE, or for a TCP frame of
 * many segments (GUEST_TSO4/6 negotiated) GSO_TCPV4 or GSO_TCPV6 with the segment size and the
 * headers' length: the guest's stack takes the frame as the segments it stands for, as Linux
 * takes what its GRO merged (virtio 1.x 5.1.6.4.1; Linux's virtio_net_hdr_to_skb).
 */
final class VirtioNetHeader {
    private VirtioNetHeader() {}

    static final int SIZE = 12;
    static final int FLAGS = 0, GSO_TYPE = 1, HDR_LEN = 2, GSO_SIZE = 4, CSUM_START = 6, CSUM_OFFSET = 8,
            NUM_BUFFERS = 10;
    static final int F_NEEDS_CSUM = 1, F_DATA_VALID = 2;
    static final int GSO_NONE = 0, GSO_TCPV4 = 1, GSO_TCPV6 = 4;
    /** Ethernet's minimum frame (without FCS): shorter frames to the guest are padded with zeros. */
    static final int MIN_FRAME = 60;

    static void write(MemorySegment s, long off, int numBuffers) {
        write(s, off, numBuffers, GSO_NONE, 0, 0);
    }

    /** With {@code gsoType} GSO_TCPV4 or GSO_TCPV6: segments of {@code gsoSize} bytes behind {@code hdrLen} bytes of headers. */
    static void write(MemorySegment s, long off, int numBuffers, int gsoType, int hdrLen, int gsoSize) {
        // little-endian, as virtio 1.0: flags, GSO type, header length, GSO size, checksum
        // start in one store; checksum offset and num_buffers in another
        s.set(U64, off + FLAGS, F_DATA_VALID | (long) gsoType << 8 | (long) (hdrLen & 0xffff) << 16
                | (long) (gsoSize & 0xffff) << 32);
        s.set(U32, off + CSUM_OFFSET, (numBuffers & 0xffff) << 16);
    }
}
