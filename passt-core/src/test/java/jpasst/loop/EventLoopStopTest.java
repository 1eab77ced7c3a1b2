package jpasst.loop;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * stop() from another thread ends the loop whenever it comes: before the loop thread has begun
 * run() (a test that closes its daemon at once, a signal at start-up), or while it sleeps with
 * nothing due. A stop that run() forgot would leave a loop running on descriptors its owner
 * closes, whose numbers the next daemon of the process reuses.
 */
class EventLoopStopTest {
    @Test
    void aStopBeforeRunBeginsEndsRunAtOnce() throws Exception {
        EventLoop loop = new EventLoop();
        loop.stop();
        Thread t = Thread.ofPlatform().start(loop::run);
        t.join(10_000);
        assertFalse(t.isAlive(), "run() went on after stop()");
    }

    @Test
    void aStopWakesAnIdleLoop() throws Exception {
        EventLoop loop = new EventLoop();
        CountDownLatch batch = new CountDownLatch(1);
        loop.onEndOfBatch(batch::countDown);
        Thread t = Thread.ofPlatform().start(loop::run);
        loop.wake();
        assertTrue(batch.await(10, TimeUnit.SECONDS), "the loop ran no batch");
        loop.stop();
        t.join(10_000);
        assertFalse(t.isAlive(), "the idle loop did not see stop()");
    }
}
