package jpasst.flow;

/**
 * One TCP connection's state, as passt's {@code struct tcp_tap_conn}: the two sequence spaces
 * we splice together, the windows, the timers. Its addresses, ports and host socket are its
 * flow's, in {@link Flows} (slot {@link #index}). Made when a slot is first used by TCP and
 * reused with it afterwards, never per packet.
 *
 * Sequence names follow passt: "to tap" is what we send to the guest, "from tap" what the guest
 * sends us.
 */
final class TcpConn {
    // events (passt's conn->events), a bit set
    static final int SOCK_ACCEPTED = 1 << 0;     // inbound: accepted, SYN sent to the guest
    static final int TAP_SYN_RCVD = 1 << 1;      // outbound: guest SYN seen, host connect in progress
    static final int TAP_SYN_ACK_SENT = 1 << 2;  // outbound: connected, SYN-ACK sent to the guest
    static final int ESTABLISHED = 1 << 3;
    static final int SOCK_FIN_RCVD = 1 << 4;     // host peer closed its side (EOF read)
    static final int SOCK_FIN_SENT = 1 << 5;     // we shut down the host socket's write side
    static final int TAP_FIN_RCVD = 1 << 6;      // guest sent FIN
    static final int TAP_FIN_SENT = 1 << 7;      // we sent FIN to the guest
    static final int TAP_FIN_ACKED = 1 << 8;     // guest acknowledged our FIN

    /** The flow's slot. */
    final int index;
    int events;

    int seqToTap;       // next sequence number we send to the guest
    int seqHighToTap;   // the highest seqToTap so far (it goes back on retransmission)
    int seqFinToTap;    // sequence number of our FIN, once the host peer closed (SOCK_FIN_RCVD)
    int seqAckFromTap;  // the guest has acknowledged everything before this
    int seqFromTap;     // next sequence number expected from the guest (all before it written to the host)
    int pendingBytes;   // guest data after seqFromTap queued for the host socket (see TcpToHost)
    int pendingHead = -1, pendingTail = -1; // its chunks, a list in TcpToHost's arrays
    int seqInitToTap;
    int seqConsumed;    // host data before this was acknowledged and dropped from the socket

    int wndFromTap;     // the guest's receive window in bytes (scaled)
    int wsFromTap;      // the guest's window scale, 0 if it did not offer scaling
    int wsToTap;        // our window scale, 0 if the guest did not offer scaling
    int mss;            // the guest's MSS
    boolean peekOffset; // SO_PEEK_OFF works on this socket
    boolean ackPending;
    boolean wantWrite;  // EPOLLOUT requested (host send buffer was full)
    boolean sockReadable;
    boolean inputOff;   // EPOLLIN not watched while the guest's window is full: read once it opens
    boolean rdHup;      // the host peer closed its side (EPOLLRDHUP): its data is all queued
    boolean windowKept; // window (to the guest) still holds: nothing written to the socket since
    int window, windowSeq; // ... it was worked out at seqFromTap windowSeq (see TcpWindow.toGuest)

    long deadline;      // retransmission / handshake / FIN timer, nanoTime; 0 = none
    int retrans;
    int dupAcks;

    TcpConn(int index) {
        this.index = index;
    }

    /** The next sequence number the guest may send: after what is written and what is queued. */
    int seqNextFromTap() {
        return seqFromTap + pendingBytes;
    }

    boolean has(int ev) {
        return (events & ev) != 0;
    }

    /** Bytes sent to the guest and not yet acknowledged by it (excluding a FIN). */
    int inFlight() {
        int n = seqToTap - seqAckFromTap;
        if (has(TAP_FIN_SENT) && n > 0) n--;
        return n;
    }

    /** A fresh connection. */
    void reset() {
        events = 0;
        ackPending = wantWrite = sockReadable = inputOff = rdHup = windowKept = false;
        pendingBytes = 0;
        pendingHead = pendingTail = -1;
        deadline = 0;
        retrans = dupAcks = 0;
        peekOffset = false;
    }
}
