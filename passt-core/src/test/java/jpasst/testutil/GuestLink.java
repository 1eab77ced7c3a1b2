package jpasst.testutil;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.function.Predicate;

/**
 * The guest's end of QEMU's stream protocol, for tests: a real UNIX stream socket to the daemon,
 * frames sent with their 4-byte big-endian length, frames received the same way.
 */
public final class GuestLink implements AutoCloseable {
    private final SocketChannel ch;
    private final Selector selector;
    private final ByteBuffer in = ByteBuffer.allocate(1 << 21);
    private boolean eof;

    public GuestLink(Path socket) throws IOException {
        this(SocketChannel.open(UnixDomainSocketAddress.of(socket)));
    }

    public GuestLink(SocketChannel connected) throws IOException {
        ch = connected;
        ch.configureBlocking(false);
        selector = Selector.open();
        ch.register(selector, SelectionKey.OP_READ);
        in.flip();
    }

    public void send(byte[] frame) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 + frame.length);
        b.putInt(frame.length).put(frame).flip();
        writeRaw(b);
    }

    public void writeRaw(byte[] bytes) throws IOException {
        writeRaw(ByteBuffer.wrap(bytes));
    }

    private void writeRaw(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (ch.write(b) == 0) Thread.onSpinWait();
        }
    }

    /** The next frame, or null if none arrives within {@code timeoutMs}. */
    public byte[] receive(long timeoutMs) throws IOException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (true) {
            byte[] f = buffered();
            if (f != null) return f;
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0 || eof) return null;
            fill(left);
        }
    }

    /** The next frame that has come already (read or readable now), or null: no waiting. */
    public byte[] receiveNow() throws IOException {
        while (true) {
            byte[] f = buffered();
            if (f != null) return f;
            if (eof) return null;
            in.compact();
            int n;
            try {
                n = ch.read(in); // (non-blocking)
            } finally {
                in.flip();
            }
            if (n < 0) eof = true;
            if (n <= 0) return null;
        }
    }

    /** The first of the frames that have come already that matches, or null; the others are skipped. */
    public byte[] receiveNow(Predicate<byte[]> match) throws IOException {
        for (byte[] f; (f = receiveNow()) != null; ) {
            if (match.test(f)) return f;
        }
        return null;
    }

    /** Receives frames until one matches, skipping others; null on timeout. */
    public byte[] receive(long timeoutMs, Predicate<byte[]> match) throws IOException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (true) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) return null;
            byte[] f = receive(left);
            if (f == null) return null;
            if (match.test(f)) return f;
        }
    }

    /** The next whole frame already read, or null. */
    private byte[] buffered() {
        if (in.remaining() < 4) return null;
        int len = in.getInt(in.position());
        if (in.remaining() < 4 + len) return null;
        in.getInt();
        byte[] f = new byte[len];
        in.get(f);
        return f;
    }

    /** True if the daemon closed (or reset) the connection within {@code timeoutMs}. */
    public boolean closedByPeer(long timeoutMs) throws IOException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (!eof) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) return false;
            in.position(in.limit()); // discard whatever arrives
            try {
                fill(left);
            } catch (IOException e) {
                return true;
            }
        }
        return true;
    }

    private void fill(long timeoutMs) throws IOException {
        selector.select(Math.max(1, timeoutMs));
        selector.selectedKeys().clear();
        in.compact();
        try {
            if (ch.read(in) < 0) eof = true;
        } finally {
            in.flip();
        }
    }

    @Override
    public void close() throws IOException {
        selector.close();
        ch.close();
    }
}
