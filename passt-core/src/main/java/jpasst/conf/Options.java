package jpasst.conf;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

import jpasst.packet.Net;
import jpasst.sys.SockAddr;
import jpasst.util.Log;

/**
 * passt's command line, with getopt_long's rules: bundled short options ({@code -fq}), attached
 * or separate arguments ({@code -s/tmp/x}, {@code -s /tmp/x}, {@code --socket=/tmp/x}), and
 * unambiguous abbreviations of long options ({@code --one} for {@code --one-off}). Every option
 * of {@code man passt} (passt mode) is known; pasta-only options and capabilities jpasst does not
 * have yet are refused with a clear message instead of being ignored.
 *
 * Errors throw {@link ConfException} with passt's wording where passt has one; Main prints it
 * and exits 1.
 */
public final class Options {
    private Options() {}

    enum Arg { NONE, REQUIRED }

    record Opt(String name, char shortName, Arg arg) {}

    static final List<Opt> OPTS = List.of(
            new Opt("debug", 'd', Arg.NONE),
            new Opt("quiet", 'q', Arg.NONE),
            new Opt("foreground", 'f', Arg.NONE),
            new Opt("stderr", 'e', Arg.NONE),
            new Opt("log-file", 'l', Arg.REQUIRED),
            new Opt("help", 'h', Arg.NONE),
            new Opt("socket", 's', Arg.REQUIRED),
            new Opt("fd", 'F', Arg.REQUIRED),
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
            new Opt("no-map-gw", '\0', Arg.NONE),
            new Opt("ipv4-only", '4', Arg.NONE),
            new Opt("ipv6-only", '6', Arg.NONE),
            new Opt("one-off", '1', Arg.NONE),
            new Opt("tcp-ports", 't', Arg.REQUIRED),
            new Opt("udp-ports", 'u', Arg.REQUIRED),
            new Opt("trace", '\0', Arg.NONE),
            new Opt("runas", '\0', Arg.REQUIRED),
            new Opt("log-size", '\0', Arg.REQUIRED),
            new Opt("version", '\0', Arg.NONE),
            new Opt("outbound-if4", '\0', Arg.REQUIRED),
            new Opt("outbound-if6", '\0', Arg.REQUIRED),
            new Opt("dns-forward", '\0', Arg.REQUIRED),
            new Opt("dns-host", '\0', Arg.REQUIRED),
            new Opt("no-dhcp-dns", '\0', Arg.NONE),
            new Opt("no-dhcp-search", '\0', Arg.NONE),
            new Opt("fqdn", '\0', Arg.REQUIRED),
            new Opt("print-capabilities", '\0', Arg.NONE),
            new Opt("freebind", '\0', Arg.NONE),
            new Opt("map-host-loopback", '\0', Arg.REQUIRED),
            new Opt("map-guest-addr", '\0', Arg.REQUIRED),
            new Opt("vhost-user", '\0', Arg.NONE),
            // jpasst only, for tests and debugging
            new Opt("udp-timeout", '\0', Arg.REQUIRED),
            new Opt("icmp-timeout", '\0', Arg.REQUIRED),
            // pasta only: known so that the error says so
            new Opt("tcp-ns", 'T', Arg.REQUIRED),
            new Opt("udp-ns", 'U', Arg.REQUIRED),
            new Opt("userns", '\0', Arg.REQUIRED),
            new Opt("netns", '\0', Arg.REQUIRED),
            new Opt("ns-ifname", 'I', Arg.REQUIRED),
            new Opt("config-net", '\0', Arg.NONE));

    /** What the command line asks for besides running: help, version or capabilities. */
    public enum Action { RUN, HELP, VERSION, CAPABILITIES }

    public record Parsed(Conf conf, Action action) {}

