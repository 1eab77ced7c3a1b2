package jpasst.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import jpasst.guest.vhost.GuestRam;
import jpasst.guest.vhost.SplitRing;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;

/**
 * The ring walker on rings a driver laid out in a memfd (synthetic-guest's {@link SplitRing}):
 * chains described where they lie, split across regions, returned and published; and every way
 * a guest can break a ring either drops the chain or marks the ring broken, never an access
 * outside guest memory.
 */
class VirtqueueTest {
    static final long MIB = 1 << 20;
    static final int N = 16;
    private final Arena arena = Arena.ofShared();
    private GuestRam ram;
    private GuestMemory mem;
    private SplitRing ring;
    private Virtqueue q;
    private final Pieces p = new Pieces(Virtqueue.MAX_PIECES);

    /** A transmit queue (device reads) or receive queue on RAM of two regions {@code gap} apart. */
    void setUp(boolean receive, long gap) {
        if (mem != null) mem.retire();
        if (ram != null) ram.close();
        ram = new GuestRam(4 * MIB, 2, gap);
        ring = new SplitRing(ram, N);
        mem = GuestMemoryTest.map(ram, GuestMemoryTest.regionsOf(ram), 2);
        q = new Virtqueue(receive ? 0 : 1, receive, receive ? 1 << 20 : 12 + 65535, arena);
        q.size(N);
        q.base(0);
        q.memory(mem, null);
        q.addresses(0, ram.qva(ring.descOffset()), ram.qva(ring.usedOffset()), ram.qva(ring.availOffset()),
                ram.gpa(ring.usedOffset()));
        q.start();
    }

    @AfterEach
    void close() {
        if (q != null && q.callFd >= 0) Descriptors.close(q.callFd);
        if (mem != null) mem.retire();
        if (ram != null) ram.close();
        arena.close();
    }

    int add(long off, int len) {
        int h = ring.add1(off, len, false);
        ring.publish();
        return h;
    }

    @Test
    void aChainIsDescribedWhereItLiesAndReturnedThroughTheUsedRing() {
        setUp(false, 0);
        long buf = ram.alloc(1000, 64, false);
        ram.memory().set(ValueLayout.JAVA_INT_UNALIGNED, buf + 12, 0xcafe);
        int h = add(buf, 1000);
        assertEquals(h, q.pop(p));
        assertEquals(1000, q.chainBytes);
        assertEquals(1, p.count);
        assertEquals(0xcafe, p.seg[0].get(ValueLayout.JAVA_INT_UNALIGNED, p.off[0] + 12));
        assertEquals(Virtqueue.EMPTY, q.pop(p));
        q.fill(h, 0);
        assertEquals(-1, ring.nextUsed(), "visible before flush");
        q.flush();
        assertEquals(h, ring.nextUsed());
        assertEquals(0, q.inUse());
    }

    @Test
    void aBufferAcrossTwoAdjacentRegionsIsTwoPieces() {
        setUp(false, 0);
        long at = ram.regionEnd(0) - 100;
        int h = add(at, 300);
        assertEquals(h, q.pop(p));
        assertEquals(2, p.count);
        assertEquals(100, p.len[0]);
        assertEquals(200, p.len[1]);
        assertEquals(mem.segment(1), p.seg[1]);
        assertEquals(0, p.off[1]);
    }

    @Test
    void aBufferCrossingARegionsEndIntoNothingIsDroppedAndGivenBack() {
        setUp(false, MIB);
        long at = ram.regionEnd(0) - 100;
        int h = add(at, 300);
        assertEquals(Virtqueue.DROPPED, q.pop(p));
        assertTrue(q.problem.contains("outside guest memory"), q.problem);
        assertEquals(0, p.count);
        q.flush();
        assertEquals(h, ring.nextUsed());
        assertEquals(0, ring.lastLength());
    }

    /** Adds one descriptor chain written raw and publishes it; returns what pop makes of it. */
    int popRaw(long gpa, int len, int flags, int next) {
        int h = ring.add1(0, 1, false); // takes a descriptor the normal way...
        ring.rawDescriptor(h, gpa, len, flags, next); // ...then breaks it
        ring.publish();
        return q.pop(p);
    }

    @Test
    void buffersThatAreWrongInThemselvesAreDroppedNotTrusted() {
        setUp(false, MIB);
        long ok = ram.gpa(ram.alloc(2000, 64, false));
        assertEquals(Virtqueue.DROPPED, popRaw(ok, 0, 0, 0), "zero length");
        assertEquals(Virtqueue.DROPPED, popRaw(ok, 70_000, 0, 0), "longer than any frame");
        assertEquals(Virtqueue.DROPPED, popRaw(ok, 100, 2, 0), "device-writable on the transmit queue");
        assertEquals(Virtqueue.DROPPED, popRaw(ok, 100, 4, 0), "indirect");
        assertEquals(Virtqueue.DROPPED, popRaw(2 * MIB + 4096, 100, 0, 0), "in the gap");
        assertEquals(Virtqueue.DROPPED, popRaw(64 * MIB, 100, 0, 0), "past the end of memory");
        assertEquals(Virtqueue.DROPPED, popRaw(-50, 100, 0, 0), "wrapping the address space");
        assertEquals(0, p.count);
        q.flush();
        for (int i = 0; i < 7; i++) assertTrue(ring.nextUsed() >= 0, "dropped chain " + i + " not given back");
        assertEquals(0, q.inUse());
    }

