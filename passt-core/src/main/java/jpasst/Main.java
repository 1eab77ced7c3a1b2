package jpasst;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import jpasst.conf.Conf;
import jpasst.conf.ConfException;
import jpasst.conf.HostNet;
import jpasst.conf.Options;
import jpasst.link.Pcap;
import jpasst.loop.EventLoop;
import jpasst.packet.Net;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Native;
import jpasst.sys.Processes;
import jpasst.sys.SockAddr;
import jpasst.util.Log;

/**
 * jpasst: options → configuration → (detach) → loop, as passt's main().
 *
 * Three ways in: the launcher (no -f, as Kata and libvirt run passt) binds what the daemon will
 * serve, spawns the daemon with it and exits at once ({@link Daemon}); the daemon itself
 * (spawned with {@code JPASST_HANDOVER} in its environment), which serves what it was handed;
 * and -f, which binds and serves in the foreground. SIGTERM, SIGQUIT and SIGINT end the daemon
 * with exit code 0.
 */
public final class Main {
    static final String VERSION = "jpasst-0.1.0";
    /** What --print-capabilities prints: a vhost-user back-end of type "net". */
    static final String CAPABILITIES = "{\n  \"type\": \"net\"\n}\n";

    private Main() {}

    public static void main(String[] args) {
        Exit exit = run(args);
        if (exit.served()) System.exit(exit.status());
        // Everything else has no shutdown hook to run and nothing left but its output to flush.
        // System.exit would first set up the JDK's System.Logger (it logs Runtime.exit), some ms
        // of every launch; a launcher that started its daemon has _exit linked, and ends a few
        // ms sooner with it than with the JVM's halt (measured).
        System.out.flush();
        System.err.flush();
        if (exit.launched()) Processes.exitNow(exit.status());
        Runtime.getRuntime().halt(exit.status());
    }

    /**
     * How the command ends: its exit status, and whether it launched a daemon (it ends with
     * _exit) or served itself (the daemon, -f: its JVM exits the ordinary way).
     */
    record Exit(int status, boolean launched, boolean served) {
        static Exit said(int status) {
            return new Exit(status, false, false);
        }
    }

    static Exit run(String[] args) {
        if (System.getenv(Daemon.HANDOVER_ENV) == null) new LinkAhead().start(); // (not in a daemon)
        Options.Parsed parsed;
        try {
            parsed = Options.parse(args);
        } catch (ConfException e) {
            if (e.usage()) {
                // getopt's own complaint, then the usage, as passt
                System.err.println("passt: " + e.getMessage());
                System.err.print(Options.usage());
            } else {
                System.err.println(e.getMessage());
            }
            return Exit.said(1);
        }
        Conf.Builder c = parsed.conf();
        switch (parsed.action()) {
            case HELP -> {
                System.out.print(Options.usage());
                return Exit.said(0);
            }
            case VERSION -> {
                System.out.print(versionText());
                return Exit.said(0);
            }
            case CAPABILITIES -> {
                // the vhost-user back-end convention, worded and placed as passt does it: on
                // standard error (passt logs it), whatever -q or -l said
                System.err.print(CAPABILITIES);
                return Exit.said(0);
            }
            case RUN -> { }
        }
        if (c.runAs != null) {
            try {
                Privileges.resolve(c.runAs);
            } catch (IllegalArgumentException e) {
                System.err.println(e.getMessage());
                return Exit.said(1);
            }
        }
        String handover = System.getenv(Daemon.HANDOVER_ENV);
        // -f too launches: the launcher then becomes the daemon (Daemon.become), but for the
        // build's AOT training run, which serves in its own JVM (Daemon.recordsAotCache)
        if (handover == null && !(c.foreground && Daemon.recordsAotCache())) {
            int status = Daemon.launch(c, args, parsed.warnings());
            return new Exit(status, status == 0, false);
        }
        return new Exit(serve(c, handover, parsed.warnings()), false, true);
    }

