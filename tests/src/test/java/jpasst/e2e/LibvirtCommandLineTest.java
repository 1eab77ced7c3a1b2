package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.BindException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;

/**
 * The command line libvirt builds for {@code <interface type='user'><backend type='passt'/>}:
 * {@code passt --one-off --socket S --pid P --mtu 65520 --address A --netmask 24 --tcp-ports
 * H:22 --udp-ports U:5353}, and for {@code <interface type='vhostuser'><backend type='passt'/>}
 * the same after {@code --vhost-user} (libvirt's qemu_passt.c), with QEMU on a chardev socket
 * that reconnects every 5 s, as libvirt starts it; run exactly like that (no -f, no -s/-P added): the command must exit
 * 0 with the daemon's pid in P, a real guest must lease A/24 with MTU 65520, the host's TCP port
 * H must reach port 22 in the guest, the UDP port must be bound, and once QEMU is gone the daemon
 * must exit by itself (--one-off).
 *
 * <p>The TCP forward is checked against jpasst only: the reference passt (Debian 2023) crashes in
 * tcp_tap_conn_from_sock on these machines as soon as a host connection reaches a -t port.
 */
class LibvirtCommandLineTest {

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void libvirtsCommandLineLeasesTheGivenAddressForwardsPortsAndEndsWithTheGuest(Target target)
            throws Exception {
        HostNetwork.Ipv4 host = HostNetwork.ipv4();
        String address = neighbour(host);
        int tcpPort = TcpTransferTest.freePort(), donePort = TcpTransferTest.freePort();
        int udpPort = freeUdpPort();
        boolean forwardTcp = target.isJpasst();
        java.util.List<String> words = new java.util.ArrayList<>(target.transport().daemonOptions());
        words.addAll(java.util.List.of("--one-off", "--socket", Daemon.SOCKET, "--pid", Daemon.PID_FILE, "--mtu", "65520",
                "--address", address, "--netmask", "24",
                "--tcp-ports", tcpPort + ":22", "--tcp-ports", donePort + ":23",
                "--udp-ports", udpPort + ":5353"));
        try (Daemon daemon = Daemon.options(target).commandLine(words.toArray(String[]::new)).start()) {
            assertEquals(0, daemon.launcherExitCode(), daemon.describe());
            assertTrue(daemon.isRunning(), daemon.describe());
            assertTrue(daemon.isListening(), daemon.describe());
            assertThrows(BindException.class, () -> {
                try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), udpPort))) {
                    s.getLocalPort();
                }
            }, "the daemon holds UDP port " + udpPort + "\n" + daemon.describe());

            AtomicReference<String> fetched = new AtomicReference<>();
            Thread fetcher = new Thread(() -> fetch(tcpPort, donePort, fetched));
            if (forwardTcp) fetcher.start();
            String serve = forwardTcp
                    ? " && ((while :; do echo hello-from-guest-port-22 | nc -l -p 22; done) &) && nc -l -p 23 >/dev/null;"
                      + " mark SERVED $?"
                    : "";
            GuestRun guest;
            try {
                guest = Guest.builder(daemon).reconnectMs(5000)
                        .timeout(Duration.ofSeconds(120))
                        .script("dhcp4" + serve)
                        .run();
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "\nfetched: " + fetched.get() + "\n" + daemon.describe(), e);
            }
            if (forwardTcp) fetcher.join(30_000);
            String context = "\n" + daemon.describe() + guest.consoleForMessage();
            assertAll("libvirt's command line, " + target + context,
                    () -> assertEquals("bound", guest.optionalMarker("DHCP4_EVENT").orElse("none"), "lease"),
                    () -> assertEquals(address, guest.optionalMarker("DHCP4_IP").orElse(""), "--address"),
                    () -> assertEquals("24", guest.optionalMarker("DHCP4_PREFIX").orElse(""), "--netmask"),
                    () -> assertEquals("65520", guest.optionalMarker("DHCP4_MTU").orElse(""), "--mtu"),
                    () -> assertEquals(host.gateway().getHostAddress(), guest.optionalMarker("DHCP4_ROUTER").orElse(""),
                            "router"),
                    () -> {
                        if (forwardTcp) assertEquals("hello-from-guest-port-22", fetched.get(), "--tcp-ports " + tcpPort + ":22");
                    });
            // QEMU is gone, so is the client: --one-off ends the daemon
            assertTrue(Processes.awaitEnd(daemon.pid(), Duration.ofSeconds(10)),
                    "daemon still running after its one client left" + context);
        }
    }

    /** An address in the host's /24 that is neither the host's nor the gateway's. */
    static String neighbour(HostNetwork.Ipv4 host) {
        byte[] a = host.address().getAddress();
        byte[] gw = host.gateway().getAddress();
        for (int last = 100; last < 250; last++) {
            if (last != (a[3] & 0xff) && last != (gw[3] & 0xff)) {
                return (a[0] & 0xff) + "." + (a[1] & 0xff) + "." + (a[2] & 0xff) + "." + last;
            }
        }
        throw new AssertionError("no free address next to " + host.address());
    }

    /** Reads what the guest's port 22 says through the forward, then releases the guest's script. */
    private static void fetch(int port, int donePort, AtomicReference<String> result) {
        long deadline = System.nanoTime() + 100_000_000_000L;
        while (System.nanoTime() < deadline && result.get() == null) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000);
                s.setSoTimeout(10_000);
                String line = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII))
                        .readLine();
                if (line != null && !line.isBlank()) {
                    line = line.strip();
                    result.set(line);
                    TcpTransferTest.done(donePort);
                    return;
                }
            } catch (Exception e) {
                // the guest is not listening yet
            }
            try {
                Thread.sleep(300);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private static int freeUdpPort() throws Exception {
        try (DatagramSocket s = new DatagramSocket(0)) {
            return s.getLocalPort();
        }
    }
}
