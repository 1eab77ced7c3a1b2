package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

import jpasst.sys.Errno;
import jpasst.sys.Descriptors;

import static jpasst.vhost.VhostUserMsg.U16;
import static jpasst.vhost.VhostUserMsg.U32;
import static jpasst.vhost.VhostUserMsg.U64;

/**
 * One split virtqueue (virtio 1.x, 2.7), seen from the device: the descriptor table, the
 * available ring the driver (the guest) fills and the used ring we fill, all in guest memory.
 *
 * {@link #pop} takes the next chain the guest made available and describes its buffers where
 * they lie ({@link Pieces}); {@link #fill} returns a chain with the number of bytes written into
 * it, {@link #flush} publishes what was filled, {@link #notifyGuest} signals the call eventfd
 * unless the guest asked for no interrupts; {@link #rewind} gives back the chains popped last,
 * unused; chains popped but not needed where they were popped (a receive reservation committed
 * short in the middle of a batch) are kept as {@link #spare} and popped again first.
 *
 * The guest is not trusted, and may change its memory while we read it: every field of guest
 * memory is read once into a local and checked there. A ring that cannot be trusted (a head or
 * next index past the ring, a chain that loops or is longer than the ring, avail->idx more than
 * the ring size ahead, more chains in use than the ring holds) makes {@link #pop} return
 * {@link #BROKEN}, and the device resets the connection; a chain that is wrong in itself (a
 * buffer outside every region or crossing its end, a zero or oversized length, a buffer of the
 * wrong direction, an indirect descriptor, which is not offered) is {@link #DROPPED}: returned to
 * the guest unused. {@link #problem} says what, for the one-line log message. The rings were
 * checked to lie inside one region each when they were set up, and every access goes through a
 * segment of exactly the ring's size.
 *
 * Memory ordering, as the virtio spec requires of a device: an acquire fence after reading
 * avail->idx (the ring entries and descriptors the guest wrote before it are then visible), a
 * release fence before storing used->idx (the used entries and the data in the buffers are
 * visible before it), a full fence between publishing used->idx and reading avail->flags to
 * decide whether to notify (or the guest could re-enable interrupts unseen in between).
 *
 * Hot path: no allocation per chain. Control path (set-up) throws {@link VhostUserException}.
 */
public final class Virtqueue {
    public static final int MAX_SIZE = 32768;
    /** Descriptors in one chain: Linux sends at most MAX_SKB_FRAGS + 2 (up to 47). */
    static final int MAX_CHAIN = 128;
    /** Pieces of one chain: a descriptor crossing regions is several. */
    static final int MAX_PIECES = 256;

    static final int EMPTY = -1, DROPPED = -2, BROKEN = -3, NO_ROOM = -4;

    static final int DESC_SIZE = 16, DESC_ADDR = 0, DESC_LEN = 8, DESC_FLAGS = 12, DESC_NEXT = 14;
    static final int F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4;
    static final int AVAIL_FLAGS = 0, AVAIL_IDX = 2, AVAIL_RING = 4;
    static final int USED_FLAGS = 0, USED_IDX = 2, USED_RING = 4, USED_ELEM = 8;
    static final int AVAIL_F_NO_INTERRUPT = 1;

    final int index;
    final String name;
    private final boolean deviceWrites;
    private final long maxChainBytes;
    private final MemorySegment one, kickBuf;

    // set up by the front-end
    private int num;
    private boolean addrSet;
    private long descQva, availQva, usedQva, logGpa;
    private int addrFlags;
    private GuestMemory mem;
    private DirtyLog log;
    private MemorySegment desc, avail, used;
    private boolean usedIdxKnown;
    boolean started, enabled;
    int kickFd = -1, callFd = -1, errFd = -1;

    // the device's position
    private int lastAvail, shadowAvail, usedIdx, pendingUsed, inuse;
    private boolean notifyPending;
    private int[] spare = new int[0];
    private int spares;
    private long availPops;

    // the chain popped last
    int chainHead;
    long chainBytes;
    boolean chainFromSpare;
    String problem;

    /**
     * @param deviceWrites the receive queue (buffers the device writes), else the transmit queue
     * @param maxChainBytes a chain holding more is dropped
     */
    Virtqueue(int index, boolean deviceWrites, long maxChainBytes, Arena arena) {
        this.index = index;
        this.name = deviceWrites ? "receive queue" : "transmit queue";
        this.deviceWrites = deviceWrites;
        this.maxChainBytes = maxChainBytes;
        one = arena.allocate(8, 8);
        one.set(ValueLayout.JAVA_LONG, 0, 1L);
        kickBuf = arena.allocate(8, 8);
    }

