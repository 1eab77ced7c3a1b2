package jpasst.control;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code ./passt-ctl}: the control socket of a running daemon from the command line, human
 * tables by default, the replies' JSON with {@code --json}. Exit status 0, 1 if the daemon
 * refused the request (its reason on standard error), 2 for a bad command line, 3 if the socket
 * cannot be reached.
 */
public final class PasstCtl {
    private PasstCtl() {}

    static final String USAGE = """
            Usage: passt-ctl -c PATH [--json] COMMAND
              -c, --conf-path PATH   the daemon's control socket (its -c option)
              --json                 print the daemon's replies as JSON, one line each

            Commands:
              forward list                       the forwarded ports, as -t/-u specs
              forward add [-t SPEC]... [-u SPEC]...
                                                 forward more ports (passt's -t/-u syntax); all or none
              forward remove [-t SPEC]... [-u SPEC]...
                                                 stop forwarding the host ports named; all or none
              forward replace [-t SPEC]... [-u SPEC]...
                                                 the protocols named get exactly these forwards
                                                 ("-t none": no TCP forward); on a failed bind the
                                                 old set stays
              flows [tcp|udp|icmp] [--limit N]   open flows, and totals per protocol
              stats                              counters: events per type, drops by reason...
              log [LEVEL [DURATION]]             show, or set the log level (error, warning, info,
                                                 debug, trace, default) for DURATION (60, 60s, 5m,
                                                 1h; none: until told)
              health                             guest connected, its MAC and addresses, uptime
              watch                              print events (guest connected or gone, forwards
                                                 changed, stopping) until the daemon stops
              raw JSON                           send one request line as it is
            """;

    public static void main(String[] args) {
        int status = run(args, System.out, System.err);
        System.out.flush();
        System.exit(status);
    }

    static final class UsageError extends Exception {
        UsageError(String m) {
            super(m);
        }
    }

