package jpasst.flow;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

import jpasst.conf.Conf;
import jpasst.conf.ConfException;
import jpasst.conf.PortSpec;
import jpasst.sys.Descriptors;
import jpasst.sys.Errno;
import jpasst.util.Log;

/**
 * The forwarded ports as they are now: those of {@code -t}/{@code -u} at start, then changed at
 * run time (the control socket, {@code jpasst.control}). The configuration stays what the
 * command line said; this is the daemon's mutable forwarding table, owned by the loop's thread.
 * The sockets themselves are {@link TcpListeners}' and {@link Udp}'s slots; this decides which
 * there are.
 *
 * <p>Every change is atomic: the specs are parsed with passt's rules ({@link PortSpec}), every
 * socket the change needs is bound before anything is changed, and if one bind fails those just
 * bound are closed again and the error says which port and why; nothing changed. Then sockets of
 * removed forwards are closed (the port is free on the host at once); TCP connections they
 * accepted are flows of their own and run on until they close, UDP flows of a removed port end
 * with it. Stricter than at launch, where a port or address family already taken is skipped: at
 * run time every port and family asked for must bind.
 *
 * <p>A replace keeps the sockets of forwards that stay (same port, families and address; the
 * guest port may change), so connections never see a gap; a port that moves to another address
 * is bound anew while the old socket still holds it, which fails: change it in two steps.
 *
 * <p>A port on any address, with both address families on, is one dual-stack socket, as at
 * launch ({@link ForwardSockets}); where that cannot be bound, a socket per family, and both
 * must bind.
 */
public final class Forwards {
    public enum Proto {
        TCP("tcp", "TCP"), UDP("udp", "UDP");

        public final String key, label;

        Proto(String key, String label) {
            this.key = key;
            this.label = label;
        }
    }

    /** One forward as listed: protocol, passt's spec form, the address families listening, sockets. */
    public record Rule(Proto proto, String spec, List<String> families, int sockets) {}

    private final Conf conf;
    private final TcpListeners tcp;
    private final Udp udp;
    /** Where requests' specs are parsed, one after the other (a table is 512 KiB: not one per request). */
    private final PortSpec.Forward scratch;
    private final MemorySegment sa = Arena.ofAuto().allocate(jpasst.sys.SockAddr.STORAGE, 8);
    private final MemorySegment opt = Arena.ofAuto().allocate(16, 8);
    private long added, removed, failed;

    /** {@code ephemeralLow}-{@code ephemeralHigh}: the host's ephemeral range, read before the daemon confines itself. */
    public Forwards(Conf conf, TcpListeners tcp, Udp udp, int ephemeralLow, int ephemeralHigh) {
        this.conf = conf;
        this.tcp = tcp;
        this.udp = udp;
        this.scratch = PortSpec.parse(List.of(), ephemeralLow, ephemeralHigh);
    }

    private ListenerSlots slots(Proto p) {
        return p == Proto.TCP ? tcp.slots() : udp.listeners();
    }

    /**
     * A socket a change needs: where, for which families, and once bound its descriptor (two,
     * an IPv4 and an IPv6 one, where a dual-stack one could not be bound).
     */
    private record Want(Proto proto, int port, int fams, PortSpec.Bind bind, int target, int[] fd) {
        Want(Proto proto, int port, int fams, PortSpec.Bind bind, int target) {
            this(proto, port, fams, bind, target, new int[] {-1, -1});
        }

        /** The families socket {@code k} takes. */
        int fams(int k) {
            return fd[1] < 0 ? fams : k == 0 ? ListenerSlots.IPV4 : ListenerSlots.IPV6;
        }

        void close() {
            for (int i = 0; i < 2; i++) {
                if (fd[i] >= 0) Descriptors.close(fd[i]);
                fd[i] = -1;
            }
        }
    }

    private PortSpec.Forward parse(Proto p, List<String> specs) {
        if (p == Proto.TCP && conf.noTcp) throw new ConfException("TCP port forwarding requested but TCP is disabled");
        if (p == Proto.UDP && conf.noUdp) throw new ConfException("UDP port forwarding requested but UDP is disabled");
        return PortSpec.parse(specs, scratch);
    }

    /** Every socket the forwards of {@code fwd} need: a port and its families each. */
    private List<Want> wants(Proto p, PortSpec.Forward fwd) {
        List<Want> out = new ArrayList<>();
        for (int port = fwd.nextForwarded(0); port >= 0; port = fwd.nextForwarded(port + 1)) {
            PortSpec.Bind b = fwd.bindOf(port);
            int fams = ForwardSockets.families(conf, b);
            if (fams != 0) out.add(new Want(p, port, fams, b, fwd.targetOf(port)));
        }
        return out;
    }

