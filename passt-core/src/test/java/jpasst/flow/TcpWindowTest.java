package jpasst.flow;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * The room {@link TcpWindow} offers the guest from a host socket's memory counters: scaled by
 * the payload share of what is queued, and not shut by memory the socket keeps queued after all
 * its data was acknowledged.
 */
class TcpWindowTest {
    @Test
    void roomIsTheFreeMemoryScaledByThePayloadShareOfTheQueue() {
        assertEquals(600_000, TcpWindow.room(1_000_000, 1_000_000, 600_000));
    }

    @Test
    void aQueueTooShortToTellLeavesThreeQuartersOfTheFreeMemory() {
        assertEquals(750_000, TcpWindow.room(1_000_000, 20_000, 15_000));
    }

    /**
     * Measured over vhost-user at MTU 1500: SIOCOUTQ 0 with 850 KB still queued. The share said
     * no room, a zero window with the buffer nearly free, and no EPOLLOUT to come to reopen it.
     */
    @Test
    void memoryQueuedWithAllItsDataAcknowledgedDoesNotShutTheWindow() {
        assertEquals(3_344_722L * 3 / 4, TcpWindow.room(3_344_722, 849_582, 0));
        assertEquals(3_344_722L * 3 / 4, TcpWindow.room(3_344_722, 849_582, 1460));
    }
}
