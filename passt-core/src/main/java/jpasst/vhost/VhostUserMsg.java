package jpasst.vhost;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The vhost-user message codec (QEMU's docs/interop/vhost-user.rst): the 12-byte header
 * (u32 request, u32 flags, u32 payload size, little endian), the payload layouts of the requests
 * a virtio-net back-end serves, and the feature bits. A message lies in one buffer, header at 0
 * and payload at {@link #HEADER}; fields are read and written with static offsets, as the packet
 * codecs do, so nothing is allocated per message.
 *
 * Descriptors (memory regions, eventfds) do not travel in the payload but beside the header, as
 * SCM_RIGHTS ancillary data ({@link MessageChannel}); at most {@link #MAX_FDS} per message.
 */
public final class VhostUserMsg {
    private VhostUserMsg() {}

    public static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    // ---- header
    public static final int HEADER = 12, REQUEST = 0, FLAGS = 4, SIZE = 8;
    public static final int MAX_FDS = 8;
    /**
     * The largest payload read: far above the largest one served (the memory table, 8 + 8 * 32
     * bytes), enough to read a request we refuse and stay in step with the stream; a header
     * announcing more cannot be skipped safely and resets the connection.
     */
    public static final int MAX_PAYLOAD = 4096;

    // ---- flags
    public static final int VERSION_MASK = 0x3, VERSION = 1, REPLY = 0x4, NEED_REPLY = 0x8;

    // ---- requests (front-end to back-end)
    public static final int GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, RESET_OWNER = 4,
            SET_MEM_TABLE = 5, SET_LOG_BASE = 6, SET_LOG_FD = 7, SET_VRING_NUM = 8,
            SET_VRING_ADDR = 9, SET_VRING_BASE = 10, GET_VRING_BASE = 11, SET_VRING_KICK = 12,
            SET_VRING_CALL = 13, SET_VRING_ERR = 14, GET_PROTOCOL_FEATURES = 15,
            SET_PROTOCOL_FEATURES = 16, GET_QUEUE_NUM = 17, SET_VRING_ENABLE = 18, SEND_RARP = 19,
            NET_SET_MTU = 20, SET_BACKEND_REQ_FD = 21, IOTLB_MSG = 22, SET_VRING_ENDIAN = 23,
            GET_CONFIG = 24, SET_CONFIG = 25, GET_INFLIGHT_FD = 31, SET_INFLIGHT_FD = 32,
            GET_MAX_MEM_SLOTS = 36, ADD_MEM_REG = 37, REM_MEM_REG = 38, SET_STATUS = 39,
            GET_STATUS = 40, SET_DEVICE_STATE_FD = 42, CHECK_DEVICE_STATE = 43;

    private static final String[] NAMES = new String[44];
    static {
        String[] n = {null, "GET_FEATURES", "SET_FEATURES", "SET_OWNER", "RESET_OWNER", "SET_MEM_TABLE",
                "SET_LOG_BASE", "SET_LOG_FD", "SET_VRING_NUM", "SET_VRING_ADDR", "SET_VRING_BASE",
                "GET_VRING_BASE", "SET_VRING_KICK", "SET_VRING_CALL", "SET_VRING_ERR",
                "GET_PROTOCOL_FEATURES", "SET_PROTOCOL_FEATURES", "GET_QUEUE_NUM", "SET_VRING_ENABLE",
                "SEND_RARP", "NET_SET_MTU", "SET_BACKEND_REQ_FD", "IOTLB_MSG", "SET_VRING_ENDIAN",
                "GET_CONFIG", "SET_CONFIG", "CREATE_CRYPTO_SESSION", "CLOSE_CRYPTO_SESSION",
                "POSTCOPY_ADVISE", "POSTCOPY_LISTEN", "POSTCOPY_END", "GET_INFLIGHT_FD",
                "SET_INFLIGHT_FD", "GPU_SET_SOCKET", "RESET_DEVICE", "VRING_KICK", "GET_MAX_MEM_SLOTS",
                "ADD_MEM_REG", "REM_MEM_REG", "SET_STATUS", "GET_STATUS", "GET_SHARED_OBJECT",
                "SET_DEVICE_STATE_FD", "CHECK_DEVICE_STATE"};
        System.arraycopy(n, 0, NAMES, 0, n.length);
    }

    /** "SET_MEM_TABLE", or "unknown" for a number the protocol does not define. */
    public static String name(int request) {
        return request > 0 && request < NAMES.length && NAMES[request] != null ? NAMES[request] : "unknown";
    }

    // ---- virtio and vhost feature bits (GET/SET_FEATURES)
    public static final int VIRTIO_NET_F_CSUM = 0, VIRTIO_NET_F_GUEST_CSUM = 1, VIRTIO_NET_F_GUEST_TSO4 = 7,
            VIRTIO_NET_F_GUEST_TSO6 = 8, VIRTIO_NET_F_HOST_TSO4 = 11, VIRTIO_NET_F_HOST_TSO6 = 12,
            VIRTIO_NET_F_MRG_RXBUF = 15, VHOST_F_LOG_ALL = 26,
            VHOST_USER_F_PROTOCOL_FEATURES = 30, VIRTIO_F_VERSION_1 = 32;

    // ---- protocol feature bits (GET/SET_PROTOCOL_FEATURES)
    public static final int PROTOCOL_F_MQ = 0, PROTOCOL_F_LOG_SHMFD = 1, PROTOCOL_F_RARP = 2,
            PROTOCOL_F_REPLY_ACK = 3, PROTOCOL_F_DEVICE_STATE = 19;

    // ---- payloads, offsets from the start of the payload
    /** A u64 (features, queue count, kick/call/err: ring index in bits 0-7, bit 8 = no descriptor). */
    public static final int U64_SIZE = 8;
    public static final long VRING_INDEX_MASK = 0xff, VRING_NOFD = 0x100;
    /** struct vhost_vring_state: index, num. */
    public static final int STATE_INDEX = 0, STATE_NUM = 4, STATE_SIZE = 8;
    /** struct vhost_vring_addr: index, flags, then front-end virtual addresses and the log's guest address. */
    public static final int ADDR_INDEX = 0, ADDR_FLAGS = 4, ADDR_DESC = 8, ADDR_USED = 16, ADDR_AVAIL = 24,
            ADDR_LOG = 32, ADDR_SIZE = 40;
    /** Flag bit of {@link #ADDR_FLAGS}: writes to the used ring are logged at {@link #ADDR_LOG}. */
    public static final int VRING_F_LOG = 0;
    /** The memory table: u32 count, u32 padding, then regions {gpa, size, front-end address, mmap offset}. */
    public static final int MEM_COUNT = 0, MEM_REGIONS = 8, REGION_SIZE = 32,
            REGION_GPA = 0, REGION_LEN = 8, REGION_QVA = 16, REGION_MMAP_OFFSET = 24;
    /** SET_LOG_BASE: mmap size, mmap offset. */
    public static final int LOG_MMAP_SIZE = 0, LOG_MMAP_OFFSET = 8, LOG_SIZE = 16;

    public static int request(MemorySegment m) {
        return m.get(U32, REQUEST);
    }

    public static int flags(MemorySegment m) {
        return m.get(U32, FLAGS);
    }

    /** The payload size as the header says it: unsigned, so a "negative" one is large. */
    public static long size(MemorySegment m) {
        return Integer.toUnsignedLong(m.get(U32, SIZE));
    }

    public static int u32(MemorySegment m, int payloadOff) {
        return m.get(U32, HEADER + payloadOff);
    }

    public static long u64(MemorySegment m, int payloadOff) {
        return m.get(U64, HEADER + payloadOff);
    }

    /** Writes a reply header for {@code request} with a payload of {@code size} bytes. */
    public static void replyHeader(MemorySegment m, int request, int size) {
        m.set(U32, REQUEST, request);
        m.set(U32, FLAGS, VERSION | REPLY);
        m.set(U32, SIZE, size);
    }

    public static void putU32(MemorySegment m, int payloadOff, int v) {
        m.set(U32, HEADER + payloadOff, v);
    }

    public static void putU64(MemorySegment m, int payloadOff, long v) {
        m.set(U64, HEADER + payloadOff, v);
    }
}
