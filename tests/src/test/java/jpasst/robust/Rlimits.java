package jpasst.robust;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * This JVM's limit on open files (RLIMIT_NOFILE), which processes it starts inherit: a load test
 * holding ten thousand connections needs as many descriptors on its own side, and the daemon it
 * starts as many again.
 */
final class Rlimits {
    private Rlimits() {}

    private static final int RLIMIT_NOFILE = 7;
    private static final Linker L = Linker.nativeLinker();
    private static final MethodHandle GET = L.downcallHandle(L.defaultLookup().find("getrlimit").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    private static final MethodHandle SET = L.downcallHandle(L.defaultLookup().find("setrlimit").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));

    /** {soft, hard} */
    static long[] openFiles() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment l = a.allocate(16, 8);
            if ((int) GET.invokeExact(RLIMIT_NOFILE, l) != 0) return new long[] {-1, -1};
            return new long[] {l.get(ValueLayout.JAVA_LONG, 0), l.get(ValueLayout.JAVA_LONG, 8)};
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Raises the soft limit to at least {@code want} (and the hard one too, if this process may);
     * returns the soft limit in force afterwards.
     */
    static long raiseOpenFiles(long want) {
        long[] cur = openFiles();
        if (cur[0] >= want) return cur[0];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment l = a.allocate(16, 8);
            l.set(ValueLayout.JAVA_LONG, 0, want);
            l.set(ValueLayout.JAVA_LONG, 8, Math.max(want, cur[1]));
            if ((int) SET.invokeExact(RLIMIT_NOFILE, l) != 0) {
                l.set(ValueLayout.JAVA_LONG, 0, cur[1]);
                l.set(ValueLayout.JAVA_LONG, 8, cur[1]);
                int ignored = (int) SET.invokeExact(RLIMIT_NOFILE, l);
            }
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return openFiles()[0];
    }
}
