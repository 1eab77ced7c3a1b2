package jpasst.flow;

import java.lang.foreign.MemorySegment;

/**
 * A transport's side of the flow layer, as the dispatcher sees it: TCP, UDP, ICMP/ICMPv6 each
 * take their packets from the guest, and hear about the ends of batches, the guest going away
 * and room for frames coming back.
 */
public interface Transport {
    /**
     * A packet from the guest: its transport header at {@code l4} of {@code s} ({@code l4Len}
     * bytes with the payload), in the frame at {@code frame}; the addresses as {@link
     * jpasst.packet.Inany} pairs. It lies in the link's input batch: pointers into it are good
     * until {@link #batchDone()}. {@code checksumPending}: the guest left its checksum to the
     * device (vhost-user's NEEDS_CSUM), so it is not checked; else a bad one drops the packet.
     */
    void packet(MemorySegment s, long frame, long l4, int l4Len, boolean v6,
                long srcHi, long srcLo, long dstHi, long dstLo, boolean checksumPending);

    /**
     * The next packets come from {@code frame}'s current frame, which the link handed over in
     * pieces ({@link jpasst.link.FramesFromGuest#tailCount}: TCP only, its headers whole in the
     * first piece), or from frames in one piece again ({@code null}).
     */
    default void scatteredFrame(jpasst.link.FramesFromGuest frame) {}

    /** The frames of one batch from the guest are all in: whatever was queued from them leaves now. */
    default void batchDone() {}

    /** The guest went away: close every flow. */
    void guestGone();

    /** Room for frames to the guest is back: flows that stopped for lack of it go on. */
    default void roomAgain() {}
}