    @Test
    void aChainIndexPastTheRingOrALoopBreaksTheRing() {
        setUp(false, 0);
        long ok = ram.gpa(ram.alloc(2000, 64, false));
        assertEquals(Virtqueue.BROKEN, popRaw(ok, 100, 1, N), "next past the ring");
        assertTrue(q.problem.contains("past its 16 entries"), q.problem);

        setUp(false, 0);
        int h = ring.add1(0, 1, false);
        ring.rawDescriptor(h, ok, 100, 1, h); // a chain that points at itself
        ring.publish();
        assertEquals(Virtqueue.BROKEN, q.pop(p));
        assertTrue(q.problem.contains("loops"), q.problem);

        setUp(false, 0);
        ring.rawAvail(N + 3);
        ring.publish();
        assertEquals(Virtqueue.BROKEN, q.pop(p), "a head past the ring");

        setUp(false, 0);
        ring.rawAvailIndex(N + 1);
        assertEquals(Virtqueue.BROKEN, q.pop(p), "avail->idx more than the ring ahead");
        assertTrue(q.problem.contains("more than its 16 entries ahead"), q.problem);
    }

    @Test
    void aChainLongerThanAnyFrameNeedsIsDropped() {
        ram = new GuestRam(4 * MIB, 1, 0);
        ring = new SplitRing(ram, 256);
        mem = GuestMemoryTest.map(ram, GuestMemoryTest.regionsOf(ram), 1);
        q = new Virtqueue(1, false, 12 + 65535, arena);
        q.size(256);
        q.base(0);
        q.memory(mem, null);
        q.addresses(0, ram.qva(ring.descOffset()), ram.qva(ring.usedOffset()), ram.qva(ring.availOffset()), 0);
        q.start();
        long buf = ram.alloc(200, 64, false);
        long[] offs = new long[200];
        int[] lens = new int[200];
        for (int i = 0; i < 200; i++) {
            offs[i] = buf + i;
            lens[i] = 1;
        }
        ring.add(offs, lens, 200, false);
        ring.publish();
        assertEquals(Virtqueue.DROPPED, q.pop(p));
        assertTrue(q.problem.contains("128 descriptors"), q.problem);
    }

    @Test
    void ringsOutsideMemoryOrMisalignedAreRefusedAtSetUp() {
        setUp(false, MIB);
        Virtqueue r = new Virtqueue(0, true, 1 << 20, arena);
        r.size(N);
        r.memory(mem, null);
        assertThrows(VhostUserException.class, () -> r.addresses(0, ram.qva(ram.regionEnd(0) - 64),
                ram.qva(ring.usedOffset()), ram.qva(ring.availOffset()), 0), "a table across a region's end");
        assertThrows(VhostUserException.class, () -> r.addresses(0, ram.qva(ring.descOffset()) + 8,
                ram.qva(ring.usedOffset()), ram.qva(ring.availOffset()), 0), "a table not 16-aligned");
        assertThrows(VhostUserException.class, () -> r.addresses(0, ram.qva(ring.descOffset()),
                ram.qva(ring.usedOffset()) + 2, ram.qva(ring.availOffset()), 0), "a used ring not 4-aligned");
        assertThrows(VhostUserException.class, () -> r.addresses(0, 12345, 0, 0, 0), "nowhere");
        assertThrows(VhostUserException.class, () -> r.size(1000), "not a power of two");
        assertThrows(VhostUserException.class, () -> r.size(65536), "larger than 32768");
        assertThrows(VhostUserException.class, r::start, "started before it is set up");
    }

    @Test
    void rewoundChainsArePoppedAgainInTheSameOrder() {
        setUp(true, 0);
        long buf = ram.alloc(3 * 512, 64, false);
        int a = ring.add1(buf, 512, true), b = ring.add1(buf + 512, 512, true);
        ring.publish();
        assertEquals(a, q.pop(p));
        assertEquals(b, q.pop(p));
        q.rewind(2);
        assertEquals(0, q.inUse());
        p.clear();
        assertEquals(a, q.pop(p));
        assertEquals(b, q.pop(p));
    }

    @Test
    void theGuestIsSignalledOnlyWhenItWantsInterruptsAndSomethingWasPublished() {
        setUp(true, 0);
        q.callFd = Errno.check(Descriptors.eventfd(0, Descriptors.EFD_NONBLOCK | Descriptors.EFD_CLOEXEC), "eventfd");
        MemorySegment v = arena.allocate(8, 8);
        long buf = ram.alloc(512, 64, false);
        int h = ring.add1(buf, 512, true);
        ring.publish();
        q.notifyGuest();
        assertEquals(-Errno.EAGAIN, Descriptors.read(q.callFd, v, 8), "a signal with nothing published");
        assertEquals(h, q.pop(p));
        q.fill(h, 100);
        q.flush();
        ring.interrupts(false);
        q.notifyGuest();
        assertEquals(-Errno.EAGAIN, Descriptors.read(q.callFd, v, 8), "a signal although the guest asked for none");
        int h2 = ring.add1(buf, 512, true);
        ring.publish();
        ring.interrupts(true);
        assertEquals(h2, q.pop(p));
        q.fill(h2, 100);
        q.flush();
        q.notifyGuest();
        assertEquals(8, Descriptors.read(q.callFd, v, 8));
        assertEquals(1L, v.get(ValueLayout.JAVA_LONG, 0));
    }

    @Test
    void stoppingGivesSparesBackAndReturnsTheNextAvailableIndex() {
        setUp(true, 0);
        long buf = ram.alloc(2 * 512, 64, false);
        int a = ring.add1(buf, 512, true);
        ring.publish();
        assertEquals(a, q.pop(p));
        q.spare(a);
        assertEquals(1, q.stop());
        assertFalse(q.ready());
        assertEquals(a, ring.nextUsed());
        assertEquals(0, ring.lastLength());
    }
}
