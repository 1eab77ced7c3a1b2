package jpasst;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import jpasst.loop.EventLoop;
import jpasst.sys.Descriptors;

/**
 * The SIGQUIT pipe as a spawned daemon has it: the read end inherited, standard output (here: the
 * test's write end) already the pipe. A thread dump in it, whenever it was written, is a SIGQUIT.
 */
class QuitSignalTest {
    private final EventLoop loop = new EventLoop();
    private final AtomicInteger quits = new AtomicInteger();
    private int readFd, writeFd;

    @BeforeEach
    void pipe() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
            assertEquals(0, Descriptors.pipe2(fds, Descriptors.O_CLOEXEC | Descriptors.O_NONBLOCK));
            readFd = fds.get(ValueLayout.JAVA_INT, 0);
            writeFd = fds.get(ValueLayout.JAVA_INT, 4);
        }
    }

    @AfterEach
    void close() {
        loop.close();
        Descriptors.close(readFd);
        Descriptors.close(writeFd);
    }

    @Test
    void aDumpWrittenBeforeTheDaemonListensIsFoundOnceItDoes() {
        write("2026-11-27 08:16:47\nFull thread dump OpenJDK 64-Bit Server VM (25.0.3+9-LTS mixed mode):\n\n");
        QuitSignal.install(loop, readFd, quits::incrementAndGet);
        turn();
        assertEquals(1, quits.get());
    }

    @Test
    void aDumpCutAcrossTwoReadsStillCounts() {
        QuitSignal.install(loop, readFd, quits::incrementAndGet);
        write("\nFull thre");
        turn();
        assertEquals(0, quits.get());
        write("ad dump OpenJDK 64-Bit Server VM\n");
        turn();
        assertEquals(1, quits.get());
    }

    @Test
    void otherOutputOfTheJvmIsDiscardedAndTheDaemonGoesOn() {
        QuitSignal.install(loop, readFd, quits::incrementAndGet);
        write("[0.012s][info][gc] Using Serial\nFull thread\n");
        turn();
        assertEquals(0, quits.get());
    }

    private void write(String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(b.length);
            m.copyFrom(MemorySegment.ofArray(b));
            assertEquals(b.length, Descriptors.write(writeFd, m, b.length));
        }
    }

    private void turn() {
        loop.wakeAt(System.nanoTime());
        loop.runOnce();
    }
}
