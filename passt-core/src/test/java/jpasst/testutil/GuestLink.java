package jpasst.testutil;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.function.Predicate;

import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.guest.vhost.Wire;

/**
 * The guest's end of the daemon's guest transport, for tests: by default QEMU's stream protocol
 * over a real UNIX stream socket (frames sent with their 4-byte big-endian length, received the
 * same way); or, {@link #vhostUser}, the vhost-user front-end of synthetic-guest (a memfd as the
 * guest's memory, the daemon reading and writing the frames in its virtqueues), so the same
 * tests run over both transports.
 */
public final class GuestLink implements AutoCloseable {
    private final SocketChannel ch;
    private final Selector selector;
    private final ByteBuffer in = ByteBuffer.allocate(1 << 21);
    private final VhostUserFrontEnd fe; // null: the stream socket
    private boolean eof, lastVouched;

    public GuestLink(Path socket) throws IOException {
        this(SocketChannel.open(UnixDomainSocketAddress.of(socket)));
    }

    public GuestLink(SocketChannel connected) throws IOException {
        ch = connected;
        ch.configureBlocking(false);
        selector = Selector.open();
        ch.register(selector, SelectionKey.OP_READ);
        in.flip();
        fe = null;
    }

    private GuestLink(VhostUserFrontEnd fe) {
        this.fe = fe;
        ch = null;
        selector = null;
    }

    /** A vhost-user front-end connected to the daemon's {@code socket}, its rings started. */
    public static GuestLink vhostUser(Path socket, VhostUserFrontEnd.Options o) throws IOException {
        VhostUserFrontEnd fe = new VhostUserFrontEnd(o);
        try {
            fe.connect(socket.toString());
            fe.start();
        } catch (IOException | RuntimeException e) {
            fe.close();
            throw e;
        }
        return new GuestLink(fe);
    }

    /** The vhost-user front-end (null over the stream socket). */
    public VhostUserFrontEnd frontEnd() {
        return fe;
    }

    /**
     * Whether the transport vouched for the checksums of the last frame received: vhost-user's
     * DATA_VALID flag in its virtio-net header (a guest then skips the check, and the daemon
     * may leave TCP and UDP checksums out, as passt does).
     */
    public boolean lastChecksumsVouched() {
        return lastVouched;
    }

    public void send(byte[] frame) throws IOException {
        sendBatch(java.util.List.of(frame));
    }

    /**
     * Sends several frames at once, so the daemon most likely handles them in one batch: one
     * write over the stream socket, one kick over vhost-user.
     */
    public void sendBatch(java.util.List<byte[]> frames) throws IOException {
        if (fe != null) {
            long deadline = System.nanoTime() + 5_000_000_000L;
            for (byte[] frame : frames) {
                while (!fe.send(frame)) { // every transmit buffer in flight: the daemon returns them
                    fe.kick(Wire.TX);
                    if (System.nanoTime() > deadline) throw new IOException("no transmit buffer came back in 5 s");
                    Thread.onSpinWait();
                }
            }
            fe.kick(Wire.TX);
            return;
        }
        int total = 0;
        for (byte[] f : frames) total += 4 + f.length;
        ByteBuffer b = ByteBuffer.allocate(total);
        for (byte[] f : frames) b.putInt(f.length).put(f);
        writeRaw(b.flip());
    }

    public void writeRaw(byte[] bytes) throws IOException {
        if (fe != null) throw new UnsupportedOperationException("raw bytes on a vhost-user link");
        writeRaw(ByteBuffer.wrap(bytes));
    }

    private void writeRaw(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (ch.write(b) == 0) Thread.onSpinWait();
        }
    }

    /** The next frame, or null if none arrives within {@code timeoutMs}. */
    public byte[] receive(long timeoutMs) throws IOException {
        if (fe != null) {
            byte[] f = fe.receive(timeoutMs);
            lastVouched = f != null && (fe.lastHeaderFlags() & Wire.NET_HDR_F_DATA_VALID) != 0;
            return f;
        }
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
        if (fe != null) return fe.closedByBackEnd(timeoutMs);
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
        if (fe != null) {
            fe.close();
            return;
        }
        selector.close();
        ch.close();
    }
}
