package jpasst;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import jpasst.sys.Errno;
import jpasst.sys.Isolation;
import jpasst.sys.Descriptors;
import jpasst.sys.Processes;
import jpasst.sys.SysException;
import jpasst.util.Log;
import jpasst.util.TextFiles;

/**
 * The daemon's own user, mount, IPC and UTS namespaces, and the filesystem it still sees, as
 * passt's isolate_user() and isolate_prefork() (it keeps the host's network namespace: its host
 * sockets are the host's).
 *
 * A JVM cannot unshare a user namespace itself (it has threads from its first instant, and
 * unshare(CLONE_NEWUSER) wants a single-threaded caller; posix_spawn cannot ask for one either),
 * so util-linux's unshare(1) does it between the launcher's spawn (or -f's exec) and the daemon's
 * JVM, which it then executes under the same pid: {@code unshare --user --keep-caps --mount
 * --ipc --uts -- java ...}. unshare keeps the signal mask, so a SIGQUIT that comes meanwhile
 * still waits for the JVM's handler (a shell would not: dash unblocks every signal). A clone3
 * through FFM whose child would exec at once was the other way: its child would come back
 * into Java code in a copy of a JVM with one thread left (no safepoints, no collector), which
 * nothing guarantees to work.
 *
 * Only a launcher running as root does this, and the namespace it makes is root's, with an
 * identity mapping. The reason is in how the kernel guards a process's memory: a JVM's memory
 * belongs to the user namespace it was executed in (passt executes in the host's and unshares
 * after, which a JVM cannot), and every process of the user owning that namespace is
 * all-capable in it, there to read and trace the daemon however undumpable it is. A namespace
 * made after the change to nobody would open the daemon to any process running as nobody; one
 * made by a regular user, to every process of that user. So a regular user's daemon runs in no
 * namespace of its own, and undumpable, its memory is closed to that user's other processes;
 * root's runs in a namespace only root can enter. The mapping (0 0 4294967295) keeps every id
 * what it is on the host, so the daemon starts as root with every capability, but over its own
 * namespaces only, opens its log file as before, and {@link Privileges#drop} then makes it
 * nobody with none (the change of user away from root clears the capabilities of every thread,
 * which no per-thread capset could). A process cannot map ids it does not own from inside its
 * namespace: a helper the launcher leaves behind, root in the host's, writes the mapping when
 * the daemon asks, first thing ({@link #mapped}); until then the JVM starts on the capabilities
 * unshare --keep-caps hands it (ambient, so the inheritable set shows them all, to no effect:
 * the daemon never executes anything).
 *
 * Once it has started (its lazily loaded files are the trap: see {@link #stillNeeded}), the
 * daemon moves into an empty read-only tmpfs as its root (pivot_root, the old root detached), with
 * read-only bind mounts of what it still needs. The sockets, the capture, log and pid files were
 * opened before.
 */
final class Namespaces {
    private Namespaces() {}

    private static final String UNSHARE = "/usr/bin/unshare", SH = "/bin/sh";

    /**
     * The mapping helper, run as root in the host's namespaces: it waits on its standard input
     * for the daemon to write its pid there, which the daemon does first thing, in its own user
     * namespace already, and writes the identity mapping into that namespace; the daemon's end
     * closing first ends it. Backgrounded from a shell that exits at once, so that init, not
     * the daemon, is its parent; an asynchronous list's standard input is /dev/null, hence fd 3.
     */
    private static final String MAPPER = """
            exec 3<&0
            ( read -r pid <&3 && echo 0 0 4294967295 >/proc/$pid/uid_map && echo 0 0 4294967295 >/proc/$pid/gid_map
            ) 2>/dev/null &
            """;

