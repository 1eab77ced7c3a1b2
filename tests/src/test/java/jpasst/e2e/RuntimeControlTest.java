package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import jpasst.glue.DaemonCommand;
import jpasst.glue.PasstControl;
import jpasst.glue.PasstEndpoint;
import jpasst.guest.vm.Guest;
import jpasst.guest.vm.RunningGuest;

/**
 * Runtime control of a live daemon (issue 15) with a real guest: forwards added, removed and
 * replaced while the guest runs an echo server ({@code ./passt-ctl}, the CLI, against a daemon
 * started as Kata starts passt), and the glue's endpoint reading the guest's flow and the counters
 * through its control client. The guest's script is the barrier: it prints READY once its server
 * listens and ends when the host connects to its "done" port.
 */
class RuntimeControlTest {
    /** An echo server on guest port 8080 (busybox nc, persistent), READY once it listens, then wait for "done". */
    static final String ECHO_GUEST = "dhcp4 >/dev/null\n"
            + "nc -ll -p 8080 -e /bin/cat &\n"
            + "while ! netstat -ltn | grep -q ':8080 '; do sleep 0.1; done\n"
            + "mark READY 1\n"
            + "nc -l -p 8081 >/dev/null\n"
            + "mark END 1\n";

    static int freePort() throws IOException {
        return TcpTransferTest.freePort();
    }

    /** {@code ./passt-ctl -c ctl ARGS}: exit status and output (standard error after standard output). */
    record Ctl(int status, String out) {}

