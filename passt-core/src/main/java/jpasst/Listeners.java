package jpasst;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import jpasst.conf.Conf;
import jpasst.conf.ConfException;
import jpasst.conf.PortSpec;
import jpasst.flow.ForwardSockets;
import jpasst.flow.ListenerSlots;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;
import jpasst.sys.SysException;

/**
 * The sockets the daemon serves on, opened before it detaches, as passt opens them before it
 * forks: the guest's listening UNIX socket (-s, else the first free /tmp/passt_N.socket; none
 * with --fd) and the listening sockets of the forwarded ports (-t, -u). Whatever can go wrong
 * here goes wrong in the launching command, with passt's message and exit status 1.
 *
 * Two ways to get them: {@link #open} binds them (the launcher; in the foreground and in tests,
 * {@link Passt#Passt(Conf)}), {@link #inherited} takes those a launcher bound and handed down to
 * the daemon it spawned ({@link Daemon}). Either way a {@link Passt} made with them serves them.
 * The stream link, TcpListeners and Udp learn each socket's path, port and address families from
 * the socket itself (getsockname, IPV6_V6ONLY), so descriptor numbers are all a launcher has to hand over,
 * even for -t all (tens of thousands of sockets, numbered in a few runs).
 *
 * This class is on the launcher's path, which runs without the AOT cache: it loads nothing of
 * the daemon proper.
 */
public final class Listeners {
    public static final String SOCK_PATH_FORMAT = "/tmp/passt_%d.socket";
    static final int SOCK_PATH_MAX_TRIES = 100;

    /** The listening UNIX socket QEMU connects to; -1 with --fd. */
    public final int tap;
    /** Where {@link #tap} is bound; null with --fd. */
    public final String socketPath;
    /** Listening sockets of -t and -u, and the port tables they serve (null: none forwarded). */
    public final int[] tcp, udp;
    public final PortSpec.Forward tcpForward, udpForward;
    /** The control socket of -c (mode 0600), listening; -1: none. */
    public final int control;
    /** Where {@link #control} is bound; null: none. */
    public final String controlPath;

    private Listeners(int tap, String socketPath, int[] tcp, int[] udp, PortSpec.Forward tcpForward,
                      PortSpec.Forward udpForward, int control, String controlPath) {
        this.tap = tap;
        this.socketPath = socketPath;
        this.control = control;
        this.controlPath = controlPath;
        this.tcp = tcp;
        this.udp = udp;
        this.tcpForward = tcpForward;
        this.udpForward = udpForward;
    }

    /** The -t ports table, or null when TCP forwards nothing. */
    static PortSpec.Forward tcpForward(Conf c) {
        return c.noTcp || c.tcpSpecs.isEmpty() ? null : PortSpec.parse(c.tcpSpecs);
    }

    /** The -u ports table, or null when UDP forwards nothing. */
    static PortSpec.Forward udpForward(Conf c) {
        if (c.noUdp || c.udpSpecs.isEmpty()) return null;
        PortSpec.Forward fwd = PortSpec.parse(c.udpSpecs);
        return fwd.isNone() || fwd.count() == 0 ? null : fwd;
    }

    /**
     * Binds the guest's socket and the forwarded ports, in passt's order. Throws
     * {@link ConfException} or {@link SysException} with passt's message; what was opened by
     * then is closed again (and the socket file removed).
     */
    public static Listeners open(Conf c) {
        return open(c, true, false);
    }

