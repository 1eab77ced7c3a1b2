package jpasst.robust;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.BooleanSupplier;

import jpasst.guest.GuestStack;

/**
 * The load tests' guest: the synthetic guest's stack ({@link GuestStack}: QEMU's stream protocol on
 * the daemon's socket, DHCP, TCP with its windows and retransmissions) carrying {@link Transfer}s
 * to the {@link HostServer} behind the gateway, all on the calling thread. As a Linux guest, it
 * probes zero windows with a bare ACK one byte behind, and keeps at most 1 MB in flight per
 * connection; its receive window is 8 MB.
 */
final class Transfers implements AutoCloseable {
    private final GuestStack g;
    private final int mss;
    private int nextId;
    private boolean disconnected;
    long bytesDownIntact;
    /** Where a transfer copies what it receives to check it: one for all (a soak keeps every transfer). */
    final byte[] chunk = new byte[65536];

    Transfers(Path socket, int mss) throws IOException {
        g = GuestStack.stream(socket.toString());
        g.linuxZeroWindowProbes = true;
        g.maxInFlight = 1 << 20;
        g.rcvWindow = 8 << 20;
        this.mss = mss;
    }

    /** DISCOVER, OFFER, REQUEST, ACK: the guest has its address, the gateway and the daemon's MAC. */
    void dhcp(long timeoutMs) throws IOException {
        if (!g.dhcp(timeoutMs)) throw new IOException("no DHCP lease within " + timeoutMs + " ms");
    }

    /** Opens a connection to the gateway's {@code port} carrying the given transfer; SYN sent. */
    Transfer connect(int port, int up, int down) {
        Transfer t = new Transfer(this, nextId++, up, down);
        t.conn = g.connect(port, mss, t);
        t.conn.source(t.source());
        return t;
    }

    int liveConnections() {
        return g.connections().size();
    }

    boolean disconnected() {
        return disconnected;
    }

    /** One round of the guest's loop, waiting up to {@code waitMs} for frames. */
    void poll(long waitMs) {
        if (disconnected) return;
        try {
            g.poll((int) waitMs);
        } catch (IllegalStateException closed) {
            disconnected = true;
        }
    }

    /** Polls until {@code done} or {@code ms} pass, or the daemon closed the connection; true if done. */
    boolean runUntil(BooleanSupplier done, long ms) {
        long deadline = System.nanoTime() + ms * 1_000_000;
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline || disconnected) return done.getAsBoolean();
            poll(5);
        }
        return true;
    }

    /** Timeouts that made a connection go back to its first unacknowledged byte. */
    long retransmits() {
        return g.retransmitTimeouts;
    }

    long synRetransmits() {
        return g.synRetransmits;
    }

    long probes() {
        return g.zeroWindowProbes;
    }

    @Override
    public void close() {
        g.close();
    }
}
