package jpasst.conf;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import jpasst.packet.Ip4;
import jpasst.packet.Net;
import jpasst.sys.SockAddr;
import jpasst.util.Log;

/**
 * passt's command line (current passt, passt mode), with getopt_long's rules: bundled short
 * options ({@code -fq}), attached or separate arguments ({@code -s/tmp/x}, {@code -s /tmp/x},
 * {@code --socket=/tmp/x}), unambiguous abbreviations of long options ({@code --one} for
 * {@code --one-off}; two names of the same option, {@code --socket} and {@code --socket-path}, are
 * not ambiguous), and option parsing stops at the first non-option or at {@code --} (passt's
 * {@code +} optstring), after which any word is an "Extra non-option argument".
 *
 * Semantics are passt's: options are read in order and the first bad one ends parsing; unless
 * passt says otherwise the last of conflicting or repeated options wins ({@code -q} after
 * {@code -d}, {@code -6} after {@code -4}, {@code --fd} after {@code --socket}); {@code -h},
 * {@code --version} and {@code --print-capabilities} act where they stand. Every option of
 * {@code man passt} is known: the pasta-only ones and those of capabilities jpasst does not have
 * yet (vhost-user, statistics, pesto) are refused with a clear message instead of being ignored.
 *
 * Errors throw {@link ConfException} with passt's wording; getopt's own errors (unknown option,
 * missing or unexpected argument) are flagged so that Main prints the usage after them, as passt.
 * What cannot be judged from the words alone (the host's interfaces and addresses, --runas, the
 * MTU against the IP versions that end up enabled) is checked later: {@link HostNet}, Main.
 */
public final class Options {
    private Options() {}

    enum Arg { NONE, REQUIRED }

    /** One option: {@code key} is what it does, shared by two names of the same option. */
    record Opt(String name, char shortName, Arg arg, String key) {
        Opt(String name, char shortName, Arg arg) {
            this(name, shortName, arg, name);
        }
    }

    static final List<Opt> OPTS = List.of(
            new Opt("debug", 'd', Arg.NONE),
            new Opt("quiet", 'q', Arg.NONE),
            new Opt("foreground", 'f', Arg.NONE),
            new Opt("stderr", 'e', Arg.NONE),
            new Opt("log-file", 'l', Arg.REQUIRED),
            new Opt("help", 'h', Arg.NONE),
            new Opt("socket", 's', Arg.REQUIRED),
            new Opt("fd", 'F', Arg.REQUIRED),
            new Opt("ns-ifname", 'I', Arg.REQUIRED),
            new Opt("pcap", 'p', Arg.REQUIRED),
            new Opt("pid", 'P', Arg.REQUIRED),
            new Opt("mtu", 'm', Arg.REQUIRED),
            new Opt("address", 'a', Arg.REQUIRED),
            new Opt("netmask", 'n', Arg.REQUIRED),
            new Opt("mac-addr", 'M', Arg.REQUIRED),
            new Opt("gateway", 'g', Arg.REQUIRED),
            new Opt("interface", 'i', Arg.REQUIRED),
            new Opt("outbound", 'o', Arg.REQUIRED),
            new Opt("dns", 'D', Arg.REQUIRED),
            new Opt("search", 'S', Arg.REQUIRED),
            new Opt("hostname", 'H', Arg.REQUIRED),
            new Opt("no-tcp", '\0', Arg.NONE),
            new Opt("no-udp", '\0', Arg.NONE),
            new Opt("no-icmp", '\0', Arg.NONE),
            new Opt("no-dhcp", '\0', Arg.NONE),
            new Opt("no-dhcpv6", '\0', Arg.NONE),
            new Opt("no-ndp", '\0', Arg.NONE),
            new Opt("no-ra", '\0', Arg.NONE),
            new Opt("no-splice", '\0', Arg.NONE),
            new Opt("splice-only", '\0', Arg.NONE),
            new Opt("freebind", '\0', Arg.NONE),
            new Opt("no-map-gw", '\0', Arg.NONE),
            new Opt("ipv4-only", '4', Arg.NONE),
            new Opt("ipv6-only", '6', Arg.NONE),
            new Opt("one-off", '1', Arg.NONE),
            new Opt("tcp-ports", 't', Arg.REQUIRED),
            new Opt("udp-ports", 'u', Arg.REQUIRED),
            new Opt("tcp-ns", 'T', Arg.REQUIRED),
            new Opt("udp-ns", 'U', Arg.REQUIRED),
            new Opt("userns", '\0', Arg.REQUIRED),
            new Opt("netns", '\0', Arg.REQUIRED),
            new Opt("ns-mac-addr", '\0', Arg.REQUIRED),
            new Opt("dhcp-dns", '\0', Arg.NONE),
            new Opt("no-dhcp-dns", '\0', Arg.NONE),
            new Opt("dhcp-search", '\0', Arg.NONE),
            new Opt("no-dhcp-search", '\0', Arg.NONE),
            new Opt("dns-forward", '\0', Arg.REQUIRED),
            new Opt("no-netns-quit", '\0', Arg.NONE),
            new Opt("trace", '\0', Arg.NONE),
            new Opt("runas", '\0', Arg.REQUIRED),
            new Opt("log-size", '\0', Arg.REQUIRED),
            new Opt("version", '\0', Arg.NONE),
            new Opt("outbound-if4", '\0', Arg.REQUIRED),
            new Opt("outbound-if6", '\0', Arg.REQUIRED),
            new Opt("config-net", '\0', Arg.NONE),
            new Opt("no-copy-routes", '\0', Arg.NONE),
            new Opt("no-copy-addrs", '\0', Arg.NONE),
            new Opt("netns-only", '\0', Arg.NONE),
            new Opt("map-host-loopback", '\0', Arg.REQUIRED),
            new Opt("map-guest-addr", '\0', Arg.REQUIRED),
            new Opt("host-lo-to-ns-lo", '\0', Arg.NONE),
            new Opt("dns-host", '\0', Arg.REQUIRED),
            new Opt("vhost-user", '\0', Arg.NONE),
            new Opt("print-capabilities", '\0', Arg.NONE),
            new Opt("socket-path", '\0', Arg.REQUIRED, "socket"),
            new Opt("fqdn", '\0', Arg.REQUIRED),
            new Opt("repair-path", '\0', Arg.REQUIRED),
            new Opt("migrate-exit", '\0', Arg.NONE),
            new Opt("migrate-no-linger", '\0', Arg.NONE),
            new Opt("stats", '\0', Arg.REQUIRED),
            new Opt("conf-path", 'c', Arg.REQUIRED),
            // jpasst only, for tests and debugging
            new Opt("udp-timeout", '\0', Arg.REQUIRED),
            new Opt("icmp-timeout", '\0', Arg.REQUIRED),
            new Opt("no-seccomp", '\0', Arg.NONE));

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
    public record Parsed(Conf conf, Action action, List<String> warnings) {}

