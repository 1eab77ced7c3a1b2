package jpasst.conf;

import java.util.ArrayList;
import java.util.List;

/**
 * The execution context, as passt's {@code struct ctx}: what the options asked for, completed by
 * what was discovered on the host. {@link Options} and {@link HostNet} fill a {@link Builder};
 * the daemon runs on what {@link Builder#build()} makes of it, which does not change: every field
 * is final (the lists are unmodifiable; the arrays are copies no one writes). What the daemon
 * learns from the guest as it runs (its MAC, its addresses) is not here but in
 * {@code jpasst.link.Guest}, which the loop owns.
 * IPv4 addresses are host-order ints, IPv6 addresses pairs of longs (high, low); 0 means unset.
 */
public final class Conf {
    public static final int MTU_DEFAULT = 65520;
    public static final long MAC_DEFAULT = 0x9a559a559a55L;

    // process
    public final String socketPath;         // -s; null: pick /tmp/passt_N.socket
    public final String confPath;           // -c: the control socket; null: none
    public final int fd;                    // -F
    public final boolean oneOff;            // -1
    public final boolean foreground;        // -f
    public final String pidFile;            // -P
    public final String pcapFile;           // -p
    public final String logFile;            // -l
    public final long logSize;              // --log-size
    public final int logLevel;
    public final boolean quiet;
    public final String runAs;              // --runas
    public final boolean freebind;
    public final boolean vhostUser;         // --vhost-user: the guest's frames in its own virtqueues
    public final String repairPath;         // --repair-path (vhost-user); jpasst migrates no flows
    public final boolean migrateExit, migrateNoLinger; // --migrate-exit, --migrate-no-linger: likewise

    // link
    public final int mtu;
    public final boolean mtuSet;
    public final long ourMac;

    // IPv4
    public final boolean v4;
    public final String ifname4;
    public final int addr4;                 // handed to the guest
    public final int prefix4;
    public final int gw4;
    public final int[] dns4;                // at most 3, handed out by DHCP
    public final int dnsMatch4;             // --dns-forward: queries to this go to the host's resolver
    public final int dnsHost4;              // the host's first resolver (target of --dns-forward)
    public final boolean addr4Set, prefix4Set, gw4Set;

    // IPv6
    public final boolean v6;
    public final String ifname6;
    public final long addr6Hi, addr6Lo;
    public final int prefix6;
    public final long gw6Hi, gw6Lo;
    public final long ourLl6Hi, ourLl6Lo;   // passt's link-local address
    public final long[] dns6;               // pairs hi, lo
    public final long dnsMatch6Hi, dnsMatch6Lo;
    public final boolean addr6Set, gw6Set;

    // names
    public final List<String> search;
    public final String hostname;
    public final String fqdn;

    // switches
    public final boolean noDhcp, noDhcpDns, noDhcpSearch, noDhcpv6, noNdp, noRa;
    public final boolean noTcp, noUdp, noIcmp;
    public final boolean noMapGw;
    public final String outboundIf4, outboundIf6;
    public final int outbound4;
    public final long outbound6Hi, outbound6Lo;
    public final boolean dnsSet;            // -D given (possibly "none")
    public final boolean noDns;             // -D none: no resolvers at all, none read from resolv.conf
    public final boolean searchSet;

    /** TCP inactivity timeout in seconds; 0: passt's 7200. */
    public final long tcpTimeoutSeconds;

    // port forwarding specs as given (-t, -u); parsed by the flow layer
    public final List<String> tcpSpecs;
    public final List<String> udpSpecs;

    // flow idle timeouts, passt's values; jpasst-only --udp-timeout/--icmp-timeout shorten them (tests)
    public final int udpTimeoutSeconds;
    public final int icmpTimeoutSeconds;
    /** --stats DELAY (with -f): event counts on standard error at most every DELAY seconds; 0: none. */
    public final int statsSeconds;
    /** jpasst-only --no-seccomp: the daemon runs without its system call filter (debugging). */
    public final boolean noSeccomp;
    /** --dns-host for IPv6 (the IPv4 one is {@link #dnsHost4}); 0: unset. */
    public final long dnsHost6Hi, dnsHost6Lo;

    /**
     * --map-host-loopback and --map-guest-addr as given (0: not given). The effective host-loopback
     * address is the given one, else the gateway unless --no-map-gw: see {@link #hostLoopbackMap4()}.
     */
    public final int mapHostLoopback4, mapGuestAddr4;
    public final long mapHostLoopback6Hi, mapHostLoopback6Lo, mapGuestAddr6Hi, mapGuestAddr6Lo;

