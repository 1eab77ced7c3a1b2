package jpasst.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Integer socket options and the two closes, with a scratch buffer of its own: one per owner
 * (each belongs to the loop thread), so that setting an option allocates nothing.
 *
 * Hot path: no allocation.
 */
public final class SocketOptions {
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
        value.set(ValueLayout.JAVA_INT, 0, 1);
        value.set(ValueLayout.JAVA_INT, 4, 0);
        Sockets.setsockopt(fd, Sockets.SOL_SOCKET, Sockets.SO_LINGER, value, 8);
        Descriptors.close(fd);
    }
}
