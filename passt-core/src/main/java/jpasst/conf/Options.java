package jpasst.conf;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import jpasst.conf.Getopt.Arg;
import jpasst.packet.Ip4;
import jpasst.packet.Net;
import jpasst.util.Log;

/**
 * passt's command line (current passt, passt mode): the table of its options, each with its
 * names, its argument and what it sets, read in order by {@link Getopt} (getopt_long's rules);
 * the addresses in them are read by {@link AddressLiteral} (inet_pton's rules), the port specs by
 * {@link PortSpec}.
 *
 * Semantics are passt's: options are read in order and the first bad one ends parsing; unless
 * passt says otherwise the last of conflicting or repeated options wins ({@code -q} after
 * {@code -d}, {@code -6} after {@code -4}, {@code --fd} after {@code --socket}); {@code -h},
 * {@code --version} and {@code --print-capabilities} act where they stand. Every option of
 * {@code man passt} is known: the pasta-only ones and those of capabilities jpasst does not have
 * yet (statistics, pesto) are refused with a clear message instead of being ignored. As passt's
 * conf_mode(), {@code --vhost-user} anywhere before {@code --} sets the mode before the options
 * are read, so the options that depend on it ({@code --repair-path}, {@code --migrate-exit},
 * {@code --migrate-no-linger}) may come before it.
 *
 * Errors throw {@link ConfException} with passt's wording; getopt's own errors (unknown option,
 * missing or unexpected argument) are flagged so that Main prints the usage after them, as passt.
 * What cannot be judged from the words alone (the host's addresses and routes, --runas, the MTU
 * against the IP versions that end up enabled) is checked later: {@link HostNet}, Main. The one
 * question to the host while parsing is passt's own: whether {@code -i}'s interface exists
 * ({@link HostNet#interfaceExists}).
 */
public final class Options {
    private Options() {}

    /** The largest MTU: passt's 65535-byte frame limit on the stream socket, minus Ethernet's 14. */
    public static final int MTU_MAX = 65535 - 14;
    /** passt's LOGFILE_SIZE_MIN: five times max(BUFSIZ, page size). */
    public static final long LOG_SIZE_MIN = 5 * 8192;
    /** passt's PASST_MAXDNAME: 253 characters of name. */
    static final int MAXDNAME = 254;
    /** sizeof(sun_path), PATH_MAX, IFNAMSIZ. */
    static final int UNIX_PATH_SIZE = 108, PATH_MAX = 4096, IFNAMSIZ = 16;

    /** What the command line asks for besides running: help, version or capabilities. */
    public enum Action { RUN, HELP, VERSION, CAPABILITIES }

    /**
     * The configuration and what to do with it; {@code warnings} are passt's warnings about the
     * options (printed once, by the process that serves).
     */
    public record Parsed(Conf.Builder conf, Action action, List<String> warnings) {}

    /** Where option values that interact are kept while parsing. */
    private static final class State {
        boolean v4Only, v6Only, debug, trace, spliceOnly;
        /** The last -a had a /prefix; -n's prefix length, -1 if none (passt: prefix_len_from_opt). */
        boolean addrHasPrefix;
        int prefixFromOpt = -1;
        /** Set by -h, --version, --print-capabilities: parsing ends there. */
        Action action = Action.RUN;
        final List<String> warnings = new ArrayList<>();
    }