    /**
     * The live slots of one protocol by port, for one request: (port, slot) pairs sorted, looked
     * up by binary search (a request names up to 65 535 ports, and as many may listen).
     */
    private static final class ByPort {
        final ListenerSlots s;
        final long[] keys;

        ByPort(ListenerSlots s) {
            this.s = s;
            long[] k = new long[s.count()];
            int n = 0;
            for (int i = 0; i < s.highWater(); i++) if (s.live(i)) k[n++] = (long) s.port(i) << 32 | i;
            java.util.Arrays.sort(k, 0, n);
            keys = k;
        }

        /** The index in {@link #keys} of the first slot on {@code port}, or -1. */
        int first(int port) {
            int i = java.util.Arrays.binarySearch(keys, (long) port << 32);
            if (i < 0) i = -i - 1;
            return i < keys.length && (int) (keys[i] >>> 32) == port ? i : -1;
        }

        /** The slot at index {@code i} if it is still on {@code port}, else -1. */
        int slot(int i, int port) {
            return i >= 0 && i < keys.length && (int) (keys[i] >>> 32) == port ? (int) keys[i] : -1;
        }

        /** Whether a live slot on {@code port} bound as {@code b} takes any of {@code fams}. */
        boolean overlaps(int port, int fams, PortSpec.Bind b) {
            for (int i = first(port), slot; (slot = slot(i, port)) >= 0; i++) {
                if ((s.families(slot) & fams) != 0 && Objects.equals(s.bind(slot), b)) return true;
            }
            return false;
        }

        /**
         * The live slots on {@code port} bound as {@code b} that take exactly {@code fams}: one
         * socket, or for both families a socket per family (where a dual-stack one could not be
         * bound); null if there are none such.
         */
        int[] cover(int port, int fams, PortSpec.Bind b) {
            int four = -1, six = -1;
            for (int i = first(port), slot; (slot = slot(i, port)) >= 0; i++) {
                if (!Objects.equals(s.bind(slot), b)) continue;
                if (s.families(slot) == fams) return new int[] {slot};
                if (s.families(slot) == ListenerSlots.IPV4) four = slot;
                if (s.families(slot) == ListenerSlots.IPV6) six = slot;
            }
            return fams == ListenerSlots.BOTH && four >= 0 && six >= 0 ? new int[] {four, six} : null;
        }
    }

    /**
     * Adds the forwards of {@code tcpSpecs} and {@code udpSpecs} (either may be empty), each
     * list read as that many {@code -t} (or {@code -u}) options; returns how many sockets now
     * listen for them.
     *
     * @throws ConfException nothing changed, and why
     */
    public int add(List<String> tcpSpecs, List<String> udpSpecs) {
        List<Want> want = new ArrayList<>();
        for (Proto p : Proto.values()) {
            List<String> specs = p == Proto.TCP ? tcpSpecs : udpSpecs;
            if (specs.isEmpty()) continue;
            ByPort now = new ByPort(slots(p));
            for (Want w : wants(p, parse(p, specs))) {
                if (now.overlaps(w.port, w.fams, w.bind)) {
                    failed++;
                    throw new ConfException(p.label + " port " + w.port + " (" + family(w.fams) + ") is forwarded already");
                }
                want.add(w);
            }
        }
        return bindAll(want, List.of());
    }

