package jpasst;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;

import jpasst.sys.Isolation;
import jpasst.sys.Processes;
import jpasst.sys.Sockets;

/**
 * A process that takes the daemon's own system call filter ({@link Seccomp#install}) and then
 * tries what the daemon must never do, and what it must still do; one line per attempt on
 * standard output, "NAME RESULT" (the result, or the negated errno). Run by {@link SeccompTest}.
 */
public final class SeccompProbe {
    private SeccompProbe() {}

    private static final int PTRACE_TRACEME = 0, AF_PACKET = 17, SOCK_RAW = 3, SOCK_DGRAM = 2;

    public static void main(String[] args) throws Throwable {
        report("install", Seccomp.install());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment path = a.allocateFrom("/bin/true");
            MemorySegment argv = a.allocate(ValueLayout.ADDRESS, 2);
            argv.setAtIndex(ValueLayout.ADDRESS, 0, path);
            MemorySegment envp = a.allocate(ValueLayout.ADDRESS, 1);
            report("execve", Isolation.execve(path, argv, envp));
        }
        report("ptrace", ptraceTraceme());
        report("socket-packet", Sockets.socket(AF_PACKET, SOCK_RAW, 0));
        int udp = Sockets.socket(Sockets.AF_INET, SOCK_DGRAM, 0);
        report("socket-inet", udp);
        report("getpid", Processes.getpid());
        Thread t = new Thread(() -> report("thread", 0)); // a new thread: clone, not clone3
        t.start();
        t.join();
        System.out.flush();
    }

    private static void report(String name, long result) {
        System.out.println(name + " " + result);
    }

    /** ptrace(PTRACE_TRACEME): the negated errno on failure. */
    private static int ptraceTraceme() throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle ptrace = linker.downcallHandle(linker.defaultLookup().find("ptrace").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.ADDRESS, ValueLayout.ADDRESS),
                Linker.Option.firstVariadicArg(1), Linker.Option.captureCallState("errno"));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            long r = (long) ptrace.invokeExact(state, PTRACE_TRACEME, 0, MemorySegment.NULL, MemorySegment.NULL);
            int errno = state.get(ValueLayout.JAVA_INT, Linker.Option.captureStateLayout().byteOffset(
                    java.lang.foreign.MemoryLayout.PathElement.groupElement("errno")));
            return r < 0 ? -errno : (int) r;
        }
    }

    static final List<String> REFUSED = List.of("execve", "ptrace", "socket-packet");
}
