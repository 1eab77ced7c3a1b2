package jpasst.robust;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.Stream;

import jpasst.Passt;
import jpasst.conf.Conf;
import jpasst.link.FramesFromGuest;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Sockets;
import jpasst.tap.StreamLink;
import jpasst.guest.Frames;
import jpasst.testutil.InProcessPasst;
import jpasst.util.Log;

/**
 * The fuzzer's test bench, all on the calling thread: a real {@link Passt} whose guest side is one
 * end of a socketpair (as with {@code --fd}), its loop driven by hand ({@link #pump}), and frames
 * handed straight to {@link jpasst.Dispatch} from an off-heap segment of exactly the frame's size
 * (so reading one byte past a frame is an exception here, where the daemon's large input buffer
 * would hide it). Behind the gateway, on the host's loopback, the test's own peers: TCP listeners
 * that read, write and close at random, UDP echo sockets, and clients of the forwarded ports.
 *
 * When the thread can have a private network namespace ({@link NetNs}), everything runs in it and
 * mutated destinations go nowhere; otherwise a {@link Containment} keeps them on the test's ports.
 *
 * Exceptions thrown by the frame path are collected (the first of each kind, with the input that
 * caused it) instead of ending the run, so one run reports every distinct failure.
 */
final class FuzzRig implements AutoCloseable {
    static final int INBOUND_GUEST_PORT = 8080;

    final NetNs ns;
    final Passt passt;
    final Containment containment;
    final int tcp4, tcp6, udp4, udp6, tcpFwd, udpFwd;
    final boolean v6Peers;
    final LiveTcp sessions;
    final Map<String, String> failures = new LinkedHashMap<>();
    long failureCount;
    /** Whether the rig's TCP listeners accept and play with connections by themselves. */
    boolean serveTcp = true;
    /** Whether the host side starts traffic of its own (writes, new connections to forwarded ports). */
    private boolean hostTraffic = true;

    private final FramesFromGuest oneFrame = new FramesFromGuest();
    private final int peerFd;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment frameBuf = arena.allocate(Mutator.MAX_FRAME, 64);
    private final MemorySegment readBuf = arena.allocate(1 << 20, 64);
    private ByteBuffer pending = ByteBuffer.allocate(1 << 22).flip();
    private final List<Consumer<byte[]>> listeners = new ArrayList<>();
    private final ServerSocketChannel l4, l6;
    private final DatagramChannel u4, u6;
    private final ArrayDeque<SocketChannel> hostConns = new ArrayDeque<>();
    private final ArrayDeque<SocketChannel> fwdClients = new ArrayDeque<>();
    private final DatagramChannel fwdSender;
    private final SplittableRandom rnd;
    private final ByteBuffer scratch = ByteBuffer.allocateDirect(1 << 16);
    private long framesFromDaemon, pumps;

    private final int logLevel = Log.level();

