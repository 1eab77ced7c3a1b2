package jpasst.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * How jpasst calls libc through java.lang.foreign: the linker, the downcall handles, errno, and
 * the one convention for variadic functions. {@link Sockets}, {@link Descriptors},
 * {@link Epoll}, {@link Processes}, {@link Memory} and {@link Errno} bind their functions here;
 * nothing outside this package makes a downcall.
 *
 * Every call follows the kernel's convention rather than the JDK's: it returns the result, or
 * the negated errno on failure (captured with {@code captureCallState("errno")} into a per-thread
 * segment), so the frame path never builds an exception for EAGAIN. Callers that want an
 * exception use {@link Errno#check}. Calls that never block (recv/send with MSG_DONTWAIT on
 * non-blocking sockets, getsockopt...) are ordinary downcalls; epoll_wait and accept may block.
 *
 * Nothing here allocates per call: the errno capture segment is per thread, and callers pass
 * preallocated off-heap segments for buffers and socket addresses.
 *
 * Each downcall handle is created on first use, in a holder class of its own (the JIT treats
 * its final field as a constant all the same), and all of them share one descriptor: six
 * {@code long} arguments, a {@code long} result, errno captured. The linker generates code once
 * per distinct descriptor (8 ms each, and the AOT cache cannot keep it): with a descriptor per
 * signature, start-up spent about 120 ms of the daemon's 150 and 40 of the launcher's in it; with
 * one, every further handle is a table lookup. The x86-64 and AArch64 calling conventions pass
 * integer and pointer arguments of any width in the same 64-bit registers, so ints, shorts and
 * addresses go in as longs (the callee reads the low bits it declared; unused trailing
 * arguments are ignored), and an {@code int} result is the low half of the returned register:
 * callers cast it to int. Pointer arguments are passed as addresses ({@link #a}): their
 * segments belong to the callers, who keep them alive across the call.
 *
 * Variadic functions (open, fcntl, ioctl; syscall and prctl too, should they come) are linked
 * as the C ABI asks, with {@link Linker.Option#firstVariadicArg} at the first argument the
 * prototype leaves to "{@code ...}" ({@link #variadic}): the same six longs, marked variadic
 * from there. On x86-64 and Linux AArch64 an integer travels the same way named or variadic,
 * so what this buys is correctness where the two differ, at the price of a second piece of
 * generated code (one per distinct count of named arguments: 10 to 40 ms to link, which
 * a launch does without: {@link #linkLaunchCalls}). passt-qemu-glue's
 * {@code NativeUnix} follows this same convention in code of its own: the glue does not depend
 * on passt-core.
 */
public final class Native {
    private Native() {}

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final long ERRNO = CAPTURE.byteOffset(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> CAPTURE_SEGMENT = new ThreadLocal<>() {
        @Override
        protected MemorySegment initialValue() {
            return Arena.global().allocate(CAPTURE);
        }
    };

    /** Every function's descriptor: six integer-class arguments in, one out (see the class comment). */
    private static final FunctionDescriptor ANY = FunctionDescriptor.of(JAVA_LONG,
            JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);

    private static MemorySegment symbol(String name) {
        MemorySegment f = LIBC.find(name).orElse(null);
        if (f == null) throw new UnsatisfiedLinkError("libc has no " + name);
        return f;
    }

    /** The downcall handle of a function with a fixed list of arguments. */
    static MethodHandle fn(String name) {
        return LINKER.downcallHandle(symbol(name), ANY, Linker.Option.captureCallState("errno"));
    }

    /**
     * The downcall handle of a variadic function whose prototype names {@code namedArgs}
     * arguments before its "{@code ...}" ({@code int fcntl(int fd, int cmd, ...)}: 2).
     */
    static MethodHandle variadic(String name, int namedArgs) {
        return LINKER.downcallHandle(symbol(name), ANY, Linker.Option.firstVariadicArg(namedArgs),
                Linker.Option.captureCallState("errno"));
    }

    /**
     * Makes the downcall handles a launch uses, in the order it uses them, on the calling thread:
     * the launcher (no AOT cache) has a thread do it while it reads its options (Main.LinkAhead).
     * The first handle costs tens of ms (the linker's classes, generated code), each further one
     * a fraction of a ms, which the launcher would otherwise spend one by one as it binds and
     * spawns. A handle another thread is making meanwhile is waited for, not made twice.
     */
    public static void linkLaunchCalls() {
        Processes.getuid(); // a first call, too: it links the invoker all fixed calls share
        linked(Processes.GETRLIMIT.H, Sockets.SOCKET.H, Sockets.CONNECT.H, Descriptors.CLOSE.H,
                Descriptors.UNLINK.H, Sockets.BIND.H, Sockets.LISTEN.H, Descriptors.CREAT.H,
                Descriptors.PIPE2.H, Processes.SPAWNATTR_INIT.H, Processes.SPAWNATTR_SETSIGMASK.H,
                Processes.SPAWNATTR_SETSIGDEFAULT.H, Processes.SPAWNATTR_SETFLAGS.H,
                Processes.FILE_ACTIONS_INIT.H, Processes.FILE_ACTIONS_ADDOPEN.H,
                Processes.FILE_ACTIONS_ADDDUP2.H, Processes.FILE_ACTIONS_ADDCLOSE.H,
                Isolation.FILE_ACTIONS_ADDCLOSEFROM.H, Processes.POSIX_SPAWN.H, Descriptors.WRITE.H,
                Processes.EXIT.H, Descriptors.LSEEK.H);
        // Nothing variadic: its code is generated apart (10 to 40 ms), and a launch without
        // --pcap or --log-file needs none (it makes what it hands down without close-on-exec,
        // and the pid file with creat)
    }

    private static void linked(MethodHandle... handles) {
        // each argument initialized its holder class, which is all there was to do
    }

    /** A pointer argument. The segments passed stay alive across the call by their owners. */
    static long a(MemorySegment s) {
        return s.address();
    }

    /** The calling thread's errno capture segment. */
    static MemorySegment cap() {
        return CAPTURE_SEGMENT.get();
    }

    static int errno(MemorySegment cap) {
        return cap.get(JAVA_INT, ERRNO);
    }

    /** {@code r}, or the negated errno if the call failed. */
    static int ret(int r, MemorySegment cap) {
        return r < 0 ? -errno(cap) : r;
    }

    static long ret(long r, MemorySegment cap) {
        return r < 0 ? -errno(cap) : r;
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
