package jpasst;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.constantpool.ClassEntry;
import java.lang.classfile.constantpool.PoolEntry;
import java.lang.classfile.constantpool.Utf8Entry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The packages of passt-core form a DAG a reader can draw (issue 13, and ../link-seam.md):
 * {@code sys → util → packet → conf → loop → link → tap | vhost → proto | flow → control → jpasst}. Each
 * package may use only packages of a lower rank; packages of one rank (tap and vhost, proto and
 * flow) do not use each other. Checked on the compiled classes: every class a class file names
 * in its constant pool (references, descriptors, generic signatures) counts.
 */
class PackageDagTest {
    static final Map<String, Integer> RANK = Map.ofEntries(
            Map.entry("jpasst.sys", 0),
            Map.entry("jpasst.util", 1),
            Map.entry("jpasst.packet", 2),
            Map.entry("jpasst.conf", 3),
            Map.entry("jpasst.loop", 4),
            Map.entry("jpasst.link", 5),
            Map.entry("jpasst.tap", 6),
            Map.entry("jpasst.vhost", 6),
            Map.entry("jpasst.proto", 7),
            Map.entry("jpasst.flow", 7),
            Map.entry("jpasst.control", 8),
            Map.entry("jpasst", 9));

    private static final Pattern NAMED = Pattern.compile("L(jpasst/[\\w/$]+);");

    private static Path classes() throws Exception {
        return Path.of(Passt.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    private static String packageOf(String internalName) {
        int slash = internalName.lastIndexOf('/');
        return slash < 0 ? "" : internalName.substring(0, slash).replace('/', '.');
    }

    /** The jpasst packages class {@code file} refers to. */
    private static TreeSet<String> uses(Path file) throws IOException {
        TreeSet<String> used = new TreeSet<>();
        for (PoolEntry e : ClassFile.of().parse(Files.readAllBytes(file)).constantPool()) {
            if (e instanceof ClassEntry c) {
                String n = c.asInternalName();
                while (n.startsWith("[")) n = n.substring(1);
                if (n.startsWith("L") && n.endsWith(";")) n = n.substring(1, n.length() - 1);
                if (n.startsWith("jpasst/")) used.add(packageOf(n));
            } else if (e instanceof Utf8Entry u) {
                Matcher m = NAMED.matcher(u.stringValue());
                while (m.find()) used.add(packageOf(m.group(1)));
            }
        }
        return used;
    }

    @Test
    void everyPackageUsesOnlyPackagesBelowIt() throws Exception {
        Path root = classes();
        List<String> wrong = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                String cls = root.relativize(f).toString().replace(".class", "");
                String pkg = packageOf(cls);
                Integer rank = RANK.get(pkg);
                if (rank == null) {
                    wrong.add(cls + ": package " + pkg + " has no place in the DAG (add it to RANK)");
                    continue;
                }
                for (String used : uses(f)) {
                    if (used.equals(pkg)) continue;
                    Integer r = RANK.get(used);
                    if (r == null || r >= rank) {
                        wrong.add(cls + " (" + pkg + ") uses " + used
                                + (r == null ? " (not in the DAG)" : r.equals(rank) ? " (same rank)" : " (above it)"));
                    }
                }
            }
        }
        assertEquals(List.of(), wrong, "package dependencies against the DAG");
    }

    @Test
    void everyPackageSaysWhatItIsAndWhatItMayUse() throws Exception {
        Path sources = Path.of("src/main/java");
        for (String pkg : RANK.keySet()) {
            Path dir = sources.resolve(pkg.replace('.', '/'));
            if (!Files.isDirectory(dir)) continue; // (vhost: not there yet)
            assertTrue(Files.exists(dir.resolve("package-info.java")), pkg + " has no package-info.java");
        }
    }
}
