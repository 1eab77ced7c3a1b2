package jpasst.flow;

import java.util.Arrays;

import jpasst.loop.EventLoop;
import jpasst.sys.Descriptors;
import jpasst.util.Log;

/**
 * The flow table, as passt's flow.c: one table for the flows of every transport (TCP
 * connections, UDP flows, ICMP echo flows), one slot allocator, and one lookup over their keys.
 *
 * A flow is a slot number. The table keeps what every flow has: its type; the slot's
 * generation (it counts the slot's uses: the epoll reference of a flow's socket carries it, so
 * that an event for a socket closed earlier in a batch does not reach the next flow in the same
 * slot); its guest side (the guest's address and port, the peer as the guest sees it and its
 * port, the guest's address family); its host side (the peer as the host socket sees it); its
 * host socket; and when it was last active. What only one transport needs (TCP's sequence
 * numbers, say) that transport keeps by slot itself.
 *
 * Keys, both ways: the guest side (type, both addresses, both ports), by which a packet from the
 * guest finds its flow; and, for flows that share a host socket (UDP inbound: one listening
 * socket, many senders), the host side (the sender's address and port, and the shared socket's
 * number), by which a datagram the host socket received finds its flow. Both live in one
 * {@link FlowTable}. Each type has a limit of its own, so that one cannot take every slot.
 *
 * Scans (timers, the guest going away) run over the slots below {@link #highWater()}; when the
 * last flow closes, allocation starts again from the lowest slot, so scans stay short.
 *
 * Like everything of the flow layer it belongs to the loop thread. Hot path: lookups and the
 * per-flow fields allocate nothing; opening a flow beyond the current capacity grows the arrays
 * (doubling, as the hash table grows), which allocates.
 */
public final class Flows {
    /** Flow types. */
    public static final int TCP = 1, UDP = 2, ICMP = 3;
    private static final int TYPES = 4;
    private static final String[] NAMES = {"", "TCP", "UDP", "ICMP"};
    private static final long HOST_SIDE = 1L << 32;
    private static final int GENERATION_MASK = 0xffffff;

    private final int[] limit = new int[TYPES], count = new int[TYPES];
    private final int maxFlows;
    private final FlowTable keys;
    private int capacity, highWater, freeCount, total;
    private int[] free, type, generation, fd, gPort, rPort, hPort;
    private boolean[] v6, guestKeyed, hostKeyed;
    private long[] gHi, gLo, rHi, rLo, hHi, hLo, hostSocket, lastActivity;

    /** A table for at most {@code tcp} TCP, {@code udp} UDP and {@code icmp} ICMP flows. */
    public Flows(int tcp, int udp, int icmp) {
        limit[TCP] = tcp;
        limit[UDP] = udp;
        limit[ICMP] = icmp;
        maxFlows = tcp + udp + icmp;
        keys = new FlowTable(1024, tcp + 2 * udp + icmp);
        allocate(256);
    }

    private void allocate(int n) {
        free = grow(free, n);
        type = grow(type, n);
        generation = grow(generation, n);
        fd = grow(fd, n);
        gPort = grow(gPort, n);
        rPort = grow(rPort, n);
        hPort = grow(hPort, n);
        v6 = grow(v6, n);
        guestKeyed = grow(guestKeyed, n);
        hostKeyed = grow(hostKeyed, n);
        gHi = grow(gHi, n);
        gLo = grow(gLo, n);
        rHi = grow(rHi, n);
        rLo = grow(rLo, n);
        hHi = grow(hHi, n);
        hLo = grow(hLo, n);
        hostSocket = grow(hostSocket, n);
        lastActivity = grow(lastActivity, n);
        Arrays.fill(fd, capacity, n, -1);
        capacity = n;
    }

    private static int[] grow(int[] a, int n) {
        return a == null ? new int[n] : Arrays.copyOf(a, n);
    }

    private static long[] grow(long[] a, int n) {
        return a == null ? new long[n] : Arrays.copyOf(a, n);
    }

