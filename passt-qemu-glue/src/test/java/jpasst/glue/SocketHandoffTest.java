package jpasst.glue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The qrap replacement: a child gets the connected socket at the chosen descriptor, and nothing else. */
class SocketHandoffTest {

    @TempDir
    Path tempDir;

    @Test
    void childWritesThroughTheHandedOverDescriptorToTheListener() throws Exception {
        Path socket = tempDir.resolve("listener.sock");
        try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(socket));
            SocketHandoff.HandedOffProcess child = SocketHandoff.start(
                    List.of("/bin/sh", "-c", "printf 'hello from fd 5' >&5"), socket, 5);
            try (SocketChannel accepted = listener.accept()) {
                assertEquals(0, child.waitFor());
                ByteBuffer buffer = ByteBuffer.allocate(64);
                while (accepted.read(buffer) > 0) {
                    // Reads until the child's end is closed.
                }
                assertEquals("hello from fd 5", new String(buffer.array(), 0, buffer.position(), StandardCharsets.US_ASCII));
            }
        }
    }

    @Test
    void childHoldsOnlyStdioAndTheSocket() throws Exception {
        Path socket = tempDir.resolve("listener.sock");
        Map<String, String> descriptors = new TreeMap<>();
        try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(socket));
            SocketHandoff.HandedOffProcess child = SocketHandoff.start(List.of("sleep", "10"), socket, 5);
            // posix_spawn returns once sleep is exec'd, but sleep opens files of its own while it
            // starts (the locale): its table is what it inherited once it sleeps in the kernel
            Path wchan = Path.of("/proc", Long.toString(child.pid()), "wchan");
            for (long deadline = System.nanoTime() + 10_000_000_000L;
                 !Files.readString(wchan).contains("nanosleep") && System.nanoTime() < deadline; ) {
                Thread.onSpinWait();
            }
            try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(child.pid()), "fd"))) {
                for (Path fd : fds.toList()) {
                    descriptors.put(fd.getFileName().toString(), Files.readSymbolicLink(fd).toString());
                }
            } finally {
                child.terminate();
                child.waitFor();
            }
        }
        assertEquals(Set.of("0", "1", "2", "5"), descriptors.keySet(), descriptors.toString());
        assertTrue(descriptors.get("5").startsWith("socket:"), descriptors.toString());
    }

    @Test
    void reportsExitStatusAndDeathBySignalLikeAShell() throws Exception {
        Path socket = tempDir.resolve("listener.sock");
        try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(socket));
            assertEquals(7, SocketHandoff.start(List.of("/bin/sh", "-c", "exit 7"), socket, 5).waitFor());
            assertEquals(128 + 9, SocketHandoff.start(List.of("/bin/sh", "-c", "kill -KILL $$"), socket, 5).waitFor());
        }
    }

    @Test
    void connectingToAMissingSocketSaysWhy() {
        IOException e = assertThrows(IOException.class,
                () -> SocketHandoff.start(List.of("/bin/true"), tempDir.resolve("absent.sock"), 5));
        assertTrue(e.getMessage().contains("No such file or directory"), e.getMessage());
    }

    @Test
    void missingProgramIsReportedByName() throws Exception {
        Path socket = tempDir.resolve("listener.sock");
        try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(socket));
            IOException e = assertThrows(IOException.class,
                    () -> SocketHandoff.start(List.of("no-such-qemu-binary"), socket, 5));
            assertTrue(e.getMessage().contains("no-such-qemu-binary"), e.getMessage());
        }
    }
}
