package jpasst.flow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import jpasst.packet.Inany;

/**
 * Flow keys as UDP and ICMP build them: the guest's address, the peer's address (IPv4-mapped for
 * IPv4) and a meta word of ports or echo identifier. Every field must tell flows apart, entries
 * must come and go without a trace, and a table at its limit must refuse rather than grow.
 */
class FlowKeysTest {
    static final long GUEST = Inany.lo4(0xc0000202), GW = Inany.lo4(0xc0000201), OTHER = Inany.lo4(0x08080808);

    static long ports(int guestPort, int peerPort) {
        return (long) guestPort << 16 | peerPort;
    }

    @Test
    void everyPartOfTheKeyTellsFlowsApart() {
        FlowTable t = new FlowTable(16, 1024);
        assertTrue(t.put(0, GUEST, 0, GW, ports(1000, 53), 1));
        assertTrue(t.put(0, GUEST, 0, GW, ports(1001, 53), 2));    // other source port
        assertTrue(t.put(0, GUEST, 0, GW, ports(1000, 54), 3));    // other destination port
        assertTrue(t.put(0, GUEST, 0, OTHER, ports(1000, 53), 4)); // other destination
        assertTrue(t.put(0x2001_0db8_0000_0000L, 2, 0x2001_0db8_0000_0000L, 1, ports(1000, 53), 5)); // IPv6
        assertEquals(1, t.get(0, GUEST, 0, GW, ports(1000, 53)));
        assertEquals(2, t.get(0, GUEST, 0, GW, ports(1001, 53)));
        assertEquals(3, t.get(0, GUEST, 0, GW, ports(1000, 54)));
        assertEquals(4, t.get(0, GUEST, 0, OTHER, ports(1000, 53)));
        assertEquals(5, t.get(0x2001_0db8_0000_0000L, 2, 0x2001_0db8_0000_0000L, 1, ports(1000, 53)));
        assertEquals(-1, t.get(0, GW, 0, GUEST, ports(1000, 53)), "direction matters");
        assertEquals(-1, t.get(0, GUEST, 0, GW, ports(53, 1000)), "port order matters");
        assertEquals(5, t.size());
    }

    @Test
    void thousandsOfFlowsComeAndGoWithoutATrace() {
        FlowTable t = new FlowTable(16, 20000);
        for (int round = 0; round < 3; round++) {
            for (int p = 0; p < 10000; p++) assertTrue(t.put(0, GUEST, 0, GW, ports(20000 + p, 7), p));
            assertEquals(10000, t.size());
            for (int p = 0; p < 10000; p += 2) assertTrue(t.remove(0, GUEST, 0, GW, ports(20000 + p, 7)));
            for (int p = 0; p < 10000; p++) {
                assertEquals(p % 2 == 0 ? -1 : p, t.get(0, GUEST, 0, GW, ports(20000 + p, 7)), "port " + p);
            }
            for (int p = 1; p < 10000; p += 2) assertTrue(t.remove(0, GUEST, 0, GW, ports(20000 + p, 7)));
            assertEquals(0, t.size());
            assertFalse(t.remove(0, GUEST, 0, GW, ports(20001, 7)));
        }
    }

    @Test
    void echoIdentifiersAreKeysOfTheirOwn() {
        FlowTable t = new FlowTable(16, 64);
        assertTrue(t.put(0, GUEST, 0, GW, 0x4242, 0));
        assertTrue(t.put(0, GUEST, 0, GW, 0x4243, 1));
        assertEquals(0, t.get(0, GUEST, 0, GW, 0x4242));
        assertEquals(1, t.get(0, GUEST, 0, GW, 0x4243));
        assertEquals(-1, t.get(0, GUEST, 0, OTHER, 0x4242), "same identifier, other destination");
    }

    @Test
    void aFullTableRefusesNewFlows() {
        FlowTable t = new FlowTable(16, 32);
        int added = 0;
        for (int p = 0; p < 100; p++) if (t.put(0, GUEST, 0, GW, ports(p, 1), p)) added++;
        assertTrue(added >= 32 && added < 100, "added " + added);
        assertFalse(t.put(0, GUEST, 0, GW, ports(5000, 1), 1));
        assertEquals(0, t.get(0, GUEST, 0, GW, ports(0, 1)), "what is in stays found");
    }
}
