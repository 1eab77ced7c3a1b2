package jpasst.sys;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static jpasst.sys.Native.a;
import static jpasst.sys.Native.cap;
import static jpasst.sys.Native.ret;
import static jpasst.sys.Native.rethrow;

/**
 * The kernel calls a daemon confines itself with (see jpasst.Confinement): prctl, seccomp,
 * Landlock, mounts and pivot_root, and execve with an environment of its own. Same conventions
 * as the other classes of sys (the downcall descriptor of {@link Native}): the result, or the negated errno.
 *
 * seccomp, Landlock and pivot_root have no glibc wrapper: they go through syscall(2) with the
 * number of the architecture the JVM runs on (x86-64 or AArch64, the two jpasst knows).
 */
public final class Isolation {
    private Isolation() {}

    /** Whether the JVM runs on AArch64 (else x86-64). */
    public static final boolean AARCH64 = Arch.CURRENT == Arch.AARCH64;

    private static final long NR_SECCOMP = AARCH64 ? 277 : 317, NR_PIVOT_ROOT = AARCH64 ? 41 : 155,
            NR_LANDLOCK_CREATE_RULESET = 444, NR_LANDLOCK_ADD_RULE = 445, NR_LANDLOCK_RESTRICT_SELF = 446;

    public static final int PR_SET_DUMPABLE = 4, PR_GET_DUMPABLE = 3, PR_SET_NO_NEW_PRIVS = 38,
            PR_GET_NO_NEW_PRIVS = 39;
    public static final int SECCOMP_SET_MODE_FILTER = 1;
    public static final int SECCOMP_FILTER_FLAG_TSYNC = 1, SECCOMP_FILTER_FLAG_LOG = 2;
    public static final int MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32,
            MS_BIND = 4096, MS_REC = 16384, MS_PRIVATE = 1 << 18;
    public static final int MNT_DETACH = 2, UMOUNT_NOFOLLOW = 8;
    public static final int LANDLOCK_CREATE_RULESET_VERSION = 1, LANDLOCK_RULE_PATH_BENEATH = 1;

    private static final class PRCTL {
        static final MethodHandle H = Native.fn("prctl");
    }
    private static final class SYSCALL {
        static final MethodHandle H = Native.fn("syscall");
    }
    private static final class MOUNT {
        static final MethodHandle H = Native.fn("mount");
    }
    private static final class UMOUNT2 {
        static final MethodHandle H = Native.fn("umount2");
    }
    private static final class MKDIR {
        static final MethodHandle H = Native.fn("mkdir");
    }
    private static final class CHDIR {
        static final MethodHandle H = Native.fn("chdir");
    }
    private static final class EXECVE {
        static final MethodHandle H = Native.fn("execve");
    }

