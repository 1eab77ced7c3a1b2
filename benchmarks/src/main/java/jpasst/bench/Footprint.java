package jpasst.bench;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * One process's memory by part, from /proc/PID/smaps alone (no Native Memory Tracking, no
 * attach: it reads any daemon, passt's too): every mapping's resident, proportional and private
 * kilobytes, named by what it is.
 *
 * <p>Files are named by their file (libjvm.so, the AOT cache or CDS archive, the JDK's modules
 * image, the daemon's own binary, other libraries). Anonymous memory is told apart by shape,
 * as HotSpot and glibc lay it out: the Java heap is the run of adjacent anonymous mappings as
 * large as {@code -Xmx}; a thread's stack is the mapping its stack pointer is in
 * (/proc/PID/task/TID/syscall, read while the thread waits); the JIT's code cache is the only
 * writable and executable memory; glibc's per-thread malloc arenas are 64 MB runs that begin
 * with a {@code heap_info} pointing into their own first page (read through /proc/PID/mem);
 * other 64 MB runs are HotSpot's metaspace and class space; {@code [heap]} is malloc's main
 * arena. What is left is, in a JVM, its smaller tables (card table, block offsets...) and
 * mallocs large enough for a mapping of their own; in a C program such as passt, its own static
 * buffers. The kernel's
 * own share (page tables, a 16 kB kernel stack per thread) is added from /proc/PID/status, as
 * the drop of MemAvailable includes it. Needs root (or the same user) to read another process's
 * stacks and memory.
 */
final class Footprint {
    /** Resident, proportional and private (clean + dirty) kilobytes of one part. */
    record Part(String name, long rssKb, long pssKb, long privateKb) {
        Part plus(long rss, long pss, long priv) {
            return new Part(name, rssKb + rss, pssKb + pss, privateKb + priv);
        }
    }

    /** One line of /proc/PID/smaps and its counters. */
    record Mapping(long start, long end, String perms, String file, long rssKb, long pssKb, long privateKb) {
        boolean anonymous() {
            return file.isEmpty();
        }

        long size() {
            return end - start;
        }
    }

    static final long ARENA_SIZE = 64L << 20; // glibc's HEAP_MAX_SIZE on 64-bit
    static final long KERNEL_STACK_KB = 16;
    static final String OTHER_JVM = "other anonymous (JVM tables, large mallocs)", OTHER = "anonymous memory";

    private Footprint() {}

    /** The parts of {@code pid}, largest resident first, the kernel's share last. */
    static List<Part> of(long pid) throws IOException {
        return of(pid, false);
    }

    /** {@code verbose}: also prints every resident mapping and the part it went to. */
    static List<Part> of(long pid, boolean verbose) throws IOException {
        List<Mapping> maps = smaps(pid);
        Set<Long> stackPointers = stackPointers(pid);
        long maxHeap = maxHeapBytes(Proc.cmdline(pid));
        String[] names = new String[maps.size()];
        // runs of adjacent anonymous mappings: the heap, arenas and metaspace reserve one each
        for (int i = 0; i < maps.size(); ) {
            int j = i;
            while (j + 1 < maps.size() && maps.get(j + 1).anonymous() && maps.get(i).anonymous()
                    && maps.get(j + 1).start() == maps.get(j).end()) {
                j++;
            }
            if (maps.get(i).anonymous()) {
                long size = maps.get(j).end() - maps.get(i).start();
                String run = null;
                if (maxHeap > 0 && size == maxHeap) run = "Java heap";
                else if (i > 0 && isArchive(maps.get(i - 1)) && maps.get(i - 1).end() == maps.get(i).start()) {
                    run = "metaspace and class space"; // HotSpot reserves the class space right after the archive
                }
                else if (size == ARENA_SIZE) run = arenaAt(pid, maps.get(i).start()) ? "malloc: thread arenas" : "metaspace and class space";
                else if (i > 0 && isBss(maps.get(i - 1), maps.get(i))) run = name(maps.get(i - 1), stackPointers);
                // code and stacks are told by themselves, even where they border on a run
                for (int k = i; k <= j; k++) {
                    if (!maps.get(k).perms().startsWith("rwx") && !holdsStack(maps.get(k), stackPointers)) names[k] = run;
                }
            }
            i = j + 1;
        }
        boolean jvm = maps.stream().anyMatch(m -> m.file().endsWith("/libjvm.so"));
        Map<String, Part> parts = new LinkedHashMap<>();
        for (int i = 0; i < maps.size(); i++) {
            Mapping m = maps.get(i);
            String name = names[i] != null ? names[i] : name(m, stackPointers);
            if (!jvm && name.equals(OTHER_JVM)) name = OTHER;
            if (verbose && m.rssKb() > 0) {
                System.out.printf(Locale.ROOT, "    %x-%x %s %6d kB rss  %-40s %s%n", m.start(), m.end(), m.perms(), m.rssKb(),
                        name, m.file());
            }
            parts.merge(name, new Part(name, m.rssKb(), m.pssKb(), m.privateKb()),
                    (a, b) -> a.plus(b.rssKb(), b.pssKb(), b.privateKb()));
        }
        List<Part> out = new ArrayList<>(parts.values());
        out.sort((a, b) -> Long.compare(b.rssKb(), a.rssKb()));
        long pte = Proc.statusKb(pid, "VmPTE"), threads = Proc.tasks(pid).size();
        if (pte >= 0) out.add(new Part("kernel: page tables", pte, pte, pte));
        out.add(new Part("kernel: thread stacks (" + threads + " × 16 kB)", threads * KERNEL_STACK_KB,
                threads * KERNEL_STACK_KB, threads * KERNEL_STACK_KB));
        return out;
    }

    private static boolean holdsStack(Mapping m, Set<Long> stackPointers) {
        for (long sp : stackPointers) if (sp >= m.start() && sp < m.end()) return true;
        return false;
    }

    /** A library's zero-initialised data: anonymous, right after the library's writable data. */
    private static boolean isBss(Mapping data, Mapping anon) {
        return !data.anonymous() && data.file().contains(".so") && data.perms().startsWith("rw")
                && data.end() == anon.start() && anon.perms().startsWith("rw");
    }

    private static boolean isArchive(Mapping m) {
        return m.file().endsWith(".aot") || m.file().endsWith(".jsa");
    }

    /** A mapping's part, from its file or its shape. */
    static String name(Mapping m, Set<Long> stackPointers) {
        String f = m.file();
        if (f.equals("[heap]")) return "malloc: main arena";
        if (f.equals("[stack]")) return "thread stacks";
        if (f.startsWith("[")) return "other (vdso, vvar)";
        if (!m.anonymous()) {
            String base = f.substring(f.lastIndexOf('/') + 1);
            if (base.equals("libjvm.so")) return "libjvm.so";
            if (base.endsWith(".aot") || base.endsWith(".jsa")) return "AOT cache / CDS archive (" + base + ")";
            if (base.equals("modules")) return "JDK modules image";
            if (base.contains(".so")) return "other shared libraries";
            if (f.startsWith("/usr/lib/locale/")) return "locale files";
            return "program and other files";
        }
        if (holdsStack(m, stackPointers)) return "thread stacks";
        if (m.perms().startsWith("rwx")) return "JIT code cache";
        return OTHER_JVM;
    }

    /**
     * Whether the 64 MB run at {@code start} is a glibc arena: the first heap of an arena begins
     * with its {@code heap_info} (arena pointer, previous heap, size...), and the arena's
     * {@code malloc_state} follows it at once, 48 bytes in; the first heap has no previous one.
     */
    static boolean arenaAt(long pid, long start) {
        try (RandomAccessFile mem = new RandomAccessFile("/proc/" + pid + "/mem", "r")) {
            byte[] b = new byte[24];
            mem.seek(start);
            mem.readFully(b);
            ByteBuffer h = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
            long arena = h.getLong(0), prev = h.getLong(8), size = h.getLong(16);
            return arena == start + 48 && prev == 0 && size > 0 && size <= ARENA_SIZE && size % 4096 == 0;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Where each waiting thread's stack pointer is (/proc/PID/task/TID/syscall: "nr args... sp pc"). */
    static Set<Long> stackPointers(long pid) {
        Set<Long> sps = new HashSet<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : ds) {
                try {
                    String[] f = Files.readString(t.resolve("syscall")).trim().split(" ");
                    if (f.length >= 3) sps.add(Long.parseUnsignedLong(f[f.length - 2].substring(2), 16));
                } catch (IOException | RuntimeException e) {
                    // running, or gone
                }
            }
        } catch (IOException e) {
            // gone
        }
        return sps;
    }

    /** -Xmx of a JVM's command line in bytes, or -1. */
    static long maxHeapBytes(List<String> cmdline) {
        long max = -1;
        for (String a : cmdline) {
            if (a.startsWith("-Xmx")) max = bytes(a.substring(4));
            if (a.equals("-jar")) break;
        }
        return max;
    }

    static long bytes(String s) {
        char u = Character.toLowerCase(s.charAt(s.length() - 1));
        long mult = switch (u) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            case 'g' -> 1L << 30;
            default -> 1;
        };
        return Long.parseLong(Character.isDigit(u) ? s : s.substring(0, s.length() - 1)) * mult;
    }

    /** /proc/PID/smaps, one {@link Mapping} per mapping, in address order. */
    static List<Mapping> smaps(long pid) throws IOException {
        List<Mapping> out = new ArrayList<>();
        long start = 0, end = 0, rss = 0, pss = 0, priv = 0;
        String perms = null, file = null;
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps"))) {
            int colon = line.indexOf(':');
            int dash = line.indexOf('-');
            if (dash > 0 && (colon < 0 || dash < colon) && isHex(line, dash)) {
                if (perms != null) out.add(new Mapping(start, end, perms, file, rss, pss, priv));
                String[] f = line.split("\\s+", 6);
                start = Long.parseUnsignedLong(f[0].substring(0, dash), 16);
                end = Long.parseUnsignedLong(f[0].substring(dash + 1), 16);
                perms = f[1];
                file = f.length > 5 ? f[5].trim() : "";
                rss = pss = priv = 0;
                continue;
            }
            if (colon < 0) continue;
            String key = line.substring(0, colon);
            switch (key) {
                case "Rss" -> rss = kb(line, colon);
                case "Pss" -> pss = kb(line, colon);
                case "Private_Clean", "Private_Dirty" -> priv += kb(line, colon);
                default -> {
                    // not needed
                }
            }
        }
        if (perms != null) out.add(new Mapping(start, end, perms, file, rss, pss, priv));
        return out;
    }

    private static boolean isHex(String line, int dash) {
        for (int i = 0; i < dash; i++) if (Character.digit(line.charAt(i), 16) < 0) return false;
        return dash > 0;
    }

    private static long kb(String line, int colon) {
        return Long.parseLong(line.substring(colon + 1).trim().split("\\s+")[0]);
    }

    /** The parts as a table, kB, with a total. */
    static String table(List<Part> parts) {
        StringBuilder sb = new StringBuilder();
        String fmt = "  %-48s %8s %8s %8s%n";
        sb.append(String.format(Locale.ROOT, fmt, "part", "RSS kB", "PSS kB", "private"));
        long r = 0, p = 0, v = 0;
        for (Part part : parts) {
            if (part.rssKb() == 0 && part.privateKb() == 0) continue;
            sb.append(String.format(Locale.ROOT, fmt, part.name(), part.rssKb(), part.pssKb(), part.privateKb()));
            r += part.rssKb();
            p += part.pssKb();
            v += part.privateKb();
        }
        sb.append(String.format(Locale.ROOT, fmt, "total", r, p, v));
        return sb.toString();
    }

    /** {@code Footprint [-v] PID...}: the parts of each process ({@code -v}: and every mapping's). */
    public static void main(String[] args) throws IOException {
        boolean verbose = false;
        for (String a : args) {
            if (a.equals("-v")) {
                verbose = true;
                continue;
            }
            long pid = Long.parseLong(a);
            System.out.println(pid + " " + String.join(" ", Proc.cmdline(pid)));
            System.out.print(table(of(pid, verbose)));
        }
    }
}
