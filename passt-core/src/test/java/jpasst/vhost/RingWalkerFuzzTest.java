package jpasst.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.guest.vhost.GuestRam;
import jpasst.guest.vhost.SplitRing;

/**
 * The ring walker under random rings: descriptor tables, available rings and indices written by
 * a guest that follows no rule (random, or valid chains with one field broken), popped, filled,
 * rewound and spared at random. Every input must end in a chain whose every piece lies inside one
 * region's segment at the guest-physical address it claims, an EMPTY, a DROPPED or a BROKEN ring;
 * never an exception (an access outside a segment would be one).
 *
 * Sizes: {@code -Djpasst.fuzz.iterations=N} as the other fuzz tests (default here 100,000 inputs,
 * a few seconds; the nightly size 1,000,000), {@code -Djpasst.fuzz.seed=S} to reproduce.
 */
@Timeout(1800)
class RingWalkerFuzzTest {
    static final int ITERATIONS = Integer.getInteger("jpasst.fuzz.iterations", 100_000);
    static final long SEED = Long.getLong("jpasst.fuzz.seed", 0x51ee_7f00dL);
    static final long MIB = 1 << 20;
    static final int N = 64;

    @Test
    void randomRingsNeverLeadOutsideGuestMemory() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        int[] outcome = new int[5];
        long pieces = 0;
        try (Arena arena = Arena.ofShared(); GuestRam ram = new GuestRam(4 * MIB, 2, MIB)) {
            SplitRing ring = new SplitRing(ram, N);
            GuestMemory mem = GuestMemoryTest.map(ram, GuestMemoryTest.regionsOf(ram), 2);
            Pieces p = new Pieces(4 * Virtqueue.MAX_PIECES);
            long bufs = ram.alloc(64 * 4096, 4096, true);
            Virtqueue[] qs = {queue(arena, ram, ring, mem, true), queue(arena, ram, ring, mem, false)};
            for (int it = 0; it < ITERATIONS; it++) {
                Virtqueue q = qs[rnd.nextInt(2)];
                boolean deviceWrites = q.index == 0;
                corrupt(rnd, ram, ring, bufs, deviceWrites);
                int pops = 1 + rnd.nextInt(2 * N);
                p.clear();
                for (int k = 0; k < pops; k++) {
                    if (p.count > p.capacity() - Virtqueue.MAX_PIECES) p.clear();
                    int start = p.count;
                    int h = q.pop(p);
                    if (h >= 0) {
                        outcome[0]++;
                        long sum = 0;
                        for (int i = start; i < p.count; i++) {
                            pieces++;
                            int r = region(mem, p.seg[i]);
                            assertTrue(r >= 0, "a piece outside every region");
                            assertTrue(p.off[i] >= 0 && p.len[i] > 0 && p.off[i] + p.len[i] <= mem.size(r), "a piece past its region");
                            assertEquals(mem.gpa(r) + p.off[i], p.gpa[i], "a piece at another guest address than it claims");
                            sum += p.len[i];
                        }
                        assertEquals(q.chainBytes, sum);
                        switch (rnd.nextInt(4)) {
                            case 0 -> q.fill(h, (int) Math.min(sum, rnd.nextInt(3000)));
                            case 1 -> {
                                if (!q.chainFromSpare) q.rewind(1);
                                else q.spare(h);
                            }
                            case 2 -> q.spare(h);
                            default -> q.fill(h, 0);
                        }
                    } else if (h == Virtqueue.EMPTY) {
                        outcome[1]++;
                        break;
                    } else if (h == Virtqueue.DROPPED) {
                        outcome[2]++;
                    } else if (h == Virtqueue.NO_ROOM) {
                        outcome[3]++;
                        p.clear();
                    } else {
                        outcome[4]++;
                        break;
                    }
                }
                q.flush();
                if (rnd.nextInt(8) == 0 || q.inUse() > N / 2 || outcome[4] > 0 && rnd.nextInt(2) == 0) {
                    // a new session: the device forgets the ring, the driver starts over
                    ring.reset();
                    qs[q.index] = queue(arena, ram, ring, mem, deviceWrites);
                }
            }
            mem.retire();
        }
        System.out.printf("FUZZ ring walker: %d inputs (seed %#x): %d chains (%d pieces), %d empty, %d dropped,"
                + " %d no room, %d broken rings%n", ITERATIONS, SEED, outcome[0], pieces, outcome[1], outcome[2],
                outcome[3], outcome[4]);
        assertTrue(outcome[0] > 0 && outcome[2] > 0 && outcome[4] > 0, "the fuzzer missed a kind of outcome");
    }

    static Virtqueue queue(Arena arena, GuestRam ram, SplitRing ring, GuestMemory mem, boolean receive) {
        Virtqueue q = new Virtqueue(receive ? 0 : 1, receive, receive ? 1 << 20 : 12 + 65535, arena);
        q.size(N);
        q.base(ring.availIndex());
        q.memory(mem, null);
        q.addresses(0, ram.qva(ring.descOffset()), ram.qva(ring.usedOffset()), ram.qva(ring.availOffset()),
                ram.gpa(ring.usedOffset()));
        q.start();
        return q;
    }

    static int region(GuestMemory m, java.lang.foreign.MemorySegment s) {
        for (int r = 0; r < m.regions(); r++) if (m.segment(r) == s) return r;
        return -1;
    }

    /** Writes a few descriptors and available entries, valid or broken, and publishes an index. */
    static void corrupt(SplittableRandom rnd, GuestRam ram, SplitRing ring, long bufs, boolean writable) {
        int writes = 1 + rnd.nextInt(6);
        for (int w = 0; w < writes; w++) {
            int d = rnd.nextInt(N);
            long gpa = switch (rnd.nextInt(12)) {
                case 0 -> rnd.nextLong(); // anywhere
                case 1 -> ram.regionGpa(1) - rnd.nextInt(1 << 21); // around the gap
                case 2 -> ram.gpa(ram.regionEnd(0) - rnd.nextInt(4096)); // across a region's end
                case 3 -> -rnd.nextInt(4096); // wrapping the address space
                default -> ram.gpa(bufs + rnd.nextInt(64 * 4096)); // inside
            };
            int len = switch (rnd.nextInt(12)) {
                case 0 -> rnd.nextInt(); // anything, 4 GiB included
                case 1 -> 0;
                default -> 1 + rnd.nextInt(8192);
            };
            int flags = rnd.nextInt(10) == 0 ? rnd.nextInt(8) : (writable ? 2 : 0) | (rnd.nextBoolean() ? 1 : 0);
            int next = rnd.nextInt(16) == 0 ? rnd.nextInt(1 << 16) : rnd.nextInt(N);
            ring.rawDescriptor(d, gpa, len, flags, next);
        }
        if (rnd.nextInt(3) == 0) { // a valid chain of up to four buffers, as a driver writes it
            int count = 1 + rnd.nextInt(4);
            long[] off = new long[count];
            int[] len = new int[count];
            for (int i = 0; i < count; i++) {
                len[i] = 1 + rnd.nextInt(4096);
                off[i] = bufs + rnd.nextInt(60 * 4096);
            }
            if (ring.add(off, len, count, writable) >= 0 && rnd.nextBoolean()) {
                ring.publish();
                return;
            }
        }
        int heads = rnd.nextInt(4);
        for (int i = 0; i < heads; i++) ring.rawAvail(rnd.nextInt(20) == 0 ? rnd.nextInt(1 << 16) : rnd.nextInt(N));
        if (rnd.nextInt(40) == 0) {
            ring.rawAvailIndex(rnd.nextInt(1 << 16));
        } else {
            ring.publish();
        }
    }
}
