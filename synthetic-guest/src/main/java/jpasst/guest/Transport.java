package jpasst.guest;

import java.lang.foreign.MemorySegment;

/**
 * The guest's end of the daemon's guest transport: how frames leave the guest and how the
 * daemon's frames reach it. Two implementations: {@link StreamTransport}, QEMU's stream socket
 * (each frame behind a 4-byte big-endian length), and {@link VhostTransport}, vhost-user as
 * QEMU's front-end speaks it (the frames in the virtqueues of a memfd the daemon maps).
 *
 * Frames out are reserved ({@link #reserve}: an offset in {@link #out()} with room for the
 * frame), written in place, committed ({@link #commit}), and pushed to the daemon by
 * {@link #flush} (one write, one kick for all that were committed). Frames in are handed over
 * where they lie ({@link Receiver}), during {@link #poll}. A transport serves one thread and
 * allocates nothing per frame.
 */
public interface Transport extends AutoCloseable {
    /** Takes the daemon's frames where they lie; must not keep {@code s} past the call. */
    interface Receiver {
        /**
         * One frame of {@code len} bytes at {@code off} of {@code s}; {@code checksumsVouched}
         * when the transport said its checksums need no check (vhost-user's DATA_VALID: the
         * daemon may then leave TCP and UDP checksums out, and a guest does not verify them).
         */
        void frame(MemorySegment s, long off, int len, boolean checksumsVouched);
    }

    /** Where reserved frames are written. */
    MemorySegment out();

    /** Room for a frame of {@code len} bytes: its offset in {@link #out()}, or -1 if there is none now. */
    long reserve(int len);

    /** The frame of {@code len} bytes written at {@code off} (from {@link #reserve}) goes out with the next flush. */
    void commit(long off, int len);

    /** Pushes what was committed to the daemon; true if nothing is left waiting for room. */
    boolean flush();

    /**
     * Whether the daemon took checksum offload (vhost-user's VIRTIO_NET_F_CSUM, acked as a Linux
     * guest acks it): TCP and UDP frames may then go with {@link #commitLeavingChecksum}.
     */
    default boolean checksumOffload() {
        return false;
    }

    /**
     * {@link #commit} of a frame whose transport checksum (at {@code csumStart} +
     * {@code csumOffset}, holding the pseudo-header's folded sum) is left to the device: NEEDS_CSUM,
     * as Linux sends once the device offers it. Only when {@link #checksumOffload}.
     */
    default void commitLeavingChecksum(long off, int len, int csumStart, int csumOffset) {
        throw new UnsupportedOperationException(name() + " has no checksum offload");
    }

    /**
     * Whether the daemon takes TCP frames of many segments from the guest over IPv6 ({@code v6})
     * or IPv4 (vhost-user's HOST_TSO6/4, acked as Linux acks them, with checksum offload): a
     * frame may then carry up to 64 KiB of a connection's data, committed with
     * {@link #commitSegmented}.
     */
    default boolean segmentationOffload(boolean v6) {
        return false;
    }

    /**
     * {@link #commitLeavingChecksum} of a TCP frame of segments of {@code gsoSize} bytes behind
     * {@code hdrLen} bytes of headers. Only when {@link #segmentationOffload}.
     */
    default void commitSegmented(long off, int len, int csumStart, int csumOffset, boolean v6, int hdrLen, int gsoSize) {
        throw new UnsupportedOperationException(name() + " has no segmentation offload");
    }

    /** Bytes committed that the daemon has not taken yet. */
    long queued();

    /**
     * Waits up to {@code timeoutMs} (0: not at all) for the daemon's frames or for room to
     * write, pushes what is committed, and hands every frame that came to {@code r}; returns
     * how many. Throws {@link IllegalStateException} once the daemon closed the connection.
     */
    int poll(Receiver r, int timeoutMs);

    /** Whether the daemon closed the connection. */
    boolean closed();

    /** Which transport, for messages: "stream" or "vhost-user". */
    String name();

    @Override
    void close();
}
