package jpasst;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.loop.EventLoop;
import jpasst.loop.Refs;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.util.Log;

/**
 * SIGTERM, SIGINT and SIGHUP end the daemon with exit code 0, by way of the event loop: the
 * JVM runs a signal's Java handler on a thread of its own, which must not touch anything the
 * loop owns (the link's output, the capture). So the handler only writes the signal's number
 * into a pipe; the loop reads it as an event of its own, says so ("Received SIGTERM, exiting")
 * and stops; then, on the loop's thread, the daemon flushes what is queued and exits.
 * (SIGQUIT cannot be taken from Java at all: see {@link QuitSignal}.) Under -Xrs the JVM
 * refuses these handlers, and the signals' default action ends the process all the same.
 */
final class StopSignals {
    private StopSignals() {}

    private static final String[] NAMES = {"HUP", "INT", "TERM"};

    /** Installs the handlers; the loop stops when one of the signals comes. */
    static void install(EventLoop loop) {
        int readFd, writeFd;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
            Errno.check(Descriptors.pipe2(fds, Descriptors.O_CLOEXEC | Descriptors.O_NONBLOCK), "pipe2");
            readFd = fds.get(ValueLayout.JAVA_INT, 0);
            writeFd = fds.get(ValueLayout.JAVA_INT, 4);
        }
        MemorySegment in = Arena.global().allocate(16);
        loop.handler(Refs.SIGNAL, (ref, ev) -> {
            long n = Descriptors.read(readFd, in, in.byteSize());
            if (n <= 0) return;
            Log.info("Received SIG" + name(in.get(ValueLayout.JAVA_BYTE, 0)) + ", exiting");
            loop.stop();
        });
        Errno.check(loop.add(readFd, Epoll.EPOLLIN, EventLoop.ref(Refs.SIGNAL, readFd)), "epoll_ctl");
        MemorySegment out = Arena.global().allocate(1); // (the handler thread's own)
        for (String name : NAMES) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> {
                    synchronized (out) {
                        out.set(ValueLayout.JAVA_BYTE, 0, (byte) sig.getNumber());
                        Descriptors.write(writeFd, out, 1);
                    }
                });
            } catch (IllegalArgumentException e) {
                Log.debug("SIG" + name + " is the JVM's: " + e.getMessage());
            }
        }
    }

    private static String name(int number) {
        return switch (number) {
            case 1 -> "HUP";
            case 2 -> "INT";
            case 15 -> "TERM";
            default -> String.valueOf(number);
        };
    }
}
