package jpasst.control;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import jpasst.conf.Conf;
import jpasst.conf.ConfException;
import jpasst.flow.Flows;
import jpasst.flow.Forwards;
import jpasst.flow.Icmp;
import jpasst.flow.Tcp;
import jpasst.flow.TcpListeners;
import jpasst.flow.Udp;
import jpasst.link.Guest;
import jpasst.link.Link;
import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.packet.Eth;
import jpasst.packet.Inany;
import jpasst.packet.Net;
import jpasst.sys.SockAddr;
import jpasst.sys.SocketOptions;
import jpasst.tap.StreamLink;
import jpasst.util.Log;
import jpasst.vhost.VhostUserDevice;
import jpasst.vhost.VhostUserLink;

/**
 * The control protocol's operations, one request line in, one reply line out (protocol version
 * {@value #VERSION}; see README "Runtime control"). A request is a JSON object:
 * {@code {"v":1,"id":7,"op":"forward.add","tcp":["8080:80"]}} ({@code v} and {@code id}
 * optional; {@code id} is echoed). A reply: {@code {"v":1,"id":7,"ok":true,"result":{...}}} or
 * {@code {"v":1,"id":7,"ok":false,"error":"..."}}. Every operation is atomic: it applies whole, or
 * not at all and the error says why.
 *
 * <p>Runs on the loop's thread, between events, and reads the daemon's state where it lies (the
 * flow table, the counters the transports keep as plain fields): nothing on the frame path
 * changes for it. Whatever a request holds, {@link #handle} answers with a reply; no exception
 * leaves it.
 */
public final class Operations {
    public static final int VERSION = 1;
    /** Flows listed at most in one reply (the table holds up to 150 000). */
    public static final int MAX_FLOWS_LISTED = 20_000, DEFAULT_FLOWS_LISTED = 1000;

    /** The frames the guest-side dispatcher dropped, by reason (jpasst.Dispatch). */
    public interface FrameDrops {
        List<String> reasons();

        long dropped(int reason);
    }

    /** A connection's part in a request: {@code watch} subscribes it to events. */
    public interface Session {
        void watch();
    }

    private final Conf conf;
    private final String daemonVersion;
    private final EventLoop loop;
    private final Link link;
    private final Guest guest;
    private final Flows flows;
    private final Tcp tcp;
    private final TcpListeners tcpListeners;
    private final Udp udp;
    private final Icmp icmp;
    private final Forwards forwards;
    private final FrameDrops drops;
    private final SocketOptions options = new SocketOptions();
    private final long started = System.nanoTime();
    private final int defaultLogLevel;
    /** When a raised log level falls back to the default (nanoTime), 0: never. */
    private long logUntil;
    private long requests, errors;
    private Runnable onForwardsChanged = () -> { };

    public Operations(Conf conf, String daemonVersion, EventLoop loop, Link link, Guest guest, Flows flows, Tcp tcp,
                      TcpListeners tcpListeners, Udp udp, Icmp icmp, Forwards forwards, FrameDrops drops) {
        this.conf = conf;
        this.daemonVersion = daemonVersion;
        this.loop = loop;
        this.link = link;
        this.guest = guest;
        this.flows = flows;
        this.tcp = tcp;
        this.tcpListeners = tcpListeners;
        this.udp = udp;
        this.icmp = icmp;
        this.forwards = forwards;
        this.drops = drops;
        this.defaultLogLevel = Log.level();
        loop.onTick(this::tick);
    }

    /** Called after every change of the forwards (the server tells its watchers). */
    void onForwardsChanged(Runnable r) {
        onForwardsChanged = r;
    }

    /** A request that is not right: its message goes back as the error. */
    static final class BadRequest extends Exception {
        BadRequest(String message) {
            super(message);
        }
    }

    /** One request line (without its newline) to its reply (without one). */
    public String handle(String line, Session session) {
        requests++;
        Object id = null;
        try {
            Object parsed;
            try {
                parsed = Json.parse(line);
            } catch (Json.JsonException e) {
                throw new BadRequest(e.getMessage());
            }
            if (!(parsed instanceof Map<?, ?> raw)) throw new BadRequest("a request is a JSON object");
            @SuppressWarnings("unchecked")
            Map<String, Object> req = (Map<String, Object>) raw;
            id = req.get("id");
            if (id instanceof Map || id instanceof List) throw new BadRequest("\"id\" must be a string, number or null");
            Object v = req.getOrDefault("v", (long) VERSION);
            if (!(v instanceof Long n) || n != VERSION) {
                throw new BadRequest("unsupported protocol version " + Json.write(v) + " (this daemon speaks " + VERSION + ")");
            }
            Object op = req.get("op");
            if (!(op instanceof String name)) throw new BadRequest("\"op\" (a string) is missing");
            Object result = operation(name, req, session);
            return reply(id, true, result);
        } catch (BadRequest | ConfException e) {
            errors++;
            return reply(id, false, e.getMessage());
        } catch (RuntimeException e) {
            // a bug: the request fails, the daemon goes on
            errors++;
            Log.warn("Control request failed: " + e);
            return reply(id, false, "internal error: " + e);
        }
    }

