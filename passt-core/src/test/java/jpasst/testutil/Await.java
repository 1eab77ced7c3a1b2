package jpasst.testutil;

import java.util.function.BooleanSupplier;

/**
 * Waiting in a test for a condition that another thread makes true (the daemon's event loop
 * closing a flow, say): the condition is polled every 10 ms until it holds or the time is up.
 */
public final class Await {
    private Await() {}

    /** True as soon as {@code cond} holds; false if it still does not after {@code ms}. */
    public static boolean until(BooleanSupplier cond, long ms) throws InterruptedException {
        long deadline = System.nanoTime() + ms * 1_000_000;
        while (System.nanoTime() < deadline) {
            if (cond.getAsBoolean()) return true;
            Thread.sleep(10);
        }
        return cond.getAsBoolean();
    }
}
