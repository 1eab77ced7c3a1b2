package jpasst.conf;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;

import jpasst.util.Log;

/**
 * The port forwarding specs of {@code -t/--tcp-ports} and {@code -u/--udp-ports}, parsed as passt's
 * {@code conf_ports()} does in passt mode, into a per-port table.
 *
 * <p>Why a table: the flow layer looks a host port up on every new connection or datagram, so the
 * result is two flat arrays indexed by port number (guest target, listening group) that it can read
 * without allocating, plus a bit set to walk the forwarded ports when opening listening sockets.
 *
 * <p>Forms, each option value being one spec, with any number of options accumulating:
 * <ul>
 * <li>{@code none}: nothing (passt's default); {@code all}: every port from 1 to 65535 outside the
 *     ephemeral range (the host's {@code ip_local_port_range}, a parameter here so tests are
 *     deterministic). Both must stand alone: a second mode, or ports next to them, is an error.
 * <li>{@code [ADDR][%IFACE]/PORTS}, the prefix binding the listening sockets to an address (IPv4 or
 *     IPv6 literal, square brackets allowed) and/or an interface; without it, any address.
 * <li>{@code PORTS}: comma-separated {@code N}, {@code N-M}, {@code N:T}, {@code N-M:T-U} (target
 *     range of the same length), and {@code ~N} / {@code ~N-M} excluded from the others, in any
 *     order. Only exclusions means all non-ephemeral ports but those.
 * </ul>
 *
 * <p>Errors carry passt's own messages. Two things are stricter than passt, on purpose: port 0 is
 * refused as a forwarded or target port (passt's parser lets it through to {@code bind()}, where it
 * means "any port"), and numbers are plain digits (passt's {@code strtoul()} also takes leading
 * blanks and a sign).
 */
public final class PortSpec {
    private PortSpec() {}

    public static final int NUM_PORTS = 1 << 16;

    /** Ephemeral range passt assumes when the sysctl can't be read: RFC 6335's. */
    public static final int EPHEMERAL_MIN_DEFAULT = 49152, EPHEMERAL_MAX_DEFAULT = NUM_PORTS - 1;

    public static final String PORT_RANGE_SYSCTL = "/proc/sys/net/ipv4/ip_local_port_range";

    /** Interface names are at most IFNAMSIZ - 1 characters, as in passt. */
    private static final int IFNAMSIZ = 16;

    public enum Mode { NONE, SPEC, ALL }

    /**
     * Where the listening sockets of a group of ports are bound: {@code family} 0 means no address
     * given (any address, both IP versions), 4 uses {@code addr4} (host order), 6 uses
     * {@code addr6Hi}/{@code addr6Lo}. {@code address} is the literal as given (without brackets),
     * {@code iface} the interface for SO_BINDTODEVICE; either may be null.
     */
    public record Bind(String address, int family, int addr4, long addr6Hi, long addr6Lo, String iface) {
        public static final Bind ANY = new Bind(null, 0, 0, 0, 0, null);

        public boolean anyAddress() {
            return family == 0;
        }
    }

    /** The forwarding table for one protocol, built by {@link PortSpec#parse}; read-only afterwards. */
    public static final class Forward {
        private final int ephemeralLow, ephemeralHigh;
        private final int[] target = new int[NUM_PORTS];
        private final int[] bindIndex = new int[NUM_PORTS];
        private final BitSet forwarded = new BitSet(NUM_PORTS);
        private final List<Bind> binds = new ArrayList<>();
        private final List<String> warnings = new ArrayList<>();
        private Mode mode; // null until a spec sets it
        private int count;

        private Forward(int ephemeralLow, int ephemeralHigh) {
            this.ephemeralLow = ephemeralLow;
            this.ephemeralHigh = ephemeralHigh;
            Arrays.fill(target, -1);
            Arrays.fill(bindIndex, -1);
        }

        public Mode mode() {
            return mode;
        }

        public boolean isNone() {
            return mode == Mode.NONE;
        }

        public boolean isAll() {
            return mode == Mode.ALL;
        }

        public boolean isForwarded(int port) {
            return port >= 0 && port < NUM_PORTS && target[port] >= 0;
        }

        /** The guest port that host port {@code port} goes to, or -1 if it isn't forwarded. */
        public int targetOf(int port) {
            return port >= 0 && port < NUM_PORTS ? target[port] : -1;
        }

        /**
         * The lowest forwarded port at or above {@code from}, or -1: walk them all with
         * {@code for (int p = f.nextForwarded(0); p >= 0; p = f.nextForwarded(p + 1))}.
         */
        public int nextForwarded(int from) {
            if (from >= NUM_PORTS) return -1;
            return forwarded.nextSetBit(Math.max(from, 0));
        }

        /** How many host ports are forwarded. */
        public int count() {
            return count;
        }

        /** Listening groups, one per spec that named ports, in the order given. */
        public List<Bind> binds() {
            return Collections.unmodifiableList(binds);
        }