    /**
     * Removes the forwards of host ports the specs name (targets, if given, are not looked at;
     * a spec with an address or interface removes only the sockets bound so); returns how many
     * sockets were closed.
     *
     * @throws ConfException a named port is not forwarded: nothing changed
     */
    public int remove(List<String> tcpSpecs, List<String> udpSpecs) {
        List<int[]> gone = new ArrayList<>(); // {proto ordinal, slot}
        for (Proto p : Proto.values()) {
            List<String> specs = p == Proto.TCP ? tcpSpecs : udpSpecs;
            for (String spec : specs) {
                PortSpec.Forward fwd = parse(p, List.of(spec));
                // "all" and exclusions name thousands of ports: what of them is forwarded goes
                boolean lenient = fwd.isAll() || fwd.count() > 1024;
                ListenerSlots s = slots(p);
                ByPort now = new ByPort(s);
                int matched = 0;
                for (int port = fwd.nextForwarded(0); port >= 0; port = fwd.nextForwarded(port + 1)) {
                    PortSpec.Bind b = fwd.bindOf(port);
                    int found = 0;
                    for (int i = now.first(port), slot; (slot = now.slot(i, port)) >= 0; i++) {
                        if (!b.equals(PortSpec.Bind.ANY) && !b.equals(s.bind(slot))) continue;
                        gone.add(new int[] {p.ordinal(), slot});
                        found++;
                    }
                    if (found == 0 && !lenient) {
                        failed++;
                        throw new ConfException(p.label + " port " + port + " is not forwarded" + (b.equals(PortSpec.Bind.ANY)
                                ? "" : " at " + prefix(b)) + ": nothing removed");
                    }
                    matched += found;
                }
                if (matched == 0) {
                    failed++;
                    throw new ConfException("No " + p.label + " port of '" + spec + "' is forwarded: nothing removed");
                }
            }
        }
        int n = 0;
        for (int[] g : gone) {
            Proto p = Proto.values()[g[0]];
            if (!slots(p).live(g[1])) continue; // (named twice)
            close(p, g[1]);
            n++;
        }
        removed += n;
        return n;
    }

    /**
     * Makes the forwards of each protocol given (non-null) exactly those of its specs (an empty
     * list: none); a protocol not given stays as it is. Sockets that stay are kept. Returns
     * {added, kept, removed} sockets.
     *
     * @throws ConfException a bind failed, or a spec is bad: the old set is untouched
     */
    public int[] replace(List<String> tcpSpecs, List<String> udpSpecs) {
        List<Want> want = new ArrayList<>();
        List<int[]> keep = new ArrayList<>(); // {proto, slot, target}
        List<int[]> gone = new ArrayList<>();
        for (Proto p : Proto.values()) {
            List<String> specs = p == Proto.TCP ? tcpSpecs : udpSpecs;
            if (specs == null) continue;
            ListenerSlots s = slots(p);
            boolean[] kept = new boolean[s.highWater()];
            if (!specs.isEmpty()) {
                ByPort now = new ByPort(s);
                for (Want w : wants(p, parse(p, specs))) {
                    int[] have = now.cover(w.port, w.fams, w.bind);
                    if (have == null) {
                        want.add(w);
                        continue;
                    }
                    for (int i : have) {
                        kept[i] = true;
                        keep.add(new int[] {p.ordinal(), i, w.target});
                    }
                }
            }
            for (int i = 0; i < s.highWater(); i++) if (s.live(i) && !kept[i]) gone.add(new int[] {p.ordinal(), i});
        }
        int added = bindAll(want, gone);
        for (int[] k : keep) slots(Proto.values()[k[0]]).target(k[1], k[2]);
        return new int[] {added, keep.size(), gone.size()};
    }

    /**
     * Binds the sockets of every one of {@code want}; all bound, closes the slots {@code gone}
     * and serves the new sockets; returns how many. One failed: closes those bound and throws,
     * nothing changed.
     */
    private int bindAll(List<Want> want, List<int[]> gone) {
        int bound = 0;
        for (Want w : want) {
            int fd = open(w, w.fams);
            if (fd >= 0) {
                w.fd[0] = fd;
                bound++;
                continue;
            }
            if (w.fams != ListenerSlots.BOTH) refuse(want, w, w.fams, fd);
            // no dual-stack socket: a socket per family, as passt, and both must bind
            for (int k = 0; k < 2; k++) {
                int fams = k == 0 ? ListenerSlots.IPV4 : ListenerSlots.IPV6;
                fd = open(w, fams);
                if (fd < 0) refuse(want, w, fams, fd);
                w.fd[k] = fd;
                bound++;
            }
        }
        for (int[] g : gone) close(Proto.values()[g[0]], g[1]);
        removed += gone.size();
        for (Want w : want) {
            for (int k = 0; k < 2 && w.fd[k] >= 0; k++) {
                int r = w.proto == Proto.TCP ? tcp.add(w.fd[k], w.port, w.fams(k), w.bind, w.target)
                        : udp.addListener(w.fd[k], w.port, w.fams(k), w.bind, w.target);
                if (r < 0) { // (epoll_ctl: out of memory) the socket goes, the error is said
                    Descriptors.close(w.fd[k]);
                    Log.warn(w.proto.label + " port " + w.port + ": epoll_ctl: " + Errno.text(r));
                    bound--;
                    continue;
                }
                added++;
            }
        }
        if (Log.debugEnabled() && (!want.isEmpty() || !gone.isEmpty())) {
            Log.debug("Forwards: " + bound + " sockets added, " + gone.size() + " closed");
        }
        return bound;
    }

