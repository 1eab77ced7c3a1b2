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
 * after it (CMSG_DATA); a {@code struct mmsghdr} (sendmmsg(2), recvmmsg(2)) is a msghdr and the
 * length sent or received (unsigned int) at 56, 64 bytes.
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

    /** {@code struct mmsghdr} on {@code arch}: a msghdr and the bytes of that message sent or received. */
    public static StructLayout mmsghdrLayout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(layout(arch).withName("msg_hdr"),
                    JAVA_INT.withName("msg_len"), MemoryLayout.paddingLayout(4));
        };
    }

    private static final StructLayout MSGHDR = layout(Arch.CURRENT), IOVEC_LAYOUT = iovecLayout(Arch.CURRENT);
    private static final StructLayout MMSGHDR = mmsghdrLayout(Arch.CURRENT);
    /** Bytes of a {@code struct mmsghdr}; where in it the message's length is. */
    public static final int MMSG = (int) MMSGHDR.byteSize(), MMSG_LEN = Arch.offset(MMSGHDR, "msg_len");
    private static final int MMSG_HDR = Arch.offset(MMSGHDR, "msg_hdr");

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

    /**
     * Fills entry {@code i} of the {@code struct mmsghdr} array {@code v}: {@code count} iovecs at
     * {@code iov} (a native address), a socket address of {@code nameLen} bytes at native address
     * {@code name} (0 and 0: none), no control data.
     */
    public static void mmsg(MemorySegment v, int i, long name, int nameLen, long iov, int count) {
        long m = (long) MMSG * i + MMSG_HDR;
        v.set(ValueLayout.JAVA_LONG, m + NAME, name);
        v.set(ValueLayout.JAVA_LONG, m + NAMELEN, nameLen & 0xffffffffL);
        v.set(ValueLayout.JAVA_LONG, m + IOV, iov);
        v.set(ValueLayout.JAVA_LONG, m + IOVLEN, count);
        v.set(ValueLayout.JAVA_LONG, m + CONTROL, 0L);
        v.set(ValueLayout.JAVA_LONG, m + CONTROLLEN, 0L);
        v.set(ValueLayout.JAVA_LONG, m + FLAGS, 0L);
        v.set(ValueLayout.JAVA_LONG, (long) MMSG * i + MMSG_LEN, 0L);
    }

    /** After sendmmsg(2) or recvmmsg(2): the bytes of message {@code i} of the array {@code v}. */
    public static int mmsgLength(MemorySegment v, int i) {
        return v.get(ValueLayout.JAVA_INT, (long) MMSG * i + MMSG_LEN);
    }

    /** After recvmmsg(2): the flags of message {@code i} of the array {@code v} (MSG_TRUNC...). */
    public static int mmsgFlags(MemorySegment v, int i) {
        return v.get(ValueLayout.JAVA_INT, (long) MMSG * i + MMSG_HDR + FLAGS);
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
