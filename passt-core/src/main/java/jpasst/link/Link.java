package jpasst.link;

import java.lang.foreign.MemorySegment;

/**
 * The guest transport, as passt's tap.c is: how frames reach the guest and come from it. Two
 * implementations: the stream socket QEMU's {@code -netdev stream} connects to
 * ({@code jpasst.tap.StreamLink}, 4-byte length before each frame), and vhost-user (frames in
 * the guest's own virtqueues). Everything above this interface (ARP, DHCP, NDP, DHCPv6, the
 * flows) writes and reads frames through it and never learns which one carries them.
 *
 * <p><b>To the guest, one frame in one piece</b> (ARP, DHCP, NDP, DHCPv6, TCP control
 * segments, ICMP): {@link #reserve(int)} room for it, write it at that offset of {@link #out()}
 * (fetched after each reserve: vhost-user builds such frames in a staging buffer of its own),
 * {@link #commit(long, int)} it with its final length. No producer knows about length prefixes,
 * strides or virtio-net headers: they are the link's business.
 *
 * <p><b>To the guest, frames filled in place by a host socket read</b> (TCP data, UDP
 * datagrams): {@link #reserve(FrameBatch, int, int, int)} reserves up to {@code count} frames in
 * the producer's preallocated {@link FrameBatch}, each with its headers in one piece and its
 * payload as one or more pieces described by {@code struct iovec}s that recvmsg takes as they
 * are; the producer reads into them, writes the headers, sets each frame's payload length and
 * {@link #commit(FrameBatch, int) commits} the first frames; the rest go back. Between a
 * batch's reserve and its commit the producer reserves nothing else.
 *
 * <p><b>Room again</b>: a reserve that came short (no room, or fewer frames than asked) is
 * followed, once room is back, by {@link Receiver#roomAgain()}: an event the loop delivers to
 * the receiver, never a call out of {@code reserve}.
 *
 * <p><b>From the guest</b>: the link hands the frames of one read to its {@link Receiver} as a
 * {@link FramesFromGuest} batch, where they lie, and reuses their memory only once the receiver
 * has returned (see {@link Receiver#receive}).
 *
 * <p>Everything is called on the loop thread. Hot paths: no allocation.
 */
public interface Link {
    /** Starts serving the guest: from now on its frames go to {@code receiver}. Called once. */
    void start(Receiver receiver);

    /** Whether a guest is connected (frames can be sent). */
    boolean connected();

    /**
     * Room for one frame of {@code len} bytes: the offset in {@link #out()} to write it at, or -1
     * if there is no guest or no room (the caller drops the frame).
     */
    long reserve(int len);

    /** The segment the offsets of {@link #reserve(int)} point into; fetch it after each reserve. */
    MemorySegment out();

    /** Sends the frame written at {@code frame} (from {@link #reserve(int)}), {@code len} bytes (≤ reserved). */
    void commit(long frame, int len);

    /**
     * Reserves up to {@code count} frames in {@code batch}, each with {@code hdrLen} bytes of
     * headers in one piece and room for up to {@code maxPayload} bytes of payload; returns how
     * many it could (0: none now, and {@link Receiver#roomAgain()} follows once there is room).
     */
    int reserve(FrameBatch batch, int hdrLen, int maxPayload, int count);

    /**
     * Sends the first {@code frames} frames of {@code batch} with the payload lengths the
     * producer set, and gives the rest of the reservation back (0: all of it).
     */
    void commit(FrameBatch batch, int frames);

    /**
     * Whether frames to the guest need their TCP and UDP checksums: over the stream socket always;
     * over vhost-user only while a capture runs (the frames are marked as checked already).
     */
    boolean checksumsNeeded();

    /**
     * Whether the guest takes TCP frames of many segments over IPv6 ({@code v6}) or IPv4: one
     * frame, one set of headers, up to 64 KiB of payload whatever the MSS, which its stack takes
     * as the segments of {@link FrameBatch#segmentSize} they stand for. Over vhost-user when the
     * guest negotiated GUEST_TSO4/6; over the stream socket never (a frame there is what QEMU's
     * NIC hands the guest, at most the MTU).
     */
    boolean largeTcpFrames(boolean v6);

    /**
     * The most one read of a host socket should bring into frames, in bytes. The stream socket
     * writes its frames out of its own buffer, best while they are still in the CPU's cache
     * (it writes what a read brought at once, see {@code StreamLink.WRITE_AT}); over vhost-user
     * the frames are the guest's own buffers, and larger reads cost less.
     */
    int readLimit();

    /** The frames committed so far leave now (the end of a batch of events). */
    void flush();

    /** Closes the guest's connection and the listening socket. */
    void close();
}
