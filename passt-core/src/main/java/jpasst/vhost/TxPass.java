package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.link.FramesFromGuest;
import jpasst.sys.Memory;

/**
 * The device's side of one pass over the transmit queue ({@link VhostUserDevice#popTx} to
 * {@link VhostUserDevice#releaseTx}): the head index of each chain whose frame went into the
 * {@link FramesFromGuest} batch, to return them to the guest once the batch is done, and the
 * scratch space that frames scattered over several buffers are copied into (a frame in one
 * buffer, or with the virtio-net header alone in the first, is handed over in guest memory).
 *
 * One per device; preallocated, reused for every pass (the scratch space is mapped, so only what
 * scattered frames ever touched becomes resident): no allocation per frame.
 */
final class TxPass {
    /** Room for sixteen scattered frames of 64 KiB a pass; the next pass takes the rest. */
    static final int SCRATCH = 1 << 20;

    final int[] head = new int[FramesFromGuest.MAX];
    int frames;
    final Pieces pieces = new Pieces(Virtqueue.MAX_PIECES);
    final MemorySegment scratch = Memory.mmapAnonymous(SCRATCH, Arena.ofAuto());
    long scratchUsed;
    GuestMemory pinned;
    int generation;

    void clear() {
        frames = 0;
        scratchUsed = 0;
        pieces.clear();
        pinned = null;
    }
}
