package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.sys.Descriptors;
import jpasst.util.Log;

import static jpasst.vhost.VhostUserMsg.*;

/**
 * The state one front-end builds up over the vhost-user socket, request by request: what QEMU's
 * vhost-user-net sends from connect to a running link and back (in QEMU 10's order: GET_FEATURES,
 * GET/SET_PROTOCOL_FEATURES, SET_OWNER, SET_VRING_CALL/ERR; then, when the guest's driver is
 * ready, SET_FEATURES, SET_MEM_TABLE, SET_VRING_NUM/BASE/ADDR/KICK/CALL per ring,
 * SET_VRING_ENABLE; GET_VRING_BASE when it stops; SET_LOG_BASE/LOG_FD and SEND_RARP around a
 * migration). Any order the protocol allows is served, not only QEMU's.
 *
 * Offered, as upstream passt offers them: VIRTIO_F_VERSION_1, VIRTIO_NET_F_MRG_RXBUF,
 * VHOST_F_LOG_ALL and VHOST_USER_F_PROTOCOL_FEATURES; protocol features REPLY_ACK, LOG_SHMFD and
 * RARP. Beyond upstream, VIRTIO_NET_F_CSUM: the guest may leave the TCP and UDP checksums of what
 * it sends to the device (NEEDS_CSUM), and the device needs none of them (it ends TCP and hands
 * payloads to sockets), so a guest that takes it saves a pass over every byte it sends; in a
 * guest whose CPU is emulated that is most of what bulk sending costs it. And GUEST_CSUM with
 * GUEST_TSO4 and GUEST_TSO6 (the spec has the TSO bits require GUEST_CSUM): the guest takes TCP
 * frames of many segments, one header for up to 64 KiB of data whatever its MTU, as Linux's
 * virtio-net takes them from vhost-net (GSO, see {@link VirtioNetHeader}), so host-to-guest data
 * costs both sides a frame per 64 KiB instead of one per MSS. And HOST_TSO4 and HOST_TSO6 (they
 * require CSUM), the other way: the guest may send TCP frames of many segments, up to 64 KiB
 * whatever its MTU, as to vhost-net; jpasst ends TCP and hands the payload to the host socket as
 * it is, so it needs nothing of the header but NEEDS_CSUM (the GSO fields are not looked at, the
 * IP header says the lengths). Upstream also offers
 * DEVICE_STATE, the transfer of its flows in a migration: jpasst does not migrate flows yet, and
 * offering it without doing it would make a migration claim success for state it dropped. One queue pair: ring 0 receives (the device writes), ring 1 transmits.
 *
 * Every message is checked before its payload is used: its size exactly the request's, its
 * descriptor count (none, one, or one per memory region; kick/call/err: none with the "no
 * descriptor" bit), ring indices, ring sizes, features within what was offered, SET_FEATURES
 * with VERSION_1 (legacy virtio is refused, as passt does). A breach throws
 * {@link VhostUserException}: the device logs it and resets the connection. A request this device
 * does not serve (unknown, or depending on a feature that was not negotiated) is refused: one log
 * line and, if the front-end asked for an answer (NEED_REPLY), a failure code; the connection
 * stays.
 *
 * REPLY_ACK: when a request carries NEED_REPLY and its handler sent no reply of its own, a u64 0
 * answers success.
 */
final class VhostUserSession {
    /** Where the device registers the kick eventfds with the event loop. */
    interface KickWatch {
        /** {@code q}'s kick descriptor becomes {@code fd} (-1: none); the old one is to be unwatched and closed. */
        void kick(Virtqueue q, int fd);
    }

