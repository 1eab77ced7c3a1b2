package jpasst.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;

/**
 * Integer socket options, the two closes, and the peer of a UNIX socket, with a scratch buffer
 * of its own: one per owner (each belongs to the loop thread), so that setting an option
 * allocates nothing. It lays out the two structures those options take, {@code struct linger}
 * and {@code struct ucred}, the same on x86-64 and AArch64.
 *
 * Hot path: no allocation.
 */
public final class SocketOptions {
    /** {@code struct linger} on {@code arch}: on or off, then the timeout in seconds. */
    public static StructLayout lingerLayout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(ValueLayout.JAVA_INT.withName("l_onoff"),
                    ValueLayout.JAVA_INT.withName("l_linger"));
        };
    }

    /** {@code struct ucred} on {@code arch}: pid, uid, gid. */
    public static StructLayout ucredLayout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(ValueLayout.JAVA_INT.withName("pid"),
                    ValueLayout.JAVA_INT.withName("uid"), ValueLayout.JAVA_INT.withName("gid"));
        };
    }

    private static final StructLayout LINGER = lingerLayout(Arch.CURRENT), UCRED = ucredLayout(Arch.CURRENT);
    private static final int L_ONOFF = Arch.offset(LINGER, "l_onoff"), L_LINGER = Arch.offset(LINGER, "l_linger"),
            PID = Arch.offset(UCRED, "pid");

    private final MemorySegment value = Arena.ofAuto().allocate(16, 8);
    private final MemorySegment length = Arena.ofAuto().allocate(8, 8);

    /** setsockopt(2) of an int; 0 or a negated errno. */
    public int setInt(int fd, int level, int name, int v) {
        value.set(ValueLayout.JAVA_INT, 0, v);
        return Sockets.setsockopt(fd, level, name, value, 4);
    }

    /** The socket's pending error (SO_ERROR, which reading clears); EIO if it cannot be read. */
    public int error(int fd) {
        length.set(ValueLayout.JAVA_INT, 0, 4);
        if (Sockets.getsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_ERROR, value, length) < 0) return Errno.EIO;
        return value.get(ValueLayout.JAVA_INT, 0);
    }

    /** Closes a TCP socket with a reset instead of a FIN (SO_LINGER with a zero timeout). */
    public void abortiveClose(int fd) {
        value.set(ValueLayout.JAVA_INT, L_ONOFF, 1);
        value.set(ValueLayout.JAVA_INT, L_LINGER, 0);
        Sockets.setsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_LINGER, value, (int) LINGER.byteSize());
        Descriptors.close(fd);
    }

    /** The pid of the process at the other end of UNIX socket {@code fd} (SO_PEERCRED), or -1. */
    public int peerPid(int fd) {
        length.set(ValueLayout.JAVA_INT, 0, (int) UCRED.byteSize());
        if (Sockets.getsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_PEERCRED, value, length) < 0) return -1;
        return value.get(ValueLayout.JAVA_INT, PID);
    }
}
