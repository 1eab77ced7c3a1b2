package jpasst.sys;

/** A failed system call outside the frame path: what was attempted, and the kernel's reason. */
public final class SysException extends RuntimeException {
    private final int errno;

    public SysException(int errno, String what) {
        super(what + ": " + Errno.text(errno), null, false, false);
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
