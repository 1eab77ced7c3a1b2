package jpasst.robust;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

import jpasst.guest.Frames;
import jpasst.guest.Match;
import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;

/**
 * A daemon, a guest link to it and one TCP connection over IPv4 from the guest's {@link #guestPort}
 * to a listener on the host's loopback (reached at the gateway), its handshake done frame by
 * frame: a bare SYN from {@link #isn}, the daemon's SYN-ACK, the guest's ACK; then accepted by the
 * host ({@link #host}). For tests that build every segment of the guest themselves
 * ({@link #segment}) and read the daemon's raw frames from {@link #g}. Closing it closes all.
 */
final class RawTcpConnection implements AutoCloseable {
    final ServerSocket listener;
    final InProcessPasst p;
    final GuestLink g;
    final int guestPort, hostPort, isn;
    /** The daemon's initial sequence number plus one: what the guest acknowledges after the handshake. */
    final int their;
    final Socket host;

    private RawTcpConnection(ServerSocket listener, InProcessPasst p, GuestLink g, int guestPort, int isn)
            throws IOException {
        this.listener = listener;
        this.p = p;
        this.g = g;
        this.guestPort = guestPort;
        this.hostPort = listener.getLocalPort();
        this.isn = isn;
        g.send(segment(isn, 0, Frames.SYN, new byte[0]));
        byte[] synAck = g.receive(3000, Match.tcp(guestPort, Frames.SYN | Frames.ACK));
        assertNotNull(synAck);
        their = Frames.i32(synAck, 14 + 20 + 4) + 1;
        g.send(segment(isn + 1, their, Frames.ACK, new byte[0]));
        host = listener.accept();
    }

    static RawTcpConnection open(int guestPort, int isn) throws Exception {
        ServerSocket listener = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"));
        InProcessPasst p = null;
        GuestLink g = null;
        try {
            p = new InProcessPasst();
            g = p.connect();
            return new RawTcpConnection(listener, p, g, guestPort, isn);
        } catch (Throwable e) {
            if (g != null) g.close();
            if (p != null) p.close();
            listener.close();
            throw e;
        }
    }

    /** A segment of this connection from the guest: window 65535, no options. */
    byte[] segment(int seq, int ack, int flags, byte[] payload) {
        return Frames.tcp4(FuzzFrames.ADDR4, FuzzFrames.GW4, guestPort, hostPort, seq, ack, flags, 65535,
                new byte[0], payload);
    }

    @Override
    public void close() throws Exception {
        try (listener; p; g; host) {
            // closed in reverse order: the host's socket first, the listener last
        }
    }
}
