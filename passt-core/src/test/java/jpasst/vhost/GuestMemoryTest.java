package jpasst.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import jpasst.guest.vhost.GuestRam;
import jpasst.sys.Descriptors;

/**
 * The memory table: regions of a memfd mapped as the front-end describes them, the two
 * translations, and every table that cannot be trusted refused before anything is mapped, its
 * descriptors closed.
 */
class GuestMemoryTest {
    static final long MIB = 1 << 20;
    private final GuestRam ram = new GuestRam(8 * MIB, 2, MIB);

    @AfterEach
    void close() {
        ram.close();
    }

    /** A SET_MEM_TABLE message: header and payload. */
    static MemorySegment table(long[][] regions) {
        MemorySegment m = MemorySegment.ofArray(new byte[12 + 8 + 32 * regions.length]);
        m.set(VhostUserMsg.U32, 12, regions.length);
        for (int i = 0; i < regions.length; i++) {
            for (int k = 0; k < 4; k++) m.set(VhostUserMsg.U64, 12 + 8 + 32L * i + 8L * k, regions[i][k]);
        }
        return m;
    }

    /** {gpa, size, qva, mmap offset} of each region of {@code r} as the front-end announces them. */
    static long[][] regionsOf(GuestRam r) {
        long[][] t = new long[r.regions()][];
        for (int i = 0; i < r.regions(); i++) {
            long off = i * r.regionSize();
            t[i] = new long[] {r.regionGpa(i), r.regionSize(), r.qva(off), off};
        }
        return t;
    }

    static int[] dups(GuestRam r, int n) {
        int[] fds = new int[n];
        for (int i = 0; i < n; i++) fds[i] = Descriptors.fcntl(r.descriptor(), Descriptors.F_DUPFD_CLOEXEC, 0);
        return fds;
    }

    static GuestMemory map(GuestRam r, long[][] regions, int nfds) {
        MemorySegment m = table(regions);
        return GuestMemory.map(m, m.byteSize() - 12, dups(r, nfds), nfds);
    }

    static void assertClosed(int[] fds) {
        for (int fd : fds) assertTrue(Descriptors.fcntl(fd, Descriptors.F_GETFD, 0) < 0, "descriptor " + fd + " left open");
    }

    @Test
    void guestPhysicalAndFrontEndAddressesLeadToTheSameBytes() {
        GuestMemory m = map(ram, regionsOf(ram), 2);
        assertEquals(2, m.regions());
        long off = 5 * MIB + 123; // in region 1, which starts at gpa 5 MiB (4 MiB + a 1 MiB gap)
        long gpa = ram.gpa(off);
        assertEquals(6 * MIB + 123, gpa);
        int r = m.findGpa(gpa);
        assertEquals(1, r);
        ram.memory().set(ValueLayout.JAVA_LONG_UNALIGNED, off, 0x1122334455667788L);
        assertEquals(0x1122334455667788L, m.segment(r).get(ValueLayout.JAVA_LONG_UNALIGNED, gpa - m.gpa(r)));
        int q = m.findQva(ram.qva(off), 8);
        assertEquals(1, q);
        m.segment(q).set(ValueLayout.JAVA_INT_UNALIGNED, ram.qva(off) - m.qva(q), 7);
        assertEquals(7, ram.memory().get(ValueLayout.JAVA_INT_UNALIGNED, off), "the mapping is not shared");
        assertEquals(-1, m.findGpa(4 * MIB + 10), "the gap between the regions");
        assertEquals(-1, m.findQva(ram.qva(4 * MIB - 4), 8), "a range across two regions");
        assertEquals(-1, m.findGpa(-1L));
        m.retire();
        assertFalse(m.mapped());
    }

    @Test
    void aRegionLongerThanItsFileIsRefusedBeforeItIsMapped() {
        long[][] t = regionsOf(ram);
        t[1][1] = 5 * MIB; // region 1 would end at 9 MiB of an 8 MiB file: touching it would be SIGBUS
        int[] fds = dups(ram, 2);
        MemorySegment m = table(t);
        VhostUserException e = assertThrows(VhostUserException.class, () -> GuestMemory.map(m, m.byteSize() - 12, fds, 2));
        assertTrue(e.getMessage().contains("file"), e.getMessage());
        assertClosed(fds);
    }

    @Test
    void overlappingOrWrappingRegionsAreRefused() {
        long[][] t = regionsOf(ram);
        t[1][0] = t[0][0] + MIB;
        assertThrows(VhostUserException.class, () -> map(ram, t, 2));
        long[][] u = regionsOf(ram);
        u[1][2] = u[0][2] + 16;
        assertThrows(VhostUserException.class, () -> map(ram, u, 2));
        long[][] w = regionsOf(ram);
        w[0][0] = -MIB; // runs past 2^64
        assertThrows(VhostUserException.class, () -> map(ram, w, 2));
        long[][] z = regionsOf(ram);
        z[0][1] = 0;
        assertThrows(VhostUserException.class, () -> map(ram, z, 2));
        long[][] o = regionsOf(ram);
        o[0][3] = -4096; // an offset "before" the file
        assertThrows(VhostUserException.class, () -> map(ram, o, 2));
    }

    @Test
    void countsPayloadSizesAndDescriptorsMustAgree() {
        long[][] t = regionsOf(ram);
        int[] fds = dups(ram, 1);
        MemorySegment m = table(t);
        assertThrows(VhostUserException.class, () -> GuestMemory.map(m, m.byteSize() - 12, fds, 1), "one descriptor for two regions");
        assertClosed(fds);
        int[] two = dups(ram, 2);
        assertThrows(VhostUserException.class, () -> GuestMemory.map(m, m.byteSize() - 12 - 8, two, 2), "payload too short");
        assertClosed(two);
        MemorySegment none = table(new long[0][]);
        assertThrows(VhostUserException.class, () -> GuestMemory.map(none, 8, new int[0], 0), "no region");
        MemorySegment nine = table(new long[9][4]);
        int[] nineFds = dups(ram, 8);
        assertThrows(VhostUserException.class, () -> GuestMemory.map(nine, nine.byteSize() - 12, nineFds, 8), "nine regions");
        assertClosed(nineFds);
    }

    @Test
    void aDescriptorThatIsNotAFileIsRefused() {
        int[] pipe = new int[2];
        MemorySegment fds = java.lang.foreign.Arena.global().allocate(8, 4);
        Descriptors.pipe2(fds, Descriptors.O_CLOEXEC);
        pipe[0] = fds.get(ValueLayout.JAVA_INT, 0);
        pipe[1] = fds.get(ValueLayout.JAVA_INT, 4);
        long[][] t = {regionsOf(ram)[0]};
        MemorySegment m = table(t);
        assertThrows(VhostUserException.class, () -> GuestMemory.map(m, m.byteSize() - 12, new int[] {pipe[0]}, 1));
        Descriptors.close(pipe[1]);
    }

    @Test
    void aPinnedTableIsUnmappedOnlyAtTheLastUnpin() {
        GuestMemory m = map(ram, regionsOf(ram), 2);
        m.pin();
        m.pin();
        m.retire();
        assertTrue(m.mapped(), "unmapped while a frame points into it");
        m.unpin();
        assertTrue(m.mapped());
        m.unpin();
        assertFalse(m.mapped());
        assertThrows(IllegalStateException.class, () -> m.segment(0).get(ValueLayout.JAVA_BYTE, 0),
                "an unmapped region must not be readable");
    }
}
