package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.link.FrameBatch;
import jpasst.link.FramesFromGuest;
import jpasst.loop.EventLoop;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;

/**
 * A vhost-user device on a real event loop, in its own thread, listening on a real UNIX socket in
 * a fresh directory, for tests that drive it with the front-end of synthetic-guest.
 *
 * What the tests ask of the device runs on the loop's thread ({@link #onLoop}), as everything
 * touching it must. By default the device echoes: every frame the guest transmits is recorded
 * ({@link #received}) and, in echo mode, copied back into the guest's receive queue.
 */
public final class VhostRig implements AutoCloseable {
    /** An owner type no daemon code uses: the eventfd that runs the tests' tasks on the loop. */
    private static final int TASKS = EventLoop.MAX_TYPES - 2;

    public final EventLoop loop = new EventLoop();
    public final VhostUserDevice device;
    public final Path dir, socket;
    final List<byte[]> received = new CopyOnWriteArrayList<>();
    final FramesFromGuest batch = new FramesFromGuest();
    volatile boolean echo = true;
    /** Echo through reserveRx/commitRx (headers and payload written as a socket read would) instead of sendRx. */
    volatile boolean echoInPlace;
    /** The byte budget of each pass over the transmit queue (VhostUserLink's is PASS_BYTES). */
    volatile long passBytes = Long.MAX_VALUE;
    /** How many frames each pass took. */
    final List<Integer> passes = new CopyOnWriteArrayList<>();
    /** Keep a copy of every frame the guest sent (off for allocation measurements). */
    public volatile boolean record = true;
    final FrameBatch rxBatch = new FrameBatch(1, 256);
    volatile int gone, rxRoom;
    private final Thread thread;
    final Thread loopThread;
    private final int taskFd;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final MemorySegment one = Arena.global().allocate(8, 8);

    public VhostRig() throws Exception {
        dir = Files.createTempDirectory("jpasst-vhost");
        socket = dir.resolve("vhost.socket");
        device = new VhostUserDevice(loop);
        int fd = Errno.check(Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_NONBLOCK | Sockets.SOCK_CLOEXEC, 0), "socket");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = a.allocate(SockAddr.STORAGE, 8);
            int len = SockAddr.unix(sa, socket.toString());
            Errno.check(Sockets.bind(fd, sa, len), "bind");
        }
        Errno.check(Sockets.listen(fd, 16), "listen");
        device.listen(fd, socket.toString());
        device.onTx(this::takeFrames);
        device.onGone(() -> gone++);
        device.onRxRoom(() -> rxRoom++);
        loop.onFault(device::faulted); // as VhostUserLink registers it
        taskFd = Errno.check(Descriptors.eventfd(0, Descriptors.EFD_NONBLOCK | Descriptors.EFD_CLOEXEC), "eventfd");
        MemorySegment drain = Arena.global().allocate(8, 8);
        loop.handler(TASKS, (ref, ev) -> {
            Descriptors.read(taskFd, drain, 8);
            for (Runnable r; (r = tasks.poll()) != null; ) r.run();
        });
        Errno.check(loop.add(taskFd, Epoll.EPOLLIN, EventLoop.ref(TASKS, 0)), "epoll_ctl");
        one.set(ValueLayout.JAVA_LONG, 0, 1L);
        thread = new Thread(loop::run, "vhost-loop");
        loopThread = thread;
        thread.setDaemon(true);
        thread.start();
    }

    private void takeFrames() {
        for (int n; (n = device.popTx(batch, FramesFromGuest.MAX, passBytes)) > 0; ) {
            if (record) passes.add(n);
            while (batch.next()) {
                MemorySegment s = batch.segment();
                if (record) received.add(s.asSlice(batch.offset(), batch.length()).toArray(ValueLayout.JAVA_BYTE));
                if (echoInPlace) {
                    echoInPlace(s, batch.offset(), batch.length());
                } else if (echo) {
                    device.sendRx(s, batch.offset(), batch.length());
                }
            }
            device.releaseTx();
        }
    }

    /** The frame's first 14 bytes as headers, the rest as payload through the batch's pieces. */
    private void echoInPlace(MemorySegment s, long off, int len) {
        if (device.reserveRx(rxBatch, 14, len - 14, 1) == 0) return;
        MemorySegment.copy(s, off, rxBatch.header(0), rxBatch.headerOffset(0), 14);
        long at = off + 14;
        for (int p = rxBatch.firstPiece(0), left = len - 14; p < rxBatch.endPiece(0) && left > 0; p++) {
            int n = Math.min(left, rxBatch.pieceLength(p));
            MemorySegment.copy(s, at, rxBatch.pieceSegment(p), rxBatch.pieceOffset(p), n);
            at += n;
            left -= n;
        }
        rxBatch.payloadLength(0, len - 14);
        device.commitRx(rxBatch, 1);
    }

    /** Frames handed over in guest memory (not gathered into scratch space). */
    long inPlaceFrames() throws Exception {
        return onLoop(() -> device.framesIn() - device.framesGathered());
    }

    /** Frames that were scattered and gathered to be handed over. */
    long gatheredFrames() throws Exception {
        return onLoop(device::framesGathered);
    }

    /** Runs {@code c} on the loop's thread and returns its result. */
    public <T> T onLoop(Callable<T> c) throws Exception {
        CompletableFuture<T> f = new CompletableFuture<>();
        tasks.add(() -> {
            try {
                f.complete(c.call());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        Descriptors.write(taskFd, one, 8);
        return f.get(10, TimeUnit.SECONDS);
    }

    /**
     * Runs {@code r} on the loop's thread as one of its handlers, whatever it throws going to the
     * loop as from any handler (a producer's fault in guest memory, say); returns at once.
     */
    public void onLoopRaw(Runnable r) {
        tasks.add(r);
        Descriptors.write(taskFd, one, 8);
    }

    public void onLoop(Runnable r) throws Exception {
        onLoop(() -> {
            r.run();
            return null;
        });
    }

    public VhostUserFrontEnd frontEnd(VhostUserFrontEnd.Options o) throws Exception {
        VhostUserFrontEnd fe = new VhostUserFrontEnd(o);
        fe.connect(socket.toString());
        fe.start();
        return fe;
    }

    public VhostUserFrontEnd frontEnd() throws Exception {
        return frontEnd(new VhostUserFrontEnd.Options());
    }

    /** Waits until {@code c} holds, checked on the loop's thread. */
    public boolean await(Callable<Boolean> c, long ms) throws Exception {
        long deadline = System.nanoTime() + ms * 1_000_000L;
        while (System.nanoTime() < deadline) {
            if (onLoop(c)) return true;
            Thread.sleep(2);
        }
        return false;
    }

    @Override
    public void close() throws Exception {
        onLoop(device::close);
        loop.stop();
        thread.join(5000);
        loop.close();
        Descriptors.close(taskFd);
        Files.deleteIfExists(socket);
        Files.deleteIfExists(dir);
    }
}