    /** Where option values that interact are kept while parsing. */
    private static final class State {
        boolean v4Only, v6Only, debug, trace, spliceOnly;
        /** The last -a had a /prefix; -n's prefix length, -1 if none (passt: prefix_len_from_opt). */
        boolean addrHasPrefix;
        int prefixFromOpt = -1;
        final List<String> warnings = new ArrayList<>();
    }

    public static Parsed parse(String[] args) {
        Conf c = new Conf();
        State st = new State();
        int i = 0;
        for (; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--")) {
                i++;
                break;
            }
            if (!a.startsWith("-") || a.equals("-")) break; // passt's '+': options end here
            List<String[]> found = new ArrayList<>(); // {key, value-or-null}
            if (a.startsWith("--")) {
                String body = a.substring(2);
                String value = null;
                int eq = body.indexOf('=');
                if (eq >= 0) {
                    value = body.substring(eq + 1);
                    body = body.substring(0, eq);
                }
                Opt o = longOpt(body, a);
                if (o.arg == Arg.NONE && value != null) {
                    throw new ConfException("option '--" + o.name + "' doesn't allow an argument", true);
                }
                if (o.arg == Arg.REQUIRED && value == null) {
                    if (i + 1 >= args.length) {
                        throw new ConfException("option '--" + o.name + "' requires an argument", true);
                    }
                    value = args[++i];
                }
                found.add(new String[] {o.key, value});
            } else {
                for (int k = 1; k < a.length(); k++) {
                    char ch = a.charAt(k);
                    Opt o = shortOpt(ch);
                    if (o.arg == Arg.REQUIRED) {
                        String value;
                        if (k + 1 < a.length()) {
                            value = a.substring(k + 1);
                        } else if (i + 1 < args.length) {
                            value = args[++i];
                        } else {
                            throw new ConfException("option requires an argument -- '" + ch + "'", true);
                        }
                        found.add(new String[] {o.key, value});
                        break;
                    }
                    found.add(new String[] {o.key, null});
                }
            }
            for (String[] f : found) {
                Action act = apply(c, st, f[0], f[1]);
                if (act != Action.RUN) return new Parsed(c, act, st.warnings);
            }
        }
        if (st.spliceOnly) throw new ConfException("--splice-only is for pasta mode only");
        if (st.v4Only) c.v6 = false;
        if (st.v6Only) c.v4 = false;
        c.logLevel = st.trace ? Log.TRACE : st.debug ? Log.DEBUG : c.quiet ? Log.WARN : Log.INFO;
        ports(c.tcpSpecs, c.noTcp, "TCP");
        ports(c.udpSpecs, c.noUdp, "UDP");
        if (i < args.length) throw new ConfException("Extra non-option argument: " + args[i]);
        if (c.noIcmp) c.noNdp = true; // passt: --no-icmp implies --no-ndp
        return new Parsed(c, Action.RUN, st.warnings);
    }

    /** Acts on one option; returns what to do if it ends parsing (help, version), else RUN. */
    private static Action apply(Conf c, State st, String key, String v) {
        switch (key) {
            case "debug" -> {
                st.debug = true;
                c.quiet = false;
            }
            case "trace" -> {
                st.trace = st.debug = true;
                c.quiet = false;
            }
            case "quiet" -> {
                c.quiet = true;
                st.debug = st.trace = false;
            }
            case "foreground" -> c.foreground = true;
            case "stderr" -> st.warnings.add("--stderr will be dropped soon");
            case "log-file" -> c.logFile = v;
            case "log-size" -> {
                Num n = strtol(v);
                if (n.overflow || n.value < LOG_SIZE_MIN) throw new ConfException("Invalid --log-size: " + v);
                c.logSize = n.value;
            }
            case "help" -> {
                return Action.HELP;
            }
            case "version" -> {
                return Action.VERSION;
            }
            case "print-capabilities" -> {
                return Action.CAPABILITIES;
            }
            case "socket" -> {
                if (v.isEmpty() || v.length() >= UNIX_PATH_SIZE) throw new ConfException("Invalid socket path: " + v);
                c.socketPath = v;
                c.fd = -1;
            }
            case "fd" -> {
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
            case "one-off" -> c.oneOff = true;
            case "pcap" -> {
                if (v.isEmpty() || v.length() >= PATH_MAX) throw new ConfException("Invalid pcap path: " + v);
                c.pcapFile = v;
            }
            case "pid" -> {
                if (v.isEmpty() || v.length() >= PATH_MAX) throw new ConfException("Invalid PID file: " + v);
                c.pidFile = v;
            }
            case "mtu" -> {
                Num n = strtol(v);
                if (!n.whole || n.overflow || n.value < 0) throw new ConfException("Invalid MTU: " + v);
                if (n.value > MTU_MAX) throw new ConfException("MTU " + n.value + " too large (max " + MTU_MAX + ")");
                c.mtu = (int) n.value;
                c.mtuSet = true;
            }
            case "address" -> address(c, st, v);
            case "netmask" -> {
                if (st.addrHasPrefix) throw new ConfException("Redundant prefix length specification");
                int plen = ip4Prefix(v);
                if (plen < 0) throw new ConfException("Invalid prefix length: " + v);
                st.prefixFromOpt = plen;
                c.prefix4 = plen;
                c.prefix4Set = true;
            }
            case "mac-addr" -> {
                try {
                    if (v.length() != 17) throw new IllegalArgumentException();
                    c.ourMac = Net.parseMac(v);
                } catch (IllegalArgumentException e) {
                    throw new ConfException("Invalid MAC address: " + v);
                }
            }
            case "gateway" -> gateway(c, v);
            case "interface" -> {
                if (!interfaceExists(v)) throw new ConfException("Invalid interface name " + v + ": No such device");
                c.ifname4 = v;
                c.ifname6 = v;
            }
            case "outbound" -> outbound(c, v);
            case "outbound-if4" -> c.outboundIf4 = ifname(v);
            case "outbound-if6" -> c.outboundIf6 = ifname(v);
            case "dns" -> dns(c, v);
            case "dns-forward" -> dnsForward(c, v);
            case "dns-host" -> dnsHost(c, v);
            case "search" -> {
                c.searchSet = true;
                if (v.equals("none")) {
                    c.search.clear();
                } else {
                    for (String d : v.split("[ ,]+")) {
                        if (d.isEmpty()) continue;
                        if (d.length() >= MAXDNAME) throw new ConfException("Cannot use DNS search domain " + v);
                        c.search.add(d);
                    }
                }
            }
            case "hostname" -> {
                if (v.length() >= MAXDNAME) throw new ConfException("Invalid hostname: " + v);
                c.hostname = v;
            }
            case "fqdn" -> {
                if (v.length() >= MAXDNAME) throw new ConfException("Invalid FQDN: " + v);
                c.fqdn = v;
            }
            case "no-tcp" -> c.noTcp = true;
            case "no-udp" -> c.noUdp = true;
            case "no-icmp" -> c.noIcmp = true;
            case "no-dhcp" -> c.noDhcp = true;
            case "no-dhcpv6" -> c.noDhcpv6 = true;
            case "no-ndp" -> c.noNdp = true;
            case "no-ra" -> c.noRa = true;
            case "no-splice" -> { } // passt mode never splices: accepted, nothing to do (as passt)
            case "splice-only" -> st.spliceOnly = true;
            case "no-map-gw" -> c.noMapGw = true;
            case "map-host-loopback" -> {
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
            case "map-guest-addr" -> {
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
            case "no-dhcp-dns" -> c.noDhcpDns = true;
            case "no-dhcp-search" -> c.noDhcpSearch = true;
            case "ipv4-only" -> {
                st.v4Only = true;
                st.v6Only = false;
            }
            case "ipv6-only" -> {
                st.v6Only = true;
                st.v4Only = false;
            }
            case "tcp-ports" -> c.tcpSpecs.add(v);
            case "udp-ports" -> c.udpSpecs.add(v);
            case "runas" -> c.runAs = v;
            case "freebind" -> c.freebind = true;
            case "udp-timeout" -> c.udpTimeoutSeconds = (int) number(v, "--udp-timeout", 1, 86400);
            case "icmp-timeout" -> c.icmpTimeoutSeconds = (int) number(v, "--icmp-timeout", 1, 86400);
            case "no-seccomp" -> c.noSeccomp = true;
            case "vhost-user" -> throw new ConfException("--vhost-user is not supported yet by jpasst");
            case "repair-path" -> {
                if (!v.equals("none")) throw new ConfException("--repair-path is for vhost-user mode only");
            }
            case "migrate-exit", "migrate-no-linger" ->
                    throw new ConfException("--" + key + " is for vhost-user mode only");
            case "stats" -> {
                if (!c.foreground) throw new ConfException("Can't display statistics if not running in foreground");
                throw new ConfException("--stats is not supported yet by jpasst");
            }
            case "conf-path" -> throw new ConfException("--conf-path is not supported yet by jpasst");
            case "ns-ifname" -> throw new ConfException("-I is for pasta mode only");
            case "tcp-ns" -> throw new ConfException("-T is for pasta mode only");
            case "udp-ns" -> throw new ConfException("-U is for pasta mode only");
            case "userns", "netns", "ns-mac-addr", "dhcp-dns", "dhcp-search", "no-netns-quit", "config-net",
                 "no-copy-routes", "no-copy-addrs", "netns-only", "host-lo-to-ns-lo" ->
                    throw new ConfException("--" + key + " is for pasta mode only");
            default -> throw new AssertionError(key);
        }
        return Action.RUN;
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

    private static Opt longOpt(String body, String arg) {
        Opt exact = null;
        List<Opt> prefixed = new ArrayList<>();
        for (Opt o : OPTS) {
            if (o.name.equals(body)) exact = o;
            else if (!body.isEmpty() && o.name.startsWith(body)) prefixed.add(o);
        }
        if (exact != null) return exact;
        if (prefixed.isEmpty()) throw new ConfException("unrecognized option '" + arg + "'", true);
        // getopt_long: candidates that are the same option under two names are not ambiguous
        Opt first = prefixed.get(0);
        for (Opt o : prefixed) {
            if (!o.key.equals(first.key) || o.arg != first.arg) {
                StringBuilder b = new StringBuilder("option '" + arg + "' is ambiguous; possibilities:");
                for (Opt p : prefixed) b.append(" '--").append(p.name).append('\'');
                throw new ConfException(b.toString(), true);
            }
        }
        return first;
    }

    private static Opt shortOpt(char ch) {
        for (Opt o : OPTS) if (o.shortName == ch) return o;
        throw new ConfException("invalid option -- '" + ch + "'", true);
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

    /** Parses a dotted-quad IPv4 literal into a host-order int, or throws. */
    public static int parseIp4(String s) {
        String[] p = s.split("\\.", -1);
        if (p.length != 4) throw new ConfException("Invalid address: " + s);
        int v = 0;
        for (String b : p) {
            if (b.isEmpty() || b.length() > 3 || !allDigits(b)) {
                throw new ConfException("Invalid address: " + s);
            }
            int n = Integer.parseInt(b);
            if (n > 255) throw new ConfException("Invalid address: " + s);
            v = v << 8 | n;
        }
        return v;
    }

    /** Parses an IPv6 literal into {hi, lo}, or throws. Never resolves names. */
    public static long[] parseIp6(String s) {
        if (!s.contains(":") || !s.matches("[0-9a-fA-F:.]+")) throw new ConfException("Invalid address: " + s);
        try {
            InetAddress a = InetAddress.getByName(s);
            if (!(a instanceof Inet6Address a6)) {
                // ::ffff:a.b.c.d comes back as IPv4: keep it as a mapped IPv6 address
                byte[] b = a.getAddress();
                long lo = 0xffffL << 32 | SockAddr.toInt((java.net.Inet4Address) a) & 0xffffffffL;
                if (b.length == 4) return new long[] {0, lo};
                throw new ConfException("Invalid address: " + s);
            }
            return new long[] {SockAddr.hi(a6), SockAddr.lo(a6)};
        } catch (UnknownHostException e) {
            throw new ConfException("Invalid address: " + s);
        }
    }

    /**
     * inet_pton of either family: {4, 0, v4} or {6, hi, lo}; null if {@code s} is neither. An IPv4
     * literal is tried first unless the text has a colon.
     */
    static long[] ip(String s) {
        try {
            if (s.contains(":")) {
                long[] a = parseIp6(s);
                return new long[] {6, a[0], a[1]};
            }
            return new long[] {4, 0, parseIp4(s) & 0xffffffffL};
        } catch (ConfException e) {
            return null;
        }
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
    private static void address(Conf c, State st, String v) {
        String addr = v;
        int plen = -1;
        int slash = v.indexOf('/');
        if (slash >= 0) {
            addr = v.substring(0, slash);
            String p = v.substring(slash + 1);
            long[] parsed = ip(addr);
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
        long[] a = ip(addr);
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
            int m;
            try {
                m = parseIp4(v);
            } catch (ConfException e) {
                return -1;
            }
            int len = Integer.bitCount(m);
            return Ip4.mask(len) == m ? len : -1;
        }
        Num n = strtol(v);
        if (!n.digits || n.overflow || n.value < 0 || n.value > 32) return -1;
        return (int) n.value;
    }

    private static void gateway(Conf c, String v) {
        long[] a = ip(v);
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

    private static void outbound(Conf c, String v) {
        long[] a = ip(v);
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

    private static boolean interfaceExists(String name) {
        if (name.isEmpty() || name.length() >= IFNAMSIZ) return false;
        try {
            return NetworkInterface.getByName(name) != null;
        } catch (SocketException e) {
            return false;
        }
    }

    /** -D: up to three resolvers per family, given to the guest as they are; "none" for none at all. */
    private static void dns(Conf c, String v) {
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
        long[] a = ip(v);
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

    private static void dnsForward(Conf c, String v) {
        long[] a = ip(v);
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

    private static void dnsHost(Conf c, String v) {
        long[] a = ip(v);
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
        long[] a = ip(v);
        if (a == null || unspecified(a) || loopback(a) || multicast(a)) {
            throw new ConfException("Invalid address to remap to host: " + v);
        }
        return a;
    }

    /** What -h prints (to standard output, exit 0) and what follows getopt's errors (standard error). */
    public static String usage() {
        return """
                Usage: passt [OPTION]...

                  -d, --debug		Be verbose
                      --trace		Be extra verbose, implies --debug
                  -q, --quiet		Don't print informational messages
                  -f, --foreground	Don't run in background
                    default: run in background
                  -l, --log-file PATH	Log (only) to given file
                  --log-size BYTES	Maximum size of log file
                    default: 1 MiB
                  --runas UID|UID:GID 	Run as given UID, GID, which can be
                    numeric, or login and group names
                    default: drop to user "nobody"
                  -h, --help		Display this help message and exit
                  --version		Show version and exit
                  -s, --socket, --socket-path PATH	UNIX domain socket path
                    default: probe free path starting from /tmp/passt_1.socket
                  -F, --fd FD		Use FD as pre-opened connected socket
                  -p, --pcap FILE	Log tap-facing traffic to pcap file
                  -P, --pid FILE	Write own PID to the given file
                  -m, --mtu MTU	Assign MTU via DHCP/NDP
                    a zero value disables assignment
                    default: 65520: maximum 802.3 MTU minus 802.3 header
                                    length, rounded to 32 bits (IPv4 words)
                  -a, --address ADDR	Assign IPv4 or IPv6 address ADDR[/PREFIXLEN]
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: use addresses from interface with default route
                  -n, --netmask MASK	Assign IPv4 MASK, dot-decimal or bits
                    default: netmask from matching address on the host
                  -M, --mac-addr ADDR	Use source MAC address ADDR
                    default: 9a:55:9a:55:9a:55 (locally administered)
                  -g, --gateway ADDR	Pass IPv4 or IPv6 address as gateway
                    default: gateway from interface with default route
                  -i, --interface NAME	Interface for addresses and routes
                    default: from --outbound-if4 and --outbound-if6, if any
                             otherwise interface with first default route
                  -o, --outbound ADDR	Bind to address as outbound source
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: use source address from routing tables
                  --outbound-if4 NAME	Bind to outbound interface for IPv4
                    default: use interface from default route
                  --outbound-if6 NAME	Bind to outbound interface for IPv6
                    default: use interface from default route
                  -D, --dns ADDR	Use IPv4 or IPv6 address as DNS
                    can be specified multiple times
                    a single, empty option disables DNS information
                    default: use addresses from /etc/resolv.conf
                  -S, --search LIST	Space-separated list, search domains
                    a single, empty option disables the DNS search list
                  -H, --hostname NAME 	Hostname to configure client with
                  --fqdn NAME		FQDN to configure client with
                    default: use search list from /etc/resolv.conf
                  --no-dhcp-dns	No DNS list in DHCP/DHCPv6/NDP
                  --no-dhcp-search	No list in DHCP/DHCPv6/NDP
                  --map-host-loopback ADDR	Translate ADDR to refer to host
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: gateway address
                  --map-guest-addr ADDR	Translate ADDR to guest's address
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: none
                  --dns-forward ADDR	Forward DNS queries sent to ADDR
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: don't forward DNS queries
                  --dns-host ADDR	Host nameserver to direct queries to
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: first nameserver from host's /etc/resolv.conf
                  --no-tcp		Disable TCP protocol handler
                  --no-udp		Disable UDP protocol handler
                  --no-icmp		Disable ICMP/ICMPv6 protocol handler
                  --no-dhcp		Disable DHCP server
                  --no-ndp		Disable NDP responses
                  --no-dhcpv6		Disable DHCPv6 server
                  --no-ra		Disable router advertisements
                  --freebind		Bind to any address for forwarding
                  --no-map-gw		Don't map gateway address to host
                  -4, --ipv4-only	Enable IPv4 operation only
                  -6, --ipv6-only	Enable IPv6 operation only
                  -t, --tcp-ports SPEC	TCP port forwarding to guest
                    can be specified multiple times
                    SPEC can be:
                      'none': don't forward any ports
                      'all': forward all unbound, non-ephemeral ports
                      a comma-separated list, optionally ranged with '-'
                        and optional target ports after ':', with optional
                        address specification suffixed by '/' and optional
                        interface prefixed by '%'. Ranges can be reduced by
                        excluding ports or ranges prefixed by '~'
                        Examples:
                        -t 22		Forward local port 22 to 22 on guest
                        -t 22:23	Forward local port 22 to 23 on guest
                        -t 22,25	Forward ports 22, 25 to ports 22, 25
                        -t 22-80  	Forward ports 22 to 80
                        -t 22-80:32-90	Forward ports 22 to 80 to
                    			corresponding port numbers plus 10
                        -t 192.0.2.1/5	Bind port 5 of 192.0.2.1 to guest
                        -t 5-25,~10-20	Forward ports 5 to 9, and 21 to 25
                        -t ~25		Forward all ports except for 25
                    default: none
                  -u, --udp-ports SPEC	UDP port forwarding to guest
                    SPEC is as described for TCP above
                    default: none
                  -1, --one-off	Quit after handling one single client

                Not in jpasst yet (refused with a message): vhost-user and its options,
                --stats, --conf-path. Deprecated in passt, accepted: -e, --stderr.

                jpasst only, for tests and debugging:
                  --udp-timeout SECONDS	Idle time before a UDP flow closes
                    default: 180
                  --icmp-timeout SECONDS	Idle time before an echo flow closes
                    default: 60
                  --no-seccomp		No system call filter (to debug one it lacks)
                """;
    }
}
