package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.conf.Conf;
import jpasst.link.FrameWriter;
import jpasst.link.FramesFromGuest;
import jpasst.link.Guest;
import jpasst.link.Receiver;
import jpasst.loop.EventLoop;
import jpasst.sys.Descriptors;
import jpasst.sys.Sockets;
import jpasst.tap.StreamLink;

/**
 * A stream link with a guest "connected" (one end of a socketpair, adopted as passt's --fd), so
 * that frames can be reserved and committed in its output buffer as on the daemon's frame path;
 * benchmarks then {@link StreamLink#discardQueued() discard} them instead of writing them out.
 * The guest's MAC is known, as after its first frame.
 */
final class BenchTap implements AutoCloseable {
    /** A receiver for benchmarks that send no frames from the guest side. */
    static final Receiver NO_RECEIVER = new Receiver() {
        @Override
        public void receive(FramesFromGuest frames) {
            while (frames.next()) { }
        }

        @Override
        public void guestGone() {
        }

        @Override
        public void roomAgain() {
        }
    };

    final Conf conf;
    final EventLoop loop = new EventLoop();
    final Guest guest = new Guest();
    final StreamLink link;
    final FrameWriter frames;
    final int peerFd;

    BenchTap(Conf.Builder options) {
        MemorySegment fds = Arena.ofAuto().allocate(ValueLayout.JAVA_INT, 2);
        if (Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM, 0, fds) < 0) {
            throw new IllegalStateException("socketpair failed");
        }
        options.fd = fds.get(ValueLayout.JAVA_INT, 0);
        conf = options.build();
        peerFd = fds.get(ValueLayout.JAVA_INT, 4);
        guest.mac = BenchFrames.GUEST_MAC;
        link = new StreamLink(conf, loop, null, -1, null);
        frames = new FrameWriter(conf, guest, link);
    }

    /** Starts the link: frames from the guest side would go to {@code receiver}. */
    BenchTap start(Receiver receiver) {
        link.start(receiver);
        return this;
    }

    @Override
    public void close() {
        link.close();
        Descriptors.close(peerFd);
        loop.close();
    }
}
