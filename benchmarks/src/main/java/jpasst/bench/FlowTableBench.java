package jpasst.bench;

import java.util.SplittableRandom;

import jpasst.flow.FlowTable;
import jpasst.packet.Inany;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;

/**
 * The flow table with {@code flows} live entries (100k by default: passt's own limit is 128k
 * TCP connections), keyed as the TCP layer keys them: guest address and a remote address
 * (IPv4-mapped, or IPv6), protocol and ports. Lookups that hit, in random order so the cache
 * sees what a busy daemon's would; lookups that miss (a new flow's SYN); and insert plus remove
 * of a flow (connection churn) at constant size.
 */
public class FlowTableBench extends JmhSettings {
    @Param({"100000"})
    int flows;

    @Param({"false", "true"})
    boolean v6;

    FlowTable table;
    long[] keys;          // 5 longs per flow
    int[] order;          // random visiting order
    int next;
    int churn;

    @Setup
    public void setup() {
        table = new FlowTable(1024, 1 << 20);
        keys = new long[(flows + 1) * 5];
        SplittableRandom r = new SplittableRandom(42);
        for (int i = 0; i <= flows; i++) {
            int k = i * 5;
            if (v6) {
                keys[k] = BenchFrames.ADDR6_HI;
                keys[k + 1] = BenchFrames.ADDR6_LO;
                keys[k + 2] = 0x2001_0db8_0001_0000L | r.nextInt(1 << 16);
                keys[k + 3] = r.nextLong();
            } else {
                keys[k] = 0;
                keys[k + 1] = Inany.lo4(BenchFrames.ADDR4);
                keys[k + 2] = 0;
                keys[k + 3] = Inany.lo4(0x0a000000 | r.nextInt(1 << 24));
            }
            keys[k + 4] = 6L << 32 | (long) (1024 + i % 60000) << 16 | (80 + i / 60000);
        }
        for (int i = 0; i < flows; i++) {
            int k = i * 5;
            if (!table.put(keys[k], keys[k + 1], keys[k + 2], keys[k + 3], keys[k + 4], i)) {
                throw new IllegalStateException("table full at " + i);
            }
        }
        order = new int[1 << 16];
        for (int i = 0; i < order.length; i++) order[i] = r.nextInt(flows);
    }

    @Benchmark
    public int lookupHit() {
        int i = order[next++ & (order.length - 1)];
        int k = i * 5;
        return table.get(keys[k], keys[k + 1], keys[k + 2], keys[k + 3], keys[k + 4]);
    }

    @Benchmark
    public int lookupMiss() {
        int i = order[next++ & (order.length - 1)];
        int k = i * 5;
        return table.get(keys[k], keys[k + 1], keys[k + 2], keys[k + 3], keys[k + 4] ^ 0x8000_0000L);
    }

    /** One flow removed and another inserted in its place: the size stays at {@code flows}. */
    @Benchmark
    public boolean removeAndInsert() {
        int i = order[next++ & (order.length - 1)];
        int out = (i + churn) % flows;
        int k = out * 5, s = flows * 5;
        // the spare key (index flows) goes in, the removed one becomes the spare
        table.remove(keys[k], keys[k + 1], keys[k + 2], keys[k + 3], keys[k + 4]);
        boolean ok = table.put(keys[s], keys[s + 1], keys[s + 2], keys[s + 3], keys[s + 4], out);
        for (int j = 0; j < 5; j++) {
            long t = keys[k + j];
            keys[k + j] = keys[s + j];
            keys[s + j] = t;
        }
        churn++;
        return ok;
    }
}
