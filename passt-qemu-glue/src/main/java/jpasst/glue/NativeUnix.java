package jpasst.glue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The few libc calls the socket fd form needs, through java.lang.foreign (no JNI library): connect
 * a UNIX stream socket, and start QEMU with that socket at a chosen descriptor number. The JDK can
 * do neither: its UNIX channels hide the descriptor, and ProcessBuilder closes every descriptor
 * above 2 in the child. posix_spawn with a dup2 file action places the socket, and
 * addclosefrom_np (glibc 2.34+) closes everything else the JVM holds open, as ProcessBuilder would.
 * Only this form touches native code; the rest of the module is plain Java.
 *
 * Variadic functions (fcntl here) are linked as the C ABI asks, with
 * {@link Linker.Option#firstVariadicArg} at the first argument the prototype leaves to
 * "{@code ...}": the one convention passt-core's {@code jpasst.sys.Native} follows too, written
 * twice because the glue does not depend on passt-core.
 */
@SuppressWarnings("restricted") // Native access is the point of this class; the jar manifest enables it.
final class NativeUnix {

    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int F_DUPFD_CLOEXEC = 1030;
    private static final int EINTR = 4;
    private static final int SUN_PATH_BYTES = 108;
    /** glibc's posix_spawn_file_actions_t is 80 bytes on 64-bit Linux; leave headroom. */
    private static final long FILE_ACTIONS_BYTES = 256;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private static final MethodHandle SOCKET = errnoCapturing("socket",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CONNECT = errnoCapturing("connect",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle CLOSE = plain("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FCNTL_INT = LINKER.downcallHandle(symbol("fcntl"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2), Linker.Option.captureCallState("errno"));
    private static final MethodHandle WAITPID = errnoCapturing("waitpid",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle STRERROR = plain("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle FILE_ACTIONS_INIT = plain("posix_spawn_file_actions_init",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FILE_ACTIONS_DESTROY = plain("posix_spawn_file_actions_destroy",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FILE_ACTIONS_ADDDUP2 = plain("posix_spawn_file_actions_adddup2",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle FILE_ACTIONS_ADDCLOSE = plain("posix_spawn_file_actions_addclose",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final Optional<MethodHandle> FILE_ACTIONS_ADDCLOSEFROM = LIBC
            .find("posix_spawn_file_actions_addclosefrom_np")
            .map(s -> LINKER.downcallHandle(s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)));
    private static final MethodHandle POSIX_SPAWNP = plain("posix_spawnp",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));

    private NativeUnix() {
    }

    private static MemorySegment symbol(String name) {
        return LIBC.find(name).orElseThrow(() -> new UnsupportedOperationException("libc has no " + name));
    }

    private static MethodHandle plain(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(symbol(name), descriptor);
    }

    private static MethodHandle errnoCapturing(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(symbol(name), descriptor, Linker.Option.captureCallState("errno"));
    }

    /** Opens a UNIX stream socket (close-on-exec) connected to {@code path}; returns its descriptor. */
    static int connectUnixStream(String path) throws IOException {
        byte[] pathBytes = path.getBytes(StandardCharsets.UTF_8);
        if (pathBytes.length >= SUN_PATH_BYTES) {
            throw new IOException("socket path too long for a UNIX address: " + path);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int fd = (int) SOCKET.invokeExact(state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw new IOException("socket(AF_UNIX): " + errorText((int) ERRNO.get(state, 0L)));
            }
            MemorySegment address = arena.allocate(2 + SUN_PATH_BYTES);
            address.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
            MemorySegment.copy(pathBytes, 0, address, ValueLayout.JAVA_BYTE, 2, pathBytes.length);
            int result;
            do {
                result = (int) CONNECT.invokeExact(state, fd, address, 2 + pathBytes.length + 1);
            } while (result < 0 && (int) ERRNO.get(state, 0L) == EINTR);
            if (result < 0) {
                int errno = (int) ERRNO.get(state, 0L);
                close(fd);
                throw new IOException("connect(" + path + "): " + errorText(errno));
            }
            return fd;
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static void close(int fd) {
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** A close-on-exec duplicate of {@code fd} numbered at least {@code lowest}. */
    static int duplicateAtOrAbove(int fd, int lowest) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int copy = (int) FCNTL_INT.invokeExact(state, fd, F_DUPFD_CLOEXEC, lowest);
            if (copy < 0) {
                throw new IOException("fcntl(F_DUPFD_CLOEXEC): " + errorText((int) ERRNO.get(state, 0L)));
            }
            return copy;
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Starts {@code argv} (the program looked up on PATH) with descriptor {@code fd} placed at
     * {@code targetFd}, stdin/stdout/stderr inherited, every other descriptor closed, and
     * {@code environment} as its environment. Returns the child's pid.
     */
    static long spawnWithDescriptor(List<String> argv, int fd, int targetFd, Map<String, String> environment)
            throws IOException {
        MethodHandle addCloseFrom = FILE_ACTIONS_ADDCLOSEFROM.orElseThrow(() -> new UnsupportedOperationException(
                "this libc lacks posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or later needed)"));
        if (fd == targetFd) {
            // dup2 onto itself would keep close-on-exec set: move it out of the way first.
            throw new IllegalArgumentException("descriptor already at " + targetFd + "; duplicate it elsewhere first");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment actions = arena.allocate(FILE_ACTIONS_BYTES, 16);
            check("posix_spawn_file_actions_init", (int) FILE_ACTIONS_INIT.invokeExact(actions));
            try {
                check("posix_spawn_file_actions_adddup2",
                        (int) FILE_ACTIONS_ADDDUP2.invokeExact(actions, fd, targetFd));
                for (int below = 3; below < targetFd; below++) {
                    // glibc ignores EBADF for these, so descriptors that are not open are fine.
                    check("posix_spawn_file_actions_addclose", (int) FILE_ACTIONS_ADDCLOSE.invokeExact(actions, below));
                }
                check("posix_spawn_file_actions_addclosefrom_np",
                        (int) addCloseFrom.invokeExact(actions, targetFd + 1));
                MemorySegment pid = arena.allocate(JAVA_INT);
                MemorySegment program = arena.allocateFrom(argv.get(0));
                MemorySegment argvArray = stringArray(arena, argv);
                MemorySegment envArray = stringArray(arena, environment.entrySet().stream()
                        .map(e -> e.getKey() + "=" + e.getValue()).toList());
                int error = (int) POSIX_SPAWNP.invokeExact(pid, program, actions, MemorySegment.NULL, argvArray, envArray);
                if (error != 0) {
                    throw new IOException("cannot start " + argv.get(0) + ": " + errorText(error));
                }
                return pid.get(JAVA_INT, 0);
            } finally {
                int ignored = (int) FILE_ACTIONS_DESTROY.invokeExact(actions);
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Waits for child {@code pid} to end and returns its exit status, or 128 + the signal number if
     * a signal killed it (as shells report it).
     */
    static int waitForChild(long pid) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment status = arena.allocate(JAVA_INT);
            int result;
            do {
                result = (int) WAITPID.invokeExact(state, (int) pid, status, 0);
            } while (result < 0 && (int) ERRNO.get(state, 0L) == EINTR);
            if (result < 0) {
                throw new IOException("waitpid(" + pid + "): " + errorText((int) ERRNO.get(state, 0L)));
            }
            int raw = status.get(JAVA_INT, 0);
            int signal = raw & 0x7f;
            return signal == 0 ? (raw >> 8) & 0xff : 128 + signal;
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static MemorySegment stringArray(Arena arena, List<String> strings) {
        MemorySegment array = arena.allocate(ADDRESS, strings.size() + 1L);
        for (int i = 0; i < strings.size(); i++) {
            array.setAtIndex(ADDRESS, i, arena.allocateFrom(strings.get(i)));
        }
        array.setAtIndex(ADDRESS, strings.size(), MemorySegment.NULL);
        return array;
    }

    private static void check(String call, int error) throws IOException {
        if (error != 0) {
            throw new IOException(call + ": " + errorText(error));
        }
    }

    static String errorText(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.reinterpret(Long.MAX_VALUE).getString(0) + " (errno " + errno + ")";
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }
}
