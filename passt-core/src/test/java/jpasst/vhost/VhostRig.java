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
    final TxBatch batch = new TxBatch(256, 256 << 10);
    volatile boolean echo = true;
    /** Echo through reserveRx/commitRx (headers and payload written as a socket read would) instead of sendRx. */
    volatile boolean echoInPlace;
    /** Keep a copy of every frame the guest sent (off for allocation measurements). */
    public volatile boolean record = true;
    final RxBatch rxBatch = new RxBatch(1, 256);
    volatile int inPlaceFrames, copiedFrames;
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
        int n;
        while ((n = device.popTx(batch, batch.capacity())) > 0) {
            for (int i = 0; i < n; i++) {
                MemorySegment s = batch.segment(i);
                if (batch.copied(i)) copiedFrames++;
                else inPlaceFrames++;
                if (record) received.add(s.asSlice(batch.offset(i), batch.length(i)).toArray(ValueLayout.JAVA_BYTE));
                if (echoInPlace) {
                    echoInPlace(s, batch.offset(i), batch.length(i));
                } else if (echo) {
                    device.sendRx(s, batch.offset(i), batch.length(i));
                }
            }
            device.releaseTx(batch);
        }
    }

    /** The frame's first 14 bytes as headers, the rest as payload through the iovecs. */
    private void echoInPlace(MemorySegment s, long off, int len) {
        if (device.reserveRx(rxBatch, 14, len - 14, 1) == 0) return;
        MemorySegment.copy(s, off, rxBatch.header(0), rxBatch.headerOffset(0), 14);
        long at = off + 14;
        for (int k = 0, left = len - 14; k < rxBatch.iovCount(0) && left > 0; k++) {
            int n = Math.min(left, rxBatch.pieceLength(0, k));
            MemorySegment.copy(s, at, rxBatch.pieceSegment(0, k), rxBatch.pieceOffset(0, k), n);
            at += n;
            left -= n;
        }
        rxBatch.payloadLength(0, len - 14);
        device.commitRx(rxBatch, 1);
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
