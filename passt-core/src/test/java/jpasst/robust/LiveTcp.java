package jpasst.robust;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

import jpasst.guest.Frames;

/**
 * A handful of real TCP connections from the fuzzing guest to the test's listeners, kept alive
 * through the run, so that mutated segments also meet connections in every state (handshake,
 * established with data both ways, half-closed) instead of only the "no such connection" path.
 *
 * The guest side is deliberately simple: it learns the daemon's sequence numbers from the frames
 * the daemon sends (SYN-ACK, data, ACKs), sends data at the next sequence number the daemon has
 * acknowledged (go-back-N: whatever was not acknowledged is sent again), acknowledges in-order
 * data, and starts over on a new port after a reset, a close or a stall. It also answers some of
 * the daemon's SYNs for inbound (-t) connections.
 */
final class LiveTcp {
    private static final int NONE = 0, SYN_SENT = 1, EST = 2, FIN_SENT = 3;

    private final class Session {
        final boolean v6;
        final int dport;
        int gport;
        int state = NONE;
        int sndNxt, rcvNxt;
        boolean ackDue;
        int idle;

        Session(boolean v6, int dport, int gport) {
            this.v6 = v6;
            this.dport = dport;
            this.gport = gport;
        }

        byte[] segment(int seq, int ack, int flags, byte[] options, byte[] payload) {
            return v6 ? Frames.tcp6(FuzzFrames.ADDR6, FuzzFrames.GW6, gport, dport, seq, ack, flags, 2048, options, payload)
                    : Frames.tcp4(FuzzFrames.ADDR4, FuzzFrames.GW4, gport, dport, seq, ack, flags, 2048, options, payload);
        }

        void restart() {
            state = NONE;
            gport = nextPort();
            idle = 0;
        }
    }

    private final SplittableRandom rnd;
    private final List<Session> sessions = new ArrayList<>();
    private final int inboundGuestPort;
    private int portCursor = 50000;
    private long established, resets;

    LiveTcp(SplittableRandom rnd, int tcp4, int tcp6, boolean v6, int inboundGuestPort) {
        this.rnd = rnd;
        this.inboundGuestPort = inboundGuestPort;
        sessions.add(new Session(false, tcp4, nextPort()));
        sessions.add(new Session(false, tcp4, nextPort()));
        if (v6) sessions.add(new Session(true, tcp6, nextPort()));
    }

    private int nextPort() {
        if (++portCursor > 60000) portCursor = 50001;
        return portCursor;
    }

    long established() {
        return established;
    }

    long resets() {
        return resets;
    }

    /** Valid segments of the sessions as they stand now: material for mutation. */
    byte[] template() {
        Session s = sessions.get(rnd.nextInt(sessions.size()));
        if (s.state == NONE || s.state == SYN_SENT) {
            return s.segment(s.sndNxt - 1, 0, Frames.SYN, Frames.linuxSynOptions(1460, 7), new byte[0]);
        }
        return switch (rnd.nextInt(4)) {
            case 0 -> s.segment(s.sndNxt, s.rcvNxt, Frames.ACK, new byte[0], new byte[0]);
            case 1 -> s.segment(s.sndNxt, s.rcvNxt, Frames.ACK | Frames.FIN, new byte[0], new byte[0]);
            default -> s.segment(s.sndNxt, s.rcvNxt, Frames.ACK | Frames.PSH, new byte[0], payload());
        };
    }

    private byte[] payload() {
        byte[] p = new byte[1 + rnd.nextInt(rnd.nextInt(8) == 0 ? 1400 : 64)];
        rnd.nextBytes(p);
        return p;
    }