    private static boolean[] grow(boolean[] a, int n) {
        return a == null ? new boolean[n] : Arrays.copyOf(a, n);
    }

    // ---- slots

    /**
     * A new flow of {@code t}, its fields cleared, its socket -1; or -1 if the type has as
     * many flows as it may (the caller says so in its own words).
     */
    public int open(int t) {
        if (count[t] >= limit[t]) return -1;
        int f;
        if (freeCount > 0) {
            f = free[--freeCount];
        } else {
            if (highWater == capacity) allocate(Math.min(capacity * 2, Math.max(maxFlows, 256)));
            f = highWater++;
        }
        type[f] = t;
        generation[f] = (generation[f] + 1) & GENERATION_MASK;
        fd[f] = -1;
        v6[f] = guestKeyed[f] = hostKeyed[f] = false;
        gHi[f] = gLo[f] = rHi[f] = rLo[f] = hHi[f] = hLo[f] = hostSocket[f] = 0;
        gPort[f] = rPort[f] = hPort[f] = 0;
        count[t]++;
        total++;
        return f;
    }

    /** Frees flow {@code f} and its keys (its socket is its transport's to close). */
    public void close(int f) {
        int t = type[f];
        if (t == 0) return;
        if (guestKeyed[f]) keys.remove(gHi[f], gLo[f], rHi[f], rLo[f], guestMeta(t, gPort[f], rPort[f]));
        if (hostKeyed[f]) keys.remove(hHi[f], hLo[f], 0, hostSocket[f], hostMeta(t, hPort[f]));
        type[f] = 0;
        fd[f] = -1;
        count[t]--;
        if (--total == 0) {
            highWater = freeCount = 0; // lowest slots first again: scans stay short
        } else {
            free[freeCount++] = f;
        }
    }

    /** Closes flow {@code f} of type {@code t}, its own socket too (out of {@code loop} first), if it has one. */
    public void close(int f, int t, EventLoop loop) {
        if (type[f] != t) return;
        if (fd[f] >= 0) {
            loop.remove(fd[f]);
            Descriptors.close(fd[f]);
        }
        close(f);
    }

    /**
     * Closes the flows of type {@code t} idle for longer than {@code idleNanos} at {@code now},
     * sockets and all (see {@link #close(int, int, EventLoop)}); returns how many.
     */
    public int expireIdle(int t, long now, long idleNanos, EventLoop loop) {
        int n = 0;
        for (int f = 0; f < highWater; f++) {
            if (type[f] == t && now - lastActivity[f] > idleNanos) {
                if (Log.debugEnabled()) Log.debug(NAMES[t] + " flow " + f + ": idle, closed");
                close(f, t, loop);
                n++;
            }
        }
        return n;
    }

    /** The type of flow {@code f} (0: free). */
    public int type(int f) {
        return type[f];
    }

    /** Flows of type {@code t} there may be at most. */
    public int limit(int t) {
        return limit[t];
    }

    /** Flows of type {@code t} open now. */
    public int count(int t) {
        return count[t];
    }

    /** Slots at or above this are free: scans stop here. */
    public int highWater() {
        return highWater;
    }

    /** The slot's generation: it counts the slot's uses (24 bits). */
    public int generation(int f) {
        return generation[f];
    }

    /** The epoll reference of flow {@code f}'s socket, of owner kind {@code refType}: slot and generation. */
    public long ref(int refType, int f) {
        return EventLoop.ref(refType, (long) generation[f] << 32 | f);
    }

    /**
     * The flow an epoll reference ({@link #ref}) points to, if it is still the one the
     * reference was made for and of type {@code t}; else -1 (closed meanwhile, its slot taken).
     */
    public int flowOf(long ref, int t) {
        long v = EventLoop.value(ref);
        int f = (int) v;
        if (f < 0 || f >= highWater || type[f] != t || generation[f] != (int) (v >>> 32)) return -1;
        return f;
    }

    // ---- keys

