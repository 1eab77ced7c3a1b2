package jpasst;


import jpasst.conf.Conf;
import jpasst.sys.Errno;
import jpasst.sys.Processes;
import jpasst.util.Log;
import jpasst.util.TextFiles;

/**
 * Least privilege, as passt: started as root, the daemon gives up root once its socket, pid file
 * and forwarded ports are in place, becoming {@code nobody} (or what --runas names:
 * UID[:GID] or USER[:GROUP]). Started as anyone else it changes nothing unless --runas asks.
 */
final class Privileges {
    private Privileges() {}

    /** What passt says before it forks, started as root without --runas. */
    static void announce(Conf c) {
        if (c.runAs == null && Processes.getuid() == 0) Log.warn("Started as root, will change to nobody.");
    }

    /**
     * The {uid, gid} the daemon becomes: nobody for root without --runas, what --runas names
     * (looked up now: the daemon's reduced filesystem has no /etc/passwd), null for no change.
     * Throws IllegalArgumentException with passt's message for a --runas that names nobody.
     */
    static int[] target(Conf c) {
        int uid = Processes.getuid();
        if (uid != 0 && c.runAs == null) return null;
        int[] ids;
        if (c.runAs == null) {
            String[] pw = lookup("/etc/passwd", "nobody");
            ids = pw != null ? new int[] {Integer.parseInt(pw[2]), Integer.parseInt(pw[3])} : new int[] {65534, 65534};
        } else {
            ids = resolve(c.runAs);
        }
        return uid != 0 && ids[0] == uid ? null : ids;
    }

    /** Becomes {@code ids} ({@link #target}; null: stays), every thread of the process. */
    static boolean drop(int[] ids) {
        if (ids == null) return true;
        if (Processes.getuid() == 0) Processes.clearGroups();
        int r = Processes.setgid(ids[1]);
        if (r < 0) {
            Log.error("Can't set GID to " + ids[1] + ": " + Errno.text(r));
            return false;
        }
        r = Processes.setuid(ids[0]);
        if (r < 0) {
            Log.error("Can't set UID to " + ids[0] + ": " + Errno.text(r));
            return false;
        }
        Log.debug("Running as UID " + ids[0] + ", GID " + ids[1]);
        return true;
    }

    /**
     * {uid, gid} for UID[:GID] or USER[:GROUP], as passt's conf_runas(): a numeric UID without a
     * group runs with the same number as GID, a login name with its own group; a login name may
     * not be root's. Throws IllegalArgumentException with passt's message otherwise.
     */
    static int[] resolve(String spec) {
        String user = spec, group = null;
        int colon = spec.indexOf(':');
        if (colon >= 0) {
            user = spec.substring(0, colon);
            group = spec.substring(colon + 1);
        }
        int uid, gid;
        if (user.matches("\\d+")) {
            uid = gid = Integer.parseInt(user);
        } else {
            String[] pw = lookup("/etc/passwd", user);
            if (pw == null || Integer.parseInt(pw[2]) == 0) {
                throw new IllegalArgumentException("Invalid --runas option: " + spec);
            }
            uid = Integer.parseInt(pw[2]);
            gid = Integer.parseInt(pw[3]);
        }
        if (group != null) {
            if (group.matches("\\d+")) {
                gid = Integer.parseInt(group);
            } else {
                String[] gr = lookup("/etc/group", group);
                if (gr == null) throw new IllegalArgumentException("Invalid --runas option: " + spec);
                gid = Integer.parseInt(gr[2]);
            }
        }
        return new int[] {uid, gid};
    }

    private static String[] lookup(String file, String nameOrId) {
        for (String l : TextFiles.lines(file)) {
            String[] f = l.split(":", -1);
            if (f.length < 4) continue;
            if (f[0].equals(nameOrId)) return f;
        }
        return null;
    }
}