    /**
     * What an option does, one constant per option (two names of one option share theirs), done
     * by {@link #apply}: a switch, not a lambda per option, which a JVM without the AOT cache
     * (the launcher, as Kata and libvirt start it) would spin one by one on every launch.
     */
    private enum Does {
        DEBUG, QUIET, FOREGROUND, STDERR, LOG_FILE, HELP, SOCKET, FD, NS_IFNAME, PCAP, PID, MTU, ADDRESS,
        NETMASK, MAC_ADDR, GATEWAY, INTERFACE, OUTBOUND, DNS, SEARCH, HOSTNAME, NO_TCP, NO_UDP, NO_ICMP,
        NO_DHCP, NO_DHCPV6, NO_NDP, NO_RA, NO_SPLICE, SPLICE_ONLY, FREEBIND, NO_MAP_GW, IPV4_ONLY,
        IPV6_ONLY, ONE_OFF, TCP_PORTS, UDP_PORTS, TCP_NS, UDP_NS, USERNS, NETNS, NS_MAC_ADDR, DHCP_DNS,
        NO_DHCP_DNS, DHCP_SEARCH, NO_DHCP_SEARCH, DNS_FORWARD, NO_NETNS_QUIT, TRACE, RUNAS, LOG_SIZE,
        VERSION, OUTBOUND_IF4, OUTBOUND_IF6, CONFIG_NET, NO_COPY_ROUTES, NO_COPY_ADDRS, NETNS_ONLY,
        MAP_HOST_LOOPBACK, MAP_GUEST_ADDR, HOST_LO_TO_NS_LO, DNS_HOST, VHOST_USER, PRINT_CAPABILITIES,
        FQDN, REPAIR_PATH, MIGRATE_EXIT, MIGRATE_NO_LINGER, STATS, CONF_PATH, UDP_TIMEOUT, ICMP_TIMEOUT,
        NO_SECCOMP
    }

    private static Getopt.Option<Does> opt(String name, char shortName, Arg arg, Does what) {
        return new Getopt.Option<>(name, shortName, arg, what);
    }

    private static Getopt.Option<Does> opt(String name, Arg arg, Does what) {
        return opt(name, '\0', arg, what);
    }

