package jpasst;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import jpasst.sys.Errno;
import jpasst.sys.Libc;

/**
 * Daemonizing without fork, which a JVM cannot do. The launching process spawns a copy of itself
 * (posix_spawn through FFM, in a new session, so that inherited descriptors such as QEMU's
 * {@code --fd 3} stay open and nothing of the JDK's process machinery is involved) and waits on
 * a pipe. The daemon binds its socket, writes its own pid to the pid file, says what it has to
 * say on the inherited standard error, then writes one byte to the pipe and detaches its
 * standard streams; only then does the launcher exit 0. So a caller that waits for the command
 * to exit (Kata Containers, libvirt, QEMU's -netdev passt) finds the socket listening and the
 * daemon's pid in the file, as with passt. If the daemon dies first, the launcher exits 1 and the
 * daemon's own error message is already on standard error.
 *
 * The daemon's JVM runs with flags for a small footprint; {@code JPASST_JVM_OPTS} adds more. It
 * runs {@code -jar passt.jar}, as the launcher does, so that both can use one AOT cache (JEP 483,
 * 514, 515): {@code passt.aot} next to the jar, made by the build's training run
 * ({@code benchmarks}' AotTrain), holds the classes the daemon loads, linked, and profiles of its
 * hot methods. The daemon uses it when it is there; a stale or missing cache is skipped quietly.
 * The launcher uses it when started with {@code -XX:AOTCache=passt.aot} (./passt does).
 */
public final class Daemon {
    private Daemon() {}

    static final String READY_FD_ENV = "JPASST_READY_FD";
    private static final short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08,
            POSIX_SPAWN_SETSID = 0x80;
    private static final int SIGSET_BYTES = 128;

    /** The AOT cache's file name, next to passt.jar. */
    public static final String AOT_CACHE = "passt.aot";

    /** JVM flags of the daemon process, with the AOT cache if there is one. */
    static List<String> jvmFlags() {
        return jvmFlags(true);
    }

    /**
     * JVM flags of the daemon process; {@code aotCache}: add {@code -XX:AOTCache} if the cache
     * exists (the training run that makes it wants the flags without). Native access comes from
     * the jar's manifest, as for the launcher: a command-line --enable-native-access would make
     * the AOT cache unusable for one of the two.
     */
    public static List<String> jvmFlags(boolean aotCache) {
        List<String> f = new ArrayList<>(List.of(
                "-XX:+UseSerialGC",
                "-Xms8m", "-Xmx256m", "-XX:MaxMetaspaceSize=64m", "-XX:ReservedCodeCacheSize=48m",
                "-Xss512k", "-XX:-UsePerfData", "-XX:+IgnoreUnrecognizedVMOptions",
                // give memory the JIT compilers freed back to the kernel (glibc keeps it otherwise)
                "-XX:TrimNativeHeapInterval=1000",
                // C2 only: the AOT cache's profiles let it compile the frame path at once, and
                // without C1's tiers there is less code and compiler memory (peak RSS under load
                // 65 -> 57 MB, throughput the same or better)
                "-XX:-TieredCompilation"));
        if (aotCache) {
            java.nio.file.Path jar = java.nio.file.Path.of(jarPath());
            java.nio.file.Path cache = jar.resolveSibling(AOT_CACHE);
            if (java.nio.file.Files.isReadable(cache) && trainedOn(cache, jar)) {
                f.add("-XX:AOTCache=" + cache);
                f.add("-Xlog:aot=off,cds=off"); // a stale cache is skipped: no need to say so on stderr
            }
        }
        String extra = System.getenv("JPASST_JVM_OPTS");
        if (extra != null && !extra.isBlank()) f.addAll(List.of(extra.trim().split("\\s+")));
        return f;
    }

