package jpasst.flow;

import java.util.Arrays;

import jpasst.conf.PortSpec;
import jpasst.loop.EventLoop;

/**
 * The listening sockets of one protocol's forwarded ports, a slot each: descriptor, host port,
 * the address families it takes ({@link #IPV4}, {@link #IPV6}, or {@link #BOTH} for one
 * dual-stack socket, as passt binds a port on any address when both families are on), where it
 * is bound, and the guest port it goes to. Slots are taken and freed
 * as forwards are added and removed at run time ({@link Forwards}); each slot's epoll reference
 * carries its generation, so an event already fetched for a socket that was closed meanwhile
 * (its descriptor number maybe reused by the next one) is recognised and ignored.
 *
 * Loop thread only. Looking a slot up is an array read: the accept and receive paths use it.
 */
public final class ListenerSlots {
    /** Address families a listening socket takes: IPv4, IPv6, or both (an IPv6 socket with IPV6_V6ONLY off). */
    public static final int IPV4 = 1, IPV6 = 2, BOTH = IPV4 | IPV6;

    private static final int SLOT_BITS = 24;
    private static final long SLOT_MASK = (1L << SLOT_BITS) - 1;

    private final int refType;
    private int[] fd = new int[8], port = new int[8], target = new int[8], generation = new int[8];
    private byte[] families = new byte[8];
    private boolean[] used = new boolean[8];
    private PortSpec.Bind[] bind = new PortSpec.Bind[8];
    private int[] free = new int[8];
    private int highWater, freeCount, count;

    ListenerSlots(int refType) {
        this.refType = refType;
        Arrays.fill(fd, -1);
    }

    /** A slot for socket {@code sock}; returns it. */
    int add(int sock, int hostPort, int fams, PortSpec.Bind b, int guestPort) {
        int s;
        if (freeCount > 0) {
            s = free[--freeCount];
        } else {
            if (highWater == fd.length) grow(highWater * 2);
            s = highWater++;
        }
        fd[s] = sock;
        port[s] = hostPort;
        families[s] = (byte) fams;
        bind[s] = b;
        target[s] = guestPort;
        used[s] = false;
        count++;
        return s;
    }

    private void grow(int n) {
        int old = fd.length;
        fd = Arrays.copyOf(fd, n);
        Arrays.fill(fd, old, n, -1);
        port = Arrays.copyOf(port, n);
        target = Arrays.copyOf(target, n);
        generation = Arrays.copyOf(generation, n);
        families = Arrays.copyOf(families, n);
        used = Arrays.copyOf(used, n);
        bind = Arrays.copyOf(bind, n);
        free = Arrays.copyOf(free, n);
    }

    /** Frees slot {@code s} (its socket is the caller's to close); a reference made for it goes stale. */
    void remove(int s) {
        fd[s] = -1;
        bind[s] = null;
        generation[s] = (generation[s] + 1) & 0xffffff;
        free[freeCount++] = s;
        count--;
    }

    /** The epoll reference of slot {@code s}. */
    long ref(int s) {
        return EventLoop.ref(refType, (long) generation[s] << SLOT_BITS | s);
    }

    /** The slot a reference was made for, or -1 if that socket is gone. */
    int slotOf(long ref) {
        long v = EventLoop.value(ref);
        int s = (int) (v & SLOT_MASK);
        if (s >= highWater || fd[s] < 0 || generation[s] != (int) (v >>> SLOT_BITS)) return -1;
        return s;
    }

    /** Slots at or above this are unused: walk {@code 0..highWater()} and skip {@link #live} false. */
    public int highWater() {
        return highWater;
    }

    public boolean live(int s) {
        return fd[s] >= 0;
    }

    /** Sockets in use. */
    public int count() {
        return count;
    }

    public int fd(int s) {
        return fd[s];
    }

    public int port(int s) {
        return port[s];
    }

    public int target(int s) {
        return target[s];
    }

    void target(int s, int guestPort) {
        target[s] = guestPort;
    }

    /** The address families slot {@code s}'s socket takes: {@link #IPV4}, {@link #IPV6} or {@link #BOTH}. */
    public int families(int s) {
        return families[s];
    }

    public PortSpec.Bind bind(int s) {
        return bind[s];
    }

    /** True the first time it is asked for slot {@code s} since the slot was taken. */
    boolean firstUse(int s) {
        if (used[s]) return false;
        used[s] = true;
        return true;
    }
}
