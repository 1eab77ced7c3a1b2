package jpasst.sys;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@code struct msghdr} and {@code struct iovec} for sendmsg(2)/recvmsg(2), written into
 * segments the caller preallocated: one place that knows the layout, so no caller encodes it by
 * hand. LP64 Linux (x86-64 and AArch64 alike): msg_name at 0, msg_namelen (int) at 8, msg_iov
 * at 16, msg_iovlen (size_t) at 24, msg_control at 32, msg_controllen at 40, msg_flags (int) at
 * 48; an iovec is {base, len}, 16 bytes.
 *
 * Hot path: no allocation.
 */
public final class Msghdr {
    private Msghdr() {}

    /** Bytes of a {@code struct msghdr} and of a {@code struct iovec}. */
    public static final int SIZE = 56, IOVEC = 16;
    private static final long NAMELEN = 8, IOV = 16, IOVLEN = 24, FLAGS = 48;

    /**
     * Fills {@code m} for {@code count} iovecs at {@code iov} (a native address), with a socket
     * address buffer of {@code nameLen} bytes at {@code name} (NULL and 0: none) and no control
     * data. Returns {@code m}.
     */
    public static MemorySegment set(MemorySegment m, MemorySegment name, int nameLen, long iov, int count) {
        m.set(ValueLayout.JAVA_LONG, 0, name.address());
        m.set(ValueLayout.JAVA_LONG, NAMELEN, nameLen & 0xffffffffL);
        m.set(ValueLayout.JAVA_LONG, IOV, iov);
        m.set(ValueLayout.JAVA_LONG, IOVLEN, count);
        m.set(ValueLayout.JAVA_LONG, 32, 0L);
        m.set(ValueLayout.JAVA_LONG, 40, 0L);
        m.set(ValueLayout.JAVA_LONG, FLAGS, 0L);
        return m;
    }

    /** Fills {@code m} for {@code count} iovecs at {@code iov}, without address or control data. */
    public static MemorySegment set(MemorySegment m, long iov, int count) {
        return set(m, MemorySegment.NULL, 0, iov, count);
    }

    /** After recvmsg(2): the length of the source address the kernel wrote. */
    public static int nameLength(MemorySegment m) {
        return m.get(ValueLayout.JAVA_INT, NAMELEN);
    }

    /** After recvmsg(2): the flags the kernel returned (MSG_TRUNC: the datagram did not fit). */
    public static int flags(MemorySegment m) {
        return m.get(ValueLayout.JAVA_INT, FLAGS);
    }

    /** Entry {@code i} of the iovec array {@code iov}: {@code len} bytes at native address {@code base}. */
    public static void iovec(MemorySegment iov, int i, long base, long len) {
        iov.set(ValueLayout.JAVA_LONG, (long) IOVEC * i, base);
        iov.set(ValueLayout.JAVA_LONG, (long) IOVEC * i + 8, len);
    }

    /** The length of iovec entry {@code i}. */
    public static long iovecLength(MemorySegment iov, int i) {
        return iov.get(ValueLayout.JAVA_LONG, (long) IOVEC * i + 8);
    }
}
