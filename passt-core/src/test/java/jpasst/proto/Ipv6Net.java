package jpasst.proto;

import static jpasst.guest.V6Frames.a6;

import java.nio.ByteBuffer;
import java.util.function.Consumer;

import jpasst.conf.Conf;
import jpasst.testutil.InProcessPasst;

/** The IPv6 side of the in-process daemon's test configuration: documentation addresses. */
final class Ipv6Net {
    private Ipv6Net() {}

    static final byte[] ADDR6 = InProcessPasst.ADDR6, GW6 = InProcessPasst.GW6, OUR_LL = InProcessPasst.OUR_LL6,
            GUEST_LL = a6("fe80::5054:ff:fe12:3456"), DNS6_1 = a6("2001:db8:53::1"),
            DNS6_2 = a6("2001:db8:53::2"), UNSPECIFIED = a6("::"), ALL_NODES = a6("ff02::1");

    static long hi(byte[] a) {
        return ByteBuffer.wrap(a).getLong(0);
    }

    static long lo(byte[] a) {
        return ByteBuffer.wrap(a).getLong(8);
    }

    /** IPv6 on, as HostNet would set it up, then {@code more}. */
    static Consumer<Conf.Builder> v6(Consumer<Conf.Builder> more) {
        return c -> {
            InProcessPasst.ipv6(c);
            c.dns6 = new long[] {hi(DNS6_1), lo(DNS6_1), hi(DNS6_2), lo(DNS6_2)};
            more.accept(c);
        };
    }

    static InProcessPasst start() throws Exception {
        return new InProcessPasst(v6(c -> { }));
    }

    static InProcessPasst start(Consumer<Conf.Builder> more) throws Exception {
        return new InProcessPasst(v6(more));
    }
}