    private Conf(Builder b) {
        socketPath = b.socketPath;
        confPath = b.confPath;
        fd = b.fd;
        oneOff = b.oneOff;
        foreground = b.foreground;
        pidFile = b.pidFile;
        pcapFile = b.pcapFile;
        logFile = b.logFile;
        logSize = b.logSize;
        logLevel = b.logLevel;
        quiet = b.quiet;
        runAs = b.runAs;
        freebind = b.freebind;
        vhostUser = b.vhostUser;
        repairPath = b.repairPath;
        migrateExit = b.migrateExit;
        migrateNoLinger = b.migrateNoLinger;
        mtu = b.mtu;
        mtuSet = b.mtuSet;
        ourMac = b.ourMac;
        v4 = b.v4;
        ifname4 = b.ifname4;
        addr4 = b.addr4;
        prefix4 = b.prefix4;
        gw4 = b.gw4;
        dns4 = b.dns4.clone();
        dnsMatch4 = b.dnsMatch4;
        dnsHost4 = b.dnsHost4;
        addr4Set = b.addr4Set;
        prefix4Set = b.prefix4Set;
        gw4Set = b.gw4Set;
        v6 = b.v6;
        ifname6 = b.ifname6;
        addr6Hi = b.addr6Hi;
        addr6Lo = b.addr6Lo;
        prefix6 = b.prefix6;
        gw6Hi = b.gw6Hi;
        gw6Lo = b.gw6Lo;
        ourLl6Hi = b.ourLl6Hi;
        ourLl6Lo = b.ourLl6Lo;
        dns6 = b.dns6.clone();
        dnsMatch6Hi = b.dnsMatch6Hi;
        dnsMatch6Lo = b.dnsMatch6Lo;
        addr6Set = b.addr6Set;
        gw6Set = b.gw6Set;
        search = List.copyOf(b.search);
        hostname = b.hostname;
        fqdn = b.fqdn;
        noDhcp = b.noDhcp;
        noDhcpDns = b.noDhcpDns;
        noDhcpSearch = b.noDhcpSearch;
        noDhcpv6 = b.noDhcpv6;
        noNdp = b.noNdp;
        noRa = b.noRa;
        noTcp = b.noTcp;
        noUdp = b.noUdp;
        noIcmp = b.noIcmp;
        noMapGw = b.noMapGw;
        outboundIf4 = b.outboundIf4;
        outboundIf6 = b.outboundIf6;
        outbound4 = b.outbound4;
        outbound6Hi = b.outbound6Hi;
        outbound6Lo = b.outbound6Lo;
        dnsSet = b.dnsSet;
        noDns = b.noDns;
        searchSet = b.searchSet;
        tcpTimeoutSeconds = b.tcpTimeoutSeconds;
        tcpSpecs = List.copyOf(b.tcpSpecs);
        udpSpecs = List.copyOf(b.udpSpecs);
        udpTimeoutSeconds = b.udpTimeoutSeconds;
        icmpTimeoutSeconds = b.icmpTimeoutSeconds;
        statsSeconds = b.statsSeconds;
        noSeccomp = b.noSeccomp;
        dnsHost6Hi = b.dnsHost6Hi;
        dnsHost6Lo = b.dnsHost6Lo;
        mapHostLoopback4 = b.mapHostLoopback4;
        mapGuestAddr4 = b.mapGuestAddr4;
        mapHostLoopback6Hi = b.mapHostLoopback6Hi;
        mapHostLoopback6Lo = b.mapHostLoopback6Lo;
        mapGuestAddr6Hi = b.mapGuestAddr6Hi;
        mapGuestAddr6Lo = b.mapGuestAddr6Lo;
    }

    /** The guest-side IPv4 address that stands for the host's 127.0.0.1; 0: none. */
    public int hostLoopbackMap4() {
        return hostLoopbackMap4(mapHostLoopback4, noMapGw, gw4);
    }

    /**
     * Whether the guest has an IPv6 address to be given (by NDP's prefix, DHCPv6); none in IPv6
     * local mode, where it keeps its link-local one.
     */
    public boolean addr6Given() {
        return (addr6Hi | addr6Lo) != 0;
    }

    /** Whether --map-host-loopback gave an IPv6 address (else the gateway's is used). */
    public boolean mapHostLoopback6Given() {
        return (mapHostLoopback6Hi | mapHostLoopback6Lo) != 0;
    }

    /** High half of the guest-side IPv6 address that stands for the host's ::1 (0, 0: none). */
    public long hostLoopbackMap6Hi() {
        return mapHostLoopback6Given() ? mapHostLoopback6Hi : noMapGw ? 0 : gw6Hi;
    }

    public long hostLoopbackMap6Lo() {
        return mapHostLoopback6Given() ? mapHostLoopback6Lo : noMapGw ? 0 : gw6Lo;
    }

