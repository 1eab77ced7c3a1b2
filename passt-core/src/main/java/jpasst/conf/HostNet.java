package jpasst.conf;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InterfaceAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.List;

import jpasst.packet.Ip4;
import jpasst.sys.SockAddr;
import jpasst.util.Log;
import jpasst.util.TextFiles;

/**
 * Fills what the options left open from the host, as passt's conf.c does: the interface with
 * the first default route (from /proc/net/route and /proc/net/ipv6_route, no netlink needed),
 * its address and prefix (java.net.NetworkInterface), the default gateways, and up to three
 * resolvers and the search list from /etc/resolv.conf. A loopback resolver (127.0.0.53 of
 * systemd-resolved) is reachable by the guest only through the host-loopback mapping, so it is
 * handed out as that address (the gateway's by default), as passt does; with --no-map-gw or
 * --map-host-loopback none it is left out. -i, else --outbound-if4/--outbound-if6, name the
 * interface to take addresses and routes from.
 */
public final class HostNet {
    private HostNet() {}

    public static void complete(Conf.Builder c) {
        complete(c, "/proc/net/route", "/proc/net/ipv6_route", "/etc/resolv.conf");
    }

    static void complete(Conf.Builder c, String route4, String route6, String resolvConf) {
        // -i wins; else --outbound-if4/6 name the template interface of their version
        if (c.ifname4 == null && c.outboundIf4 != null) c.ifname4 = c.outboundIf4;
        if (c.ifname6 == null && c.outboundIf6 != null) c.ifname6 = c.outboundIf6;
        boolean want4 = c.v4, want6 = c.v6;
        if (c.v4) complete4(c, route4);
        if (c.v6) complete6(c, route6);
        if (!c.v4 && !c.v6) throw new ConfException("External interface not usable");
        if ((want4 && c.outboundIf4 != null && !c.v4) || (want6 && c.outboundIf6 != null && !c.v6)) {
            throw new ConfException("External interface not usable");
        }
        if (c.v4 && c.mtu < 68) Log.warn("MTU " + c.mtu + " is too small for IPv4 (minimum 68)");
        if (c.v6 && c.mtu < 1280) Log.warn("MTU " + c.mtu + " is too small for IPv6 (minimum 1280)");
        resolv(c, resolvConf);
    }

    private static void complete4(Conf.Builder c, String route4) {
        String[] def = defaultRoute4(route4, c.ifname4);
        if (c.ifname4 == null) c.ifname4 = def != null ? def[0] : null;
        if (!c.gw4Set && def != null) c.gw4 = Integer.reverseBytes((int) Long.parseLong(def[1], 16));
        if (!c.addr4Set || !c.prefix4Set) {
            InterfaceAddress ia = ifaceAddress(c.ifname4, Inet4Address.class);
            if (ia != null) {
                if (!c.addr4Set) c.addr4 = SockAddr.toInt((Inet4Address) ia.getAddress());
                if (!c.prefix4Set) c.prefix4 = ia.getNetworkPrefixLength();
            }
        }
        if (c.addr4 == 0) {
            if (c.outboundIf4 != null) { // its interface must serve: "External interface not usable"
                c.v4 = false;
                return;
            }
            local4(c);
            return;
        }
        if (!c.prefix4Set && c.prefix4 == 0) c.prefix4 = defaultPrefix(c.addr4);
        if (c.gw4 == 0) {
            // No default route: passt still needs an address for itself; use the first host of the subnet.
            c.gw4 = (c.addr4 & Ip4.mask(c.prefix4)) + 1;
            if (c.gw4 == c.addr4) c.gw4++;
        }
    }

    /** The guest's address in local mode, 169.254.2.1/16, and the gateway's, 169.254.2.2 (passt's). */
    public static final int LOCAL_ADDR4 = 0xa9fe0201, LOCAL_GW4 = 0xa9fe0202, LOCAL_PREFIX4 = 16;

    /**
     * passt's local mode for disconnected setups: no host interface with an IPv4 address to take
     * as a template, so the guest gets a link-local address and the gateway stands for the host's
     * loopback as usual, instead of IPv4 being turned off. What the options gave is kept.
     */
    private static void local4(Conf.Builder c) {
        Log.info("IPv4: no external interface as template, use local mode");
        c.ifname4 = null;
        c.addr4 = LOCAL_ADDR4;
        if (!c.prefix4Set) c.prefix4 = LOCAL_PREFIX4;
        if (!c.gw4Set) c.gw4 = LOCAL_GW4;
    }

