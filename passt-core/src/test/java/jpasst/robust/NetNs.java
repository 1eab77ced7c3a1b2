package jpasst.robust;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import jpasst.sys.Descriptors;
import jpasst.sys.Sockets;

/**
 * A private network namespace for the calling thread only, so that a fuzzer can let the daemon
 * open sockets towards whatever addresses and ports the mutations produce without a single packet
 * leaving the machine or reaching a real local service: the namespace has nothing but a loopback
 * interface (brought up here, so the gateway's loopback mapping still works) and ping sockets
 * allowed for everyone.
 *
 * unshare(CLONE_NEWNET) changes the namespace of the calling thread alone (Linux keeps it per
 * task); threads started from it afterwards inherit it, other threads of the JVM keep theirs.
 * {@link #close()} puts the calling thread back. Needs CAP_SYS_ADMIN: {@link #isolate()} returns
 * null when that is not available, and callers then keep their traffic contained by other means.
 */
final class NetNs implements AutoCloseable {
    private static final int CLONE_NEWNET = 0x40000000;
    private static final long SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914;
    private static final short IFF_UP = 0x1;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle UNSHARE = LINKER.downcallHandle(
            LINKER.defaultLookup().find("unshare").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle SETNS = LINKER.downcallHandle(
            LINKER.defaultLookup().find("setns").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private final Thread owner = Thread.currentThread();
    private final int original;

    private NetNs(int original) {
        this.original = original;
    }

    /**
     * Moves the calling thread into a new network namespace; null if that is not permitted (or
     * {@code -Djpasst.fuzz.noNetns=true} asks to try the contained mode).
     */
    static NetNs isolate() {
        if (Boolean.getBoolean("jpasst.fuzz.noNetns")) return null;
        int orig;
        try (Arena a = Arena.ofConfined()) {
            orig = Descriptors.open(a.allocateFrom("/proc/thread-self/ns/net"), Descriptors.O_RDONLY | Descriptors.O_CLOEXEC, 0);
        }
        if (orig < 0) return null;
        int r;
        try {
            r = (int) UNSHARE.invokeExact(CLONE_NEWNET);
        } catch (Throwable t) {
            r = -1;
        }
        if (r != 0) {
            Descriptors.close(orig);
            return null;
        }
        NetNs ns = new NetNs(orig);
        ns.loopbackUp();
        try {
            // a per-namespace sysctl: /proc/sys/net resolves to the opening thread's namespace
            Files.writeString(Path.of("/proc/sys/net/ipv4/ping_group_range"),
                    "0 2147483647", StandardCharsets.US_ASCII);
        } catch (IOException | RuntimeException e) {
            // ping sockets stay refused: the ICMP path is then exercised up to the refusal
        }
        return ns;
    }

    private void loopbackUp() {
        int fd = Sockets.socket(Sockets.AF_INET, Sockets.SOCK_DGRAM | Sockets.SOCK_CLOEXEC, 0);
        if (fd < 0) throw new IllegalStateException("socket in the new namespace: " + fd);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(40, 8);
            ifr.copyFrom(MemorySegment.ofArray("lo\0".getBytes(StandardCharsets.US_ASCII)));
            if (Descriptors.ioctl(fd, SIOCGIFFLAGS, ifr) < 0) throw new IllegalStateException("SIOCGIFFLAGS lo");
            short flags = ifr.get(ValueLayout.JAVA_SHORT, 16);
            ifr.set(ValueLayout.JAVA_SHORT, 16, (short) (flags | IFF_UP));
            if (Descriptors.ioctl(fd, SIOCSIFFLAGS, ifr) < 0) throw new IllegalStateException("SIOCSIFFLAGS lo");
        } finally {
            Descriptors.close(fd);
        }
    }

    /** Back to the namespace the thread had before {@link #isolate()}. */
    @Override
    public void close() {
        if (Thread.currentThread() != owner) throw new IllegalStateException("not the isolated thread");
        int r;
        try {
            r = (int) SETNS.invokeExact(original, CLONE_NEWNET);
        } catch (Throwable t) {
            r = -1;
        }
        Descriptors.close(original);
        if (r != 0) throw new IllegalStateException("setns back to the original network namespace failed");
    }
}
