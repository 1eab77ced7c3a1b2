package jpasst.vhost;

import java.lang.foreign.MemorySegment;

import static jpasst.vhost.VhostUserMsg.U32;
import static jpasst.vhost.VhostUserMsg.U64;

/**
 * The virtio-net header in front of every frame on both queues (virtio 1.x, 5.1.6): 12 bytes with
 * VIRTIO_F_VERSION_1 (flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers).
 *
 * On the transmit queue only its flags count: NEEDS_CSUM (with VIRTIO_NET_F_CSUM) says the frame's
 * TCP or UDP checksum is left to the device, which then does not check it. Segmentation is not
 * offered, so gso_type and the rest are not looked at.
 * On the receive queue it is written at the start of a frame's first buffer: no segmentation
 * (GSO_NONE), flags DATA_VALID as passt sets them (the checksums are good, the guest need not
 * verify them), and num_buffers, the number of buffers the frame spans (MRG_RXBUF; 1 without).
 */
final class VirtioNetHeader {
    private VirtioNetHeader() {}

    static final int SIZE = 12;
    static final int FLAGS = 0, GSO_TYPE = 1, HDR_LEN = 2, GSO_SIZE = 4, CSUM_START = 6, CSUM_OFFSET = 8,
            NUM_BUFFERS = 10;
    static final int F_NEEDS_CSUM = 1, F_DATA_VALID = 2;
    static final int GSO_NONE = 0;
    /** Ethernet's minimum frame (without FCS): shorter frames to the guest are padded with zeros. */
    static final int MIN_FRAME = 60;

    static void write(MemorySegment s, long off, int numBuffers) {
        // little-endian, as virtio 1.0: flags, GSO type, header length, GSO size, checksum
        // start in one store; checksum offset and num_buffers in another
        s.set(U64, off + FLAGS, F_DATA_VALID | (long) GSO_NONE << 8);
        s.set(U32, off + CSUM_OFFSET, (numBuffers & 0xffff) << 16);
    }
}
