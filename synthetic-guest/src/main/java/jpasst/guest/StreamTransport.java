package jpasst.guest;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.guest.net.Bytes;
import jpasst.guest.sys.Native;

/**
 * QEMU's stream netdev seen from the guest: the daemon's UNIX stream socket, every frame behind
 * its 4-byte big-endian length, non-blocking. Reads are large (up to {@code inSize} bytes, a
 * partial frame kept for the next read), frames queue in one output buffer and leave in one
 * write per {@link #flush}; what the socket does not take waits for POLLOUT. The socket keeps
 * the kernel's default buffer sizes, as QEMU's does.
 *
 * Frame path: no allocation (buffers by address, frames handed over in the input buffer).
 */
public final class StreamTransport implements Transport {
    private static final ValueLayout.OfInt LENGTH = Bytes.BE32;

    private final Arena arena = Arena.ofShared();
    private final int fd;
    private final int inSize, outSize;
    private final MemorySegment in, out, pollfd;
    private int inFill, outHead, outTail;
    private boolean eof;
    /** Frames committed and written (counters). */
    public long framesOut, framesIn, bytesOut, bytesIn, outputFull;

    private StreamTransport(int fd, int inSize, int outSize) {
        this.fd = fd;
        this.inSize = inSize;
        this.outSize = outSize;
        in = arena.allocate(inSize + 4 + 65536, 64);
        out = arena.allocate(outSize, 64);
        pollfd = arena.allocate(8, 8);
        Native.nonBlocking(fd);
    }

    /**
     * Connects to the daemon's socket at {@code path}, waiting up to {@code timeoutMs} for it to
     * listen; buffers of 8 MiB each way.
     */
    public static StreamTransport connect(String path, long timeoutMs) throws IOException {
        return connect(path, timeoutMs, 8 << 20, 8 << 20);
    }

    public static StreamTransport connect(String path, long timeoutMs, int inSize, int outSize) throws IOException {
        int fd = Native.socket(Native.AF_UNIX, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0);
        if (fd < 0) throw new IOException("socket: " + Native.strerror(-fd));
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        int r;
        while ((r = Native.connectUnix(fd, path)) < 0 && System.nanoTime() < deadline
                && (r == -Native.ECONNREFUSED || r == -Native.ENOENT)) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (r < 0) {
            Native.close(fd);
            throw new IOException("connect to " + path + ": " + Native.strerror(-r));
        }
        return new StreamTransport(fd, inSize, outSize);
    }

    /** Takes {@code fd}, a stream socket already connected to the daemon (a socketpair's end, say). */
    public static StreamTransport adopt(int fd) {
        return new StreamTransport(fd, 8 << 20, 8 << 20);
    }

    public int descriptor() {
        return fd;
    }

    @Override
    public String name() {
        return "stream";
    }

    @Override
    public MemorySegment out() {
        return out;
    }

    @Override
    public long reserve(int len) {
        if (outTail + 4 + len > outSize) {
            flush();
            if (outHead > 0) { // the unwritten rest to the front
                MemorySegment.copy(out, outHead, out, 0, outTail - outHead);
                outTail -= outHead;
                outHead = 0;
            }
            if (outTail + 4 + len > outSize) {
                outputFull++;
                return -1;
            }
        }
        return outTail + 4;
    }

    @Override
    public void commit(long off, int len) {
        out.set(LENGTH, off - 4, len);
        outTail = (int) off + len;
        framesOut++;
    }

    /** Queues raw bytes as they are, no length in front (malformed framing, for robustness tests). */
    public void commitRaw(byte[] bytes) {
        if (outTail + bytes.length > outSize) {
            flush();
            if (outTail + bytes.length > outSize) throw new IllegalStateException("output full");
        }
        MemorySegment.copy(bytes, 0, out, ValueLayout.JAVA_BYTE, outTail, bytes.length);
        outTail += bytes.length;
    }

    @Override
    public boolean flush() {
        while (outHead < outTail) {
            long n = Native.writeAt(fd, out.address() + outHead, outTail - outHead);
            if (n < 0) {
                if (n == -Native.EINTR) continue;
                if (n == -Native.EAGAIN) return false;
                eof = true; // EPIPE, ECONNRESET: the daemon is gone
                outHead = outTail = 0;
                return true;
            }
            bytesOut += n;
            outHead += (int) n;
        }
        outHead = outTail = 0;
        return true;
    }

    @Override
    public long queued() {
        return outTail - outHead;
    }

    @Override
    public boolean closed() {
        return eof;
    }

    @Override
    public int poll(Receiver r, int timeoutMs) {
        if (eof) throw new IllegalStateException("the daemon closed the guest's connection");
        boolean pending = !flush();
        pollfd.set(ValueLayout.JAVA_INT, 0, fd);
        pollfd.set(ValueLayout.JAVA_SHORT, 4, (short) (Native.POLLIN | (pending ? Native.POLLOUT : 0)));
        int ready = Native.poll(pollfd, 1, timeoutMs);
        int frames = 0;
        if (ready > 0) {
            int ev = pollfd.get(ValueLayout.JAVA_SHORT, 6);
            if ((ev & Native.POLLOUT) != 0) flush();
            if ((ev & (Native.POLLIN | Native.POLLHUP | Native.POLLERR)) != 0) frames = read(r);
        }
        if (eof) throw new IllegalStateException("the daemon closed the guest's connection");
        return frames;
    }

    /** Reads what is there (up to eight reads of the input buffer's size), hands over every whole frame. */
    private int read(Receiver r) {
        int frames = 0;
        for (int round = 0; round < 8; round++) {
            long want = inSize - inFill;
            long n = Native.readAt(fd, in.address() + inFill, want);
            if (n == 0) {
                eof = true;
                break;
            }
            if (n < 0) {
                if (n == -Native.EAGAIN || n == -Native.EINTR) break;
                eof = true;
                break;
            }
            bytesIn += n;
            inFill += (int) n;
            int pos = 0;
            while (inFill - pos >= 4) {
                int len = in.get(LENGTH, pos);
                if (len < 14 || len > 65535 + 4 + 40) {
                    throw new IllegalStateException("the daemon sent a frame of length " + len);
                }
                if (inFill - pos - 4 < len) break;
                framesIn++;
                frames++;
                r.frame(in, pos + 4, len, false);
                pos += 4 + len;
            }
            if (pos > 0) {
                int rest = inFill - pos;
                if (rest > 0) MemorySegment.copy(in, pos, in, 0, rest);
                inFill = rest;
            }
            if (n < want) break;
        }
        return frames;
    }

    @Override
    public void close() {
        Native.close(fd);
        arena.close();
    }
}
