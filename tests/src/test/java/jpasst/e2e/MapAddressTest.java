package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import com.sun.net.httpserver.HttpServer;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;

/**
 * Current passt's address mapping options with a real guest: {@code --map-host-loopback ADDR}
 * makes ADDR (instead of the gateway) stand for the host, so the guest reaches a server on the
 * host's 127.0.0.1 at ADDR; {@code --map-guest-addr ADDR} makes ADDR stand for the guest's own
 * address as the host knows it, so the guest reaches a server bound to the host's address, which
 * its own address shadows. jpasst only: the reference passt (2023) predates both options.
 */
class MapAddressTest {

    static HttpServer serve(InetAddress address, String body) throws Exception {
        HttpServer http = HttpServer.create(new InetSocketAddress(address, 0), 8);
        byte[] b = body.getBytes(StandardCharsets.US_ASCII);
        http.createContext("/", ex -> {
            ex.sendResponseHeaders(200, b.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(b);
            }
        });
        http.start();
        return http;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#jpasst")
    void mappedAddressesReachTheHostsLoopbackAndTheHostsOwnAddress(Target target) throws Exception {
        HostNetwork.Ipv4 host = HostNetwork.ipv4();
        byte[] a = host.address().getAddress();
        String prefix = (a[0] & 0xff) + "." + (a[1] & 0xff) + "." + (a[2] & 0xff) + ".";
        java.util.List<String> free = new java.util.ArrayList<>();
        for (int last = 100; last < 250 && free.size() < 2; last++) {
            if (last != (a[3] & 0xff) && last != (host.gateway().getAddress()[3] & 0xff)) free.add(prefix + last);
        }
        String loopbackAlias = free.get(0), guestAlias = free.get(1);
        HttpServer onLoopback = serve(InetAddress.getLoopbackAddress(), "from-host-loopback");
        HttpServer onHostAddress = serve(host.address(), "from-host-address");
        try (Daemon daemon = Daemon.start(target, "--map-host-loopback", loopbackAlias, "--map-guest-addr", guestAlias)) {
            int lp = onLoopback.getAddress().getPort(), hp = onHostAddress.getAddress().getPort();
            // (busybox-static's wget segfaults with -T here: no timeout option)
            GuestRun guest = Guest.builder(daemon)
                    .timeout(Duration.ofSeconds(90))
                    .script("dhcp4 >/dev/null"
                            + " && mark LOOPBACK $(wget -q -O - http://" + loopbackAlias + ":" + lp + "/ 2>&1 || echo failed)"
                            + " && mark HOSTADDR $(wget -q -O - http://" + guestAlias + ":" + hp + "/ 2>&1 || echo failed)")
                    .run();
            String context = "\n" + daemon.describe() + guest.consoleForMessage();
            assertAll("address mapping" + context,
                    () -> assertEquals("from-host-loopback", guest.marker("LOOPBACK"),
                            "--map-host-loopback " + loopbackAlias + " reaches 127.0.0.1:" + lp),
                    () -> assertEquals("from-host-address", guest.marker("HOSTADDR"),
                            "--map-guest-addr " + guestAlias + " reaches " + host.address().getHostAddress() + ":" + hp));
        } finally {
            onLoopback.stop(0);
            onHostAddress.stop(0);
        }
    }
}
