package jpasst.guest;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One TCP connection of a {@link GuestStack} to a host server, both ways at once, as the tests
 * of the stack run it against a daemon (jpasst's or upstream passt's): the host accepts on
 * {@code host}, sends {@code down} and its FIN and reads to the end; the guest connects to the
 * server's port at the gateway's address, sends {@code up} bytes of {@link StreamSource}'s
 * pattern and its FIN, and takes what comes until the connection closes. The outcome is left
 * for the caller to check: what each side received, whether the connection ended in a reset.
 */
public final class TcpExchange {
    /** What the guest received, in order. */
    public final byte[] toGuest;
    /** What the host received, or null if its side did not finish. */
    public final byte[] toHost;
    /** The guest's connection closed at all (within the time given), and whether by a reset. */
    public final boolean closed, reset;
    /** The connection as the guest's stack last saw it, for messages. */
    public final String conn;

    private TcpExchange(byte[] toGuest, byte[] toHost, boolean closed, boolean reset, String conn) {
        this.toGuest = toGuest;
        this.toHost = toHost;
        this.closed = closed;
        this.reset = reset;
        this.conn = conn;
    }

    /** Runs the exchange on the calling thread (the host's side on another); at most {@code timeoutMs}. */
    public static TcpExchange run(GuestStack g, ServerSocket host, byte[] down, int up, long timeoutMs)
            throws InterruptedException {
        return run(g, host, down, up, 65480, timeoutMs);
    }

    /** The same, the guest's SYN announcing an MSS of {@code mss}. */
    public static TcpExchange run(GuestStack g, ServerSocket host, byte[] down, int up, int mss, long timeoutMs)
            throws InterruptedException {
        CompletableFuture<byte[]> uploaded = CompletableFuture.supplyAsync(() -> {
            try (Socket s = host.accept(); InputStream in = s.getInputStream()) {
                s.getOutputStream().write(down);
                s.shutdownOutput();
                return in.readAllBytes();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        boolean[] closed = {false, false};
        TcpConn c = g.connect(host.getLocalPort(), mss, new TcpApp() {
            @Override
            public void data(TcpConn conn, MemorySegment s, long off, int len) {
                got.write(s.asSlice(off, len).toArray(ValueLayout.JAVA_BYTE), 0, len);
            }

            @Override
            public void closed(TcpConn conn, boolean reset) {
                closed[0] = true;
                closed[1] = reset;
            }
        });
        c.write(up);
        c.close();
        g.pollUntil(() -> closed[0], timeoutMs);
        byte[] toHost;
        try {
            toHost = uploaded.get(closed[0] ? 10 : 0, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            toHost = null;
        }
        return new TcpExchange(got.toByteArray(), toHost, closed[0], closed[1], c.toString());
    }

    /**
     * What went wrong, or null if the exchange was whole: closed by both FINs (no reset), the
     * guest got {@code down} exactly, the host got {@code up} bytes of the pattern.
     */
    public String problem(byte[] down, int up) {
        if (!closed) return "not closed: " + conn;
        if (reset) return "reset instead of both FINs: " + conn;
        if (!java.util.Arrays.equals(down, toGuest)) {
            return "the guest got " + toGuest.length + " bytes, first wrong at " + java.util.Arrays.mismatch(down, toGuest);
        }
        if (toHost == null || toHost.length != up) return "the host got " + (toHost == null ? "nothing" : toHost.length + " bytes");
        int wrong = firstNotPattern(toHost);
        return wrong < 0 ? null : "the upload's byte " + wrong + " is wrong";
    }

    /** The first byte of {@code b} that is not {@link StreamSource}'s pattern, or -1. */
    public static int firstNotPattern(byte[] b) {
        for (int i = 0; i < b.length; i++) {
            if ((b[i] & 0xff) != StreamSource.patternByte(i)) return i;
        }
        return -1;
    }
}
