package jpasst.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import jpasst.guest.vm.Guest;
import jpasst.guest.vm.GuestRun;
import jpasst.guest.vm.Transport;

/**
 * {@code --vm}: iperf3 in a real QEMU guest (TCG: no KVM here) through the daemon, booted by the
 * guest side's {@link Guest} (the end-to-end tests' guest: the host's kernel, busybox, iperf3
 * copied in), over the stream netdev or, for a daemon serving vhost-user, over vhost-user. The
 * guest takes a DHCP lease and runs {@code iperf3 -c GATEWAY} ({@code -R} for host → guest,
 * {@code -u -b 0 -l 1400} for UDP) against a server on the host's loopback. The guest's emulated
 * CPU is the bottleneck, so the throughput figures mostly measure the guest; the daemon's CPU
 * per GB is the daemon's own cost.
 */
final class Vm {
    private Vm() {}

    static final List<String> TESTS = List.of("up", "down", "udp");
    private static final Pattern LINE = Pattern.compile(
            "([0-9.]+) ([KMG]?)Bytes\\s+([0-9.]+) ([KMG]?)bits/sec.*(sender|receiver)");

    static void run(Compare.Running d, Results results, int seconds, boolean verbose) throws Exception {
        for (String t : TESTS) {
            try (Iperf3Server server = Iperf3Server.start()) {
                Proc.sleepMs(200);
                long cpu0 = Proc.cpuNanos(d.pid);
                List<String> lines = iperf(d, server.port, t, seconds);
                long cpu1 = Proc.cpuNanos(d.pid);
                double mbps = -1, bytes = -1;
                for (String line : lines) {
                    Matcher m = LINE.matcher(line);
                    if (!m.find() || !m.group(5).equals("receiver")) continue;
                    bytes = Double.parseDouble(m.group(1)) * binary(m.group(2));
                    mbps = Double.parseDouble(m.group(3)) * scale(m.group(4)) / 1e6;
                }
                String what = "iperf3 in a TCG guest: " + switch (t) {
                    case "up" -> "TCP guest→host";
                    case "down" -> "TCP host→guest";
                    default -> "UDP guest→host, 1400 B";
                };
                if (mbps < 0) {
                    System.out.println("  " + d.spec.name() + " vm-" + t + ": no iperf3 result\n" + String.join("\n", lines));
                    continue;
                }
                double cpu = (cpu1 - cpu0) / 1e9;
                results.add(d.spec.name(), new Results.Key("vm-" + t + ".mbps", what, "Mbit/s", true, 0), mbps);
                results.add(d.spec.name(), new Results.Key("vm-" + t + ".cpu_per_gb", "  daemon CPU per GB", "s/GB", false, 3),
                        bytes > 0 ? cpu / (bytes / 1e9) : Double.NaN);
                if (verbose) {
                    System.out.printf(Locale.ROOT, "  %-14s vm-%-10s %8.0f Mbit/s  daemon CPU %.2f s for %.2f GB%n",
                            d.spec.name(), t, mbps, cpu, bytes / 1e9);
                }
            }
        }
    }

    /**
     * Boots the guest on the daemon's socket and runs iperf3 {@code mode} ("up", "down", "udp")
     * for {@code seconds} against the server at {@code port}: iperf3's sender and receiver lines,
     * or the guest's console if there are none.
     */
    private static List<String> iperf(Compare.Running d, int port, String mode, int seconds) {
        String args = switch (mode) {
            case "up" -> "";
            case "down" -> " -R";
            case "udp" -> " -u -b 0 -l 1400";
            default -> throw new IllegalArgumentException(mode);
        };
        Guest.Builder b = Guest.builder(Path.of(d.socket))
                .hostProgram(Path.of("/usr/bin/iperf3"))
                .timeout(Duration.ofSeconds(seconds + 120L))
                .memoryMegabytes(512)
                .script("dhcp4\nGW=$(ip route | awk '/^default/ {print $3; exit}')\n"
                        + "iperf3 -c $GW -p " + port + " -t " + seconds + args + " -f m > /tmp/out 2>&1\n"
                        + "grep -E 'sender|receiver' /tmp/out | while read l; do mark IPERF \"$l\"; done\n"
                        + "tail -n 3 /tmp/out\n");
        if (d.spec.vhostUser()) b.transport(Transport.VHOST_USER);
        try {
            GuestRun run = b.run();
            List<String> lines = run.allMarkers("IPERF");
            return lines.isEmpty() ? List.of(run.consoleForMessage()) : lines;
        } catch (AssertionError e) {
            return List.of(e.getMessage());
        }
    }

    /** iperf3 counts bytes in binary units (MBytes = 2^20 bytes), bits in decimal ones. */
    private static double binary(String unit) {
        return switch (unit) {
            case "K" -> 1024.0;
            case "M" -> 1024.0 * 1024;
            case "G" -> 1024.0 * 1024 * 1024;
            default -> 1;
        };
    }

    private static double scale(String unit) {
        return switch (unit) {
            case "K" -> 1e3;
            case "M" -> 1e6;
            case "G" -> 1e9;
            default -> 1;
        };
    }
}
