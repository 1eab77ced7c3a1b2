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
}
