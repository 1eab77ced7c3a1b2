package jpasst;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import jpasst.conf.Conf;
import jpasst.conf.ConfException;
import jpasst.conf.HostNet;
import jpasst.link.Pcap;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Processes;
import jpasst.sys.SysException;
import jpasst.util.Log;
import jpasst.util.TextFiles;

/**
 * Daemonizing without fork, which a JVM cannot do, the way passt's __daemon() does it: whatever
 * can fail happens first, in the launching process, and then the launcher starts the daemon and
 * exits 0 at once, without waiting for it.
 *
 * The launcher ({@link #launch}) completes the host configuration, binds the guest's socket and
 * the forwarded ports ({@link Listeners}), opens the capture file and the pid file, says on
 * standard error what passt says before it forks (the configuration, the socket, the QEMU hint),
 * and only then spawns the daemon: a second JVM running passt.jar with the same options
 * (posix_spawn through FFM, in a new session, signals at their defaults; nothing of
 * the JDK's process machinery is involved, so inherited descriptors such as QEMU's {@code --fd 3}
 * stay open). The bound sockets, the open capture file and the read end of a pipe cross exec
 * with it, named by number in {@code JPASST_HANDOVER} ({@link Handover}); the daemon serves them
 * instead of binding its own. It writes the daemon's pid to the pid file and exits 0: a caller
 * that waits for the command (Kata Containers, libvirt, QEMU's -netdev passt) finds the socket
 * listening, connections queueing in its backlog until the daemon's JVM takes them, and the
 * daemon's pid in the file, as with passt. A failure before the spawn is the command's: passt's
 * message on standard error, exit status 1, no daemon.
 *
 * With -f the launcher does the same and then becomes the daemon: it executes the daemon's
 * command line itself ({@link #become}), so that the process a service manager, a container
 * runtime or a debugger started is the one that serves, and serves with the daemon's JVM flags
 * rather than the launcher's (./passt's C1-only launcher served at 40% of the daemon's
 * throughput). Run as root, the daemon starts in namespaces of its own ({@link Namespaces}).
 *
 * The daemon's standard input and error are /dev/null (standard input stays the guest's socket
 * with --fd 0; with -f, both stay what they were); it logs to -l or the system logger, as
 * passt's daemon does. It gives up root and confines itself once its JVM runs
 * ({@link Confinement}; passt does before it forks), and what fails only there (the change of
 * user; the log file, checked by the launcher, if it went away in between) is logged but no
 * longer seen in the command's exit status. Its standard output is that pipe's write end from
 * the first instruction on: a SIGQUIT (Kata's way to stop passt) that comes while its JVM is
 * still starting leaves a thread dump in the pipe, and {@link QuitSignal} finds it there once
 * installed; it starts with SIGQUIT blocked, so that one sent before the JVM has installed its
 * handler waits for it (see {@link #spawn}) instead of killing the process.
 *
 * The daemon's JVM runs with flags for a small footprint and no attach mechanism;
 * {@code JPASST_JVM_OPTS} adds more, and the variables every JVM takes options from
 * (JAVA_TOOL_OPTIONS...) are not passed on. It
 * runs {@code -jar passt.jar}, as the launcher does, so that both can use one AOT cache (JEP 483,
 * 514, 515): {@code passt.aot} next to the jar, made by the build's training run
 * ({@code benchmarks}' AotTrain), holds the classes the daemon loads, linked, and profiles of its
 * hot methods. The daemon uses it when it is there; a stale or missing cache is skipped quietly.
 * The launcher uses it when started with {@code -XX:AOTCache=passt.aot} (./passt does); started
 * without, as Kata and libvirt start it, it keeps its own path short: no event loop, no Passt.
 */
public final class Daemon {
    private Daemon() {}

