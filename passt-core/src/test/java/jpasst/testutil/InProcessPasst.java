package jpasst.testutil;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

import jpasst.Listeners;
import jpasst.Passt;
import jpasst.conf.Conf;
import jpasst.guest.Frames;
import jpasst.guest.GuestLink;
import jpasst.link.Pcap;
import jpasst.loop.EventLoop;
import jpasst.tap.StreamLink;

/**
 * A real daemon instance in the test JVM: its own event loop thread, a real UNIX socket in a
 * fresh temporary directory, and a fixed configuration (documentation addresses, so the tests do
 * not depend on the machine's network; IPv4 only unless a test turns on {@link #ipv6}). What the
 * loop owns is read on its thread ({@link #query}, {@link #await}), never from the test's.
 */
public final class InProcessPasst implements AutoCloseable {
    /** The guest's and the gateway's addresses: the guest side's documentation ones ({@link Frames#GUEST4}...). */
    public static final int ADDR = Frames.GUEST4, GW = Frames.GW4;
    public static final int DNS1 = Frames.ip("198.51.100.53"), DNS2 = Frames.ip("198.51.100.54");
    public static final byte[] ADDR6 = Frames.GUEST6, GW6 = Frames.GW6, OUR_LL6 = Frames.ip6("fe80::1");

    public final Passt passt;
    public final Path socket;
    private final LoopWatch watch;
    private final Thread thread;

    public InProcessPasst(java.util.function.Consumer<Conf.Builder> tweak) throws Exception {
        this(tweak, null);
    }

    /** A daemon that records every guest frame to {@code capture} too. */
    public InProcessPasst(java.util.function.Consumer<Conf.Builder> tweak, Pcap capture) throws Exception {
        this(tweak, capture, false);
    }

    /**
     * A daemon over vhost-user ({@code --vhost-user}) instead of the stream socket: {@link #connect}
     * then gives a vhost-user front-end as the guest's link ({@link #frontEndOptions}).
     */
    public static InProcessPasst vhostUser(java.util.function.Consumer<Conf.Builder> tweak, Pcap capture) throws Exception {
        return new InProcessPasst(tweak, capture, true);
    }

    /** How {@link #connect} sets up a vhost-user front-end (ring size, buffer sizes...). */
    public final jpasst.guest.vhost.VhostUserFrontEnd.Options frontEndOptions = new jpasst.guest.vhost.VhostUserFrontEnd.Options();

    private InProcessPasst(java.util.function.Consumer<Conf.Builder> tweak, Pcap capture, boolean vhostUser) throws Exception {
        Conf.Builder c = new Conf.Builder();
        c.vhostUser = vhostUser;
        c.addr4 = ADDR;
        c.prefix4 = 24;
        c.gw4 = GW;
        c.dns4 = new int[] {DNS1, DNS2};
        c.search = new java.util.ArrayList<>(java.util.List.of("example.org", "lab.example.org"));
        c.v6 = false;
        socket = Files.createTempDirectory("jpasst-test").resolve("passt.socket");
        c.socketPath = socket.toString();
        tweak.accept(c);
        Conf conf = c.build();
        passt = new Passt(conf, new EventLoop(), Listeners.open(conf), capture);
        passt.start();
        watch = new LoopWatch(passt.loop);
        thread = new Thread(passt::run, "jpasst-loop");
        thread.setDaemon(true);
        thread.start();
    }

    public InProcessPasst() throws Exception {
        this(c -> { });
    }

    /** Gives the daemon a control socket (-c) beside its socket; {@link #controlPath} says where. */
    public static void control(Conf.Builder c) {
        c.confPath = c.socketPath + ".ctl";
    }

    /** Where the control socket is (see {@link #control}). */
    public Path controlPath() {
        return Path.of(passt.conf.confPath);
    }

    /**
     * Turns IPv6 on as HostNet would set it up: the guest at {@link #ADDR6}/64, the gateway
     * {@link #GW6}, the daemon's link-local address {@link #OUR_LL6}; no DNS servers.
     */
    public static void ipv6(Conf.Builder c) {
        c.v6 = true;
        c.addr6Hi = ByteBuffer.wrap(ADDR6).getLong(0);
        c.addr6Lo = ByteBuffer.wrap(ADDR6).getLong(8);
        c.prefix6 = 64;
        c.gw6Hi = ByteBuffer.wrap(GW6).getLong(0);
        c.gw6Lo = ByteBuffer.wrap(GW6).getLong(8);
        c.ourLl6Hi = ByteBuffer.wrap(OUR_LL6).getLong(0);
        c.ourLl6Lo = ByteBuffer.wrap(OUR_LL6).getLong(8);
    }

    /** {@code query}'s answer, read on the loop's thread (see {@link LoopWatch#query}). */
    public <T> T query(java.util.function.Supplier<T> query) {
        return watch.query(query);
    }

    /** Whether {@code condition}, checked on the loop's thread, held within {@code ms} (see {@link LoopWatch#await}). */
    public boolean await(java.util.function.BooleanSupplier condition, long ms) {
        return watch.await(condition, ms);
    }

    /** Runs {@code action} on the loop's thread (test hooks: shorter timers, say). */
    public void onLoop(Runnable action) {
        watch.run(action);
    }

    /** Returns once the loop has handled everything that was ready for it (see {@link LoopWatch#sync}). */
    public void sync() {
        watch.sync();
    }

    /**
     * The first frame matching {@code match} that the daemon has sent to {@code g} in answer to
     * what it was sent before, or null: once the daemon has handled everything ready for it
     * ({@link #sync}), its answers are in the socket, and what is there is looked at, without
     * waiting. For "no answer" checks, instead of "nothing within so many ms".
     */
    public byte[] answered(GuestLink g, java.util.function.Predicate<byte[]> match) throws java.io.IOException {
        sync();
        return g.receiveNow(match);
    }

    /** Any frame the daemon has sent to {@code g} in answer to what it was sent before (see the other). */
    public byte[] answered(GuestLink g) throws java.io.IOException {
        return answered(g, f -> true);
    }

    /** The daemon's link, the stream socket (its counters: read them with {@link #query}). */
    public StreamLink stream() {
        return (StreamLink) passt.link;
    }

    /** The guest's end of the link: the stream socket, or a vhost-user front-end. */
    public GuestLink connect() throws Exception {
        return passt.conf.vhostUser ? GuestLink.vhostUser(socket, frontEndOptions) : new GuestLink(socket);
    }

    /** The daemon's link, vhost-user (its device's counters). */
    public jpasst.vhost.VhostUserLink vhost() {
        return (jpasst.vhost.VhostUserLink) passt.link;
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
        thread.join(10_000);
        // closed under a loop still running, its descriptors' numbers would go to the next daemon
        if (thread.isAlive()) throw new IllegalStateException("the daemon's loop did not stop");
        passt.close();
        Files.deleteIfExists(socket);
        if (passt.conf.confPath != null) Files.deleteIfExists(Path.of(passt.conf.confPath));
        Files.deleteIfExists(socket.getParent());
    }
}
