package jpasst.guest;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

import jpasst.guest.net.InetChecksum;

/**
 * Frames as a guest would send them, built on the heap for tests that craft them one by one:
 * any frame, a malformed one included (the builders write what they are given, and the bytes
 * can be changed after). Checksums are computed by the guest side's own {@link InetChecksum},
 * independently of the daemon's code; readers ({@link #u16}, {@link #i32}...) take frames back
 * apart. IPv6 control-plane frames are in {@link V6Frames}, TCP connections driven by hand in
 * {@link GuestTcp}.
 */
public final class Frames {
    private Frames() {}

    public static final long GUEST_MAC = GuestStack.DEFAULT_MAC;
    /** The documentation addresses the tests' daemons hand out: guest and gateway, IPv4 and IPv6. */
    public static final int GUEST4 = ip("192.0.2.2"), GW4 = ip("192.0.2.1");
    public static final byte[] GUEST6 = ip6("2001:db8:1::2"), GW6 = ip6("2001:db8:1::1");
    public static final int FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

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
        return ip4(17, src, dst, udpHeader(sport, dport, payload, pseudo4(src, dst, 17, 8 + payload.length)));
    }

    /**
     * The checksum field's value for the {@code len} bytes at {@code off} plus the partial sum
     * {@code acc} (a pseudo-header's): 0 over data whose checksum is right.
     */
    public static int checksum(byte[] b, int off, int len, long acc) {
        return InetChecksum.finish(InetChecksum.sum(MemorySegment.ofArray(b), off, len) + acc);
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

    /**
     * The first four bytes of option {@code code} of a DHCP reply frame (IPv4 without options,
     * UDP from 67 to 68), as an address; 0 if the option is not there or shorter.
     */
    public static int dhcpOption4(byte[] f, int code) {
        if (f.length < 14 + 20 + 8 + 240 || u16(f, 12) != 0x0800 || u8(f, 23) != 17 || u16(f, 34) != 67) return 0;
        for (int at = 14 + 20 + 8 + 240; at + 1 < f.length; ) {
            int c = u8(f, at);
            if (c == 255) break;
            if (c == 0) {
                at++;
                continue;
            }
            if (c == code) return u8(f, at + 1) >= 4 && at + 6 <= f.length ? i32(f, at + 2) : 0;
            at += 2 + u8(f, at + 1);
        }
        return 0;
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
        return V6Frames.ip6(proto, 64, src, dst, l4);
    }

    /** Sum of the IPv6 pseudo-header (RFC 8200 8.1), not folded. */
    public static long pseudo6(byte[] src, byte[] dst, int proto, int len) {
        return V6Frames.pseudo(src, dst, proto, len);
    }

    public static long pseudo4(int src, int dst, int proto, int len) {
        return InetChecksum.pseudo4(src, dst, proto, len);
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
        return V6Frames.a6(literal);
    }

    public static byte[] slice(byte[] f, int off, int len) {
        return java.util.Arrays.copyOfRange(f, off, off + len);
    }

    // ---- TCP ----

    /**
     * A TCP header with {@code options} (padded with zeros to a multiple of 4 bytes) and
     * {@code payload}; checksum field 0.
     */
    public static byte[] tcpSegment(int sport, int dport, int seq, int ack, int flags, int window,
                                    byte[] options, byte[] payload) {
        int optLen = (options.length + 3) & ~3;
        ByteBuffer b = ByteBuffer.allocate(20 + optLen + payload.length);
        b.putShort((short) sport).putShort((short) dport).putInt(seq).putInt(ack)
                .put((byte) ((20 + optLen) / 4 << 4)).put((byte) flags).putShort((short) window)
                .putShort((short) 0).putShort((short) 0).put(options);
        b.position(20 + optLen);
        b.put(payload);
        return b.array();
    }

    /** MSS (if > 0) and window scale (if >= 0), NOP-padded: a minimal SYN's options. */
    public static byte[] synOptions(int mss, int ws) {
        java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream();
        if (mss > 0) o.writeBytes(new byte[] {2, 4, (byte) (mss >>> 8), (byte) mss});
        if (ws >= 0) o.writeBytes(new byte[] {1, 3, 3, (byte) ws});
        return o.toByteArray();
    }

    /** MSS, SACK permitted, timestamps, NOP and window scale, as Linux sends them in a SYN. */
    public static byte[] linuxSynOptions(int mss, int ws) {
        return V6Frames.bytes(2, 4, mss >>> 8, mss & 0xff, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, ws);
    }

    /** The TCP checksum of {@code seg} stored in it, computed over {@code pseudo}. */
    public static byte[] withTcpChecksum(byte[] seg, long pseudo) {
        int c = checksum(seg, 0, seg.length, pseudo);
        seg[16] = (byte) (c >>> 8);
        seg[17] = (byte) c;
        return seg;
    }

    /** A TCP segment from {@code src} to {@code dst} in an IPv4 frame to the daemon's MAC, checksums right. */
    public static byte[] tcp4(int src, int dst, int sport, int dport, int seq, int ack, int flags, int window,
                              byte[] options, byte[] payload) {
        byte[] seg = tcpSegment(sport, dport, seq, ack, flags, window, options, payload);
        return frame4(ip4(6, src, dst, withTcpChecksum(seg, pseudo4(src, dst, 6, seg.length))));
    }

    /** The same in an IPv6 frame (hop limit 64). */
    public static byte[] tcp6(byte[] src, byte[] dst, int sport, int dport, int seq, int ack, int flags, int window,
                              byte[] options, byte[] payload) {
        byte[] seg = tcpSegment(sport, dport, seq, ack, flags, window, options, payload);
        return frame6(V6Frames.ip6(6, 64, src, dst, withTcpChecksum(seg, V6Frames.pseudo(src, dst, 6, seg.length))));
    }

    public static byte[] a4(int a) {
        return ByteBuffer.allocate(4).putInt(a).array();
    }

    public static long hi(byte[] a6) {
        return ByteBuffer.wrap(a6).getLong(0);
    }

    public static long lo(byte[] a6) {
        return ByteBuffer.wrap(a6).getLong(8);
    }
}
