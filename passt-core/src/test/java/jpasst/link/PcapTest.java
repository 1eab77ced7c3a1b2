package jpasst.link;

import static jpasst.guest.Frames.GUEST_MAC;
import static jpasst.guest.Frames.arpRequest;
import static jpasst.guest.Frames.ip;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import jpasst.guest.GuestLink;
import jpasst.testutil.InProcessPasst;

/** -p FILE: a classic pcap file (pcap-savefile(5)) of every frame, both ways, buffered and flushed. */
class PcapTest {
    @TempDir
    Path dir;

    /** A pcap file read back: the header fields and the records. */
    record Capture(int magic, int major, int minor, int snaplen, int linktype, List<long[]> times,
                   List<byte[]> frames, List<Integer> origLens) {
        static Capture read(Path file) throws Exception {
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.nativeOrder());
            int magic = b.getInt(), major = b.getShort(), minor = b.getShort();
            b.getInt(); // thiszone
            b.getInt(); // sigfigs
            int snaplen = b.getInt(), linktype = b.getInt();
            List<long[]> times = new ArrayList<>();
            List<byte[]> frames = new ArrayList<>();
            List<Integer> lens = new ArrayList<>();
            while (b.remaining() >= 16) {
                long sec = Integer.toUnsignedLong(b.getInt()), usec = b.getInt();
                int caplen = b.getInt(), len = b.getInt();
                byte[] f = new byte[caplen];
                b.get(f);
                times.add(new long[] {sec, usec});
                frames.add(f);
                lens.add(len);
            }
            assertEquals(0, b.remaining(), "trailing bytes after the last record");
            return new Capture(magic, major, minor, snaplen, linktype, times, frames, lens);
        }
    }

    private static MemorySegment frame(Arena a, int len, int seed) {
        MemorySegment s = a.allocate(len + 10);
        for (int i = 0; i < len; i++) s.set(ValueLayout.JAVA_BYTE, 10 + i, (byte) (seed + i));
        return s;
    }

    @Test
    void headerIsClassicPcapOfEthernetWithSnaplen65535() throws Exception {
        Path f = dir.resolve("empty.pcap");
        Pcap p = Pcap.open(f.toString());
        assertNotNull(p);
        p.close();
        assertEquals(24, Files.size(f), "a capture without frames is just the file header");
        Capture c = Capture.read(f);
        assertEquals(0xa1b2c3d4, c.magic());
        assertEquals(2, c.major());
        assertEquals(4, c.minor());
        assertEquals(65535, c.snaplen());
        assertEquals(1, c.linktype());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    }

    @Test
    void framesAreRecordedWholeWithTimestampsInOrder() throws Exception {
        Path f = dir.resolve("frames.pcap");
        long before = System.currentTimeMillis() / 1000;
        Pcap p = Pcap.open(f.toString());
        try (Arena a = Arena.ofConfined()) {
            int[] lens = {14, 60, 1514, 65535};
            for (int i = 0; i < lens.length; i++) p.frame(frame(a, lens[i], i), 10, lens[i]);
            assertEquals(24, Files.size(f), "frames wait in the buffer until a flush");
            p.flush();
            Capture c = Capture.read(f);
            assertEquals(lens.length, c.frames().size());
            for (int i = 0; i < lens.length; i++) {
                byte[] expect = new byte[lens[i]];
                for (int k = 0; k < lens[i]; k++) expect[k] = (byte) (i + k);
                assertArrayEquals(expect, c.frames().get(i));
                assertEquals(lens[i], c.origLens().get(i));
                long[] t = c.times().get(i);
                assertTrue(t[0] >= before && t[0] <= before + 60, "seconds " + t[0]);
                assertTrue(t[1] >= 0 && t[1] < 1_000_000, "microseconds " + t[1]);
                if (i > 0) {
                    long[] prev = c.times().get(i - 1);
                    assertTrue(t[0] * 1_000_000 + t[1] >= prev[0] * 1_000_000 + prev[1], "timestamps go forward");
                }
            }
        } finally {
            p.close();
        }
    }

    @Test
    void aFullBufferIsWrittenOutAndNothingIsLost() throws Exception {
        Path f = dir.resolve("many.pcap");
        Pcap p = Pcap.open(f.toString());
        int n = 200;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = frame(a, 65535, 7);
            for (int i = 0; i < n; i++) p.frame(s, 10, 65535); // 13 MB: the 4 MB buffer fills several times
            assertTrue(Files.size(f) > 24, "written before any flush once the buffer was full");
        }
        p.close();
        Capture c = Capture.read(f);
        assertEquals(n, c.frames().size());
        assertEquals(24 + n * (16L + 65535), Files.size(f));
    }

    @Test
    void tickWritesOutOnceASecondHasPassed() throws Exception {
        Path f = dir.resolve("tick.pcap");
        Pcap p = Pcap.open(f.toString());
        try (Arena a = Arena.ofConfined()) {
            p.frame(frame(a, 60, 1), 10, 60);
            p.tick(System.nanoTime());
            assertEquals(24, Files.size(f), "not yet: less than a second since the last write");
            p.tick(System.nanoTime() + 2_000_000_000L);
            assertEquals(24 + 16 + 60, Files.size(f));
        } finally {
            p.close();
        }
    }

    @Test
    void aFileThatCannotBeOpenedMeansNoCapture() {
        assertNull(Pcap.open(dir.resolve("no/such/dir/x.pcap").toString()));
    }

    @Test
    void anExistingFileIsTruncated() throws Exception {
        Path f = dir.resolve("old.pcap");
        Files.write(f, new byte[100_000]);
        Pcap.open(f.toString()).close();
        assertEquals(24, Files.size(f));
    }

    /** Through a daemon: the guest's ARP request and the daemon's reply, in that order. */
    @Test
    void daemonCapturesFramesBothWays() throws Exception {
        Path f = dir.resolve("daemon.pcap");
        Pcap pcap = Pcap.open(f.toString());
        byte[] request = arpRequest(GUEST_MAC, ip("192.0.2.2"), ip("192.0.2.1"));
        byte[] reply;
        try (InProcessPasst p = new InProcessPasst(c -> { }, pcap); GuestLink g = p.connect()) {
            g.send(request);
            reply = g.receive(2000);
            assertNotNull(reply);
        }
        pcap.close();
        Capture c = Capture.read(f);
        assertEquals(2, c.frames().size(), "one frame each way");
        assertArrayEquals(request, c.frames().get(0));
        assertArrayEquals(reply, c.frames().get(1));
        assertEquals(0x0806, (c.frames().get(1)[12] & 0xff) << 8 | (c.frames().get(1)[13] & 0xff));
        assertTrue(Arrays.equals(Arrays.copyOfRange(reply, 0, 6), Arrays.copyOfRange(request, 6, 12)),
                "the reply goes to the guest's MAC");
    }
}