    /** Runs one command; its exit status. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        String path = null;
        boolean json = false;
        int i = 0;
        for (; i < args.length; i++) {
            String a = args[i];
            if (a.equals("-c") || a.equals("--conf-path")) {
                if (++i == args.length) return usage(err, a + " needs a path");
                path = args[i];
            } else if (a.startsWith("--conf-path=")) {
                path = a.substring("--conf-path=".length());
            } else if (a.equals("--json")) {
                json = true;
            } else if (a.equals("-h") || a.equals("--help")) {
                out.print(USAGE);
                return 0;
            } else {
                break;
            }
        }
        if (path == null) return usage(err, "no control socket: -c PATH");
        if (i == args.length) return usage(err, "no command");
        List<String> cmd = List.of(args).subList(i, args.length);
        try (ControlClient c = ControlClient.connect(Path.of(path))) {
            return command(c, cmd, json, out);
        } catch (UsageError e) {
            return usage(err, e.getMessage());
        } catch (ControlClient.ControlException e) {
            err.println("passt-ctl: " + e.getMessage());
            return 1;
        } catch (IOException e) {
            err.println("passt-ctl: " + e.getMessage());
            return 3;
        }
    }

    private static int usage(PrintStream err, String why) {
        err.println("passt-ctl: " + why);
        err.print(USAGE);
        return 2;
    }

    private static int command(ControlClient c, List<String> cmd, boolean json, PrintStream out)
            throws IOException, UsageError {
        String verb = cmd.get(0);
        List<String> rest = cmd.subList(1, cmd.size());
        switch (verb) {
            case "forward", "forwards" -> {
                if (rest.isEmpty()) throw new UsageError("forward: list, add, remove or replace");
                String sub = rest.get(0);
                List<String> tcp = new ArrayList<>(), udp = new ArrayList<>();
                specs(rest.subList(1, rest.size()), tcp, udp);
                switch (sub) {
                    case "list" -> {
                        if (!tcp.isEmpty() || !udp.isEmpty()) throw new UsageError("forward list takes no spec");
                        Map<String, Object> r = c.request("forward.list", Map.of());
                        if (json) print(out, r);
                        else forwardTable(out, r);
                    }
                    case "add", "remove" -> {
                        if (tcp.isEmpty() && udp.isEmpty()) throw new UsageError("forward " + sub + ": -t SPEC or -u SPEC");
                        Map<String, Object> r = sub.equals("add") ? c.addForwards(tcp, udp) : c.removeForwards(tcp, udp);
                        if (json) print(out, r);
                        else out.println(sub.equals("add") ? r.get("sockets_added") + " sockets listening"
                                : r.get("sockets_removed") + " sockets closed");
                    }
                    case "replace" -> {
                        if (tcp.isEmpty() && udp.isEmpty()) throw new UsageError("forward replace: -t SPEC or -u SPEC (none: -t none)");
                        Map<String, Object> r = c.replaceForwards(tcp.isEmpty() ? null : tcp, udp.isEmpty() ? null : udp);
                        if (json) print(out, r);
                        else out.println(r.get("sockets_added") + " sockets added, " + r.get("sockets_kept") + " kept, "
                                + r.get("sockets_removed") + " closed");
                    }
                    default -> throw new UsageError("forward: list, add, remove or replace, not " + sub);
                }
            }
            case "flows" -> {
                String proto = null;
                int limit = Operations.DEFAULT_FLOWS_LISTED;
                for (int i = 0; i < rest.size(); i++) {
                    String a = rest.get(i);
                    if (a.equals("--limit") && i + 1 < rest.size()) {
                        limit = number(rest.get(++i), "--limit");
                    } else if (List.of("tcp", "udp", "icmp").contains(a) && proto == null) {
                        proto = a;
                    } else {
                        throw new UsageError("flows [tcp|udp|icmp] [--limit N], not " + a);
                    }
                }
                Map<String, Object> r = c.flows(proto, limit);
                if (json) print(out, r);
                else flowTable(out, r);
            }
            case "stats", "health" -> {
                if (!rest.isEmpty()) throw new UsageError(verb + " takes nothing more");
                Map<String, Object> r = c.request(verb, Map.of());
                if (json) print(out, r);
                else keyValues(out, "", r);
            }
            case "log" -> {
                if (rest.size() > 2) throw new UsageError("log [LEVEL [DURATION]]");
                Map<String, Object> args = new LinkedHashMap<>();
                if (!rest.isEmpty()) args.put("level", rest.get(0));
                if (rest.size() == 2) args.put("seconds", duration(rest.get(1)));
                Map<String, Object> r = c.request("log", args);
                if (json) print(out, r);
                else out.println("log level " + r.get("level") + (r.get("seconds_left") != null
                        ? " for " + r.get("seconds_left") + " s more, then " + r.get("default") : ""));
            }
            case "watch" -> {
                if (!rest.isEmpty()) throw new UsageError("watch takes nothing more");
                Object done = new Object();
                try (var w = c.watch(e -> {
                    synchronized (out) {
                        out.println(json ? Json.write(e) : humanEvent(e));
                        out.flush();
                    }
                })) {
                    // until the daemon closes the connection: the health request fails then
                    synchronized (done) {
                        while (true) {
                            try {
                                done.wait(1000);
                            } catch (InterruptedException ie) {
                                return 0;
                            }
                            c.health();
                        }
                    }
                } catch (IOException e) {
                    return 0;
                }
            }
            case "raw" -> {
                if (rest.size() != 1) throw new UsageError("raw 'JSON'");
                String reply = c.exchange(rest.get(0));
                if (reply == null) throw new IOException("the daemon closed the connection");
                out.println(reply);
                return reply.contains("\"ok\":true") ? 0 : 1;
            }
            default -> throw new UsageError("unknown command " + verb);
        }
        return 0;
    }

    private static void specs(List<String> args, List<String> tcp, List<String> udp) throws UsageError {
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            List<String> to;
            if (a.equals("-t") || a.equals("--tcp-ports")) to = tcp;
            else if (a.equals("-u") || a.equals("--udp-ports")) to = udp;
            else if (a.startsWith("-t") && a.length() > 2) {
                tcp.add(a.substring(2));
                continue;
            } else if (a.startsWith("-u") && a.length() > 2) {
                udp.add(a.substring(2));
                continue;
            } else throw new UsageError("-t SPEC or -u SPEC, not " + a);
            if (++i == args.size()) throw new UsageError(a + " needs a spec");
            to.add(args.get(i));
        }
    }

    private static int number(String s, String what) throws UsageError {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new UsageError(what + ": a number, not " + s);
        }
    }

    /** "60", "60s", "5m", "1h" in seconds. */
    static long duration(String s) throws UsageError {
        long unit = 1;
        String n = s;
        if (s.endsWith("s")) n = s.substring(0, s.length() - 1);
        else if (s.endsWith("m")) {
            unit = 60;
            n = s.substring(0, s.length() - 1);
        } else if (s.endsWith("h")) {
            unit = 3600;
            n = s.substring(0, s.length() - 1);
        }
        try {
            long v = Long.parseLong(n) * unit;
            if (v <= 0) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw new UsageError("a duration is 60, 60s, 5m or 1h, not " + s);
        }
    }

