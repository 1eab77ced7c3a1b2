package jpasst.glue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What passt's qrap did for QEMU older than 7.2, which cannot connect to a UNIX socket itself:
 * connect to the daemon's socket, then start QEMU with the connected socket at the descriptor
 * number its {@code -netdev socket,fd=N} names. Our copy of the socket is closed once QEMU has its
 * own, so the daemon sees the connection end exactly when QEMU ends.
 */
public final class SocketHandoff {

    private SocketHandoff() {
    }

    /** A QEMU (or any program) started with the daemon connection at a fixed descriptor. */
    public static final class HandedOffProcess {
        private final long pid;
        private Integer exitStatus;

        private HandedOffProcess(long pid) {
            this.pid = pid;
        }

        public long pid() {
            return pid;
        }

        /** Waits for the process and returns its exit status (128 + signal if a signal ended it). */
        public synchronized int waitFor() throws IOException {
            if (exitStatus == null) {
                exitStatus = NativeUnix.waitForChild(pid);
            }
            return exitStatus;
        }

        /** Asks the process to end with SIGTERM. */
        public void terminate() {
            LinuxProcess.sendTerm(pid);
        }
    }

    /**
     * Connects to {@code socket} and starts {@code command} (its first word looked up on PATH) with
     * the connection at descriptor {@code targetFd}, the environment of this JVM, and this JVM's
     * stdin, stdout and stderr.
     */
    public static HandedOffProcess start(List<String> command, Path socket, int targetFd) throws IOException {
        if (targetFd < 3) {
            throw new IllegalArgumentException("fd " + targetFd + " is stdin/stdout/stderr; use 3 or more");
        }
        int connection = NativeUnix.connectUnixStream(socket.toString());
        try {
            if (connection == targetFd) {
                int moved = NativeUnix.duplicateAtOrAbove(connection, targetFd + 1);
                NativeUnix.close(connection);
                connection = moved;
            }
            long pid = NativeUnix.spawnWithDescriptor(command, connection, targetFd, Map.copyOf(System.getenv()));
            return new HandedOffProcess(pid);
        } finally {
            NativeUnix.close(connection);
        }
    }
}
