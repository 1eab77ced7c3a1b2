package jpasst.robust;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import jpasst.guest.vhost.GuestRam;
import jpasst.guest.vhost.SplitRing;
import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.guest.vhost.Wire;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.util.Log;
import jpasst.vhost.VhostRig;

/**
 * The vhost-user back-end under fuzzed front-ends, over its real socket and event loop: first
 * the message parser (requests, flags, sizes, payloads and descriptor counts drawn at random, or
 * valid ones with one field wrong), then the ring walker of a running device (descriptors,
 * available entries and indices broken at random, kicked). Connections that get reset are
 * replaced by new front-ends.
 *
 * Every run must end with: no event the loop had to drop (an access outside a mapped region
 * would be one), no descriptor left open in the process and no guest memory left mapped once
 * the front-ends are gone, and the next well-behaved front-end served.
 *
 * Sizes: {@code -Djpasst.fuzz.iterations=N} (default 20,000 messages and 5,000 ring inputs; the
 * nightly size is 1,000,000 each), {@code -Djpasst.fuzz.seed=S} to reproduce.
 */
class VhostUserFuzzTest {
    static final Integer SIZE = Integer.getInteger("jpasst.fuzz.iterations");
    static final long SEED = Long.getLong("jpasst.fuzz.seed", 0x7a55_f00dL);

    static VhostUserFrontEnd.Options small() {
        VhostUserFrontEnd.Options o = new VhostUserFrontEnd.Options();
        o.memory = 4 << 20;
        o.ringSize = 32;
        o.txBufferSize = 2048;
        o.timeoutMs = 3000;
        return o;
    }

