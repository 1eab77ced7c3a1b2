package jpasst;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** What a launcher tells its daemon in JPASST_HANDOVER: descriptor numbers, in runs. */
class HandoverTest {
    @Test
    void descriptorsTravelAsRunsAndComeBackTheSame() {
        Daemon.Handover h = new Daemon.Handover(4, -1, 5, new int[] {6, 7, 8, 9, 12}, new int[] {10, 11}, -1);
        String text = h.encode();
        assertEquals("quit=4 pcap=-1 tap=5 tcp=6-9,12 udp=10-11", text);
        Daemon.Handover back = Daemon.Handover.decode(text);
        assertEquals(4, back.quit());
        assertEquals(-1, back.pcap());
        assertEquals(5, back.tap());
        assertArrayEquals(h.tcp(), back.tcp());
        assertArrayEquals(h.udp(), back.udp());
        assertEquals(false, back.namespaces());
    }

    @Test
    void inNamespacesOfItsOwnTheMappingHelpersPipeComesToo() {
        Daemon.Handover h = new Daemon.Handover(3, 4, 5, new int[0], new int[0], 6);
        assertEquals("quit=3 pcap=4 tap=5 tcp= udp= map=6", h.encode());
        assertEquals(6, Daemon.Handover.decode(h.encode()).map());
        assertEquals(true, Daemon.Handover.decode(h.encode()).namespaces());
    }

    @Test
    void tensOfThousandsOfSocketsTakeAFewCharacters() {
        int[] all = new int[98_000];
        for (int i = 0; i < all.length; i++) all[i] = 7 + i;
        Daemon.Handover h = new Daemon.Handover(3, -1, -1, all, new int[0], -1);
        assertEquals("quit=3 pcap=-1 tap=-1 tcp=7-98006 udp=", h.encode());
        assertArrayEquals(all, Daemon.Handover.decode(h.encode()).tcp());
    }

    @Test
    void somethingElseIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> Daemon.Handover.decode("quit=3 ready=4"));
        assertThrows(IllegalArgumentException.class, () -> Daemon.Handover.decode("tcp=9-7"));
        assertThrows(IllegalArgumentException.class, () -> Daemon.Handover.decode("tap=x"));
    }
}
