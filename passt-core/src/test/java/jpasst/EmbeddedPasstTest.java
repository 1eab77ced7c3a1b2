package jpasst;

import static jpasst.guest.GuestTcp.RST;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import jpasst.control.ControlClient;
import jpasst.guest.GuestLink;
import jpasst.guest.GuestTcp;

/**
 * The embeddable API as a program would use it: a daemon started in this JVM with passt's
 * options (the host's real network configuration, as the command would read it), a guest on its
 * socket, its events, forwards added through it, and stopped: its sockets gone.
 */
class EmbeddedPasstTest {
    @Test
    void startedInProcessItServesAGuestTellsItsEventsTakesForwardsAndStops(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("vm.socket");
        int host;
        try (ServerSocket s = new ServerSocket(0)) {
            host = s.getLocalPort();
        }
        EmbeddedPasst passt = EmbeddedPasst.start("-s", socket.toString(), "-4", "--no-udp");
        Path control = passt.controlPath();
        try {
            assertEquals(socket.toString(), passt.socketPath());
            assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(control.getParent())), "a private directory for the control socket");
            LinkedBlockingQueue<Map<String, Object>> events = new LinkedBlockingQueue<>();
            passt.onEvent(events::add);
            assertEquals(Boolean.FALSE, passt.control().health().get("connected"));
            try (GuestLink link = new GuestLink(socket)) {
                Map<String, Object> e = events.poll(5, TimeUnit.SECONDS);
                assertNotNull(e, "no event for the guest");
                assertEquals(Map.of("v", 1L, "event", "guest", "connected", true, "mac", jpasst.control.Json.NULL), e);
                GuestTcp g = new GuestTcp(link);
                g.link().send(g.conn4(1, 1).frame(0, 0, RST, 0, new byte[0], new byte[0]));
                passt.control().addForwards(List.of(host + ":7777"), List.of());
                assertEquals("forwards", events.poll(5, TimeUnit.SECONDS).get("event"));
                try (Socket s = new Socket("127.0.0.1", host)) {
                    assertNotNull(g.acceptSyn(7777, 3000), "the forward added through the API reaches the guest");
                }
            }
            assertEquals(Boolean.FALSE, events.poll(5, TimeUnit.SECONDS).get("connected"));
        } finally {
            passt.close();
        }
        assertFalse(passt.isRunning());
        assertFalse(Files.exists(control), "its private control socket is gone");
        assertThrows(java.net.ConnectException.class, () -> new Socket("127.0.0.1", host).close(), "its forward is closed");
    }

    @Test
    void optionsThatBelongToTheWholeProcessAreRefused() {
        assertEquals("--runas is not for an embedded daemon",
                assertThrows(IllegalArgumentException.class, () -> EmbeddedPasst.start("--runas", "nobody")).getMessage());
        assertEquals("Invalid MTU: x", assertThrows(IllegalArgumentException.class, () -> EmbeddedPasst.start("-m", "x")).getMessage());
    }
}