    /** Every option of {@code man passt}, in passt's order, and jpasst's own at the end. */
    static final List<Getopt.Option<Does>> TABLE = List.of(
            opt("debug", 'd', Arg.NONE, Does.DEBUG),
            opt("quiet", 'q', Arg.NONE, Does.QUIET),
            opt("foreground", 'f', Arg.NONE, Does.FOREGROUND),
            opt("stderr", 'e', Arg.NONE, Does.STDERR),
            opt("log-file", 'l', Arg.REQUIRED, Does.LOG_FILE),
            opt("help", 'h', Arg.NONE, Does.HELP),
            opt("socket", 's', Arg.REQUIRED, Does.SOCKET),
            opt("fd", 'F', Arg.REQUIRED, Does.FD),
            opt("ns-ifname", 'I', Arg.REQUIRED, Does.NS_IFNAME),
            opt("pcap", 'p', Arg.REQUIRED, Does.PCAP),
            opt("pid", 'P', Arg.REQUIRED, Does.PID),
            opt("mtu", 'm', Arg.REQUIRED, Does.MTU),
            opt("address", 'a', Arg.REQUIRED, Does.ADDRESS),
            opt("netmask", 'n', Arg.REQUIRED, Does.NETMASK),
            opt("mac-addr", 'M', Arg.REQUIRED, Does.MAC_ADDR),
            opt("gateway", 'g', Arg.REQUIRED, Does.GATEWAY),
            opt("interface", 'i', Arg.REQUIRED, Does.INTERFACE),
            opt("outbound", 'o', Arg.REQUIRED, Does.OUTBOUND),
            opt("dns", 'D', Arg.REQUIRED, Does.DNS),
            opt("search", 'S', Arg.REQUIRED, Does.SEARCH),
            opt("hostname", 'H', Arg.REQUIRED, Does.HOSTNAME),
            opt("no-tcp", Arg.NONE, Does.NO_TCP),
            opt("no-udp", Arg.NONE, Does.NO_UDP),
            opt("no-icmp", Arg.NONE, Does.NO_ICMP),
            opt("no-dhcp", Arg.NONE, Does.NO_DHCP),
            opt("no-dhcpv6", Arg.NONE, Does.NO_DHCPV6),
            opt("no-ndp", Arg.NONE, Does.NO_NDP),
            opt("no-ra", Arg.NONE, Does.NO_RA),
            opt("no-splice", Arg.NONE, Does.NO_SPLICE),
            opt("splice-only", Arg.NONE, Does.SPLICE_ONLY),
            opt("freebind", Arg.NONE, Does.FREEBIND),
            opt("no-map-gw", Arg.NONE, Does.NO_MAP_GW),
            opt("ipv4-only", '4', Arg.NONE, Does.IPV4_ONLY),
            opt("ipv6-only", '6', Arg.NONE, Does.IPV6_ONLY),
            opt("one-off", '1', Arg.NONE, Does.ONE_OFF),
            opt("tcp-ports", 't', Arg.REQUIRED, Does.TCP_PORTS),
            opt("udp-ports", 'u', Arg.REQUIRED, Does.UDP_PORTS),
            opt("tcp-ns", 'T', Arg.REQUIRED, Does.TCP_NS),
            opt("udp-ns", 'U', Arg.REQUIRED, Does.UDP_NS),
            opt("userns", Arg.REQUIRED, Does.USERNS),
            opt("netns", Arg.REQUIRED, Does.NETNS),
            opt("ns-mac-addr", Arg.REQUIRED, Does.NS_MAC_ADDR),
            opt("dhcp-dns", Arg.NONE, Does.DHCP_DNS),
            opt("no-dhcp-dns", Arg.NONE, Does.NO_DHCP_DNS),
            opt("dhcp-search", Arg.NONE, Does.DHCP_SEARCH),
            opt("no-dhcp-search", Arg.NONE, Does.NO_DHCP_SEARCH),
            opt("dns-forward", Arg.REQUIRED, Does.DNS_FORWARD),
            opt("no-netns-quit", Arg.NONE, Does.NO_NETNS_QUIT),
            opt("trace", Arg.NONE, Does.TRACE),
            opt("runas", Arg.REQUIRED, Does.RUNAS),
            opt("log-size", Arg.REQUIRED, Does.LOG_SIZE),
            opt("version", Arg.NONE, Does.VERSION),
            opt("outbound-if4", Arg.REQUIRED, Does.OUTBOUND_IF4),
            opt("outbound-if6", Arg.REQUIRED, Does.OUTBOUND_IF6),
            opt("config-net", Arg.NONE, Does.CONFIG_NET),
            opt("no-copy-routes", Arg.NONE, Does.NO_COPY_ROUTES),
            opt("no-copy-addrs", Arg.NONE, Does.NO_COPY_ADDRS),
            opt("netns-only", Arg.NONE, Does.NETNS_ONLY),
            opt("map-host-loopback", Arg.REQUIRED, Does.MAP_HOST_LOOPBACK),
            opt("map-guest-addr", Arg.REQUIRED, Does.MAP_GUEST_ADDR),
            opt("host-lo-to-ns-lo", Arg.NONE, Does.HOST_LO_TO_NS_LO),
            opt("dns-host", Arg.REQUIRED, Does.DNS_HOST),
            opt("vhost-user", Arg.NONE, Does.VHOST_USER),
            opt("print-capabilities", Arg.NONE, Does.PRINT_CAPABILITIES),
            opt("socket-path", Arg.REQUIRED, Does.SOCKET),
            opt("fqdn", Arg.REQUIRED, Does.FQDN),
            opt("repair-path", Arg.REQUIRED, Does.REPAIR_PATH),
            opt("migrate-exit", Arg.NONE, Does.MIGRATE_EXIT),
            opt("migrate-no-linger", Arg.NONE, Does.MIGRATE_NO_LINGER),
            opt("stats", Arg.REQUIRED, Does.STATS),
            opt("conf-path", 'c', Arg.REQUIRED, Does.CONF_PATH),
            // jpasst only, for tests and debugging
            opt("udp-timeout", Arg.REQUIRED, Does.UDP_TIMEOUT),
            opt("icmp-timeout", Arg.REQUIRED, Does.ICMP_TIMEOUT),
            opt("no-seccomp", Arg.NONE, Does.NO_SECCOMP));