    static final long OFFERED_FEATURES = 1L << VIRTIO_F_VERSION_1 | 1L << VIRTIO_NET_F_MRG_RXBUF
            | 1L << VIRTIO_NET_F_CSUM | 1L << VIRTIO_NET_F_GUEST_CSUM | 1L << VIRTIO_NET_F_GUEST_TSO4
            | 1L << VIRTIO_NET_F_GUEST_TSO6 | 1L << VIRTIO_NET_F_HOST_TSO4 | 1L << VIRTIO_NET_F_HOST_TSO6
            | 1L << VHOST_F_LOG_ALL | 1L << VHOST_USER_F_PROTOCOL_FEATURES;
    static final long OFFERED_PROTOCOL_FEATURES = 1L << PROTOCOL_F_REPLY_ACK | 1L << PROTOCOL_F_LOG_SHMFD
            | 1L << PROTOCOL_F_RARP;
    /** The largest frame from the guest: 64 KiB, as on the stream socket; a transmit chain holds it and its header. */
    static final int MAX_FRAME = 65535;
    /**
     * The largest frame to the guest: an IP packet of 64 KiB behind its Ethernet header and, over
     * IPv6, its fixed header (a UDP datagram of 65527 bytes), as passt's receive side allows.
     */
    static final int MAX_RX_FRAME = 14 + 40 + 65535;
    /** A receive chain larger than this is refused (Linux posts buffers of a page or a few). */
    static final long MAX_RX_CHAIN = 1 << 20;

    final Virtqueue rx, tx;
    final DirtyLog log;
    private final KickWatch watch;
    private GuestMemory memory;
    private long features, protocolFeatures;

    VhostUserSession(Arena arena, KickWatch watch) {
        this.watch = watch;
        rx = new Virtqueue(0, true, MAX_RX_CHAIN, arena);
        tx = new Virtqueue(1, false, VirtioNetHeader.SIZE + MAX_FRAME, arena);
        log = new DirtyLog(arena);
    }

    GuestMemory memory() {
        return memory;
    }

    boolean mergeable() {
        return (features & 1L << VIRTIO_NET_F_MRG_RXBUF) != 0;
    }

    /** Whether the guest may leave transport checksums to the device (VIRTIO_NET_F_CSUM). */
    boolean checksumOffload() {
        return (features & 1L << VIRTIO_NET_F_CSUM) != 0;
    }

    /**
     * Whether the guest takes TCP frames of many segments over IPv6 ({@code v6}) or IPv4:
     * GUEST_TSO6 or GUEST_TSO4 negotiated, with GUEST_CSUM as they require.
     */
    boolean segmentationOffload(boolean v6) {
        long both = 1L << VIRTIO_NET_F_GUEST_CSUM | 1L << (v6 ? VIRTIO_NET_F_GUEST_TSO6 : VIRTIO_NET_F_GUEST_TSO4);
        return (features & both) == both;
    }

    long features() {
        return features;
    }

    long protocolFeatures() {
        return protocolFeatures;
    }