    // ---- set-up (SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_MEM_TABLE)

    void size(int n) {
        if (started) throw new VhostUserException("SET_VRING_NUM on the running " + name);
        if (n <= 0 || n > MAX_SIZE || (n & (n - 1)) != 0) {
            throw new VhostUserException("SET_VRING_NUM: " + name + " of " + Integer.toUnsignedString(n)
                    + " entries, not a power of two up to " + MAX_SIZE);
        }
        num = n;
        spare = new int[n];
        spares = 0;
        remap(false);
    }

    int size() {
        return num;
    }

    void base(int b) {
        if (started) throw new VhostUserException("SET_VRING_BASE on the running " + name);
        if (b < 0 || b > 0xffff) {
            throw new VhostUserException("SET_VRING_BASE: index " + Integer.toUnsignedString(b) + " for the " + name
                    + " (a split ring's index has 16 bits)");
        }
        lastAvail = shadowAvail = b;
    }

    /**
     * SET_VRING_ADDR. Also on a running ring: QEMU sends it again, with the log flag set or
     * cleared, when a migration starts or ends; the device's position is kept then.
     */
    void addresses(int flags, long descAddr, long usedAddr, long availAddr, long logAddr) {
        addrFlags = flags;
        descQva = descAddr;
        usedQva = usedAddr;
        availQva = availAddr;
        logGpa = logAddr;
        addrSet = true;
        if (!started) usedIdxKnown = false;
        remap(true);
    }

    /** The memory table changed: the rings are looked up in the new one. */
    void memory(GuestMemory m, DirtyLog l) {
        mem = m;
        log = l;
        remap(false);
    }

    /**
     * Looks the rings up in the memory table. A ring that does not fit is an error when its
     * addresses were just given, or when it runs; after a new size or table on a stopped ring it
     * only stays unmapped, as the addresses may be stale until the next SET_VRING_ADDR.
     */
    private void remap(boolean strict) {
        desc = avail = used = null;
        if (mem == null || !addrSet || num == 0) return;
        try {
            desc = ring("descriptor table", descQva, (long) DESC_SIZE * num, 16);
            avail = ring("available ring", availQva, AVAIL_RING + 2L * num + 2, 2);
            used = ring("used ring", usedQva, USED_RING + (long) USED_ELEM * num + 2, 4);
        } catch (VhostUserException e) {
            desc = avail = used = null;
            if (strict || started) throw e;
            return;
        }
        if (!usedIdxKnown && !started) {
            usedIdx = used.get(U16, USED_IDX) & 0xffff;
            usedIdxKnown = true;
        }
    }

    private MemorySegment ring(String what, long qva, long len, int align) {
        int r = mem.findQva(qva, len);
        if (r < 0) {
            throw new VhostUserException("SET_VRING_ADDR: the " + name + "'s " + what + " (front-end address 0x"
                    + Long.toHexString(qva) + ", " + len + " bytes) is not inside one memory region");
        }
        MemorySegment s = mem.segment(r).asSlice(qva - mem.qva(r), len);
        if ((s.address() & (align - 1)) != 0) {
            throw new VhostUserException("SET_VRING_ADDR: the " + name + "'s " + what + " at 0x" + Long.toHexString(qva)
                    + " is not aligned to " + align + " bytes");
        }
        return s;
    }

    boolean mapped() {
        return desc != null;
    }

    /** Starts the ring (SET_VRING_KICK): it must be fully set up. */
    void start() {
        if (!mapped()) {
            throw new VhostUserException("SET_VRING_KICK: the " + name + " is started before its size, addresses"
                    + " and memory are known");
        }
        started = true;
    }

    /**
     * Stops the ring (GET_VRING_BASE): spare chains go back to the guest unused, everything filled
     * is published. Returns the index of the next available entry, for the front-end to restore.
     */
    int stop() {
        if (mapped()) {
            while (spares > 0) fill(spare[--spares], 0);
            flush();
            notifyGuest();
        }
        started = false;
        return lastAvail;
    }

    /** Forgets everything (the front-end left); the caller closes the eventfds. */
    void reset() {
        num = 0;
        addrSet = started = enabled = usedIdxKnown = false;
        desc = avail = used = null;
        mem = null;
        lastAvail = shadowAvail = usedIdx = pendingUsed = inuse = spares = 0;
        availPops = 0;
        notifyPending = false;
        kickFd = callFd = errFd = -1;
    }

    /** Started and set up: chains may be popped. */
    boolean ready() {
        return started && desc != null;
    }

    // ---- the hot path

