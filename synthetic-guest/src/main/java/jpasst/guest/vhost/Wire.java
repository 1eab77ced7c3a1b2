package jpasst.guest.vhost;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The vhost-user and virtio numbers the front-end speaks, taken from QEMU's
 * docs/interop/vhost-user.rst, its hw/virtio/vhost-user.c and the virtio 1.x specification,
 * independently of the daemon's copy: messages (a 12-byte little-endian header, then the
 * payload), feature bits, and the split-ring and virtio-net header layouts.
 */
public final class Wire {
    private Wire() {}

    static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public static final int HEADER_SIZE = 12;
    public static final int FLAG_VERSION_1 = 0x1, FLAG_REPLY = 0x4, FLAG_NEED_REPLY = 0x8;

    public static final int GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, SET_MEM_TABLE = 5,
            SET_LOG_BASE = 6, SET_LOG_FD = 7, SET_VRING_NUM = 8, SET_VRING_ADDR = 9, SET_VRING_BASE = 10,
            GET_VRING_BASE = 11, SET_VRING_KICK = 12, SET_VRING_CALL = 13, SET_VRING_ERR = 14,
            GET_PROTOCOL_FEATURES = 15, SET_PROTOCOL_FEATURES = 16, GET_QUEUE_NUM = 17,
            SET_VRING_ENABLE = 18, SEND_RARP = 19;

    public static final int F_CSUM = 0, F_GUEST_CSUM = 1, F_GUEST_TSO4 = 7, F_GUEST_TSO6 = 8,
            F_HOST_TSO4 = 11, F_HOST_TSO6 = 12, F_MRG_RXBUF = 15, F_LOG_ALL = 26, F_PROTOCOL_FEATURES = 30, F_VERSION_1 = 32;
    public static final int PF_MQ = 0, PF_LOG_SHMFD = 1, PF_RARP = 2, PF_REPLY_ACK = 3, PF_DEVICE_STATE = 19;
    /** Ring index in bits 0-7 of the kick/call/err payload; bit 8: no descriptor. */
    public static final long VRING_NOFD = 0x100;

    /** Queue 0 receives (the device writes into it), queue 1 transmits. */
    public static final int RX = 0, TX = 1;

    // split ring (virtio 1.x, 2.7)
    static final int DESC_SIZE = 16;
    public static final int DESC_F_NEXT = 1, DESC_F_WRITE = 2, DESC_F_INDIRECT = 4;
    static final int AVAIL_F_NO_INTERRUPT = 1, USED_F_NO_NOTIFY = 1;

    /** The virtio-net header with VIRTIO_F_VERSION_1: 12 bytes, num_buffers at 10. */
    public static final int NET_HDR = 12, NET_HDR_FLAGS = 0, NET_HDR_GSO_TYPE = 1, NET_HDR_HDR_LEN = 2,
            NET_HDR_GSO_SIZE = 4, NET_HDR_CSUM_START = 6,
            NET_HDR_CSUM_OFFSET = 8, NET_HDR_NUM_BUFFERS = 10;
    public static final int NET_HDR_F_NEEDS_CSUM = 1, NET_HDR_F_DATA_VALID = 2;
    public static final int GSO_NONE = 0, GSO_TCPV4 = 1, GSO_TCPV6 = 4;
}
