package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.conf.Conf;
import jpasst.loop.EventLoop;
import jpasst.sys.Libc;
import jpasst.tap.Tap;
import jpasst.tap.TapFrames;

/**
 * A tap with a guest "connected" (one end of a socketpair, adopted as passt's --fd), so that
 * frames can be reserved and committed in its output buffer as on the daemon's frame path;
 * benchmarks then {@link Tap#discardQueued() discard} them instead of writing them out.
 */
final class BenchTap implements AutoCloseable {
    final EventLoop loop = new EventLoop();
    final Tap tap;
    final TapFrames frames;
    final int peerFd;

    BenchTap(Conf conf, Tap.Handler handler) {
        MemorySegment fds = Arena.ofAuto().allocate(ValueLayout.JAVA_INT, 2);
        if (Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_STREAM, 0, fds) < 0) {
            throw new IllegalStateException("socketpair failed");
        }
        conf.fd = fds.get(ValueLayout.JAVA_INT, 0);
        peerFd = fds.get(ValueLayout.JAVA_INT, 4);
        tap = new Tap(conf, loop, handler);
        tap.start();
        frames = new TapFrames(conf, tap);
    }

    @Override
    public void close() {
        tap.close();
        Libc.close(peerFd);
        loop.close();
    }
}
