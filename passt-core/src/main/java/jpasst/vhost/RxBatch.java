package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.sys.Msghdr;

/**
 * Receive buffers reserved in the guest's receive queue for frames that a host socket read will
 * fill in place ({@link VhostUserDevice#reserveRx}, then {@link VhostUserDevice#commitRx}).
 *
 * For frame i: its headers ({@code hdrLen} bytes: Ethernet, IP, TCP or UDP, written by the
 * producer after the read) lie in one piece at {@link #headerOffset}(i) of {@link #header}(i),
 * right after the virtio-net header the device writes at commit; its payload room,
 * {@link #capacity}(i) bytes, is {@link #iovCount}(i) {@code struct iovec} entries from
 * {@link #iovStart}(i) in the native array {@link #iovecs()}, frame after frame, as recvmsg and
 * recvmmsg take them: with MRG_RXBUF a frame may span several guest buffers. Each payload piece
 * can also be read in Java ({@link #pieceSegment}, {@link #pieceOffset}, {@link #pieceLength}),
 * for checksums.
 *
 * The producer sets each frame's payload length ({@link #payloadLength}) and commits the first
 * frames it filled; buffers reserved and not filled go back to the guest's ring.
 *
 * Preallocated, one per producer, reused: no allocation per frame.
 */
public final class RxBatch {
    // per frame
    final int[] firstChain, chainCount, iovFirst, iovs, cap, payload;
    final MemorySegment[] hdrSeg;
    final long[] hdrOff;
    // per chain
    final int[] head, pieceStart, pieceEnd;
    final long[] chainBytes, serial;
    final boolean[] fromSpare;
    int chains;
    final Pieces pieces;
    // per iovec entry: the native array and the same in Java
    final MemorySegment iov;
    final MemorySegment[] iovSeg;
    final long[] iovOff;
    final int[] iovLen;
    int iovUsed;

    int frames, hdrLen;
    GuestMemory pinned;
    int generation;

    /**
     * @param maxFrames frames reserved at most at once
     * @param maxChains guest buffers reserved at most at once (with MRG_RXBUF a frame at MTU 65520
     *                  spans about 43 of Linux's 1.5 KiB buffers)
     */
    public RxBatch(int maxFrames, int maxChains) {
        firstChain = new int[maxFrames];
        chainCount = new int[maxFrames];
        iovFirst = new int[maxFrames];
        iovs = new int[maxFrames];
        cap = new int[maxFrames];
        payload = new int[maxFrames];
        hdrSeg = new MemorySegment[maxFrames];
        hdrOff = new long[maxFrames];
        head = new int[maxChains];
        pieceStart = new int[maxChains];
        pieceEnd = new int[maxChains];
        chainBytes = new long[maxChains];
        serial = new long[maxChains];
        fromSpare = new boolean[maxChains];
        int maxPieces = Math.max(2 * maxChains, Virtqueue.MAX_PIECES);
        pieces = new Pieces(maxPieces);
        iov = Arena.ofAuto().allocate((long) Msghdr.IOVEC * maxPieces, 8);
        iovSeg = new MemorySegment[maxPieces];
        iovOff = new long[maxPieces];
        iovLen = new int[maxPieces];
    }

    public int maxFrames() {
        return cap.length;
    }

    /** Frames reserved by the last {@link VhostUserDevice#reserveRx}. */
    public int frames() {
        return frames;
    }

    /** The segment frame i's headers are written into. */
    public MemorySegment header(int i) {
        return hdrSeg[i];
    }

    public long headerOffset(int i) {
        return hdrOff[i];
    }

    /** The payload room of frame i: the sum of its iovec lengths. */
    public int capacity(int i) {
        return cap[i];
    }

    /** The native {@code struct iovec} array of all frames' payload pieces. */
    public MemorySegment iovecs() {
        return iov;
    }

    public int iovStart(int i) {
        return iovFirst[i];
    }

    public int iovCount(int i) {
        return iovs[i];
    }

    public MemorySegment pieceSegment(int i, int k) {
        return iovSeg[iovFirst[i] + k];
    }

    public long pieceOffset(int i, int k) {
        return iovOff[iovFirst[i] + k];
    }

    public int pieceLength(int i, int k) {
        return iovLen[iovFirst[i] + k];
    }

    /** Frame i carries {@code len} bytes of payload (at most its capacity). */
    public void payloadLength(int i, int len) {
        if (len < 0 || len > cap[i]) {
            throw new IllegalArgumentException("payload of " + len + " bytes for a frame with room for " + cap[i]);
        }
        payload[i] = len;
    }

    void addIov(MemorySegment s, long o, int l) {
        Msghdr.iovec(iov, iovUsed, s.address() + o, l);
        iovSeg[iovUsed] = s;
        iovOff[iovUsed] = o;
        iovLen[iovUsed] = l;
        iovUsed++;
    }

    void clear() {
        for (int i = 0; i < iovUsed; i++) iovSeg[i] = null;
        for (int i = 0; i < frames; i++) hdrSeg[i] = null;
        frames = chains = iovUsed = 0;
        pieces.clear();
        pinned = null;
    }
}