    /**
     * In the launcher: whether its daemon gets namespaces of its own. Root only (see above), with
     * unshare(1) there, user namespaces not switched off (user.max_user_namespaces), and no
     * seccomp filter on the launcher (a container's could refuse unshare, and the daemon would
     * then not start at all, after the command returned 0).
     */
    static boolean available() {
        if (Processes.getuid() != 0) return false;
        if (!new java.io.File(UNSHARE).canExecute() || !new java.io.File(SH).canExecute()) {
            Log.debug("No " + UNSHARE + " or " + SH + ": the daemon runs in the host's namespaces");
            return false;
        }
        String max = TextFiles.read("/proc/sys/user/max_user_namespaces");
        try {
            if (max == null || Long.parseLong(max.strip()) <= 0) {
                Log.debug("User namespaces are off (user.max_user_namespaces): the daemon runs in the host's");
                return false;
            }
        } catch (NumberFormatException e) {
            return false;
        }
        for (String line : TextFiles.lines("/proc/self/status")) {
            if (line.startsWith("Seccomp:") && !line.endsWith("0")) {
                Log.debug("Started under a seccomp filter: the daemon runs in the host's namespaces");
                return false;
            }
        }
        return true;
    }

    /** The words before the daemon's own command line. */
    static List<String> command() {
        return List.of(UNSHARE, "--user", "--keep-caps", "--mount", "--ipc", "--uts", "--propagation", "private", "--");
    }