    static final String HANDOVER_ENV = "JPASST_HANDOVER";
    private static final short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08,
            POSIX_SPAWN_SETSID = 0x80;
    static final int SIGQUIT = 3, SIGKILL = 9;

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
                // a young generation of 1 MB: the frame path allocates nothing, so it only sees
                // start-up garbage, and every page of it the start-up touches stays resident
                // (idle: 2.4 -> 0.9 MB; 3 minor GCs over a whole compare run, besides start-up)
                "-Xmn1m",
                "-XX:+UnlockDiagnosticVMOptions", "-XX:+UnlockExperimentalVMOptions",
                // the AOT cache mapped where it was made: its read-only half (8 MB of class
                // metadata) is then the same page cache for every daemon instead of a private
                // relocated copy each (idle private memory 19.5 -> 14.4 MB per daemon; where that
                // address is taken it is relocated all the same). It gives up address
                // randomisation for that metadata (not for code, heap or stacks): the JDK's
                // default (1) maps it at a random address
                "-XX:ArchiveRelocationMode=0",
                // the interned-string and symbol tables start small (they grow when needed; the
                // AOT cache holds the start-up's own): 65536 and 32768 buckets cost 0.7 MB
                "-XX:StringTableSize=1024", "-XX:SymbolTableSize=1024",
                // nothing periodic while idle: monitor deflation every 250 ms and the service
                // thread's clean-up every second would wake every daemon (a few monitors stay
                // inflated at most an hour longer; clean-ups wait for the next notification)
                "-XX:AsyncDeflationInterval=0", "-XX:GuaranteedAsyncDeflationInterval=3600000",
                "-XX:ServiceThreadCleanupInterval=0",
                // no periodic trimming: the event loop gives freed memory back (malloc_trim) once
                // it has been quiet for 10 s, instead of a JVM thread waking every second
                "-XX:TrimNativeHeapInterval=0",
                // C2 only: the AOT cache's profiles let it compile the frame path at once, and
                // without C1's tiers there is less code and compiler memory (peak RSS under load
                // 65 -> 57 MB, throughput the same or better)
                "-XX:-TieredCompilation",
                // no attach listener (jcmd, agents) and, with -XX:-UsePerfData above, no
                // hsperfdata file: no other process can load code into the daemon or read its
                // counters; SIGQUIT still prints the thread dump QuitSignal waits for
                "-XX:+DisableAttachMechanism"));
        if (aotCache) {
            Path jar = Path.of(jarPath());
            Path cache = jar.resolveSibling(AOT_CACHE);
            if (Files.isReadable(cache) && trainedOn(cache, jar) && trusted(cache, jar)) {
                f.add("-XX:AOTCache=" + cache);
                f.add("-Xlog:aot=off,cds=off"); // a stale cache is skipped: no need to say so on stderr
            }
        }
        String extra = System.getenv("JPASST_JVM_OPTS");
        if (extra != null) f.addAll(List.of(TextFiles.fields(extra)));
        return f;
    }

    /**
     * Whether the AOT cache was made after the jar was built. The JVM does not check this itself:
     * with -jar it took the classes of jpasst from a cache trained on an older build (even on a
     * jar of another size, elsewhere), so a rebuilt jar ran stale code until the cache was
     * trained again. The training run writes the cache after the build, so a jar newer than its
     * cache is one the cache does not know.
     */
    static boolean trainedOn(Path cache, Path jar) {
        try {
            return Files.getLastModifiedTime(cache)
                    .compareTo(Files.getLastModifiedTime(jar)) >= 0;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Whether the AOT cache may be loaded: only the jar's owner could have written it or put it
     * there (the cache, and the directory it is in, are that user's and no one else can write
     * them). The cache holds class metadata the JVM takes as it finds it (it checks the JDK and
     * the class path, not the contents), and the launcher loads it before it gives up root: a
     * cache another user could rewrite (a training run's leftover owned by nobody, the user
     * every daemon becomes) would be a way from that user to root.
     */
    static boolean trusted(Path cache, Path jar) {
        try {
            UserPrincipal owner = Files.getOwner(jar);
            return ownedAlone(cache, owner) && ownedAlone(cache.toAbsolutePath().getParent(), owner);
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** Whether {@code p} itself (not what a link points to) is {@code owner}'s, and only its owner may write it. */
    private static boolean ownedAlone(Path p, UserPrincipal owner) throws IOException {
        PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        Set<PosixFilePermission> perms = a.permissions();
        return (a.isRegularFile() || a.isDirectory()) && a.owner().equals(owner)
                && !perms.contains(PosixFilePermission.GROUP_WRITE) && !perms.contains(PosixFilePermission.OTHERS_WRITE);
    }

    /**
     * Whether this JVM records an AOT cache (the build's training run: -XX:AOTCacheOutput, or
     * -XX:AOTMode=record, on its command line or in JAVA_TOOL_OPTIONS): such a JVM serves in the
     * foreground itself, with the flags it was given, and unconfined (at its exit it writes the
     * cache and starts a JVM to assemble it).
     */
    static boolean recordsAotCache() {
        List<String> options = new ArrayList<>();
        String cmdline = TextFiles.read("/proc/self/cmdline");
        if (cmdline == null) return false;
        for (String word : cmdline.split("\0")) {
            if (word.equals("-jar")) break; // passt's options follow
            options.add(word);
        }
        String tool = System.getenv("JAVA_TOOL_OPTIONS");
        if (tool != null) options.addAll(List.of(TextFiles.fields(tool)));
        for (String o : options) {
            if (o.startsWith("-XX:AOTCacheOutput=") || o.equals("-XX:AOTMode=record")) return true;
        }
        return false;
    }

    /** This JVM's java: the daemon runs on the same JDK. */
    static String javaBinary() {
        return System.getProperty("java.home") + "/bin/java";
    }

    public static String jarPath() {
        try {
            return Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toString();
        } catch (Exception e) {
            throw new IllegalStateException("cannot locate passt.jar", e);
        }
    }

    /**
     * The launcher: everything that can fail, then the daemon, spawned with what it needs handed
     * down; returns the command's exit status (0: the daemon was started, its pid is in -P).
     */
    static int launch(Conf.Builder options, String[] args, List<String> warnings) {
        Log.level(options.logLevel);
        if (options.logFile != null) {
            try {
                Log.checkFile(options.logFile);
            } catch (IOException e) {
                Log.error(Main.logFileError(options.logFile, e));
                return 1;
            }
        }
        for (String w : warnings) Log.warn(w);
        // Plain Java first (the host, the daemon's command line): meanwhile Main's LinkAhead
        // makes the downcall handles
        try {
            HostNet.complete(options);
        } catch (ConfException e) {
            Log.error(e.getMessage());
            return 1;
        }
        Conf c = options.build();
        Main.printConfig(c);
        List<String> argv = daemonCommand(args), env = daemonEnvironment();
        boolean ns = Namespaces.available(); // (its getuid waits for LinkAhead: after the plain Java)
        if (ns) argv.addAll(0, Namespaces.command());
        // what the launcher's caller left open (and the JVM's own files), listed while the
        // table is short: with every port forwarded, tens of thousands of sockets come next
        int[] inherited = openDescriptors();
        // -f: standard output is the SIGQUIT pipe before anyone sees the socket listening (a
        // SIGQUIT to this JVM then leaves its thread dump there for the daemon it becomes)
        int quitRead = c.foreground ? quitPipeOnStandardOutput() : -1;
        if (c.foreground && quitRead < 0) return 1;
        Listeners l;
        try {
            Main.raiseFileLimit();
            l = Listeners.open(c, !c.foreground, true);
        } catch (ConfException | SysException e) {
            Log.error(e.getMessage());
            return 1;
        }
        Main.socketBound(l.socketPath);
        int pcap = c.pcapFile != null ? Pcap.openFile(c.pcapFile) : -1;
        int pidFile = c.pidFile != null ? Main.createPidFile(c.pidFile) : -1;
        if (c.pidFile != null && pidFile < 0) return 1;
        Main.qemuHint(l.socketPath, c.vhostUser);
        Privileges.announce(c);
        int map = ns ? Namespaces.startMapper(c.foreground) : -1;
        if (ns && map < 0) return 1;
        if (c.foreground) {
            // this process goes on as the daemon, under the same pid
            if (pidFile >= 0 && !Main.writePid(pidFile, c.pidFile, Processes.getpid())) return 1;
            become(argv, env, c.fd, l, pcap, map, quitRead, inherited);
            return 1;
        }
        int pid = spawn(argv, env, c.fd, l, pcap, map, inherited, pidFile);
        if (pid < 0) return 1;
        if (pidFile >= 0 && !Main.writePid(pidFile, c.pidFile, pid)) {
            Processes.kill(pid, SIGKILL);
            return 1;
        }
        return 0;
    }

    /** The daemon's command line: this JVM's java with the daemon's flags, passt.jar, {@code args}. */
    private static List<String> daemonCommand(String[] args) {
        List<String> argv = new ArrayList<>();
        argv.add(javaBinary());
        argv.addAll(jvmFlags());
        argv.add("-jar");
        argv.add(jarPath());
        argv.addAll(List.of(args));
        return argv;
    }

    /**
     * Variables every JVM reads options from besides its command line: the daemon's JVM gets
     * none of them, or one of the caller's could turn the attach mechanism on again, load an
     * agent into it, or undo its flags ({@code _JAVA_OPTIONS} even comes after the command
     * line). {@code JPASST_JVM_OPTS} is the way to give the daemon more flags.
     */
    static final Set<String> JVM_OPTION_VARIABLES = Set.of("JAVA_TOOL_OPTIONS",
            "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS");

    /** The daemon's environment: ours, but for a handover of our own and the JVM's option variables. */
    private static List<String> daemonEnvironment() {
        List<String> env = new ArrayList<>();
        for (Map.Entry<String, String> e : System.getenv().entrySet()) {
            if (!e.getKey().equals(HANDOVER_ENV) && !JVM_OPTION_VARIABLES.contains(e.getKey())) {
                env.add(e.getKey().concat("=").concat(e.getValue()));
            }
        }
        // glibc gives each thread that mallocs (the JIT's compiler threads) an arena of its
        // own, and what one compilation freed is not reused by the next in another arena. One
        // arena: the frame path mallocs nothing, so no thread waits for it (idle PSS of 100
        // daemons 14.6 -> 14.1 MB, peak RSS under load 60.8 -> 55.9 MB against two arenas)
        if (System.getenv("MALLOC_ARENA_MAX") == null) env.add("MALLOC_ARENA_MAX=1");
        return env;
    }

    /**
     * Spawns the daemon ({@code argv}, {@code env}) with the listeners, {@code pcap} (or -1), the
     * mapping helper's pipe {@code map} (or -1), the SIGQUIT pipe and --fd's {@code guestFd} (or
     * -1) handed down, and nothing else: not the launcher's {@code pidFile} (or -1), nor what
     * the launcher's caller left open, which is among {@code inherited} (passt closes what it
     * inherits, too). Returns its pid, or -1.
     */
    private static int spawn(List<String> argv, List<String> env, int guestFd, Listeners l, int pcap, int map,
                             int[] inherited, int pidFile) {
        try (Arena a = Arena.ofConfined()) {
            // the SIGQUIT pipe, not close-on-exec: its write end is closed by the spawn once it is
            // the daemon's standard output
            MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
            Errno.check(Descriptors.pipe2(fds, Descriptors.O_NONBLOCK), "pipe");
            int quitRead = fds.get(ValueLayout.JAVA_INT, 0), quitWrite = fds.get(ValueLayout.JAVA_INT, 4);
            Handover h = new Handover(quitRead, pcap, l.tap, l.tcp, l.udp, map, l.control);
            h.inheritTo(env);
            java.util.BitSet kept = h.descriptors(guestFd);
            MemorySegment actions = a.allocate(Processes.FILE_ACTIONS_SIZE, 16);
            Processes.posixSpawnFileActionsInit(actions);
            MemorySegment devNull = a.allocateFrom("/dev/null");
            if (guestFd != 0) { // (--fd 0: the guest's socket is standard input)
                Processes.posixSpawnFileActionsAddopen(actions, 0, devNull, Descriptors.O_RDWR, 0);
            }
            Processes.posixSpawnFileActionsAdddup2(actions, quitWrite, 1);
            Processes.posixSpawnFileActionsAddopen(actions, 2, devNull, Descriptors.O_RDWR, 0);
            // then everything else: the pipe's write end, the pid file, what the launcher's caller
            // left open (a close action is no error for a descriptor another thread of this JVM
            // closed meanwhile: glibc ignores EBADF there), and all above what is handed down
            Processes.posixSpawnFileActionsAddclose(actions, quitWrite);
            if (pidFile >= 0) Processes.posixSpawnFileActionsAddclose(actions, pidFile);
            for (int fd : inherited) if (!kept.get(fd)) Processes.posixSpawnFileActionsAddclose(actions, fd);
            jpasst.sys.Isolation.posixSpawnFileActionsAddclosefrom(actions, kept.length());
            // Blocked, a SIGQUIT that comes before the JVM has its handler (in the first few ms)
            // waits for it instead of ending the process by the default action: HotSpot unblocks
            // it in its VM thread, after that (measured: a SIGQUIT sent at once always gave a
            // dump, never a kill; unblocked, it killed the JVM up to 3 ms after exec).
            int pid = posixSpawn(a, argv, env, quitOnly(a), POSIX_SPAWN_SETSID, actions);
            if (pid < 0) {
                Log.error("Failed to start the daemon: " + Errno.text(pid));
                return -1;
            }
            return pid;
        }
    }

    /**
     * The descriptors from 3 up that this process has open: what its caller left open and the
     * JVM's files (close-on-exec anyway), as long as the launcher has opened nothing of its own.
     */
    private static int[] openDescriptors() {
        String[] open = new java.io.File("/proc/self/fd").list();
        if (open == null) return new int[0];
        int[] fds = new int[open.length];
        int n = 0;
        for (String name : open) {
            int fd;
            try {
                fd = Integer.parseInt(name);
            } catch (NumberFormatException e) {
                continue;
            }
            if (fd > 2) fds[n++] = fd;
        }
        return java.util.Arrays.copyOf(fds, n);
    }

    /**
     * posix_spawn(3) of {@code argv} with {@code env}, file {@code actions} (initialized), the
     * signals in {@code mask} blocked and {@code flags}: its pid, or the negated error. A caller
     * may have left signals ignored, and the JVM thread calling posix_spawn blocks some: the
     * child starts with every signal at its default and only {@code mask} blocked.
     */
    static int posixSpawn(Arena a, List<String> argv, List<String> env, MemorySegment mask, short flags,
                          MemorySegment actions) {
        MemorySegment attr = a.allocate(Processes.SPAWNATTR_SIZE, 16);
        Processes.posixSpawnattrInit(attr);
        MemorySegment all = a.allocate(Processes.SIGSET_SIZE, 8);
        all.fill((byte) 0xff);
        Processes.posixSpawnattrSetsigmask(attr, mask);
        Processes.posixSpawnattrSetsigdefault(attr, all);
        Processes.posixSpawnattrSetflags(attr, (short) (flags | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
        MemorySegment pid = a.allocate(ValueLayout.JAVA_INT);
        int r = Processes.posixSpawn(pid, a.allocateFrom(argv.get(0)), actions, attr, cStrings(a, argv), cStrings(a, env));
        return r != 0 ? -r : pid.get(ValueLayout.JAVA_INT, 0);
    }

    /**
     * -f: the daemon takes this process over (execve, same pid, as systemd, a container runtime
     * or a debugger expect of a foreground program), with what the launcher prepared handed
     * down as {@link #spawn} hands it to a new process, and this process's standard input and
     * error. The guest's socket is bound, and listens only once the daemon takes it over
     * ({@link Listeners#inherited}): a caller of -f waits for it to listen before it may signal
     * us, and this JVM must not take that signal, whose handling runs on threads the exec ends
     * before they act (the thread dump of a SIGQUIT, the exit of a SIGTERM). Returns only if the
     * exec failed, having said so.
     */
    private static void become(List<String> argv, List<String> env, int guestFd, Listeners l, int pcap, int map,
                               int quitRead, int[] inherited) {
        try (Arena a = Arena.ofConfined()) {
            Handover h = new Handover(quitRead, pcap, l.tap, l.tcp, l.udp, map, l.control);
            h.inheritTo(env);
            // what this process inherited and does not hand down ends at exec (close_range's
            // CLOEXEC flag: the JVM's own files stay open should execve fail)
            java.util.BitSet kept = h.descriptors(guestFd);
            for (int fd : inherited) if (!kept.get(fd)) Descriptors.closeRange(fd, fd, Descriptors.CLOSE_RANGE_CLOEXEC);
            Descriptors.closeRange(kept.length(), -1, Descriptors.CLOSE_RANGE_CLOEXEC);
            // as a spawned daemon starts: SIGQUIT blocked until its JVM has a handler (the
            // mask of the thread that calls execve is the new program's)
            Processes.pthreadSigmask(Processes.SIG_SETMASK, quitOnly(a), MemorySegment.NULL);
            int r = jpasst.sys.Isolation.execve(a.allocateFrom(argv.get(0)), cStrings(a, argv), cStrings(a, env));
            Log.error("Failed to start the daemon: " + Errno.text(r));
        }
    }

    /** A SIGQUIT pipe whose write end is now our standard output: its read end, or -1 (said why). */
    private static int quitPipeOnStandardOutput() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
            int r = Descriptors.pipe2(fds, Descriptors.O_NONBLOCK); // (the read end crosses exec)
            int write = fds.get(ValueLayout.JAVA_INT, 4);
            System.out.flush();
            if (r == 0) r = Descriptors.dup2(write, 1);
            if (r < 0) {
                Log.error("Failed to start the daemon: " + Errno.text(r));
                return -1;
            }
            Descriptors.close(write);
            return fds.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** A signal set with SIGQUIT alone. */
    static MemorySegment quitOnly(Arena a) {
        MemorySegment set = a.allocate(Processes.SIGSET_SIZE, 8);
        Processes.sigaddset(set, SIGQUIT);
        return set;
    }

    static MemorySegment cStrings(Arena a, List<String> strings) {
        MemorySegment arr = a.allocate(ValueLayout.JAVA_LONG, strings.size() + 1);
        for (int i = 0; i < strings.size(); i++) {
            byte[] b = strings.get(i).getBytes(StandardCharsets.UTF_8);
            MemorySegment s = a.allocate(b.length + 1);
            MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, b.length);
            arr.setAtIndex(ValueLayout.JAVA_LONG, i, s.address()); // (a 64-bit ABI; no VarHandle to make for ADDRESS)
        }
        arr.setAtIndex(ValueLayout.JAVA_LONG, strings.size(), 0L);
        return arr;
    }

    /**
     * What a launcher hands down to its daemon, by descriptor number: the read end of the
     * SIGQUIT pipe, the capture file (-1: none), the guest's listening socket (-1: --fd) and the
     * sockets of the forwarded ports; and in namespaces of its own, the pipe to the helper that
     * maps its ids ({@link Namespaces#startMapper}; -1: none). In the environment as
     * {@code quit=3 pcap=-1 tap=4 tcp=5-9,12 udp=10-11 map=13}: runs of numbers, as sockets bound
     * one after the other have them.
     */
    record Handover(int quit, int pcap, int tap, int[] tcp, int[] udp, int map, int ctl) {
        String encode() {
            return new StringBuilder().append("quit=").append(quit).append(" pcap=").append(pcap)
                    .append(" tap=").append(tap).append(" tcp=").append(runs(tcp)).append(" udp=").append(runs(udp))
                    .append(map >= 0 ? " map=" + map : "").append(ctl >= 0 ? " ctl=" + ctl : "").toString();
        }

        /** Whether the daemon runs in namespaces of its own. */
        boolean namespaces() {
            return map >= 0;
        }

        /** Parses {@link #encode()}'s form; IllegalArgumentException if it is not that. */
        static Handover decode(String s) {
            int quit = -1, pcap = -1, tap = -1;
            int[] tcp = new int[0], udp = new int[0];
            int map = -1, ctl = -1;
            for (String field : s.trim().split(" +")) {
                int eq = field.indexOf('=');
                String key = field.substring(0, Math.max(eq, 0)), value = field.substring(eq + 1);
                switch (key) {
                    case "quit" -> quit = Integer.parseInt(value);
                    case "pcap" -> pcap = Integer.parseInt(value);
                    case "tap" -> tap = Integer.parseInt(value);
                    case "tcp" -> tcp = fromRuns(value);
                    case "udp" -> udp = fromRuns(value);
                    case "map" -> map = Integer.parseInt(value);
                    case "ctl" -> ctl = Integer.parseInt(value);
                    default -> throw new IllegalArgumentException("unknown field: " + field);
                }
            }
            return new Handover(quit, pcap, tap, tcp, udp, map, ctl);
        }

        /**
         * In the launcher: names the descriptors in {@code env}. All but the capture file were
         * made without close-on-exec (the pipes, Listeners.open for a daemon): a call each here
         * was tens of thousands of calls on the launch's path with every port forwarded, and
         * fcntl's variadic linkage tens of ms on every launch.
         */
        void inheritTo(List<String> env) {
            if (pcap >= 0) {
                int r = Descriptors.fcntl(pcap, Descriptors.F_SETFD, 0);
                if (r < 0) throw new SysException(-r, "descriptor " + pcap);
            }
            env.add(HANDOVER_ENV.concat("=").concat(encode()));
        }

        /**
         * In the daemon: they crossed exec; none should cross another. The forwarded sockets a
         * run of numbers at a time (close_range, Linux 5.11; one fcntl each before that).
         */
        void closeOnExec() {
            for (int fd : new int[] {quit, pcap, tap, map, ctl}) if (fd >= 0) closeOnExec(fd, fd);
            for (int[] fds : new int[][] {tcp, udp}) {
                for (int i = 0, j; i < fds.length; i = j + 1) {
                    j = runEnd(fds, i);
                    closeOnExec(fds[i], fds[j]);
                }
            }
        }

        /**
         * In the launcher: every descriptor handed down, with --fd's {@code guestFd} (or -1),
         * which the daemon finds by its number on the command line.
         */
        java.util.BitSet descriptors(int guestFd) {
            java.util.BitSet all = new java.util.BitSet();
            for (int fd : new int[] {guestFd, quit, pcap, tap, map, ctl}) if (fd >= 0) all.set(fd);
            for (int[] fds : new int[][] {tcp, udp}) for (int fd : fds) all.set(fd);
            return all;
        }

        private static void closeOnExec(int first, int last) {
            int r = Descriptors.closeRange(first, last, Descriptors.CLOSE_RANGE_CLOEXEC);
            if (r == 0) return;
            if (r != -Errno.ENOSYS && r != -Errno.EINVAL) throw new SysException(-r, "inherited descriptors " + first + "-" + last);
            for (int fd = first; fd <= last; fd++) {
                Errno.check(Descriptors.fcntl(fd, Descriptors.F_SETFD, Descriptors.FD_CLOEXEC), "inherited descriptor " + fd);
            }
        }

        static String runs(int[] fds) {
            StringBuilder b = new StringBuilder();
            for (int i = 0, j; i < fds.length; i = j + 1) {
                j = runEnd(fds, i);
                if (b.length() > 0) b.append(',');
                b.append(fds[i]);
                if (j > i) b.append('-').append(fds[j]);
            }
            return b.toString();
        }

        /** The index of the last of the consecutive numbers that {@code fds[i]} begins. */
        private static int runEnd(int[] fds, int i) {
            while (i + 1 < fds.length && fds[i + 1] == fds[i] + 1) i++;
            return i;
        }

        static int[] fromRuns(String s) {
            int[] out = new int[16];
            int n = 0;
            if (s.isEmpty()) return new int[0];
            for (String run : s.split(",")) {
                int dash = run.indexOf('-');
                int from = Integer.parseInt(dash < 0 ? run : run.substring(0, dash));
                int to = dash < 0 ? from : Integer.parseInt(run.substring(dash + 1));
                if (from < 0 || to < from) throw new IllegalArgumentException("bad run: " + run);
                for (int fd = from; fd <= to; fd++) {
                    if (n == out.length) out = java.util.Arrays.copyOf(out, 2 * n);
                    out[n++] = fd;
                }
            }
            return java.util.Arrays.copyOf(out, n);
        }
    }
}
