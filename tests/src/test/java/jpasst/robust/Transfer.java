package jpasst.robust;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.security.MessageDigest;
import java.util.Arrays;

import jpasst.guest.StreamSource;
import jpasst.guest.TcpApp;
import jpasst.guest.TcpConn;

/**
 * One transfer of the load tests over one TCP connection of the synthetic guest: once started,
 * the guest sends {@link Payloads#header} and the upload buffer, then its FIN; it takes the
 * download until the daemon's FIN, checking it byte by byte and by sha256 against the buffer it
 * names. The connection's fate is {@link #state}.
 */
final class Transfer implements TcpApp {
    enum State { SYN_SENT, ESTABLISHED, DONE, RESET, FAILED }

    final int id, up, down;
    final byte[] header;
    final long upLen;
    State state = State.SYN_SENT;
    TcpConn conn;
    private final Transfers owner;
    private boolean started;
    private final MessageDigest sha = Payloads.sha256();
    long rcvd, firstMismatch = -1;
    boolean mismatch;
    String why;

    Transfer(Transfers owner, int id, int up, int down) {
        this.owner = owner;
        this.id = id;
        this.up = up;
        this.down = down;
        header = Payloads.header(up, down, id);
        upLen = 8L + Payloads.SIZES[up];
    }

    /** What the guest sends: the header, then the upload buffer. */
    StreamSource source() {
        MemorySegment h = MemorySegment.ofArray(header), d = MemorySegment.ofArray(Payloads.data(up));
        return (off, dst, at, len) -> {
            int fromHeader = (int) Math.max(0, Math.min(len, 8 - off));
            if (fromHeader > 0) MemorySegment.copy(h, off, dst, at, fromHeader);
            if (len > fromHeader) MemorySegment.copy(d, off + fromHeader - 8, dst, at + fromHeader, len - fromHeader);
        };
    }

    /** Lets the transfer begin (connections can be opened first and held). */
    void start() {
        started = true;
        if (state == State.ESTABLISHED) begin();
    }

    private void begin() {
        conn.write(upLen);
        conn.close();
    }

    boolean intact() {
        return state == State.DONE && !mismatch;
    }

    /** Gives up on it (a test's deadline passed). */
    void abandon(String reason) {
        if (state == State.SYN_SENT || state == State.ESTABLISHED) {
            conn.abort();
            state = State.FAILED;
            why = reason;
        }
    }

    @Override
    public void established(TcpConn c) {
        state = State.ESTABLISHED;
        if (started) begin();
    }

    @Override
    public void data(TcpConn c, MemorySegment s, long off, int len) {
        byte[] want = Payloads.data(down), chunk = owner.chunk;
        for (int done = 0; done < len; ) {
            int n = Math.min(chunk.length, len - done);
            MemorySegment.copy(s, ValueLayout.JAVA_BYTE, off + done, chunk, 0, n);
            sha.update(chunk, 0, n);
            long at = rcvd + done;
            if (at + n > want.length) {
                mark(Math.max(at, want.length));
            } else {
                int m = Arrays.mismatch(chunk, 0, n, want, (int) at, (int) at + n);
                if (m >= 0) mark(at + m);
            }
            done += n;
        }
        rcvd += len;
    }

    private void mark(long at) {
        mismatch = true;
        if (firstMismatch < 0) firstMismatch = at;
    }

    @Override
    public void closed(TcpConn c, boolean reset) {
        if (reset) {
            why = state == State.SYN_SENT ? "reset instead of SYN-ACK" : "reset: " + c;
            state = State.RESET;
            return;
        }
        boolean whole = rcvd == Payloads.SIZES[down] && MessageDigest.isEqual(sha.digest(), Payloads.sha(down));
        if (!whole) mismatch = true;
        else owner.bytesDownIntact += rcvd;
        state = State.DONE;
        why = whole ? null : "download corrupted or short: " + rcvd + " bytes";
    }

    @Override
    public String toString() {
        return "transfer " + id + " " + state + " up " + Payloads.SIZES[up] + " down " + Payloads.SIZES[down]
                + " got " + rcvd + (firstMismatch >= 0 ? " first wrong byte at " + firstMismatch : "")
                + (why != null ? " (" + why + ")" : "") + (conn != null ? "; " + conn : "");
    }
}
