package jpasst.sys;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import static jpasst.sys.Native.a;
import static jpasst.sys.Native.cap;
import static jpasst.sys.Native.fn;
import static jpasst.sys.Native.ret;
import static jpasst.sys.Native.rethrow;

/**
 * The process: its ids (pid, uid, gid, session, supplementary groups), signals (kill, the
 * calling thread's mask), umask, resource limits, starting another program (posix_spawn with
 * its attributes and file actions, execv) and ending at once (_exit). What the launcher needs
 * to daemonize without fork, and the daemon to drop its privileges.
 */
public final class Processes {
    private Processes() {}

    public static final int SIG_UNBLOCK = 1, SIG_SETMASK = 2;
    public static final int RLIMIT_NOFILE = 7;

    /** {@code struct rlimit} on {@code arch}: the soft limit, then the hard one. */
    public static StructLayout rlimitLayout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(JAVA_LONG.withName("rlim_cur"),
                    JAVA_LONG.withName("rlim_max"));
        };
    }

    /**
     * glibc's {@code sigset_t} on {@code arch}: 1024 signals, signal n at bit (n - 1) % 64 of
     * the unsigned long (n - 1) / 64.
     */
    public static MemoryLayout sigsetLayout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.sequenceLayout(16, JAVA_LONG);
        };
    }

    /**
     * Bytes of glibc's {@code posix_spawnattr_t} and {@code posix_spawn_file_actions_t} on
     * {@code arch} (opaque: only their sizes matter here).
     */
    public static long spawnattrSize(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> 336;
        };
    }

    public static long fileActionsSize(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> 80;
        };
    }

    private static final StructLayout RLIMIT = rlimitLayout(Arch.CURRENT);
    /** Bytes of a {@code struct rlimit}, and the offsets of its soft and hard limits. */
    public static final int RLIMIT_SIZE = (int) RLIMIT.byteSize(), RLIM_CUR = Arch.offset(RLIMIT, "rlim_cur"),
            RLIM_MAX = Arch.offset(RLIMIT, "rlim_max");
    /** Bytes of a {@code sigset_t}, of a {@code posix_spawnattr_t}, of a {@code posix_spawn_file_actions_t}. */
    public static final int SIGSET_SIZE = (int) sigsetLayout(Arch.CURRENT).byteSize(),
            SPAWNATTR_SIZE = (int) spawnattrSize(Arch.CURRENT), FILE_ACTIONS_SIZE = (int) fileActionsSize(Arch.CURRENT);

    /** sigaddset(3) on a {@code sigset_t} of {@link #SIGSET_SIZE} bytes at {@code set}. */
    public static void sigaddset(MemorySegment set, int signal) {
        long word = (long) Long.BYTES * ((signal - 1) / 64);
        set.set(JAVA_LONG, word, set.get(JAVA_LONG, word) | 1L << ((signal - 1) % 64));
    }

    private static final class GETPID {
        static final MethodHandle H = fn("getpid");
    }
    private static final class GETUID {
        static final MethodHandle H = fn("getuid");
    }
    private static final class GETGID {
        static final MethodHandle H = fn("getgid");
    }
    private static final class SETSID {
        static final MethodHandle H = fn("setsid");
    }
    private static final class SETUID {
        static final MethodHandle H = fn("setuid");
    }
    private static final class SETGID {
        static final MethodHandle H = fn("setgid");
    }
    private static final class SETGROUPS {
        static final MethodHandle H = fn("setgroups");
    }
    private static final class KILL {
        static final MethodHandle H = fn("kill");
    }
    private static final class UMASK {
        static final MethodHandle H = fn("umask");
    }
    private static final class EXECV {
        static final MethodHandle H = fn("execv");
    }
    static final class POSIX_SPAWN {
        static final MethodHandle H = fn("posix_spawn");
    }
    static final class SPAWNATTR_INIT {
        static final MethodHandle H = fn("posix_spawnattr_init");
    }
    static final class SPAWNATTR_SETFLAGS {
        static final MethodHandle H = fn("posix_spawnattr_setflags");
    }
    static final class SPAWNATTR_SETSIGMASK {
        static final MethodHandle H = fn("posix_spawnattr_setsigmask");
    }
    static final class SPAWNATTR_SETSIGDEFAULT {
        static final MethodHandle H = fn("posix_spawnattr_setsigdefault");
    }
    static final class FILE_ACTIONS_INIT {
        static final MethodHandle H = fn("posix_spawn_file_actions_init");
    }
    static final class FILE_ACTIONS_ADDOPEN {
        static final MethodHandle H = fn("posix_spawn_file_actions_addopen");
    }
    static final class FILE_ACTIONS_ADDCLOSE {
        static final MethodHandle H = fn("posix_spawn_file_actions_addclose");
    }
    static final class FILE_ACTIONS_ADDDUP2 {
        static final MethodHandle H = fn("posix_spawn_file_actions_adddup2");
    }
    static final class EXIT {
        static final MethodHandle H = fn("_exit");
    }
    private static final class PTHREAD_SIGMASK {
        static final MethodHandle H = fn("pthread_sigmask");
    }
    static final class GETRLIMIT {
        static final MethodHandle H = fn("getrlimit");
    }
    private static final class SETRLIMIT {
        static final MethodHandle H = fn("setrlimit");
    }

    public static int getpid() {
        try {
            return (int) (long) GETPID.H.invokeExact(cap(), 0L, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getuid() {
        try {
            return (int) (long) GETUID.H.invokeExact(cap(), 0L, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getgid() {
        try {
            return (int) (long) GETGID.H.invokeExact(cap(), 0L, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setsid() {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETSID.H.invokeExact(c, 0L, 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setuid(int uid) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETUID.H.invokeExact(c, (long) uid, 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setgid(int gid) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETGID.H.invokeExact(c, (long) gid, 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** setgroups(0, NULL): drops supplementary groups. */
    public static int clearGroups() {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETGROUPS.H.invokeExact(c, 0L, a(MemorySegment.NULL), 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int kill(int pid, int sig) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) KILL.H.invokeExact(c, (long) pid, (long) sig, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int umask(int mask) {
        try {
            return (int) (long) UMASK.H.invokeExact(cap(), (long) mask, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** execv(2): only returns on failure (negated errno). */
    public static int execv(MemorySegment path, MemorySegment argv) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) EXECV.H.invokeExact(c, a(path), a(argv), 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** posix_spawn(3): returns 0 or a positive error number, as the function itself does. */
    public static int posixSpawn(MemorySegment pidOut, MemorySegment path, MemorySegment fileActions,
                                 MemorySegment attr, MemorySegment argv, MemorySegment envp) {
        try {
            return (int) (long) POSIX_SPAWN.H.invokeExact(cap(), a(pidOut), a(path), a(fileActions), a(attr), a(argv), a(envp));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnattrInit(MemorySegment attr) {
        try {
            return (int) (long) SPAWNATTR_INIT.H.invokeExact(cap(), a(attr), 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnattrSetflags(MemorySegment attr, short flags) {
        try {
            return (int) (long) SPAWNATTR_SETFLAGS.H.invokeExact(cap(), a(attr), (long) flags, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnattrSetsigmask(MemorySegment attr, MemorySegment sigset) {
        try {
            return (int) (long) SPAWNATTR_SETSIGMASK.H.invokeExact(cap(), a(attr), a(sigset), 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnattrSetsigdefault(MemorySegment attr, MemorySegment sigset) {
        try {
            return (int) (long) SPAWNATTR_SETSIGDEFAULT.H.invokeExact(cap(), a(attr), a(sigset), 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnFileActionsInit(MemorySegment fa) {
        try {
            return (int) (long) FILE_ACTIONS_INIT.H.invokeExact(cap(), a(fa), 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnFileActionsAddopen(MemorySegment fa, int fd, MemorySegment path,
                                                   int flags, int mode) {
        try {
            return (int) (long) FILE_ACTIONS_ADDOPEN.H.invokeExact(cap(), a(fa), (long) fd, a(path), (long) flags, (long) mode, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnFileActionsAddclose(MemorySegment fa, int fd) {
        try {
            return (int) (long) FILE_ACTIONS_ADDCLOSE.H.invokeExact(cap(), a(fa), (long) fd, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * _exit(2): ends the process at once, without the JVM's shutdown (no shutdown hooks, no
     * safepoint, no atexit handlers). For a process that has nothing left to do or to flush.
     */
    public static void exitNow(int status) {
        try {
            long unused = (long) EXIT.H.invokeExact(cap(), (long) status, 0L, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** pthread_sigmask(3) for the calling thread: returns 0 or a positive error number. */
    public static int pthreadSigmask(int how, MemorySegment set, MemorySegment oldSet) {
        try {
            return (int) (long) PTHREAD_SIGMASK.H.invokeExact(cap(), (long) how, a(set), a(oldSet), 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int posixSpawnFileActionsAdddup2(MemorySegment fa, int fd, int newFd) {
        try {
            return (int) (long) FILE_ACTIONS_ADDDUP2.H.invokeExact(cap(), a(fa), (long) fd, (long) newFd, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** getrlimit(2) into {@code limits} (two longs: soft, hard). */
    public static int getrlimit(int resource, MemorySegment limits) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) GETRLIMIT.H.invokeExact(c, (long) resource, a(limits), 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int setrlimit(int resource, MemorySegment limits) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) SETRLIMIT.H.invokeExact(c, (long) resource, a(limits), 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
