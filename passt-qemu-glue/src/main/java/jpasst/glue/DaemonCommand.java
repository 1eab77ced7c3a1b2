package jpasst.glue;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * How to run a passt-compatible daemon: the words before its options. Either our jar
 * ({@code java -jar passt.jar}, with this very JVM's java, which is JDK 25 or later since this code
 * runs on it) or any passt binary. The endpoint appends passt options to it, so both must accept
 * passt's command line.
 */
public record DaemonCommand(List<String> command) {

    public DaemonCommand {
        if (command.isEmpty()) {
            throw new IllegalArgumentException("empty daemon command");
        }
        command = List.copyOf(command);
    }

    public static DaemonCommand of(String... words) {
        return new DaemonCommand(List.of(words));
    }

    /** {@code java -jar JAR} with the java of the running JVM. */
    public static DaemonCommand jpasstJar(Path jar) {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        return new DaemonCommand(List.of(java.toString(), "-jar", jar.toAbsolutePath().toString()));
    }

    /** A passt binary by path, or by name looked up on PATH. */
    public static DaemonCommand passtBinary(String nameOrPath) {
        return new DaemonCommand(List.of(resolveExecutable(nameOrPath)));
    }

    /**
     * Reads a user's {@code --daemon} choice: a path ending in ".jar" runs with {@code java -jar};
     * anything else is a command (words split at spaces) whose first word is looked up on PATH.
     */
    public static DaemonCommand parse(String spec) {
        String trimmed = spec.trim();
        if (trimmed.isEmpty()) {
            throw new IllegalArgumentException("empty daemon command");
        }
        if (trimmed.endsWith(".jar") && !trimmed.contains(" ")) {
            Path jar = Path.of(trimmed);
            if (!Files.isRegularFile(jar)) {
                throw new IllegalArgumentException("no jar at " + jar.toAbsolutePath());
            }
            return jpasstJar(jar);
        }
        List<String> words = new ArrayList<>(List.of(trimmed.split("\\s+")));
        words.set(0, resolveExecutable(words.get(0)));
        return new DaemonCommand(words);
    }

    static String resolveExecutable(String nameOrPath) {
        if (nameOrPath.contains("/")) {
            if (!Files.isExecutable(Path.of(nameOrPath))) {
                throw new IllegalArgumentException("not an executable: " + nameOrPath);
            }
            return nameOrPath;
        }
        return findOnPath(nameOrPath)
                .orElseThrow(() -> new IllegalArgumentException("'" + nameOrPath + "' not found on PATH"))
                .toString();
    }

    static Optional<Path> findOnPath(String name) {
        String path = System.getenv().getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin");
        for (String dir : path.split(File.pathSeparator)) {
            Path candidate = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /** This command followed by {@code arguments}. */
    public List<String> withArguments(List<String> arguments) {
        List<String> all = new ArrayList<>(command);
        all.addAll(arguments);
        return all;
    }

    /**
     * Whether the daemon serves vhost-user, judged by its {@code --help} listing {@code --vhost-user}
     * (passt from late 2024 on; the 2023 passt does not).
     */
    public boolean offersVhostUser() throws IOException {
        Process process = new ProcessBuilder(withArguments(List.of("--help"))).redirectErrorStream(true).start();
        process.getOutputStream().close();
        try (InputStream out = process.getInputStream()) {
            String help = new String(out.readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException("'" + this + " --help' did not finish in 10 s");
            }
            return help.contains("--vhost-user");
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while asking '" + this + "' for --help", e);
        }
    }

    @Override
    public String toString() {
        return ShellQuote.join(command);
    }
}
