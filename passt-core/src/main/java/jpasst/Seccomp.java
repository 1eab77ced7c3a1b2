package jpasst;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import jpasst.sys.Descriptors;
import jpasst.sys.Isolation;
import jpasst.sys.Processes;
import jpasst.sys.Sockets;

/**
 * The daemon's system call filter, as passt's seccomp.sh builds its own: the calls the daemon
 * and the JVM under it make once the daemon serves, each allowed by number, everything else
 * refused. Installed on every thread at once (SECCOMP_FILTER_FLAG_TSYNC), after start-up and
 * before the first guest frame ({@link Confinement}); threads started later inherit it.
 *
 * The list ({@link #ALLOWED}, below, one group per job) was built from measurement: strace of
 * the daemon from that point on, through the whole test suite and the benchmarks (README,
 * Security). The numbers are x86-64's and AArch64's, picked at run time by the architecture the
 * JVM runs on; the filter first checks that the call comes in with that architecture (and, on
 * x86-64, not through the x32 ABI) and kills the process otherwise, as passt does.
 *
 * A refused call fails with EPERM, where passt kills the process: passt's calls are its own C
 * code, all of them known; ours include the JVM's, which a JDK update, another collector or a
 * rare path (a thread dump, a deoptimization) can vary, and a JVM takes an error from a call it
 * could do without (and says so in the daemon's log, for those the daemon makes itself) where a
 * kill would take the guest's network down. Every refusal is logged by the kernel
 * (SECCOMP_FILTER_FLAG_LOG: an audit record, "type=1326 ... syscall=NR ... code=0x50000", in
 * the kernel log or auditd's), so a missing entry is found in one look: the daemon itself could
 * only see it through a supervising thread (SECCOMP_RET_USER_NOTIF), and that thread would
 * deadlock the JVM if the refused call came from a thread holding a safepoint; SIGSYS
 * (SECCOMP_RET_TRAP) would need a signal handler in native code.
 *
 * Some calls are allowed only with certain arguments: sockets of the IPv4 and IPv6 families
 * (the daemon's host sockets; no packet, netlink or UNIX sockets), clone only for threads (no
 * new process), ioctl only for the socket queries the daemon makes, signals only to itself,
 * prctl only to name a thread. clone3, whose flags a filter cannot read, fails with ENOSYS, on
 * which glibc falls back to clone: that refusal is expected and not logged (a filter of its own,
 * without the log flag).
 */
public final class Seccomp {
    private Seccomp() {}

    /** An allowed call: its name, its number on x86-64 and on AArch64 (-1: not on that one). */
    record Call(String name, int x86, int arm) {
        int nr() {
            return Isolation.AARCH64 ? arm : x86;
        }
    }

    private static Call call(String name, int x86, int arm) {
        return new Call(name, x86, arm);
    }

    /**
     * Allowed whatever their arguments. Each was seen after the filter's point in the traces,
     * unless its comment says why it is here all the same.
     */
    static final List<Call> ALLOWED = List.of(
            // the event loop: epoll, the guest's socket and the host sockets of the flows
            call("epoll_wait", 232, -1), call("epoll_pwait", 281, 22), call("epoll_ctl", 233, 21),
            call("read", 0, 63), call("write", 1, 64), call("recvfrom", 45, 207), call("sendto", 44, 206),
            call("recvmsg", 47, 212), call("sendmsg", 46, 211), call("accept4", 288, 242),
            call("connect", 42, 203), call("bind", 49, 200), call("shutdown", 48, 210), call("close", 3, 57),
            call("setsockopt", 54, 208), call("getsockopt", 55, 209),
            call("getsockname", 51, 204), // (an echo flow's ping socket: its identifier)
            call("recvmmsg", 299, 243), call("sendmmsg", 307, 269), // (batched UDP, issue 14)
            // files: the spare descriptor's /dev/null (Tcp), classes read from the open jar, the
            // JDK's native libraries loaded late (dlopen: open, stat, realpath), the log file
            // (-l: written in place, truncated when full)
            call("openat", 257, 56), call("lseek", 8, 62), call("pread64", 17, 67), call("pwrite64", 18, 68),
            call("ftruncate", 77, 46), call("newfstatat", 262, 79), call("stat", 4, -1), call("lstat", 6, -1),
            call("fstat", 5, 80), // (the JDK's size check of a class file it opens: seen in SeccompProbe)
            call("readlink", 89, -1), call("readlinkat", 267, 78),
            // memory: the collector, the JIT's code cache, thread stacks, malloc and its trimming
            call("mmap", 9, 222), call("munmap", 11, 215), call("mprotect", 10, 226),
            call("madvise", 28, 233), call("brk", 12, 214),
            call("mremap", 25, 216), // (glibc's realloc of a large block: the JIT's arenas)
            // threads: the JIT's compiler threads come and go, the JDK starts one per signal it
            // handles (SIGTERM); locks and parking
            call("set_robust_list", 273, 99), call("rseq", 334, 293), call("gettid", 186, 178),
            call("futex", 202, 98), call("sched_getaffinity", 204, 123), call("exit", 60, 93),
            call("exit_group", 231, 94),
            call("sched_yield", 24, 124), // (HotSpot's spinning locks, under contention)
            call("sysinfo", 99, 179), // (the JIT's memory check before it adds a compiler thread)
            // signals: blocking and returning from the JVM's handlers (SIGQUIT's thread dump)
            call("rt_sigprocmask", 14, 135), call("rt_sigreturn", 15, 139),
            call("restart_syscall", 219, 128), // (a sleep or wait a handler interrupted)
            call("getpid", 39, 172), // (with tgkill below: raise(), abort() on a fatal JVM error)
            // time: clocks the vDSO does not serve (thread CPU time), timed sleeps
            call("clock_gettime", 228, 113), call("clock_nanosleep", 230, 115));

