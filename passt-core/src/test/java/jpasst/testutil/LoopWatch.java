package jpasst.testutil;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import jpasst.loop.EventLoop;

/**
 * A test's window into a daemon whose event loop runs on a thread of its own: everything the
 * loop owns (flow counts, the link's state, counters) is read on the loop's thread, and a test
 * waits on conditions the loop itself checks, never by sleeping.
 *
 * A question asked here is answered at the end of a batch of events that began after it was
 * asked: whatever the kernel had ready for the daemon before (a host socket's data, the guest's
 * frames) has been handled by then. That is the barrier: {@link #sync()} alone is one.
 * {@link #await} checks its condition at the end of every batch (and asks the loop for a batch
 * at least every 10 ms while it waits, for conditions that time makes true, such as a flow's
 * expiry).
 */
public final class LoopWatch {
    private static final long RECHECK_NS = 10_000_000L;

    private final EventLoop loop;
    private final ConcurrentLinkedQueue<Watch> watches = new ConcurrentLinkedQueue<>();

    private static final class Watch {
        final BooleanSupplier condition;
        final CompletableFuture<Boolean> done = new CompletableFuture<>();
        boolean armed; // a batch ended since it was asked: the next one began after

        Watch(BooleanSupplier condition) {
            this.condition = condition;
        }
    }

    /** Watches {@code loop}; to be made before the loop runs (it adds an end-of-batch handler). */
    public LoopWatch(EventLoop loop) {
        this.loop = loop;
        loop.onEndOfBatch(this::check);
    }

    private void check() {
        // (no iterator when nothing is watched: the allocation tests count the loop thread's bytes)
        if (watches.isEmpty()) return;
        for (Watch w : watches) {
            if (!w.armed) {
                w.armed = true;
                loop.wakeAt(loop.now()); // one more batch, at once
                continue;
            }
            boolean holds;
            try {
                holds = w.condition.getAsBoolean();
            } catch (RuntimeException | Error e) {
                watches.remove(w);
                w.done.completeExceptionally(e);
                continue;
            }
            if (holds) {
                watches.remove(w);
                w.done.complete(true);
            } else {
                loop.wakeAt(loop.now() + RECHECK_NS);
            }
        }
    }

    /** Whether {@code condition} held, checked on the loop's thread, within {@code ms}. */
    public boolean await(BooleanSupplier condition, long ms) {
        Watch w = new Watch(condition);
        watches.add(w);
        loop.wake();
        try {
            return w.done.get(ms, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            watches.remove(w);
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("the condition failed on the loop", e.getCause());
        }
    }

    /** {@code query}'s answer, on the loop's thread, after what was ready for the loop was handled. */
    public <T> T query(Supplier<T> query) {
        Object[] answer = new Object[1];
        if (!await(() -> {
            answer[0] = query.get();
            return true;
        }, 10_000)) {
            throw new IllegalStateException("the loop did not answer within 10 s");
        }
        @SuppressWarnings("unchecked")
        T t = (T) answer[0];
        return t;
    }

    /** Runs {@code action} on the loop's thread, and returns once it has run. */
    public void run(Runnable action) {
        query(() -> {
            action.run();
            return null;
        });
    }

    /** Returns once the loop has handled everything that was ready for it when this was called. */
    public void sync() {
        run(() -> { });
    }
}
