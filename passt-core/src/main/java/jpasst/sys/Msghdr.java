package jpasst.sys;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * {@code struct msghdr}, {@code struct iovec} and {@code struct cmsghdr} for sendmsg(2) and
 * recvmsg(2), written into segments the caller preallocated: one place that knows the layouts,
 * so no caller encodes them by hand. They are the same on x86-64 and AArch64 (LP64 glibc):
 * msg_name at 0, msg_namelen (int) at 8, msg_iov at 16, msg_iovlen (size_t) at 24,
 * msg_control at 32, msg_controllen at 40, msg_flags (int) at 48, 56 bytes; an iovec is
 * {base, len}, 16 bytes; a cmsghdr is {len (size_t), level, type}, 16 bytes, its data right
 * after it (CMSG_DATA).
 *
 * Hot path: no allocation.
 */
public final class Msghdr {
    private Msghdr() {}

    /** {@code struct msghdr} on {@code arch}. */
    public static StructLayout layout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(ADDRESS.withName("msg_name"),
                    JAVA_INT.withName("msg_namelen"), MemoryLayout.paddingLayout(4),
                    ADDRESS.withName("msg_iov"), JAVA_LONG.withName("msg_iovlen"),
                    ADDRESS.withName("msg_control"), JAVA_LONG.withName("msg_controllen"),
                    JAVA_INT.withName("msg_flags"), MemoryLayout.paddingLayout(4));
        };
    }

    /** {@code struct iovec} on {@code arch}. */
    public static StructLayout iovecLayout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(ADDRESS.withName("iov_base"),
                    JAVA_LONG.withName("iov_len"));
        };
    }

    /** {@code struct cmsghdr} on {@code arch} (its data follow, at its size rounded to 8: CMSG_DATA). */
    public static StructLayout cmsghdrLayout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(JAVA_LONG.withName("cmsg_len"),
                    JAVA_INT.withName("cmsg_level"), JAVA_INT.withName("cmsg_type"));
        };
    }

    private static final StructLayout MSGHDR = layout(Arch.CURRENT), IOVEC_LAYOUT = iovecLayout(Arch.CURRENT);

    /** Bytes of a {@code struct msghdr} and of a {@code struct iovec}. */
    public static final int SIZE = (int) MSGHDR.byteSize(), IOVEC = (int) IOVEC_LAYOUT.byteSize();
    /** Offsets of the fields of a {@code struct msghdr}. */
    public static final int NAME = Arch.offset(MSGHDR, "msg_name"), NAMELEN = Arch.offset(MSGHDR, "msg_namelen"),
            IOV = Arch.offset(MSGHDR, "msg_iov"), IOVLEN = Arch.offset(MSGHDR, "msg_iovlen"),
            CONTROL = Arch.offset(MSGHDR, "msg_control"), CONTROLLEN = Arch.offset(MSGHDR, "msg_controllen"),
            FLAGS = Arch.offset(MSGHDR, "msg_flags");
    private static final int IOV_BASE = Arch.offset(IOVEC_LAYOUT, "iov_base"),
            IOV_LEN = Arch.offset(IOVEC_LAYOUT, "iov_len");
    private static final StructLayout CMSGHDR = cmsghdrLayout(Arch.CURRENT);
    private static final int CMSG_LEN = Arch.offset(CMSGHDR, "cmsg_len"),
            CMSG_LEVEL = Arch.offset(CMSGHDR, "cmsg_level"), CMSG_TYPE = Arch.offset(CMSGHDR, "cmsg_type");
    /**
     * Bytes of a {@code struct cmsghdr} rounded up to its alignment ({@code CMSG_LEN(0)}): where
     * its data ({@code CMSG_DATA}) begin.
     */
    public static final int CMSG_HDR = align8(CMSGHDR.byteSize());

    private static int align8(long n) {
        return (int) ((n + 7) & ~7L);
    }

    /**
     * Fills {@code m} for {@code count} iovecs at {@code iov} (a native address), with a socket
     * address buffer of {@code nameLen} bytes at {@code name} (NULL and 0: none) and no control
     * data. Returns {@code m}.
     */
    public static MemorySegment set(MemorySegment m, MemorySegment name, int nameLen, long iov, int count) {
        m.set(ValueLayout.JAVA_LONG, NAME, name.address());
        m.set(ValueLayout.JAVA_LONG, NAMELEN, nameLen & 0xffffffffL); // (and the padding after it)
        m.set(ValueLayout.JAVA_LONG, IOV, iov);
        m.set(ValueLayout.JAVA_LONG, IOVLEN, count);
        m.set(ValueLayout.JAVA_LONG, CONTROL, 0L);
        m.set(ValueLayout.JAVA_LONG, CONTROLLEN, 0L);
        m.set(ValueLayout.JAVA_LONG, FLAGS, 0L); // (and the padding after it)
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
        iov.set(ValueLayout.JAVA_LONG, (long) IOVEC * i + IOV_BASE, base);
        iov.set(ValueLayout.JAVA_LONG, (long) IOVEC * i + IOV_LEN, len);
    }

    /**
     * Writes the {@code struct cmsghdr} at {@code off} of control data {@code c}: {@code len}
     * bytes with its data ({@link #CMSG_HDR} + the data's length), {@code level}, {@code type}.
     */
    public static void cmsg(MemorySegment c, long off, long len, int level, int type) {
        c.set(ValueLayout.JAVA_LONG, off + CMSG_LEN, len);
        c.set(ValueLayout.JAVA_INT, off + CMSG_LEVEL, level);
        c.set(ValueLayout.JAVA_INT, off + CMSG_TYPE, type);
    }

    /** The length (header and data) of the {@code struct cmsghdr} at {@code off} of control data {@code c}. */
    public static long cmsgLength(MemorySegment c, long off) {
        return c.get(ValueLayout.JAVA_LONG, off + CMSG_LEN);
    }

    public static int cmsgLevel(MemorySegment c, long off) {
        return c.get(ValueLayout.JAVA_INT, off + CMSG_LEVEL);
    }

    public static int cmsgType(MemorySegment c, long off) {
        return c.get(ValueLayout.JAVA_INT, off + CMSG_TYPE);
    }

    /** The length of iovec entry {@code i}. */
    public static long iovecLength(MemorySegment iov, int i) {
        return iov.get(ValueLayout.JAVA_LONG, (long) IOVEC * i + IOV_LEN);
    }
}