    static int openFds() throws IOException {
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            return (int) s.count();
        }
    }

    static long guestMappings() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream().filter(l -> l.contains("jpasst-guest-ram")).count();
    }

    static void awaitGone(VhostRig rig) throws Exception {
        assertTrue(rig.await(() -> !rig.device.connected(), 5000), "the device did not see the front-end leave");
    }

    /** The end of every run: everything released, the loop clean, the next front-end served. */
    static void assertCleanAndServing(VhostRig rig, int fdsBefore) throws Exception {
        assertTrue(rig.await(() -> !rig.device.connected(), 5000), "the last front-end is still connected");
        assertEquals(0, rig.loop.failures(), "events the loop had to drop");
        assertEquals(0, guestMappings(), "guest memory still mapped after every front-end left");
        assertEquals(fdsBefore, openFds(), "descriptors left open");
        try (VhostUserFrontEnd fe = rig.frontEnd()) {
            byte[] f = new byte[300];
            new SplittableRandom(1).nextBytes(f);
            fe.sendNow(f);
            assertArrayEquals(f, fe.receive(3000), "the next front-end is not served");
        }
        assertEquals(0, rig.loop.failures());
    }

    @Test
    @Timeout(1800)
    void fuzzedMessagesNeverCrashTheDaemonNorLeakItsDescriptorsOrMappings() throws Exception {
        int messages = SIZE != null ? SIZE : 20_000;
        int logLevel = Log.level();
        Log.level(Log.ERROR);
        try (VhostRig rig = new VhostRig()) {
            rig.record = false;
            int fdsBefore = openFds();
            SplittableRandom rnd = new SplittableRandom(SEED);
            VhostUserFrontEnd fe = null;
            int connections = 0, ended = 0;
            long started = System.nanoTime();
            for (int i = 0; i < messages; i++) {
                if (fe == null) {
                    fe = new VhostUserFrontEnd(small());
                    fe.connect(rig.socket.toString());
                    if (rnd.nextBoolean()) fe.start();
                    connections++;
                }
                boolean alive;
                try {
                    fuzzedMessage(fe, rnd);
                    alive = fe.drainReplies();
                } catch (IOException e) {
                    alive = false;
                }
                if (!alive || rnd.nextInt(500) == 0) {
                    fe.close();
                    fe = null;
                    ended++;
                    awaitGone(rig); // or the next front-end would be the second one, refused
                }
            }
            if (fe != null) fe.close();
            System.out.printf("FUZZ vhost-user messages: %d (seed %#x) in %.1f s over %d connections, %d ended"
                    + " (most by a reset), %d resets counted by the device%n", messages, SEED,
                    (System.nanoTime() - started) / 1e9, connections, ended, rig.onLoop(rig.device::resets));
            assertCleanAndServing(rig, fdsBefore);
        } finally {
            Log.level(logLevel);
        }
    }

    static final int[] REQUESTS = {Wire.GET_FEATURES, Wire.SET_FEATURES, Wire.SET_OWNER, Wire.SET_MEM_TABLE,
            Wire.SET_LOG_BASE, Wire.SET_LOG_FD, Wire.SET_VRING_NUM, Wire.SET_VRING_ADDR, Wire.SET_VRING_BASE,
            Wire.GET_VRING_BASE, Wire.SET_VRING_KICK, Wire.SET_VRING_CALL, Wire.SET_VRING_ERR,
            Wire.GET_PROTOCOL_FEATURES, Wire.SET_PROTOCOL_FEATURES, Wire.GET_QUEUE_NUM, Wire.SET_VRING_ENABLE,
            Wire.SEND_RARP};

    /** One message: mostly a known request with a plausible payload, one thing in it likely wrong. */
    static void fuzzedMessage(VhostUserFrontEnd fe, SplittableRandom rnd) throws IOException {
        int r = rnd.nextInt(100);
        int request = r < 80 ? REQUESTS[rnd.nextInt(REQUESTS.length)] : r < 95 ? rnd.nextInt(50) : rnd.nextInt();
        int flags = switch (rnd.nextInt(10)) {
            case 0 -> rnd.nextInt();
            case 1, 2 -> Wire.FLAG_VERSION_1 | Wire.FLAG_NEED_REPLY;
            default -> Wire.FLAG_VERSION_1;
        };
        GuestRam ram = fe.ram();
        ByteBuffer p = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
        int fds = 0;
        switch (request) {
            case Wire.SET_FEATURES, Wire.SET_PROTOCOL_FEATURES -> p.putLong(rnd.nextInt(3) == 0 ? rnd.nextLong()
                    : request == Wire.SET_FEATURES ? fe.ackedFeatures() | (rnd.nextBoolean() ? 1L << 26 : 0) : 0xeL);
            case Wire.SET_MEM_TABLE -> {
                int n = rnd.nextInt(5) == 0 ? rnd.nextInt(12) : ram.regions();
                p.putInt(n).putInt(0);
                for (int i = 0; i < Math.min(n, 12); i++) {
                    long off = i * ram.regionSize();
                    boolean wild = rnd.nextInt(4) == 0;
                    p.putLong(wild ? rnd.nextLong() : ram.regionGpa(i)).putLong(wild ? rnd.nextLong() & 0xffffffffL : ram.regionSize())
                            .putLong(wild ? rnd.nextLong() : ram.qva(off)).putLong(wild ? rnd.nextLong() & 0xffffff : off);
                }
                fds = rnd.nextInt(5) == 0 ? rnd.nextInt(10) : n;
            }
            case Wire.SET_LOG_BASE -> {
                p.putLong(rnd.nextBoolean() ? 4096 : rnd.nextLong()).putLong(rnd.nextBoolean() ? 0 : rnd.nextLong());
                fds = 1;
            }
            case Wire.SET_LOG_FD -> fds = 1;
            case Wire.SET_VRING_NUM, Wire.SET_VRING_BASE, Wire.GET_VRING_BASE, Wire.SET_VRING_ENABLE ->
                    p.putInt(rnd.nextInt(8) == 0 ? rnd.nextInt() : rnd.nextInt(2))
                            .putInt(rnd.nextInt(4) == 0 ? rnd.nextInt() : request == Wire.SET_VRING_NUM
                                    ? 1 << rnd.nextInt(16) : rnd.nextInt(2));
            case Wire.SET_VRING_ADDR -> {
                SplitRing ring = fe.ring(rnd.nextInt(2));
                p.putInt(rnd.nextInt(8) == 0 ? rnd.nextInt() : rnd.nextInt(2)).putInt(rnd.nextInt(2));
                long[] a = {ram.qva(ring.descOffset()), ram.qva(ring.usedOffset()), ram.qva(ring.availOffset()),
                        ram.gpa(ring.usedOffset())};
                for (long v : a) p.putLong(rnd.nextInt(6) == 0 ? rnd.nextLong() : v + (rnd.nextInt(8) == 0 ? rnd.nextInt(64) : 0));
            }
            case Wire.SET_VRING_KICK, Wire.SET_VRING_CALL, Wire.SET_VRING_ERR -> {
                long v = rnd.nextInt(6) == 0 ? rnd.nextLong() : rnd.nextInt(2) | (rnd.nextInt(6) == 0 ? Wire.VRING_NOFD : 0);
                p.putLong(v);
                fds = (v & Wire.VRING_NOFD) != 0 ? 0 : 1;
            }
            case Wire.SEND_RARP -> p.putLong(rnd.nextLong());
            default -> {
                int n = rnd.nextInt(64);
                for (int i = 0; i < n; i++) p.put((byte) rnd.nextInt());
            }
        }
        int size = p.position();
        if (rnd.nextInt(10) == 0) size = rnd.nextInt(3) == 0 ? rnd.nextInt() : rnd.nextInt(300);
        if (rnd.nextInt(10) == 0) fds = rnd.nextInt(10);
        int actual = Math.max(0, Math.min(size, 512));
        if (rnd.nextInt(20) == 0) actual = rnd.nextInt(actual + 1); // a message cut short: the rest comes from the next
        int[] sent = new int[fds];
        for (int i = 0; i < fds; i++) {
            boolean memory = request == Wire.SET_MEM_TABLE || request == Wire.SET_LOG_BASE;
            sent[i] = memory && rnd.nextInt(4) != 0 ? Descriptors.fcntl(ram.descriptor(), Descriptors.F_DUPFD_CLOEXEC, 0)
                    : Errno.check(Descriptors.eventfd(0, Descriptors.EFD_CLOEXEC | Descriptors.EFD_NONBLOCK), "eventfd");
        }
        try {
            fe.sendRaw(request, flags, java.util.Arrays.copyOf(p.array(), actual), size, sent);
        } finally {
            for (int fd : sent) Descriptors.close(fd);
        }
    }

    @Test
    @Timeout(3600)
    void fuzzedRingsNeverCrashTheDaemonNorLeakItsDescriptorsOrMappings() throws Exception {
        int inputs = SIZE != null ? SIZE : 5_000;
        int logLevel = Log.level();
        Log.level(Log.ERROR);
        try (VhostRig rig = new VhostRig()) {
            rig.record = false;
            int fdsBefore = openFds();
            SplittableRandom rnd = new SplittableRandom(SEED + 1);
            int episodes = 0, resets = 0, echoes = 0;
            long started = System.nanoTime();
            for (int done = 0; done < inputs; episodes++) {
                VhostUserFrontEnd.Options o = small();
                o.regions = 1 + rnd.nextInt(2);
                o.regionGap = rnd.nextBoolean() ? 1 << 20 : 0;
                o.mergeable = rnd.nextInt(4) != 0;
                try (VhostUserFrontEnd fe = new VhostUserFrontEnd(o)) {
                    fe.connect(rig.socket.toString());
                    fe.start();
                    int steps = 1 + rnd.nextInt(20);
                    for (int s = 0; s < steps && done < inputs; s++, done++) {
                        int q = rnd.nextInt(4) == 0 ? Wire.RX : Wire.TX;
                        breakRing(fe, q, rnd);
                        if (q == Wire.RX || rnd.nextBoolean()) fe.send(new byte[64 + rnd.nextInt(1500)]); // something to receive
                        fe.kickRaw(Wire.TX);
                        if (q == Wire.RX) fe.kickRaw(Wire.RX);
                        rig.onLoop(() -> { }); // the loop has handled the kicks
                    }
                    if (!fe.drainReplies()) {
                        resets++;
                    } else {
                        try {
                            echoes += fe.poll((seg, off, len) -> { }, 64);
                        } catch (IllegalStateException e) {
                            // the guest's own bookkeeping, broken on purpose: the back-end returned what it was given
                        }
                    }
                }
                awaitGone(rig);
            }
            System.out.printf("FUZZ vhost-user rings: %d inputs (seed %#x) in %.1f s, %d front-ends, %d reset,"
                    + " %d frames echoed, %d chains dropped on the last connection%n", inputs, SEED + 1,
                    (System.nanoTime() - started) / 1e9, episodes, resets, echoes, rig.onLoop(rig.device::dropped));
            assertTrue(resets > 0, "the fuzzer never broke a ring");
            assertCleanAndServing(rig, fdsBefore);
        } finally {
            Log.level(logLevel);
        }
    }

    /** Breaks ring {@code q} of a running front-end: a descriptor, an available entry, or its index. */
    static void breakRing(VhostUserFrontEnd fe, int q, SplittableRandom rnd) {
        SplitRing ring = fe.ring(q);
        GuestRam ram = fe.ram();
        int n = ring.size();
        switch (rnd.nextInt(10)) {
            case 0 -> ring.rawAvailIndex(ring.availIndex() + rnd.nextInt(1 << 16));
            case 1 -> {
                ring.rawAvail(rnd.nextInt(8) == 0 ? rnd.nextInt(1 << 16) : rnd.nextInt(n));
                ring.publish();
            }
            default -> {
                int d = rnd.nextInt(n);
                long gpa = switch (rnd.nextInt(5)) {
                    case 0 -> rnd.nextLong();
                    case 1 -> ram.gpa(ram.regionEnd(0) - 1 - rnd.nextInt(4096));
                    case 2 -> ram.size() + rnd.nextInt(1 << 22);
                    default -> ram.gpa(rnd.nextLong(ram.size() - 70_000));
                };
                int len = switch (rnd.nextInt(4)) {
                    case 0 -> rnd.nextInt();
                    case 1 -> rnd.nextInt(30);
                    default -> 1 + rnd.nextInt(66_000);
                };
                int flags = rnd.nextInt(5) == 0 ? rnd.nextInt(8) : (q == Wire.RX ? Wire.DESC_F_WRITE : 0)
                        | (rnd.nextInt(3) == 0 ? Wire.DESC_F_NEXT : 0);
                ring.rawDescriptor(d, gpa, len, flags, rnd.nextInt(8) == 0 ? rnd.nextInt(1 << 16) : rnd.nextInt(n));
                if (rnd.nextBoolean()) {
                    ring.rawAvail(d);
                    ring.publish();
                }
            }
        }
    }
}
