package jpasst.bench;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code --vm}: iperf3 in a real QEMU guest (TCG: no KVM here) through the daemon, booted by the
 * end-to-end tests' harness ({@code jpasst.e2e.VmIperf} from {@code tests/target/test-classes},
 * run as a child JVM). The guest's emulated CPU is the bottleneck, so the throughput figures
 * mostly measure the guest; the daemon's CPU per GB is the daemon's own cost.
 */
final class Vm {
    private Vm() {}

    static final List<String> TESTS = List.of("up", "down", "udp");
    private static final Pattern LINE = Pattern.compile(
            "([0-9.]+) ([KMG]?)Bytes\\s+([0-9.]+) ([KMG]?)bits/sec.*(sender|receiver)");

    static void run(Compare.Running d, Results results, int seconds, boolean verbose) throws Exception {
        String root = System.getProperty("jpasst.root", ".");
        Path classes = Path.of(root, "tests/target/test-classes");
        if (!Files.isDirectory(classes.resolve("jpasst/e2e"))) {
            throw new IllegalStateException("--vm needs the tests' classes: mvn -pl tests test-compile");
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        for (String t : TESTS) {
            try (Iperf3Server server = Iperf3Server.start()) {
                GuestStack.sleepMs(200);
                long cpu0 = Proc.cpuNanos(d.pid);
                Process vm = new ProcessBuilder(java, "-Djpasst.root=" + root, "-cp", classes.toString(),
                        "jpasst.e2e.VmIperf", d.socket, Integer.toString(server.port), t, Integer.toString(seconds))
                        .redirectErrorStream(true).start();
                String out = new String(vm.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                vm.waitFor(seconds + 180L, TimeUnit.SECONDS);
                long cpu1 = Proc.cpuNanos(d.pid);
                double mbps = -1, bytes = -1;
                for (String line : out.split("\n")) {
                    if (!line.startsWith("VMIPERF")) continue;
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
                    System.out.println("  " + d.spec.name() + " vm-" + t + ": no iperf3 result\n" + out);
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