    /**
     * Starts the mapping helper ({@link #MAPPER}) with nothing of ours but the read end of a pipe;
     * returns the write end (for the daemon to inherit, as everything a launcher hands down), or
     * -1 (said why). {@code reap}: waits for its first shell (-f: the launcher becomes the
     * daemon, and would otherwise be that shell's parent).
     */
    static int startMapper(boolean reap) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
            // no close-on-exec: the helper gets the read end alone (closefrom), which the launcher then closes
            int r = Descriptors.pipe2(fds, 0);
            int read = fds.get(ValueLayout.JAVA_INT, 0), write = fds.get(ValueLayout.JAVA_INT, 4);
            if (r == 0) {
                MemorySegment actions = a.allocate(Processes.FILE_ACTIONS_SIZE, 16);
                Processes.posixSpawnFileActionsInit(actions);
                Processes.posixSpawnFileActionsAdddup2(actions, read, 0);
                MemorySegment devNull = a.allocateFrom("/dev/null");
                Processes.posixSpawnFileActionsAddopen(actions, 1, devNull, Descriptors.O_RDWR, 0);
                Processes.posixSpawnFileActionsAddopen(actions, 2, devNull, Descriptors.O_RDWR, 0);
                Isolation.posixSpawnFileActionsAddclosefrom(actions, 3);
                r = Daemon.posixSpawn(a, List.of(SH, "-c", MAPPER, "jpasst-mapper"), List.of("PATH=/usr/bin:/bin"),
                        a.allocate(Processes.SIGSET_SIZE, 8), (short) 0, actions);
                Descriptors.close(read);
            }
            if (r < 0) {
                Log.error("Failed to start the daemon's id mapping: " + Errno.text(r));
                return -1;
            }
            if (reap) Isolation.waitpid(r);
            return write;
        }
    }

    // ---- in the daemon ----

    /**
     * What the daemon still opens once it serves, each bound read-only into its new root (and
     * readable, nothing more, under {@link Landlock}): found with strace over the test suite
     * and the benchmarks (see README, Security): the JDK's native libraries, loaded when a class
     * first needs one (libjimage for a class the AOT cache lacks, libnio, ... from its lib
     * directory), and /dev/null, which Tcp reopens as its spare descriptor once it had to use
     * it. Classes come from the jar and the runtime image, both kept open and mapped since
     * start-up.
     */
    static List<Path> stillNeeded() {
        return List.of(Path.of(System.getProperty("java.home"), "lib"), Path.of("/dev/null"));
    }

    /**
     * In the daemon, first thing: asks the mapping helper for its ids (writes its pid to
     * {@code map}) and waits until they are mapped (up to about ten seconds): false if they
     * never were.
     */
    static boolean mapped(int map) {
        try (Arena a = Arena.ofConfined()) {
            byte[] pid = (Processes.getpid() + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            MemorySegment s = a.allocate(pid.length);
            MemorySegment.copy(pid, 0, s, ValueLayout.JAVA_BYTE, 0, pid.length);
            if (Descriptors.write(map, s, pid.length) != pid.length) return false;
        }
        return awaitMapping();
    }

    /** The user namespace's mapping written (up to about ten seconds): false if it never came. */
    private static boolean awaitMapping() {
        for (int i = 0; i < 10_000; i++) {
            String uid = TextFiles.read("/proc/self/uid_map");
            if (uid == null) return false;
            if (!uid.isBlank()) {
                String gid = TextFiles.read("/proc/self/gid_map");
                if (gid == null) return false;
                if (!gid.isBlank()) return true;
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return false;
    }

    /**
     * Makes an empty tmpfs, with {@code keep} bound read-only at their own paths, the root of
     * the daemon's mount namespace, the old root detached (passt: an empty tmpfs, nothing kept).
     * Needs CAP_SYS_ADMIN in the daemon's user namespace, so before {@link Privileges#drop}.
     */
    static void pivotRoot(List<Path> keep) {
        String base = "/tmp"; // any directory: the tmpfs covers it in our mount namespace only
        try (Arena a = Arena.ofConfined()) {
            check(Isolation.mount(a.allocateFrom("tmpfs"), a.allocateFrom(base), a.allocateFrom("tmpfs"),
                    Isolation.MS_NOSUID | Isolation.MS_NODEV | Isolation.MS_NOEXEC, a.allocateFrom("mode=0755")),
                    "Failed to mount a tmpfs on " + base);
            for (Path p : keep) {
                Path target = Path.of(base + p);
                try {
                    if (Files.isDirectory(p)) Files.createDirectories(target);
                    else {
                        Files.createDirectories(target.getParent());
                        Files.createFile(target);
                    }
                } catch (IOException e) {
                    throw new SysException(Errno.EIO, "Failed to make " + target + ": " + e.getMessage());
                }
                MemorySegment t = a.allocateFrom(target.toString());
                check(Isolation.mount(a.allocateFrom(p.toString()), t, MemorySegment.NULL,
                        Isolation.MS_BIND | Isolation.MS_REC, MemorySegment.NULL), "Failed to bind " + p);
                // read-only; the flags the host's mount has (nosuid, nodev, noexec) cannot be
                // dropped in a less privileged namespace and must be given again
                check(Isolation.mount(MemorySegment.NULL, t, MemorySegment.NULL,
                        Isolation.MS_REMOUNT | Isolation.MS_BIND | Isolation.MS_RDONLY | Isolation.mountFlags(t),
                        MemorySegment.NULL), "Failed to make " + p + " read-only");
            }
            MemorySegment dot = a.allocateFrom(".");
            check(Isolation.chdir(a.allocateFrom(base)), "Failed to change directory into " + base);
            check(Isolation.pivotRoot(dot, dot), "Failed to pivot_root() into an empty tmpfs");
            check(Isolation.umount2(dot, Isolation.MNT_DETACH | Isolation.UMOUNT_NOFOLLOW),
                    "Failed to unmount the original root filesystem");
            MemorySegment root = a.allocateFrom("/");
            check(Isolation.chdir(root), "Failed to change directory into /");
            check(Isolation.mount(MemorySegment.NULL, root, MemorySegment.NULL, Isolation.MS_REMOUNT
                    | Isolation.MS_RDONLY | Isolation.MS_NOSUID | Isolation.MS_NODEV | Isolation.MS_NOEXEC,
                    MemorySegment.NULL), "Failed to make the new root read-only");
        }
    }

    private static void check(int r, String what) {
        if (r < 0) throw new SysException(-r, what);
    }
}
