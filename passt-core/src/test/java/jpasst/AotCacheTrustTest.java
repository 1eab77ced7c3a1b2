package jpasst;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's JVM (and ./passt's launcher) loads passt.aot only if no one but the jar's owner
 * could have written it or put it there: the JVM takes the cache's class metadata as it finds
 * it, and the launcher loads it while still root.
 */
class AotCacheTrustTest {
    @TempDir
    Path dir;

    @BeforeEach
    void aDirectoryOnlyItsOwnerWrites() throws IOException {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x")); // whatever the umask
    }

    private Path file(String name, String mode) throws IOException {
        Path p = Files.writeString(dir.resolve(name), name);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
        return p;
    }

    @Test
    void aCacheOnlyTheJarsOwnerCanWriteIsTrusted() throws IOException {
        assertTrue(Daemon.trusted(file("passt.aot", "rw-r--r--"), file("passt.jar", "rw-r--r--")));
        assertTrue(Daemon.trusted(file("passt.aot", "rw-------"), file("passt.jar", "rw-r--r--")));
    }

    @Test
    void aCacheTheGroupOrOthersCanWriteIsNot() throws IOException {
        Path jar = file("passt.jar", "rw-r--r--");
        assertFalse(Daemon.trusted(file("passt.aot", "rw-rw-r--"), jar));
        assertFalse(Daemon.trusted(file("passt.aot", "rw-r--rw-"), jar));
    }

    @Test
    void aCacheOwnedByAnotherUserThanTheJarsIsNot() throws IOException {
        Path cache = file("passt.aot", "rw-r--r--");
        Path jar = file("passt.jar", "rw-r--r--");
        UserPrincipal me = Files.getOwner(jar);
        if (me.getName().equals("root")) {
            // a training run's leftover: root's build, a cache written by nobody
            Files.setOwner(cache, dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("65534"));
        } else {
            jar = Path.of("/"); // a jar of root's, a cache of this user's
        }
        assertFalse(Daemon.trusted(cache, jar));
    }

    @Test
    void aCacheInADirectoryOthersCanWriteIsNot() throws IOException {
        Path cache = file("passt.aot", "rw-r--r--");
        Path jar = file("passt.jar", "rw-r--r--");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx")); // anyone could swap it
        assertFalse(Daemon.trusted(cache, jar));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        assertTrue(Daemon.trusted(cache, jar));
    }

    @Test
    void aLinkToACacheOrAMissingOneIsNot() throws IOException {
        Path jar = file("passt.jar", "rw-r--r--");
        Path link = Files.createSymbolicLink(dir.resolve("passt.aot"), file("elsewhere.aot", "rw-r--r--"));
        assertFalse(Daemon.trusted(link, jar));
        assertFalse(Daemon.trusted(dir.resolve("none.aot"), jar));
    }
}
