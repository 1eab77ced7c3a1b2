package jpasst.testutil;

import java.nio.ByteBuffer;

/**
 * Frames as a guest would send them, built byte by byte on the heap (tests only), with correct
 * IPv4 and UDP checksums computed by a straightforward loop independent of jpasst's code.
 */
public final class Frames {
    private Frames() {}

    public static final long GUEST_MAC = 0x5254_0012_3456L;

    public static byte[] eth(long dst, long src, int type, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(14 + payload.length);
        putMac(b, dst);
        putMac(b, src);
        b.putShort((short) type).put(payload);
        return b.array();
    }

    public static void putMac(ByteBuffer b, long mac) {
        b.putShort((short) (mac >>> 32)).putInt((int) mac);
    }

    public static byte[] arpRequest(long sha, int spa, int tpa) {
        ByteBuffer b = ByteBuffer.allocate(28);
        b.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 1);
        putMac(b, sha);
        b.putInt(spa);
        putMac(b, 0);
        b.putInt(tpa);
        return eth(0xffff_ffff_ffffL, sha, 0x0806, b.array());
    }

    public static byte[] ip4(int proto, int src, int dst, byte[] l4) {
        ByteBuffer b = ByteBuffer.allocate(20 + l4.length);
        b.putShort((short) 0x4500).putShort((short) (20 + l4.length)).putShort((short) 1)
                .putShort((short) 0x4000).put((byte) 64).put((byte) proto).putShort((short) 0)
                .putInt(src).putInt(dst);
        b.putShort(10, (short) checksum(b.array(), 0, 20, 0));
        b.position(20);
        b.put(l4);
        return b.array();
    }

    public static byte[] udp4(int src, int sport, int dst, int dport, byte[] payload) {
        ByteBuffer u = ByteBuffer.allocate(8 + payload.length);
        u.putShort((short) sport).putShort((short) dport).putShort((short) (8 + payload.length))
                .putShort((short) 0).put(payload);
        long pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + 8 + payload.length;
        int c = checksum(u.array(), 0, u.capacity(), pseudo);
        u.putShort(6, (short) (c == 0 ? 0xffff : c));
        return ip4(17, src, dst, u.array());
    }

    /** Complemented one's complement sum, byte by byte. */
    public static int checksum(byte[] b, int off, int len, long acc) {
        for (int i = 0; i < len; i += 2) {
            int hi = b[off + i] & 0xff;
            int lo = i + 1 < len ? b[off + i + 1] & 0xff : 0;
            acc += hi << 8 | lo;
        }
        while ((acc >>> 16) != 0) acc = (acc & 0xffff) + (acc >>> 16);
        return (int) (~acc & 0xffff);
    }

    /** A BOOTREQUEST with the given options (code, value...) and an end option. */
    public static byte[] dhcp(int xid, long chaddr, int ciaddr, boolean broadcast, byte[]... options) {
        ByteBuffer b = ByteBuffer.allocate(1024);
        b.put((byte) 1).put((byte) 1).put((byte) 6).put((byte) 0).putInt(xid).putShort((short) 0)
                .putShort((short) (broadcast ? 0x8000 : 0)).putInt(ciaddr).putInt(0).putInt(0).putInt(0);
        putMac(b, chaddr);
        b.position(236);
        b.putInt(0x63825363);
        for (byte[] o : options) b.put(o);
        b.put((byte) 255);
        byte[] out = new byte[Math.max(b.position(), 300)];
        System.arraycopy(b.array(), 0, out, 0, b.position());
        return out;
    }

    public static byte[] opt(int code, int... value) {
        byte[] o = new byte[2 + value.length];
        o[0] = (byte) code;
        o[1] = (byte) value.length;
        for (int i = 0; i < value.length; i++) o[2 + i] = (byte) value[i];
        return o;
    }

    public static byte[] dhcpFrame(byte[] bootp) {
        return eth(0xffff_ffff_ffffL, GUEST_MAC, 0x0800, udp4(0, 68, 0xffffffff, 67, bootp));
    }

    public static int u8(byte[] f, int off) {
        return f[off] & 0xff;
    }

    public static int u16(byte[] f, int off) {
        return (f[off] & 0xff) << 8 | (f[off + 1] & 0xff);
    }

    public static int i32(byte[] f, int off) {
        return ByteBuffer.wrap(f, off, 4).getInt();
    }

    public static long mac(byte[] f, int off) {
        return (long) u16(f, off) << 32 | (i32(f, off + 2) & 0xffffffffL);
    }

    public static int ip(String dotted) {
        String[] p = dotted.split("\\.");
        return Integer.parseInt(p[0]) << 24 | Integer.parseInt(p[1]) << 16 | Integer.parseInt(p[2]) << 8
                | Integer.parseInt(p[3]);
    }

    // ---- UDP over IPv6, ICMP and ICMPv6 echo, and reading frames back (flow tests) ----

    /** passt's default MAC, the source of every frame the daemon sends. */
    public static final long OUR_MAC = 0x9a559a559a55L;

    /** An IPv4 frame from the guest to the daemon's MAC. */
    public static byte[] frame4(byte[] ip) {
        return eth(OUR_MAC, GUEST_MAC, 0x0800, ip);
    }

    /** An IPv6 frame from the guest to the daemon's MAC. */
    public static byte[] frame6(byte[] ip) {
        return eth(OUR_MAC, GUEST_MAC, 0x86dd, ip);
    }

    public static byte[] ip6(int proto, byte[] src, byte[] dst, byte[] l4) {
        ByteBuffer b = ByteBuffer.allocate(40 + l4.length);
        b.putInt(0x6000_0000).putShort((short) l4.length).put((byte) proto).put((byte) 64)
                .put(src).put(dst).put(l4);
        return b.array();
    }

    /** Sum of the IPv6 pseudo-header (RFC 8200 8.1), not folded. */
    public static long pseudo6(byte[] src, byte[] dst, int proto, int len) {
        long acc = 0;
        for (int i = 0; i < 16; i += 2) {
            acc += (src[i] & 0xff) << 8 | (src[i + 1] & 0xff);
            acc += (dst[i] & 0xff) << 8 | (dst[i + 1] & 0xff);
        }
        return acc + proto + len;
    }

    public static long pseudo4(int src, int dst, int proto, int len) {
        return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
    }

    public static byte[] udpHeader(int sport, int dport, byte[] payload, long pseudo) {
        ByteBuffer u = ByteBuffer.allocate(8 + payload.length);
        u.putShort((short) sport).putShort((short) dport).putShort((short) (8 + payload.length))
                .putShort((short) 0).put(payload);
        int c = checksum(u.array(), 0, u.capacity(), pseudo);
        u.putShort(6, (short) (c == 0 ? 0xffff : c));
        return u.array();
    }

    public static byte[] udp6(byte[] src, int sport, byte[] dst, int dport, byte[] payload) {
        return ip6(17, src, dst, udpHeader(sport, dport, payload, pseudo6(src, dst, 17, 8 + payload.length)));
    }

    /** An ICMP echo request (type 8) with a correct checksum, in an IPv4 packet. */
    public static byte[] icmp4Echo(int src, int dst, int id, int seq, byte[] payload) {
        return ip4(1, src, dst, echo(8, id, seq, payload, 0));
    }

    /** An ICMPv6 echo request (type 128) with a correct checksum, in an IPv6 packet. */
    public static byte[] icmp6Echo(byte[] src, byte[] dst, int id, int seq, byte[] payload) {
        return ip6(58, src, dst, echo(128, id, seq, payload, pseudo6(src, dst, 58, 8 + payload.length)));
    }

    public static byte[] echo(int type, int id, int seq, byte[] payload, long pseudo) {
        ByteBuffer b = ByteBuffer.allocate(8 + payload.length);
        b.put((byte) type).put((byte) 0).putShort((short) 0).putShort((short) id).putShort((short) seq).put(payload);
        b.putShort(2, (short) checksum(b.array(), 0, b.capacity(), pseudo));
        return b.array();
    }

    /** 16 bytes of an IPv6 literal. */
    public static byte[] ip6(String literal) {
        try {
            return java.net.InetAddress.getByName(literal).getAddress();
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }

    public static byte[] slice(byte[] f, int off, int len) {
        return java.util.Arrays.copyOfRange(f, off, off + len);
    }
}
