package jpasst.robust;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The host side of the load tests: a TCP server on the host's loopback (the guest reaches it at
 * the gateway's address) on one NIO thread, holding any number of connections. Each connection
 * carries one transfer: the guest sends {@link Payloads#header} and the named upload buffer; the
 * server checks it (sha256 and byte by byte), sends the named download buffer, closes its side and
 * waits for the guest to close. Counts what arrived intact and what did not.
 */
final class HostServer implements AutoCloseable {
    private final ServerSocketChannel listener;
    private final Selector selector;
    private final Thread thread;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 18);
    private volatile boolean running = true;

    final AtomicLong accepted = new AtomicLong(), open = new AtomicLong(), completed = new AtomicLong();
    /** Upload bytes that arrived in a transfer whose sha256 matched, and those that did not. */
    final AtomicLong bytesIntact = new AtomicLong(), bytesBroken = new AtomicLong();
    final AtomicLong bytesSent = new AtomicLong();
    final Queue<String> problems = new ConcurrentLinkedQueue<>();

    private static final class Peer {
        final ByteBuffer header = ByteBuffer.allocate(8);
        int up = -1, down, id;
        long got;
        boolean mismatch;
        MessageDigest sha;
        ByteBuffer out;
        boolean sentAll, eof;
    }

    HostServer() throws IOException {
        listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 4096);
        listener.configureBlocking(false);
        selector = Selector.open();
        listener.register(selector, SelectionKey.OP_ACCEPT);
        thread = new Thread(this::serve, "host-server");
        thread.setDaemon(true);
        thread.start();
    }

    int port() {
        try {
            return ((InetSocketAddress) listener.getLocalAddress()).getPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void serve() {
        try {
            while (running) {
                selector.select(100);
                for (SelectionKey k : selector.selectedKeys()) {
                    try {
                        if (!k.isValid()) continue;
                        if (k.isAcceptable()) accept();
                        else if (k.isReadable()) read(k);
                        else if (k.isWritable()) write(k);
                    } catch (IOException e) {
                        fail(k, "I/O error: " + e.getMessage());
                    }
                }
                selector.selectedKeys().clear();
            }
        } catch (IOException | ClosedSelectorException e) {
            // closed
        }
    }

    private void accept() throws IOException {
        SocketChannel c;
        while ((c = listener.accept()) != null) {
            c.configureBlocking(false);
            c.register(selector, SelectionKey.OP_READ, new Peer());
            accepted.incrementAndGet();
            open.incrementAndGet();
        }
    }

    private void read(SelectionKey k) throws IOException {
        SocketChannel c = (SocketChannel) k.channel();
        Peer p = (Peer) k.attachment();
        while (true) {
            buf.clear();
            int n = c.read(buf);
            if (n == 0) return;
            if (n < 0) {
                if (p.up < 0 || p.got < Payloads.SIZES[p.up]) {
                    fail(k, "connection " + p.id + ": closed by the guest after " + p.got + " bytes of its upload");
                } else if (p.sentAll) {
                    completed.incrementAndGet();
                    close(k);
                } else {
                    p.eof = true; // the guest has closed its side: the download goes on
                    if (p.out == null) startSending(k, p);
                    else k.interestOps(SelectionKey.OP_WRITE);
                }
                return;
            }
            buf.flip();
            if (p.up < 0) {
                while (buf.hasRemaining() && p.header.hasRemaining()) p.header.put(buf.get());
                if (p.header.hasRemaining()) continue;
                byte[] h = p.header.array();
                if (h[0] != 'J' || h[1] != 'P' || h[2] >= Payloads.SIZES.length || h[3] >= Payloads.SIZES.length) {
                    fail(k, "bad transfer header " + Arrays.toString(h));
                    return;
                }
                p.up = h[2];
                p.down = h[3];
                p.id = ByteBuffer.wrap(h, 4, 4).getInt();
                p.sha = Payloads.sha256();
            }
            int len = buf.remaining();
            if (len == 0) {
                if (p.got == Payloads.SIZES[p.up] && p.out == null) {
                    startSending(k, p);
                    return;
                }
                continue;
            }
            byte[] want = Payloads.data(p.up);
            if (p.got + len > want.length) {
                fail(k, "connection " + p.id + ": " + (p.got + len - want.length) + " bytes more than the upload");
                return;
            }
            if (!Arrays.equals(buf.array(), buf.position(), buf.position() + len, want, (int) p.got, (int) p.got + len)) {
                p.mismatch = true;
            }
            p.sha.update(buf.array(), buf.position(), len);
            p.got += len;
            if (p.got == want.length) {
                startSending(k, p);
                return; // further input (the guest's FIN) is read once the download is out
            }
        }
    }

    private void startSending(SelectionKey k, Peer p) throws IOException {
        if (p.out != null) return;
        boolean ok = !p.mismatch && MessageDigest.isEqual(p.sha.digest(), Payloads.sha(p.up));
        if (ok) {
            bytesIntact.addAndGet(p.got);
        } else {
            bytesBroken.addAndGet(p.got);
            problems.add("connection " + p.id + ": upload of " + p.got + " bytes arrived corrupted");
        }
        p.out = ByteBuffer.wrap(Payloads.data(p.down));
        k.interestOps(SelectionKey.OP_WRITE);
        write(k);
    }

    private void write(SelectionKey k) throws IOException {
        SocketChannel c = (SocketChannel) k.channel();
        Peer p = (Peer) k.attachment();
        while (p.out.hasRemaining()) {
            int n = c.write(p.out);
            if (n == 0) return;
            bytesSent.addAndGet(n);
        }
        c.shutdownOutput();
        p.sentAll = true;
        if (p.eof) {
            completed.incrementAndGet();
            close(k);
        } else {
            k.interestOps(SelectionKey.OP_READ);
        }
    }

    private void fail(SelectionKey k, String why) {
        problems.add(why);
        close(k);
    }

    private void close(SelectionKey k) {
        k.cancel();
        try {
            k.channel().close();
        } catch (IOException ignored) {
            // closing anyway
        }
        open.decrementAndGet();
    }

    @Override
    public void close() throws IOException {
        running = false;
        selector.wakeup();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (SelectionKey k : selector.keys()) k.channel().close();
        selector.close();
        listener.close();
    }
}
