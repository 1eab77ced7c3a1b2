package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import com.sun.net.httpserver.HttpServer;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;
import jpasst.guest.vm.Transport;

/**
 * TCP through the daemon with a real guest, both ways: the guest downloads a 20 MB random file
 * from an HTTP server on the host's loopback, reached at the gateway address, and its sha256 must
 * match; the host fetches 3 MB from a server in the guest through a -t forwarded port.
 */
class TcpTransferTest {
    @TempDir
    Path dir;

    static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void guestDownloads20MegabytesFromHostAtGatewayAddressIntact(Target target) throws Exception {
        byte[] file = random(20 << 20, 1);
        HttpServer http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        http.createContext("/big.bin", ex -> {
            ex.sendResponseHeaders(200, file.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(file);
            }
        });
        http.start();
        try (Daemon daemon = Daemon.start(target)) {
            int port = http.getAddress().getPort();
            GuestRun guest = Guest.builder(daemon)
                    .timeout(Duration.ofSeconds(120))
                    .script("dhcp4 >/dev/null && GW=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p') && "
                            + "mark SHA $(wget -q -O - http://$GW:" + port + "/big.bin | sha256sum | cut -d' ' -f1)")
                    .run();
            assertEquals(sha256(file), guest.marker("SHA"), guest.consoleForMessage());
        } finally {
            http.stop(0);
        }
    }

    /**
     * At MTU 1500 a Linux guest over vhost-user takes TCP frames of many segments (it acks
     * GUEST_TSO4 and GUEST_TSO6, which QEMU's virtio-net passes on to the back-end): jpasst's
     * capture holds frames to the guest larger than the MTU, and the downloads, over IPv4 and
     * (where the host has a global IPv6 gateway) IPv6, arrive whole. Over the stream socket no
     * frame exceeds the MTU.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#jpasst")
    void atMtu1500TheGuestDownloadsIntactInFramesOfManySegmentsOverVhostUserOnly(Target target) throws Exception {
        byte[] file = random(8 << 20, 3);
        GuestIpv6ComesUpTest.Host6 host6 = GuestIpv6ComesUpTest.host6();
        boolean v6 = host6.gateway() != null && !host6.gatewayIsLinkLocal();
        HttpServer http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        HttpServer http6 = HttpServer.create(new InetSocketAddress(InetAddress.getByName("::1"), 0), 16);
        for (HttpServer h : List.of(http, http6)) {
            h.createContext("/big.bin", ex -> {
                ex.sendResponseHeaders(200, file.length);
                try (OutputStream o = ex.getResponseBody()) {
                    o.write(file);
                }
            });
            h.start();
        }
        // passt started as root writes the capture as nobody: a directory anyone may write to
        Path open = Files.createTempDirectory("jpasst-gso-");
        Files.setPosixFilePermissions(open, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        Path pcap = open.resolve("guest.pcap");
        try {
            GuestRun guest;
            try (Daemon daemon = Daemon.start(target, "-m", "1500", "-p", pcap.toString())) {
                int port = http.getAddress().getPort();
                guest = Guest.builder(daemon)
                        .timeout(Duration.ofSeconds(120))
                        .script("dhcp4 >/dev/null && GW=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p') && "
                                + "mark MTU $(cat /sys/class/net/$(netif)/mtu) && "
                                + "mark SHA $(wget -q -O - http://$GW:" + port + "/big.bin | sha256sum | cut -d' ' -f1)\n"
                                + (!v6 ? "" : Ipv6TrafficTest.WAIT_FOR_SLAAC
                                        + "mark SHA6 $(wget -q -O - \"http://[" + host6.gateway().getHostAddress().replaceAll("%.*", "")
                                        + "]:" + http6.getAddress().getPort() + "/big.bin\" | sha256sum | cut -d' ' -f1)\n"))
                        .run();
            }
            assertEquals("1500", guest.marker("MTU"), guest.consoleForMessage());
            assertEquals(sha256(file), guest.marker("SHA"), "over IPv4" + guest.consoleForMessage());
            if (v6) assertEquals(sha256(file), guest.marker("SHA6"), "over IPv6" + guest.consoleForMessage());
            long[] larger = framesLargerThan(pcap, 1514);
            if (target.transport() == Transport.VHOST_USER) {
                assertTrue(larger[0] > 0, "no IPv4 frame larger than the MTU in the capture" + guest.consoleForMessage());
                if (v6) assertTrue(larger[1] > 0, "no IPv6 frame larger than the MTU in the capture" + guest.consoleForMessage());
            } else {
                assertEquals(0, larger[0] + larger[1], "frames larger than the MTU over the stream socket");
            }
        } finally {
            http.stop(0);
            http6.stop(0);
            Files.deleteIfExists(pcap);
            Files.deleteIfExists(open);
        }
    }

    /** Records of the pcap file whose frame is longer than {@code len} bytes: {IPv4, IPv6} frames. */
    static long[] framesLargerThan(Path pcap, int len) throws IOException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(Files.readAllBytes(pcap)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        assertEquals(0xa1b2c3d4, b.getInt(0), "pcap magic (microsecond, little-endian)");
        long[] n = new long[2];
        for (int at = 24; at + 16 <= b.limit(); ) {
            int incl = b.getInt(at + 8), orig = b.getInt(at + 12);
            if (orig > len && incl >= 14) {
                int type = b.order(java.nio.ByteOrder.BIG_ENDIAN).getShort(at + 16 + 12) & 0xffff;
                b.order(java.nio.ByteOrder.LITTLE_ENDIAN);
                if (type == 0x0800) n[0]++;
                if (type == 0x86dd) n[1]++;
            }
            at += 16 + incl;
        }
        return n;
    }

