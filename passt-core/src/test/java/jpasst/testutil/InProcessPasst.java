package jpasst.testutil;

import java.nio.file.Files;
import java.nio.file.Path;

import jpasst.Passt;
import jpasst.conf.Conf;

/**
 * A real daemon instance in the test JVM: its own event loop thread, a real UNIX socket in a
 * fresh temporary directory, and a fixed configuration (documentation addresses, so the tests do
 * not depend on the machine's network).
 */
public final class InProcessPasst implements AutoCloseable {
    public static final int ADDR = Frames.ip("192.0.2.2"), GW = Frames.ip("192.0.2.1");
    public static final int DNS1 = Frames.ip("198.51.100.53"), DNS2 = Frames.ip("198.51.100.54");

    public final Passt passt;
    public final Path socket;
    private final Thread thread;

    public InProcessPasst(java.util.function.Consumer<Conf> tweak) throws Exception {
        Conf c = new Conf();
        c.addr4 = ADDR;
        c.prefix4 = 24;
        c.gw4 = GW;
        c.dns4 = new int[] {DNS1, DNS2};
        c.search = new java.util.ArrayList<>(java.util.List.of("example.org", "lab.example.org"));
        c.v6 = false;
        socket = Files.createTempDirectory("jpasst-test").resolve("passt.socket");
        c.socketPath = socket.toString();
        tweak.accept(c);
        passt = new Passt(c);
        passt.start();
        thread = new Thread(passt::run, "jpasst-loop");
        thread.setDaemon(true);
        thread.start();
    }

    public InProcessPasst() throws Exception {
        this(c -> { });
    }

    public GuestLink connect() throws Exception {
        return new GuestLink(socket);
    }

    /** The thread the daemon's event loop runs on (allocation and CPU measurements). */
    public Thread loopThread() {
        return thread;
    }

    /** Waits for the loop thread to end (after --one-off, say). */
    public boolean awaitStop(long ms) throws InterruptedException {
        thread.join(ms);
        return !thread.isAlive();
    }

    @Override
    public void close() throws Exception {
        passt.loop.stop();
        thread.join(5000);
        passt.close();
        Files.deleteIfExists(socket);
        Files.deleteIfExists(socket.getParent());
    }
}
