package jpasst.robust;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import jpasst.guest.Frames;

/**
 * A seeded mutator over Ethernet frames, for fuzzing the frame path without a fuzzing engine:
 * start from a valid frame, apply one to several mutations (bit flips, byte and word sets with
 * "interesting" values, truncation, extension, insertion and deletion, splices from other seeds,
 * targeted tweaks of the length, offset and type fields of each protocol), then, most of the
 * time, recompute the IPv4 header checksum and the TCP/UDP/ICMP/ICMPv6 checksum so that the
 * mutated packet gets past the checksum checks and reaches the code behind them.
 *
 * Everything derives from one {@link SplittableRandom} seed: a failing input is reproduced by
 * its seed and iteration number.
 */
final class Mutator {
    static final int MIN_FRAME = 14, MAX_FRAME = 65535;
    private static final int[] INTERESTING8 = {0, 1, 0x7f, 0x80, 0xff, 0x40, 0x45, 0x60, 2, 4, 8, 16, 32, 64};
    private static final int[] INTERESTING16 = {0, 1, 0x7fff, 0x8000, 0xffff, 0xfffe, 20, 40, 60, 64, 576,
            1280, 1500, 65520, 0x0800, 0x86dd, 0x0806, 0x4000, 0x2000, 0x3fff};
    private static final int[] PROTOS = {0, 1, 2, 4, 6, 17, 41, 43, 44, 47, 50, 58, 59, 60, 132, 255};

    private final SplittableRandom rnd;
    private final List<byte[]> seeds;
    private final Containment contain;

    /**
     * @param contain null, or what keeps every destination the gateway (the host's loopback) and
     *                every port one of the test's own, for runs without a private network namespace
     */
    Mutator(long seed, List<byte[]> seeds, Containment contain) {
        this.rnd = new SplittableRandom(seed);
        this.seeds = seeds;
        this.contain = contain;
    }

    SplittableRandom random() {
        return rnd;
    }

    /** A mutated copy of a random seed. */
    byte[] next() {
        return mutate(seeds.get(rnd.nextInt(seeds.size())));
    }

    /** A mutated copy of {@code frame}, 14 to 65535 bytes long. */
    byte[] mutate(byte[] frame) {
        byte[] f = frame.clone();
        int n = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(8) : 1 + rnd.nextInt(2);
        for (int i = 0; i < n; i++) {
            f = once(f);
            if (f.length < MIN_FRAME) f = Arrays.copyOf(f, MIN_FRAME);
            if (f.length > MAX_FRAME) f = Arrays.copyOf(f, MAX_FRAME);
        }
        if (rnd.nextInt(10) < 7) fixChecksums(f);
        if (contain != null) contain.apply(f);
        return f;
    }

    private byte[] once(byte[] f) {
        int len = f.length;
        switch (rnd.nextInt(12)) {
            case 0, 1 -> { // bit flip
                int p = rnd.nextInt(len);
                f[p] ^= (byte) (1 << rnd.nextInt(8));
            }
            case 2 -> f[rnd.nextInt(len)] = (byte) (rnd.nextBoolean() ? rnd.nextInt(256)
                    : INTERESTING8[rnd.nextInt(INTERESTING8.length)]);
            case 3 -> { // 16-bit word
                if (len < 2) break;
                int p = rnd.nextInt(len - 1);
                int v = rnd.nextInt(3) == 0 ? len - rnd.nextInt(Math.min(len, 80)) : INTERESTING16[rnd.nextInt(INTERESTING16.length)];
                put16(f, p, v);
            }
            case 4 -> { // truncation, often right at or inside a header boundary
                int[] cuts = {14, 15, 20, 28, 33, 34, 38, 41, 42, 53, 54, 55, 61, 62, 73, 74, 282, 285};
                int to = rnd.nextBoolean() ? cuts[rnd.nextInt(cuts.length)] : MIN_FRAME + rnd.nextInt(Math.max(1, len - MIN_FRAME));
                if (to < len) f = Arrays.copyOf(f, Math.max(MIN_FRAME, to));
            }
            case 5 -> { // extension: a little junk, or rarely a great deal
                int add = rnd.nextInt(20) == 0 ? rnd.nextInt(MAX_FRAME - len + 1) : 1 + rnd.nextInt(64);
                byte[] g = Arrays.copyOf(f, Math.min(MAX_FRAME, len + add));
                int fill = rnd.nextInt(3);
                for (int i = len; i < g.length; i++) g[i] = (byte) (fill == 0 ? 0 : fill == 1 ? 0xff : rnd.nextInt(256));
                f = g;
            }
            case 6, 7 -> fieldTweak(f);
            case 8 -> { // splice a range from another seed at the same offset
                byte[] o = seeds.get(rnd.nextInt(seeds.size()));
                int p = rnd.nextInt(len);
                int n = Math.min(1 + rnd.nextInt(32), Math.min(len - p, o.length - Math.min(p, o.length)));
                if (n > 0 && p < o.length) System.arraycopy(o, p, f, p, n);
            }
            case 9 -> { // insert bytes
                int p = rnd.nextInt(len + 1), n = 1 + rnd.nextInt(8);
                byte[] g = new byte[len + n];
                System.arraycopy(f, 0, g, 0, p);
                for (int i = 0; i < n; i++) g[p + i] = (byte) rnd.nextInt(256);
                System.arraycopy(f, p, g, p + n, len - p);
                f = g;
            }
            case 10 -> { // delete bytes
                int p = rnd.nextInt(len), n = Math.min(len - p, 1 + rnd.nextInt(8));
                byte[] g = new byte[len - n];
                System.arraycopy(f, 0, g, 0, p);
                System.arraycopy(f, p + n, g, p, len - p - n);
                f = g;
            }
            default -> { // EtherType
                if (len >= 14) put16(f, 12, new int[] {0x0800, 0x86dd, 0x0806, 0x8100, 0x88cc, rnd.nextInt(65536)}[rnd.nextInt(6)]);
            }
        }
        return f;
    }

