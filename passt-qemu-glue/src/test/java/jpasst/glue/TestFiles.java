package jpasst.glue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.stream.Stream;

/** Small file helpers shared by the tests. */
final class TestFiles {

    private TestFiles() {
    }

    /**
     * A runtime parent inside a JUnit temporary directory. JUnit makes those 0700; run as root, the
     * daemon becomes "nobody", who must be able to pass through to its own runtime directory.
     */
    static Path traversableParent(Path tempDir) throws IOException {
        Files.setPosixFilePermissions(tempDir, PosixFilePermissions.fromString("rwx--x--x"));
        Path parent = Files.createDirectory(tempDir.resolve("runtime"));
        Files.setPosixFilePermissions(parent, PosixFilePermissions.fromString("rwx--x--x"));
        return parent;
    }

    static long entriesIn(Path directory) throws IOException {
        try (Stream<Path> entries = Files.list(directory)) {
            return entries.count();
        }
    }
}