    /**
     * {@link #open(Conf)}, but with {@code listenNow} false the guest's socket is bound and not
     * yet listening: -f's launcher leaves that to the daemon it becomes ({@link #inherited});
     * {@code inheritable}: the guest's, the control and the forwarded ports' sockets are made
     * without close-on-exec, for the daemon a launcher starts (else they have it).
     */
    static Listeners open(Conf c, boolean listenNow, boolean inheritable) {
        int cloexec = inheritable ? 0 : Sockets.SOCK_CLOEXEC;
        PortSpec.Forward tcpFwd = tcpForward(c), udpFwd = udpForward(c);
        int tap = -1, control = -1;
        String path = null, controlPath = null;
        IntList tcp = new IntList(), udp = new IntList();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = a.allocate(SockAddr.STORAGE, 8);
            try {
                if (c.fd >= 0) {
                    // open at all? (a socket or a pipe cannot seek: ESPIPE; lseek is not variadic as fcntl is)
                    long r = Descriptors.lseek(c.fd, 0, Descriptors.SEEK_CUR);
                    if (r == -Errno.EBADF) throw new ConfException("Invalid --fd " + c.fd + ": " + Errno.text((int) r));
                } else {
                    tap = Errno.check(Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_NONBLOCK | cloexec, 0),
                            "UNIX socket");
                    path = bindUnix(c, tap, sa);
                    if (listenNow) Errno.check(Sockets.listen(tap, 0), "listen on " + path);
                }
                if (c.confPath != null) {
                    control = Errno.check(Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_NONBLOCK | cloexec, 0),
                            "UNIX socket");
                    controlPath = bindControl(c.confPath, control, sa);
                    Errno.check(Sockets.listen(control, 16), "listen on " + controlPath);
                }
                Slots tcpSlots = tcpFwd != null ? slots(c, tcpFwd) : null;
                Slots udpSlots = udpFwd != null ? slots(c, udpFwd) : null;
                growDescriptorTable(tap >= 0 ? tap : c.fd,
                        (tcpSlots != null ? tcpSlots.n : 0) + (udpSlots != null ? udpSlots.n : 0));
                if (tcpSlots != null) bindTcp(c, tcpSlots, tcp, cloexec);
                if (udpSlots != null) bindUdp(c, udpFwd, udpSlots, udp, cloexec);
            } catch (RuntimeException e) {
                if (control >= 0) Descriptors.close(control);
                if (controlPath != null) Descriptors.unlink(a.allocateFrom(controlPath));
                for (int i = 0; i < tcp.size; i++) Descriptors.close(tcp.at[i]);
                for (int i = 0; i < udp.size; i++) Descriptors.close(udp.at[i]);
                if (tap >= 0) Descriptors.close(tap);
                if (path != null) Descriptors.unlink(a.allocateFrom(path));
                throw e;
            }
        }
        return new Listeners(tap, path, tcp.toArray(), udp.toArray(), tcpFwd, udpFwd, control, controlPath);
    }

    /**
     * The daemon's side: sockets its launcher bound and handed down ({@link Daemon.Handover}),
     * by descriptor number; {@code tap} is -1 with --fd. The guest's socket listens from here on
     * (a background daemon's launcher made it listen already; -f's did not, see Daemon.become).
     */
    public static Listeners inherited(Conf c, int tap, int[] tcp, int[] udp, int control) {
        String path = null;
        if (tap >= 0) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment sa = a.allocate(SockAddr.STORAGE, 8), len = a.allocate(ValueLayout.JAVA_INT);
                len.set(ValueLayout.JAVA_INT, 0, SockAddr.STORAGE);
                Errno.check(Sockets.getsockname(tap, sa, len), "inherited UNIX socket " + tap);
                path = SockAddr.unixPath(sa, len.get(ValueLayout.JAVA_INT, 0));
                Errno.check(Sockets.listen(tap, 0), "listen on " + path);
            }
        }
        return new Listeners(tap, path, tcp, udp, tcpForward(c), udpForward(c), control,
                control >= 0 ? c.confPath : null);
    }

    // ---- the guest's UNIX socket ----

    /** Binds {@code fd} at -s, or at the first free /tmp/passt_N.socket; returns the path. */
    private static String bindUnix(Conf c, int fd, MemorySegment sa) {
        for (int i = 1; i <= SOCK_PATH_MAX_TRIES; i++) {
            String path = c.socketPath != null ? c.socketPath : String.format(SOCK_PATH_FORMAT, i);
            int len;
            try {
                len = SockAddr.unix(sa, path);
            } catch (IllegalArgumentException e) {
                throw new ConfException(e.getMessage());
            }
            if (inUse(sa, len)) {
                if (c.socketPath != null) throw new ConfException("Socket path " + path + " already in use");
                continue;
            }
            Descriptors.unlink(sa.asSlice(2)); // a stale socket file from an earlier run
            int r = Sockets.bind(fd, sa, len);
            if (r == 0) return path;
            if (c.socketPath != null) {
                throw new ConfException("Can't bind UNIX socket " + path + ": " + Errno.text(r));
            }
        }
        throw new ConfException("UNIX socket bind: no free path among " + SOCK_PATH_FORMAT);
    }

    /**
     * Binds the control socket {@code fd} at {@code path}, mode 0600 (only the daemon's user, and
     * root, may connect; the daemon checks each peer's credentials too); returns the path.
     */
    private static String bindControl(String path, int fd, MemorySegment sa) {
        int len;
        try {
            len = SockAddr.unix(sa, path);
        } catch (IllegalArgumentException e) {
            throw new ConfException(e.getMessage());
        }
        if (inUse(sa, len)) throw new ConfException("Control socket path " + path + " already in use");
        Descriptors.unlink(sa.asSlice(2)); // a stale socket file from an earlier run
        int old = jpasst.sys.Processes.umask(0177);
        int r = Sockets.bind(fd, sa, len);
        jpasst.sys.Processes.umask(old);
        if (r < 0) throw new ConfException("Can't bind control socket " + path + ": " + Errno.text(r));
        return path;
    }

    /**
     * A path is in use if something answers there, or if a socket is bound to it (the socket
     * of a -f daemon whose JVM is still starting: it listens once it serves); a stale socket
     * file (refused, bound by no socket) is not.
     */
    private static boolean inUse(MemorySegment sa, int len) {
        int probe = Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC, 0);
        if (probe < 0) return false;
        int r = Sockets.connect(probe, sa, len);
        Descriptors.close(probe);
        if (r == -Errno.ECONNREFUSED) return boundInThisNamespace(SockAddr.unixPath(sa, len));
        return r == 0 || (r != -Errno.ENOENT && r != -Errno.EACCES);
    }

    /** Whether a UNIX socket of this network namespace is bound at {@code path} (/proc/net/unix). */
    private static boolean boundInThisNamespace(String path) {
        try (java.util.stream.Stream<String> lines = java.nio.file.Files.lines(java.nio.file.Path.of("/proc/net/unix"))) {
            return lines.skip(1).anyMatch(l -> l.endsWith(" " + path));
        } catch (java.io.IOException | java.io.UncheckedIOException e) {
            return false;
        }
    }

    // ---- forwarded ports ----

    /**
     * From this many sockets on, two threads bind them: with thousands of forwarded ports (KubeVirt
     * forwards them all) the launch is the kernel's work per socket, which two cores share.
     */
    static final int PARALLEL_FROM = 512;

    /**
     * Grows this process's descriptor table at once to hold {@code more} descriptors above
     * {@code open} (an open one, or -1: nothing to do). The kernel doubles the table as
     * descriptors are made, at 256, 512 and on, and in a process of several threads, as a JVM
     * is, each doubling waits for an RCU grace period: 5 to 20 ms each, seven of them for
     * {@code -t 1-9000 -u 1-9000} (60 to 80 ms of the launch, measured); a single-threaded
     * passt never waits. dup2 to the highest number needed grows it once.
     */
    private static void growDescriptorTable(int open, int more) {
        if (open < 0 || more < 64) return;
        for (int top : new int[] {open + more + 64, open + more}) {
            // (dup2 would close what is open there: something the launcher's caller left open)
            if (Descriptors.lseek(top, 0, Descriptors.SEEK_CUR) != -Errno.EBADF) continue;
            int r = Descriptors.dup2(open, top);
            if (r >= 0) {
                Descriptors.close(r);
                return;
            } // (above the open file limit: EBADF, and the table grows as it goes)
        }
    }

    /**
     * The slots of -t or -u: a port and its address families each, both on one dual-stack
     * socket where the port is on any address and both families are on (as passt); a port bound
     * to an address gets its family's alone.
     */
    private static Slots slots(Conf c, PortSpec.Forward fwd) {
        Slots s = new Slots();
        for (int port = fwd.nextForwarded(0); port >= 0; port = fwd.nextForwarded(port + 1)) {
            PortSpec.Bind b = fwd.bindOf(port);
            int fams = ForwardSockets.families(c, b);
            if (fams != 0) s.add(port, fams, b);
        }
        return s;
    }

    /**
     * -t: a listening socket per port (per port and address family where no dual-stack socket
     * binds). As passt (checked with the reference binary): a port or address family already
     * taken is skipped, and only none bound at all is an error.
     */
    private static void bindTcp(Conf c, Slots s, IntList out, int cloexec) {
        s.makeAll(c, Sockets.SOCK_STREAM | cloexec, 0, true, false);
        int before = out.size;
        s.keepBound(out);
        if (out.size == before) {
            throw new ConfException("Failed to bind any port for '-t " + String.join(" ", c.tcpSpecs) + "', exiting");
        }
    }

    /**
     * -u: as passt, every port named explicitly must be bound in at least one address family;
     * with "all" or exclusions only, ports that cannot be bound are skipped, and only none at
     * all is an error.
     */
    private static void bindUdp(Conf c, PortSpec.Forward fwd, Slots s, IntList out, int cloexec) {
        String specs = String.join(" ", c.udpSpecs);
        // "all" and exclusion-only specs name thousands of ports; passt only needs one of them
        boolean lenient = fwd.isAll() || fwd.count() > 1024;
        s.makeAll(c, Sockets.SOCK_DGRAM | cloexec, Sockets.IPPROTO_UDP, false, true);
        try {
            boolean any = false;
            for (int i = 0; i < s.n; ) {
                int port = s.port[i], err = 0;
                boolean bound = false;
                for (; i < s.n && s.port[i] == port; i++) {
                    if (s.result[i] == 0) {
                        bound = true;
                    } else if (s.fam[i] != ListenerSlots.IPV6 || err == 0 || !bound) {
                        err = s.result[i];
                    }
                }
                if (bound) {
                    any = true;
                } else if (!lenient) {
                    throw new ConfException("Failed to bind port " + port + " (" + Errno.text(err == 0 ? Errno.EINVAL : err)
                            + ") for option '-u " + specs + "', exiting");
                }
            }
            if (!any) throw new ConfException("Failed to bind any port for '-u " + specs + "', exiting");
        } catch (RuntimeException e) {
            s.closeAll();
            throw e;
        }
        s.keepBound(out);
    }

    /**
     * One protocol's forwarded sockets, a slot per port (and address family, where not both on
     * one socket) in port order: each made, set up, bound and (TCP) listened on, with thousands
     * of them by two threads, each a half (socket creation included: the launcher's JVM is cold,
     * and what costs there is as much its calls as the kernel's work); a dual-stack slot that
     * could not be bound becomes two, a socket per family, as passt falls back; then the bound
     * ones are kept, in descriptor order (the daemon learns each one's port and families from
     * the socket: the launcher hands them down by runs of numbers), the others closed.
     */
    private static final class Slots {
        /** A slot's result before its socket is made. */
        private static final int PENDING = Integer.MIN_VALUE;

        int n;
        int[] port = new int[16], fd = new int[16], result = new int[16], fam = new int[16];
        PortSpec.Bind[] bind = new PortSpec.Bind[16];

        void add(int p, int fams, PortSpec.Bind b) {
            if (n == port.length) {
                port = Arrays.copyOf(port, 2 * n);
                fd = Arrays.copyOf(fd, 2 * n);
                result = Arrays.copyOf(result, 2 * n);
                fam = Arrays.copyOf(fam, 2 * n);
                bind = Arrays.copyOf(bind, 2 * n);
            }
            port[n] = p;
            fd[n] = -1; // (none yet: closeAll after a failure closes only what was made)
            result[n] = PENDING;
            fam[n] = fams;
            bind[n] = b;
            n++;
        }

        /**
         * A socket of {@code type} (with its flags) for every slot, set up, bound and
         * ({@code listen}: TCP) listening, its result in {@link #result}. A socket that cannot
         * be made is that slot's result, but for TCP, where it is an error (what was made is
         * closed again).
         */
        void makeAll(Conf c, int type, int proto, boolean listen, boolean strictDevice) {
            makePending(c, type, proto, listen, strictDevice);
            if (splitDualStack()) makePending(c, type, proto, listen, strictDevice);
            if (!listen) return;
            for (int i = 0; i < n; i++) {
                if (fd[i] < 0) {
                    int err = -fd[i];
                    closeAll();
                    throw new SysException(err, "TCP listening socket");
                }
            }
        }

        /** Makes the sockets of the slots not made yet. */
        private void makePending(Conf c, int type, int proto, boolean listen, boolean strictDevice) {
            if (n < PARALLEL_FROM) {
                makeRange(c, 0, n, type, proto, listen, strictDevice);
                return;
            }
            int half = n / 2;
            RuntimeException[] failed = new RuntimeException[1];
            Thread other = new Thread(() -> {
                try {
                    makeRange(c, half, n, type, proto, listen, strictDevice);
                } catch (RuntimeException e) {
                    failed[0] = e;
                }
            }, "jpasst-bind");
            other.start();
            try {
                makeRange(c, 0, half, type, proto, listen, strictDevice);
            } finally {
                try {
                    other.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    closeAll();
                    throw new IllegalStateException("interrupted while binding the forwarded ports", e);
                }
            }
            if (failed[0] != null) {
                closeAll();
                throw failed[0];
            }
        }

        /**
         * Every dual-stack slot whose socket failed becomes two pending slots in its place, one
         * per family (its socket closed); returns whether there was any.
         */
        private boolean splitDualStack() {
            int failed = 0;
            for (int i = 0; i < n; i++) if (fam[i] == ListenerSlots.BOTH && result[i] != 0) failed++;
            if (failed == 0) return false;
            Slots old = copy();
            n = 0;
            for (int i = 0; i < old.n; i++) {
                if (old.fam[i] != ListenerSlots.BOTH || old.result[i] == 0) {
                    add(old.port[i], old.fam[i], old.bind[i]);
                    fd[n - 1] = old.fd[i];
                    result[n - 1] = old.result[i];
                    continue;
                }
                if (old.fd[i] >= 0) Descriptors.close(old.fd[i]);
                add(old.port[i], ListenerSlots.IPV4, old.bind[i]);
                add(old.port[i], ListenerSlots.IPV6, old.bind[i]);
            }
            return true;
        }

        private Slots copy() {
            Slots o = new Slots();
            o.n = n;
            o.port = port.clone();
            o.fd = fd.clone();
            o.result = result.clone();
            o.fam = fam.clone();
            o.bind = bind.clone();
            return o;
        }

        private void makeRange(Conf c, int from, int to, int type, int proto, boolean listen, boolean strictDevice) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment sa = a.allocate(SockAddr.STORAGE, 8), opt = a.allocate(16, 8);
                for (int i = from; i < to; i++) {
                    if (result[i] != PENDING) continue;
                    int s = Sockets.socket(fam[i] == ListenerSlots.IPV4 ? Sockets.AF_INET : Sockets.AF_INET6,
                            type | Sockets.SOCK_NONBLOCK, proto);
                    fd[i] = s;
                    if (s < 0) {
                        result[i] = s;
                        continue;
                    }
                    result[i] = ForwardSockets.setUp(c, s, listen, port[i], fam[i], bind[i], sa, opt, strictDevice);
                }
            }
        }

        /** The bound sockets into {@code out}, in descriptor order; the others closed. */
        void keepBound(IntList out) {
            int before = out.size;
            for (int i = 0; i < n; i++) {
                if (result[i] == 0) {
                    out.add(fd[i]);
                } else if (fd[i] >= 0) {
                    Descriptors.close(fd[i]);
                }
            }
            Arrays.sort(out.at, before, out.size);
        }

        void closeAll() {
            for (int i = 0; i < n; i++) {
                if (fd[i] >= 0) Descriptors.close(fd[i]);
                fd[i] = -1;
            }
        }
    }

    /** A growable int array: "all" binds tens of thousands of sockets. */
    private static final class IntList {
        int[] at = new int[16];
        int size;

        void add(int v) {
            if (size == at.length) at = Arrays.copyOf(at, size * 2);
            at[size++] = v;
        }

        int[] toArray() {
            return Arrays.copyOf(at, size);
        }
    }
}
