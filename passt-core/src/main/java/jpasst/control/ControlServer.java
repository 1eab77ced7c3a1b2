package jpasst.control;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Errno;
import jpasst.sys.SocketOptions;
import jpasst.sys.Sockets;
import jpasst.util.Log;

/**
 * The control socket of {@code -c/--conf-path}: a UNIX stream socket (mode 0600, bound by the
 * launcher before the daemon confines itself, as the guest's is) on which clients send request
 * lines and get reply lines ({@link Operations}), served by the daemon's one event loop.
 *
 * <p>It must never hold that loop up, whatever a client does: every socket is non-blocking, a
 * read takes what is there (at most one buffer per event: a flooding client waits its turn like
 * everyone else), and a reply is sent as far as the client takes it, the rest kept and sent as it
 * reads. The limits that keep a client's cost bounded: {@value #MAX_CONNECTIONS} connections
 * (another one gets an error line and is closed), a request line of at most {@value #MAX_LINE}
 * bytes (longer: error, closed), a line begun must end within {@value #STALL_SECONDS} s (a client
 * that sends half a line and stalls: error, closed), at most {@value #MAX_OUTPUT} bytes of replies
 * waiting for a client that does not read (closed).
 *
 * <p>Only the daemon's own user and root may talk to it: the socket file is 0600, and the peer's
 * credentials (SO_PEERCRED) are checked on every connection against the allowed user ids; anyone
 * else gets an error line and is closed.
 *
 * <p>A client that sends {@code watch} receives event lines too ({@code {"v":1,"event":...}}): the
 * guest connecting or going, the forwards changing, the daemon stopping. The guest's link is
 * looked at once per batch of events: one boolean.
 */
public final class ControlServer {
    public static final int MAX_CONNECTIONS = 8;
    public static final int MAX_LINE = 64 * 1024;
    public static final int MAX_OUTPUT = 8 << 20;
    public static final int STALL_SECONDS = 5;
    private static final long STALL_NANOS = STALL_SECONDS * 1_000_000_000L;
    private static final int SEND_FLAGS = Sockets.MSG_DONTWAIT | Sockets.MSG_NOSIGNAL;

    private final EventLoop loop;
    private final int listenFd;
    private final String path;
    private final Operations ops;
    private int[] allowedUids;
    private final SocketOptions options = new SocketOptions();
    private final Conn[] conns = new Conn[MAX_CONNECTIONS];
    private final int[] generation = new int[MAX_CONNECTIONS];
    private boolean wasConnected;
    private long accepted, refused, closedForLimits;

    /** One client: its socket, what it sent that is not a whole line yet, what waits to be sent to it. */
    private static final class Conn implements Operations.Session {
        final int fd, slot;
        final MemorySegment in = Arena.ofAuto().allocate(MAX_LINE);
        int fill;
        long partialSince; // nanoTime when a line began that has not ended yet; 0: none
        long closingSince; // nanoTime when it was told it is done (its last replies then go out)
        byte[] out = new byte[0];
        int outStart, outEnd;
        final MemorySegment sendBuf = Arena.ofAuto().allocate(64 * 1024);
        boolean watching, closing, wantsOut;

        Conn(int fd, int slot) {
            this.fd = fd;
            this.slot = slot;
        }

        @Override
        public void watch() {
            watching = true;
        }

        int pending() {
            return outEnd - outStart;
        }

        void queue(String line) {
            byte[] b = (line + "\n").getBytes(StandardCharsets.UTF_8);
            if (outEnd + b.length > out.length) {
                int live = outEnd - outStart;
                byte[] n = out.length - live >= b.length && outStart > 0 ? out
                        : new byte[Math.max(out.length * 2, live + b.length + 4096)];
                System.arraycopy(out, outStart, n, 0, live);
                out = n;
                outStart = 0;
                outEnd = live;
            }
            System.arraycopy(b, 0, out, outEnd, b.length);
            outEnd += b.length;
        }
    }

    /**
     * Serves the bound socket {@code listenFd} at {@code path}; peers of user ids
     * {@code allowedUids} may talk to it.
     */
    public ControlServer(EventLoop loop, int listenFd, String path, Operations ops, int[] allowedUids) {
        this.loop = loop;
        this.listenFd = listenFd;
        this.path = path;
        this.ops = ops;
        this.allowedUids = allowedUids.clone();
        loop.handler(Refs.CONTROL_LISTEN, this::onListen);
        loop.handler(Refs.CONTROL, this::onConn);
        loop.onTick(this::tick);
        loop.onEndOfBatch(this::watchLink);
        ops.onForwardsChanged(() -> event("forwards", "changed", true));
    }

