package jpasst;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * The daemon's system call filter: its numbers are the kernel's for each architecture, its
 * program is well formed, and in a real process (the {@link SeccompProbe}) it refuses what it
 * must with EPERM, leaves a kernel audit record for each refusal, and lets the JVM go on.
 */
class SeccompTest {
    private static final Path X86_64 = Path.of("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
            GENERIC = Path.of("/usr/include/asm-generic/unistd.h"); // AArch64's numbers

    @Test
    void everyNumberIsTheKernelsForItsNameOnBothArchitectures() throws IOException {
        Map<String, Integer> x86 = numbers(X86_64), arm = numbers(GENERIC);
        List<Seccomp.Call> all = new ArrayList<>(Seccomp.ALLOWED);
        all.addAll(List.of(Seccomp.SOCKET, Seccomp.CLONE, Seccomp.IOCTL, Seccomp.FCNTL, Seccomp.TGKILL, Seccomp.PRCTL,
                Seccomp.CLONE3));
        for (Seccomp.Call c : all) {
            assertEquals(x86.getOrDefault(c.name(), -1), c.x86(), c.name() + " on x86-64");
            // AArch64 has some calls under their 32/64-bit generic name only (fstatat for newfstatat)
            String generic = c.name().equals("newfstatat") ? "fstatat" : c.name();
            assertEquals(arm.getOrDefault(generic, -1), c.arm(), c.name() + " on AArch64");
        }
    }

    @Test
    void theFilterIsAProgramTheKernelTakes() {
        for (List<long[]> code : List.of(Seccomp.filter(4321), Seccomp.quiet())) {
            assertTrue(code.size() <= 4096, "BPF_MAXINSNS");
            for (int i = 0; i < code.size(); i++) {
                long[] in = code.get(i);
                if ((in[0] & 0x07) == 0x05) { // BPF_JMP: both targets inside the program
                    assertTrue(i + 1 + in[1] < code.size() && i + 1 + in[2] < code.size(), "jump at " + i);
                }
            }
            assertEquals(0x06, code.get(code.size() - 1)[0], "ends with a return");
        }
    }

    /**
     * The probe, a JVM with the daemon's flags, takes the filter, then calls execve, ptrace and socket(AF_PACKET): each fails
     * with EPERM and leaves an audit record (type=1326) with its number in the kernel log,
     * while getpid, an IPv4 socket and a new thread still work. Needs root to read the log.
     */
    @Test
    void forbiddenCallsAreRefusedWithEpermAndLoggedByTheKernel() throws Exception {
        assumeTrue(Files.readString(Path.of("/proc/self/status")).contains("\nUid:\t0\t"), "needs root (dmesg)");
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java));
        command.addAll(Daemon.jvmFlags(false)); // a JVM as the daemon's
        command.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                SeccompProbe.class.getName()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        Map<String, Long> results = new LinkedHashMap<>();
        for (String line : out.lines().toList()) {
            String[] w = line.split(" ");
            if (w.length == 2 && w[1].matches("-?\\d+")) results.put(w[0], Long.parseLong(w[1]));
        }
        assertEquals(0L, results.get("install"), out);
        for (String refused : SeccompProbe.REFUSED) assertEquals(-1L, results.get(refused), refused + ": EPERM\n" + out);
        assertTrue(results.get("socket-inet") >= 0, out);
        assertEquals(p.pid(), results.get("getpid"), out);
        assertEquals(0L, results.get("thread"), out);

        Process dmesg = new ProcessBuilder("dmesg").redirectErrorStream(true).start();
        String log = new String(dmesg.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(dmesg.waitFor(10, TimeUnit.SECONDS));
        List<Integer> logged = new ArrayList<>();
        Matcher m = Pattern.compile("type=1326 .* pid=" + p.pid() + " .* syscall=(\\d+) .*code=0x50000").matcher(log);
        while (m.find()) logged.add(Integer.parseInt(m.group(1)));
        Map<String, Integer> nr = new HashMap<>();
        for (Seccomp.Call c : List.of(new Seccomp.Call("execve", 59, 221), new Seccomp.Call("ptrace", 101, 117),
                Seccomp.SOCKET)) {
            nr.put(c.name(), c.nr());
        }
        assertEquals(List.of(nr.get("execve"), nr.get("ptrace"), nr.get("socket")), logged,
                "the kernel's records of the probe's refused calls, and no other");
    }

    /** {@code __NR_name} (and the generic header's {@code __NR3264_name}) → number, from a kernel header. */
    private static Map<String, Integer> numbers(Path header) throws IOException {
        Map<String, Integer> m = new HashMap<>();
        Pattern define = Pattern.compile("#define __NR(?:3264)?_(\\w+)\\s+(\\d+)");
        for (String line : Files.readAllLines(header)) {
            Matcher d = define.matcher(line);
            if (d.lookingAt()) m.putIfAbsent(d.group(1), Integer.parseInt(d.group(2)));
        }
        return m;
    }
}