        /** Index into {@link #binds()} of the group listening on {@code port}, or -1. */
        public int bindIndexOf(int port) {
            return port >= 0 && port < NUM_PORTS ? bindIndex[port] : -1;
        }

        /** Where {@code port} is listened on, or null if it isn't forwarded. */
        public Bind bindOf(int port) {
            int i = bindIndexOf(port);
            return i < 0 ? null : binds.get(i);
        }

        /** Warnings passt would print for these specs (already logged). */
        public List<String> warnings() {
            return Collections.unmodifiableList(warnings);
        }

        public boolean isEphemeral(int port) {
            return port >= ephemeralLow && port <= ephemeralHigh;
        }

        private void set(int port, int to, int group) {
            target[port] = to;
            bindIndex[port] = group;
            forwarded.set(port);
        }

        private void warn(String msg) {
            Log.warn(msg);
            warnings.add(msg);
        }

        /** One spec, as passt's conf_ports(): modes first, then exclusions, then forwarded ranges. */
        private void add(String spec) {
            if (spec.equals("none")) {
                if (mode != null) throw modeConflict(spec);
                mode = Mode.NONE;
                return;
            }
            if (spec.equals("auto")) {
                if (mode != null) throw modeConflict(spec);
                throw new ConfException("'auto' port forwarding is only allowed for pasta");
            }
            if (spec.equals("all")) {
                if (mode != null) throw modeConflict(spec);
                mode = Mode.ALL;
                binds.add(Bind.ANY);
                // port 0 means "any port" to bind(): never forwarded
                for (int p = 1; p < NUM_PORTS; p++) {
                    if (!isEphemeral(p)) set(p, p, 0);
                }
                return;
            }
            if (mode == Mode.NONE || mode == Mode.ALL) {
                throw new ConfException("Specific ports cannot be specified together with all/none/auto");
            }
            mode = Mode.SPEC;

            String ports = spec;
            Bind bind = Bind.ANY;
            int slash = spec.indexOf('/');
            if (slash >= 0) {
                bind = parseBind(spec, spec.substring(0, slash));
                ports = spec.substring(slash + 1);
            }
            String[] chunks = ports.split(",", -1);

            // exclusions first: they may come after the ranges they cut into
            BitSet exclude = new BitSet(NUM_PORTS);
            boolean excludeOnly = true;
            for (String chunk : chunks) {
                if (!chunk.startsWith("~")) {
                    excludeOnly = false;
                    continue;
                }
                long r = range(spec, chunk, 1);
                if (end(r) != chunk.length()) throw invalid(spec);
                for (int p = first(r); p <= last(r); p++) {
                    if (exclude.get(p)) throw new ConfException("Overlapping excluded ranges " + spec);
                    exclude.set(p);
                }
            }

            int group = binds.size();
            binds.add(bind);

            if (excludeOnly) {
                // everything but the exclusions and the ephemeral range; a port an earlier spec
                // already forwards keeps its mapping (passt's second bind of it just fails)
                for (int p = 1; p < NUM_PORTS; p++) {
                    if (isEphemeral(p) || exclude.get(p) || forwarded.get(p)) continue;
                    set(p, p, group);
                }
                return;
            }

            boolean remapped = false;
            for (String chunk : chunks) {
                if (chunk.startsWith("~")) continue;
                long from = range(spec, chunk, 0);
                long to = from;
                int pos = end(from);
                if (pos < chunk.length() && chunk.charAt(pos) == ':') {
                    to = range(spec, chunk, pos + 1);
                    if (last(to) - first(to) != last(from) - first(from)) throw invalid(spec);
                    pos = end(to);
                }
                if (pos != chunk.length()) throw invalid(spec);
                if (first(from) == 0 || first(to) == 0) throw invalid(spec);

                int delta = first(to) - first(from);
                for (int p = first(from); p <= last(from); p++) {
                    if (forwarded.get(p)) remapped = true;
                    if (exclude.get(p)) continue;
                    set(p, p + delta, group);
                }
            }
            // passt warns once per port; once per spec says the same
            if (remapped) warn("Altering mapping of already mapped port number: " + spec);
        }

        private void finish() {
            if (mode == null) mode = Mode.NONE; // passt's default
            count = forwarded.cardinality();
        }
    }

    /**
     * Parses every {@code -t} (or every {@code -u}) value, in order, treating ports from
     * {@code ephemeralLow} to {@code ephemeralHigh} as ephemeral (none if low &gt; high).
     *
     * @throws ConfException with passt's message for the first bad spec
     */
    public static Forward parse(List<String> specs, int ephemeralLow, int ephemeralHigh) {
        if (ephemeralLow < 0 || ephemeralLow >= NUM_PORTS || ephemeralHigh < 0 || ephemeralHigh >= NUM_PORTS) {
            throw new IllegalArgumentException("ephemeral range " + ephemeralLow + "-" + ephemeralHigh);
        }
        Forward f = new Forward(ephemeralLow, ephemeralHigh);
        for (String spec : specs) f.add(spec);
        f.finish();
        return f;
    }