    private static void print(PrintStream out, Object o) {
        out.println(Json.write(o));
    }

    @SuppressWarnings("unchecked")
    private static void forwardTable(PrintStream out, Map<String, Object> r) {
        List<List<String>> rows = new ArrayList<>();
        rows.add(List.of("PROTO", "SPEC", "FAMILIES", "SOCKETS"));
        for (Object o : (List<Object>) r.get("forwards")) {
            Map<String, Object> f = (Map<String, Object>) o;
            rows.add(List.of(str(f.get("proto")), str(f.get("spec")),
                    String.join(",", (List<String>) f.get("families")), str(f.get("sockets"))));
        }
        table(out, rows);
    }

    @SuppressWarnings("unchecked")
    private static void flowTable(PrintStream out, Map<String, Object> r) {
        List<List<String>> rows = new ArrayList<>();
        rows.add(List.of("ID", "PROTO", "DIR", "GUEST", "GUEST'S PEER", "HOST PEER", "STATE", "TO HOST", "TO GUEST", "AGE"));
        for (Object o : (List<Object>) r.get("flows")) {
            Map<String, Object> f = (Map<String, Object>) o;
            rows.add(List.of(str(f.get("id")), str(f.get("proto")), str(f.get("direction")), str(f.get("guest")),
                    str(f.get("guest_peer")), str(f.get("host_peer")), str(f.getOrDefault("state", "-")),
                    traffic(f.get("to_host_bytes"), f.getOrDefault("to_host_segments", f.get("to_host_packets"))),
                    traffic(f.get("to_guest_bytes"), f.getOrDefault("to_guest_segments", f.get("to_guest_packets"))),
                    f.get("age_s") + "s"));
        }
        table(out, rows);
        Map<String, Object> totals = (Map<String, Object>) r.get("totals");
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, Object> e : totals.entrySet()) {
            Map<String, Object> t = (Map<String, Object>) e.getValue();
            if (b.length() > 0) b.append(", ");
            b.append(e.getKey()).append(' ').append(t.get("open")).append('/').append(t.get("limit"));
        }
        out.println("open/limit: " + b + (Boolean.TRUE.equals(r.get("truncated")) ? " (list cut: --limit)" : ""));
    }

    private static String traffic(Object bytes, Object segs) {
        return bytes == null ? "-" : bytes + " B/" + segs + " seg";
    }

    private static String str(Object o) {
        return String.valueOf(o);
    }

    private static void table(PrintStream out, List<List<String>> rows) {
        int cols = rows.get(0).size();
        int[] w = new int[cols];
        for (List<String> r : rows) for (int i = 0; i < cols; i++) w[i] = Math.max(w[i], r.get(i).length());
        for (List<String> r : rows) {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < cols; i++) {
                b.append(r.get(i));
                if (i + 1 < cols) b.append(" ".repeat(w[i] - r.get(i).length() + 2));
            }
            out.println(b.toString().stripTrailing());
        }
    }

    @SuppressWarnings("unchecked")
    private static void keyValues(PrintStream out, String prefix, Map<String, Object> m) {
        for (Map.Entry<String, Object> e : m.entrySet()) {
            String k = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            if (e.getValue() instanceof Map<?, ?> sub) keyValues(out, k, (Map<String, Object>) sub);
            else out.println(k + ": " + (e.getValue() == Json.NULL ? "-" : e.getValue()));
        }
    }

    private static String humanEvent(Map<String, Object> e) {
        StringBuilder b = new StringBuilder(String.valueOf(e.get("event")));
        for (Map.Entry<String, Object> x : e.entrySet()) {
            if (x.getKey().equals("v") || x.getKey().equals("event")) continue;
            b.append(' ').append(x.getKey()).append('=').append(x.getValue());
        }
        return b.toString();
    }
}