    /**
     * Makes the downcall handles of a launch on a core of its own while the options are read: in
     * a JVM without the AOT cache (the launcher, as Kata and libvirt start it) the first costs
     * tens of ms of class loading and code generation, the later ones a little each (see sys.Native).
     */
    private static final class LinkAhead extends Thread {
        LinkAhead() {
            super("jpasst-link-ahead");
            setDaemon(true);
        }

        @Override
        public void run() {
            Native.linkLaunchCalls();
        }
    }

    /** --version: passt's first line ("passt VERSION"), then what this is. */
    static String versionText() {
        return "passt " + VERSION + "\n"
                + "A pure-Java (java.lang.foreign) reimplementation of passt, https://passt.top\n"
                + "Running on Java " + Runtime.version() + "\n\n";
    }

    /**
     * Serves until told to stop: in the foreground ({@code handover} null), or as the daemon a
     * launcher spawned with what it had bound ({@code handover}: {@link Daemon.Handover}'s form).
     */
    static int serve(Conf.Builder options, String handover, java.util.List<String> warnings) {
        Confinement.starting(handover);
        Log.level(options.logLevel);
        // a daemon's standard error is /dev/null, or with -f its launcher's, which said what
        // there was to say up to the QEMU hint: the daemon repeats that in its log only
        if (handover != null) Log.detachStderr();
        try {
            if (options.logFile != null) Log.toFile(options.logFile, options.logSize, "passt " + VERSION + ": " + Daemon.jarPath());
            else Log.toSyslog("passt");
        } catch (IOException e) {
            Log.error(logFileError(options.logFile, e));
            return 1;
        }
        for (String w : warnings) Log.warn(w);
        Daemon.Handover h = null;
        if (handover != null) {
            try {
                h = Daemon.Handover.decode(handover);
                h.closeOnExec();
            } catch (IllegalArgumentException | jpasst.sys.SysException e) {
                Log.error("Invalid " + Daemon.HANDOVER_ENV + " (" + handover + "): " + e.getMessage());
                return 1;
            }
        }
        raiseFileLimit();
        try {
            HostNet.complete(options);
        } catch (ConfException e) {
            Log.error(e.getMessage());
            return 1;
        }
        Conf c = options.build(); // from here on it does not change
        EventLoop loop = new EventLoop();
        printConfig(c);
        // before the socket serves: whoever sees it listening may send a signal at once
        StopSignals.install(loop);
        QuitSignal.install(loop, h != null ? h.quit() : -1, () -> {
            Log.info("Received SIGQUIT, exiting");
            loop.stop();
        });
        Passt p;
        Pcap pcap = null;
        try {
            Listeners l = h != null ? Listeners.inherited(c, h.tap(), h.tcp(), h.udp(), h.ctl()) : Listeners.open(c);
            socketBound(l.socketPath);
            if (c.pcapFile != null) {
                // opened before privileges are dropped (by the launcher, if there is one); frames
                // both ways, flushed on exit
                pcap = h == null ? Pcap.open(c.pcapFile) : h.pcap() >= 0 ? Pcap.start(c.pcapFile, h.pcap()) : null;
            }
            p = new Passt(c, loop, l, pcap);
            p.start();
        } catch (ConfException | jpasst.sys.SysException e) {
            Log.error(e.getMessage());
            return 1;
        }
        // the control socket: root and the user who started the daemon, and the user it is about to become
        if (p.control != null) {
            try {
                int[] ids = Privileges.target(c);
                if (ids != null) p.control.allow(ids[0]);
            } catch (IllegalArgumentException e) {
                // Confinement says so
            }
        }
        // a daemon's pid file is its launcher's to write
        if (h == null && c.pidFile != null) {
            int fd = openPidFile(c.pidFile);
            if (fd < 0 || !writePid(fd, c.pidFile, Processes.getpid())) return 1;
        }
        qemuHint(p.socketPath(), c.vhostUser);
        Privileges.announce(c);
        // -f: what follows, its launcher has not said
        if (h != null && c.foreground) Log.attachStderr();
        if (!Confinement.confine(c, h != null && h.namespaces())) return 1;
        p.run();
        // stopped by a signal or --one-off: on this, the loop's thread, what waits is flushed
        p.close();
        if (pcap != null) pcap.close();
        return 0;
    }