    /** Serves the message {@code ch} has read; throws {@link VhostUserException} for a breach. */
    void handle(MessageChannel ch) {
        MemorySegment m = ch.message();
        int request = request(m);
        long size = size(m);
        boolean needReply = (flags(m) & NEED_REPLY) != 0;
        if (Log.debugEnabled()) {
            Log.debug("vhost-user: " + name(request) + " (" + request + "), " + size + " bytes, "
                    + ch.fdCount() + " descriptors" + (needReply ? ", reply wanted" : ""));
        }
        boolean replied = switch (request) {
            case GET_FEATURES -> {
                expect(ch, 0, 0);
                yield replyU64(ch, request, OFFERED_FEATURES);
            }
            case SET_FEATURES -> {
                expect(ch, U64_SIZE, 0);
                setFeatures(u64(m, 0));
                yield false;
            }
            case GET_PROTOCOL_FEATURES -> {
                expect(ch, 0, 0);
                yield replyU64(ch, request, OFFERED_PROTOCOL_FEATURES);
            }
            case SET_PROTOCOL_FEATURES -> {
                expect(ch, U64_SIZE, 0);
                long f = u64(m, 0);
                if ((f & ~OFFERED_PROTOCOL_FEATURES) != 0) {
                    throw new VhostUserException("SET_PROTOCOL_FEATURES: 0x" + Long.toHexString(f & ~OFFERED_PROTOCOL_FEATURES)
                            + " was not offered");
                }
                protocolFeatures = f;
                yield false;
            }
            case GET_QUEUE_NUM -> {
                expect(ch, 0, 0);
                yield replyU64(ch, request, 1);
            }
            case SET_OWNER -> {
                expect(ch, 0, 0);
                yield false;
            }
            case SET_MEM_TABLE -> {
                setMemTable(ch, size);
                yield false;
            }
            case SET_LOG_BASE -> {
                if (!negotiated(PROTOCOL_F_LOG_SHMFD)) yield refuse(ch, request, needReply, "LOG_SHMFD was not negotiated");
                expect(ch, LOG_SIZE, 1);
                log.base(ch.takeFd(0), u64(m, LOG_MMAP_SIZE), u64(m, LOG_MMAP_OFFSET));
                yield replyU64(ch, request, 0);
            }
            case SET_LOG_FD -> {
                if (!negotiated(PROTOCOL_F_LOG_SHMFD)) yield refuse(ch, request, needReply, "LOG_SHMFD was not negotiated");
                expect(ch, 0, 1);
                log.eventFd(nonBlocking(ch.takeFd(0)));
                yield false;
            }
            case SET_VRING_NUM -> {
                expect(ch, STATE_SIZE, 0);
                queue(request, u32(m, STATE_INDEX)).size(u32(m, STATE_NUM));
                yield false;
            }
            case SET_VRING_BASE -> {
                expect(ch, STATE_SIZE, 0);
                queue(request, u32(m, STATE_INDEX)).base(u32(m, STATE_NUM));
                yield false;
            }
            case SET_VRING_ADDR -> {
                expect(ch, ADDR_SIZE, 0);
                Virtqueue q = queue(request, u32(m, ADDR_INDEX));
                q.addresses(u32(m, ADDR_FLAGS), u64(m, ADDR_DESC), u64(m, ADDR_USED), u64(m, ADDR_AVAIL), u64(m, ADDR_LOG));
                yield false;
            }
            case GET_VRING_BASE -> {
                expect(ch, STATE_SIZE, 0);
                Virtqueue q = queue(request, u32(m, STATE_INDEX));
                int base = q.stop();
                watch.kick(q, -1);
                if (q.callFd >= 0) Descriptors.close(q.callFd);
                q.callFd = -1;
                MemorySegment r = ch.reply();
                putU32(r, STATE_INDEX, q.index);
                putU32(r, STATE_NUM, base);
                ch.sendReply(request, STATE_SIZE);
                yield true;
            }
            case SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR -> {
                ringFile(ch, request, u64Checked(ch, request));
                yield false;
            }
            case SET_VRING_ENABLE -> {
                expect(ch, STATE_SIZE, 0);
                Virtqueue q = queue(request, u32(m, STATE_INDEX));
                int on = u32(m, STATE_NUM);
                if (on != 0 && on != 1) {
                    throw new VhostUserException("SET_VRING_ENABLE: " + Integer.toUnsignedString(on) + " for the " + q.name
                            + ", expected 0 or 1");
                }
                q.enabled = on == 1;
                yield false;
            }
            case SEND_RARP -> {
                if (!negotiated(PROTOCOL_F_RARP)) yield refuse(ch, request, needReply, "RARP was not negotiated");
                expect(ch, U64_SIZE, 0);
                // As passt: no switch to teach the guest's MAC address to, so nothing to broadcast.
                Log.debug("vhost-user: SEND_RARP for " + mac(u64(m, 0)) + " ignored (no switch to update)");
                yield false;
            }
            default -> refuse(ch, request, needReply, "not supported");
        };
        if (needReply && !replied) ch.sendAck(request, true);
    }

    private boolean negotiated(int protocolFeature) {
        return (protocolFeatures & 1L << protocolFeature) != 0;
    }

    private static boolean refuse(MessageChannel ch, int request, boolean needReply, String why) {
        Log.warn("vhost-user: refusing " + name(request) + " (" + request + "): " + why);
        if (needReply) ch.sendAck(request, false);
        return true;
    }

    private static boolean replyU64(MessageChannel ch, int request, long v) {
        putU64(ch.reply(), 0, v);
        ch.sendReply(request, U64_SIZE);
        return true;
    }

    private static void expect(MessageChannel ch, int payload, int fds) {
        int request = request(ch.message());
        long size = size(ch.message());
        if (size != payload) {
            throw new VhostUserException(name(request) + ": payload of " + size + " bytes, expected " + payload);
        }
        if (ch.fdCount() != fds) {
            throw new VhostUserException(name(request) + ": " + ch.fdCount() + " descriptors, expected " + fds);
        }
    }