    /** Length, offset, type and flag fields of the protocol the frame carries. */
    private void fieldTweak(byte[] f) {
        int len = f.length;
        int type = len >= 14 ? Frames.u16(f, 12) : 0;
        if (type == 0x0800 && len >= 34) {
            int ihl = (f[14] & 0xf) * 4;
            int l4 = 14 + Math.max(20, ihl);
            switch (rnd.nextInt(11)) {
                case 0 -> f[14] = (byte) (0x40 | rnd.nextInt(16));                    // IHL
                case 1 -> f[14] = (byte) (rnd.nextInt(16) << 4 | (f[14] & 0xf));      // version
                case 2 -> put16(f, 16, tweakLength(Frames.u16(f, 16), len - 14));     // total length
                case 3 -> put16(f, 20, new int[] {0x2000, 0x0001, 0x2001, 0x1fff, 0x4000, 0x8000}[rnd.nextInt(6)]); // fragments
                case 4 -> f[22] = (byte) (rnd.nextBoolean() ? 0 : 1);                  // TTL 0 or 1
                case 5 -> f[23] = (byte) PROTOS[rnd.nextInt(PROTOS.length)];           // protocol
                case 6 -> { if (l4 + 14 <= len) f[l4 + 12] = (byte) (rnd.nextInt(16) << 4); } // TCP data offset
                case 7 -> { if (l4 + 14 <= len) f[l4 + 13] = (byte) rnd.nextInt(256); }       // TCP flags
                case 8 -> { if (l4 + 6 <= len) put16(f, l4 + 4, tweakLength(Frames.u16(f, l4 + 4), len - l4)); } // UDP length
                case 9 -> { if (l4 + 4 <= len) put16(f, l4 + (rnd.nextBoolean() ? 0 : 2), INTERESTING16[rnd.nextInt(4)]); } // ports
                default -> optionLength(f, l4);
            }
        } else if (type == 0x86dd && len >= 54) {
            switch (rnd.nextInt(7)) {
                case 0 -> put16(f, 18, tweakLength(Frames.u16(f, 18), len - 54));     // payload length
                case 1 -> f[20] = (byte) PROTOS[rnd.nextInt(PROTOS.length)];           // next header
                case 2 -> f[21] = (byte) (rnd.nextBoolean() ? 0 : rnd.nextInt(256));   // hop limit
                case 3 -> f[14] = (byte) (rnd.nextInt(16) << 4);                       // version
                case 4 -> { if (len >= 62) f[55] = (byte) rnd.nextInt(256); }          // extension header length / ICMPv6 code
                case 5 -> { if (len >= 60) put16(f, 58, tweakLength(Frames.u16(f, 58), len - 54)); } // UDP length
                default -> optionLength(f, 54);
            }
        } else if (type == 0x0806 && len >= 22) {
            int p = 14 + rnd.nextInt(Math.min(8, len - 14));
            f[p] = (byte) INTERESTING8[rnd.nextInt(INTERESTING8.length)];               // hardware/protocol types and sizes, opcode
        } else {
            f[rnd.nextInt(len)] = (byte) rnd.nextInt(256);
        }
    }

