package jpasst.control;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A client of a daemon's control socket ({@code -c PATH}): the operations of {@link Operations}
 * as methods, each one request line and its reply over one connection, in the calling thread
 * (blocking; one request at a time per client, the methods are synchronized). Only the JDK: a
 * program that embeds or supervises jpasst needs nothing else ({@code ./passt-ctl} is this
 * class behind a command line, {@link PasstCtl}).
 *
 * <pre>{@code
 * try (ControlClient c = ControlClient.connect(Path.of("/run/vm1.ctl"))) {
 *     c.addForwards(List.of("8080:80"), List.of());
 *     System.out.println(c.health().get("connected"));
 * }
 * }</pre>
 *
 * A reply with {@code "ok":false} becomes a {@link ControlException} with the daemon's message.
 */
public final class ControlClient implements Closeable {
    /** The daemon refused a request: its reason. */
    public static final class ControlException extends IOException {
        public ControlException(String message) {
            super(message);
        }
    }

    private final Path path;
    private final SocketChannel channel;
    private final BufferedReader in;
    private long nextId = 1;

    private ControlClient(Path path, SocketChannel channel) {
        this.path = path;
        this.channel = channel;
        this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
    }

    /** Connects to the control socket at {@code path}. */
    public static ControlClient connect(Path path) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.connect(UnixDomainSocketAddress.of(path));
        } catch (IOException e) {
            ch.close();
            throw new IOException("Can't connect to control socket " + path + ": " + e.getMessage(), e);
        }
        return new ControlClient(path, ch);
    }

    /** Sends one request line as it is, returns the reply line (or null if the daemon closed). */
    public synchronized String exchange(String line) throws IOException {
        byte[] b = (line + "\n").getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.wrap(b);
        while (buf.hasRemaining()) channel.write(buf);
        String reply;
        do {
            reply = in.readLine();
        } while (reply != null && isEvent(reply)); // (a watching connection's events come between)
        return reply;
    }

    private static boolean isEvent(String line) {
        try {
            return Json.parse(line) instanceof Map<?, ?> m && m.containsKey("event") && !m.containsKey("ok");
        } catch (Json.JsonException e) {
            return false;
        }
    }

    /**
     * Operation {@code op} with {@code args} (its members; may be empty): the reply's
     * {@code result}.
     *
     * @throws ControlException the daemon refused it, and why
     */
    @SuppressWarnings("unchecked")
    public synchronized Map<String, Object> request(String op, Map<String, ?> args) throws IOException {
        Map<String, Object> req = new LinkedHashMap<>();
        req.put("v", (long) Operations.VERSION);
        req.put("id", nextId++);
        req.put("op", op);
        req.putAll(args);
        String line = exchange(Json.write(req));
        if (line == null) throw new IOException("control socket " + path + ": closed by the daemon");
        Object reply;
        try {
            reply = Json.parse(line);
        } catch (Json.JsonException e) {
            throw new IOException("control socket " + path + ": a reply that is not JSON: " + e.getMessage());
        }
        if (!(reply instanceof Map<?, ?> m)) throw new IOException("control socket " + path + ": a reply that is not an object");
        if (!Boolean.TRUE.equals(m.get("ok"))) throw new ControlException(String.valueOf(m.get("error")));
        Object r = m.get("result");
        return r instanceof Map<?, ?> ? (Map<String, Object>) r : Map.of();
    }

    private static Map<String, Object> specs(List<String> tcp, List<String> udp) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (tcp != null) m.put("tcp", tcp);
        if (udp != null) m.put("udp", udp);
        return m;
    }

    /** The forwards now: each {@code {proto, spec, families, sockets}}. */
    @SuppressWarnings("unchecked")
    public List<Map<String, Object>> forwards() throws IOException {
        return (List<Map<String, Object>>) request("forward.list", Map.of()).get("forwards");
    }

    /** Adds forwards given as passt's -t and -u specs (either list may be empty): all, or none. */
    public Map<String, Object> addForwards(List<String> tcp, List<String> udp) throws IOException {
        return request("forward.add", specs(tcp, udp));
    }

    /** Removes the forwards of the host ports the specs name: all, or none. */
    public Map<String, Object> removeForwards(List<String> tcp, List<String> udp) throws IOException {
        return request("forward.remove", specs(tcp, udp));
    }

    /** Makes the forwards of each protocol given (null: left alone) exactly these; the old set stays if a bind fails. */
    public Map<String, Object> replaceForwards(List<String> tcp, List<String> udp) throws IOException {
        return request("forward.replace", specs(tcp, udp));
    }

    /** Flows ({@code proto}: "tcp", "udp", "icmp" or null for all; at most {@code limit}) and totals per protocol. */
    public Map<String, Object> flows(String proto, int limit) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        if (proto != null) m.put("proto", proto);
        m.put("limit", (long) limit);
        return request("flows", m);
    }

    public Map<String, Object> stats() throws IOException {
        return request("stats", Map.of());
    }

    /** Sets the log level ("debug", "trace", ..., "default") for {@code seconds} (0: until told). */
    public Map<String, Object> log(String level, long seconds) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("level", level);
        if (seconds > 0) m.put("seconds", seconds);
        return request("log", m);
    }

    public Map<String, Object> health() throws IOException {
        return request("health", Map.of());
    }

    /**
     * Events of the daemon ({@code {"event":"guest","connected":true,...}}, forwards changed,
     * stopping) to {@code listener}, on a thread of its own over a connection of its own, until
     * the returned handle is closed or the daemon goes.
     */
    public Closeable watch(Consumer<Map<String, Object>> listener) throws IOException {
        ControlClient w = connect(path);
        w.request("watch", Map.of());
        Thread t = new Thread(() -> {
            try {
                for (String line; (line = w.in.readLine()) != null; ) {
                    Object e = Json.parse(line);
                    if (e instanceof Map<?, ?> m && m.containsKey("event")) {
                        @SuppressWarnings("unchecked")
                        Map<String, Object> event = (Map<String, Object>) m;
                        listener.accept(event);
                    }
                }
            } catch (IOException | Json.JsonException e) {
                // closed: the watch ends
            }
        }, "jpasst-control-watch");
        t.setDaemon(true);
        t.start();
        return w;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
