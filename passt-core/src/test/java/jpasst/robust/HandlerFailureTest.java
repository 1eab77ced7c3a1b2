package jpasst.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import jpasst.conf.Conf;
import jpasst.link.FramesFromGuest;
import jpasst.link.Receiver;
import jpasst.loop.EventLoop;
import jpasst.sys.Descriptors;
import jpasst.sys.Sockets;
import jpasst.tap.StreamLink;
import jpasst.guest.Frames;

/**
 * A bug in a frame handler must cost the frame that triggered it and nothing more: the event loop
 * counts the failure and goes on (loop.failures()), and the guest's stream goes on with the next
 * frame, which must not be the same one delivered again and again.
 */
class HandlerFailureTest {
    @Test
    void aFrameThatMakesTheHandlerThrowIsDroppedAndTheNextFramesStillArrive() throws Exception {
        List<Integer> seen = new ArrayList<>();
        int[] pair = new int[2];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
            Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0, fds);
            pair[0] = fds.get(ValueLayout.JAVA_INT, 0);
            pair[1] = fds.get(ValueLayout.JAVA_INT, 4);
        }
        Conf.Builder c = new Conf.Builder();
        c.fd = pair[0];
        EventLoop loop = new EventLoop();
        StreamLink tap = new StreamLink(c.build(), loop, null, -1, null);
        try {
            tap.start(new Receiver() {
                @Override
                public void receive(FramesFromGuest frames) {
                    while (frames.next()) {
                        int tag = frames.segment().get(ValueLayout.JAVA_BYTE, frames.offset() + 14) & 0xff;
                        seen.add(tag);
                        if (tag == 0xbb) throw new IllegalStateException("a bug, triggered by frame 0xbb");
                    }
                }

                @Override
                public void guestGone() {
                }

                @Override
                public void roomAgain() {
                }
            });
            ByteBuffer b = ByteBuffer.allocate(3 * (4 + 60));
            for (int tag : new int[] {0xaa, 0xbb, 0xcc}) {
                byte[] f = Frames.eth(Frames.OUR_MAC, Frames.GUEST_MAC, 0x88b5, new byte[46]);
                f[14] = (byte) tag;
                b.putInt(f.length).put(f);
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment s = a.allocate(b.capacity());
                s.copyFrom(MemorySegment.ofArray(b.array()));
                Descriptors.write(pair[1], s, b.capacity());
            }
            for (int i = 0; i < 5; i++) {
                loop.wakeAt(System.nanoTime());
                loop.runOnce();
            }
            // one more frame later: the stream is still in step
            try (Arena a = Arena.ofConfined()) {
                byte[] f = Frames.eth(Frames.OUR_MAC, Frames.GUEST_MAC, 0x88b5, new byte[46]);
                f[14] = (byte) 0xdd;
                MemorySegment s = a.allocate(4 + f.length);
                s.copyFrom(MemorySegment.ofArray(ByteBuffer.allocate(4 + f.length).putInt(f.length).put(f).array()));
                Descriptors.write(pair[1], s, 4 + f.length);
            }
            for (int i = 0; i < 5; i++) {
                loop.wakeAt(System.nanoTime());
                loop.runOnce();
            }
            assertEquals(List.of(0xaa, 0xbb, 0xcc, 0xdd), seen, "frames handed to the handler");
            assertEquals(1, loop.failures(), "failures counted");
        } finally {
            tap.close();
            loop.close();
            Descriptors.close(pair[1]);
        }
    }
}