    /** Corrupts what looks like an option length byte (DHCP, DHCPv6, NDP, TCP options) after {@code from}. */
    private void optionLength(byte[] f, int from) {
        if (f.length <= from + 1) return;
        int p = from + rnd.nextInt(f.length - from);
        f[p] = (byte) new int[] {0, 1, 2, 0xff, 0xfe, 0x80, rnd.nextInt(256)}[rnd.nextInt(7)];
    }

    private int tweakLength(int v, int actual) {
        return switch (rnd.nextInt(6)) {
            case 0 -> v + 1;
            case 1 -> v - 1;
            case 2 -> 0;
            case 3 -> 0xffff;
            case 4 -> actual + 1 + rnd.nextInt(16);
            default -> rnd.nextInt(Math.max(1, actual + 8));
        } & 0xffff;
    }

    static void put16(byte[] f, int p, int v) {
        f[p] = (byte) (v >>> 8);
        f[p + 1] = (byte) v;
    }

    // ---- checksum fix-ups ----

    /**
     * Recomputes the checksums of an IPv4 or IPv6 frame from its own (possibly mutated) length
     * fields, clamped to the bytes present: the IPv4 header checksum, then TCP, UDP, ICMP or
     * ICMPv6 over the extent the daemon will check.
     */
    static void fixChecksums(byte[] f) {
        if (f.length < 14) return;
        int type = Frames.u16(f, 12);
        if (type == 0x0800) fix4(f, 14);
        else if (type == 0x86dd) fix6(f, 14);
    }

    private static void fix4(byte[] f, int ip) {
        if (f.length < ip + 20) return;
        int ihl = (f[ip] & 0xf) * 4;
        if (ihl < 20 || ip + ihl > f.length) return;
        put16(f, ip + 10, 0);
        put16(f, ip + 10, Frames.checksum(f, ip, ihl, 0));
        int total = Frames.u16(f, ip + 2);
        if (total < ihl) return;
        int end = Math.min(ip + total, f.length);
        int proto = f[ip + 9] & 0xff;
        int src = Frames.i32(f, ip + 12), dst = Frames.i32(f, ip + 16);
        fixL4(f, proto, ip + ihl, end - ip - ihl, false, src, dst, 0);
    }

    private static void fix6(byte[] f, int ip) {
        if (f.length < ip + 40) return;
        int avail = Math.min(40 + Frames.u16(f, ip + 4), f.length - ip);
        int nh = f[ip + 6] & 0xff, pos = 40;
        while (nh == 0 || nh == 43 || nh == 60) {
            if (pos + 8 > avail) return;
            int next = f[ip + pos] & 0xff;
            int l = ((f[ip + pos + 1] & 0xff) + 1) * 8;
            if (pos + l > avail) return;
            nh = next;
            pos += l;
        }
        fixL4(f, nh, ip + pos, avail - pos, true, 0, 0, ip);
    }

    private static void fixL4(byte[] f, int proto, int l4, int l4Len, boolean v6, int src4, int dst4, int ip6) {
        if (l4Len <= 0 || l4 + l4Len > f.length) return;
        int at;
        int over = l4Len;
        switch (proto) {
            case 6 -> at = 16;
            case 17 -> {
                at = 6;
                if (l4Len < 8) return;
                int ulen = Frames.u16(f, l4 + 4);
                if (ulen >= 8 && ulen <= l4Len) over = ulen;
            }
            case 1 -> at = v6 ? -1 : 2;
            case 58 -> at = v6 ? 2 : -1;
            default -> at = -1;
        }
        if (at < 0 || l4Len < at + 2) return;
        put16(f, l4 + at, 0);
        long pseudo = 0;
        if (proto != 1) {
            pseudo = v6 ? pseudo6(f, ip6, proto, over) : Frames.pseudo4(src4, dst4, proto, over);
        }
        int c = Frames.checksum(f, l4, over, pseudo);
        if (proto == 17 && c == 0) c = 0xffff;
        put16(f, l4 + at, c);
    }

    private static long pseudo6(byte[] f, int ip, int proto, int len) {
        long acc = 0;
        for (int i = 8; i < 40; i += 2) acc += Frames.u16(f, ip + i);
        return acc + proto + (len >>> 16) + (len & 0xffff);
    }
}
