package jpasst;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;

import jpasst.sys.Isolation;
import jpasst.sys.Descriptors;
import jpasst.util.Log;

/**
 * Landlock, where the kernel has it (5.13 on): the daemon may read what it still needs
 * ({@link Namespaces#stillNeeded}) and nothing else on any filesystem: no other file opened,
 * listed, written, created, removed or executed; from ABI 6 (Linux 6.12) no abstract UNIX
 * socket outside its domain reached and no signal sent outside it. passt has no Landlock; this
 * is the filesystem limit of a daemon started by a regular user, which gets no mount namespace
 * (see {@link Namespaces}), and a second one for root's.
 *
 * Until Linux 7.0 (ABI 8, LANDLOCK_RESTRICT_SELF_TSYNC) a ruleset binds the calling thread and the
 * threads it creates later, never the others: applied by the event loop's thread (the one that
 * handles the guest's frames), it binds that thread, and the JVM's own threads stay under the
 * seccomp filter and the mount namespace alone. With ABI 8 it binds every thread.
 */
final class Landlock {
    private Landlock() {}

    private static final long EXECUTE = 1, WRITE_FILE = 1 << 1, READ_FILE = 1 << 2, READ_DIR = 1 << 3,
            REFER = 1 << 13, TRUNCATE = 1 << 14, IOCTL_DEV = 1 << 15;
    /** ABI 1's rights: execute, write, read, read dir, remove dir/file, make char/dir/reg/sock/fifo/block/sym. */
    private static final long ABI1_FS = (1 << 13) - 1;
    private static final long SCOPE_ABSTRACT_UNIX_SOCKET = 1, SCOPE_SIGNAL = 2;
    private static final int RESTRICT_SELF_TSYNC = 1 << 3;

    /** What {@link #restrict} did, for the log: "" if nothing. */
    static String restrict(List<Path> readable) {
        try (Arena a = Arena.ofConfined()) {
            int abi = Isolation.landlockCreateRuleset(MemorySegment.NULL, 0, Isolation.LANDLOCK_CREATE_RULESET_VERSION);
            if (abi < 1) return ""; // no Landlock in this kernel, or switched off
            long fs = ABI1_FS | (abi >= 2 ? REFER : 0) | (abi >= 3 ? TRUNCATE : 0) | (abi >= 5 ? IOCTL_DEV : 0);
            long scoped = abi >= 6 ? SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL : 0;
            // struct landlock_ruleset_attr: handled_access_fs, handled_access_net, scoped
            MemorySegment attr = a.allocate(24, 8);
            attr.set(ValueLayout.JAVA_LONG, 0, fs);
            attr.set(ValueLayout.JAVA_LONG, 16, scoped);
            int ruleset = Isolation.landlockCreateRuleset(attr, abi >= 6 ? 24 : 8, 0);
            if (ruleset < 0) {
                Log.warn("Landlock: couldn't create a ruleset: " + jpasst.sys.Errno.text(ruleset));
                return "";
            }
            try {
                // struct landlock_path_beneath_attr (packed): allowed_access, parent_fd
                MemorySegment rule = a.allocate(12, 4);
                for (Path p : readable) {
                    int fd = Descriptors.open(a.allocateFrom(p.toString()), O_PATH | Descriptors.O_CLOEXEC, 0);
                    if (fd < 0) continue; // not there: nothing to allow
                    rule.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, java.nio.file.Files.isDirectory(p) ? READ_FILE | READ_DIR : READ_FILE);
                    rule.set(ValueLayout.JAVA_INT_UNALIGNED, 8, fd);
                    int r = Isolation.landlockAddRule(ruleset, Isolation.LANDLOCK_RULE_PATH_BENEATH, rule);
                    Descriptors.close(fd);
                    if (r < 0) Log.warn("Landlock: couldn't allow reading " + p + ": " + jpasst.sys.Errno.text(r));
                }
                boolean everyThread = abi >= 8;
                int r = Isolation.landlockRestrictSelf(ruleset, everyThread ? RESTRICT_SELF_TSYNC : 0);
                if (r < 0) {
                    Log.warn("Landlock: couldn't restrict the daemon: " + jpasst.sys.Errno.text(r));
                    return "";
                }
                return "Landlock ABI " + abi + (everyThread ? ", every thread" : ", the event loop's thread");
            } finally {
                Descriptors.close(ruleset);
            }
        }
    }

    private static final int O_PATH = 0x200000;
}