    private static String reply(Object id, boolean ok, Object resultOrError) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("v", (long) VERSION);
        if (id != null) r.put("id", id);
        r.put("ok", ok);
        r.put(ok ? "result" : "error", resultOrError);
        return Json.write(r);
    }

    /** The reply to a request line longer than the server takes, or cut off. */
    static String error(String why) {
        return reply(null, false, why);
    }

    private Object operation(String op, Map<String, Object> req, Session session) throws BadRequest {
        return switch (op) {
            case "version" -> {
                allowed(req);
                yield map("protocol", (long) VERSION, "daemon", daemonVersion);
            }
            case "forward.list" -> {
                allowed(req);
                yield forwardList();
            }
            case "forward.add" -> {
                allowed(req, "tcp", "udp");
                List<String> t = specs(req, "tcp"), u = specs(req, "udp");
                if (t.isEmpty() && u.isEmpty()) throw new BadRequest("no spec: give \"tcp\" or \"udp\", a list of -t/-u specs");
                int n = forwards.add(t, u);
                onForwardsChanged.run();
                yield map("sockets_added", (long) n);
            }
            case "forward.remove" -> {
                allowed(req, "tcp", "udp");
                List<String> t = specs(req, "tcp"), u = specs(req, "udp");
                if (t.isEmpty() && u.isEmpty()) throw new BadRequest("no spec: give \"tcp\" or \"udp\", a list of -t/-u specs");
                int n = forwards.remove(t, u);
                onForwardsChanged.run();
                yield map("sockets_removed", (long) n);
            }
            case "forward.replace" -> {
                allowed(req, "tcp", "udp");
                if (!req.containsKey("tcp") && !req.containsKey("udp")) {
                    throw new BadRequest("no set: give \"tcp\" and/or \"udp\", each the whole new list of specs");
                }
                List<String> t = req.containsKey("tcp") ? specs(req, "tcp") : null;
                List<String> u = req.containsKey("udp") ? specs(req, "udp") : null;
                int[] r = forwards.replace(t, u);
                onForwardsChanged.run();
                yield map("sockets_added", (long) r[0], "sockets_kept", (long) r[1], "sockets_removed", (long) r[2]);
            }
            case "flows" -> {
                allowed(req, "proto", "limit");
                yield flowList(req);
            }
            case "stats" -> {
                allowed(req);
                yield stats();
            }
            case "log" -> {
                allowed(req, "level", "seconds");
                yield log(req);
            }
            case "health" -> {
                allowed(req);
                yield health();
            }
            case "watch" -> {
                allowed(req);
                session.watch();
                yield map("watching", true);
            }
            default -> throw new BadRequest("unknown operation \"" + op + "\" (version, forward.list, forward.add,"
                    + " forward.remove, forward.replace, flows, stats, log, health, watch)");
        };
    }

    /** Refuses members an operation does not take (a typo must not pass for a default). */
    private static void allowed(Map<String, Object> req, String... names) throws BadRequest {
        for (String k : req.keySet()) {
            if (k.equals("v") || k.equals("id") || k.equals("op")) continue;
            boolean ok = false;
            for (String n : names) ok |= n.equals(k);
            if (!ok) throw new BadRequest("unknown member \"" + k + "\" for \"" + req.get("op") + "\"");
        }
    }

    private static List<String> specs(Map<String, Object> req, String key) throws BadRequest {
        Object v = req.get(key);
        if (v == null) return List.of();
        if (v instanceof String s) return List.of(s);
        if (!(v instanceof List<?> l)) throw new BadRequest("\"" + key + "\" must be a spec or a list of specs");
        List<String> out = new ArrayList<>();
        for (Object o : l) {
            if (!(o instanceof String s)) throw new BadRequest("\"" + key + "\" must hold strings (passt's -t/-u specs)");
            out.add(s);
        }
        return out;
    }

    private static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    // ---- forwards

    private Object forwardList() {
        List<Object> rules = new ArrayList<>();
        for (Forwards.Rule r : forwards.list()) {
            rules.add(map("proto", r.proto().key, "spec", r.spec(), "families", r.families(), "sockets", (long) r.sockets()));
        }
        return map("forwards", rules, "tcp_sockets", (long) forwards.sockets(Forwards.Proto.TCP),
                "udp_sockets", (long) forwards.sockets(Forwards.Proto.UDP));
    }

    // ---- flows

    private static final String[] PROTO = {"", "tcp", "udp", "icmp"};

    private Object flowList(Map<String, Object> req) throws BadRequest {
        int only = 0;
        Object p = req.get("proto");
        if (p != null) {
            only = p instanceof String s ? List.of(PROTO).indexOf(s) : -1;
            if (only <= 0) throw new BadRequest("\"proto\" is one of \"tcp\", \"udp\", \"icmp\"");
        }
        long limit = DEFAULT_FLOWS_LISTED;
        Object l = req.get("limit");
        if (l != null) {
            if (!(l instanceof Long n) || n < 0 || n > MAX_FLOWS_LISTED) {
                throw new BadRequest("\"limit\" is a number from 0 to " + MAX_FLOWS_LISTED);
            }
            limit = n;
        }
        long now = System.nanoTime();
        List<Object> list = new ArrayList<>();
        boolean truncated = false;
        long[] traffic = new long[4];
        for (int f = 0; f < flows.highWater(); f++) {
            int t = flows.type(f);
            if (t == 0 || (only != 0 && t != only)) continue;
            if (list.size() >= limit) {
                truncated = true;
                break;
            }
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("id", (long) f);
            e.put("proto", PROTO[t]);
            e.put("guest", endpoint(flows.gHi(f), flows.gLo(f), flows.gPort(f)));
            e.put("guest_peer", endpoint(flows.rHi(f), flows.rLo(f), flows.rPort(f)));
            e.put("host_peer", endpoint(flows.hHi(f), flows.hLo(f), flows.hPort(f)));
            e.put("age_s", seconds(now - flows.opened(f)));
            e.put("idle_s", seconds(now - flows.lastActivity(f)));
            if (t == Flows.TCP) {
                e.put("direction", tcp.inbound(f) ? "inbound" : "outbound");
                e.put("state", tcp.stateOf(f));
                int fd = flows.fd(f);
                if (fd >= 0 && options.tcpTraffic(fd, traffic)) {
                    // the host socket's counts: what went to the host peer came from the guest
                    e.put("to_host_bytes", traffic[0]);
                    e.put("to_guest_bytes", traffic[1]);
                    e.put("to_host_segments", traffic[2]);
                    e.put("to_guest_segments", traffic[3]);
                }
            } else {
                e.put("direction", t == Flows.UDP && flows.fd(f) < 0 ? "inbound" : "outbound");
                // the flow's own counts: datagrams (UDP) or echo messages (ICMP) and their bytes
                e.put("to_host_bytes", flows.counted(f, false, true));
                e.put("to_guest_bytes", flows.counted(f, true, true));
                e.put("to_host_packets", flows.counted(f, false, false));
                e.put("to_guest_packets", flows.counted(f, true, false));
            }
            list.add(e);
        }
        Map<String, Object> totals = new LinkedHashMap<>();
        for (int t = Flows.TCP; t <= Flows.ICMP; t++) {
            totals.put(PROTO[t], map("open", (long) flows.count(t), "limit", (long) flows.limit(t)));
        }
        return map("flows", list, "truncated", truncated, "totals", totals);
    }

    private static String endpoint(long hi, long lo, int port) {
        String a = Inany.toString(hi, lo);
        return (a.indexOf(':') >= 0 ? "[" + a + "]" : a) + ":" + port;
    }

    private static Double seconds(long nanos) {
        return Math.round(nanos / 1e6) / 1e3;
    }

    // ---- statistics

    private Object stats() {
        Map<String, Object> events = new LinkedHashMap<>();
        for (int t = 0; t < Refs.count(); t++) {
            long n = loop.events(t);
            if (n > 0) events.put(Refs.name(t), n);
        }
        Map<String, Object> dropped = new LinkedHashMap<>();
        List<String> reasons = drops.reasons();
        for (int i = 0; i < reasons.size(); i++) {
            long n = drops.dropped(i);
            if (n > 0) dropped.put(reasons.get(i), n);
        }
        Map<String, Object> linkStats = new LinkedHashMap<>();
        linkStats.put("transport", conf.vhostUser ? "vhost-user" : "stream");
        linkStats.put("connected", link.connected());
        if (link instanceof StreamLink s) {
            linkStats.put("frames_in", s.framesIn());
            linkStats.put("frames_out", s.framesOut());
            linkStats.put("frames_dropped", s.framesDropped());
            linkStats.put("bad_frames", s.badFrames());
            linkStats.put("bytes_in", s.bytesIn());
        } else if (link instanceof VhostUserLink v) {
            VhostUserDevice d = v.device();
            linkStats.put("frames_in", d.framesIn());
            linkStats.put("frames_out", d.framesOut());
            // frames from the guest in several buffers: copied into one, or TCP with only the headers copied
            linkStats.put("frames_gathered", d.framesGathered());
            linkStats.put("frames_in_pieces", d.framesScattered());
            linkStats.put("frames_dropped", d.dropped());
            linkStats.put("resets", d.resets());
        }
        long ipChecksums = dropIndex("bad IPv4 header checksum");
        return map(
                "uptime_s", seconds(System.nanoTime() - started),
                "events", events,
                "link", linkStats,
                "dropped_frames", dropped,
                "bad_checksums", map("ipv4_header", ipChecksums, "tcp", tcp.badChecksums()),
                "resets", map("tcp_sent_to_guest", tcp.resetsSent()),
                "tcp", map("open", (long) tcp.activeConnections(), "accepted", tcpListeners.accepted()),
                "udp", map("open", (long) udp.active(), "opened", udp.opened(), "expired", udp.expired(),
                        "to_host", udp.toHost(), "to_guest", udp.toGuest(), "dropped", udp.dropped(),
                        "send_errors", udp.sendErrors(), "open_failures", udp.openFailures()),
                "icmp", map("open", (long) icmp.active(), "requests", icmp.requests(), "replies", icmp.replies(),
                        "dropped", icmp.dropped(), "refused", icmp.refused(), "expired", icmp.expired(),
                        "send_errors", icmp.sendErrors()),
                "forwards", map("sockets_added", forwards.added(), "sockets_removed", forwards.removed(),
                        "changes_refused", forwards.failed()),
                "control", map("requests", requests, "errors", errors),
                "loop", map("handler_failures", loop.failures(), "memory_faults", loop.faults()));
    }

    private long dropIndex(String reason) {
        int i = drops.reasons().indexOf(reason);
        return i < 0 ? 0 : drops.dropped(i);
    }

    // ---- log level

    private static final String[] LEVELS = {"error", "warning", "info", "debug", "trace"};

    private Object log(Map<String, Object> req) throws BadRequest {
        int before = Log.level();
        Object lv = req.get("level");
        Object secs = req.get("seconds");
        if (lv == null) {
            if (secs != null) throw new BadRequest("\"seconds\" goes with \"level\"");
            return logState();
        }
        if (!(lv instanceof String name)) throw new BadRequest("\"level\" is a string");
        int level = name.equals("default") ? defaultLogLevel : List.of(LEVELS).indexOf(name);
        if (level < 0) throw new BadRequest("\"level\" is one of error, warning, info, debug, trace, default");
        long until = 0;
        if (secs != null) {
            if (!(secs instanceof Long s) || s < 1 || s > 7 * 86400) throw new BadRequest("\"seconds\" is a number from 1 to 604800");
            if (name.equals("default")) throw new BadRequest("\"default\" takes no \"seconds\"");
            until = loop.now() + s * 1_000_000_000L;
            loop.wakeAt(until);
        }
        Log.level(level);
        logUntil = until;
        if (level != before) Log.notice("Log level " + LEVELS[level] + (until != 0 ? " for " + secs + " s" : "") + " (control socket)");
        return logState();
    }

    private Object logState() {
        return map("level", LEVELS[Log.level()], "default", LEVELS[defaultLogLevel],
                "seconds_left", logUntil == 0 ? null : seconds(Math.max(0, logUntil - System.nanoTime())));
    }

    private void tick(long now) {
        if (logUntil == 0) return;
        if (now - logUntil >= 0) {
            logUntil = 0;
            Log.level(defaultLogLevel);
            Log.notice("Log level back to " + LEVELS[defaultLogLevel]);
        } else {
            loop.wakeAt(logUntil);
        }
    }

    // ---- health

    private Object health() {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("mac", guest.mac == Eth.BROADCAST ? null : Net.macString(guest.mac));
        g.put("ipv4", guest.addr4Seen == 0 ? null : SockAddr.ip4String(guest.addr4Seen));
        g.put("ipv6", guest.addr6Seen() ? SockAddr.ip6String(guest.addr6SeenHi, guest.addr6SeenLo) : null);
        g.put("ipv6_link_local", (guest.addr6LlSeenHi | guest.addr6LlSeenLo) == 0 ? null
                : SockAddr.ip6String(guest.addr6LlSeenHi, guest.addr6LlSeenLo));
        return map("transport", conf.vhostUser ? "vhost-user" : "stream",
                "connected", link.connected(),
                "guest", g,
                "uptime_s", seconds(System.nanoTime() - started),
                "flows", (long) (flows.count(Flows.TCP) + flows.count(Flows.UDP) + flows.count(Flows.ICMP)),
                "log_level", LEVELS[Log.level()]);
    }

    /** Whether the guest is connected now (the server tells its watchers when this changes). */
    boolean connected() {
        return link.connected();
    }

    /** The guest's MAC as learned, or null. */
    String guestMac() {
        return guest.mac == Eth.BROADCAST ? null : Net.macString(guest.mac);
    }
}