    /** Does what option {@code o} says, with its argument {@code v} (null for an option without one). */
    private static void apply(Getopt.Option<Does> o, Conf.Builder c, State st, String v) {
        switch (o.what()) {
            case DEBUG -> {
                st.debug = true;
                c.quiet = false;
            }
            case QUIET -> {
                c.quiet = true;
                st.debug = st.trace = false;
            }
            case FOREGROUND -> c.foreground = true;
            case STDERR -> st.warnings.add("--stderr will be dropped soon");
            case LOG_FILE -> c.logFile = v;
            case HELP -> st.action = Action.HELP;
            case SOCKET -> {
                if (v.isEmpty() || v.length() >= UNIX_PATH_SIZE) throw new ConfException("Invalid socket path: " + v);
                c.socketPath = v;
                c.fd = -1;
            }
            case FD -> {
                Num n = strtol(v);
                // passt takes fd 0 (a socket on standard input) but not 1 or 2
                if (!n.whole || n.overflow || n.value < 0 || (n.value != 0 && n.value <= 2)
                        || n.value > Integer.MAX_VALUE) {
                    throw new ConfException("Invalid --fd: " + v);
                }
                c.fd = (int) n.value;
                c.oneOff = true;
                c.socketPath = null;
            }
            case NS_IFNAME, TCP_NS, UDP_NS, USERNS, NETNS, NS_MAC_ADDR, DHCP_DNS, DHCP_SEARCH, NO_NETNS_QUIT,
                 CONFIG_NET, NO_COPY_ROUTES, NO_COPY_ADDRS, NETNS_ONLY, HOST_LO_TO_NS_LO ->
                    // passt's words: "-I is for pasta mode only", "--netns is for pasta mode only"
                    throw new ConfException((o.shortName() != '\0' ? "-" + o.shortName() : "--" + o.name())
                            + " is for pasta mode only");
            case PCAP -> {
                if (v.isEmpty() || v.length() >= PATH_MAX) throw new ConfException("Invalid pcap path: " + v);
                c.pcapFile = v;
            }
            case PID -> {
                if (v.isEmpty() || v.length() >= PATH_MAX) throw new ConfException("Invalid PID file: " + v);
                c.pidFile = v;
            }
            case MTU -> {
                Num n = strtol(v);
                if (!n.whole || n.overflow || n.value < 0) throw new ConfException("Invalid MTU: " + v);
                if (n.value > MTU_MAX) throw new ConfException("MTU " + n.value + " too large (max " + MTU_MAX + ")");
                c.mtu = (int) n.value;
                c.mtuSet = true;
            }
            case ADDRESS -> address(c, st, v);
            case NETMASK -> {
                if (st.addrHasPrefix) throw new ConfException("Redundant prefix length specification");
                int plen = ip4Prefix(v);
                if (plen < 0) throw new ConfException("Invalid prefix length: " + v);
                st.prefixFromOpt = plen;
                c.prefix4 = plen;
                c.prefix4Set = true;
            }
            case MAC_ADDR -> {
                try {
                    if (v.length() != 17) throw new IllegalArgumentException();
                    c.ourMac = Net.parseMac(v);
                } catch (IllegalArgumentException e) {
                    throw new ConfException("Invalid MAC address: " + v);
                }
            }
            case GATEWAY -> gateway(c, v);
            case INTERFACE -> {
                if (!HostNet.interfaceExists(v)) throw new ConfException("Invalid interface name " + v + ": No such device");
                c.ifname4 = v;
                c.ifname6 = v;
            }
            case OUTBOUND -> outbound(c, v);
            case DNS -> dns(c, v);
            case SEARCH -> search(c, v);
            case HOSTNAME -> {
                if (v.length() >= MAXDNAME) throw new ConfException("Invalid hostname: " + v);
                c.hostname = v;
            }
            case NO_TCP -> c.noTcp = true;
            case NO_UDP -> c.noUdp = true;
            case NO_ICMP -> c.noIcmp = true;
            case NO_DHCP -> c.noDhcp = true;
            case NO_DHCPV6 -> c.noDhcpv6 = true;
            case NO_NDP -> c.noNdp = true;
            case NO_RA -> c.noRa = true;
            case NO_SPLICE -> { } // passt mode never splices: accepted (as passt)
            case SPLICE_ONLY -> st.spliceOnly = true;
            case FREEBIND -> c.freebind = true;
            case NO_MAP_GW -> c.noMapGw = true;
            case IPV4_ONLY -> {
                st.v4Only = true;
                st.v6Only = false;
            }
            case IPV6_ONLY -> {
                st.v6Only = true;
                st.v4Only = false;
            }
            case ONE_OFF -> c.oneOff = true;
            case TCP_PORTS -> c.tcpSpecs.add(v);
            case UDP_PORTS -> c.udpSpecs.add(v);
            case NO_DHCP_DNS -> c.noDhcpDns = true;
            case NO_DHCP_SEARCH -> c.noDhcpSearch = true;
            case DNS_FORWARD -> dnsForward(c, v);
            case TRACE -> {
                st.trace = st.debug = true;
                c.quiet = false;
            }
            case RUNAS -> c.runAs = v;
            case LOG_SIZE -> {
                Num n = strtol(v);
                if (n.overflow || n.value < LOG_SIZE_MIN) throw new ConfException("Invalid --log-size: " + v);
                c.logSize = n.value;
            }
            case VERSION -> st.action = Action.VERSION;
            case OUTBOUND_IF4 -> c.outboundIf4 = ifname(v);
            case OUTBOUND_IF6 -> c.outboundIf6 = ifname(v);
            case MAP_HOST_LOOPBACK -> {
                long[] a = nat(v);
                if (a == null) {
                    c.mapHostLoopback4 = 0;
                    c.mapHostLoopback6Hi = c.mapHostLoopback6Lo = 0;
                    c.noMapGw = true;
                } else if (a[0] == 4) {
                    c.mapHostLoopback4 = (int) a[2];
                } else {
                    c.mapHostLoopback6Hi = a[1];
                    c.mapHostLoopback6Lo = a[2];
                }
            }
            case MAP_GUEST_ADDR -> {
                long[] a = nat(v);
                if (a == null) {
                    c.mapGuestAddr4 = 0;
                    c.mapGuestAddr6Hi = c.mapGuestAddr6Lo = 0;
                } else if (a[0] == 4) {
                    c.mapGuestAddr4 = (int) a[2];
                } else {
                    c.mapGuestAddr6Hi = a[1];
                    c.mapGuestAddr6Lo = a[2];
                }
            }
            case DNS_HOST -> dnsHost(c, v);
            case VHOST_USER -> c.vhostUser = true; // (set before parsing: vhostUserMode)
            case PRINT_CAPABILITIES -> st.action = Action.CAPABILITIES;
            case FQDN -> {
                if (v.length() >= MAXDNAME) throw new ConfException("Invalid FQDN: " + v);
                c.fqdn = v;
            }
            case REPAIR_PATH -> {
                if (!c.vhostUser && !v.equals("none")) throw new ConfException("--repair-path is for vhost-user mode only");
                if (v.length() >= UNIX_PATH_SIZE) throw new ConfException("Invalid passt-repair path: " + v);
                c.repairPath = v;
            }
            case MIGRATE_EXIT, MIGRATE_NO_LINGER -> {
                if (!c.vhostUser) throw new ConfException("--" + o.name() + " is for vhost-user mode only");
                if (o.what() == Does.MIGRATE_EXIT) c.migrateExit = true;
                else c.migrateNoLinger = true;
            }
            case STATS -> {
                if (!c.foreground) throw new ConfException("Can't display statistics if not running in foreground");
                c.statsSeconds = (int) number(v, "--stats", 0, Integer.MAX_VALUE);
            }
            case CONF_PATH -> {
                // passt reserves it for its configuration client; jpasst's control socket
                if (v.isEmpty() || v.length() >= UNIX_PATH_SIZE) throw new ConfException("Invalid configuration path: " + v);
                c.confPath = v;
            }
            case UDP_TIMEOUT -> c.udpTimeoutSeconds = (int) number(v, "--udp-timeout", 1, 86400);
            case ICMP_TIMEOUT -> c.icmpTimeoutSeconds = (int) number(v, "--icmp-timeout", 1, 86400);
            case NO_SECCOMP -> c.noSeccomp = true;
        }
    }

