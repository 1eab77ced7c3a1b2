package jpasst.loop;

/** The owner kinds carried in the top byte of each epoll reference (see {@link EventLoop}). */
public final class Refs {
    private Refs() {}

    public static final int TAP_LISTEN = 1;
    public static final int TAP = 2;
    public static final int TCP = 3;
    public static final int TCP_LISTEN = 4;
    public static final int UDP = 5;
    public static final int UDP_LISTEN = 6;
    public static final int ICMP = 7;
    /** vhost-user: the listening socket, the front-end's connection, a virtqueue's kick eventfd. */
    public static final int VHOST_LISTEN = 8;
    public static final int VHOST = 9;
    public static final int VHOST_KICK = 10;
}
