package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import com.sun.net.httpserver.HttpServer;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;

/**
 * TCP, UDP and ICMPv6 echo over IPv6 with a real guest, as over IPv4: the host's IPv6 gateway
 * address stands for the host, so a 20 MB download from an HTTP server on the host's ::1, a UDP
 * echo on ::1 and ping to the gateway all work at that address once the guest has its SLAAC
 * address. (The reference passt is held to the TCP part only: see the comment in the test.)
 */
class Ipv6TrafficTest {
    private static final Path PING_RANGE = Path.of("/proc/sys/net/ipv4/ping_group_range");

    static final String WAIT_FOR_SLAAC = """
            if=$(netif)
            ip link set "$if" up
            tries=0
            while [ $tries -lt 200 ]; do
                if ip -6 addr show dev "$if" scope global | grep -q inet6 \\
                        && ! ip -6 addr show dev "$if" | grep -q tentative \\
                        && ip -6 route show default | grep -q via; then
                    break
                fi
                sleep 0.1
                tries=$((tries + 1))
            done
            mark V6_GLOBAL "$(ip -6 addr show dev "$if" scope global | grep inet6 | head -n 1)"
            """;

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void tcpUdpAndPingReachTheHostAtTheIpv6Gateway(Target target) throws Exception {
        GuestIpv6ComesUpTest.Host6 host = GuestIpv6ComesUpTest.host6();
        assumeTrue(host.gateway() != null && !host.gatewayIsLinkLocal(), "needs a global IPv6 gateway");
        assumeTrue(Files.isWritable(PING_RANGE), "needs root to open " + PING_RANGE);
        String gw6 = host.gateway().getHostAddress().replaceAll("%.*", "");
        byte[] file = TcpTransferTest.random(20 << 20, 6);
        InetAddress loopback6 = InetAddress.getByName("::1");
        HttpServer http = HttpServer.create(new InetSocketAddress(loopback6, 0), 16);
        http.createContext("/big.bin", ex -> {
            ex.sendResponseHeaders(200, file.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(file);
            }
        });
        http.start();
        String savedRange = Files.readString(PING_RANGE).strip().replace('\t', ' ');
        Files.writeString(PING_RANGE, "0 2147483647");
        try (DatagramSocket echo = new DatagramSocket(new InetSocketAddress(loopback6, 0));
             Daemon daemon = Daemon.start(target)) {
            Thread echoThread = new Thread(() -> {
                byte[] buf = new byte[2048];
                while (!echo.isClosed()) {
                    DatagramPacket p = new DatagramPacket(buf, buf.length);
                    try {
                        echo.receive(p);
                        echo.send(new DatagramPacket(buf, p.getLength(), p.getSocketAddress()));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            echoThread.setDaemon(true);
            echoThread.start();
            String script = WAIT_FOR_SLAAC
                    + "GW6=" + gw6 + "\n"
                    + "mark SHA6 $(wget -q -O - \"http://[$GW6]:" + http.getAddress().getPort()
                    + "/big.bin\" | sha256sum | cut -d' ' -f1)\n"
                    + "mark UDP6 \"$(echo hello-v6 | socat -t 3 - UDP6:[$GW6]:" + echo.getLocalPort() + ")\"\n"
                    + "mark PING6 \"$(ping -6 -c 3 -W 2 $GW6 2>&1 | grep -c 'bytes from')\"\n";
            GuestRun guest = Guest.builder(daemon)
                    .hostProgram(Path.of("/usr/bin/socat"))
                    .timeout(Duration.ofSeconds(120))
                    .script(script)
                    .run();
            String context = "\n" + daemon.describe() + guest.consoleForMessage();
            assertTrue(guest.marker("V6_GLOBAL").contains("inet6"), "SLAAC address" + context);
            assertEquals(TcpTransferTest.sha256(file), guest.marker("SHA6"), "20 MB over IPv6" + context);
            if (target.kind() == Daemon.Kind.REFERENCE) {
                // the 2023 reference maps the IPv6 gateway to ::1 for TCP only: its UDP datagrams
                // and echo requests to fd00::1 go to the real gateway, which does not answer here
                return;
            }
            assertAll(target + context,
                    () -> assertEquals("hello-v6", guest.marker("UDP6"), "UDP echo over IPv6"),
                    () -> assertEquals("3", guest.marker("PING6"), "ping6 replies"));
        } finally {
            Files.writeString(PING_RANGE, savedRange);
            http.stop(0);
        }
    }
}