    // calls allowed with some arguments only (see the class comment), and their numbers
    static final Call SOCKET = call("socket", 41, 198), CLONE = call("clone", 56, 220),
            IOCTL = call("ioctl", 16, 29), FCNTL = call("fcntl", 72, 25), TGKILL = call("tgkill", 234, 131), PRCTL = call("prctl", 157, 167),
            CLONE3 = call("clone3", 435, 435);

    private static final int AF_INET = 2, AF_INET6 = 10, CLONE_THREAD = 0x10000, PR_SET_NAME = 15;
    private static final long SIOCOUTQ = Sockets.SIOCOUTQ, SIOCINQ = Sockets.SIOCINQ;

    private static final int AUDIT_ARCH_X86_64 = 0xc000003e, AUDIT_ARCH_AARCH64 = 0xc00000b7;
    private static final int X32_SYSCALL_BIT = 0x40000000;
    private static final int RET_KILL_PROCESS = 0x80000000, RET_ERRNO = 0x00050000, RET_ALLOW = 0x7fff0000;
    private static final int EPERM = 1, ENOSYS = 38;
    /** struct seccomp_data: nr, arch, instruction pointer, six arguments. */
    private static final int DATA_NR = 0, DATA_ARCH = 4, DATA_ARGS = 16;
    private static final int LD_W_ABS = 0x20, JEQ = 0x15, JGE = 0x35, JSET = 0x45, RET = 0x06;