    /**
     * passt's local mode for IPv6: no host interface with an address to take as a template, so
     * the guest gets none (it keeps its link-local one, which the daemon learns from its frames),
     * and fe80::1 is its router and our own link-local address, standing for the host's loopback.
     * No DHCPv6: there is nothing to hand out.
     */
    private static void local6(Conf.Builder c) {
        Log.info("IPv6: no external interface as template, use local mode");
        c.ifname6 = null;
        if (!c.gw6Set) {
            c.gw6Hi = 0xfe80L << 48;
            c.gw6Lo = 1;
        }
        ourLinkLocal6(c);
        c.noDhcpv6 = true;
    }

    private static int defaultPrefix(int a) {
        int top = a >>> 24;
        return top < 128 ? 8 : top < 192 ? 16 : 24;
    }

    /** {iface, gateway hex (little-endian as in /proc)} of the first IPv4 default route, or null. */
    static String[] defaultRoute4(String route4, String wantIf) {
        for (String line : TextFiles.lines(route4)) {
            String[] f = TextFiles.fields(line);
            if (f.length < 8 || f[0].equals("Iface")) continue;
            if (!f[1].equals("00000000") || !f[7].equals("00000000")) continue;
            if (wantIf != null && !wantIf.equals(f[0])) continue;
            return new String[] {f[0], f[2]};
        }
        return null;
    }

    private static void complete6(Conf.Builder c, String route6) {
        String[] def = defaultRoute6(route6, c.ifname6);
        if (c.ifname6 == null) c.ifname6 = def != null ? def[0] : null;
        if (!c.gw6Set && def != null) {
            c.gw6Hi = Long.parseUnsignedLong(def[1].substring(0, 16), 16);
            c.gw6Lo = Long.parseUnsignedLong(def[1].substring(16), 16);
        }
        if (!c.addr6Set && c.ifname6 != null) {
            InterfaceAddress ia = ifaceAddress(c.ifname6, Inet6Address.class);
            if (ia != null) {
                Inet6Address a = (Inet6Address) ia.getAddress();
                c.addr6Hi = SockAddr.hi(a);
                c.addr6Lo = SockAddr.lo(a);
                c.prefix6 = ia.getNetworkPrefixLength();
            }
        }
        if (c.addr6Hi == 0 && c.addr6Lo == 0) {
            // local mode needs IPv6 on the host's loopback, which stands behind fe80::1 (a host
            // without IPv6, or with it disabled, has no ::1: IPv6 stays off, its sockets could not
            // even be made); --outbound-if6's interface must serve: "External interface not usable"
            if (c.outboundIf6 == null && hasIpv6Loopback(route6)) {
                local6(c);
            } else {
                c.v6 = false;
            }
            return;
        }
        ourLinkLocal6(c);
    }

    /**
     * passt's own link-local address: the gateway's if that is link-local (the router the
     * guest learns from our advertisements is the one whose neighbour it resolves), else fe80::1.
     */
    private static void ourLinkLocal6(Conf.Builder c) {
        if ((c.gw6Hi >>> 48) == 0xfe80) {
            c.ourLl6Hi = c.gw6Hi;
            c.ourLl6Lo = c.gw6Lo;
        } else {
            c.ourLl6Hi = 0xfe80L << 48;
            c.ourLl6Lo = 1;
        }
    }

    /** Whether ::1 is configured: its /128 route is in /proc/net/ipv6_route. */
    static boolean hasIpv6Loopback(String route6) {
        for (String line : TextFiles.lines(route6)) {
            if (line.startsWith("00000000000000000000000000000001 80 ")) return true;
        }
        return false;
    }

    /** {iface, gateway as 32 hex digits} of the first IPv6 default route, or null. */
    static String[] defaultRoute6(String route6, String wantIf) {
        for (String line : TextFiles.lines(route6)) {
            String[] f = TextFiles.fields(line);
            if (f.length < 10) continue;
            if (!f[0].equals("00000000000000000000000000000000") || !f[1].equals("00")) continue;
            if (f[9].equals("lo")) continue;
            if (f[4].equals("00000000000000000000000000000000")) continue;
            if (wantIf != null && !wantIf.equals(f[9])) continue;
            return new String[] {f[9], f[4]};
        }
        return null;
    }

    /** Whether the host has an interface named {@code name} (passt's if_nametoindex() for -i). */
    static boolean interfaceExists(String name) {
        if (name.isEmpty() || name.length() >= Options.IFNAMSIZ) return false;
        try {
            return NetworkInterface.getByName(name) != null;
        } catch (SocketException e) {
            return false;
        }
    }