    static String logFileError(String path, IOException e) {
        String why = e instanceof java.nio.file.NoSuchFileException ? "No such file or directory"
                : e instanceof java.nio.file.AccessDeniedException ? "Permission denied" : e.getMessage();
        return "Couldn't open log file " + path + ": " + why;
    }

    /** What passt says once its socket is bound (nothing with --fd). */
    static void socketBound(String path) {
        if (path != null) Log.info("UNIX domain socket bound at " + path);
    }

    /** What passt says before it forks: how to start QEMU on the socket (nothing with --fd). */
    static void qemuHint(String path, boolean vhostUser) {
        if (path == null) return;
        if (vhostUser) {
            Log.info("You can start qemu with:");
            Log.info("    kvm ... -chardev socket,id=chr0,path=" + path
                    + " -netdev vhost-user,id=netdev0,chardev=chr0 -device virtio-net,netdev=netdev0"
                    + " -object memory-backend-memfd,id=memfd0,share=on,size=$RAMSIZE -numa node,memdev=memfd0");
            return;
        }
        Log.info("\nYou can now start qemu (>= 7.2, with commit 13c6be96618c):");
        Log.info("    kvm ... -device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path="
                + path);
        Log.info("or qrap, for earlier qemu versions:");
        Log.info("    ./qrap 5 kvm ... -net socket,fd=5 -net nic,model=virtio");
    }