    /**
     * Sets no_new_privs and installs both filters on every thread of the process. Returns 0, or
     * the negated errno of what failed (a positive value: the id of a thread that could not be
     * synchronized).
     */
    public static int install() {
        int r = Isolation.prctl(Isolation.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (r < 0) return r;
        r = load(quiet(), Isolation.SECCOMP_FILTER_FLAG_TSYNC);
        if (r != 0) return r;
        return load(filter(Processes.getpid()), Isolation.SECCOMP_FILTER_FLAG_TSYNC | Isolation.SECCOMP_FILTER_FLAG_LOG);
    }

    /** The main filter, for a process whose pid is {@code pid} (signals go to it alone). */
    static List<long[]> filter(int pid) {
        Program p = new Program();
        p.checkArchitecture();
        // the checked calls first: ioctl and socket are on the frame path, and the kernel runs
        // the filter for them every time (calls allowed whatever their arguments are allowed
        // from its per-number cache without running it)
        p.oneOf(IOCTL, 1, SIOCOUTQ, SIOCINQ);
        p.oneOf(SOCKET, 0, AF_INET, AF_INET6);
        // vhost-user: the eventfds a front-end sends are made non-blocking (VhostUserSession)
        p.oneOf(FCNTL, 1, Descriptors.F_GETFL, Descriptors.F_SETFL);
        p.bitSet(CLONE, 0, CLONE_THREAD);
        p.oneOf(TGKILL, 0, pid);
        p.oneOf(PRCTL, 0, PR_SET_NAME);
        for (Call c : ALLOWED) if (c.nr() >= 0) p.allow(c.nr());
        // refused by the quiet filter (of two filters' refusals, the newer one's would win)
        p.allow(CLONE3.nr());
        p.ret(RET_ERRNO | EPERM);
        return p.code;
    }

    /** The filter of the expected refusals: clone3 gets ENOSYS (glibc then uses clone). Not logged. */
    static List<long[]> quiet() {
        Program p = new Program();
        p.jump(LD_W_ABS, DATA_ARCH, 0, 0);
        p.jump(JEQ, Isolation.AARCH64 ? AUDIT_ARCH_AARCH64 : AUDIT_ARCH_X86_64, 0, 3); // (the main filter kills)
        p.jump(LD_W_ABS, DATA_NR, 0, 0);
        p.jump(JEQ, CLONE3.nr(), 0, 1);
        p.ret(RET_ERRNO | ENOSYS);
        p.ret(RET_ALLOW);
        return p.code;
    }

    private static int load(List<long[]> code, int flags) {
        try (Arena a = Arena.ofConfined()) {
            // struct sock_filter: u16 code, u8 jt, u8 jf, u32 k
            MemorySegment insns = a.allocate(8L * code.size(), 8);
            for (int i = 0; i < code.size(); i++) {
                long[] in = code.get(i);
                insns.set(ValueLayout.JAVA_SHORT, 8L * i, (short) in[0]);
                insns.set(ValueLayout.JAVA_BYTE, 8L * i + 2, (byte) in[1]);
                insns.set(ValueLayout.JAVA_BYTE, 8L * i + 3, (byte) in[2]);
                insns.set(ValueLayout.JAVA_INT, 8L * i + 4, (int) in[3]);
            }
            // struct sock_fprog: u16 len, then the pointer
            MemorySegment prog = a.allocate(16, 8);
            prog.set(ValueLayout.JAVA_SHORT, 0, (short) code.size());
            prog.set(ValueLayout.JAVA_LONG, 8, insns.address());
            return Isolation.seccompFilter(flags, prog);
        }
    }

    /** A classic BPF program being written: each instruction {code, jt, jf, k}. */
    private static final class Program {
        final List<long[]> code = new ArrayList<>();

        void jump(int op, long k, int jt, int jf) {
            code.add(new long[] {op, jt, jf, k & 0xffffffffL});
        }

        void ret(int action) {
            jump(RET, action, 0, 0);
        }

        /** The architecture, else kill; then the call's number in the accumulator. */
        void checkArchitecture() {
            jump(LD_W_ABS, DATA_ARCH, 0, 0);
            jump(JEQ, Isolation.AARCH64 ? AUDIT_ARCH_AARCH64 : AUDIT_ARCH_X86_64, 1, 0);
            ret(RET_KILL_PROCESS);
            jump(LD_W_ABS, DATA_NR, 0, 0);
            if (!Isolation.AARCH64) {
                jump(JGE, X32_SYSCALL_BIT, 0, 1);
                ret(RET_KILL_PROCESS);
            }
        }

        /** The number in the accumulator is {@code nr}: allowed. */
        void allow(int nr) {
            jump(JEQ, nr, 0, 1);
            ret(RET_ALLOW);
        }

        /**
         * {@code c} is allowed if (the low 32 bits of) its argument {@code arg} is one of
         * {@code values}, refused otherwise; any other call goes on to what follows, the
         * number still in the accumulator.
         */
        void oneOf(Call c, int arg, long... values) {
            if (c.nr() < 0) return;
            jump(JEQ, c.nr(), 0, 2 + 2 * values.length);
            jump(LD_W_ABS, DATA_ARGS + 8 * arg, 0, 0);
            for (long v : values) {
                jump(JEQ, v, 0, 1);
                ret(RET_ALLOW);
            }
            ret(RET_ERRNO | EPERM);
        }

        /** {@code c} is allowed if its argument {@code arg} has {@code bits} set. */
        void bitSet(Call c, int arg, long bits) {
            if (c.nr() < 0) return;
            jump(JEQ, c.nr(), 0, 4);
            jump(LD_W_ABS, DATA_ARGS + 8 * arg, 0, 0);
            jump(JSET, bits, 0, 1);
            ret(RET_ALLOW);
            ret(RET_ERRNO | EPERM);
        }
    }
}
