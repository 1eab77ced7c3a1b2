package jpasst.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * struct sockaddr_un / sockaddr_in / sockaddr_in6, written into and read from caller-owned
 * segments. IPv4 addresses travel through jpasst as an {@code int} in host order
 * (192.0.2.1 == 0xc0000201), IPv6 addresses as two {@code long}s (high, low) in host order;
 * these helpers translate at the socket boundary. The layouts are the same on x86-64 and
 * AArch64: the family at 0 and the port at 2 in both sockaddr_in and sockaddr_in6 (which the
 * family-blind readers here rely on), the IPv4 address at 4; the IPv6 flow label at 4, address
 * at 8, scope at 24; the UNIX path at 2.
 */
public final class SockAddr {
    private SockAddr() {}

    private static final ValueLayout.OfShort NET_SHORT =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt NET_INT =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong NET_LONG =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /** {@code struct sockaddr_in} on {@code arch} (port and address in network order). */
    public static StructLayout in4Layout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(ValueLayout.JAVA_SHORT.withName("sin_family"),
                    ValueLayout.JAVA_SHORT.withOrder(ByteOrder.BIG_ENDIAN).withName("sin_port"),
                    ValueLayout.JAVA_INT.withOrder(ByteOrder.BIG_ENDIAN).withName("sin_addr"),
                    MemoryLayout.sequenceLayout(8, ValueLayout.JAVA_BYTE).withName("sin_zero"));
        };
    }

    /** {@code struct sockaddr_in6} on {@code arch} (port, flow label and address in network order). */
    public static StructLayout in6Layout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(ValueLayout.JAVA_SHORT.withName("sin6_family"),
                    ValueLayout.JAVA_SHORT.withOrder(ByteOrder.BIG_ENDIAN).withName("sin6_port"),
                    ValueLayout.JAVA_INT.withOrder(ByteOrder.BIG_ENDIAN).withName("sin6_flowinfo"),
                    MemoryLayout.sequenceLayout(16, ValueLayout.JAVA_BYTE).withName("sin6_addr"),
                    ValueLayout.JAVA_INT.withName("sin6_scope_id"));
        };
    }

    /** {@code struct sockaddr_un} on {@code arch}. */
    public static StructLayout unLayout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(ValueLayout.JAVA_SHORT.withName("sun_family"),
                    MemoryLayout.sequenceLayout(108, ValueLayout.JAVA_BYTE).withName("sun_path"));
        };
    }

    /** {@code struct sockaddr_storage} on {@code arch}: room for any address, aligned for any. */
    public static StructLayout storageLayout(Arch arch) {
        return switch (arch) {
            case X86_64, AARCH64 -> MemoryLayout.structLayout(ValueLayout.JAVA_SHORT.withName("ss_family"),
                    MemoryLayout.paddingLayout(118), ValueLayout.JAVA_LONG.withName("__ss_align"));
        };
    }

    private static final StructLayout IN = in4Layout(Arch.CURRENT), IN6 = in6Layout(Arch.CURRENT),
            UN = unLayout(Arch.CURRENT);

    public static final int UN_SIZE = (int) UN.byteSize(), IN_SIZE = (int) IN.byteSize(),
            IN6_SIZE = (int) IN6.byteSize();
    /** Bytes of a UNIX socket path, its terminating NUL included. */
    public static final int UN_PATH_MAX = (int) (UN_SIZE - Arch.offset(UN, "sun_path"));
    /** Large enough for any of the three. */
    public static final int STORAGE = (int) storageLayout(Arch.CURRENT).byteSize();

    private static final long FAMILY = Arch.offset(IN, "sin_family"), PORT = Arch.offset(IN, "sin_port"),
            IN_ADDR = Arch.offset(IN, "sin_addr"), IN_ZERO = Arch.offset(IN, "sin_zero"),
            IN6_FLOWINFO = Arch.offset(IN6, "sin6_flowinfo"), IN6_ADDR = Arch.offset(IN6, "sin6_addr"),
            IN6_SCOPE = Arch.offset(IN6, "sin6_scope_id"), UN_PATH = Arch.offset(UN, "sun_path");

    /** Fills a sockaddr_un for {@code path}; returns the length to pass to bind/connect. */
    public static int unix(MemorySegment sa, String path) {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        if (p.length >= UN_PATH_MAX) {
            throw new IllegalArgumentException("UNIX socket path too long (max " + (UN_PATH_MAX - 1)
                    + " bytes): " + path);
        }
        sa.asSlice(0, UN_SIZE).fill((byte) 0);
        sa.set(ValueLayout.JAVA_SHORT_UNALIGNED, FAMILY, (short) Sockets.AF_UNIX);
        MemorySegment.copy(p, 0, sa, ValueLayout.JAVA_BYTE, UN_PATH, p.length);
        return UN_SIZE;
    }

    /** The path of a sockaddr_un of {@code len} bytes (as getsockname returned it). */
    public static String unixPath(MemorySegment sa, int len) {
        int end = (int) UN_PATH;
        while (end < Math.min(len, UN_SIZE) && sa.get(ValueLayout.JAVA_BYTE, end) != 0) end++;
        byte[] p = new byte[end - (int) UN_PATH];
        MemorySegment.copy(sa, ValueLayout.JAVA_BYTE, UN_PATH, p, 0, p.length);
        return new String(p, StandardCharsets.UTF_8);
    }

    /** Fills a sockaddr_in; {@code addr} in host order. Returns its length. */
    public static int in4(MemorySegment sa, int addr, int port) {
        sa.set(ValueLayout.JAVA_LONG_UNALIGNED, IN_ZERO, 0L);
        sa.set(ValueLayout.JAVA_SHORT_UNALIGNED, FAMILY, (short) Sockets.AF_INET);
        sa.set(NET_SHORT, PORT, (short) port);
        sa.set(NET_INT, IN_ADDR, addr);
        return IN_SIZE;
    }

    /** Fills a sockaddr_in6 ({@code hi}/{@code lo} host-order halves of the address). */
    public static int in6(MemorySegment sa, long hi, long lo, int port, int scopeId) {
        sa.set(ValueLayout.JAVA_SHORT_UNALIGNED, FAMILY, (short) Sockets.AF_INET6);
        sa.set(NET_SHORT, PORT, (short) port);
        sa.set(ValueLayout.JAVA_INT_UNALIGNED, IN6_FLOWINFO, 0);
        sa.set(NET_LONG, IN6_ADDR, hi);
        sa.set(NET_LONG, IN6_ADDR + 8, lo);
        sa.set(ValueLayout.JAVA_INT_UNALIGNED, IN6_SCOPE, scopeId);
        return IN6_SIZE;
    }

    /**
     * Fills a sockaddr_in or sockaddr_in6 for an address in the {@code jpasst.packet.Inany} form
     * (IPv4-mapped means IPv4); returns its length.
     */
    public static int inany(MemorySegment sa, long hi, long lo, int port) {
        if (hi == 0 && (lo >>> 32) == 0xffff) return in4(sa, (int) lo, port);
        return in6(sa, hi, lo, port, 0);
    }

    /** High half of the address in a sockaddr_in/in6, in the Inany form. */
    public static long inanyHi(MemorySegment sa) {
        return family(sa) == Sockets.AF_INET ? 0 : addr6Hi(sa);
    }

    /** Low half of the address in a sockaddr_in/in6, in the Inany form. */
    public static long inanyLo(MemorySegment sa) {
        return family(sa) == Sockets.AF_INET ? (0xffffL << 32) | (addr4(sa) & 0xffffffffL) : addr6Lo(sa);
    }

    public static int family(MemorySegment sa) {
        return sa.get(ValueLayout.JAVA_SHORT_UNALIGNED, FAMILY);
    }

    public static int port(MemorySegment sa) {
        return Short.toUnsignedInt(sa.get(NET_SHORT, PORT));
    }

    public static int addr4(MemorySegment sa) {
        return sa.get(NET_INT, IN_ADDR);
    }

    public static long addr6Hi(MemorySegment sa) {
        return sa.get(NET_LONG, IN6_ADDR);
    }

    public static long addr6Lo(MemorySegment sa) {
        return sa.get(NET_LONG, IN6_ADDR + 8);
    }

    /** A NUL-terminated C string in {@code arena}. */
    public static MemorySegment cString(Arena arena, String s) {
        return arena.allocateFrom(s);
    }

    // ---- conversions for configuration and logging (not the frame path) ----

    public static int toInt(Inet4Address a) {
        byte[] b = a.getAddress();
        return (b[0] & 0xff) << 24 | (b[1] & 0xff) << 16 | (b[2] & 0xff) << 8 | (b[3] & 0xff);
    }

    public static Inet4Address toInet4(int addr) {
        try {
            return (Inet4Address) InetAddress.getByAddress(new byte[] {
                    (byte) (addr >>> 24), (byte) (addr >>> 16), (byte) (addr >>> 8), (byte) addr});
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    public static String ip4String(int addr) {
        return (addr >>> 24) + "." + ((addr >>> 16) & 0xff) + "." + ((addr >>> 8) & 0xff) + "."
                + (addr & 0xff);
    }

    public static long hi(Inet6Address a) {
        return bytesToLong(a.getAddress(), 0);
    }

    public static long lo(Inet6Address a) {
        return bytesToLong(a.getAddress(), 8);
    }

    public static Inet6Address toInet6(long hi, long lo) {
        byte[] b = new byte[16];
        for (int i = 0; i < 8; i++) {
            b[i] = (byte) (hi >>> (56 - 8 * i));
            b[8 + i] = (byte) (lo >>> (56 - 8 * i));
        }
        try {
            return Inet6Address.getByAddress(null, b, -1);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    public static String ip6String(long hi, long lo) {
        String s = toInet6(hi, lo).getHostAddress();
        return compress6(s);
    }

    private static long bytesToLong(byte[] b, int off) {
        long v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | (b[off + i] & 0xff);
        return v;
    }

    /** Java prints 2001:db8:0:0:0:0:0:1; passt (inet_ntop) prints 2001:db8::1. */
    static String compress6(String full) {
        int pct = full.indexOf('%');
        if (pct >= 0) full = full.substring(0, pct);
        String[] g = full.split(":");
        int bestStart = -1, bestLen = 0;
        for (int i = 0; i < g.length; ) {
            if (g[i].equals("0")) {
                int j = i;
                while (j < g.length && g[j].equals("0")) j++;
                if (j - i > bestLen && j - i >= 2) {
                    bestStart = i;
                    bestLen = j - i;
                }
                i = j;
            } else {
                i++;
            }
        }
        if (bestStart < 0) return String.join(":", g);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < bestStart; i++) sb.append(i > 0 ? ":" : "").append(g[i]);
        sb.append("::");
        for (int i = bestStart + bestLen; i < g.length; i++) {
            sb.append(g[i]);
            if (i < g.length - 1) sb.append(':');
        }
        return sb.toString();
    }
}
