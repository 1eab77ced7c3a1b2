package jpasst.conf;

/**
 * A bad option or configuration: the message is printed as is and the process exits 1. For what
 * getopt itself rejects (unknown option, missing argument), passt prints the usage after the
 * message: {@link #usage()} says so.
 */
public final class ConfException extends RuntimeException {
    private final boolean usage;

    public ConfException(String message) {
        this(message, false);
    }

    public ConfException(String message, boolean usage) {
        super(message, null, false, false);
        this.usage = usage;
    }

    /** Whether the usage text follows the message, as after getopt's own errors. */
    public boolean usage() {
        return usage;
    }
}