    /**
     * jpasst only: the reference passt (Debian 0.0~git20230309) crashes with a segmentation fault
     * in tcp_tap_conn_from_sock as soon as a host connection arrives on a -t port on these machines
     * (seen with --trace; the guest never gets the SYN).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#jpasst")
    void hostFetches3MegabytesFromGuestThroughForwardedPortIntact(Target target) throws Exception {
        byte[] file = random(3 << 20, 2);
        int hostPort = freePort(), donePort = freePort();
        try (Daemon daemon = Daemon.start(target, "-t", hostPort + ":8080," + donePort + ":8081")) {
            String[] result = new String[1];
            Thread fetcher = new Thread(() -> {
                long deadline = System.nanoTime() + 90_000_000_000L;
                while (System.nanoTime() < deadline && result[0] == null) {
                    try (Socket s = new Socket()) {
                        s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), hostPort), 2000);
                        s.setSoTimeout(30_000);
                        InputStream in = s.getInputStream();
                        byte[] got = in.readNBytes(file.length);
                        if (got.length == file.length) {
                            result[0] = sha256(got);
                            done(donePort);
                        } else {
                            Thread.sleep(300);
                        }
                    } catch (Exception e) {
                        try {
                            Thread.sleep(300);
                        } catch (InterruptedException ie) {
                            return;
                        }
                    }
                }
            });
            fetcher.start();
            GuestRun guest = Guest.builder(daemon)
                    .timeout(Duration.ofSeconds(120))
                    .file("/srv/file.bin", 0644, file)
                    // the server in the background; the script ends when the host says it is done
                    .script("dhcp4 >/dev/null && (nc -l -p 8080 < /srv/file.bin &) && nc -l -p 8081 >/dev/null; mark DONE $?")
                    .run();
            fetcher.join(30_000);
            assertEquals(sha256(file), result[0], guest.consoleForMessage());
        }
    }

    /** Tells the guest script the host is done: one connection to the second forwarded port. */
    static void done(int port) {
        for (int i = 0; i < 50; i++) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000);
                s.getOutputStream().write('x');
                return;
            } catch (IOException e) {
                try {
                    Thread.sleep(200);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
