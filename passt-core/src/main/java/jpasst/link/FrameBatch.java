package jpasst.link;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.packet.Checksum;
import jpasst.sys.Msghdr;

/**
 * Frames to the guest that a host socket read fills in place (TCP data, UDP datagrams): one per
 * producer, preallocated, reused for every read. A {@link Link} reserves frames in it
 * ({@link Link#reserve(FrameBatch, int, int, int)}); for each frame it records where the headers
 * go, in one piece, and where the payload goes, as one or more pieces. The pieces of all frames
 * are {@code struct iovec} entries in one native array, frame after frame, that recvmsg takes as
 * they are ({@link #iovecs()}: entry 0 is the producer's own, for a buffer to read into ahead of
 * the frames, see {@link #lead}). After the read the producer sets each frame's payload length
 * and writes its headers; {@link Link#commit(FrameBatch, int)} sends them.
 *
 * Over the stream socket a frame's payload is one piece right after its headers; over
 * vhost-user it may be several guest receive buffers. Producers need not know: they read into
 * the iovecs, take each frame's {@link #capacity} in turn, and checksum with {@link #sum}.
 *
 * Hot path: no allocation (the arrays are made once; frames are recorded by index).
 */
public final class FrameBatch {
    private final int maxFrames, maxPieces;
    private final MemorySegment iov;                 // struct iovec[1 + maxPieces]
    private final MemorySegment[] headerSegment;
    private final long[] headerOffset;
    private final int[] firstPiece, payloadLength;
    private final boolean[] contiguous; // one payload piece, right after the headers
    private final MemorySegment[] pieceSegment;
    private final long[] pieceOffset;
    private final int[] pieceLength;
    private int frames, pieces, headerLength, segmentSize;
    private boolean segmentsV6;
    private long room;                                // payload room of all frames

    /** Room for {@code maxFrames} frames with {@code maxPieces} payload pieces among them. */
    public FrameBatch(int maxFrames, int maxPieces) {
        this.maxFrames = maxFrames;
        this.maxPieces = maxPieces;
        this.iov = Arena.ofAuto().allocate((long) Msghdr.IOVEC * (1 + maxPieces), 8);
        this.headerSegment = new MemorySegment[maxFrames];
        this.headerOffset = new long[maxFrames];
        this.firstPiece = new int[maxFrames + 1];
        this.payloadLength = new int[maxFrames];
        this.contiguous = new boolean[maxFrames];
        this.pieceSegment = new MemorySegment[maxPieces];
        this.pieceOffset = new long[maxPieces];
        this.pieceLength = new int[maxPieces];
    }

    // ---- the link reserves

    /** Empties the batch for frames with {@code hdrLen} bytes of headers. */
    public void clear(int hdrLen) {
        frames = pieces = segmentSize = 0;
        room = 0;
        firstPiece[0] = 0;
        headerLength = hdrLen;
    }

    /** How many frames it can hold. */
    public int maxFrames() {
        return maxFrames;
    }

    /** How many payload pieces it can hold. */
    public int maxPieces() {
        return maxPieces;
    }

    /** Adds a frame whose headers go at {@code off} of {@code s}; its pieces follow with {@link #addPiece}. */
    public void addFrame(MemorySegment s, long off) {
        headerSegment[frames] = s;
        headerOffset[frames] = off;
        payloadLength[frames] = 0;
        contiguous[frames] = false;
        frames++;
        firstPiece[frames] = pieces;
    }

    /** Adds a payload piece of {@code len} bytes at {@code off} of {@code s} to the last frame. */
    public void addPiece(MemorySegment s, long off, int len) {
        pieceSegment[pieces] = s;
        pieceOffset[pieces] = off;
        pieceLength[pieces] = len;
        room += len;
        int f = frames - 1;
        contiguous[f] = pieces == firstPiece[f] && s == headerSegment[f] && off == headerOffset[f] + headerLength;
        Msghdr.iovec(iov, 1 + pieces, s.address() + off, len);
        pieces++;
        firstPiece[frames] = pieces;
    }

    // ---- the producer reads and fills

    /** Frames reserved. */
    public int frames() {
        return frames;
    }

    /** Bytes of headers of every frame. */
    public int headerLength() {
        return headerLength;
    }

    /** The segment frame {@code i}'s headers go into. */
    public MemorySegment header(int i) {
        return headerSegment[i];
    }

    /** Where in {@link #header(int)} frame {@code i}'s headers begin. */
    public long headerOffset(int i) {
        return headerOffset[i];
    }

    /** The payload room of frame {@code i}, over all its pieces. */
    public int capacity(int i) {
        int c = 0;
        for (int p = firstPiece[i]; p < firstPiece[i + 1]; p++) c += pieceLength[p];
        return c;
    }

