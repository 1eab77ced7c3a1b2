package jpasst.bench;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;

import jpasst.conf.Conf;
import jpasst.guest.Frames;
import jpasst.packet.Inany;

/**
 * Frames as a guest sends them, made by the guest side's own frame builders
 * ({@link jpasst.guest.Frames}, not the daemon's header writers) and copied into off-heap memory,
 * and the fixed addresses the microbenchmarks use (documentation prefixes: the guest is
 * 192.0.2.2 / 2001:db8::2, the gateway 192.0.2.1 / 2001:db8::1).
 */
final class BenchFrames {
    private BenchFrames() {}

    static final long GUEST_MAC = Frames.GUEST_MAC;
    static final int ADDR4 = 0xc0000202, GW4 = 0xc0000201;
    static final long ADDR6_HI = 0x2001_0db8_0000_0000L, ADDR6_LO = 2, GW6_HI = ADDR6_HI, GW6_LO = 1;

    /**
     * A daemon for IPv4 only, started, serving the guest end of a new socketpair as --fd does;
     * the other end, the guest's, goes into {@code guest[0]}.
     */
    static jpasst.Passt daemonOnSocketpair(int[] guest) {
        Conf.Builder conf = conf();
        conf.v6 = false;
        MemorySegment fds = java.lang.foreign.Arena.ofAuto().allocate(ValueLayout.JAVA_INT, 2);
        jpasst.sys.Sockets.socketpair(jpasst.sys.Sockets.AF_UNIX, jpasst.sys.Sockets.SOCK_STREAM, 0, fds);
        conf.fd = fds.get(ValueLayout.JAVA_INT, 0);
        guest[0] = fds.get(ValueLayout.JAVA_INT, 4);
        jpasst.Passt passt = new jpasst.Passt(conf.build());
        passt.start();
        return passt;
    }

    /** A configuration as the daemon has it after host discovery, without touching the host. */
    static Conf.Builder conf() {
        Conf.Builder c = new Conf.Builder();
        c.addr4 = ADDR4;
        c.prefix4 = 24;
        c.gw4 = GW4;
        c.dns4 = new int[] {0xc6336435};
        c.addr6Hi = ADDR6_HI;
        c.addr6Lo = ADDR6_LO;
        c.gw6Hi = GW6_HI;
        c.gw6Lo = GW6_LO;
        c.ourLl6Hi = 0xfe80_0000_0000_0000L;
        c.ourLl6Lo = 1;
        c.logLevel = jpasst.util.Log.ERROR;
        jpasst.util.Log.level(jpasst.util.Log.ERROR);
        return c;
    }

    /**
     * Writes a TCP segment from the guest (src = guest, dst = gateway) at {@code off}: Ethernet,
     * IPv4 or IPv6, TCP with {@code payload} bytes of a pattern, checksums right. Returns its length.
     */
    static int tcp(MemorySegment s, long off, boolean v6, int sport, int dport, int seq, int ack,
                   int flags, int window, int payload) {
        byte[] data = new byte[payload];
        for (int i = 0; i < payload; i++) data[i] = (byte) (i * 31 + 7);
        byte[] f = v6 ? Frames.tcp6(a6(ADDR6_HI, ADDR6_LO), a6(GW6_HI, GW6_LO), sport, dport, seq, ack, flags, window,
                new byte[0], data)
                : Frames.tcp4(ADDR4, GW4, sport, dport, seq, ack, flags, window, new byte[0], data);
        return put(s, off, f);
    }

    /** A UDP datagram from the guest to the gateway over IPv4. Returns the frame length. */
    static int udp4(MemorySegment s, long off, int sport, int dport, int payload) {
        byte[] data = new byte[payload];
        for (int i = 0; i < payload; i++) data[i] = (byte) i;
        return put(s, off, Frames.frame4(Frames.udp4(ADDR4, sport, GW4, dport, data)));
    }

    /**
     * A DHCPDISCOVER (broadcast, from 0.0.0.0) asking for mask, router, DNS, domain, MTU and
     * search list, as busybox udhcpc sends it. Returns the frame length.
     */
    static int dhcpDiscover(MemorySegment s, long off) {
        return put(s, off, Frames.dhcpFrame(Frames.dhcp(0x1234_5678, GUEST_MAC, 0, true, Frames.opt(53, 1),
                Frames.opt(55, 1, 3, 6, 15, 26, 28, 119), Frames.opt(57, 0x05, 0xdc))));
    }

    private static int put(MemorySegment s, long off, byte[] f) {
        MemorySegment.copy(f, 0, s, ValueLayout.JAVA_BYTE, off, f.length);
        return f.length;
    }

    private static byte[] a6(long hi, long lo) {
        return ByteBuffer.allocate(16).putLong(hi).putLong(lo).array();
    }

    static long lo4(int a) {
        return Inany.lo4(a);
    }
}
