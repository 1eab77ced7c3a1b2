package jpasst.guest;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;
import java.util.function.Predicate;

import jpasst.guest.vhost.VhostUserFrontEnd;

/**
 * The guest's end of the daemon's guest transport, frame by frame, for tests that craft what
 * they send ({@link Frames}, {@link V6Frames}, malformed frames included) and look at every
 * frame that comes back: over QEMU's stream socket by default, or over vhost-user
 * ({@link #vhostUser}: a memfd as the guest's memory, the daemon reading and writing the frames
 * in its virtqueues), so that the same tests run over both transports.
 *
 * Frames received are copied to arrays. {@link #barrier} orders a test's events without time:
 * an ARP request for an address the daemon answers for, and its reply; the daemon has then
 * handled everything sent before, and the frames that came meanwhile are kept for
 * {@link #receive}.
 */
public final class GuestLink implements AutoCloseable {
    private record Received(byte[] frame, boolean vouched) {}

    private final Transport t;
    private final ArrayDeque<Received> pending = new ArrayDeque<>();
    private final Transport.Receiver keep = (s, off, len, vouched) ->
            pending.add(new Received(s.asSlice(off, len).toArray(ValueLayout.JAVA_BYTE), vouched));
    private boolean eof, lastVouched;
    private int probes;

    public GuestLink(Transport t) {
        this.t = t;
    }

    /** QEMU's stream socket to the daemon listening at {@code socket}. */
    public GuestLink(Path socket) throws IOException {
        this(StreamTransport.connect(socket.toString(), 5_000));
    }

    /** A vhost-user front-end connected to the daemon's {@code socket}, its rings started. */
    public static GuestLink vhostUser(Path socket, VhostUserFrontEnd.Options o) throws IOException {
        return new GuestLink(VhostTransport.connect(socket.toString(), o, 5_000));
    }

    public Transport transport() {
        return t;
    }

    /** The vhost-user front-end (null over the stream socket). */
    public VhostUserFrontEnd frontEnd() {
        return t instanceof VhostTransport v ? v.frontEnd() : null;
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
        sendBatch(List.of(frame));
    }

    /**
     * Sends several frames at once, so the daemon most likely handles them in one batch: one
     * write over the stream socket, one kick over vhost-user.
     */
    public void sendBatch(List<byte[]> frames) throws IOException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        for (byte[] f : frames) {
            long at;
            while ((at = t.reserve(f.length)) < 0) { // the daemon has not taken what went before yet
                t.flush();
                if (t.closed() || System.nanoTime() > deadline) throw new IOException("no room to send a frame in 5 s");
                Thread.onSpinWait();
            }
            MemorySegment.copy(f, 0, t.out(), ValueLayout.JAVA_BYTE, at, f.length);
            t.commit(at, f.length);
        }
        flushAll(deadline);
    }

    /** Bytes as they are, without a length in front (over the stream socket only: malformed framing). */
    public void writeRaw(byte[] bytes) throws IOException {
        if (!(t instanceof StreamTransport s)) throw new UnsupportedOperationException("raw bytes on a vhost-user link");
        s.commitRaw(bytes);
        flushAll(System.nanoTime() + 5_000_000_000L);
    }

    private void flushAll(long deadline) throws IOException {
        while (!t.flush()) {
            if (System.nanoTime() > deadline) throw new IOException("the daemon took no frames for 5 s");
            Thread.onSpinWait();
        }
        if (t.closed()) throw new IOException("the daemon closed the connection");
    }

    /** The next frame, or null if none arrives within {@code timeoutMs}. */
    public byte[] receive(long timeoutMs) throws IOException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (pending.isEmpty()) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0 || eof) return null;
            fill((int) Math.min(left, Integer.MAX_VALUE));
        }
        return take();
    }

    /** The next frame that has come already (read or readable now), or null: no waiting. */
    public byte[] receiveNow() throws IOException {
        if (pending.isEmpty() && !eof) fill(0);
        return pending.isEmpty() ? null : take();
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

    private byte[] take() {
        Received r = pending.poll();
        lastVouched = r.vouched();
        return r.frame();
    }

    private void fill(int timeoutMs) {
        try {
            t.poll(keep, timeoutMs);
        } catch (IllegalStateException closed) {
            eof = true;
        }
    }

    /**
     * Returns once the daemon has handled every frame sent before, and the end of the batch of
     * events they came in (the ACKs and reads it does then): a probe, an ARP request from
     * {@code senderIp} for an address of 203.0.113.0/25 (the daemon answers for any address but
     * the guest's), is answered after them. Frames that come meanwhile are kept for
     * {@link #receive}.
     */
    public void barrier(int senderIp) throws IOException {
        int probe = Frames.ip("203.0.113.0") + 1 + (probes++ & 0x7f);
        send(Frames.arpRequest(Frames.GUEST_MAC, senderIp, probe));
        ArrayDeque<Received> before = new ArrayDeque<>(pending);
        pending.clear();
        long deadline = System.nanoTime() + 5_000_000_000L;
        try {
            while (true) {
                for (Received r; (r = pending.poll()) != null; ) {
                    byte[] f = r.frame();
                    if (f.length >= 42 && Frames.u16(f, 12) == 0x0806 && Frames.u16(f, 20) == 2 && Frames.i32(f, 28) == probe) {
                        before.addAll(pending);
                        return;
                    }
                    before.add(r);
                }
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0 || eof) throw new AssertionError("no answer to the barrier's probe");
                fill((int) left);
            }
        } finally {
            pending.clear();
            pending.addAll(before);
        }
    }

    /** A barrier from the documentation address the tests' daemons hand out ({@link Frames#GUEST4}). */
    public void barrier() throws IOException {
        barrier(Frames.GUEST4);
    }

    /** True if the daemon closed (or reset) the connection within {@code timeoutMs}. */
    public boolean closedByPeer(long timeoutMs) throws IOException {
        if (t instanceof VhostTransport v) return v.frontEnd().closedByBackEnd(timeoutMs);
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (!eof) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) return false;
            pending.clear(); // discard whatever arrives
            fill((int) left);
        }
        return true;
    }

    @Override
    public void close() throws IOException {
        t.close();
    }
}