    private Virtqueue queue(int request, int index) {
        if (index == 0) return rx;
        if (index == 1) return tx;
        throw new VhostUserException(name(request) + ": ring " + Integer.toUnsignedString(index)
                + ", this device has two (one queue pair)");
    }

    private void setFeatures(long f) {
        if ((f & ~OFFERED_FEATURES) != 0) {
            throw new VhostUserException("SET_FEATURES: 0x" + Long.toHexString(f & ~OFFERED_FEATURES) + " was not offered");
        }
        if ((f & 1L << VIRTIO_F_VERSION_1) == 0) {
            throw new VhostUserException("SET_FEATURES without VIRTIO_F_VERSION_1: legacy virtio devices are not supported");
        }
        features = f;
        log.active((f & 1L << VHOST_F_LOG_ALL) != 0);
        if ((f & 1L << VHOST_USER_F_PROTOCOL_FEATURES) == 0) {
            rx.enabled = tx.enabled = true; // without SET_VRING_ENABLE, rings are enabled from the start
        }
    }

    private void setMemTable(MessageChannel ch, long size) {
        int n = ch.fdCount();
        int[] fds = new int[n];
        for (int i = 0; i < n; i++) fds[i] = ch.takeFd(i);
        GuestMemory m = GuestMemory.map(ch.message(), size, fds, n);
        if (memory != null) memory.retire();
        memory = m;
        rx.memory(m, log);
        tx.memory(m, log);
    }

    private static long u64Checked(MessageChannel ch, int request) {
        long size = size(ch.message());
        if (size != U64_SIZE) {
            throw new VhostUserException(name(request) + ": payload of " + size + " bytes, expected " + U64_SIZE);
        }
        return u64(ch.message(), 0);
    }

    /** SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR: ring index in bits 0-7, bit 8: no descriptor. */
    private void ringFile(MessageChannel ch, int request, long v) {
        if ((v & ~(VRING_INDEX_MASK | VRING_NOFD)) != 0) {
            throw new VhostUserException(name(request) + ": 0x" + Long.toHexString(v) + " sets bits other than the ring"
                    + " index and the no-descriptor flag");
        }
        Virtqueue q = queue(request, (int) (v & VRING_INDEX_MASK));
        boolean nofd = (v & VRING_NOFD) != 0;
        if (ch.fdCount() != (nofd ? 0 : 1)) {
            throw new VhostUserException(name(request) + ": " + ch.fdCount() + " descriptors, expected " + (nofd ? 0 : 1));
        }
        int fd = nofd ? -1 : nonBlocking(ch.takeFd(0));
        switch (request) {
            case SET_VRING_KICK -> {
                watch.kick(q, fd);
                q.start();
                if (nofd) Log.warn("vhost-user: the " + q.name + " has no kick descriptor: polling is not supported");
            }
            case SET_VRING_CALL -> {
                if (q.callFd >= 0) Descriptors.close(q.callFd);
                q.callFd = fd;
                q.interrupt(); // as passt: in case the guest waits for one that a previous back-end owed
            }
            default -> {
                if (q.errFd >= 0) Descriptors.close(q.errFd);
                q.errFd = fd;
            }
        }
    }

    /** Eventfds from the front-end are made non-blocking: a full or empty one must never stall the loop. */
    private static int nonBlocking(int fd) {
        int fl = Descriptors.fcntl(fd, Descriptors.F_GETFL, 0);
        if (fl >= 0) Descriptors.fcntl(fd, Descriptors.F_SETFL, fl | Descriptors.O_NONBLOCK);
        return fd;
    }

    private static String mac(long v) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            if (i > 0) s.append(':');
            s.append(String.format("%02x", (v >>> (8 * i)) & 0xff));
        }
        return s.toString();
    }

    /** The front-end left: rings, memory and log are forgotten (the device closed the eventfds). */
    void reset() {
        rx.reset();
        tx.reset();
        log.close();
        if (memory != null) memory.retire();
        memory = null;
        features = protocolFeatures = 0;
    }
}
