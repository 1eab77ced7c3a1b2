package jpasst.loop;

/**
 * The owner kinds carried in the top byte of each epoll reference (see {@link EventLoop}), one
 * per kind of descriptor (or posted event) and its handler. At most {@link EventLoop#MAX_TYPES}
 * - 1; the last is the loop's own wake-up.
 */
public final class Refs {
    private Refs() {}

    /** The stream link: its listening socket, the guest's connection, "room again" (posted). */
    public static final int TAP_LISTEN = 1, TAP = 2, TAP_ROOM = 9;
    public static final int TCP = 3;
    public static final int TCP_LISTEN = 4;
    public static final int UDP = 5;
    public static final int UDP_LISTEN = 6;
    public static final int ICMP = 7;
    /** The pipe the JVM writes a thread dump into on SIGQUIT (see jpasst.QuitSignal). */
    public static final int QUIT = 8;
    /** The pipe the handlers of SIGTERM, SIGINT and SIGHUP write to. */
    public static final int SIGNAL = 10;
    /** vhost-user: the listening socket, the front-end's connection, a virtqueue's kick eventfd. */
    public static final int VHOST_LISTEN = 11;
    public static final int VHOST = 12;
    public static final int VHOST_KICK = 13;
    /** The control socket of -c (jpasst.control): its listening socket, a client's connection. */
    public static final int CONTROL_LISTEN = 14, CONTROL = 15;

    private static final String[] NAMES = {"posted", "tap-listen", "tap", "tcp", "tcp-listen", "udp", "udp-listen",
            "icmp", "quit", "tap-room", "signal", "vhost-listen", "vhost", "vhost-kick", "control-listen", "control"};

    /** A short name of owner kind {@code type}, as the control socket's statistics show it. */
    public static String name(int type) {
        return type >= 0 && type < NAMES.length ? NAMES[type] : "type-" + type;
    }

    /** Owner kinds there are names for. */
    public static int count() {
        return NAMES.length;
    }
}
