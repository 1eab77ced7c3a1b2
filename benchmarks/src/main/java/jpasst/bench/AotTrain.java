package jpasst.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import jpasst.Daemon;
import jpasst.guest.GuestStack;

/**
 * Makes passt.jar's AOT cache ({@code passt.aot} next to it; JEP 483/514/515): a training run of
 * the daemon, with its own JVM flags and {@code -XX:AOTCacheOutput}, in the foreground, driven by
 * the synthetic guest ({@link GuestStack}) through what a VM does first and most (DHCP, ARP, TCP
 * both ways at both MTUs, request/response, connections, UDP), then ended with SIGTERM; the JVM
 * writes the cache as it exits. The daemon and the launcher ({@code java -XX:AOTCache=passt.aot
 * -jar passt.jar}) then start with those classes loaded and linked and with the hot methods'
 * profiles. Run by the benchmarks module's {@code package} phase; {@code -Djpasst.aot.skip}
 * skips it. A failure leaves no cache and says why, but fails nothing: the cache is an
 * optimization.
 *
 * <p>Usage: {@code AotTrain PATH/TO/passt.jar}.
 */
public final class AotTrain {
    private AotTrain() {}

    public static void main(String[] args) throws Exception {
        Path jar = Path.of(args[0]).toAbsolutePath();
        Path cache = jar.resolveSibling(Daemon.AOT_CACHE);
        Files.deleteIfExists(cache);
        try {
            train(jar, cache);
        } catch (Exception e) {
            System.err.println("AotTrain: no AOT cache made: " + e);
        }
        System.exit(0);
    }

    private static void train(Path jar, Path cache) throws Exception {
        // The daemon runs as the builder (--runas, which keeps root for root, as passt's does), so
        // the cache it writes is the builder's and nobody else's: started as root it would become
        // nobody, and a cache nobody could rewrite is one the launcher refuses (Daemon.trusted)
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "jpaot",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        try {
            String socket = dir.resolve("s").toString();
            Path out = dir.resolve("passt.aot");
            String java = ProcessHandle.current().info().command().orElse("java");
            Path self = Path.of("/proc/self");
            String runAs = Files.getAttribute(self, "unix:uid") + ":" + Files.getAttribute(self, "unix:gid");
            List<String> cmd = new ArrayList<>(List.of(java));
            cmd.addAll(Daemon.jvmFlags(false));
            cmd.addAll(List.of("-XX:AOTCacheOutput=" + out, "-jar", jar.toString(), "-f", "-q", "--runas", runAs,
                    "-s", socket));
            long t0 = System.nanoTime();
            Process daemon = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("log").toFile()).start();
            try (HostServers host = new HostServers()) {
                for (int i = 0; i < 500 && !Proc.listening(socket); i++) Proc.sleepMs(10);
                try (GuestStack g = GuestStack.stream(socket)) {
                    if (!g.dhcp(10_000) || !g.arpGateway(5_000)) throw new IllegalStateException("no DHCP/ARP answer");
                    Scenarios sc = new Scenarios(g, host, daemon.pid(), 0.7, 0.3, new Results(), "training", false);
                    for (String s : Scenarios.ALL) sc.run(s);
                }
            } finally {
                daemon.destroy(); // SIGTERM: the daemon exits, its JVM writes the cache
                if (!daemon.waitFor(120, TimeUnit.SECONDS)) daemon.destroyForcibly();
            }
            if (!Files.isRegularFile(out)) {
                throw new IllegalStateException("the training JVM wrote no cache; its output:\n"
                        + Files.readString(dir.resolve("log")));
            }
            Files.move(out, cache, StandardCopyOption.REPLACE_EXISTING);
            Files.setPosixFilePermissions(cache, PosixFilePermissions.fromString("rw-r--r--")); // whatever the umask
            System.out.printf("AotTrain: %s (%d MB) in %.1f s%n", cache, Files.size(cache) >> 20,
                    (System.nanoTime() - t0) / 1e9);
        } finally {
            Compare.deleteTree(dir); // a failed run's too: what it printed is in the exception
        }
    }
}