    /** Listens: from here on clients are served. */
    public void start() {
        Errno.check(Sockets.listen(listenFd, 16), "listen on " + path);
        Errno.check(loop.add(listenFd, Epoll.EPOLLIN, EventLoop.ref(Refs.CONTROL_LISTEN, 0)), "epoll_ctl");
        wasConnected = ops.connected();
        if (Log.debugEnabled()) Log.debug("Control socket at " + path);
    }

    /** Lets the peers of user {@code uid} in too (the user a daemon started as root becomes). Before it serves. */
    public void allow(int uid) {
        allowedUids = java.util.Arrays.copyOf(allowedUids, allowedUids.length + 1);
        allowedUids[allowedUids.length - 1] = uid;
    }

    /** Where the control socket is. */
    public String path() {
        return path;
    }

    /** Clients connected now. */
    public int connections() {
        int n = 0;
        for (Conn c : conns) if (c != null) n++;
        return n;
    }

    private void onListen(long ref, int ev) {
        for (int i = 0; i < 16; i++) {
            int fd = Sockets.accept4(listenFd, MemorySegment.NULL, MemorySegment.NULL,
                    Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC);
            if (fd < 0) return;
            int uid = options.peerUid(fd);
            if (!allowed(uid)) {
                refused++;
                Log.warn("Control socket: a connection of user " + uid + " refused");
                refuse(fd, "permission denied: only the daemon's user and root may use this socket");
                continue;
            }
            int slot = -1;
            for (int s = 0; s < conns.length && slot < 0; s++) if (conns[s] == null) slot = s;
            if (slot < 0) {
                refused++;
                refuse(fd, "too many control connections (at most " + MAX_CONNECTIONS + ")");
                continue;
            }
            Conn c = new Conn(fd, slot);
            if (loop.add(fd, Epoll.EPOLLIN | Epoll.EPOLLRDHUP, ref(slot)) < 0) {
                Descriptors.close(fd);
                continue;
            }
            conns[slot] = c;
            accepted++;
        }
    }

    private boolean allowed(int uid) {
        if (uid < 0) return false;
        for (int a : allowedUids) if (a == uid) return true;
        return false;
    }

