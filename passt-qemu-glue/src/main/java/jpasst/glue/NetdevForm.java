package jpasst.glue;

/**
 * The three ways QEMU can reach a passt-compatible daemon. Which one applies depends on the QEMU
 * release and on what the daemon offers; {@link QemuNetworkArgs} turns each into arguments.
 */
public enum NetdevForm {
    /** {@code -netdev stream} connecting to the daemon's UNIX socket itself (QEMU 7.2 and later). */
    STREAM,
    /**
     * {@code -netdev socket,fd=N}: somebody else connects the socket and hands QEMU the connected
     * descriptor as fd N. Works with every QEMU; passt's {@code qrap} did this before 7.2.
     */
    SOCKET_FD,
    /** vhost-user: the daemon serves virtqueues from shared guest memory ({@code passt --vhost-user}). */
    VHOST_USER
}