    /** -S: search domains, or "none". */
    private static void search(Conf.Builder c, String v) {
        c.searchSet = true;
        if (v.equals("none")) {
            c.search.clear();
            return;
        }
        for (String d : v.split("[ ,]+")) {
            if (d.isEmpty()) continue;
            if (d.length() >= MAXDNAME) throw new ConfException("Cannot use DNS search domain " + v);
            c.search.add(d);
        }
    }

    public static Parsed parse(String[] args) {
        Conf.Builder c = new Conf.Builder();
        c.vhostUser = vhostUserMode(args);
        State st = new State();
        Getopt<Does> options = new Getopt<>(TABLE, args);
        for (Getopt.Found<Does> f; (f = options.next()) != null; ) {
            apply(f.option(), c, st, f.value());
            if (st.action != Action.RUN) return new Parsed(c, st.action, st.warnings);
        }
        if (st.spliceOnly) throw new ConfException("--splice-only is for pasta mode only");
        if (st.v4Only) c.v6 = false;
        if (st.v6Only) c.v4 = false;
        c.logLevel = st.trace ? Log.TRACE : st.debug ? Log.DEBUG : c.quiet ? Log.WARN : Log.INFO;
        ports(c.tcpSpecs, c.noTcp, "TCP");
        ports(c.udpSpecs, c.noUdp, "UDP");
        if (options.index() < args.length) throw new ConfException("Extra non-option argument: " + args[options.index()]);
        if (c.noIcmp) c.noNdp = true; // passt: --no-icmp implies --no-ndp
        return new Parsed(c, Action.RUN, st.warnings);
    }