    /** An error line, as far as the socket takes it at once, then closed. */
    private void refuse(int fd, String why) {
        byte[] b = (Operations.error(why) + "\n").getBytes(StandardCharsets.UTF_8);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(b.length);
            MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, b.length);
            Sockets.send(fd, s, b.length, SEND_FLAGS);
        }
        Descriptors.close(fd);
    }

    private long ref(int slot) {
        return EventLoop.ref(Refs.CONTROL, (long) generation[slot] << 8 | slot);
    }

    private Conn connOf(long ref) {
        long v = EventLoop.value(ref);
        int slot = (int) (v & 0xff);
        if (slot >= conns.length || conns[slot] == null || generation[slot] != (int) (v >>> 8)) return null;
        return conns[slot];
    }

    private void onConn(long ref, int ev) {
        Conn c = connOf(ref);
        if (c == null) return;
        if ((ev & Epoll.EPOLLOUT) != 0) flush(c);
        if (conns[c.slot] != c) return;
        if ((ev & (Epoll.EPOLLIN | Epoll.EPOLLHUP | Epoll.EPOLLERR | Epoll.EPOLLRDHUP)) != 0 && !c.closing) read(c);
    }

    private void read(Conn c) {
        long n = Sockets.recv(c.fd, c.in.address() + c.fill, MAX_LINE - c.fill, Sockets.MSG_DONTWAIT);
        if (n == -Errno.EAGAIN || n == -Errno.EINTR) return;
        if (n < 0) {
            close(c);
            return;
        }
        if (n == 0) { // the client is done sending: answer what it sent whole, then close
            if (c.fill > 0) c.queue(Operations.error("incomplete request line at the end of input"));
            finish(c);
            return;
        }
        int start = 0, end = c.fill + (int) n;
        for (int i = c.fill; i < end; i++) {
            if (c.in.get(ValueLayout.JAVA_BYTE, i) != '\n') continue;
            byte[] line = c.in.asSlice(start, i - start).toArray(ValueLayout.JAVA_BYTE);
            start = i + 1;
            String text = new String(line, StandardCharsets.UTF_8);
            if (text.isBlank()) continue;
            c.queue(ops.handle(text, c));
            if (c.pending() > MAX_OUTPUT) {
                closedForLimits++;
                Log.info("Control socket: a client that does not read its replies closed");
                close(c);
                return;
            }
        }
        if (start > 0) MemorySegment.copy(c.in, start, c.in, 0, end - start);
        c.fill = end - start;
        if (c.fill == MAX_LINE) {
            closedForLimits++;
            c.queue(Operations.error("request line longer than " + MAX_LINE + " bytes"));
            finish(c);
            return;
        } else if (c.fill > 0) {
            if (c.partialSince == 0) {
                c.partialSince = loop.now();
                loop.wakeAt(c.partialSince + STALL_NANOS);
            }
        } else {
            c.partialSince = 0;
        }
        flush(c);
    }

    /** Sends what waits for {@code c} as far as it takes it; watches for room if not all. */
    private void flush(Conn c) {
        while (c.pending() > 0) {
            int len = (int) Math.min(c.pending(), c.sendBuf.byteSize());
            MemorySegment.copy(c.out, c.outStart, c.sendBuf, ValueLayout.JAVA_BYTE, 0, len);
            long n = Sockets.send(c.fd, c.sendBuf, len, SEND_FLAGS);
            if (n == -Errno.EAGAIN || n == -Errno.EINTR) break;
            if (n < 0) {
                close(c);
                return;
            }
            c.outStart += (int) n;
        }
        if (c.pending() == 0) {
            c.outStart = c.outEnd = 0;
            if (c.out.length > 64 * 1024) c.out = new byte[0]; // (a big listing's buffer goes)
            if (c.closing) {
                close(c);
                return;
            }
        }
        boolean want = c.pending() > 0;
        if (want != c.wantsOut && !c.closing) {
            c.wantsOut = want;
            loop.modify(c.fd, Epoll.EPOLLIN | Epoll.EPOLLRDHUP | (want ? Epoll.EPOLLOUT : 0), ref(c.slot));
        }
    }

    /**
     * Nothing more is read from {@code c}: what waits for it is sent, then it is closed (its
     * socket watched for room only, or a client still sending would keep the loop busy).
     */
    private void finish(Conn c) {
        c.fill = 0;
        c.partialSince = 0;
        c.closing = true;
        c.closingSince = loop.now();
        loop.wakeAt(c.closingSince + STALL_NANOS);
        loop.modify(c.fd, Epoll.EPOLLOUT, ref(c.slot));
        flush(c);
    }

    private void close(Conn c) {
        if (conns[c.slot] != c) return;
        // what the client sent and nobody will read is taken first: closed with it unread, the
        // socket would tell the client "connection reset" instead of the end of its replies
        for (int i = 0; i < 16 && Sockets.recv(c.fd, c.in.address(), MAX_LINE, Sockets.MSG_DONTWAIT) > 0; i++) { }
        loop.remove(c.fd);
        Descriptors.close(c.fd);
        conns[c.slot] = null;
        generation[c.slot] = (generation[c.slot] + 1) & 0xffffff;
    }

    /**
     * Clients that began a line and did not end it in time get an error and are closed; those
     * told they are done that do not take their last replies in time are closed without them.
     */
    private void tick(long now) {
        for (Conn c : conns) {
            if (c != null && c.closing) {
                if (now - c.closingSince >= STALL_NANOS) close(c);
                else loop.wakeAt(c.closingSince + STALL_NANOS);
                continue;
            }
            if (c == null || c.partialSince == 0) continue;
            if (now - c.partialSince >= STALL_NANOS) {
                closedForLimits++;
                c.queue(Operations.error("incomplete request line for " + STALL_SECONDS + " s"));
                finish(c);
            } else {
                loop.wakeAt(c.partialSince + STALL_NANOS);
            }
        }
    }

    /** Once per batch: the guest came or went? Watchers are told. */
    private void watchLink() {
        boolean now = ops.connected();
        if (now == wasConnected) return;
        wasConnected = now;
        if (now) event("guest", "connected", true);
        else event("guest", "connected", false);
    }

    /** An event line to every watching client. */
    private void event(String name, String key, Object value) {
        String line = null;
        for (Conn c : conns) {
            if (c == null || !c.watching || c.closing) continue;
            if (line == null) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("v", (long) Operations.VERSION);
                m.put("event", name);
                m.put(key, value);
                if (name.equals("guest") && Boolean.TRUE.equals(value)) m.put("mac", ops.guestMac());
                line = Json.write(m);
            }
            c.queue(line);
            if (c.pending() > MAX_OUTPUT) close(c);
            else flush(c);
        }
    }

    /** The daemon stops: watchers hear it, every client and the socket close. */
    public void close() {
        event("stopping", "stopping", true);
        for (Conn c : conns) if (c != null) close(c);
        loop.remove(listenFd);
        Descriptors.close(listenFd);
    }

    /** Connections accepted, refused (user, limit), closed for breaking a limit. */
    public long[] counters() {
        return new long[] {accepted, refused, closedForLimits};
    }
}
