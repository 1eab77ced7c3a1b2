package jpasst.conf;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InterfaceAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import jpasst.packet.Ip4;
import jpasst.sys.SockAddr;
import jpasst.util.Log;

/**
 * Fills what the options left open from the host, as passt's conf.c does: the interface with
 * the first default route (from /proc/net/route and /proc/net/ipv6_route, no netlink needed),
 * its address and prefix (java.net.NetworkInterface), the default gateways, and up to three
 * resolvers and the search list from /etc/resolv.conf. A loopback resolver (127.0.0.53 of
 * systemd-resolved) is reachable by the guest only through the gateway mapping, so it is handed
 * out as the gateway's address, as passt does; with --no-map-gw it is left out.
 */
public final class HostNet {
    private HostNet() {}

    public static void complete(Conf c) {
        complete(c, Path.of("/proc/net/route"), Path.of("/proc/net/ipv6_route"),
                Path.of("/etc/resolv.conf"));
    }

    static void complete(Conf c, Path route4, Path route6, Path resolvConf) {
        if (c.v4) complete4(c, route4);
        if (c.v6) complete6(c, route6);
        if (!c.v4 && !c.v6) throw new ConfException("External interface not usable");
        resolv(c, resolvConf);
    }

    private static void complete4(Conf c, Path route4) {
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
            if (c.ifname4 == null && !c.addr4Set) {
                Log.warn("No external interface with an IPv4 default route: IPv4 disabled");
            } else {
                Log.warn("No IPv4 address on " + c.ifname4 + ": IPv4 disabled");
            }
            c.v4 = false;
            return;
        }
        if (!c.prefix4Set && c.prefix4 == 0) c.prefix4 = defaultPrefix(c.addr4);
        if (c.gw4 == 0) {
            // No default route: passt still needs an address for itself; use the first host of the subnet.
            c.gw4 = (c.addr4 & Ip4.mask(c.prefix4)) + 1;
            if (c.gw4 == c.addr4) c.gw4++;
        }
    }

    private static int defaultPrefix(int a) {
        int top = a >>> 24;
        return top < 128 ? 8 : top < 192 ? 16 : 24;
    }

    /** {iface, gateway hex (little-endian as in /proc)} of the first IPv4 default route, or null. */
    static String[] defaultRoute4(Path route4, String wantIf) {
        for (String line : lines(route4)) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 8 || f[0].equals("Iface")) continue;
            if (!f[1].equals("00000000") || !f[7].equals("00000000")) continue;
            if (wantIf != null && !wantIf.equals(f[0])) continue;
            return new String[] {f[0], f[2]};
        }
        return null;
    }

    private static void complete6(Conf c, Path route6) {
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
            c.v6 = false;
            return;
        }
        // passt's own link-local address: the gateway's if that is link-local, else fe80::1
        if ((c.gw6Hi >>> 48) == 0xfe80) {
            c.ourLl6Hi = c.gw6Hi;
            c.ourLl6Lo = c.gw6Lo;
        } else {
            c.ourLl6Hi = 0xfe80L << 48;
            c.ourLl6Lo = 1;
        }
    }

    /** {iface, gateway as 32 hex digits} of the first IPv6 default route, or null. */
    static String[] defaultRoute6(Path route6, String wantIf) {
        for (String line : lines(route6)) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 10) continue;
            if (!f[0].equals("00000000000000000000000000000000") || !f[1].equals("00")) continue;
            if (f[9].equals("lo")) continue;
            if (f[4].equals("00000000000000000000000000000000")) continue;
            if (wantIf != null && !wantIf.equals(f[9])) continue;
            return new String[] {f[9], f[4]};
        }
        return null;
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

    private static void resolv(Conf c, Path resolvConf) {
        List<int[]> v4 = new ArrayList<>();
        List<long[]> v6 = new ArrayList<>();
        List<String> search = new ArrayList<>();
        for (String line : lines(resolvConf)) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 2) continue;
            if (f[0].equals("nameserver")) {
                String a = f[1];
                int pct = a.indexOf('%');
                if (pct >= 0) a = a.substring(0, pct);
                try {
                    if (a.contains(":")) {
                        long[] x = Options.parseIp6(a);
                        if (x[0] == 0 && x[1] == 1) {
                            if (c.noMapGw || !c.v6) continue;
                            x = new long[] {c.gw6Hi, c.gw6Lo};
                        }
                        v6.add(x);
                    } else {
                        int x = Options.parseIp4(a);
                        if (c.dnsHost4 == 0) c.dnsHost4 = x;
                        if (Ip4.isLoopback(x)) {
                            if (c.noMapGw || !c.v4) continue;
                            x = c.gw4;
                        }
                        v4.add(new int[] {x});
                    }
                } catch (ConfException ignored) {
                    // a malformed line in resolv.conf is not ours to fail on
                }
            } else if (f[0].equals("search") || f[0].equals("domain")) {
                search.clear();
                for (int i = 1; i < f.length; i++) search.add(f[i]);
            }
        }
        if (!c.dnsSet) {
            int n = Math.min(3, v4.size());
            c.dns4 = new int[n];
            for (int i = 0; i < n; i++) c.dns4[i] = v4.get(i)[0];
            int m = Math.min(3, v6.size());
            c.dns6 = new long[2 * m];
            for (int i = 0; i < m; i++) {
                c.dns6[2 * i] = v6.get(i)[0];
                c.dns6[2 * i + 1] = v6.get(i)[1];
            }
        }
        if (!c.searchSet) c.search = search;
    }

    private static List<String> lines(Path p) {
        try {
            return Files.readAllLines(p);
        } catch (IOException e) {
            return List.of();
        }
    }
}