    private static int hostLoopbackMap4(int given, boolean noMapGw, int gw4) {
        return given != 0 ? given : noMapGw ? 0 : gw4;
    }

    /**
     * The configuration while it is made: the options set its fields, host discovery completes
     * them, {@link #build()} fixes them. Same fields, same defaults.
     */
    public static final class Builder {
        // process
        public String socketPath;               // -s; null: pick /tmp/passt_N.socket
        public String confPath;                 // -c: the control socket; null: none
        public int fd = -1;                     // -F
        public boolean oneOff;                  // -1
        public boolean foreground;              // -f
        public String pidFile;                  // -P
        public String pcapFile;                 // -p
        public String logFile;                  // -l
        public long logSize = 1 << 20;          // --log-size
        public int logLevel = jpasst.util.Log.INFO;
        public boolean quiet;
        public String runAs;                    // --runas
        public boolean freebind;
        public boolean vhostUser;
        public String repairPath;
        public boolean migrateExit, migrateNoLinger;

        // link
        public int mtu = MTU_DEFAULT;
        public boolean mtuSet;
        public long ourMac = MAC_DEFAULT;

        // IPv4
        public boolean v4 = true;
        public String ifname4;
        public int addr4;                       // handed to the guest
        public int prefix4;
        public int gw4;
        public int[] dns4 = new int[0];         // at most 3, handed out by DHCP
        public int dnsMatch4;                   // --dns-forward: queries to this go to the host's resolver
        public int dnsHost4;                    // the host's first resolver (target of --dns-forward)
        public boolean addr4Set, prefix4Set, gw4Set;

        // IPv6
        public boolean v6 = true;
        public String ifname6;
        public long addr6Hi, addr6Lo;
        public int prefix6 = 64;
        public long gw6Hi, gw6Lo;
        public long ourLl6Hi, ourLl6Lo;         // passt's link-local address
        public long[] dns6 = new long[0];       // pairs hi, lo
        public long dnsMatch6Hi, dnsMatch6Lo;
        public boolean addr6Set, gw6Set;

        // names
        public List<String> search = new ArrayList<>();
        public String hostname;
        public String fqdn;

        // switches
        public boolean noDhcp, noDhcpDns, noDhcpSearch, noDhcpv6, noNdp, noRa;
        public boolean noTcp, noUdp, noIcmp;
        public boolean noMapGw;
        public String outboundIf4, outboundIf6;
        public int outbound4;
        public long outbound6Hi, outbound6Lo;
        public boolean dnsSet;                  // -D given (possibly "none")
        public boolean noDns;                   // -D none: no resolvers at all, none read from resolv.conf
        public boolean searchSet;

        /** TCP inactivity timeout in seconds; 0: passt's 7200. */
        public long tcpTimeoutSeconds;

        // port forwarding specs as given (-t, -u); parsed by the flow layer
        public List<String> tcpSpecs = new ArrayList<>();
        public List<String> udpSpecs = new ArrayList<>();

        // flow idle timeouts, passt's values; jpasst-only --udp-timeout/--icmp-timeout shorten them (tests)
        public int udpTimeoutSeconds = 180;
        public int icmpTimeoutSeconds = 60;
        public int statsSeconds;
        public boolean noSeccomp;
        /** --dns-host for IPv6 (the IPv4 one is {@link #dnsHost4}); 0: unset. */
        public long dnsHost6Hi, dnsHost6Lo;

        /**
         * --map-host-loopback and --map-guest-addr as given (0: not given). The effective host-loopback
         * address is the given one, else the gateway unless --no-map-gw: see {@link #hostLoopbackMap4()}.
         */
        public int mapHostLoopback4, mapGuestAddr4;
        public long mapHostLoopback6Hi, mapHostLoopback6Lo, mapGuestAddr6Hi, mapGuestAddr6Lo;

        /** The guest-side IPv4 address that stands for the host's 127.0.0.1 so far; 0: none. */
        public int hostLoopbackMap4() {
            return Conf.hostLoopbackMap4(mapHostLoopback4, noMapGw, gw4);
        }

        /** The guest-side IPv6 address that stands for the host's ::1 so far, high half (0, 0: none). */
        public long hostLoopbackMap6Hi() {
            return (mapHostLoopback6Hi | mapHostLoopback6Lo) != 0 ? mapHostLoopback6Hi : noMapGw ? 0 : gw6Hi;
        }

        public long hostLoopbackMap6Lo() {
            return (mapHostLoopback6Hi | mapHostLoopback6Lo) != 0 ? mapHostLoopback6Lo : noMapGw ? 0 : gw6Lo;
        }

        /** The configuration the daemon runs on. */
        public Conf build() {
            return new Conf(this);
        }
    }
}
