package jpasst.e2e;

import java.util.List;

import jpasst.guest.vm.Transport;

/**
 * What an end-to-end test runs against: a daemon ({@link Daemon.Kind}) over a guest transport
 * ({@link Transport}). Tests take it as their parameter ({@code @MethodSource("jpasst.e2e.Target#all")}),
 * so one test body covers the reference passt over the stream socket and jpasst over both
 * transports; {@link Daemon#start(Target, String...)} and {@link jpasst.guest.vm.Guest#builder(jpasst.guest.vm.Guest.Served)} do the rest.
 */
public record Target(Daemon.Kind kind, Transport transport) {
    public static final Target REFERENCE = new Target(Daemon.Kind.REFERENCE, Transport.STREAM);
    public static final Target JPASST = new Target(Daemon.Kind.JPASST, Transport.STREAM);
    public static final Target JPASST_VHOST_USER = new Target(Daemon.Kind.JPASST, Transport.VHOST_USER);

    /** The reference passt (Debian's, stream socket only) and jpasst over both transports. */
    public static List<Target> all() {
        return List.of(REFERENCE, JPASST, JPASST_VHOST_USER);
    }

    /** jpasst over both transports (tests of what the reference passt gets wrong or lacks). */
    public static List<Target> jpasst() {
        return List.of(JPASST, JPASST_VHOST_USER);
    }

    public boolean isJpasst() {
        return kind == Daemon.Kind.JPASST;
    }

    @Override
    public String toString() {
        return kind + " over " + transport;
    }
}
