package jpasst.guest;

import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * IPv6 control-plane frames as a guest would send them (Neighbor Discovery, DHCPv6), built byte
 * by byte on the heap with checksums computed by {@link Frames#checksum}, independently of
 * the daemon's code; and readers for what comes back. For tests that craft frames one by one.
 */
public final class V6Frames {
    private V6Frames() {}

    public static final int ETH = 14, IP6 = 14, L4 = 14 + 40;
    public static final long OUR_MAC = 0x9a559a559a55L;
    public static final long ALL_NODES_MAC = 0x3333_0000_0001L;

    /** 16 bytes of an IPv6 literal. */
    public static byte[] a6(String literal) {
        try {
            byte[] b = InetAddress.getByName(literal).getAddress();
            if (b.length != 16) throw new IllegalArgumentException(literal);
            return b;
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }

    /** The solicited-node multicast group of {@code target}: ff02::1:ffXX:XXXX. */
    public static byte[] solicitedNode(byte[] target) {
        byte[] g = a6("ff02::1:ff00:0");
        System.arraycopy(target, 13, g, 13, 3);
        return g;
    }

    public static long multicastMac(byte[] group) {
        return 0x3333_0000_0000L | (ByteBuffer.wrap(group, 12, 4).getInt() & 0xffffffffL);
    }

    /** Sum of the IPv6 pseudo-header (RFC 8200 8.1), not folded. */
    public static long pseudo(byte[] src, byte[] dst, int proto, int len) {
        return jpasst.guest.net.InetChecksum.pseudo6(Frames.hi(src), Frames.lo(src), Frames.hi(dst), Frames.lo(dst), proto, len);
    }

    /** An IPv6 header with the given hop limit in front of {@code l4}. */
    public static byte[] ip6(int proto, int hopLimit, byte[] src, byte[] dst, byte[] l4) {
        ByteBuffer b = ByteBuffer.allocate(40 + l4.length);
        b.putInt(0x6000_0000).putShort((short) l4.length).put((byte) proto).put((byte) hopLimit)
                .put(src).put(dst).put(l4);
        return b.array();
    }

    /** An ICMPv6 message (type, code, then {@code body}) with a correct checksum. */
    public static byte[] icmp6(int type, int code, byte[] body, byte[] src, byte[] dst) {
        ByteBuffer b = ByteBuffer.allocate(4 + body.length);
        b.put((byte) type).put((byte) code).putShort((short) 0).put(body);
        b.putShort(2, (short) Frames.checksum(b.array(), 0, b.capacity(), pseudo(src, dst, 58, b.capacity())));
        return b.array();
    }

    /** A frame from the guest's MAC carrying an IPv6 packet. */
    public static byte[] frame(long dstMac, byte[] ip6) {
        return Frames.eth(dstMac, Frames.GUEST_MAC, 0x86dd, ip6);
    }

    /** Concatenation of byte arrays. */
    public static byte[] cat(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) o.writeBytes(p);
        return o.toByteArray();
    }

    public static byte[] bytes(int... v) {
        byte[] r = new byte[v.length];
        for (int i = 0; i < v.length; i++) r[i] = (byte) v[i];
        return r;
    }

    /** An NDP link-layer address option (type 1 source, 2 target). */
    public static byte[] llOption(int type, long mac) {
        ByteBuffer b = ByteBuffer.allocate(8);
        b.put((byte) type).put((byte) 1);
        Frames.putMac(b, mac);
        return b.array();
    }

    /** A Neighbor Solicitation frame for {@code target} to its solicited-node group, hop limit 255. */
    public static byte[] ns(byte[] src, byte[] target, byte[]... options) {
        return ns(255, src, solicitedNode(target), target, options);
    }

    public static byte[] ns(int hopLimit, byte[] src, byte[] dst, byte[] target, byte[]... options) {
        byte[] body = cat(new byte[4], target, cat(options));
        return frame(multicastMac(dst), ip6(58, hopLimit, src, dst, icmp6(135, 0, body, src, dst)));
    }

    /** A Router Solicitation frame to all routers (ff02::2), hop limit 255. */
    public static byte[] rs(byte[] src, byte[]... options) {
        byte[] dst = a6("ff02::2");
        return frame(0x3333_0000_0002L, ip6(58, 255, src, dst, icmp6(133, 0, cat(new byte[4], cat(options)), src, dst)));
    }

    // ---- DHCPv6 ----

    public static final byte[] ALL_DHCP = a6("ff02::1:2");

    public static byte[] dhcpOpt(int code, byte[] value) {
        ByteBuffer b = ByteBuffer.allocate(4 + value.length);
        b.putShort((short) code).putShort((short) value.length).put(value);
        return b.array();
    }

    /** A DUID-LL (type 3) of an Ethernet MAC: what busybox and many clients send. */
    public static byte[] duidLl(long mac) {
        ByteBuffer b = ByteBuffer.allocate(10);
        b.putShort((short) 3).putShort((short) 1);
        Frames.putMac(b, mac);
        return b.array();
    }

    /** IA_NA with the given IAID, T1 = T2 = 0, and optional IA Address options inside. */
    public static byte[] iaNa(int iaid, byte[]... addrs) {
        ByteBuffer b = ByteBuffer.allocate(12);
        b.putInt(iaid).putInt(0).putInt(0);
        List<byte[]> inner = new ArrayList<>();
        inner.add(b.array());
        for (byte[] a : addrs) {
            ByteBuffer x = ByteBuffer.allocate(24);
            x.put(a).putInt(0).putInt(0);
            inner.add(dhcpOpt(5, x.array()));
        }
        return dhcpOpt(3, cat(inner.toArray(new byte[0][])));
    }

    public static byte[] dhcpMessage(int type, int xid, byte[]... options) {
        ByteBuffer b = ByteBuffer.allocate(4);
        b.putInt(type << 24 | (xid & 0xffffff));
        return cat(b.array(), cat(options));
    }

    /** A UDP/IPv6 datagram (correct checksum) from port 546 to {@code dst} port 547, in a frame. */
    public static byte[] dhcpFrame(byte[] src, byte[] dst, byte[] message) {
        return frame(multicastMac(dst), ip6(17, 1, src, dst, udp(src, 546, dst, 547, message)));
    }

    public static byte[] udp(byte[] src, int sport, byte[] dst, int dport, byte[] payload) {
        return Frames.udpHeader(sport, dport, payload, pseudo(src, dst, 17, 8 + payload.length));
    }

    // ---- reading replies ----

    public static byte[] slice(byte[] f, int off, int len) {
        return Frames.slice(f, off, len);
    }

    /** True if the L4 checksum of an IPv6 frame (no extension headers) is right. */
    public static boolean l4ChecksumOk(byte[] f) {
        int plen = Frames.u16(f, IP6 + 4), proto = Frames.u8(f, IP6 + 6);
        return Frames.checksum(f, L4, plen, pseudo(slice(f, IP6 + 8, 16), slice(f, IP6 + 24, 16), proto, plen)) == 0;
    }

    /** A DHCPv6 option as found in a reply: code, offset of its value, length. */
    public record Opt(int code, int at, int len) {
        public byte[] value(byte[] f) {
            return slice(f, at, len);
        }
    }

    /** Top-level options of a DHCPv6 message in wire order, from {@code from} to {@code end}. */
    public static List<Opt> dhcpOptions(byte[] f, int from, int end) {
        List<Opt> l = new ArrayList<>();
        for (int p = from; p + 4 <= end; ) {
            int code = Frames.u16(f, p), len = Frames.u16(f, p + 2);
            l.add(new Opt(code, p + 4, len));
            p += 4 + len;
        }
        return l;
    }

    /** Predicate: an IPv6 frame carrying ICMPv6 of the given type. */
    public static java.util.function.Predicate<byte[]> icmp6Type(int type) {
        return f -> f.length > L4 && Frames.u16(f, 12) == 0x86dd && Frames.u8(f, IP6 + 6) == 58
                && Frames.u8(f, L4) == type;
    }

    /** Predicate: an IPv6 UDP frame from port 547. */
    public static java.util.function.Predicate<byte[]> dhcpv6Reply() {
        return f -> f.length > L4 + 8 && Frames.u16(f, 12) == 0x86dd && Frames.u8(f, IP6 + 6) == 17
                && Frames.u16(f, L4) == 547;
    }
}
