package jpasst.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The host's side of the synthetic guest's traffic: ordinary sockets on 127.0.0.1, which the
 * guest reaches at the gateway's address through the daemon. One thread per connection,
 * blocking I/O, 1 MB buffers:
 * <ul>
 * <li>sink: reads and discards, counting bytes (guest → host bulk);
 * <li>source: writes until the peer goes away (host → guest bulk);
 * <li>echo: writes back what it reads, TCP_NODELAY (request/response);
 * <li>closer: accepts and closes at once (connection rate);
 * <li>UDP sink: counts datagrams and bytes.
 * <li>UDP source: a datagram holding a size (4 bytes, big-endian) makes it send datagrams of
 *     that size to the sender as fast as it can, until a datagram holding 0 (counted).
 * </ul>
 * The CPU time of all these threads is summed by {@link #cpuNanos()}, so the report can say
 * what the host side itself cost.
 */
final class HostServers implements AutoCloseable {
    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    final AtomicLong sinkBytes = new AtomicLong(), sourceBytes = new AtomicLong(),
            echoBytes = new AtomicLong(), accepted = new AtomicLong(),
            udpBytes = new AtomicLong(), udpDatagrams = new AtomicLong(), udpSourceSent = new AtomicLong();
    final int sinkPort, sourcePort, echoPort, closerPort, udpPort, udpSourcePort;

    private final ServerSocketChannel sink, source, echo, closer;
    private final DatagramChannel udp, udpSource;
    private final List<Thread> threads = new CopyOnWriteArrayList<>();
    private final List<java.nio.channels.Channel> open = new CopyOnWriteArrayList<>();
    private final ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    private final AtomicLong deadThreadsCpu = new AtomicLong();
    private volatile boolean closing;

    HostServers() throws IOException {
        sink = listen();
        source = listen();
        echo = listen();
        closer = listen();
        udp = DatagramChannel.open();
        udp.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
        udp.bind(new InetSocketAddress(LOOPBACK, 0));
        sinkPort = port(sink);
        sourcePort = port(source);
        echoPort = port(echo);
        closerPort = port(closer);
        udpPort = ((InetSocketAddress) udp.getLocalAddress()).getPort();
        udpSource = DatagramChannel.open();
        udpSource.bind(new InetSocketAddress(LOOPBACK, 0));
        udpSourcePort = ((InetSocketAddress) udpSource.getLocalAddress()).getPort();
        acceptLoop(sink, "sink", this::sink);
        acceptLoop(source, "source", this::source);
        acceptLoop(echo, "echo", this::echo);
        acceptLoop(closer, "closer", null);
        start("udp-sink", this::udpSink);
        start("udp-source", this::udpSource);
    }

    private static ServerSocketChannel listen() throws IOException {
        ServerSocketChannel s = ServerSocketChannel.open();
        s.bind(new InetSocketAddress(LOOPBACK, 0), 1024);
        return s;
    }

    private static int port(ServerSocketChannel s) throws IOException {
        return ((InetSocketAddress) s.getLocalAddress()).getPort();
    }

    interface Handler {
        void serve(SocketChannel c) throws IOException;
    }

    private void acceptLoop(ServerSocketChannel server, String name, Handler h) {
        start(name + "-accept", () -> {
            while (!closing) {
                SocketChannel c;
                try {
                    c = server.accept();
                } catch (IOException e) {
                    return;
                }
                accepted.incrementAndGet();
                if (h == null) {
                    close(c);
                    continue;
                }
                open.add(c);
                start(name, () -> {
                    try {
                        h.serve(c);
                    } catch (IOException ignored) {
                        // the guest reset or the run ended
                    } finally {
                        close(c);
                        open.remove(c);
                    }
                });
            }
        });
    }

    private void start(String name, Runnable r) {
        Thread t = new Thread(() -> {
            try {
                r.run();
            } finally {
                long cpu = mx.getCurrentThreadCpuTime();
                if (cpu > 0) deadThreadsCpu.addAndGet(cpu);
                threads.remove(Thread.currentThread());
            }
        }, "host-" + name);
        t.setDaemon(true);
        threads.add(t);
        t.start();
    }

    private static void close(java.nio.channels.Channel c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    private void sink(SocketChannel c) throws IOException {
        ByteBuffer b = ByteBuffer.allocateDirect(1 << 20);
        while (true) {
            b.clear();
            int n = c.read(b);
            if (n < 0) return;
            sinkBytes.addAndGet(n);
        }
    }

    private void source(SocketChannel c) throws IOException {
        ByteBuffer b = ByteBuffer.allocateDirect(1 << 20);
        for (int i = 0; i < b.capacity(); i++) b.put(i, (byte) i);
        while (!closing) {
            b.clear();
            sourceBytes.addAndGet(c.write(b));
        }
    }

    private void echo(SocketChannel c) throws IOException {
        c.setOption(StandardSocketOptions.TCP_NODELAY, true);
        ByteBuffer b = ByteBuffer.allocateDirect(64 << 10);
        while (true) {
            b.clear();
            int n = c.read(b);
            if (n < 0) return;
            b.flip();
            while (b.hasRemaining()) c.write(b);
            echoBytes.addAndGet(n);
        }
    }

    private void udpSink() {
        ByteBuffer b = ByteBuffer.allocateDirect(65536);
        while (!closing) {
            b.clear();
            try {
                if (udp.receive(b) == null) continue;
            } catch (IOException e) {
                return;
            }
            udpDatagrams.incrementAndGet();
            udpBytes.addAndGet(b.position());
        }
    }

    private void udpSource() {
        ByteBuffer in = ByteBuffer.allocateDirect(64);
        ByteBuffer out = ByteBuffer.allocateDirect(65536);
        try {
            udpSource.configureBlocking(false);
            java.net.SocketAddress to = null;
            int size = 0;
            while (!closing) {
                in.clear();
                java.net.SocketAddress from = udpSource.receive(in);
                if (from != null && in.position() >= 4) {
                    size = in.getInt(0);
                    to = size > 0 ? from : null;
                }
                if (to == null) {
                    Thread.sleep(1);
                    continue;
                }
                out.clear().limit(size);
                if (udpSource.send(out, to) > 0) udpSourceSent.incrementAndGet();
            }
        } catch (IOException | InterruptedException e) {
            // closed
        }
    }

    /** CPU time of every host-side thread so far, live or ended. */
    long cpuNanos() {
        long sum = deadThreadsCpu.get();
        for (Thread t : threads) {
            long c = mx.getThreadCpuTime(t.threadId());
            if (c > 0) sum += c;
        }
        return sum;
    }

    /** Closes the connections of the current test (the listeners stay). */
    void dropConnections() {
        for (java.nio.channels.Channel c : open) close(c);
    }

    @Override
    public void close() {
        closing = true;
        dropConnections();
        close(sink);
        close(source);
        close(echo);
        close(closer);
        close(udp);
        close(udpSource);
    }
}
