package jpasst.e2e;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;

/**
 * {@code -p FILE} during a real guest run: once the daemon has ended (SIGQUIT, as Kata stops it),
 * {@code tcpdump -r FILE} must read the capture as Ethernet with snapshot length 65535 and show
 * the guest's DHCP exchange both ways: the requests from the guest's MAC and the daemon's
 * replies. The guest also pings the gateway, so ICMP echo shows up both ways too.
 */
class PcapCaptureTest {
    private static final Path TCPDUMP = Path.of("/usr/bin/tcpdump");

    @ParameterizedTest(name = "{0}")
    @MethodSource("jpasst.e2e.Target#all")
    void captureOfAGuestRunIsReadByTcpdump(Target target) throws Exception {
        assertTrue(Files.isExecutable(TCPDUMP), TCPDUMP + " is missing (apt-get install tcpdump)");
        // passt started as root writes the capture as nobody: a directory anyone may write to
        Path dir = Files.createTempDirectory("jpasst-pcap-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path pcap = dir.resolve("guest.pcap");
        try {
            GuestRun guest;
            String daemonText;
            try (Daemon daemon = Daemon.start(target, "-p", pcap.toString())) {
                guest = Guest.run(daemon,
                        "dhcp4 && mark PING $(ping -c 2 -W 2 $(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')"
                                + " >/dev/null 2>&1; echo $?)");
                assertTrue(daemon.signalAndAwaitEnd(Processes.SIGQUIT, Duration.ofSeconds(5)),
                        "daemon did not end on SIGQUIT\n" + daemon.describe());
                daemonText = daemon.describe();
            }
            String context = "\n" + daemonText + guest.consoleForMessage();
            assertEquals("bound", guest.optionalMarker("DHCP4_EVENT").orElse("none"), "guest lease" + context);
            assertTrue(Files.isRegularFile(pcap), "no capture file " + pcap + context);

            String[] out = tcpdump(pcap, "-n", "-e", "-r");
            String text = out[0], err = out[1];
            String all = "\n----- tcpdump -----\n" + text + "----- tcpdump stderr -----\n" + err + context;
            long dhcpRequests = text.lines().filter(l -> l.contains("BOOTP/DHCP, Request from 52:54:00:12:34:56")).count();
            long dhcpReplies = text.lines().filter(l -> l.contains("BOOTP/DHCP, Reply")).count();
            assertAll("tcpdump -r of the " + target + " capture",
                    () -> assertEquals("0", out[2], "tcpdump exit status" + all),
                    () -> assertTrue(err.contains("link-type EN10MB (Ethernet)"), "link type" + all),
                    () -> assertTrue(err.contains("snapshot length 65535"), "snaplen" + all),
                    () -> assertTrue(dhcpRequests >= 2, "DISCOVER and REQUEST from the guest" + all),
                    () -> assertTrue(dhcpReplies >= 2, "OFFER and ACK to the guest" + all),
                    () -> assertTrue(text.contains("ethertype ARP"), "ARP" + all),
                    () -> assertTrue(!guest.optionalMarker("PING").orElse("1").equals("0")
                            || (text.contains("ICMP echo request") && text.contains("ICMP echo reply")),
                            "ping to the gateway both ways" + all));
            if (target.isJpasst()) {
                assertTrue(text.lines().anyMatch(l -> l.contains("9a:55:9a:55:9a:55 > 52:54:00:12:34:56")
                        && l.contains("BOOTP/DHCP, Reply")), "replies from jpasst's MAC" + all);
            }
            // tcpdump checks every record: a truncated or misaligned record would end the read early
            List<String> frames = text.lines().filter(l -> !l.isBlank()).toList();
            assertTrue(frames.size() >= 6, "frames read: " + frames.size() + all);
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }

    /** {stdout, stderr, exit status} of {@code tcpdump ARGS FILE}. */
    static String[] tcpdump(Path file, String... args) throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>();
        command.add(TCPDUMP.toString());
        command.addAll(List.of(args));
        command.add(file.toString());
        Path err = Files.createTempFile("tcpdump", ".err");
        try {
            Process p = new ProcessBuilder(command).redirectError(err.toFile()).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("tcpdump did not finish in 30 s");
            }
            return new String[] {out, Files.readString(err), Integer.toString(p.exitValue())};
        } finally {
            Files.deleteIfExists(err);
        }
    }
}
