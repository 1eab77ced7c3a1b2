package jpasst.vhost;

/**
 * The front-end broke the vhost-user protocol (a bad size, count, index or address in a message,
 * a ring that cannot be trusted): the message says what, in one line, and the connection is
 * reset. Thrown on the control path only, never per frame; no stack trace, as it is expected.
 */
public final class VhostUserException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public VhostUserException(String message) {
        super(message, null, false, false);
    }
}
