package jpasst.conf;

/** A bad option or configuration: the message is printed as is and the process exits 1. */
public final class ConfException extends RuntimeException {
    public ConfException(String message) {
        super(message, null, false, false);
    }
}