    /**
     * As passt: every flow holds a host socket, so the soft limit on open files goes up to the
     * hard one. (HotSpot usually did that already at start-up, see -XX:+MaxFDLimit; this makes it
     * independent of the JVM's flags.) Connections beyond the limit get a reset (see Tcp).
     */
    static void raiseFileLimit() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment lim = a.allocate(Processes.RLIMIT_SIZE, 8);
            if (Processes.getrlimit(Processes.RLIMIT_NOFILE, lim) < 0) return;
            long soft = lim.get(java.lang.foreign.ValueLayout.JAVA_LONG, Processes.RLIM_CUR);
            long hard = lim.get(java.lang.foreign.ValueLayout.JAVA_LONG, Processes.RLIM_MAX);
            if (Long.compareUnsigned(soft, hard) >= 0) return;
            lim.set(java.lang.foreign.ValueLayout.JAVA_LONG, Processes.RLIM_CUR, hard);
            int r = Processes.setrlimit(Processes.RLIMIT_NOFILE, lim);
            if (r < 0) Log.warn("Couldn't raise the open file limit to " + hard + ": " + Errno.text(r));
        }
    }

    /**
     * The launcher's pid file, made with creat (no variadic open on the launch's path): not
     * close-on-exec, which the daemon's spawn closes ({@link Daemon}).
     */
    static int createPidFile(String path) {
        try (Arena a = Arena.ofConfined()) {
            int fd = Descriptors.creat(a.allocateFrom(path), 0600);
            if (fd < 0) Log.error("Failed to open PID file " + path + ": " + Errno.text(fd));
            return fd;
        }
    }

    /**
     * Opens (creates, truncates) the pid file close-on-exec, as passt before it forks, where no
     * launcher spawns the daemon: -1 with the error said.
     */
    static int openPidFile(String path) {
        try (Arena a = Arena.ofConfined()) {
            int fd = Descriptors.open(a.allocateFrom(path),
                    Descriptors.O_CREAT | Descriptors.O_TRUNC | Descriptors.O_WRONLY | Descriptors.O_CLOEXEC, 0600);
            if (fd < 0) Log.error("Failed to open PID file " + path + ": " + Errno.text(fd));
            return fd;
        }
    }

    /** Writes {@code pid} to the pid file {@link #openPidFile} or {@link #createPidFile} opened, and closes it. */
    static boolean writePid(int fd, String path, int pid) {
        try (Arena a = Arena.ofConfined()) {
            byte[] b = (pid + "\n").getBytes(StandardCharsets.US_ASCII);
            MemorySegment s = a.allocate(b.length);
            MemorySegment.copy(b, 0, s, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, b.length);
            long n = Descriptors.write(fd, s, b.length);
            Descriptors.close(fd);
            if (n != b.length) {
                Log.error("Failed to write PID file " + path);
                return false;
            }
            return true;
        }
    }

    static void printConfig(Conf c) {
        if (!Log.infoEnabled()) return; // -q: the launcher need not even build the lines
        boolean if4 = c.v4 && c.ifname4 != null, if6 = c.v6 && c.ifname6 != null; // none in local mode
        if (if4 || if6) {
            String ifs = (if4 ? c.ifname4 + " (IPv4)" : "") + (if4 && if6 ? ", " : "")
                    + (if6 ? c.ifname6 + " (IPv6)" : "");
            Log.info("Template interface: " + ifs);
        }
        if (c.outboundIf4 != null || c.outboundIf6 != null) {
            Log.info("Outbound interface: " + (c.outboundIf4 != null ? c.outboundIf4 + " (IPv4)" : "")
                    + (c.outboundIf4 != null && c.outboundIf6 != null ? ", " : "")
                    + (c.outboundIf6 != null ? c.outboundIf6 + " (IPv6)" : ""));
        }
        if (c.outbound4 != 0) Log.info("Outbound IPv4 address: " + SockAddr.ip4String(c.outbound4));
        if ((c.outbound6Hi | c.outbound6Lo) != 0) {
            Log.info("Outbound IPv6 address: " + SockAddr.ip6String(c.outbound6Hi, c.outbound6Lo));
        }
        Log.info("MAC:");
        Log.info("    host: " + Net.macString(c.ourMac));
        if (c.v4) {
            if (c.hostLoopbackMap4() != 0) {
                Log.info("    NAT to host 127.0.0.1: " + SockAddr.ip4String(c.hostLoopbackMap4()));
            }
            if (!c.noDhcp) {
                Log.info("DHCP:");
                Log.info("    assign: " + SockAddr.ip4String(c.addr4));
                Log.info("    mask: " + SockAddr.ip4String(jpasst.packet.Ip4.mask(c.prefix4)));
                Log.info("    router: " + SockAddr.ip4String(c.gw4));
            }
            if (c.dns4.length > 0 && !c.noDhcpDns) {
                Log.info("DNS:");
                for (int d : c.dns4) Log.info("    " + SockAddr.ip4String(d));
            }
            if (!c.search.isEmpty() && !c.noDhcpSearch) {
                Log.info("DNS search list:");
                for (String s : c.search) Log.info("    " + s);
            }
        }
        if (c.v6) {
            if ((c.hostLoopbackMap6Hi() | c.hostLoopbackMap6Lo()) != 0) {
                Log.info("    NAT to host ::1: " + SockAddr.ip6String(c.hostLoopbackMap6Hi(), c.hostLoopbackMap6Lo()));
            }
            // as passt's conf_print(): the header names the services that run
            String services = !c.noNdp && !c.noDhcpv6 ? "NDP/DHCPv6:" : !c.noDhcpv6 ? "DHCPv6:"
                    : !c.noNdp ? "NDP:" : null;
            if (services != null) {
                Log.info(services);
                Log.info("    assign: " + SockAddr.ip6String(c.addr6Hi, c.addr6Lo));
                Log.info("    router: " + SockAddr.ip6String(c.gw6Hi, c.gw6Lo));
                Log.info("    our link-local: " + SockAddr.ip6String(c.ourLl6Hi, c.ourLl6Lo));
            }
            if (c.dns6.length > 0 && !c.noDhcpDns) {
                Log.info("DNS:");
                for (int i = 0; i + 1 < c.dns6.length; i += 2) {
                    Log.info("    " + SockAddr.ip6String(c.dns6[i], c.dns6[i + 1]));
                }
            }
            if (!c.search.isEmpty() && !c.noDhcpSearch) {
                Log.info("DNS search list:");
                for (String s : c.search) Log.info("    " + s);
            }
        }
    }
}