    FuzzRig(long seed, Consumer<Conf.Builder> tweak) throws IOException {
        rnd = new SplittableRandom(seed ^ 0x5eed);
        Log.level(Log.WARN); // a line per DHCP exchange, a million times over, says nothing
        ns = NetNs.isolate();
        try {
            l4 = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 512);
            l4.configureBlocking(false);
            tcp4 = port(l4.getLocalAddress());
            u4 = DatagramChannel.open().bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
            u4.configureBlocking(false);
            udp4 = port(u4.getLocalAddress());
            ServerSocketChannel l6x = null;
            DatagramChannel u6x = null;
            try {
                l6x = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getByName("::1"), 0), 512);
                l6x.configureBlocking(false);
                u6x = DatagramChannel.open().bind(new InetSocketAddress(InetAddress.getByName("::1"), 0));
                u6x.configureBlocking(false);
            } catch (IOException noV6) {
                if (l6x != null) l6x.close();
                l6x = null;
                u6x = null;
            }
            l6 = l6x;
            u6 = u6x;
            v6Peers = l6 != null;
            tcp6 = v6Peers ? port(l6.getLocalAddress()) : tcp4;
            udp6 = v6Peers ? port(u6.getLocalAddress()) : udp4;
            // forwarded ports: only where nothing else can see them
            tcpFwd = ns != null ? 18080 : -1;
            udpFwd = ns != null ? 18081 : -1;
            fwdSender = ns != null ? DatagramChannel.open() : null;
            if (fwdSender != null) fwdSender.configureBlocking(false);
            containment = ns == null ? new Containment(tcp4, tcp6, udp4, udp6) : null;

            int[] pair;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
                Errno.check(Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0, fds), "socketpair");
                pair = new int[] {fds.get(ValueLayout.JAVA_INT, 0), fds.get(ValueLayout.JAVA_INT, 4)};
            }
            peerFd = pair[1];
            Conf.Builder c = new Conf.Builder();
            c.addr4 = InProcessPasst.ADDR;
            c.prefix4 = 24;
            c.gw4 = InProcessPasst.GW;
            c.dns4 = new int[] {InProcessPasst.DNS1};
            c.search = new ArrayList<>(List.of("example.org"));
            FuzzFrames.v6(c);
            c.fd = pair[0];
            c.udpTimeoutSeconds = 1;
            c.icmpTimeoutSeconds = 1;
            c.tcpTimeoutSeconds = 1;
            if (ns != null) {
                c.tcpSpecs.add(tcpFwd + ":" + INBOUND_GUEST_PORT);
                c.udpSpecs.add(udpFwd + ":" + udpFwd);
            }
            tweak.accept(c);
            passt = new Passt(c.build());
            passt.start();
            sessions = new LiveTcp(rnd.split(), tcp4, tcp6, v6Peers, INBOUND_GUEST_PORT);
            listeners.add(f -> sessions.onFrame(f, this::inject));
        } catch (IOException | RuntimeException | Error e) {
            Log.level(logLevel);
            if (ns != null) ns.close();
            throw e;
        }
    }

    private static int port(SocketAddress a) {
        return ((InetSocketAddress) a).getPort();
    }

    List<byte[]> seeds() {
        return FuzzFrames.seeds(tcp4, tcp6, udp4, udp6);
    }

    /** Frames the daemon sends to the guest go to {@code l} too. */
    void onFrame(Consumer<byte[]> l) {
        listeners.add(l);
    }

    /** The daemon's link, the stream socket (its counters). */
    StreamLink stream() {
        return (StreamLink) passt.link;
    }

    /** One frame into the daemon's frame path, as the link would hand it over. */
    void inject(byte[] f) {
        MemorySegment s = frameBuf.asSlice(0, f.length);
        MemorySegment.copy(f, 0, s, ValueLayout.JAVA_BYTE, 0, f.length);
        try {
            oneFrame.clear();
            oneFrame.add(s, 0, f.length);
            passt.dispatch.receive(oneFrame); // a read of one frame: its data leaves before the buffer is reused
        } catch (RuntimeException | Error e) {
            failureCount++;
            String where = e.getStackTrace().length > 0 ? e.getStackTrace()[0].toString() : "?";
            failures.putIfAbsent(e + " at " + where, HexFormat.of().formatHex(f));
        }
    }

    /** One turn of the loop (no waiting), then the guest and host sides answer what came. */
    void pump() {
        passt.loop.wakeAt(System.nanoTime());
        passt.loop.runOnce();
        drain();
        serviceHost();
        pumps++;
    }

    /**
     * Pumps until {@code done} is true, for {@code ms} milliseconds at most. Between pumps the
     * loop waits for its own events (2 ms at most, as the test's side needs pumping too).
     */
    boolean pumpUntil(long ms, java.util.function.BooleanSupplier done) {
        long deadline = System.nanoTime() + ms * 1_000_000;
        while (System.nanoTime() < deadline) {
            pump();
            if (done.getAsBoolean()) return true;
            passt.loop.wakeAt(System.nanoTime() + 2_000_000);
            passt.loop.runOnce();
        }
        return done.getAsBoolean();
    }

    private void drain() {
        while (true) {
            long n = Sockets.recv(peerFd, readBuf, readBuf.byteSize(), Sockets.MSG_DONTWAIT);
            if (n <= 0) break;
            pending.compact();
            if (pending.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(pending.capacity() * 2);
                pending.flip();
                bigger.put(pending);
                pending = bigger;
            }
            pending.put(readBuf.asSlice(0, n).asByteBuffer());
            pending.flip();
            while (pending.remaining() >= 4) {
                int len = pending.getInt(pending.position());
                if (pending.remaining() < 4 + len) break;
                pending.getInt();
                byte[] f = new byte[len];
                pending.get(f);
                framesFromDaemon++;
                for (Consumer<byte[]> l : listeners) l.accept(f);
            }
        }
    }

    private void serviceHost() {
        try {
            for (ServerSocketChannel l : !serveTcp ? List.<ServerSocketChannel>of() : l6 == null ? List.of(l4) : List.of(l4, l6)) {
                SocketChannel c;
                while ((c = l.accept()) != null) {
                    c.configureBlocking(false);
                    hostConns.add(c);
                }
            }
            while (hostConns.size() > 64) hostConns.poll().close();
            for (var it = hostConns.iterator(); it.hasNext(); ) {
                SocketChannel c = it.next();
                scratch.clear();
                int n;
                try {
                    n = c.read(scratch);
                    if (n >= 0 && hostTraffic && rnd.nextInt(10) == 0) {
                        scratch.clear().limit(1 + rnd.nextInt(rnd.nextInt(20) == 0 ? 65536 : 2048));
                        c.write(scratch);
                    }
                } catch (IOException reset) {
                    n = -1;
                }
                if (n < 0 || rnd.nextInt(200) == 0) {
                    c.close();
                    it.remove();
                }
            }
            for (DatagramChannel u : u6 == null ? List.of(u4) : List.of(u4, u6)) {
                SocketAddress from;
                scratch.clear();
                while ((from = u.receive(scratch)) != null) {
                    scratch.flip();
                    u.send(scratch, from);
                    scratch.clear();
                }
            }
            if (ns != null && hostTraffic && pumps % 40 == 0) {
                SocketChannel c = SocketChannel.open();
                c.configureBlocking(false);
                c.connect(new InetSocketAddress(InetAddress.getByName(rnd.nextBoolean() || !v6Peers ? "127.0.0.1" : "::1"), tcpFwd));
                fwdClients.add(c);
                scratch.clear().limit(1 + rnd.nextInt(512));
                fwdSender.send(scratch, new InetSocketAddress(InetAddress.getByName("127.0.0.1"), udpFwd));
            }
            while (fwdClients.size() > 16) fwdClients.poll().close();
            for (SocketChannel c : fwdClients) {
                try {
                    if (c.isConnectionPending()) c.finishConnect();
                    if (c.isConnected()) {
                        scratch.clear().limit(64);
                        c.write(scratch);
                        scratch.clear();
                        c.read(scratch);
                    }
                } catch (IOException refused) {
                    // reset by the daemon: fine, the client goes at the next trim
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** With {@link #serveTcp} off: the next connection on the IPv4 listener, pumping meanwhile. */
    SocketChannel acceptHost(long ms) throws IOException {
        SocketChannel[] c = new SocketChannel[1];
        pumpUntil(ms, () -> {
            try {
                return (c[0] = l4.accept()) != null;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        return c[0];
    }

    /**
     * Closes every host-side connection of the test (listeners and echo sockets stay), and the
     * host side starts nothing new from now on.
     */
    void closeHostConnections() throws IOException {
        hostTraffic = false;
        for (SocketChannel c : hostConns) c.close();
        hostConns.clear();
        for (SocketChannel c : fwdClients) c.close();
        fwdClients.clear();
    }

    int flows() {
        return passt.tcp.activeConnections() + passt.udp.active() + passt.icmp.active();
    }

    long framesFromDaemon() {
        return framesFromDaemon;
    }

    /** Sockets among this process's open descriptors. */
    static long openSockets() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.filter(p -> {
                try {
                    return Files.readSymbolicLink(p).toString().startsWith("socket:");
                } catch (IOException gone) {
                    return false;
                }
            }).count();
        }
    }

    String describeFailures() {
        StringBuilder b = new StringBuilder(failureCount + " inputs threw; distinct failures:\n");
        failures.forEach((k, v) -> b.append("  ").append(k).append("\n    input: ").append(v).append('\n'));
        return b.toString();
    }

    @Override
    public void close() throws IOException {
        try {
            closeHostConnections();
            passt.close();
            Descriptors.close(peerFd);
            l4.close();
            u4.close();
            if (l6 != null) l6.close();
            if (u6 != null) u6.close();
            if (fwdSender != null) fwdSender.close();
            arena.close();
        } finally {
            Log.level(logLevel);
            if (ns != null) ns.close();
        }
    }

    /** A frame's bytes, for messages. */
    static String hex(byte[] f) {
        return HexFormat.of().formatHex(f);
    }

    static boolean isFrom(byte[] f, int etherType) {
        return f.length >= 14 && Frames.u16(f, 12) == etherType;
    }
}