    private static long guestMeta(int t, int guestPort, int peerPort) {
        return (long) t << 40 | (long) guestPort << 16 | peerPort;
    }

    private static long hostMeta(int t, int port) {
        return (long) t << 40 | HOST_SIDE | port;
    }

    /**
     * The flow of type {@code t} whose guest side is the guest at {@code gHi/gLo} port
     * {@code gp} and the peer it sees at {@code rHi/rLo} port {@code rp}; -1 if none. (ICMP:
     * the ports are the echo identifier and 0.)
     */
    public int lookup(int t, long gHi, long gLo, int gp, long rHi, long rLo, int rp) {
        return keys.get(gHi, gLo, rHi, rLo, guestMeta(t, gp, rp));
    }

    /** Makes flow {@code f} found by its guest side; false if the key table is full. */
    public boolean keyGuestSide(int f) {
        guestKeyed[f] = keys.put(gHi[f], gLo[f], rHi[f], rLo[f], guestMeta(type[f], gPort[f], rPort[f]), f);
        return guestKeyed[f];
    }

    /** The flow of type {@code t} of host socket {@code socket} for the peer at {@code hi/lo} port {@code port}; -1 if none. */
    public int lookupHostSide(int t, long socket, long hi, long lo, int port) {
        return keys.get(hi, lo, 0, socket, hostMeta(t, port));
    }

    /** Makes flow {@code f} found by its host side on shared socket {@code socket}; false if the key table is full. */
    public boolean keyHostSide(int f, long socket) {
        hostSocket[f] = socket;
        hostKeyed[f] = keys.put(hHi[f], hLo[f], 0, socket, hostMeta(type[f], hPort[f]), f);
        return hostKeyed[f];
    }

    // ---- the sides

    /** Sets the guest side of flow {@code f}: the guest's address and port, the peer as the guest sees it. */
    public void guestSide(int f, boolean isV6, long guestHi, long guestLo, int guestPort,
                          long peerHi, long peerLo, int peerPort) {
        v6[f] = isV6;
        gHi[f] = guestHi;
        gLo[f] = guestLo;
        gPort[f] = guestPort;
        rHi[f] = peerHi;
        rLo[f] = peerLo;
        rPort[f] = peerPort;
    }

    /** Sets the host side of flow {@code f}: the peer as the host socket sees it. */
    public void hostSide(int f, long peerHi, long peerLo, int peerPort) {
        hHi[f] = peerHi;
        hLo[f] = peerLo;
        hPort[f] = peerPort;
    }

    /** Whether the guest side is IPv6. */
    public boolean v6(int f) {
        return v6[f];
    }

    /** The guest's address (high, low) and port. */
    public long gHi(int f) {
        return gHi[f];
    }

    public long gLo(int f) {
        return gLo[f];
    }

    public int gPort(int f) {
        return gPort[f];
    }

    /** The peer as the guest sees it (high, low) and its port. */
    public long rHi(int f) {
        return rHi[f];
    }

    public long rLo(int f) {
        return rLo[f];
    }

    public int rPort(int f) {
        return rPort[f];
    }

    /** The peer as the host socket sees it (high, low) and its port. */
    public long hHi(int f) {
        return hHi[f];
    }

    public long hLo(int f) {
        return hLo[f];
    }

    public int hPort(int f) {
        return hPort[f];
    }

    /** The shared host socket a host-side key names ({@link #keyHostSide}). */
    public long hostSocket(int f) {
        return hostSocket[f];
    }

    /** The flow's own host socket; -1: none (yet, or it shares one). */
    public int fd(int f) {
        return fd[f];
    }

    public void fd(int f, int socket) {
        fd[f] = socket;
    }

    // ---- activity

    /** The flow was active at {@code now} (System.nanoTime()). */
    public void touch(int f, long now) {
        lastActivity[f] = now;
    }

    /** When the flow was last active. */
    public long lastActivity(int f) {
        return lastActivity[f];
    }
}
