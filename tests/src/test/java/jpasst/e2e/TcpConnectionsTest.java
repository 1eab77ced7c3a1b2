package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import com.sun.net.httpserver.HttpServer;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;

/**
 * Many TCP connections and the other direction of bulk data, with a real guest (busybox) and host
 * servers on the host's loopback reached at the gateway's address: 200 short HTTP requests one
 * after the other all succeed; 100 are open at the same time (the host server answers none until
 * it holds all of them) and all succeed; the guest uploads 20 MB whose sha256 the host server
 * checks — through the reference passt and jpasst alike. jpasst only: a guest that half-closes
 * first ({@code echo | nc}: FIN after its request) still gets the answer and the server's close,
 * and a connection to a closed host port is refused within a second (see each test for what the
 * reference passt does there).
 */
class TcpConnectionsTest {
    static final String GW = "GW=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')\n";

    /**
     * An HTTP server on 127.0.0.1: {@code GET /NAME} answers "ok NAME". With {@code holdUntil} > 0
     * no answer goes out before that many requests are in at once (or 30 s have passed); the most
     * seen at once is kept.
     */
    static final class HoldingHttpServer implements AutoCloseable {
        final HttpServer http;
        final AtomicInteger open = new AtomicInteger(), maxOpen = new AtomicInteger(), served = new AtomicInteger();
        final CountDownLatch all;

        HoldingHttpServer(int holdUntil) throws IOException {
            all = new CountDownLatch(Math.max(holdUntil, 0));
            http = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 256);
            http.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
            http.createContext("/", ex -> {
                int now = open.incrementAndGet();
                maxOpen.accumulateAndGet(now, Math::max);
                all.countDown();
                try {
                    all.await(30, TimeUnit.SECONDS);
                    byte[] body = ("ok " + ex.getRequestURI().getPath().substring(1) + "\n").getBytes(StandardCharsets.US_ASCII);
                    ex.sendResponseHeaders(200, body.length);
                    try (OutputStream o = ex.getResponseBody()) {
                        o.write(body);
                    }
                    served.incrementAndGet();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    open.decrementAndGet();
                }
            });
            http.start();
        }

        int port() {
            return http.getAddress().getPort();
        }

