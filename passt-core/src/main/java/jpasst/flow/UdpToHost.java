package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import jpasst.sys.Errno;
import jpasst.sys.Msghdr;
import jpasst.sys.SockAddr;
import jpasst.sys.Sockets;

/**
 * Guest datagrams on their way to host sockets, as passt's udp_tap_handler: the datagrams of a
 * flow from one batch of the link are queued where they lie (in the link's frames) and leave
 * together in one sendmmsg once the batch's frames are all in, instead of one send each (a
 * system call per datagram was most of the daemon's time at 1472 bytes). A flow's datagrams
 * keep their order; flows are sent in the order their first datagram came. Every datagram of a
 * flow goes to one socket and, for a flow inbound through a listening socket, one address,
 * given once per flow and batch ({@link #flow}).
 *
 * At most {@link #MAX} datagrams (sendmmsg's limit, UIO_MAXIOV): when the queue is full the
 * caller sends what it holds first ({@link #full}).
 *
 * Hot path: no allocation (arrays, iovecs, mmsghdrs and addresses are preallocated; the
 * per-flow slot table grows only when a flow of a higher index than ever before sends).
 */
final class UdpToHost {
    /** Datagrams queued at most, and so flows with datagrams queued. */
    static final int MAX = 1024;

    private final long[] addr = new long[MAX];
    private final int[] len = new int[MAX];
    private final int[] next = new int[MAX];
    private int datagrams;
    private long sentBytes;

    // the flows with datagrams queued, in order: flow slot, first and last datagram, count
    private final int[] flowOf = new int[MAX], head = new int[MAX], tail = new int[MAX], count = new int[MAX];
    private final MemorySegment[] name = new MemorySegment[MAX];
    private int flows;
    private int[] slotOf = new int[256]; // flow index → its slot here + 1 (0: none)

    private final MemorySegment iov = Arena.ofAuto().allocate((long) Msghdr.IOVEC * MAX, 8);
    private final MemorySegment mmsg = Arena.ofAuto().allocate((long) Msghdr.MMSG * MAX, 8);

    UdpToHost() {
        MemorySegment names = Arena.ofAuto().allocate((long) SockAddr.STORAGE * MAX, 8);
        for (int i = 0; i < MAX; i++) name[i] = names.asSlice((long) SockAddr.STORAGE * i, SockAddr.STORAGE);
    }

    /** Whether the queue is full: send what it holds before queueing more. */
    boolean full() {
        return datagrams == MAX;
    }

    /** Whether nothing is queued. */
    boolean empty() {
        return datagrams == 0;
    }

    /** Queues the datagram of {@code length} bytes at native address {@code address} for flow {@code f}. */
    void queue(int f, long address, int length) {
        int i = datagrams++;
        addr[i] = address;
        len[i] = length;
        next[i] = -1;
        if (f >= slotOf.length) slotOf = Arrays.copyOf(slotOf, Math.max(slotOf.length * 2, f + 1));
        int s = slotOf[f] - 1;
        if (s < 0) {
            s = flows++;
            slotOf[f] = s + 1;
            flowOf[s] = f;
            head[s] = i;
            count[s] = 0;
        } else {
            next[tail[s]] = i;
        }
        tail[s] = i;
        count[s]++;
    }

    /** Flows with datagrams queued. */
    int flows() {
        return flows;
    }

    /** The flow index of the {@code k}th flow with datagrams queued. */
    int flow(int k) {
        return flowOf[k];
    }

    /** Datagrams queued for the {@code k}th flow. */
    int count(int k) {
        return count[k];
    }

    /** The buffer for the address the {@code k}th flow's datagrams go to, if they are not connected. */
    MemorySegment name(int k) {
        return name[k];
    }

    /**
     * Sends the datagrams queued for the {@code k}th flow on socket {@code fd}, to the address
     * in {@link #name(int)} of {@code nameLen} bytes (0: the socket is connected), with as few
     * sendmmsg calls as the socket allows: one, unless a datagram fails (an ICMP error of an
     * earlier one, say), which is skipped. Returns how many did not leave.
     */
    int send(int k, int fd, int nameLen, int flags) {
        int n = count[k];
        long nameAddr = nameLen == 0 ? 0 : name[k].address();
        int j = 0;
        for (int i = head[k]; i >= 0; i = next[i], j++) {
            Msghdr.iovec(iov, j, addr[i], len[i]);
            Msghdr.mmsg(mmsg, j, nameAddr, nameLen, iov.address() + (long) Msghdr.IOVEC * j, 1);
        }
        int sent = 0, failed = 0;
        sentBytes = 0;
        while (sent + failed < n) {
            int from = sent + failed;
            int r = Sockets.sendmmsg(fd, mmsg.address() + (long) Msghdr.MMSG * from, n - from, flags);
            if (r > 0) {
                for (int i = from; i < from + r; i++) sentBytes += Msghdr.mmsgLength(mmsg, i);
                sent += r;
            } else if (r == -Errno.EAGAIN || r == 0) {
                return n - sent;       // the socket's buffer is full: the rest is dropped, as passt does
            } else if (r != -Errno.EINTR) {
                failed++;              // this one could not go: the ones after it still may
            }
        }
        return failed;
    }

    /** The bytes of the datagrams the last {@link #send} sent. */
    long sentBytes() {
        return sentBytes;
    }

    /** Forgets every queued datagram (sent, or their flows closed). */
    void clear() {
        for (int k = 0; k < flows; k++) slotOf[flowOf[k]] = 0;
        flows = datagrams = 0;
    }
}