    /**
     * passt's conf_mode(): whether {@code --vhost-user} (or an abbreviation of it, the only long
     * option that scan knows) is among the words before {@code --}, wherever it stands.
     */
    static boolean vhostUserMode(String[] args) {
        for (String a : args) {
            if (a.equals("--")) return false;
            if (a.length() > 2 && a.startsWith("--") && a.indexOf('=') < 0 && "vhost-user".startsWith(a.substring(2))) {
                return true;
            }
        }
        return false;
    }

    /** What -h prints (to standard output, exit 0) and what follows getopt's errors (standard error). */
    public static String usage() {
        return Usage.TEXT;
    }

    /** passt's second pass over -t/-u: forwarding of a disabled protocol, then the specs' syntax. */
    private static void ports(List<String> specs, boolean disabled, String proto) {
        if (specs.isEmpty()) return;
        for (String s : specs) {
            if (disabled && !s.equals("none")) {
                throw new ConfException(proto + " port forwarding requested but " + proto + " is disabled");
            }
        }
        PortSpec.parse(specs, PortSpec.EPHEMERAL_MIN_DEFAULT, PortSpec.EPHEMERAL_MAX_DEFAULT);
    }

    private static long number(String v, String name, long min, long max) {
        Num n = strtol(v);
        if (!n.whole || n.overflow || n.value < min || n.value > max) throw new ConfException("Invalid " + name + ": " + v);
        return n.value;
    }

    /** strtol(v, &end, 0): leading blanks, a sign, 0x hex or 0 octal; {@code whole} if nothing follows. */
    record Num(long value, boolean digits, boolean whole, boolean overflow) {}

    static Num strtol(String v) {
        int i = 0, n = v.length();
        while (i < n && Character.isWhitespace(v.charAt(i))) i++;
        boolean neg = false;
        if (i < n && (v.charAt(i) == '+' || v.charAt(i) == '-')) neg = v.charAt(i++) == '-';
        int radix = 10;
        if (i + 1 < n && v.charAt(i) == '0' && (v.charAt(i + 1) == 'x' || v.charAt(i + 1) == 'X')
                && i + 2 < n && Character.digit(v.charAt(i + 2), 16) >= 0) {
            radix = 16;
            i += 2;
        } else if (i < n && v.charAt(i) == '0') {
            radix = 8;
        }
        long value = 0;
        boolean digits = false, overflow = false;
        for (; i < n; i++) {
            int d = Character.digit(v.charAt(i), radix);
            if (d < 0) break;
            digits = true;
            if (value > (Long.MAX_VALUE - d) / radix) overflow = true;
            else value = value * radix + d;
        }
        return new Num(neg ? -value : value, digits, digits && i == n, overflow);
    }