    /** Moves every session on by one step: handshakes, data, acknowledgements, closes. */
    void drive(Consumer<byte[]> send) {
        for (Session s : sessions) {
            switch (s.state) {
                case NONE -> {
                    int isn = rnd.nextInt();
                    s.sndNxt = isn + 1;
                    s.state = SYN_SENT;
                    s.idle = 0;
                    send.accept(s.segment(isn, 0, Frames.SYN, Frames.linuxSynOptions(1460, 7), new byte[0]));
                }
                case SYN_SENT, FIN_SENT -> {
                    if (++s.idle > 50) s.restart();
                }
                case EST -> {
                    int r = rnd.nextInt(100);
                    if (r < 60) {
                        byte[] p = payload();
                        send.accept(s.segment(s.sndNxt, s.rcvNxt, Frames.ACK | Frames.PSH, new byte[0], p));
                        s.sndNxt += p.length;
                        s.ackDue = false;
                    } else if (r < 62) {
                        send.accept(s.segment(s.sndNxt, s.rcvNxt, Frames.ACK | Frames.FIN, new byte[0], new byte[0]));
                        s.sndNxt++;
                        s.state = FIN_SENT;
                        s.idle = 0;
                    } else if (r < 63) {
                        send.accept(s.segment(s.sndNxt, 0, Frames.RST, new byte[0], new byte[0]));
                        s.restart();
                    } else if (s.ackDue) {
                        send.accept(s.segment(s.sndNxt, s.rcvNxt, Frames.ACK, new byte[0], new byte[0]));
                        s.ackDue = false;
                    }
                    if (s.state == EST && ++s.idle > 200) s.restart();
                }
                default -> { }
            }
        }
    }

    /** Learns from a frame the daemon sent to the guest. */
    void onFrame(byte[] f, Consumer<byte[]> send) {
        int type = f.length >= 14 ? Frames.u16(f, 12) : 0;
        int l4;
        boolean v6;
        if (type == 0x0800 && f.length >= 54 && (f[23] & 0xff) == 6) {
            l4 = 14 + (f[14] & 0xf) * 4;
            v6 = false;
        } else if (type == 0x86dd && f.length >= 74 && (f[20] & 0xff) == 6) {
            l4 = 54;
            v6 = true;
        } else {
            return;
        }
        if (l4 + 20 > f.length) return;
        int sport = Frames.u16(f, l4), dport = Frames.u16(f, l4 + 2);
        int seq = Frames.i32(f, l4 + 4), ack = Frames.i32(f, l4 + 8);
        int flags = f[l4 + 13] & 0xff;
        int dataLen = f.length - l4 - ((f[l4 + 12] & 0xf0) >>> 2);
        if (dport == inboundGuestPort && (flags & (Frames.SYN | Frames.ACK)) == Frames.SYN) {
            if (rnd.nextBoolean()) {
                int isn = rnd.nextInt();
                send.accept(v6 ? Frames.tcp6(FuzzFrames.ADDR6, FuzzFrames.GW6, dport, sport, isn, seq + 1,
                        Frames.SYN | Frames.ACK, 2048, Frames.linuxSynOptions(1460, 7), new byte[0])
                        : Frames.tcp4(FuzzFrames.ADDR4, FuzzFrames.GW4, dport, sport, isn, seq + 1,
                        Frames.SYN | Frames.ACK, 2048, Frames.linuxSynOptions(1460, 7), new byte[0]));
            }
            return;
        }
        for (Session s : sessions) {
            if (s.v6 != v6 || s.gport != dport || s.dport != sport) continue;
            s.idle = 0;
            if ((flags & Frames.RST) != 0) {
                resets++;
                s.restart();
                return;
            }
            if (s.state == SYN_SENT && (flags & (Frames.SYN | Frames.ACK)) == (Frames.SYN | Frames.ACK)) {
                if (ack != s.sndNxt) return;
                s.rcvNxt = seq + 1;
                s.state = EST;
                established++;
                send.accept(s.segment(s.sndNxt, s.rcvNxt, Frames.ACK, new byte[0], new byte[0]));
                return;
            }
            if (s.state != EST && s.state != FIN_SENT) return;
            if ((flags & Frames.ACK) != 0 && s.state == EST) s.sndNxt = ack; // go back to what was taken
            if (dataLen > 0 && seq == s.rcvNxt) s.rcvNxt += dataLen;
            if ((flags & Frames.FIN) != 0 && seq + Math.max(0, dataLen) == s.rcvNxt) {
                s.rcvNxt++;
                send.accept(s.segment(s.sndNxt, s.rcvNxt, Frames.ACK, new byte[0], new byte[0]));
                if (s.state == FIN_SENT) s.restart();
                return;
            }
            if (dataLen > 0) s.ackDue = true;
            return;
        }
    }
}
