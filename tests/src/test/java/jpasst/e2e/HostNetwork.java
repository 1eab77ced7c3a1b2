package jpasst.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import jpasst.guest.vm.GuestImage;

/**
 * What passt will copy from the host into the guest, read independently of any daemon so tests can
 * compute their expectations: the IPv4 default route (interface and gateway, from
 * {@code /proc/net/route}), that interface's first global IPv4 address and prefix (from
 * {@code ip -4 -o addr}), and the resolvers and search list of a resolv.conf.
 *
 * <p>The DNS rule mirrors passt's, checked against passt 2023 on this machine: each IPv4
 * {@code nameserver} is handed out as is, except a loopback one (e.g. systemd-resolved's
 * 127.0.0.53), which the guest could not reach: passt hands out the gateway instead and forwards
 * queries to it to the host's loopback. The search list is handed out as written.
 */
public final class HostNetwork {
    /** The host's IPv4 default route and the address on its interface. */
    public record Ipv4(String interfaceName, Inet4Address address, int prefixLength, Inet4Address gateway) {
        /** The dotted netmask for {@link #prefixLength()}, e.g. 255.255.255.0. */
        public String netmask() {
            long mask = prefixLength == 0 ? 0 : (0xffffffffL << (32 - prefixLength)) & 0xffffffffL;
            return ((mask >> 24) & 255) + "." + ((mask >> 16) & 255) + "." + ((mask >> 8) & 255) + "." + (mask & 255);
        }
    }

    /** The parts of a resolv.conf passt reads. */
    public record ResolvConf(List<InetAddress> nameservers, List<String> search) {
        public List<Inet4Address> ipv4Nameservers() {
            return nameservers.stream().filter(a -> a instanceof Inet4Address).map(a -> (Inet4Address) a).toList();
        }
    }

    private HostNetwork() {
    }

    /** The host's IPv4 default route, its interface's address and prefix. */
    public static Ipv4 ipv4() {
        try {
            String[] route = defaultRoute();
            String interfaceName = route[0];
            Inet4Address gateway = littleEndianHex(route[2]);
            String addresses = GuestImage.run(List.of("ip", "-4", "-o", "addr", "show", "dev", interfaceName, "scope", "global"));
            Matcher inet = Pattern.compile("\\sinet\\s+([0-9.]+)/([0-9]+)").matcher(addresses);
            if (!inet.find()) {
                throw new AssertionError("no global IPv4 address on " + interfaceName + ":\n" + addresses);
            }
            return new Ipv4(interfaceName, (Inet4Address) InetAddress.getByName(inet.group(1)),
                    Integer.parseInt(inet.group(2)), gateway);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The /proc/net/route line of the default route with the lowest metric, split in fields. */
    private static String[] defaultRoute() throws IOException {
        String[] best = null;
        for (String line : Files.readAllLines(Path.of("/proc/net/route")).stream().skip(1).toList()) {
            String[] fields = line.strip().split("\\s+");
            boolean isDefault = fields.length >= 8 && fields[1].equals("00000000") && fields[7].equals("00000000");
            boolean up = fields.length >= 8 && (Integer.parseInt(fields[3], 16) & 1) != 0;
            if (isDefault && up && (best == null || Integer.parseInt(fields[6]) < Integer.parseInt(best[6]))) {
                best = fields;
            }
        }
        if (best == null) {
            throw new AssertionError("the host has no IPv4 default route: passt would have nothing to hand out");
        }
        return best;
    }

    private static Inet4Address littleEndianHex(String hex) throws UnknownHostException {
        long value = Long.parseLong(hex, 16);
        byte[] bytes = {(byte) value, (byte) (value >> 8), (byte) (value >> 16), (byte) (value >> 24)};
        return (Inet4Address) InetAddress.getByAddress(bytes);
    }

    /** Parses {@code nameserver}, {@code search} and {@code domain} lines (the last search/domain wins). */
    public static ResolvConf resolvConf(Path file) {
        List<InetAddress> nameservers = new ArrayList<>();
        List<String> search = List.of();
        try {
            for (String raw : Files.readAllLines(file)) {
                String line = raw.strip();
                if (line.startsWith("#") || line.startsWith(";") || line.isEmpty()) {
                    continue;
                }
                String[] words = line.split("\\s+");
                switch (words[0].toLowerCase(Locale.ROOT)) {
                    case "nameserver" -> {
                        if (words.length > 1) {
                            nameservers.add(InetAddress.getByName(words[1].replaceAll("%.*", "")));
                        }
                    }
                    case "search", "domain" -> search = List.of(words).subList(1, words.length);
                    default -> { }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        return new ResolvConf(List.copyOf(nameservers), search);
    }

    /**
     * The IPv4 DNS servers a passt user expects in the DHCP lease for this resolv.conf: loopback
     * resolvers become the gateway, duplicates once, in order.
     */
    public static List<String> expectedDhcpDnsServers(ResolvConf resolv, Ipv4 host) {
        Set<String> servers = new LinkedHashSet<>();
        for (Inet4Address server : resolv.ipv4Nameservers()) {
            servers.add((server.isLoopbackAddress() ? host.gateway() : server).getHostAddress());
        }
        return List.copyOf(servers);
    }
}
