package jpasst.e2e;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What QEMU 10.1's {@code -netdev passt} does before it runs passt: a UNIX stream socketpair, one
 * end passed to the daemon as descriptor 3 ({@code --fd 3}), the other kept to speak the stream
 * protocol (4-byte big-endian length, then the Ethernet frame). The JDK cannot do it: its
 * ProcessBuilder closes every descriptor above 2 in the child and its channels hide descriptors,
 * so this goes through libc with java.lang.foreign: socketpair, posix_spawn with a dup2 file
 * action (descriptors 0-2 from files, everything else above 3 closed), waitpid, poll, read, write.
 */
@SuppressWarnings("restricted")
final class SocketPairSpawn implements AutoCloseable {
    private static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
    private static final int O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_TRUNC = 0x200;
    private static final int F_DUPFD_CLOEXEC = 1030, EINTR = 4, POLLIN = 1;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private static final MethodHandle SOCKETPAIR = errno("socketpair",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle FCNTL = LINKER.downcallHandle(symbol("fcntl"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = plain("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = errno("read",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, JAVA_INT, ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle WRITE = errno("write",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, JAVA_INT, ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle POLL = errno("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle WAITPID = errno("waitpid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FA_INIT = plain("posix_spawn_file_actions_init", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FA_DESTROY = plain("posix_spawn_file_actions_destroy",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FA_DUP2 = plain("posix_spawn_file_actions_adddup2",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle FA_OPEN = plain("posix_spawn_file_actions_addopen",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle FA_CLOSEFROM = plain("posix_spawn_file_actions_addclosefrom_np",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SPAWN = plain("posix_spawn",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));

    private final Arena arena = Arena.ofShared();
    private final MemorySegment state = arena.allocate(CALL_STATE);
    private final MemorySegment io = arena.allocate(70_000);
    private int fd;
    private final long pid;
    private Integer exitStatus;

    private SocketPairSpawn(int fd, long pid) {
        this.fd = fd;
        this.pid = pid;
    }

    private static MemorySegment symbol(String name) {
        return LIBC.find(name).orElseThrow(() -> new UnsupportedOperationException("libc has no " + name));
    }

    private static MethodHandle plain(String name, FunctionDescriptor d) {
        return LINKER.downcallHandle(symbol(name), d);
    }

    private static MethodHandle errno(String name, FunctionDescriptor d) {
        return LINKER.downcallHandle(symbol(name), d, Linker.Option.captureCallState("errno"));
    }

    /**
     * Starts {@code command} with one end of a new socketpair as descriptor {@code targetFd},
     * standard input from /dev/null and standard output and error into the given files; returns
     * the other end, ready for frames.
     */
    static SocketPairSpawn start(List<String> command, int targetFd, Path stdout, Path stderr) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CALL_STATE);
            MemorySegment sv = a.allocate(JAVA_INT, 2);
            if ((int) SOCKETPAIR.invokeExact(st, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                throw new IOException("socketpair: errno " + (int) ERRNO.get(st, 0L));
            }
            int ours = sv.get(JAVA_INT, 0), theirs = sv.get(JAVA_INT, 4);
            if (theirs <= targetFd) { // dup2 onto itself would keep close-on-exec: move it above
                int moved = (int) FCNTL.invokeExact(theirs, F_DUPFD_CLOEXEC, targetFd + 1);
                int ignored = (int) CLOSE.invokeExact(theirs);
                theirs = moved;
            }
            MemorySegment fa = a.allocate(256, 16);
            check((int) FA_INIT.invokeExact(fa), "file_actions_init");
            check((int) FA_OPEN.invokeExact(fa, 0, a.allocateFrom("/dev/null"), O_RDONLY, 0), "addopen 0");
            check((int) FA_OPEN.invokeExact(fa, 1, a.allocateFrom(stdout.toString()), O_WRONLY | O_CREAT | O_TRUNC, 0644),
                    "addopen 1");
            check((int) FA_OPEN.invokeExact(fa, 2, a.allocateFrom(stderr.toString()), O_WRONLY | O_CREAT | O_TRUNC, 0644),
                    "addopen 2");
            check((int) FA_DUP2.invokeExact(fa, theirs, targetFd), "adddup2");
            check((int) FA_CLOSEFROM.invokeExact(fa, targetFd + 1), "addclosefrom_np");
            MemorySegment pid = a.allocate(JAVA_INT);
            MemorySegment argv = strings(a, command);
            MemorySegment envp = strings(a, System.getenv().entrySet().stream()
                    .map(e -> e.getKey() + "=" + e.getValue()).toList());
            int r = (int) SPAWN.invokeExact(pid, a.allocateFrom(command.get(0)), fa, MemorySegment.NULL, argv, envp);
            int ignored = (int) FA_DESTROY.invokeExact(fa);
            ignored = (int) CLOSE.invokeExact(theirs);
            if (r != 0) {
                ignored = (int) CLOSE.invokeExact(ours);
                throw new IOException("posix_spawn " + command.get(0) + ": errno " + r);
            }
            return new SocketPairSpawn(ours, pid.get(JAVA_INT, 0));
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void check(int r, String what) throws IOException {
        if (r != 0) throw new IOException("posix_spawn_" + what + ": errno " + r);
    }

    private static MemorySegment strings(Arena a, List<String> list) {
        MemorySegment arr = a.allocate(ADDRESS, list.size() + 1L);
        for (int i = 0; i < list.size(); i++) arr.setAtIndex(ADDRESS, i, a.allocateFrom(list.get(i)));
        arr.setAtIndex(ADDRESS, list.size(), MemorySegment.NULL);
        return arr;
    }

    /** The spawned process's pid (the launcher, for a daemonizing command). */
    long pid() {
        return pid;
    }

    /** Waits up to {@code timeout} for the spawned process; its exit status, or null if it still runs. */
    synchronized Integer awaitExit(Duration timeout) {
        if (exitStatus != null) return exitStatus;
        long deadline = System.nanoTime() + timeout.toNanos();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment status = a.allocate(JAVA_INT);
            while (true) {
                int r = (int) WAITPID.invokeExact(state, (int) pid, status, 1 /* WNOHANG */);
                if (r == pid) {
                    int raw = status.get(JAVA_INT, 0);
                    exitStatus = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f);
                    return exitStatus;
                }
                if (r < 0 && (int) ERRNO.get(state, 0L) != EINTR) return null;
                if (System.nanoTime() - deadline > 0) return null;
                Thread.sleep(20);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Sends one frame with its 4-byte length. */
    synchronized void send(byte[] frame) throws IOException {
        io.set(JAVA_INT.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 0, frame.length);
        MemorySegment.copy(frame, 0, io, ValueLayout.JAVA_BYTE, 4, frame.length);
        long done = 0, total = 4L + frame.length;
        while (done < total) {
            long n = rawWrite(io.asSlice(done), total - done);
            if (n < 0) throw new IOException("write: errno " + -n);
            done += n;
        }
    }

    /** The next frame, or null if none arrives within {@code timeoutMs} or the peer closed. */
    synchronized byte[] receive(long timeoutMs) throws IOException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        byte[] len = readExactly(4, deadline);
        if (len == null) return null;
        int n = (len[0] & 0xff) << 24 | (len[1] & 0xff) << 16 | (len[2] & 0xff) << 8 | (len[3] & 0xff);
        if (n < 14 || n > 65535) throw new IOException("bad frame length " + n);
        return readExactly(n, deadline);
    }

    private byte[] readExactly(int n, long deadline) throws IOException {
        byte[] out = new byte[n];
        int got = 0;
        while (got < n) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0 || !readable((int) Math.min(left, Integer.MAX_VALUE))) return null;
            long r = rawRead(io, n - got);
            if (r == 0) return null; // closed
            if (r < 0) {
                if (-r == EINTR) continue;
                throw new IOException("read: errno " + -r);
            }
            MemorySegment.copy(io, ValueLayout.JAVA_BYTE, 0, out, got, (int) r);
            got += (int) r;
        }
        return out;
    }

    private boolean readable(int timeoutMs) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pfd = a.allocate(8, 4);
            pfd.set(JAVA_INT, 0, fd);
            pfd.set(JAVA_SHORT, 4, (short) POLLIN);
            int r = (int) POLL.invokeExact(state, pfd, 1, timeoutMs);
            return r > 0;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private long rawRead(MemorySegment buf, long len) {
        try {
            long r = (long) READ.invokeExact(state, fd, buf, len);
            return r < 0 ? -(int) ERRNO.get(state, 0L) : r;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private long rawWrite(MemorySegment buf, long len) {
        try {
            long r = (long) WRITE.invokeExact(state, fd, buf, len);
            return r < 0 ? -(int) ERRNO.get(state, 0L) : r;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Gives our end away (to a vhost-user front-end that speaks on it): the caller closes it from
     * now on, {@link #close} does not.
     */
    synchronized int release() {
        int f = fd;
        fd = -1;
        return f;
    }

    /** Closes our end: for a --fd daemon, the guest is gone. */
    @Override
    public synchronized void close() {
        if (fd < 0) return;
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
