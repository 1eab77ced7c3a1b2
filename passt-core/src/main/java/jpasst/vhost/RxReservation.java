package jpasst.vhost;

import jpasst.link.FrameBatch;

/**
 * The device's side of a reservation of receive buffers ({@link VhostUserDevice#reserveRx}): the
 * chains popped from the receive queue for the frames of one {@link FrameBatch}, which describes
 * the same frames to the producer (where the headers go, the payload pieces). Kept here are what
 * the producer need not see: each chain's head index and length, its pieces (the virtio-net
 * header's place, the dirty log's guest addresses), whether it came from the spares and when it
 * was popped (to rewind it or keep it as a spare if it is not used), and which chains make up
 * which frame.
 *
 * One per device: a link has one reservation outstanding at a time (a producer reserves, reads,
 * commits, and reserves nothing else in between). Preallocated: no allocation per frame.
 */
final class RxReservation {
    /** Frames and chains of one reservation at most (a producer's FrameBatch is smaller). */
    static final int MAX_FRAMES = 1024, MAX_CHAINS = 4096;

    // per chain
    final int[] head = new int[MAX_CHAINS], pieceStart = new int[MAX_CHAINS], pieceEnd = new int[MAX_CHAINS];
    final long[] chainBytes = new long[MAX_CHAINS], serial = new long[MAX_CHAINS];
    final boolean[] fromSpare = new boolean[MAX_CHAINS];
    int chains;
    final Pieces pieces = new Pieces(MAX_CHAINS + Virtqueue.MAX_PIECES);
    // per frame
    final int[] firstChain = new int[MAX_FRAMES], chainCount = new int[MAX_FRAMES];
    int frames, hdrLen;

    /** The batch the chains are reserved for (null: none outstanding). */
    FrameBatch batch;
    GuestMemory pinned;
    int generation;

    /** The chains popped so far for the frame that starts at chain {@code first}, as frame {@code f}. */
    void frame(int f, int first) {
        firstChain[f] = first;
        chainCount[f] = chains - first;
    }

    /** Index of the first piece of frame {@code f}: its virtio-net header is there. */
    int headerPiece(int f) {
        return pieceStart[firstChain[f]];
    }

    /** Index after the last piece of frame {@code f}. */
    int endPiece(int f) {
        return pieceEnd[firstChain[f] + chainCount[f] - 1];
    }

    void clear() {
        pieces.clear();
        chains = frames = 0;
        batch = null;
        pinned = null;
    }
}
