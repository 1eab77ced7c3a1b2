package jpasst;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.loop.EventLoop;
import jpasst.sys.Errno;
import jpasst.sys.Libc;

/**
 * SIGQUIT ends passt, and Kata Containers stops passt with it. A JVM never lets Java code handle
 * SIGQUIT: without -Xrs it prints a thread dump to standard output and carries on; with -Xrs only
 * a native handler may take it (and then SIGTERM can no longer be handled from Java at all).
 *
 * So the daemon keeps the JVM's behaviour and listens for its effect: standard output (unused by
 * the daemon once it has started) becomes a pipe whose other end sits in the event loop. When the
 * JVM writes a thread dump there, that was a SIGQUIT: the dump is discarded and the daemon exits
 * with code 0. Nothing of the dump reaches any terminal or log.
 */
final class QuitSignal {
    private QuitSignal() {}

    static final int REF_TYPE = 8;

    static void install(EventLoop loop, Runnable onQuit) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
            if (Libc.pipe2(fds, Libc.O_CLOEXEC | Libc.O_NONBLOCK) < 0) return;
            int readFd = fds.get(ValueLayout.JAVA_INT, 0), writeFd = fds.get(ValueLayout.JAVA_INT, 4);
            System.out.flush();
            Errno.check(Libc.dup2(writeFd, 1), "dup2");
            Libc.close(writeFd);
            MemorySegment drain = Arena.global().allocate(4096);
            loop.handler(REF_TYPE, (ref, ev) -> {
                while (Libc.read(readFd, drain, 4096) > 0) {
                    // discard the dump
                }
                onQuit.run();
            });
            Errno.check(loop.add(readFd, Libc.EPOLLIN, EventLoop.ref(REF_TYPE, readFd)), "epoll_ctl");
        }
    }
}