    private static boolean allDigits(String s) {
        for (int i = 0; i < s.length(); i++) if (!Character.isDigit(s.charAt(i))) return false;
        return true;
    }

    private static boolean unspecified(long[] a) {
        return a[1] == 0 && a[2] == 0;
    }

    private static boolean loopback(long[] a) {
        return a[0] == 4 ? Ip4.isLoopback((int) a[2]) : a[1] == 0 && a[2] == 1;
    }

    private static boolean multicast(long[] a) {
        return a[0] == 4 ? Ip4.isMulticast((int) a[2]) : (a[1] >>> 56) == 0xff;
    }

    private static boolean broadcast(long[] a) {
        return a[0] == 4 && (int) a[2] == Ip4.BROADCAST;
    }

    private static boolean v4Mapped(long[] a) {
        return a[0] == 6 && a[1] == 0 && (a[2] >>> 32) == 0xffff;
    }

    /** IN6_IS_ADDR_V4COMPAT: ::a.b.c.d, but not :: or ::1. */
    private static boolean v4Compat(long[] a) {
        return a[0] == 6 && a[1] == 0 && (a[2] >>> 32) == 0 && Long.compareUnsigned(a[2], 1) > 0;
    }

    /** -a ADDR[/PREFIX_LEN], as passt: the prefix of an IPv6 address is parsed and then ignored (64). */
    private static void address(Conf.Builder c, State st, String v) {
        String addr = v;
        int plen = -1;
        int slash = v.indexOf('/');
        if (slash >= 0) {
            addr = v.substring(0, slash);
            String p = v.substring(slash + 1);
            long[] parsed = AddressLiteral.ip(addr);
            int max = parsed != null && parsed[0] == 6 && !v4Mapped(parsed) ? 128 : 32;
            if (parsed == null || p.isEmpty() || !allDigits(p) || p.length() > 3
                    || Integer.parseInt(p) > max) {
                throw new ConfException("Invalid address: " + v);
            }
            plen = Integer.parseInt(p);
        }
        st.addrHasPrefix = slash >= 0;
        if (st.addrHasPrefix && st.prefixFromOpt >= 0) {
            throw new ConfException("Redundant prefix length specification");
        }
        long[] a = AddressLiteral.ip(addr);
        if (a == null || unspecified(a) || multicast(a) || loopback(a) || v4Compat(a)) {
            throw new ConfException("Invalid address: " + v);
        }
        if (a[0] == 4 || v4Mapped(a)) {
            int a4 = (int) a[2];
            if (a4 == 0 || Ip4.isLoopback(a4) || Ip4.isMulticast(a4)) throw new ConfException("Invalid address: " + v);
            c.addr4 = a4;
            c.prefix4 = st.prefixFromOpt >= 0 ? st.prefixFromOpt : plen >= 0 ? plen : classPrefix(a4);
            c.prefix4Set = true;
            c.addr4Set = true;
        } else {
            c.addr6Hi = a[1];
            c.addr6Lo = a[2];
            c.addr6Set = true;
        }
    }

    /** The prefix length of the address's class (RFC 791), as passt for -a without a prefix. */
    static int classPrefix(int a) {
        if ((a & 0x80000000) == 0) return 8;
        if ((a & 0xc0000000) == 0x80000000) return 16;
        if ((a & 0xe0000000) == 0xc0000000) return 24;
        return 32;
    }

