package jpasst.e2e;

import java.nio.file.Path;
import java.time.Duration;

/**
 * One iperf3 run from a real (TCG) guest through a daemon that is already listening, for
 * {@code benchmarks/compare --vm}: boots the {@link Guest} on {@code SOCKET}, takes a DHCP lease
 * and runs {@code iperf3 -c GATEWAY -p PORT -t SECONDS} (with {@code -R} for host → guest, or
 * {@code -u -b 0 -l 1400} for UDP) against a server the caller started on the host's loopback.
 * Prints iperf3's sender and receiver lines as {@code VMIPERF <line>}, and exits 1 if there are
 * none. Usage (test classes on the class path, {@code -Djpasst.root=REPO}):
 * {@code VmIperf SOCKET PORT up|down|udp SECONDS [stream|vhost-user]} (the daemon's guest
 * transport, default the stream socket).
 */
public final class VmIperf {
    private VmIperf() {
    }

    public static void main(String[] args) {
        if (args.length != 4 && args.length != 5) {
            System.err.println("usage: VmIperf SOCKET PORT up|down|udp SECONDS [stream|vhost-user]");
            System.exit(2);
        }
        Transport transport = args.length == 5 && args[4].equals("vhost-user") ? Transport.VHOST_USER : Transport.STREAM;
        String mode = switch (args[2]) {
            case "up" -> "";
            case "down" -> " -R";
            case "udp" -> " -u -b 0 -l 1400";
            default -> throw new IllegalArgumentException(args[2]);
        };
        int seconds = Integer.parseInt(args[3]);
        GuestRun run = Guest.builder(Path.of(args[0])).transport(transport)
                .hostProgram(Path.of("/usr/bin/iperf3"))
                .timeout(Duration.ofSeconds(seconds + 120L))
                .memoryMegabytes(512)
                .script("dhcp4\nGW=$(ip route | awk '/^default/ {print $3; exit}')\n"
                        + "iperf3 -c $GW -p " + args[1] + " -t " + seconds + mode + " -f m > /tmp/out 2>&1\n"
                        + "grep -E 'sender|receiver' /tmp/out | while read l; do mark IPERF \"$l\"; done\n"
                        + "tail -n 3 /tmp/out\n")
                .run();
        boolean any = false;
        for (String line : run.allMarkers("IPERF")) {
            System.out.println("VMIPERF " + line);
            any = true;
        }
        if (!any) {
            System.out.println(run.consoleForMessage());
            System.exit(1);
        }
        System.exit(0);
    }
}
