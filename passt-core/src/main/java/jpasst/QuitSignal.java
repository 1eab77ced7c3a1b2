package jpasst;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Processes;

/**
 * SIGQUIT ends passt, and Kata Containers stops passt with it. A JVM never lets Java code handle
 * SIGQUIT: without -Xrs it prints a thread dump to standard output and carries on; with -Xrs only
 * a native handler may take it (and then SIGTERM can no longer be handled from Java at all).
 *
 * So the daemon keeps the JVM's behaviour and listens for its effect: standard output (unused by
 * the daemon) is a pipe whose other end sits in the event loop. When the JVM writes a thread dump
 * there, that was a SIGQUIT: the dump is discarded and the daemon exits with code 0. Nothing of
 * the dump reaches any terminal or log. Only a dump counts ("Full thread dump" in what arrives):
 * other output of the JVM's, such as -Xlog lines, is discarded too, and the daemon goes on.
 *
 * In the foreground the pipe is made here. A spawned daemon gets it from its launcher, standard
 * output already being the pipe when its JVM starts ({@link Daemon}): Kata may send SIGQUIT as
 * soon as the launcher has exited, and a dump the JVM writes before this class is installed
 * waits in the pipe. Such a daemon starts with SIGQUIT blocked (so that one sent before the
 * JVM's handler exists waits for it); HotSpot unblocks it in its VM thread, and this unblocks it
 * in the loop's thread too, for a JVM that would not (-Xrs): there the default action ends the
 * daemon, as it always did.
 */
final class QuitSignal {
    private QuitSignal() {}

    private static final byte[] DUMP = "Full thread dump".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    /**
     * Reads the dump pipe in {@code loop}: {@code inheritedFd}, its read end inherited from the
     * launcher, or -1 to make the pipe here and put it on standard output.
     */
    static void install(EventLoop loop, int inheritedFd, Runnable onQuit) {
        int readFd;
        if (inheritedFd >= 0) {
            readFd = inheritedFd;
            Descriptors.fcntl(readFd, Descriptors.F_SETFL, Descriptors.O_NONBLOCK);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment quit = a.allocate(Processes.SIGSET_SIZE, 8);
                Processes.sigaddset(quit, Daemon.SIGQUIT);
                Processes.pthreadSigmask(Processes.SIG_UNBLOCK, quit, MemorySegment.NULL);
            }
        } else {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
                if (Descriptors.pipe2(fds, Descriptors.O_CLOEXEC | Descriptors.O_NONBLOCK) < 0) return;
                readFd = fds.get(ValueLayout.JAVA_INT, 0);
                int writeFd = fds.get(ValueLayout.JAVA_INT, 4);
                System.out.flush();
                Errno.check(Descriptors.dup2(writeFd, 1), "dup2");
                Descriptors.close(writeFd);
            }
        }
        MemorySegment drain = Arena.global().allocate(4096);
        int[] matched = {0};
        loop.handler(Refs.QUIT, (ref, ev) -> {
            boolean dump = false;
            long n;
            while ((n = Descriptors.read(readFd, drain, 4096)) > 0) {
                for (int i = 0; i < n && !dump; i++) {
                    byte b = drain.get(ValueLayout.JAVA_BYTE, i);
                    matched[0] = b == DUMP[matched[0]] ? matched[0] + 1 : b == DUMP[0] ? 1 : 0;
                    dump = matched[0] == DUMP.length;
                }
            }
            if (dump) onQuit.run();
        });
        Errno.check(loop.add(readFd, Epoll.EPOLLIN, EventLoop.ref(Refs.QUIT, readFd)), "epoll_ctl");
    }
}