    /** conf_ip4_prefix(): a contiguous dot-decimal netmask or a length 0-32; -1 if neither. */
    static int ip4Prefix(String v) {
        if (v.contains(".")) {
            long m4 = AddressLiteral.ip4(v);
            if (m4 < 0) return -1;
            int m = (int) m4;
            int len = Integer.bitCount(m);
            return Ip4.mask(len) == m ? len : -1;
        }
        Num n = strtol(v);
        if (!n.digits || n.overflow || n.value < 0 || n.value > 32) return -1;
        return (int) n.value;
    }

    private static void gateway(Conf.Builder c, String v) {
        long[] a = AddressLiteral.ip(v);
        if (a == null || unspecified(a) || loopback(a) || broadcast(a)) {
            throw new ConfException("Invalid gateway address: " + v);
        }
        if (a[0] == 4) {
            c.gw4 = (int) a[2];
            c.gw4Set = true;
        } else {
            c.gw6Hi = a[1];
            c.gw6Lo = a[2];
            c.gw6Set = true;
        }
    }

    private static void outbound(Conf.Builder c, String v) {
        long[] a = AddressLiteral.ip(v);
        if (a == null || unspecified(a) || multicast(a) || broadcast(a)
                || (a[0] == 6 && (loopback(a) || v4Mapped(a) || v4Compat(a)))) {
            throw new ConfException("Invalid or redundant outbound address: " + v);
        }
        if (a[0] == 4) {
            c.outbound4 = (int) a[2];
        } else {
            c.outbound6Hi = a[1];
            c.outbound6Lo = a[2];
        }
    }

    private static String ifname(String v) {
        if (v.isEmpty() || v.length() >= IFNAMSIZ) throw new ConfException("Invalid interface name: " + v);
        return v;
    }

    /** -D: up to three resolvers per family, given to the guest as they are; "none" for none at all. */
    private static void dns(Conf.Builder c, String v) {
        c.dnsSet = true;
        if (v.equals("none")) {
            c.noDns = true;
            c.dns4 = new int[0];
            c.dns6 = new long[0];
            c.dnsMatch4 = c.dnsHost4 = 0;
            c.dnsMatch6Hi = c.dnsMatch6Lo = c.dnsHost6Hi = c.dnsHost6Lo = 0;
            return;
        }
        c.noDns = false;
        long[] a = AddressLiteral.ip(v);
        if (a == null) throw new ConfException("Cannot use DNS address " + v);
        if (a[0] == 4) {
            if (c.dns4.length < 3) {
                c.dns4 = Arrays.copyOf(c.dns4, c.dns4.length + 1);
                c.dns4[c.dns4.length - 1] = (int) a[2];
            }
        } else if (c.dns6.length / 2 < 3) {
            c.dns6 = Arrays.copyOf(c.dns6, c.dns6.length + 2);
            c.dns6[c.dns6.length - 2] = a[1];
            c.dns6[c.dns6.length - 1] = a[2];
        }
    }

    private static void dnsForward(Conf.Builder c, String v) {
        long[] a = AddressLiteral.ip(v);
        if (a == null || unspecified(a) || loopback(a) || broadcast(a)) {
            throw new ConfException("Invalid DNS forwarding address: " + v);
        }
        if (a[0] == 4) {
            c.dnsMatch4 = (int) a[2];
        } else {
            c.dnsMatch6Hi = a[1];
            c.dnsMatch6Lo = a[2];
        }
    }

    private static void dnsHost(Conf.Builder c, String v) {
        long[] a = AddressLiteral.ip(v);
        if (a == null || unspecified(a) || broadcast(a)) {
            throw new ConfException("Invalid host nameserver address: " + v);
        }
        if (a[0] == 4) {
            c.dnsHost4 = (int) a[2];
        } else {
            c.dnsHost6Hi = a[1];
            c.dnsHost6Lo = a[2];
        }
    }

    /** conf_nat(): an address for --map-host-loopback / --map-guest-addr, or null for "none". */
    private static long[] nat(String v) {
        if (v.equals("none")) return null;
        long[] a = AddressLiteral.ip(v);
        if (a == null || unspecified(a) || loopback(a) || multicast(a)) {
            throw new ConfException("Invalid address to remap to host: " + v);
        }
        return a;
    }

}
