package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.sys.Sockets;
import jpasst.sys.Msghdr;

/**
 * Guest data on its way to the host sockets, as passt's tcp_data_from_tap: the payloads of a
 * connection's segments in one batch from the guest are queued where they lie (in the link's
 * frames) and written to its host socket together, with one sendmsg, once the batch's frames
 * are all in (a send per segment cost twice the CPU at MTU 1500). A list per connection in
 * arrival order, and the list of connections that have some. At most IOV_MAX chunks: when the
 * queue is full, what it holds is written first ({@link #full}).
 *
 * Hot path: no allocation (arrays, iovecs and msghdr are preallocated).
 */
final class TcpToHost {
    static final int MAX_CHUNKS = 1024;
    /** {@link #send} had nothing to send. */
    static final long NOTHING = Long.MIN_VALUE;

    private final long[] addr = new long[MAX_CHUNKS];
    private final int[] len = new int[MAX_CHUNKS];
    private final int[] next = new int[MAX_CHUNKS];
    private final int[] conns = new int[MAX_CHUNKS];
    private int chunks, connCount;
    private final MemorySegment iov = Arena.ofAuto().allocate((long) Msghdr.IOVEC * MAX_CHUNKS, 8);
    private final MemorySegment msghdr = Arena.ofAuto().allocate(Msghdr.SIZE, 8);

    /** Whether the queue is full: write out what it holds before queueing more. */
    boolean full() {
        return chunks == MAX_CHUNKS;
    }

    /** Queues {@code length} bytes at native address {@code address} for connection {@code c}'s host socket. */
    void queue(TcpConn c, long address, int length) {
        int i = chunks++;
        addr[i] = address;
        len[i] = length;
        next[i] = -1;
        if (c.pendingHead < 0) {
            c.pendingHead = i;
            conns[connCount++] = c.index;
        } else {
            next[c.pendingTail] = i;
        }
        c.pendingTail = i;
        c.pendingBytes += length;
    }

    /** Connections with data queued (slots; {@link #connection}). */
    int connections() {
        return connCount;
    }

    /** The slot of the {@code k}th connection with data queued. */
    int connection(int k) {
        return conns[k];
    }

    /**
     * Writes what is queued for {@code c} to its socket {@code fd} with one sendmsg and empties
     * its list: the bytes written, a negated errno, or {@link #NOTHING}.
     */
    long send(TcpConn c, int fd) {
        if (c.pendingHead < 0) return NOTHING;
        int n = 0;
        for (int i = c.pendingHead; i >= 0; i = next[i]) Msghdr.iovec(iov, n++, addr[i], len[i]);
        c.pendingHead = c.pendingTail = -1;
        c.pendingBytes = 0;
        return Sockets.sendmsg(fd, Msghdr.set(msghdr, iov.address(), n), Sockets.MSG_DONTWAIT | Sockets.MSG_NOSIGNAL);
    }

    /** Forgets every list (each connection's was emptied by {@link #send}, or it closed). */
    void clear() {
        chunks = connCount = 0;
    }
}