    /** As {@link #parse(List, int, int)}, with this host's ephemeral range. */
    public static Forward parse(List<String> specs) {
        int[] r = ephemeralRange();
        return parse(specs, r[0], r[1]);
    }

    /**
     * This host's ephemeral port range {low, high}, from {@value #PORT_RANGE_SYSCTL}, or RFC 6335's
     * with a warning if that can't be read, as passt's fwd_probe_ephemeral().
     */
    public static int[] ephemeralRange() {
        String content;
        // not Files.readString(): sized by the file's attributes, it stops short on a sysctl
        try (InputStream in = Files.newInputStream(Path.of(PORT_RANGE_SYSCTL))) {
            content = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        } catch (IOException | RuntimeException e) {
            Log.warn("Unable to open " + PORT_RANGE_SYSCTL + ": " + e.getMessage());
            return new int[] {EPHEMERAL_MIN_DEFAULT, EPHEMERAL_MAX_DEFAULT};
        }
        int[] r = parseEphemeralRange(content);
        if (r == null) {
            Log.warn("Unable to parse " + PORT_RANGE_SYSCTL);
            return new int[] {EPHEMERAL_MIN_DEFAULT, EPHEMERAL_MAX_DEFAULT};
        }
        return r;
    }

    /** The sysctl's first line, "LOW\tHIGH", as {low, high}; null if it isn't that. */
    static int[] parseEphemeralRange(String content) {
        int nl = content.indexOf('\n');
        String line = nl >= 0 ? content.substring(0, nl) : content;
        int tab = line.indexOf('\t');
        if (tab < 0) return null;
        int low = number(line, 0, tab), high = number(line, tab + 1, line.length());
        return low < 0 || high < 0 ? null : new int[] {low, high};
    }

    /** Digits from {@code start} to {@code end} as a port number, or -1 if not digits or too big. */
    private static int number(String s, int start, int end) {
        if (start >= end) return -1;
        int v = 0;
        for (int i = start; i < end; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') return -1;
            v = v * 10 + (c - '0');
            if (v >= NUM_PORTS) return -1;
        }
        return v;
    }

    // A parsed "FIRST[-LAST]" packed in a long: first, last, and where parsing stopped.

    private static int first(long r) {
        return (int) (r >>> 48);
    }

    private static int last(long r) {
        return (int) (r >>> 32) & 0xffff;
    }

    private static int end(long r) {
        return (int) r;
    }

    /** passt's parse_port_range() on {@code s} from {@code pos}: "N" or "N-M", M &gt;= N, both &lt; 65536. */
    private static long range(String spec, String s, int pos) {
        int e = digits(s, pos);
        int first = number(s, pos, e);
        if (first < 0) throw invalid(spec);
        int last = first;
        if (e < s.length() && s.charAt(e) == '-') {
            int e2 = digits(s, e + 1);
            last = number(s, e + 1, e2);
            if (last < 0) throw invalid(spec);
            e = e2;
        }
        if (last < first) throw invalid(spec);
        return (long) first << 48 | (long) last << 32 | e;
    }

    private static int digits(String s, int pos) {
        while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') pos++;
        return pos;
    }

    /** The part before '/': "ADDR", "ADDR%IFACE" or "%IFACE", ADDR possibly in square brackets. */
    private static Bind parseBind(String spec, String prefix) {
        String addr = prefix, iface = null;
        int pct = prefix.indexOf('%');
        if (pct >= 0) {
            addr = prefix.substring(0, pct);
            iface = prefix.substring(pct + 1);
            if (iface.length() >= IFNAMSIZ) throw invalid(spec);
            if (iface.isEmpty()) iface = null; // binding to "" is no binding
            if (pct == 0) return new Bind(null, 0, 0, 0, 0, iface);
        }
        if (addr.length() >= 2 && addr.charAt(0) == '[' && addr.charAt(addr.length() - 1) == ']') {
            addr = addr.substring(1, addr.length() - 1);
        }
        long a4 = AddressLiteral.ip4(addr);
        if (a4 >= 0) return new Bind(addr, 4, (int) a4, 0, 0, iface);
        long[] a6 = AddressLiteral.ip6(addr);
        if (a6 == null) throw invalid(spec);
        if (a6[0] == 0 && (a6[1] >>> 32) == 0xffff) {
            // IPv4-mapped: passt keeps addresses as "inany" and binds these as IPv4
            return new Bind(addr, 4, (int) a6[1], 0, 0, iface);
        }
        return new Bind(addr, 6, 0, a6[0], a6[1], iface);
    }

    private static ConfException invalid(String spec) {
        return new ConfException("Invalid port specifier " + spec);
    }

    private static ConfException modeConflict(String spec) {
        return new ConfException("Port forwarding mode '" + spec + "' conflicts with previous mode");
    }
}
