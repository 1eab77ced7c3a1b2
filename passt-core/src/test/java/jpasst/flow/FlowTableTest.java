package jpasst.flow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

import jpasst.packet.Inany;

/**
 * The flow table on its own: passt's limit of 128k flows, and its open addressing with
 * backward-shift deletion checked against a {@link HashMap} under random operations, in tables
 * small enough that probe chains are long and wrap around the end of the array.
 */
class FlowTableTest {
    static final int PASST_FLOWS = 128 * 1024;

    /** A TCP-like key: guest address and port, peer address and port, IPv4 or IPv6. */
    record Key(long aHi, long aLo, long bHi, long bLo, long meta) {
        static Key random(Random r, boolean v6) {
            long aHi = v6 ? 0x2001_0db8_0000_0000L : 0, bHi = v6 ? 0x2001_0db8_0001_0000L | r.nextInt(4) : 0;
            long aLo = v6 ? r.nextInt(8) : Inany.lo4(0xc0000202);
            long bLo = v6 ? r.nextInt(8) : Inany.lo4(0xc0000200 | r.nextInt(4));
            long meta = 6L << 32 | (long) r.nextInt(65536) << 16 | r.nextInt(4);
            return new Key(aHi, aLo, bHi, bLo, meta);
        }

        int get(FlowTable t) {
            return t.get(aHi, aLo, bHi, bLo, meta);
        }

        boolean put(FlowTable t, int v) {
            return t.put(aHi, aLo, bHi, bLo, meta, v);
        }

        boolean remove(FlowTable t) {
            return t.remove(aHi, aLo, bHi, bLo, meta);
        }
    }

    @Test
    void holdsPasstsLimitOf128kFlowsAndRefusesOneMore() {
        FlowTable t = new FlowTable(1024, PASST_FLOWS);
        List<Key> keys = new ArrayList<>();
        for (int i = 0; i < PASST_FLOWS; i++) {
            // 128k distinct connections: guest ports 1..65535 to two peers and both families
            boolean v6 = i >= PASST_FLOWS / 2;
            int j = i % (PASST_FLOWS / 2);
            Key k = new Key(v6 ? 0x2001_0db8_0000_0000L : 0, v6 ? 2 : Inany.lo4(0xc0000202),
                    v6 ? 0x2001_0db8_0000_0000L : 0, v6 ? 1 : Inany.lo4(0xc0000201 + (j >>> 16)),
                    6L << 32 | (long) (j & 0xffff) << 16 | 80);
            keys.add(k);
            assertTrue(k.put(t, i), "flow " + i);
        }
        assertEquals(PASST_FLOWS, t.size());
        assertFalse(new Key(0, Inany.lo4(0x08080808), 0, Inany.lo4(0x01010101), 6L << 32 | 1).put(t, 1),
                "one flow more than the limit");
        for (int i = 0; i < PASST_FLOWS; i++) assertEquals(i, keys.get(i).get(t), "lookup " + i);
        for (int i = 0; i < PASST_FLOWS; i += 2) assertTrue(keys.get(i).remove(t));
        for (int i = 0; i < PASST_FLOWS; i++) assertEquals(i % 2 == 0 ? -1 : i, keys.get(i).get(t), "after removal " + i);
        for (int i = 0; i < PASST_FLOWS; i += 2) assertTrue(keys.get(i).put(t, i), "again " + i);
        for (int i = 0; i < PASST_FLOWS; i++) assertTrue(keys.get(i).remove(t));
        assertEquals(0, t.size());
    }

    @Test
    void randomOperationsAgreeWithAHashMapInCrowdedTables() {
        Random r = new Random(42);
        for (int round = 0; round < 20; round++) {
            int limit = 8 << (round % 6);                 // 8 .. 256 entries: tables of 16 .. 512 slots
            FlowTable t = new FlowTable(16, limit);
            Map<Key, Integer> model = new HashMap<>();
            List<Key> universe = new ArrayList<>();
            for (int i = 0; i < limit * 3; i++) universe.add(Key.random(r, r.nextBoolean()));
            for (int op = 0; op < 20_000; op++) {
                Key k = universe.get(r.nextInt(universe.size()));
                switch (r.nextInt(3)) {
                    case 0 -> {
                        int v = r.nextInt(1 << 20);
                        boolean fits = model.containsKey(k) || model.size() < limit;
                        boolean ok = k.put(t, v);
                        if (ok) model.put(k, v);
                        if (fits && !model.containsKey(k)) throw new AssertionError("refused below the limit");
                        if (!model.containsKey(k) && ok) throw new AssertionError("accepted beyond the limit");
                    }
                    case 1 -> assertEquals(model.remove(k) != null, k.remove(t), "remove, op " + op);
                    default -> assertEquals(model.getOrDefault(k, -1), k.get(t), "get, op " + op);
                }
                assertEquals(model.size(), t.size(), "size, op " + op);
            }
            for (Key k : universe) assertEquals(model.getOrDefault(k, -1), k.get(t), "final state, round " + round);
        }
    }

    @Test
    void lookupsOnAFullTableAllocateNothing() {
        FlowTable t = new FlowTable(1024, PASST_FLOWS);
        Random r = new Random(7);
        List<Key> keys = new ArrayList<>();
        for (int i = 0; i < 100_000; i++) {
            Key k = Key.random(r, i % 2 == 0);
            if (k.put(t, i)) keys.add(k);
        }
        long[] flat = new long[keys.size() * 5];
        for (int i = 0; i < keys.size(); i++) {
            Key k = keys.get(i);
            flat[i * 5] = k.aHi;
            flat[i * 5 + 1] = k.aLo;
            flat[i * 5 + 2] = k.bHi;
            flat[i * 5 + 3] = k.bLo;
            flat[i * 5 + 4] = k.meta;
        }
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long sink = 0;
        for (int warm = 0; warm < 3; warm++) sink += lookups(t, flat);
        long before = mx.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < 5; i++) sink += lookups(t, flat);
        long allocated = mx.getCurrentThreadAllocatedBytes() - before;
        assertTrue(sink != 0);
        assertTrue(allocated < 1024, allocated + " bytes allocated by " + 5 * keys.size() + " lookups");
    }

    private static long lookups(FlowTable t, long[] k) {
        long s = 0;
        for (int i = 0; i < k.length; i += 5) {
            int v = t.get(k[i], k[i + 1], k[i + 2], k[i + 3], k[i + 4]);
            int w = t.get(k[i], k[i + 1], k[i + 2], k[i + 3], k[i + 4] ^ 0x5a5a);
            s += v + w;
        }
        return s;
    }
}