        @Override
        public void close() {
            http.stop(0);
        }
    }

    /**
     * A line server on 127.0.0.1 for {@code nc}: each connection sends a line and gets "ok LINE"
     * back, then the server closes it.
     */
    static final class LineServer implements AutoCloseable {
        final ServerSocket socket;
        final AtomicInteger open = new AtomicInteger(), maxOpen = new AtomicInteger(), served = new AtomicInteger();

        LineServer() throws IOException {
            socket = new ServerSocket(0, 256, InetAddress.getByName("127.0.0.1"));
            Thread.ofPlatform().daemon().name("line-server").start(() -> {
                while (!socket.isClosed()) {
                    try {
                        Socket s = socket.accept();
                        Thread.ofVirtual().start(() -> serve(s));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        int port() {
            return socket.getLocalPort();
        }

        private void serve(Socket s) {
            try (s) {
                int now = open.incrementAndGet();
                maxOpen.accumulateAndGet(now, Math::max);
                s.setSoTimeout(30_000);
                String line = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII)).readLine();
                s.getOutputStream().write(("ok " + line + "\n").getBytes(StandardCharsets.US_ASCII));
                served.incrementAndGet();
            } catch (IOException e) {
                // the guest sees the failure
            } finally {
                open.decrementAndGet();
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void twoHundredShortConnectionsOneAfterTheOtherAllSucceed(Target target) throws Exception {
        try (HoldingHttpServer server = new HoldingHttpServer(0); Daemon daemon = Daemon.start(target)) {
            GuestRun guest = Guest.builder(daemon)
                    .timeout(Duration.ofSeconds(120))
                    .script("dhcp4 >/dev/null\n" + GW
                            + "ok=0; i=0\n"
                            + "while [ $i -lt 200 ]; do i=$((i+1))\n"
                            + "  r=$(timeout 10 wget -q -O - http://$GW:" + server.port() + "/seq$i 2>&1)\n"
                            + "  if [ \"$r\" = \"ok seq$i\" ]; then ok=$((ok+1)); else echo \"connection $i: '$r'\"; fi\n"
                            + "done\n"
                            + "mark SEQ_OK $ok\n")
                    .run();
            assertEquals("200", guest.marker("SEQ_OK"), guest.consoleForMessage());
            assertEquals(200, server.served.get());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void hundredConnectionsOpenAtOnceAllSucceed(Target target) throws Exception {
        try (HoldingHttpServer server = new HoldingHttpServer(100); Daemon daemon = Daemon.start(target)) {
            GuestRun guest = Guest.builder(daemon)
                    .timeout(Duration.ofSeconds(120))
                    .script("dhcp4 >/dev/null\n" + GW
                            + "i=0\n"
                            + "while [ $i -lt 100 ]; do i=$((i+1))\n"
                            + "  ( r=$(timeout 60 wget -q -O - http://$GW:" + server.port() + "/par$i 2>&1)\n"
                            + "    [ \"$r\" = \"ok par$i\" ] && : > /tmp/ok.$i ) &\n"
                            + "done\n"
                            + "wait\n"
                            + "mark PAR_OK $(ls /tmp | grep -c '^ok\\.')\n")
                    .run();
            assertEquals("100", guest.marker("PAR_OK"), guest.consoleForMessage());
            assertEquals(100, server.maxOpen.get(), "requests in at the same time");
        }
    }

    /**
     * jpasst only: with the reference passt (Debian 0.0~git20230309) {@code echo x | nc} gets its
     * answer but never the host's FIN after it, so nc waits forever (the guest's socket stays in
     * FIN_WAIT2): the host's close is lost once the guest has half-closed.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#jpasst")
    void guestThatHalfClosesFirstStillGetsTheAnswerAndTheClose(Target target) throws Exception {
        try (LineServer server = new LineServer(); Daemon daemon = Daemon.start(target)) {
            GuestRun guest = Guest.builder(daemon)
                    .timeout(Duration.ofSeconds(90))
                    .script("dhcp4 >/dev/null\n" + GW
                            + "ok=0; i=0\n"
                            + "while [ $i -lt 50 ]; do i=$((i+1))\n"
                            + "  r=$(echo \"half $i\" | timeout 5 nc -w 5 $GW " + server.port() + ")\n"
                            + "  if [ \"$r\" = \"ok half $i\" ]; then ok=$((ok+1)); else echo \"connection $i: '$r'\"; fi\n"
                            + "done\n"
                            + "mark HALF_OK $ok\n")
                    .run();
            assertEquals("50", guest.marker("HALF_OK"), guest.consoleForMessage());
        }
    }

    /**
     * jpasst only: the reference passt (Debian 0.0~git20230309) answers the guest's SYN for a
     * closed host port with nothing at all, so the guest's connect runs into its timeout (nc -w 5:
     * "timed out" after 5 s) instead of being refused.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#jpasst")
    void connectionToAClosedHostPortIsRefusedNotTimedOut(Target target) throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            closed = s.getLocalPort();
        }
        try (Daemon daemon = Daemon.start(target)) {
            GuestRun guest = Guest.builder(daemon)
                    .script("dhcp4 >/dev/null\n" + GW
                            + "nc -w 5 $GW 1 </dev/null >/dev/null 2>&1\n" // ARP and the first flow out of the way
                            + "out=$(nc -w 5 $GW " + closed + " </dev/null 2>&1); rc=$?\n"
                            + "mark REFUSED \"$out\"\n"
                            + "mark REFUSED_RC $rc\n")
                    .run();
            // a reset, not a timeout: nc says "timed out" when -w 5 runs out
            assertTrue(guest.marker("REFUSED").contains("Connection refused"), guest.consoleForMessage());
            assertEquals("1", guest.marker("REFUSED_RC"));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void guestUploads20MegabytesToTheHostIntact(Target target) throws Exception {
        int size = 20 << 20;
        String[] hostSha = new String[1];
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"));
             Daemon daemon = Daemon.start(target)) {
            Thread receiver = Thread.ofPlatform().daemon().start(() -> {
                try (Socket s = server.accept(); InputStream in = s.getInputStream()) {
                    MessageDigest sha = MessageDigest.getInstance("SHA-256");
                    byte[] buf = new byte[1 << 16];
                    long got = 0;
                    while (got < size) {
                        int n = in.read(buf, 0, (int) Math.min(buf.length, size - got));
                        if (n < 0) break;
                        sha.update(buf, 0, n);
                        got += n;
                    }
                    if (got == size) hostSha[0] = HexFormat.of().formatHex(sha.digest());
                    try (OutputStream out = s.getOutputStream()) {
                        out.flush(); // and close: the guest's nc ends with the connection
                    }
                } catch (Exception e) {
                    hostSha[0] = "failed: " + e;
                }
            });
            GuestRun guest = Guest.builder(daemon)
                    .timeout(Duration.ofSeconds(150))
                    .memoryMegabytes(512)
                    .script("dhcp4 >/dev/null\n" + GW
                            + "head -c " + size + " /dev/urandom > /tmp/up.bin\n"
                            + "mark SHA $(sha256sum /tmp/up.bin | cut -d' ' -f1)\n"
                            + "nc -w 10 $GW " + server.getLocalPort() + " < /tmp/up.bin; mark UP_RC $?\n")
                    .run();
            receiver.join(10_000);
            assertEquals(guest.marker("SHA"), hostSha[0], guest.consoleForMessage());
        }
    }
}