    /** prctl(2) with integer arguments. */
    public static int prctl(int option, long arg2, long arg3, long arg4, long arg5) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) PRCTL.H.invokeExact(c, (long) option, arg2, arg3, arg4, arg5, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static long syscall(long nr, long a1, long a2, long a3, long a4, long a5) {
        MemorySegment c = cap();
        try {
            return ret((long) SYSCALL.H.invokeExact(c, nr, a1, a2, a3, a4, a5), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): {@code prog} is a struct sock_fprog. */
    public static int seccompFilter(int flags, MemorySegment prog) {
        return (int) syscall(NR_SECCOMP, SECCOMP_SET_MODE_FILTER, flags, a(prog), 0, 0);
    }

    public static int landlockCreateRuleset(MemorySegment attr, long size, int flags) {
        return (int) syscall(NR_LANDLOCK_CREATE_RULESET, a(attr), size, flags, 0, 0);
    }

    public static int landlockAddRule(int rulesetFd, int ruleType, MemorySegment attr) {
        return (int) syscall(NR_LANDLOCK_ADD_RULE, rulesetFd, ruleType, a(attr), 0, 0);
    }

    public static int landlockRestrictSelf(int rulesetFd, int flags) {
        return (int) syscall(NR_LANDLOCK_RESTRICT_SELF, rulesetFd, flags, 0, 0, 0);
    }

    public static int pivotRoot(MemorySegment newRoot, MemorySegment putOld) {
        return (int) syscall(NR_PIVOT_ROOT, a(newRoot), a(putOld), 0, 0, 0);
    }

    /** mount(2); {@code source}, {@code fstype} and {@code data} may be NULL segments. */
    public static int mount(MemorySegment source, MemorySegment target, MemorySegment fstype, long flags,
                            MemorySegment data) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) MOUNT.H.invokeExact(c, a(source), a(target), a(fstype), flags, a(data), 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int umount2(MemorySegment target, int flags) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) UMOUNT2.H.invokeExact(c, a(target), (long) flags, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int mkdir(MemorySegment path, int mode) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) MKDIR.H.invokeExact(c, a(path), (long) mode, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int chdir(MemorySegment path) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) CHDIR.H.invokeExact(c, a(path), 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final class STATVFS {
        static final MethodHandle H = Native.fn("statvfs");
    }

    /** struct statvfs: 11 longs (the flags are the tenth) and six reserved ints. */
    private static final int STATVFS_SIZE = 112, STATVFS_FLAG = 72;
    private static final int ST_NOSUID = 2, ST_NODEV = 4, ST_NOEXEC = 8, ST_NOATIME = 1024,
            ST_NODIRATIME = 2048, ST_RELATIME = 4096;
    private static final int MS_NOATIME = 1024, MS_NODIRATIME = 2048, MS_RELATIME = 1 << 21;

    /**
     * The mount flags of the filesystem {@code path} is on that a remount in a less privileged
     * mount namespace must give again (nosuid, nodev, noexec, the atime ones): 0 if unknown.
     */
    public static int mountFlags(MemorySegment path) {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(STATVFS_SIZE, 8);
            MemorySegment c = cap();
            int r = ret((int) (long) STATVFS.H.invokeExact(c, a(path), a(buf), 0L, 0L, 0L, 0L), c);
            if (r < 0) return 0;
            long st = buf.get(java.lang.foreign.ValueLayout.JAVA_LONG, STATVFS_FLAG);
            return ((st & ST_NOSUID) != 0 ? MS_NOSUID : 0) | ((st & ST_NODEV) != 0 ? MS_NODEV : 0)
                    | ((st & ST_NOEXEC) != 0 ? MS_NOEXEC : 0) | ((st & ST_NOATIME) != 0 ? MS_NOATIME : 0)
                    | ((st & ST_NODIRATIME) != 0 ? MS_NODIRATIME : 0) | ((st & ST_RELATIME) != 0 ? MS_RELATIME : 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final class WAITPID {
        static final MethodHandle H = Native.fn("waitpid");
    }
    static final class FILE_ACTIONS_ADDCLOSEFROM {
        static final MethodHandle H = Native.fn("posix_spawn_file_actions_addclosefrom_np");
    }

    /** waitpid(2) for {@code pid}'s end, its status unread: the pid, or the negated errno. */
    public static int waitpid(int pid) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) WAITPID.H.invokeExact(c, (long) pid, 0L, 0L, 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** posix_spawn_file_actions_addclosefrom_np(3) (glibc 2.34): the child closes every descriptor from {@code fd} on. */
    public static int posixSpawnFileActionsAddclosefrom(MemorySegment fa, int fd) {
        try {
            return (int) (long) FILE_ACTIONS_ADDCLOSEFROM.H.invokeExact(cap(), a(fa), (long) fd, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** execve(2) with {@code argv} and {@code envp} (NULL-terminated arrays): only returns on failure. */
    public static int execve(MemorySegment path, MemorySegment argv, MemorySegment envp) {
        MemorySegment c = cap();
        try {
            return ret((int) (long) EXECVE.H.invokeExact(c, a(path), a(argv), a(envp), 0L, 0L, 0L), c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