    private static InterfaceAddress ifaceAddress(String ifname, Class<?> family) {
        if (ifname == null) return null;
        try {
            NetworkInterface ni = NetworkInterface.getByName(ifname);
            if (ni == null) return null;
            for (InterfaceAddress ia : ni.getInterfaceAddresses()) {
                if (!family.isInstance(ia.getAddress())) continue;
                if (ia.getAddress() instanceof Inet6Address a6
                        && (a6.isLinkLocalAddress() || a6.isLoopbackAddress())) continue;
                return ia;
            }
        } catch (SocketException e) {
            Log.warn("Cannot read addresses of " + ifname + ": " + e.getMessage());
        }
        return null;
    }

    /**
     * Resolvers and search list from resolv.conf, as passt's get_dns(): only for what the options
     * left open (a family's resolvers unless -D gave some of that family or -D none; the search
     * list unless -S). The first resolver of a family read is the --dns-host target unless one was
     * given. A loopback resolver, or one at the host-loopback address (the gateway, typically),
     * is handed out as that address and queries to it go to the host's resolver (an implicit
     * --dns-forward of that address); without a host-loopback address such a resolver is left out.
     */
    private static void resolv(Conf.Builder c, String resolvConf) {
        boolean read4 = c.v4 && !c.noDns && c.dns4.length == 0;
        boolean read6 = c.v6 && !c.noDns && c.dns6.length == 0;
        List<Integer> v4 = new ArrayList<>();
        List<long[]> v6 = new ArrayList<>();
        List<String> search = new ArrayList<>();
        for (String line : TextFiles.lines(resolvConf)) {
            String[] f = TextFiles.fields(line);
            if (f.length < 2) continue;
            if (f[0].equals("nameserver")) {
                String a = f[1];
                int pct = a.indexOf('%');
                if (pct >= 0) a = a.substring(0, pct);
                long[] x = AddressLiteral.ip(a);
                if (x == null) continue; // a malformed line in resolv.conf is not ours to fail on
                if (x[0] == 4 && read4) {
                    int ns = (int) x[2];
                    if (c.dnsHost4 == 0) c.dnsHost4 = ns;
                    int map = c.hostLoopbackMap4();
                    if (Ip4.isLoopback(ns) || (map != 0 && ns == map)) {
                        if (c.dnsMatch4 == 0) {
                            if (map == 0) continue; // unreachable for the guest
                            ns = map;
                            c.dnsMatch4 = map;
                        } else {
                            ns = c.dnsMatch4;
                        }
                    }
                    v4.add(ns);
                } else if (x[0] == 6 && read6) {
                    long hi = x[1], lo = x[2];
                    if ((c.dnsHost6Hi | c.dnsHost6Lo) == 0) {
                        c.dnsHost6Hi = hi;
                        c.dnsHost6Lo = lo;
                    }
                    long mapHi = c.hostLoopbackMap6Hi(), mapLo = c.hostLoopbackMap6Lo();
                    boolean mapped = (mapHi | mapLo) != 0;
                    if ((hi == 0 && lo == 1) || (mapped && hi == mapHi && lo == mapLo)) {
                        if ((c.dnsMatch6Hi | c.dnsMatch6Lo) == 0) {
                            if (!mapped) continue;
                            hi = mapHi;
                            lo = mapLo;
                            c.dnsMatch6Hi = mapHi;
                            c.dnsMatch6Lo = mapLo;
                        } else {
                            hi = c.dnsMatch6Hi;
                            lo = c.dnsMatch6Lo;
                        }
                    }
                    v6.add(new long[] {hi, lo});
                }
            } else if (f[0].equals("search") || f[0].equals("domain")) {
                search.clear(); // the last of them wins, as for the host's own resolver
                for (int i = 1; i < f.length; i++) search.add(f[i]);
            }
        }
        if (read4) {
            int n = Math.min(3, v4.size());
            c.dns4 = new int[n];
            for (int i = 0; i < n; i++) c.dns4[i] = v4.get(i);
        }
        if (read6) {
            int m = Math.min(3, v6.size());
            c.dns6 = new long[2 * m];
            for (int i = 0; i < m; i++) {
                c.dns6[2 * i] = v6.get(i)[0];
                c.dns6[2 * i + 1] = v6.get(i)[1];
            }
        }
        if ((read4 || read6) && v4.isEmpty() && v6.isEmpty()) Log.warn("Couldn't get any nameserver address");
        if (!c.searchSet) c.search = search;
    }
}