    public static Parsed parse(String[] args) {
        Conf c = new Conf();
        Action action = Action.RUN;
        boolean v4Only = false, v6Only = false, debug = false, trace = false;
        List<String[]> dns = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            List<String[]> found = new ArrayList<>(); // {name, value-or-null}
            if (a.startsWith("--") && a.length() > 2) {
                String body = a.substring(2);
                String value = null;
                int eq = body.indexOf('=');
                if (eq >= 0) {
                    value = body.substring(eq + 1);
                    body = body.substring(0, eq);
                }
                Opt o = longOpt(body, a);
                if (o.arg == Arg.NONE && value != null) {
                    throw new ConfException("option '--" + o.name + "' doesn't allow an argument");
                }
                if (o.arg == Arg.REQUIRED && value == null) {
                    if (i + 1 >= args.length) {
                        throw new ConfException("option '--" + o.name + "' requires an argument");
                    }
                    value = args[++i];
                }
                found.add(new String[] {o.name, value});
            } else if (a.startsWith("-") && a.length() > 1) {
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
                            throw new ConfException("option requires an argument -- '" + ch + "'");
                        }
                        found.add(new String[] {o.name, value});
                        break;
                    }
                    found.add(new String[] {o.name, null});
                }
            } else {
                throw new ConfException("Invalid argument: " + a);
            }
            for (String[] f : found) {
                String name = f[0], v = f[1];
                switch (name) {
                    case "debug" -> debug = true;
                    case "trace" -> trace = true;
                    case "quiet" -> c.quiet = true;
                    case "foreground" -> c.foreground = true;
                    case "stderr" -> c.stderrLog = true;
                    case "log-file" -> c.logFile = once(c.logFile, v, "--log-file");
                    case "log-size" -> c.logSize = number(v, "--log-size", 1 << 10, Long.MAX_VALUE);
                    case "help" -> action = Action.HELP;
                    case "version" -> action = Action.VERSION;
                    case "print-capabilities" -> action = Action.CAPABILITIES;
                    case "socket" -> c.socketPath = once(c.socketPath, v, "--socket");
                    case "fd" -> {
                        c.fd = (int) number(v, "--fd", 0, Integer.MAX_VALUE);
                        c.oneOff = true;
                    }
                    case "one-off" -> c.oneOff = true;
                    case "pcap" -> c.pcapFile = once(c.pcapFile, v, "--pcap");
                    case "pid" -> c.pidFile = once(c.pidFile, v, "--pid");
                    case "mtu" -> {
                        long m = numberOr(v, -1);
                        if (m != 0 && (m < 68 || m > 65520)) {
                            throw new ConfException("Invalid MTU: " + v + " (68 - 65520, or 0)");
                        }
                        c.mtu = (int) m;
                        c.mtuSet = true;
                    }
                    case "address" -> address(c, v);
                    case "netmask" -> netmask(c, v);
                    case "mac-addr" -> {
                        try {
                            c.ourMac = Net.parseMac(v);
                        } catch (IllegalArgumentException e) {
                            throw new ConfException("Invalid MAC address: " + v);
                        }
                    }
                    case "gateway" -> gateway(c, v);
                    case "interface" -> {
                        c.ifname4 = v;
                        c.ifname6 = v;
                    }
                    case "outbound" -> outbound(c, v);
                    case "outbound-if4" -> c.outboundIf4 = v;
                    case "outbound-if6" -> c.outboundIf6 = v;
                    case "dns" -> {
                        c.dnsSet = true;
                        if (v.equals("none")) dns.clear();
                        else dns.add(new String[] {v});
                    }
                    case "dns-forward" -> dnsForward(c, v);
                    case "dns-host" -> dnsHost(c, v);
                    case "search" -> {
                        c.searchSet = true;
                        if (v.equals("none")) c.search.clear();
                        else for (String d : v.split("[ ,]+")) if (!d.isEmpty()) c.search.add(d);
                    }
                    case "hostname" -> c.hostname = v;
                    case "fqdn" -> c.fqdn = v;
                    case "no-tcp" -> c.noTcp = true;
                    case "no-udp" -> c.noUdp = true;
                    case "no-icmp" -> c.noIcmp = true;
                    case "no-dhcp" -> c.noDhcp = true;
                    case "no-dhcpv6" -> c.noDhcpv6 = true;
                    case "no-ndp" -> c.noNdp = true;
                    case "no-ra" -> c.noRa = true;
                    case "no-map-gw" -> c.noMapGw = true;
                    case "no-dhcp-dns" -> c.noDhcpDns = true;
                    case "no-dhcp-search" -> c.noDhcpSearch = true;
                    case "ipv4-only" -> v4Only = true;
                    case "ipv6-only" -> v6Only = true;
                    case "tcp-ports" -> c.tcpSpecs.add(v);
                    case "udp-ports" -> c.udpSpecs.add(v);
                    case "runas" -> c.runAs = v;
                    case "freebind" -> c.freebind = true;
                    case "udp-timeout" -> c.udpTimeoutSeconds = (int) number(v, "--udp-timeout", 1, 86400);
                    case "icmp-timeout" -> c.icmpTimeoutSeconds = (int) number(v, "--icmp-timeout", 1, 86400);
                    case "map-host-loopback", "map-guest-addr" -> throw new ConfException(
                            "--" + name + " is not supported yet by jpasst");
                    case "vhost-user" -> throw new ConfException(
                            "--vhost-user is not supported yet by jpasst");
                    case "tcp-ns", "udp-ns", "userns", "netns", "ns-ifname", "config-net" ->
                            throw new ConfException("--" + name + " is for pasta mode only");
                    default -> throw new AssertionError(name);
                }
            }
        }
        if (v4Only && v6Only) throw new ConfException("Options ipv4-only and ipv6-only are mutually exclusive");
        if (v4Only) c.v6 = false;
        if (v6Only) c.v4 = false;
        if (c.quiet && (debug || trace)) throw new ConfException("Conflicting debug and quiet options");
        if (c.socketPath != null && c.fd >= 0) throw new ConfException("Options --socket and --fd are mutually exclusive");
        c.logLevel = trace ? Log.TRACE : debug ? Log.DEBUG : c.quiet ? Log.WARN : Log.INFO;
        for (String[] d : dns) dnsServer(c, d[0]);
        return new Parsed(c, action);
    }

    private static Opt longOpt(String body, String arg) {
        Opt exact = null;
        List<Opt> prefixed = new ArrayList<>();
        for (Opt o : OPTS) {
            if (o.name.equals(body)) exact = o;
            else if (o.name.startsWith(body)) prefixed.add(o);
        }
        if (exact != null) return exact;
        if (prefixed.size() == 1) return prefixed.get(0);
        if (prefixed.isEmpty()) throw new ConfException("unrecognized option '" + arg + "'");
        throw new ConfException("option '" + arg + "' is ambiguous");
    }

    private static Opt shortOpt(char ch) {
        for (Opt o : OPTS) if (o.shortName == ch) return o;
        throw new ConfException("invalid option -- '" + ch + "'");
    }

    private static String once(String old, String v, String name) {
        if (old != null) throw new ConfException("Multiple " + name + " options given");
        return v;
    }

    private static long number(String v, String name, long min, long max) {
        long n = numberOr(v, Long.MIN_VALUE);
        if (n < min || n > max) throw new ConfException("Invalid " + name + ": " + v);
        return n;
    }

    private static long numberOr(String v, long otherwise) {
        try {
            return Long.decode(v.trim());
        } catch (NumberFormatException e) {
            return otherwise;
        }
    }

    /** Parses a dotted-quad IPv4 literal into a host-order int, or throws. */
    public static int parseIp4(String s) {
        String[] p = s.split("\\.", -1);
        if (p.length != 4) throw new ConfException("Invalid address: " + s);
        int v = 0;
        for (String b : p) {
            if (b.isEmpty() || b.length() > 3 || !b.chars().allMatch(Character::isDigit)) {
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

    private static void address(Conf c, String v) {
        String addr = v;
        int prefix = -1;
        int slash = v.indexOf('/');
        if (slash >= 0) {
            addr = v.substring(0, slash);
            prefix = (int) numberOr(v.substring(slash + 1), -1);
        }
        if (addr.contains(":")) {
            if (c.addr6Set) throw new ConfException("Multiple IPv6 addresses given");
            long[] a = parseIp6(addr);
            if (a[0] == 0 && a[1] == 0 || (a[0] >>> 56) == 0xff || a[0] == 0 && a[1] == 1) {
                throw new ConfException("Invalid address: " + v);
            }
            if (slash >= 0 && (prefix < 1 || prefix > 128)) throw new ConfException("Invalid prefix length: " + v);
            c.addr6Hi = a[0];
            c.addr6Lo = a[1];
            if (prefix > 0) c.prefix6 = prefix;
            c.addr6Set = true;
        } else {
            if (c.addr4Set) throw new ConfException("Multiple IPv4 addresses given");
            int a = parseIp4(addr);
            if (a == 0 || a == -1 || jpasst.packet.Ip4.isMulticast(a) || jpasst.packet.Ip4.isLoopback(a)) {
                throw new ConfException("Invalid address: " + v);
            }
            if (slash >= 0) {
                if (prefix < 1 || prefix > 32) throw new ConfException("Invalid prefix length: " + v);
                c.prefix4 = prefix;
                c.prefix4Set = true;
            }
            c.addr4 = a;
            c.addr4Set = true;
        }
    }

    private static void netmask(Conf c, String v) {
        if (c.prefix4Set) throw new ConfException("Multiple netmasks given");
        int prefix;
        if (v.contains(".")) {
            int m = parseIp4(v);
            prefix = Integer.bitCount(m);
            if (jpasst.packet.Ip4.mask(prefix) != m) throw new ConfException("Invalid netmask: " + v);
        } else {
            prefix = (int) numberOr(v, -1);
        }
        if (prefix < 1 || prefix > 32) throw new ConfException("Invalid netmask: " + v);
        c.prefix4 = prefix;
        c.prefix4Set = true;
    }

    private static void gateway(Conf c, String v) {
        if (v.contains(":")) {
            if (c.gw6Set) throw new ConfException("Multiple IPv6 gateways given");
            long[] a = parseIp6(v);
            c.gw6Hi = a[0];
            c.gw6Lo = a[1];
            c.gw6Set = true;
        } else {
            if (c.gw4Set) throw new ConfException("Multiple IPv4 gateways given");
            int a = parseIp4(v);
            if (a == 0 || a == -1 || jpasst.packet.Ip4.isMulticast(a)) throw new ConfException("Invalid gateway address: " + v);
            c.gw4 = a;
            c.gw4Set = true;
        }
    }

    private static void outbound(Conf c, String v) {
        if (v.contains(":")) {
            long[] a = parseIp6(v);
            c.outbound6Hi = a[0];
            c.outbound6Lo = a[1];
        } else {
            c.outbound4 = parseIp4(v);
        }
    }

    private static void dnsForward(Conf c, String v) {
        if (v.contains(":")) {
            long[] a = parseIp6(v);
            c.dnsMatch6Hi = a[0];
            c.dnsMatch6Lo = a[1];
        } else {
            c.dnsMatch4 = parseIp4(v);
        }
    }

    private static void dnsHost(Conf c, String v) {
        if (v.contains(":")) {
            long[] a = parseIp6(v);
            c.dnsHost6Hi = a[0];
            c.dnsHost6Lo = a[1];
        } else {
            c.dnsHost4 = parseIp4(v);
        }
    }

    private static void dnsServer(Conf c, String v) {
        if (v.contains(":")) {
            long[] a = parseIp6(v);
            if (c.dns6.length / 2 < 3) {
                long[] n = java.util.Arrays.copyOf(c.dns6, c.dns6.length + 2);
                n[c.dns6.length] = a[0];
                n[c.dns6.length + 1] = a[1];
                c.dns6 = n;
            }
        } else {
            int a = parseIp4(v);
            if (c.dns4.length < 3) {
                int[] n = java.util.Arrays.copyOf(c.dns4, c.dns4.length + 1);
                n[c.dns4.length] = a;
                c.dns4 = n;
            }
        }
    }

    public static String usage() {
        return """
                Usage: passt [OPTION]...

                  -d, --debug		Be verbose
                      --trace		Be extra verbose, implies --debug
                  -q, --quiet		Don't print informational messages
                  -f, --foreground	Don't run in background
                  -e, --stderr		Log to stderr too
                  -l, --log-file PATH	Log (only) to given file
                  --log-size BYTES	Maximum size of log file
                  --runas UID|UID:GID 	Run as given UID, GID, which can be
                    numeric, or login and group names
                  --version		Show version and exit
                  --print-capabilities	Print capabilities (for vhost-user) and exit
                  -s, --socket PATH	UNIX domain socket path
                    default: probe free path starting from /tmp/passt_1.socket
                  -F, --fd FD		Use FD as pre-opened connected socket
                  -1, --one-off	Quit after handling one single client
                  -p, --pcap FILE	Log tap-facing traffic to pcap file
                  -P, --pid FILE	Write own PID to the given file
                  -m, --mtu MTU	Assign MTU via DHCP/NDP
                    a zero value disables assignment
                    default: 65520: maximum 802.3 MTU minus 802.3 header
                                    length, rounded to 32 bits (IPv4 words)
                  -a, --address ADDR	Assign IPv4 or IPv6 address ADDR[/PREFIX]
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
                    default: search list from /etc/resolv.conf
                  --dns-forward ADDR	Forward DNS queries sent to ADDR
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: don't forward DNS queries
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

                jpasst only, for tests and debugging:
                  --udp-timeout SECONDS	Idle time before a UDP flow closes
                    default: 180
                  --icmp-timeout SECONDS	Idle time before an echo flow closes
                    default: 60
                """;
    }
}