    /** A bound socket of {@code w}'s port taking {@code fams}, or a negated errno. */
    private int open(Want w, int fams) {
        return ForwardSockets.open(conf, w.proto == Proto.TCP, w.port, fams, w.bind, sa, opt);
    }

    /** The socket of {@code w} for {@code fams} failed with {@code err}: closes what {@code want} bound, and says why. */
    private void refuse(List<Want> want, Want w, int fams, int err) {
        for (Want o : want) o.close();
        failed++;
        String msg = "Failed to bind " + w.proto.label + " port " + w.port + " (" + family(fams)
                + (w.bind.equals(PortSpec.Bind.ANY) ? "" : ", " + prefix(w.bind)) + "): " + Errno.text(err)
                + ": nothing changed";
        Log.info(msg);
        throw new ConfException(msg);
    }

    private void close(Proto p, int slot) {
        if (p == Proto.TCP) tcp.remove(slot);
        else udp.removeListener(slot);
    }

    private static String family(int fams) {
        return fams == ListenerSlots.BOTH ? "IPv4 and IPv6" : fams == ListenerSlots.IPV6 ? "IPv6" : "IPv4";
    }

    /** A spec's "ADDR%IFACE/" part of {@code b}, empty for any address. */
    static String prefix(PortSpec.Bind b) {
        if (b == null || b.equals(PortSpec.Bind.ANY)) return "";
        String a = b.address() == null ? "" : b.family() == 6 ? "[" + b.address() + "]" : b.address();
        return a + (b.iface() == null ? "" : "%" + b.iface()) + "/";
    }

    /**
     * The forwards now, as passt specs: one rule per run of consecutive host ports with the same
     * address, the same shift to the guest's ports and the same families.
     */
    public List<Rule> list() {
        List<Rule> out = new ArrayList<>();
        for (Proto p : Proto.values()) {
            ListenerSlots s = slots(p);
            // {port, target, families bit set, bind index, sockets}
            List<PortSpec.Bind> binds = new ArrayList<>();
            List<int[]> ports = new ArrayList<>();
            for (int i = 0; i < s.highWater(); i++) {
                if (!s.live(i)) continue;
                int bi = binds.indexOf(s.bind(i));
                if (bi < 0) {
                    bi = binds.size();
                    binds.add(s.bind(i));
                }
                ports.add(new int[] {s.port(i), s.target(i), s.families(i), bi, 1});
            }
            ports.sort(Comparator.<int[]>comparingInt(a -> a[3]).thenComparingInt(a -> a[0]).thenComparingInt(a -> a[1]));
            List<int[]> merged = new ArrayList<>();
            for (int[] e : ports) {
                int[] last = merged.isEmpty() ? null : merged.get(merged.size() - 1);
                if (last != null && last[0] == e[0] && last[1] == e[1] && last[3] == e[3]) {
                    last[2] |= e[2];
                    last[4]++;
                } else {
                    merged.add(e.clone());
                }
            }
            for (int i = 0; i < merged.size(); ) {
                int[] first = merged.get(i);
                int j = i, sockets = first[4];
                while (j + 1 < merged.size()) {
                    int[] n = merged.get(j + 1), c = merged.get(j);
                    if (n[0] != c[0] + 1 || n[1] - n[0] != first[1] - first[0] || n[2] != first[2] || n[3] != first[3]) break;
                    sockets += n[4];
                    j++;
                }
                int lastPort = merged.get(j)[0];
                String ports0 = first[0] == lastPort ? Integer.toString(first[0]) : first[0] + "-" + lastPort;
                String spec = prefix(binds.get(first[3])) + ports0;
                if (first[1] != first[0]) {
                    int lastTarget = merged.get(j)[1];
                    spec += ":" + (first[1] == lastTarget ? Integer.toString(first[1]) : first[1] + "-" + lastTarget);
                }
                List<String> fams = new ArrayList<>();
                if ((first[2] & 1) != 0) fams.add("ipv4");
                if ((first[2] & 2) != 0) fams.add("ipv6");
                out.add(new Rule(p, spec, List.copyOf(fams), sockets));
                i = j + 1;
            }
        }
        return out;
    }

    /** Listening sockets of {@code p} now. */
    public int sockets(Proto p) {
        return slots(p).count();
    }

    /** Sockets added, removed, and changes refused, since start. */
    public long added() {
        return added;
    }

    public long removed() {
        return removed;
    }

    public long failed() {
        return failed;
    }
}
