package jpasst.guest.vhost;

import java.nio.ByteBuffer;

/** The few frames a guest sends first (DHCPDISCOVER, an ARP request) and what to read from the answers. */
final class GuestFrames {
    private GuestFrames() {}

    static byte[] dhcpDiscover(byte[] mac, int xid) {
        byte[] opts = {53, 1, 1, 55, 3, 1, 3, 6, (byte) 255};
        int bootp = 236 + 4 + opts.length;
        ByteBuffer b = ByteBuffer.allocate(14 + 20 + 8 + bootp);
        b.put(new byte[] {-1, -1, -1, -1, -1, -1}).put(mac).putShort((short) 0x0800);
        int ip = b.position();
        b.put((byte) 0x45).put((byte) 0).putShort((short) (20 + 8 + bootp)).putShort((short) 0).putShort((short) 0)
                .put((byte) 64).put((byte) 17).putShort((short) 0).putInt(0).putInt(0xffffffff);
        b.putShort(ip + 10, checksum(b.array(), ip, 20));
        b.putShort((short) 68).putShort((short) 67).putShort((short) (8 + bootp)).putShort((short) 0);
        b.put((byte) 1).put((byte) 1).put((byte) 6).put((byte) 0).putInt(xid).putShort((short) 0)
                .putShort((short) 0x8000).putInt(0).putInt(0).putInt(0).putInt(0);
        b.put(mac).put(new byte[10]).put(new byte[64 + 128]);
        b.putInt(0x63825363).put(opts);
        return b.array();
    }

    static byte[] arpRequest(byte[] mac, int senderIp, int targetIp) {
        ByteBuffer b = ByteBuffer.allocate(42);
        b.put(new byte[] {-1, -1, -1, -1, -1, -1}).put(mac).putShort((short) 0x0806);
        b.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 1);
        b.put(mac).putInt(senderIp).put(new byte[6]).putInt(targetIp);
        return b.array();
    }

    /** The DHCP message type (option 53) of a frame, or -1 if it is not a DHCP reply. */
    static int dhcpMessageType(byte[] f) {
        int opt = findOption(f, 53);
        return opt < 0 ? -1 : f[opt + 2] & 0xff;
    }

    /** A four-byte DHCP option (the first address of a list), or 0. */
    static int dhcpOption4(byte[] f, int code) {
        int opt = findOption(f, code);
        return opt < 0 || (f[opt + 1] & 0xff) < 4 ? 0 : ByteBuffer.wrap(f).getInt(opt + 2);
    }

    private static int findOption(byte[] f, int code) {
        ByteBuffer b = ByteBuffer.wrap(f);
        if (f.length < 14 + 20 + 8 + 240 || b.getShort(12) != 0x0800 || f[23] != 17) return -1;
        int ihl = (f[14] & 0xf) * 4;
        int udp = 14 + ihl;
        if ((b.getShort(udp) & 0xffff) != 67 || (b.getShort(udp + 2) & 0xffff) != 68) return -1;
        int at = udp + 8 + 240;
        while (at + 1 < f.length) {
            int c = f[at] & 0xff;
            if (c == 255) break;
            if (c == 0) {
                at++;
                continue;
            }
            if (c == code) return at;
            at += 2 + (f[at + 1] & 0xff);
        }
        return -1;
    }

    static boolean isArpReplyFrom(byte[] f, int ip) {
        ByteBuffer b = ByteBuffer.wrap(f);
        return f.length >= 42 && b.getShort(12) == 0x0806 && b.getShort(20) == 2 && b.getInt(28) == ip;
    }

    static String ip(int a) {
        return (a >>> 24) + "." + (a >>> 16 & 0xff) + "." + (a >>> 8 & 0xff) + "." + (a & 0xff);
    }

    static String mac(byte[] f, int at) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 6; i++) s.append(i > 0 ? ":" : "").append(String.format("%02x", f[at + i] & 0xff));
        return s.toString();
    }

    static short checksum(byte[] d, int off, int len) {
        long sum = 0;
        for (int i = 0; i < len; i += 2) sum += ((d[off + i] & 0xff) << 8) | (i + 1 < len ? d[off + i + 1] & 0xff : 0);
        while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
        return (short) ~sum;
    }
}
