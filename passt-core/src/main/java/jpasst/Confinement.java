package jpasst;

import jpasst.conf.Conf;
import jpasst.sys.Errno;
import jpasst.sys.Isolation;
import jpasst.sys.SysException;
import jpasst.util.Log;

/**
 * The daemon's self-isolation once everything it serves is open and before the first guest
 * frame, in passt's order (isolation.c): the reduced filesystem ({@link Namespaces}, in the
 * namespaces its launcher gave it), the change of user ({@link Privileges}), then what a process
 * can do to itself alone: not dumpable (its /proc/PID/mem, environ, fd... become root's and no
 * other user's process can trace it), {@link Landlock}, no_new_privs and the system call filter
 * ({@link Seccomp}; not with --no-seccomp).
 *
 * The JVM's own flags do the rest (see Daemon.jvmFlags): no attach mechanism, no perf data file.
 * A JVM that records an AOT cache (the build's training run) is left unconfined: it starts
 * another JVM at its exit.
 */
final class Confinement {
    private Confinement() {}

    /** Whether the daemon's user namespace has its id mapping (see {@link #starting}). */
    private static boolean mapped;

    /**
     * First thing in a daemon ({@code handover}: what its launcher handed down; null in the
     * training run): undumpable from now on (a regular user's other processes could otherwise
     * trace it while it starts), and in namespaces of its own, the id mapping awaited: the
     * files the daemon opens from here on (its log file) are opened with the capabilities the
     * mapping gives it over the host's files, as root would open them.
     */
    static void starting(String handover) {
        if (handover == null) return;
        Isolation.prctl(Isolation.PR_SET_DUMPABLE, 0, 0, 0, 0);
        try {
            map = Daemon.Handover.decode(handover).map();
        } catch (IllegalArgumentException e) {
            return; // Main.serve says so
        }
        if (map >= 0) mapped = Namespaces.mapped(map);
    }

    /** The pipe to the mapping helper: closed once the daemon confines itself. */
    private static int map = -1;

    /**
     * Confines the daemon about to serve {@code c}; {@code namespaces}: its launcher started it
     * in namespaces of its own. False if it must not serve (said why).
     */
    static boolean confine(Conf c, boolean namespaces) {
        long t0 = System.nanoTime();
        int[] ids;
        try {
            ids = Privileges.target(c);
        } catch (IllegalArgumentException e) {
            Log.error(e.getMessage());
            return false;
        }
        if (Daemon.recordsAotCache()) return Privileges.drop(ids);
        if (map >= 0) jpasst.sys.Descriptors.close(map);
        if (namespaces) {
            if (!mapped) {
                Log.error("The daemon's user namespace got no id mapping");
                return false;
            }
            try {
                Namespaces.pivotRoot(Namespaces.stillNeeded());
            } catch (SysException e) {
                Log.error(e.getMessage());
                return false;
            }
        }
        if (!Privileges.drop(ids)) return false;
        int r = Isolation.prctl(Isolation.PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (r < 0) Log.warn("Couldn't make the daemon undumpable: " + Errno.text(r));
        // Landlock needs no_new_privs (the filter sets it for every thread; this, for this one)
        r = Isolation.prctl(Isolation.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (r < 0) {
            Log.error("Couldn't set no_new_privs: " + Errno.text(r));
            return false;
        }
        String landlock = Landlock.restrict(Namespaces.stillNeeded());
        if (c.noSeccomp) {
            Log.warn("--no-seccomp: the daemon runs without its system call filter");
        } else {
            r = Seccomp.install();
            if (r != 0) {
                Log.error("Failed to apply the seccomp filter: "
                        + (r < 0 ? Errno.text(r) : "thread " + r + " could not take it"));
                return false;
            }
        }
        Log.debug("Confined: " + (namespaces ? "own user, mount, IPC and UTS namespaces, " : "")
                + "not dumpable, no_new_privs" + (landlock.isEmpty() ? "" : ", " + landlock)
                + (c.noSeccomp ? "" : ", seccomp filter") + " (" + (System.nanoTime() - t0) / 1000 + " us)");
        return true;
    }
}