    /**
     * Whether the AOT cache was made after the jar was built. The JVM does not check this itself:
     * with -jar it took the classes of jpasst from a cache trained on an older build (even on a
     * jar of another size, elsewhere), so a rebuilt jar ran stale code until the cache was
     * trained again. The training run writes the cache after the build, so a jar newer than its
     * cache is one the cache does not know.
     */
    static boolean trainedOn(java.nio.file.Path cache, java.nio.file.Path jar) {
        try {
            return java.nio.file.Files.getLastModifiedTime(cache)
                    .compareTo(java.nio.file.Files.getLastModifiedTime(jar)) >= 0;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    static String javaBinary() {
        return ProcessHandle.current().info().command()
                .orElse(System.getProperty("java.home") + "/bin/java");
    }

    public static String jarPath() {
        try {
            return java.nio.file.Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toString();
        } catch (Exception e) {
            throw new IllegalStateException("cannot locate passt.jar", e);
        }
    }

    /**
     * Spawns the daemon with {@code args} and waits until it is ready. Returns the exit code for
     * the launcher: 0 once the daemon is serving, 1 if it failed to start.
     */
    static int launch(String[] args, boolean keepStdin) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
            Errno.check(Libc.pipe2(fds, 0), "pipe");
            int readFd = fds.get(ValueLayout.JAVA_INT, 0), writeFd = fds.get(ValueLayout.JAVA_INT, 4);
            Libc.fcntl(readFd, Libc.F_SETFD, Libc.FD_CLOEXEC);

            List<String> argv = new ArrayList<>();
            argv.add(javaBinary());
            argv.addAll(jvmFlags());
            argv.add("-jar");
            argv.add(jarPath());
            argv.addAll(List.of(args));
            List<String> env = new ArrayList<>();
            for (Map.Entry<String, String> e : System.getenv().entrySet()) {
                if (!e.getKey().equals(READY_FD_ENV)) env.add(e.getKey() + "=" + e.getValue());
            }
            // glibc gives each thread that mallocs (the JIT's compiler threads) an arena of its
            // own, and what one compilation freed is not reused by the next in another arena
            if (System.getenv("MALLOC_ARENA_MAX") == null) env.add("MALLOC_ARENA_MAX=2");
            env.add(READY_FD_ENV + "=" + writeFd);

            MemorySegment attr = a.allocate(1024, 16);
            MemorySegment actions = a.allocate(1024, 16);
            Libc.posixSpawnattrInit(attr);
            // The JVM thread calling posix_spawn blocks some signals (SIGQUIT among them), and a
            // caller may have left signals ignored: the daemon starts with neither.
            MemorySegment none = a.allocate(SIGSET_BYTES, 8);
            MemorySegment all = a.allocate(SIGSET_BYTES, 8);
            all.fill((byte) 0xff);
            Libc.posixSpawnattrSetsigmask(attr, none);
            Libc.posixSpawnattrSetsigdefault(attr, all);
            Libc.posixSpawnattrSetflags(attr,
                    (short) (POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
            Libc.posixSpawnFileActionsInit(actions);
            if (!keepStdin) { // (--fd 0: the guest's socket is standard input)
                Libc.posixSpawnFileActionsAddopen(actions, 0, a.allocateFrom("/dev/null"), Libc.O_RDWR, 0);
            }
            MemorySegment pid = a.allocate(ValueLayout.JAVA_INT);
            int r = Libc.posixSpawn(pid, a.allocateFrom(argv.get(0)), actions, attr,
                    cStrings(a, argv), cStrings(a, env));
            Libc.close(writeFd);
            if (r != 0) {
                System.err.println("Failed to start the daemon: " + Errno.text(r));
                return 1;
            }
            MemorySegment buf = a.allocate(16);
            long n;
            do {
                n = Libc.read(readFd, buf, 1);
            } while (n == -Errno.EINTR);
            Libc.close(readFd);
            return n == 1 && buf.get(ValueLayout.JAVA_BYTE, 0) == 'R' ? 0 : 1;
        }
    }

    private static MemorySegment cStrings(Arena a, List<String> strings) {
        MemorySegment arr = a.allocate(ValueLayout.ADDRESS, strings.size() + 1);
        for (int i = 0; i < strings.size(); i++) {
            byte[] b = strings.get(i).getBytes(StandardCharsets.UTF_8);
            MemorySegment s = a.allocate(b.length + 1);
            MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, b.length);
            arr.setAtIndex(ValueLayout.ADDRESS, i, s);
        }
        arr.setAtIndex(ValueLayout.ADDRESS, strings.size(), MemorySegment.NULL);
        return arr;
    }

    /** In the daemon: the launcher's pipe, or -1 when running in the foreground. */
    static int readyFd() {
        String v = System.getenv(READY_FD_ENV);
        if (v == null) return -1;
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /**
     * In the daemon: tells the launcher we serve, then lets go of the terminal's streams (standard
     * input stays with --fd 0, where it is the guest's socket).
     */
    static void ready(int fd, boolean keepStdin) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment b = a.allocate(1);
            b.set(ValueLayout.JAVA_BYTE, 0, (byte) 'R');
            Libc.write(fd, b, 1);
            Libc.close(fd);
            int devnull = Libc.open(a.allocateFrom("/dev/null"), Libc.O_RDWR, 0);
            if (devnull >= 0) {
                if (!keepStdin) Libc.dup2(devnull, 0); // standard output is already QuitSignal's pipe
                Libc.dup2(devnull, 2);
                if (devnull > 2) Libc.close(devnull);
            }
        }
    }
}
