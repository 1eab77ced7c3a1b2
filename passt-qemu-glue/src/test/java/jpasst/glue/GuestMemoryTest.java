package jpasst.glue;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class GuestMemoryTest {

    @Test
    void bareMachineMemoryIsMebibytes() {
        assertEquals(1024L << 20, GuestMemory.parseMachineMemoryOption("1024"));
    }

    @Test
    void suffixesAreBinary() {
        assertEquals(512L << 20, GuestMemory.parseMachineMemoryOption("512M"));
        assertEquals(4L << 30, GuestMemory.parseMachineMemoryOption("4G"));
        assertEquals(2L << 30, GuestMemory.parseMachineMemoryOption("2g"));
    }

    @Test
    void readsSizeFromTheLongForm() {
        assertEquals(2L << 30, GuestMemory.parseMachineMemoryOption("size=2G,slots=4,maxmem=8G"));
    }

    @Test
    void takesTheLastMemoryOptionOrQemusDefault() {
        assertEquals(GuestMemory.QEMU_DEFAULT_RAM_BYTES, GuestMemory.ramBytesOf(List.of("-M", "q35")));
        assertEquals(1L << 30, GuestMemory.ramBytesOf(List.of("-m", "512", "-smp", "2", "-m", "1G")));
    }

    @Test
    void formatsWithTheLargestExactSuffix() {
        assertEquals("4G", GuestMemory.format(4L << 30));
        assertEquals("1536M", GuestMemory.format(1536L << 20));
        assertEquals("1000", GuestMemory.format(1000));
    }

    @Test
    void rejectsNonSizes() {
        assertThrows(IllegalArgumentException.class, () -> GuestMemory.parseMachineMemoryOption("lots"));
    }
}
