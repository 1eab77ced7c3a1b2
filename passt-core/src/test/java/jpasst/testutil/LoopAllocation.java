package jpasst.testutil;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;

/**
 * What a loop thread allocates over a window of work once the JIT has done its part, for the
 * tests that show a frame path allocates nothing per frame or segment. HotSpot counts each
 * thread's allocated bytes; escape analysis (C2) removes what the interpreter and C1 still
 * allocate, so a window measured while the JIT compiles overstates the steady state. Windows
 * are measured one after the other until one is clean (under a byte a unit) or two in a row
 * passed with the JIT idle (a compilation is counted when it ends, and a long one may span a
 * window): that is the steady state, and an allocation per unit shows in it. CI machines are
 * slow and shared, so how many windows that takes varies; the count is bounded.
 */
public final class LoopAllocation {
    private static final int MAX_WINDOWS = 40;

    /** A window of work: {@code units} frames or segments through the loop. */
    public interface Window {
        void run() throws Exception;
    }

    private LoopAllocation() {
    }

    /** Runs {@code window} until the steady state as above; returns the smallest figure in bytes. */
    public static long steadyState(Thread loop, String what, long units, Window window) throws Exception {
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        long best = Long.MAX_VALUE;
        int idleInARow = 0;
        for (int w = 0; w < MAX_WINDOWS && best >= units && idleInARow < 2; w++) {
            long compiling = jit.getTotalCompilationTime();
            long mark = allocated(loop);
            window.run();
            long bytes = allocated(loop) - mark;
            boolean jitIdle = jit.getTotalCompilationTime() == compiling;
            idleInARow = jitIdle ? idleInARow + 1 : 0;
            System.out.printf("Allocation, %s: %d bytes for %d%s%n", what, bytes, units, jitIdle ? " (JIT idle)" : "");
            best = Math.min(best, bytes);
        }
        return best;
    }

    private static long allocated(Thread t) {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getThreadAllocatedBytes(t.threadId());
    }
}
