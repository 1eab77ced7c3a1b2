package jpasst.glue;

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

/**
 * A client of a jpasst daemon's control socket ({@code -c PATH}), for a VM manager that runs the
 * daemon out of process ({@link PasstEndpoint#control()}): change its forwards, read its flows,
 * counters and health, raise its log level, while it runs. The protocol is jpasst's JSON lines,
 * version 1 (README, "Runtime control"): one request line, one reply line; a reply with
 * {@code "ok":false} becomes an {@link IOException} with the daemon's reason
 * ({@link Refused}). This module does not depend on passt-core (it drives any passt binary), so
 * this is a client of its own of that protocol, over the JDK's UNIX sockets.
 */
public final class PasstControl implements Closeable {
    /** The daemon refused the request; the message is its reason. */
    public static final class Refused extends IOException {
        public Refused(String message) {
            super(message);
        }
    }

    private final SocketChannel channel;
    private final BufferedReader in;
    private long nextId = 1;

    private PasstControl(SocketChannel channel) {
        this.channel = channel;
        this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
    }

    public static PasstControl connect(Path controlSocket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.connect(UnixDomainSocketAddress.of(controlSocket));
        } catch (IOException e) {
            ch.close();
            throw new IOException("Can't connect to control socket " + controlSocket + ": " + e.getMessage(), e);
        }
        return new PasstControl(ch);
    }

    /** Operation {@code op} with {@code args}: the reply's result. */
    @SuppressWarnings("unchecked")
    public synchronized Map<String, Object> request(String op, Map<String, ?> args) throws IOException {
        Map<String, Object> req = new LinkedHashMap<>();
        req.put("v", 1L);
        req.put("id", nextId++);
        req.put("op", op);
        req.putAll(args);
        ByteBuffer b = ByteBuffer.wrap((Json.write(req) + "\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) channel.write(b);
        Map<String, Object> reply;
        do {
            String line = in.readLine();
            if (line == null) throw new IOException("the daemon closed its control connection");
            try {
                reply = Json.parseObject(line);
            } catch (IllegalArgumentException e) {
                throw new IOException("a reply that is not JSON: " + line);
            }
        } while (reply.containsKey("event") && !reply.containsKey("ok"));
        if (!Boolean.TRUE.equals(reply.get("ok"))) throw new Refused(String.valueOf(reply.get("error")));
        Object result = reply.get("result");
        return result instanceof Map ? (Map<String, Object>) result : Map.of();
    }

    private static Map<String, Object> specs(List<String> tcp, List<String> udp) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (tcp != null) m.put("tcp", tcp);
        if (udp != null) m.put("udp", udp);
        return m;
    }

    /** The forwards now, each {@code {proto, spec, families, sockets}}. */
    @SuppressWarnings("unchecked")
    public List<Map<String, Object>> forwards() throws IOException {
        return (List<Map<String, Object>>) request("forward.list", Map.of()).get("forwards");
    }

    /** Adds forwards in passt's -t/-u syntax: all of them, or none and the reason. */
    public Map<String, Object> addForwards(List<String> tcp, List<String> udp) throws IOException {
        return request("forward.add", specs(tcp, udp));
    }

    public Map<String, Object> removeForwards(List<String> tcp, List<String> udp) throws IOException {
        return request("forward.remove", specs(tcp, udp));
    }

    /** The protocols given (non-null) get exactly these forwards; a failed bind leaves the old set. */
    public Map<String, Object> replaceForwards(List<String> tcp, List<String> udp) throws IOException {
        return request("forward.replace", specs(tcp, udp));
    }

    public Map<String, Object> flows() throws IOException {
        return request("flows", Map.of());
    }

    public Map<String, Object> stats() throws IOException {
        return request("stats", Map.of());
    }

    public Map<String, Object> health() throws IOException {
        return request("health", Map.of());
    }

    /** The log level ("debug", "trace", ..., "default") for {@code seconds} (0: until told). */
    public Map<String, Object> log(String level, long seconds) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("level", level);
        if (seconds > 0) m.put("seconds", seconds);
        return request("log", m);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
