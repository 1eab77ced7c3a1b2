package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import jpasst.glue.DaemonCommand;
import jpasst.glue.PasstEndpoint;
import jpasst.glue.QemuNetworkArgs;
import jpasst.glue.QemuVersion;
import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;

/**
 * passt-qemu-glue against the real installed QEMU: the arguments it produces, and its launcher,
 * boot a guest that gets its DHCP lease, with either daemon behind the same endpoint code.
 */
class QemuGlueBootsGuestTest {
    static final String QEMU = "/usr/bin/qemu-system-x86_64";

    @TempDir
    Path dir;

    static DaemonCommand daemon(String which) {
        return which.equals("jpasst")
                ? DaemonCommand.jpasstJar(Path.of(System.getProperty("jpasst.jar")))
                : DaemonCommand.passtBinary("/usr/bin/passt");
    }

    private static List<String> runtimeOptions(String which) {
        // the 2023 passt becomes nobody before writing its pid file: keep it root here
        return which.equals("jpasst") ? List.of() : List.of("--runas", "0");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"jpasst", "reference"})
    void endpointArgumentsForTheInstalledQemuGiveTheGuestItsLease(String which) throws Exception {
        HostNetwork.Ipv4 host = HostNetwork.ipv4();
        try (PasstEndpoint endpoint = PasstEndpoint.start(daemon(which), runtimeOptions(which))) {
            List<String> args = endpoint.qemuArguments(QemuVersion.detect(QEMU));
            assertTrue(String.join(" ", args).contains("stream"), "QEMU 7.2+ gets the stream netdev: " + args);
            GuestRun guest = Guest.builder(endpoint.socketPath()).networkArguments(args).script("dhcp4").run();
            assertEquals(host.address().getHostAddress(), guest.marker("DHCP4_IP"), guest.consoleForMessage());
            assertTrue(endpoint.isAlive());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"jpasst", "reference"})
    void jsonNetdevFormAlsoBootsAGuestThatGetsItsLease(String which) throws Exception {
        HostNetwork.Ipv4 host = HostNetwork.ipv4();
        try (PasstEndpoint endpoint = PasstEndpoint.start(daemon(which), runtimeOptions(which))) {
            QemuNetworkArgs args = endpoint.qemuArgs(QemuVersion.detect(QEMU)).json(true).build();
            assertTrue(args.arguments().stream().anyMatch(a -> a.startsWith("{")), args.shellLine());
            GuestRun guest = Guest.builder(endpoint.socketPath()).networkArguments(args.arguments())
                    .script("dhcp4").run();
            assertEquals(host.address().getHostAddress(), guest.marker("DHCP4_IP"), guest.consoleForMessage());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"jpasst", "reference"})
    void launcherRunsTheGuestAndStopsTheDaemonWhenQemuExits(String which) throws Exception {
        HostNetwork.Ipv4 host = HostNetwork.ipv4();
        Path root = Path.of(System.getProperty("jpasst.root")).toRealPath();
        Path state = dir.resolve("endpoint.json");
        List<String> launcher = new ArrayList<>(List.of(root.resolve("passt-qemu").toString(), "run",
                "--daemon", which.equals("jpasst") ? System.getProperty("jpasst.jar") : "/usr/bin/passt",
                "--state", state.toString()));
        launcher.addAll(runtimeOptions(which));
        launcher.add("--");
        GuestRun guest = Guest.builder(dir.resolve("unused.socket")).launchVia(launcher)
                .timeout(Duration.ofSeconds(90))
                .script("dhcp4; cat /proc/net/dev > /dev/null").run();
        assertEquals(host.address().getHostAddress(), guest.marker("DHCP4_IP"), guest.consoleForMessage());
        assertFalse(Files.exists(state), "state file removed once QEMU is gone");
    }

    /**
     * {@code ./passt-qemu run --vhost-user -- qemu-system-x86_64 ...}: jpasst's own vhost-user
     * back-end, the guest's RAM (QEMU's -m) in a shared memfd, the chardev and netdev added by the
     * launcher; and {@code ./passt-qemu args --vhost-user} prints those arguments for a daemon that
     * runs, which boot a guest too.
     */
    @Test
    void vhostUserThroughTheLauncherAndThroughArgsGivesTheGuestItsLease() throws Exception {
        HostNetwork.Ipv4 host = HostNetwork.ipv4();
        Path root = Path.of(System.getProperty("jpasst.root")).toRealPath();
        List<String> launcher = List.of(root.resolve("passt-qemu").toString(), "run", "--vhost-user",
                "--daemon", System.getProperty("jpasst.jar"), "--");
        GuestRun viaRun = Guest.builder(dir.resolve("unused.socket")).launchVia(launcher)
                .timeout(Duration.ofSeconds(90)).script("dhcp4").run();
        assertEquals(host.address().getHostAddress(), viaRun.marker("DHCP4_IP"), viaRun.consoleForMessage());

        try (Daemon daemon = Daemon.start(Target.JPASST_VHOST_USER)) {
            Process args = new ProcessBuilder(root.resolve("passt-qemu").toString(), "args", "--vhost-user",
                    "--memory", "256M", "-s", daemon.socket().toString()).redirectErrorStream(true).start();
            String line = new String(args.getInputStream().readAllBytes()).strip();
            assertEquals(0, args.waitFor(), line);
            for (String expected : new String[] {"-chardev socket,id=", "path=" + daemon.socket(), "-netdev vhost-user,id=",
                    "-object memory-backend-memfd,id=", "share=on,size=256M", "-numa node,memdev="}) {
                assertTrue(line.contains(expected), expected + " in: " + line);
            }
            GuestRun viaArgs = Guest.builder(daemon).networkArguments(List.of(line.split(" "))).script("dhcp4").run();
            assertEquals(host.address().getHostAddress(), viaArgs.marker("DHCP4_IP"), daemon.describe() + viaArgs.consoleForMessage());
        }
    }

    /** The form for QEMU before 7.2: the launcher connects the socket and hands QEMU the fd. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"jpasst", "reference"})
    void legacySocketFdFormThroughTheLauncherGivesTheGuestItsLease(String which) throws Exception {
        HostNetwork.Ipv4 host = HostNetwork.ipv4();
        Path root = Path.of(System.getProperty("jpasst.root")).toRealPath();
        List<String> launcher = new ArrayList<>(List.of(root.resolve("passt-qemu").toString(), "run",
                "--socket-fd", "--daemon",
                which.equals("jpasst") ? System.getProperty("jpasst.jar") : "/usr/bin/passt"));
        launcher.addAll(runtimeOptions(which));
        launcher.add("--");
        GuestRun guest = Guest.builder(dir.resolve("unused.socket")).launchVia(launcher)
                .timeout(Duration.ofSeconds(90)).script("dhcp4").run();
        assertEquals(host.address().getHostAddress(), guest.marker("DHCP4_IP"), guest.consoleForMessage());
    }
}
