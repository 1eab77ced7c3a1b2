package jpasst.robust;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Random;

/**
 * The data the load tests move: a fixed set of random buffers of several sizes, each with its
 * sha256 computed once, shared by the synthetic guest and the host server of the same JVM. A
 * transfer names a buffer by index; the receiver hashes what arrives and compares with the
 * precomputed digest (and byte by byte, to count exactly how much arrived intact).
 */
final class Payloads {
    private Payloads() {}

    static final int[] SIZES = {0, 1, 100, 1460, 4096, 16384, 65536, 262_144, 1 << 20, 4 << 20};
    /** Indexes of the sizes up to 64 KiB, for many small transfers. */
    static final int SMALL = 7;
    private static final byte[][] DATA = new byte[SIZES.length][];
    private static final byte[][] SHA = new byte[SIZES.length][];

    static {
        Random r = new Random(8);
        for (int i = 0; i < SIZES.length; i++) {
            DATA[i] = new byte[SIZES[i]];
            r.nextBytes(DATA[i]);
            SHA[i] = sha256().digest(DATA[i]);
        }
    }

    static byte[] data(int i) {
        return DATA[i];
    }

    static byte[] sha(int i) {
        return SHA[i];
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The 8 bytes a transfer starts with: magic, upload and download indexes, connection id. */
    static byte[] header(int up, int down, int id) {
        return new byte[] {'J', 'P', (byte) up, (byte) down, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id};
    }
}
