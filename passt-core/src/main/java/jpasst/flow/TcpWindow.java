package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Sockets;

/**
 * The window TCP offers the guest: what the host socket's send buffer can still take, so that
 * whatever the guest sends within it is accepted by send() and nothing has to be dropped
 * (design.md tells how passt 2023 suffered from offering more). And, while the buffer is
 * nearly full, EPOLLOUT on the host socket, so that the window opens again by itself when the
 * host drains it: without that the guest would wait for its zero-window probe.
 *
 * Hot path: no allocation (the getsockopt buffers are preallocated).
 */
final class TcpWindow {
    // getsockopt(SOL_SOCKET, SO_MEMINFO): the socket's memory counters (linux/sock_diag.h)
    static final int SO_MEMINFO = 55, SK_MEMINFO_VARS = 9, SK_MEMINFO_SNDBUF = 3, SK_MEMINFO_WMEM_QUEUED = 5;
    static final int EVENTS = Epoll.EPOLLIN | Epoll.EPOLLRDHUP | Epoll.EPOLLET;

    private final EventLoop loop;
    private final Flows flows;
    private final MemorySegment outq = Arena.ofAuto().allocate(8, 8);
    private final MemorySegment meminfo = Arena.ofAuto().allocate(4 * SK_MEMINFO_VARS, 8);
    private final MemorySegment meminfoLen = Arena.ofAuto().allocate(8, 8);

    TcpWindow(EventLoop loop, Flows flows) {
        this.loop = loop;
        this.flows = flows;
    }

    /** The window to offer the guest on connection {@code c}, in bytes (a multiple of its scale). */
    int toGuest(TcpConn c) {
        // Nothing written to the socket since the window was worked out: its memory can only
        // have been freed since, so that window still holds (a conservative one), and the two
        // system calls are saved, on the way of every read to the guest and of every ACK that
        // acknowledges no data (request/response: the answer's frame waited for them). A
        // window that was small is worked out again: it is the one that must open.
        if (c.windowKept && c.windowSeq == c.seqFromTap) return c.window;
        int fd = flows.fd(c.index);
        // send() takes data while the memory queued on the socket (sk_wmem_queued) is below its
        // buffer size (sk_sndbuf); both count skb truesize, payload plus overhead, and the
        // overhead is large: 40% measured with 60000-byte sends to a peer that does not read,
        // more with small segments. So the room in payload bytes is the free memory scaled by
        // the payload share of what is queued now (SIOCOUTQ against sk_wmem_queued), or by 3/4
        // while the queue holds too little to tell; less a sixteenth, as the share varies. (The
        // socket can keep hundreds of KB queued after the peer acknowledged all its data: with
        // SIOCOUTQ 0 the share said no room at all, a zero window with the buffer nearly free
        // and so no EPOLLOUT to reopen it: the guest waited for its zero-window probe.)
        // (Counting only the payload queued, against 7/8 of SO_SNDBUF, offered a fifth more
        // than send() took: segments the guest sent within the window were not acknowledged.)
        meminfoLen.set(ValueLayout.JAVA_INT, 0, 4 * SK_MEMINFO_VARS);
        int sndbuf = 0;
        long free = 0, room = 0;
        int queuedPayload = Descriptors.ioctl(fd, Sockets.SIOCOUTQ, outq) == 0 ? outq.get(ValueLayout.JAVA_INT, 0) : 0;
        if (Sockets.getsockopt(fd, Sockets.SOL_SOCKET, SO_MEMINFO, meminfo, meminfoLen) == 0) {
            sndbuf = meminfo.get(ValueLayout.JAVA_INT, 4 * SK_MEMINFO_SNDBUF);
            int queued = meminfo.get(ValueLayout.JAVA_INT, 4 * SK_MEMINFO_WMEM_QUEUED);
            free = (long) sndbuf - queued;
            room = room(free, queued, queuedPayload);
        }
        int max = 65535 << c.wsToTap;
        int w = (int) Math.max(0, Math.min(room - room / 16, max));
        if (c.wsToTap > 0) w &= ~((1 << c.wsToTap) - 1);
        // A small window must open again by itself when the host drains the socket, or the guest
        // waits for its zero-window probe (200 ms and more, backing off). With less than a
        // quarter of the buffer's memory free the socket is not writable (Linux: writable while
        // queued <= 2/3 of sndbuf), so EPOLLOUT comes once it is again, and its handler sends the
        // window update. The free memory itself decides, not the window: without window scaling
        // the window is capped at 64 KiB, and asking for EPOLLOUT on a writable socket would
        // answer every ACK with another one, forever.
        boolean established = c.has(TcpConn.ESTABLISHED) && !c.has(TcpConn.SOCK_FIN_SENT);
        if (free < sndbuf / 4 && established) wantWrite(c);
        c.windowKept = established && free >= sndbuf / 4 && w > 0;
        c.window = w;
        c.windowSeq = c.seqFromTap;
        return w;
    }

    /**
     * The payload bytes send() would still take: {@code free} bytes of buffer memory scaled by
     * the payload share of the {@code queued} memory ({@code queuedPayload} bytes of it), or by
     * 3/4 while the queue holds too little payload to tell.
     */
    static long room(long free, int queued, int queuedPayload) {
        return queued >= 32768 && queuedPayload >= 16384 && queuedPayload < queued
                ? free * queuedPayload / queued : free * 3 / 4;
    }

    /** The host socket's send buffer is full: EPOLLOUT tells when it has room again. */
    void wantWrite(TcpConn c) {
        if (c.wantWrite) return;
        c.wantWrite = true;
        epoll(c);
    }

    /** EPOLLOUT came: back to waiting for input only. */
    void writable(TcpConn c) {
        c.wantWrite = false;
        epoll(c);
    }

    /**
     * Whether the host socket's input is watched. While the guest's window is full nothing can
     * be read anyway, and with EPOLLET every segment the host peer sends would wake the loop
     * for nothing (at MTU 65520, twice the wake-ups of a bulk transfer): as passt takes EPOLLIN
     * off a connection whose guest window blocks it, input is off until the guest's ACK opens
     * the window again, and then read without waiting for an event ({@link TcpConn#inputOff}).
     */
    void input(TcpConn c, boolean on) {
        if (c.inputOff != on) return;
        c.inputOff = !on;
        epoll(c);
    }

    private void epoll(TcpConn c) {
        int ev = (c.inputOff ? EVENTS & ~Epoll.EPOLLIN : EVENTS) | (c.wantWrite ? Epoll.EPOLLOUT : 0);
        loop.modify(flows.fd(c.index), ev, flows.ref(Refs.TCP, c.index));
    }
}