    /**
     * Pops the next chain (a spare one first) into {@code p}: its head index, or {@link #EMPTY},
     * {@link #DROPPED} (the chain was bad and is already returned to the guest, unused),
     * {@link #NO_ROOM} ({@code p} is full; the chain stays for the next pop) or {@link #BROKEN}.
     * After a head: {@link #chainBytes} is the chain's length and its pieces were appended to
     * {@code p}.
     */
    int pop(Pieces p) {
        if (!ready()) return EMPTY;
        int head;
        boolean fromSpare = spares > 0;
        if (fromSpare) {
            head = spare[--spares];
        } else {
            if (lastAvail == shadowAvail) {
                int idx = avail.get(U16, AVAIL_IDX) & 0xffff;
                int ahead = (idx - lastAvail) & 0xffff;
                if (ahead > num) {
                    problem = "the guest moved the " + name + "'s available index from " + lastAvail + " to " + idx
                            + ", more than its " + num + " entries ahead";
                    return BROKEN;
                }
                VarHandle.acquireFence();
                shadowAvail = idx;
                if (ahead == 0) return EMPTY;
            }
            if (inuse >= num) {
                problem = "the guest made more chains available on the " + name + " than its " + num + " entries";
                return BROKEN;
            }
            head = avail.get(U16, AVAIL_RING + 2L * (lastAvail & (num - 1))) & 0xffff;
            lastAvail = (lastAvail + 1) & 0xffff;
            inuse++;
            availPops++;
            if (head >= num) {
                problem = "the " + name + " has chain head " + head + ", past its " + num + " entries";
                return BROKEN;
            }
        }
        int start = p.count;
        int r = walk(head, p, start);
        if (r >= 0) {
            chainHead = head;
            chainFromSpare = fromSpare;
            return head;
        }
        p.count = start;
        if (r == DROPPED) {
            fill(head, 0);
        } else if (r == NO_ROOM) {
            if (fromSpare) {
                spare[spares++] = head;
            } else {
                rewind(1);
            }
        }
        return r;
    }

    private int walk(int head, Pieces p, int start) {
        int i = head;
        long total = 0;
        for (int descs = 1; ; descs++) {
            if (descs > num) {
                problem = "the " + name + "'s chain at " + head + " loops or is longer than the ring (" + num + ")";
                return BROKEN;
            }
            if (descs > MAX_CHAIN) return longChain(head, i, descs);
            long at = (long) i * DESC_SIZE;
            long addr = desc.get(U64, at + DESC_ADDR);
            long len = desc.get(U32, at + DESC_LEN) & 0xffff_ffffL;
            int flags = desc.get(U16, at + DESC_FLAGS) & 0xffff;
            int next = desc.get(U16, at + DESC_NEXT) & 0xffff;
            if ((flags & F_INDIRECT) != 0) {
                problem = "an indirect descriptor on the " + name + " (not offered)";
                return DROPPED;
            }
            if (((flags & F_WRITE) != 0) != deviceWrites) {
                problem = deviceWrites ? "a buffer the device cannot write on the receive queue"
                        : "a device-writable buffer on the transmit queue";
                return DROPPED;
            }
            if (len == 0) {
                problem = "a zero-length buffer on the " + name;
                return DROPPED;
            }
            total += len;
            if (total > maxChainBytes) {
                problem = "a chain of more than " + maxChainBytes + " bytes on the " + name;
                return DROPPED;
            }
            int r = translate(addr, len, p, start);
            if (r != 0) return r;
            if ((flags & F_NEXT) == 0) break;
            if (next >= num) {
                problem = "the " + name + "'s descriptor " + i + " chains to " + next + ", past its " + num + " entries";
                return BROKEN;
            }
            i = next;
        }
        chainBytes = total;
        return 0;
    }

    /**
     * A chain past {@link #MAX_CHAIN} descriptors, at descriptor {@code i}: more than this device
     * takes (dropped) if it ends within the ring's size, a loop (the ring is broken) if not.
     */
    private int longChain(int head, int i, int descs) {
        for (; descs <= num; descs++) {
            long at = (long) i * DESC_SIZE;
            int flags = desc.get(U16, at + DESC_FLAGS) & 0xffff;
            int next = desc.get(U16, at + DESC_NEXT) & 0xffff;
            if ((flags & F_NEXT) == 0) {
                problem = "a chain of more than " + MAX_CHAIN + " descriptors on the " + name;
                return DROPPED;
            }
            if (next >= num) {
                problem = "the " + name + "'s descriptor " + i + " chains to " + next + ", past its " + num + " entries";
                return BROKEN;
            }
            i = next;
        }
        problem = "the " + name + "'s chain at " + head + " loops or is longer than the ring (" + num + ")";
        return BROKEN;
    }

