package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;

import com.sun.net.httpserver.HttpServer;

import jpasst.guest.vhost.VhostUserFrontEnd;
import jpasst.guest.vhost.Wire;
import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;
import jpasst.guest.vm.RunningGuest;

/**
 * What only vhost-user has: front-ends that come and go on one daemon process, QEMU among them.
 *
 * <p>A hostile front-end (the one of synthetic-guest, breaking the protocol message by message
 * and ring by ring, vanishing in the middle of the handshake, truncating the guest memory it
 * shared) against a real daemon process, again and again: each is reset or let go, and then a
 * real QEMU guest on the same daemon gets its lease and a file intact, and the daemon is back to
 * the descriptors it had before the first front-end came.
 *
 * <p>QEMU with {@code -chardev socket,...,reconnect-ms=} (libvirt's way) against a daemon that is
 * stopped and started again on the same socket while the guest runs: QEMU connects to the new
 * daemon and replays the whole set-up (the rings from where the guest is), and the guest, which
 * kept its address, is online again.
 */
class VhostUserFrontEndsTest {
    static String sha256(byte[] b) throws Exception {
        return TcpTransferTest.sha256(b);
    }

    static byte[] state(int index, int num) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(index).putInt(num).array();
    }

    interface Hostile {
        void act(VhostUserFrontEnd fe) throws Exception;
    }

    /** {@code hostile} on a front-end (set up as QEMU does, rings running if {@code started}); true if the daemon closed it. */
    private static boolean reset(Path socket, boolean started, Hostile hostile) throws Exception {
        try (VhostUserFrontEnd fe = new VhostUserFrontEnd()) {
            fe.connect(socket.toString());
            if (started) fe.start();
            hostile.act(fe);
            return fe.closedByBackEnd(5000);
        }
    }

    /** An HTTP server on the host's loopback serving {@code content} at {@code path} while {@code open}, 404 before. */
    private static HttpServer serve(String path, byte[] content, AtomicBoolean open) throws IOException {
        HttpServer http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        serveAlso(http, path, content, open);
        http.start();
        return http;
    }

    private static void serveAlso(HttpServer http, String path, byte[] content, AtomicBoolean open) {
        http.createContext(path, ex -> {
            if (!open.get()) {
                ex.sendResponseHeaders(404, -1);
                ex.close();
                return;
            }
            ex.sendResponseHeaders(200, content.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(content);
            }
        });
    }

    private static final String GATEWAY = "GW=$(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')";

    @Test
    void hostileFrontEndsLeaveTheDaemonServingARealGuest() throws Exception {
        byte[] file = TcpTransferTest.random(2 << 20, 12);
        HttpServer http = serve("/file.bin", file, new AtomicBoolean(true));
        try (Daemon daemon = Daemon.start(Target.JPASST_VHOST_USER)) {
            assertTrue(daemon.awaitServing(Duration.ofSeconds(30)), daemon.describe());
            long fdsBefore = GuestFaultTest.fds(daemon.pid());
            Path s = daemon.socket();
            Hostile[] breaches = {
                fe -> fe.sendRaw(Wire.SET_VRING_NUM, 1, new byte[12], 12),         // a payload of the wrong size
                fe -> fe.sendRaw(Wire.SET_VRING_NUM, 1, state(0, 1000), 8),        // not a power of two
                fe -> fe.sendRaw(Wire.GET_FEATURES, 3, new byte[0], 0),            // another protocol version
                fe -> fe.sendRaw(Wire.SET_PROTOCOL_FEATURES, 1, new byte[8], 8000), // more bytes announced than sent
                fe -> {
                    fe.ring(Wire.TX).rawAvail(3000);                                 // a head past the ring
                    fe.kick(Wire.TX);
                },
                fe -> {
                    fe.ring(Wire.TX).rawAvailIndex(fe.ring(Wire.TX).availIndex() + 5000); // the index runs ahead
                    fe.kickRaw(Wire.TX);
                },
                fe -> {
                    fe.send(TcpTransferTest.random(100, 1));
                    fe.ring(Wire.TX).publish();
                    fe.ram().shrinkFile(0);                                          // its memory vanishes
                    fe.kickRaw(Wire.TX);
                },
            };
            for (int i = 0; i < breaches.length; i++) {
                boolean started = i >= 4;
                assertTrue(reset(s, started, breaches[i]), "breach " + i + " did not reset the connection\n" + daemon.describe());
                assertTrue(daemon.isRunning(), "breach " + i + "\n" + daemon.describe());
            }
            try (VhostUserFrontEnd fe = new VhostUserFrontEnd()) { // gone in the middle of the handshake
                fe.connectRaw(s.toString());
                fe.sendRaw(Wire.GET_FEATURES, 1, new byte[0], 0);
            }
            GuestRun guest = Guest.builder(daemon)
                    .timeout(Duration.ofSeconds(90))
                    .script("dhcp4 >/dev/null && " + GATEWAY + " && mark SHA $(wget -q -O - http://$GW:"
                            + http.getAddress().getPort() + "/file.bin | sha256sum | cut -d' ' -f1)")
                    .run();
            assertEquals(sha256(file), guest.marker("SHA"), daemon.describe() + guest.consoleForMessage());
            assertEquals(fdsBefore, GuestFaultTest.awaitFds(daemon.pid(), fdsBefore, Duration.ofSeconds(15)),
                    "the daemon's descriptors before the first front-end and after the last\n" + daemon.describe());
            assertTrue(daemon.isRunning(), daemon.describe());
        } finally {
            http.stop(0);
        }
    }

    @Test
    void qemuReconnectsToADaemonStartedAgainAndTheGuestIsOnlineAgain() throws Exception {
        byte[] first = TcpTransferTest.random(1 << 20, 21), second = TcpTransferTest.random(1 << 20, 22);
        AtomicBoolean secondOpen = new AtomicBoolean();
        HttpServer http = serve("/first", first, new AtomicBoolean(true));
        serveAlso(http, "/second", second, secondOpen);
        String url = "http://$GW:" + http.getAddress().getPort();
        Daemon before = Daemon.start(Target.JPASST_VHOST_USER);
        Daemon after = null;
        try (RunningGuest guest = Guest.builder(before).reconnectMs(500)
                .script("dhcp4 >/dev/null && " + GATEWAY + "\n"
                        + "mark FIRST $(wget -q -O - " + url + "/first | sha256sum | cut -d' ' -f1)\n"
                        + "i=0; while [ $i -lt 240 ]; do\n"
                        // (busybox's wget -T crashes: its own timeout instead)
                        + "  R=$(timeout 5 wget -q -O /tmp/second " + url + "/second && sha256sum < /tmp/second | cut -d' ' -f1)\n"
                        + "  [ -n \"$R\" ] && break; i=$((i+1)); sleep 0.5\n"
                        + "done\n"
                        + "mark SECOND \"$R\"\n")
                .start()) {
            assertEquals(sha256(first), guest.awaitMarker("FIRST", Duration.ofSeconds(60)), before.describe());
            // the daemon goes; one is started again on the same socket, as a supervisor would
            assertTrue(before.signalAndAwaitEnd(Processes.SIGTERM, Duration.ofSeconds(10)), before.describe());
            after = Daemon.options(Target.JPASST_VHOST_USER)
                    .commandLine("--vhost-user", "-s", before.socket().toString(), "-P", Daemon.PID_FILE).start();
            secondOpen.set(true);
            GuestRun run = guest.awaitExit(Duration.ofSeconds(150));
            assertEquals(sha256(second), run.marker("SECOND"), "through the daemon started again\n" + after.describe()
                    + run.consoleForMessage());
        } finally {
            if (after != null) after.close();
            before.close();
            http.stop(0);
        }
    }
}
