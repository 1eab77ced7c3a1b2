package jpasst.robust;

import jpasst.guest.Frames;

/**
 * For fuzzing without a private network namespace: rewrites a mutated frame so that whatever the
 * daemon makes of it stays on this machine and between the test's own sockets. Every IPv4/IPv6
 * destination that is not multicast or broadcast becomes the gateway (which the daemon maps to
 * the host's loopback), and every TCP or UDP destination port one of the test's listeners.
 * Checksums are fixed afterwards only if they were right before, so bad ones stay bad.
 */
final class Containment {
    private final int tcp4, tcp6, udp4, udp6;

    Containment(int tcp4, int tcp6, int udp4, int udp6) {
        this.tcp4 = tcp4;
        this.tcp6 = tcp6;
        this.udp4 = udp4;
        this.udp6 = udp6;
    }

    void apply(byte[] f) {
        if (f.length < 14) return;
        int type = Frames.u16(f, 12);
        byte[] fixed = f.clone();
        Mutator.fixChecksums(fixed);
        boolean wasValid = java.util.Arrays.equals(fixed, f);
        boolean changed = false;
        int l4 = -1, proto = -1;
        boolean v6 = false;
        if (type == 0x0800 && f.length >= 34) {
            int dst = Frames.i32(f, 30);
            boolean special = dst == -1 || (dst >>> 28) == 0xe;
            if (!special && dst != FuzzFrames.GW4) {
                System.arraycopy(Frames.a4(FuzzFrames.GW4), 0, f, 30, 4);
                changed = true;
            }
            l4 = 14 + Math.max(20, (f[14] & 0xf) * 4);
            proto = f[23] & 0xff;
        } else if (type == 0x86dd && f.length >= 54) {
            boolean multicast = (f[38] & 0xff) == 0xff;
            if (!multicast && !same(f, 38, FuzzFrames.GW6) && !same(f, 38, FuzzFrames.OUR_LL)) {
                System.arraycopy(FuzzFrames.GW6, 0, f, 38, 16);
                changed = true;
            }
            v6 = true;
            l4 = 54; // extension headers: the port rewrite below may then hit the wrong bytes, harmlessly
            proto = f[20] & 0xff;
        } else {
            return;
        }
        if ((proto == 6 || proto == 17) && l4 + 4 <= f.length) {
            int port = proto == 6 ? (v6 ? tcp6 : tcp4) : (v6 ? udp6 : udp4);
            int dport = Frames.u16(f, l4 + 2);
            if (dport != port && !(proto == 17 && (dport == 67 || dport == 547))) {
                Mutator.put16(f, l4 + 2, port);
                changed = true;
            }
        }
        if (changed && wasValid) Mutator.fixChecksums(f);
    }

    private static boolean same(byte[] f, int at, byte[] a) {
        for (int i = 0; i < a.length; i++) if (f[at + i] != a[i]) return false;
        return true;
    }
}
