package jpasst.glue;

import java.io.IOException;

/**
 * The daemon did not come up: its launching command failed, hung, or left no live daemon and
 * socket behind. The message says which and ends with what the launcher printed, because passt
 * explains its refusals (a bad option, a port in use) only there.
 */
public final class DaemonStartException extends IOException {

    private final String daemonOutput;

    public DaemonStartException(String reason, String daemonOutput) {
        super(daemonOutput.isBlank() ? reason : reason + "; it printed:\n" + daemonOutput.strip());
        this.daemonOutput = daemonOutput;
    }

    /** Everything the launching command wrote to stdout and stderr. */
    public String daemonOutput() {
        return daemonOutput;
    }
}