    /** The payload room of all frames reserved. */
    public long capacity() {
        return room;
    }

    /**
     * The iovec array: entry 0 is the producer's ({@link #lead}), entries 1 to {@link #pieces()}
     * the frames' payload pieces in order.
     */
    public MemorySegment iovecs() {
        return iov;
    }

    /** Native address of iovec entry {@code i} (0: the lead entry, 1: the first payload piece). */
    public long iovecAddress(int i) {
        return iov.address() + (long) Msghdr.IOVEC * i;
    }

    /** Payload pieces of all frames. */
    public int pieces() {
        return pieces;
    }

    /** Sets iovec entry 0: {@code len} bytes at native address {@code addr}, read into ahead of the frames. */
    public void lead(long addr, long len) {
        Msghdr.iovec(iov, 0, addr, len);
    }

    /**
     * Limits the room the iovecs offer to {@code bytes} (the rest of the last piece used and
     * the pieces after it are left out); returns how many pieces a read should take (entries 1
     * to that number). {@link #capacity} is not changed: frames still fill in order.
     */
    public int limit(long bytes) {
        if (bytes >= room) return pieces;
        long left = bytes;
        int p = 0;
        while (left > pieceLength[p]) left -= pieceLength[p++];
        Msghdr.iovec(iov, 1 + p, pieceSegment[p].address() + pieceOffset[p], left); // the last one, shorter
        return p + 1;
    }

    /**
     * Says that frames of this batch longer than {@code mss} bytes of payload carry TCP segments
     * of {@code mss} bytes each (the last one shorter), over IPv6 ({@code v6}) or IPv4: one frame
     * for many segments, where the link said the guest takes them ({@link Link#largeTcpFrames}).
     * Cleared by the next reservation.
     */
    public void segmentSize(int mss, boolean v6) {
        segmentSize = mss;
        segmentsV6 = v6;
    }

    /** The TCP segment size of frames that carry many segments, or 0 (each frame is one). */
    public int segmentSize() {
        return segmentSize;
    }

    /** Whether the segments of {@link #segmentSize} are IPv6 ones. */
    public boolean segmentsV6() {
        return segmentsV6;
    }

    /** Sets the payload length of frame {@code i} (at most its {@link #capacity}). */
    public void payloadLength(int i, int len) {
        payloadLength[i] = len;
    }

    /** The payload length of frame {@code i}. */
    public int payloadLength(int i) {
        return payloadLength[i];
    }

    /**
     * The Internet checksum's partial sum (see {@link Checksum#sum}) of frame {@code i} from
     * {@code from}, an offset in its headers (the transport header's, say), to the end of its
     * payload ({@link #payloadLength}), added to {@code acc}. When the payload lies right after
     * the headers in one piece (the stream socket) that is one pass over the memory; else the
     * headers' part and each piece are summed, a piece that starts at an odd position of the
     * data contributing its sum byte-swapped (RFC 1071).
     */
    public long sum(int i, long from, long acc) {
        if (contiguous[i]) {
            return Checksum.sum(headerSegment[i], from, (int) (headerOffset[i] + headerLength - from) + payloadLength[i], acc);
        }
        return sumPieces(i, from, acc);
    }

    private long sumPieces(int i, long from, long acc) {
        long hdrEnd = headerOffset[i] + headerLength;
        int head = (int) (hdrEnd - from);
        acc = Checksum.sum(headerSegment[i], from, head, acc);
        int left = payloadLength[i];
        boolean odd = (head & 1) != 0;
        for (int p = firstPiece[i]; p < firstPiece[i + 1] && left > 0; p++) {
            int len = Math.min(pieceLength[p], left);
            long part = Checksum.sum(pieceSegment[p], pieceOffset[p], len, 0);
            if (odd) {
                int f = Checksum.fold(part);
                part = ((f & 0xff) << 8) | (f >>> 8);
            }
            acc += part;
            odd ^= (len & 1) != 0;
            left -= len;
        }
        return acc;
    }

    // ---- the link commits and captures

    /** Index of frame {@code i}'s first payload piece. */
    public int firstPiece(int i) {
        return firstPiece[i];
    }

    /** Index after frame {@code i}'s last payload piece. */
    public int endPiece(int i) {
        return firstPiece[i + 1];
    }

    /** The segment of payload piece {@code p}. */
    public MemorySegment pieceSegment(int p) {
        return pieceSegment[p];
    }

    /** The offset of payload piece {@code p} in {@link #pieceSegment}. */
    public long pieceOffset(int p) {
        return pieceOffset[p];
    }

    /** The room of payload piece {@code p}. */
    public int pieceLength(int p) {
        return pieceLength[p];
    }
}