    /** Appends guest-physical {@code [addr, addr + len)} to {@code p}, a piece per region it crosses. */
    private int translate(long addr, long len, Pieces p, int start) {
        long end = addr + len;
        if (Long.compareUnsigned(end, addr) < 0 && end != 0) {
            problem = "a buffer at guest address 0x" + Long.toHexString(addr) + " runs past the end of the address space";
            return DROPPED;
        }
        long a = addr, left = len;
        while (left > 0) {
            int r = mem.findGpa(a);
            if (r < 0) {
                problem = "a buffer of " + len + " bytes at guest address 0x" + Long.toHexString(addr)
                        + (a == addr ? "" : ", crossing the end of a region,") + " outside guest memory, on the " + name;
                return DROPPED;
            }
            long off = a - mem.gpa(r);
            long chunk = Math.min(left, mem.size(r) - off);
            if (p.count - start >= MAX_PIECES) {
                problem = "a chain in more than " + MAX_PIECES + " pieces on the " + name;
                return DROPPED;
            }
            if (p.count == p.capacity()) return NO_ROOM;
            p.add(mem.segment(r), off, (int) chunk, a);
            a += chunk;
            left -= chunk;
        }
        return 0;
    }

    /** Returns chain {@code head} to the guest with {@code len} bytes written into it (published by {@link #flush}). */
    void fill(int head, int len) {
        long at = USED_RING + (long) USED_ELEM * ((usedIdx + pendingUsed) & (num - 1));
        used.set(U32, at, head);
        used.set(U32, at + 4, len);
        pendingUsed++;
        inuse--;
    }

    /** Gives back the {@code k} chains popped last from the available ring, unused. */
    void rewind(int k) {
        lastAvail = (lastAvail - k) & 0xffff;
        inuse -= k;
        availPops -= k;
    }

    /** Keeps chain {@code head} (popped, not needed now) to be popped again first. */
    void spare(int head) {
        spare[spares++] = head;
    }

    /** How many chains were popped from the available ring so far (to tell whether a chain was the last). */
    long availPops() {
        return availPops;
    }

    /** Makes the filled chains visible to the guest: used entries first, then used->idx. */
    void flush() {
        if (pendingUsed == 0) return;
        int idx = (usedIdx + pendingUsed) & 0xffff;
        VarHandle.releaseFence();
        used.set(U16, USED_IDX, (short) idx);
        if (log != null && log.logging() && (addrFlags & (1 << VhostUserMsg.VRING_F_LOG)) != 0) {
            log.mark(logGpa, used.byteSize());
        }
        usedIdx = idx;
        pendingUsed = 0;
        notifyPending = true;
    }

    /** Signals the call eventfd if chains were published since the last time and the guest wants interrupts. */
    void notifyGuest() {
        if (!notifyPending) return;
        notifyPending = false;
        if (callFd < 0 || avail == null) return;
        VarHandle.fullFence();
        int flags = avail.get(U16, AVAIL_FLAGS) & 0xffff;
        if ((flags & AVAIL_F_NO_INTERRUPT) != 0) return;
        Descriptors.write(callFd, one, 8);
    }

    /** Whether the guest has made chains available that were not popped yet. */
    boolean hasAvailable() {
        if (!ready()) return false;
        if (spares > 0 || lastAvail != shadowAvail) return true;
        int idx = avail.get(U16, AVAIL_IDX) & 0xffff;
        return idx != lastAvail;
    }

    /**
     * Clears the kick eventfd: true if it was kicked (or there is nothing to read), false if the
     * descriptor is not an eventfd that behaves (end of file, an error).
     */
    boolean clearKick() {
        long n = Descriptors.read(kickFd, kickBuf, 8);
        return n == 8 || n == -Errno.EAGAIN || n == -Errno.EINTR;
    }

    /** Signals the call eventfd unconditionally. */
    void interrupt() {
        if (callFd >= 0) Descriptors.write(callFd, one, 8);
    }

    /** Tells the front-end that this ring failed (the err eventfd: QEMU logs it). */
    void signalError() {
        if (errFd >= 0) Descriptors.write(errFd, one, 8);
    }

    int lastAvail() {
        return lastAvail;
    }

    int usedIdx() {
        return usedIdx;
    }

    int inUse() {
        return inuse;
    }

    int spares() {
        return spares;
    }

    /** The used ring's guest-physical address for the dirty log (SET_VRING_ADDR's log address). */
    long logAddress() {
        return logGpa;
    }
}
