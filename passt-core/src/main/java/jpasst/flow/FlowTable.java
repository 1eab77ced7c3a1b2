package jpasst.flow;

import jpasst.packet.Inany;

/**
 * The flow lookup table: open addressing with linear probing over primitive arrays, keyed by two
 * addresses (two longs each, see {@link Inany}) and a "meta" long (protocol and ports), mapping to
 * an int (a flow index). Deletion shifts later entries back (no tombstones), so lookups stay short
 * however long the daemon runs. The table grows by doubling when half full, up to its limit;
 * growing allocates, lookups and inserts below the current capacity do not.
 *
 * Like everything of the flow layer it belongs to the loop thread: no locks.
 */
public final class FlowTable {
    private final int maxEntries;
    private long[] keys;      // 5 longs per slot
    private int[] values;     // -1: empty slot
    private int mask;
    private int size;

    public FlowTable(int initialCapacity, int maxEntries) {
        this.maxEntries = maxEntries;
        int cap = Integer.highestOneBit(Math.max(16, initialCapacity - 1)) << 1;
        allocate(cap);
    }

    private void allocate(int cap) {
        keys = new long[cap * 5];
        values = new int[cap];
        java.util.Arrays.fill(values, -1);
        mask = cap - 1;
        size = 0;
    }

    public int size() {
        return size;
    }

    public int capacity() {
        return mask + 1;
    }

    public int get(long aHi, long aLo, long bHi, long bLo, long meta) {
        int i = (int) Inany.hash(aHi, aLo, bHi, bLo, meta) & mask;
        while (true) {
            int v = values[i];
            if (v < 0) return -1;
            int k = i * 5;
            if (keys[k] == aHi && keys[k + 1] == aLo && keys[k + 2] == bHi && keys[k + 3] == bLo
                    && keys[k + 4] == meta) {
                return v;
            }
            i = (i + 1) & mask;
        }
    }

    /** Inserts or replaces; returns false if the table is at its limit. */
    public boolean put(long aHi, long aLo, long bHi, long bLo, long meta, int value) {
        if (value < 0) throw new IllegalArgumentException("negative flow index");
        if ((size + 1) * 2 > capacity()) {
            if (size + 1 > maxEntries) return false;
            grow();
        }
        int i = (int) Inany.hash(aHi, aLo, bHi, bLo, meta) & mask;
        while (true) {
            int k = i * 5;
            if (values[i] < 0) {
                keys[k] = aHi;
                keys[k + 1] = aLo;
                keys[k + 2] = bHi;
                keys[k + 3] = bLo;
                keys[k + 4] = meta;
                values[i] = value;
                size++;
                return true;
            }
            if (keys[k] == aHi && keys[k + 1] == aLo && keys[k + 2] == bHi && keys[k + 3] == bLo
                    && keys[k + 4] == meta) {
                values[i] = value;
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    public boolean remove(long aHi, long aLo, long bHi, long bLo, long meta) {
        int i = (int) Inany.hash(aHi, aLo, bHi, bLo, meta) & mask;
        while (true) {
            if (values[i] < 0) return false;
            int k = i * 5;
            if (keys[k] == aHi && keys[k + 1] == aLo && keys[k + 2] == bHi && keys[k + 3] == bLo
                    && keys[k + 4] == meta) {
                break;
            }
            i = (i + 1) & mask;
        }
        // backward-shift deletion (Knuth 6.4, algorithm R)
        int hole = i;
        int j = i;
        while (true) {
            j = (j + 1) & mask;
            if (values[j] < 0) break;
            int jk = j * 5;
            int home = (int) Inany.hash(keys[jk], keys[jk + 1], keys[jk + 2], keys[jk + 3], keys[jk + 4]) & mask;
            boolean movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
            if (movable) {
                System.arraycopy(keys, jk, keys, hole * 5, 5);
                values[hole] = values[j];
                hole = j;
            }
        }
        values[hole] = -1;
        size--;
        return true;
    }

    private void grow() {
        long[] oldKeys = keys;
        int[] oldValues = values;
        allocate(capacity() * 2);
        for (int i = 0; i < oldValues.length; i++) {
            if (oldValues[i] < 0) continue;
            int k = i * 5;
            put(oldKeys[k], oldKeys[k + 1], oldKeys[k + 2], oldKeys[k + 3], oldKeys[k + 4], oldValues[i]);
        }
    }

    public void clear() {
        java.util.Arrays.fill(values, -1);
        size = 0;
    }
}