    static Ctl ctl(Path control, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("jpasst.root")).resolve("passt-ctl").toString(),
                "-c", control.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Ctl(p.waitFor(), out);
    }

    /** A line to the guest's echo server through host port {@code port} comes back. */
    static String echo(Socket s, String line) throws IOException {
        PrintWriter w = new PrintWriter(s.getOutputStream(), true, StandardCharsets.US_ASCII);
        w.println(line);
        return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII)).readLine();
    }

    static Socket open(int port) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        s.setSoTimeout(20_000);
        return s;
    }

    static boolean refused(int port) {
        try (Socket s = open(port)) {
            return false;
        } catch (ConnectException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static boolean free(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress("0.0.0.0", port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void forwardAddedAtRunTimeReachesTheGuestAndRemovedFreesThePortWhileItsConnectionFinishes(@TempDir Path dir) throws Exception {
        Path control = dir.resolve("ctl");
        int done = freePort(), port = freePort();
        try (Daemon daemon = Daemon.start(Target.JPASST, "-c", control.toString(), "-t", done + ":8081");
             RunningGuest guest = Guest.builder(daemon).timeout(Duration.ofSeconds(120)).script(ECHO_GUEST).start()) {
            guest.awaitMarker("READY", Duration.ofSeconds(90));
            assertTrue(refused(port), "nothing on the port yet");

            Ctl add = ctl(control, "forward", "add", "-t", port + ":8080");
            assertEquals(0, add.status(), add.out());
            Ctl list = ctl(control, "forward", "list");
            assertTrue(list.out().contains("tcp    " + port + ":8080"), list.out());
            try (Socket held = open(port)) {
                assertEquals("through the new forward", echo(held, "through the new forward"), guest.console());

                Ctl remove = ctl(control, "forward", "remove", "-t", Integer.toString(port));
                assertEquals(0, remove.status(), remove.out());
                assertTrue(refused(port), "a new connection to the removed forward is refused");
                assertTrue(free(port), "the host port is free");
                assertEquals("the old connection finishes", echo(held, "the old connection finishes"), guest.console());
            }
            Ctl flows = ctl(control, "--json", "flows", "tcp");
            assertEquals(0, flows.status(), flows.out());
            TcpTransferTest.done(done);
            assertEquals("1", guest.awaitMarker("END", Duration.ofSeconds(30)));
            assertTrue(daemon.isRunning());
        }
    }

    @Test
    void replaceThatFailsHalfWayLeavesTheOldForwardsWorking(@TempDir Path dir) throws Exception {
        Path control = dir.resolve("ctl");
        int done = freePort(), old = freePort(), fresh = freePort();
        try (Daemon daemon = Daemon.start(Target.JPASST, "-c", control.toString(), "-t", done + ":8081",
                "-t", old + ":8080");
             RunningGuest guest = Guest.builder(daemon).timeout(Duration.ofSeconds(120)).script(ECHO_GUEST).start();
             ServerSocket taken = new ServerSocket()) {
            guest.awaitMarker("READY", Duration.ofSeconds(90));
            taken.bind(new InetSocketAddress("0.0.0.0", 0));
            int busy = taken.getLocalPort();
            Ctl replace = ctl(control, "forward", "replace", "-t", done + ":8081", "-t", old + ":8080",
                    "-t", fresh + ":8080", "-t", busy + ":8080");
            assertEquals(1, replace.status(), replace.out());
            assertTrue(replace.out().contains("Failed to bind TCP port " + busy), replace.out());
            Ctl list = ctl(control, "--json", "forward", "list");
            assertTrue(list.out().contains("\"spec\":\"" + old + ":8080\"") && !list.out().contains(Integer.toString(fresh)),
                    list.out());
            assertTrue(free(fresh), "what the failed replace bound is closed again");
            try (Socket s = open(old)) {
                assertEquals("old set works", echo(s, "old set works"), guest.console());
            }
            TcpTransferTest.done(done);
            assertEquals("1", guest.awaitMarker("END", Duration.ofSeconds(30)));
        }
    }

    @Test
    void endpointsControlClientSeesTheGuestItsFlowAndTheCounters() throws Exception {
        int done = freePort(), port = freePort();
        PasstEndpoint.Options options = new PasstEndpoint.Options(DaemonCommand.jpasstJar(Path.of(System.getProperty("jpasst.jar"))))
                .passtOptions(List.of("-t", done + ":8081")).controlSocket();
        try (PasstEndpoint endpoint = PasstEndpoint.start(options);
             PasstControl control = endpoint.control();
             RunningGuest guest = Guest.builder(endpoint.socketPath()).timeout(Duration.ofSeconds(120)).script(ECHO_GUEST).start()) {
            guest.awaitMarker("READY", Duration.ofSeconds(90));
            Map<String, Object> health = control.health();
            assertEquals(Boolean.TRUE, health.get("connected"), health.toString());
            assertNotNull(((Map<?, ?>) health.get("guest")).get("mac"), health.toString());
            control.addForwards(List.of(port + ":8080"), List.of());
            try (Socket s = open(port)) {
                assertEquals("hello", echo(s, "hello"));
                assertEquals("x", echo(s, "x")); // (its segment acknowledges the first answer)
                List<?> flows = (List<?>) control.flows().get("flows");
                Map<?, ?> f = flows.stream().map(o -> (Map<?, ?>) o).filter(m -> "inbound".equals(m.get("direction"))
                        && String.valueOf(m.get("guest")).endsWith(":8080")).findFirst().orElseThrow(
                                () -> new AssertionError("no inbound flow to guest port 8080: " + flows));
                assertEquals("tcp", f.get("proto"));
                assertTrue(String.valueOf(f.get("state")).contains("ESTABLISHED"), f.toString());
                assertEquals(8L, f.get("to_guest_bytes"), "\"hello\\nx\\n\" went to the guest: " + f);
                assertTrue((Long) f.get("to_host_bytes") >= 6, "and came back, acknowledged: " + f);
            }
            assertEquals(HostNetwork.ipv4().address().getHostAddress(), ((Map<?, ?>) control.health().get("guest")).get("ipv4"),
                    "the address the guest's frames came from");
            Map<String, Object> stats = control.stats();
            assertTrue((Long) ((Map<?, ?>) stats.get("tcp")).get("accepted") >= 1, stats.toString());
            assertTrue((Long) ((Map<?, ?>) stats.get("link")).get("frames_in") > 0, stats.toString());
            PasstControl.Refused r = assertThrows(PasstControl.Refused.class, () -> control.addForwards(List.of("0"), List.of()));
            assertTrue(r.getMessage().contains("Invalid port specifier"), r.getMessage());
            TcpTransferTest.done(done);
            assertEquals("1", guest.awaitMarker("END", Duration.ofSeconds(30)));
        }
    }
}
