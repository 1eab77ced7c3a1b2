package jpasst.guest.vm;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;

/**
 * Writes a cpio archive in the "newc" format (magic 070701), the format the Linux kernel unpacks
 * as an initramfs.
 *
 * <p>Why our own writer: the archive must contain {@code /dev/console} as a character device and
 * files owned by root, which the {@code cpio} tool only records when run as root over real files.
 * Writing the headers ourselves needs no privileges and no temporary tree. The format is a 110-byte
 * ASCII header (magic plus 13 eight-digit hex fields), the NUL-terminated name, padding to four
 * bytes, the data, padding to four bytes; a {@code TRAILER!!!} entry ends the archive.
 *
 * <p>Parent directories are added automatically (the kernel does not create them), each once.
 * Names are written without a leading slash, as {@code cpio -H newc} does.
 */
final class CpioNewcWriter implements AutoCloseable {
    static final int S_IFDIR = 0040000;
    static final int S_IFREG = 0100000;
    static final int S_IFLNK = 0120000;
    static final int S_IFCHR = 0020000;

    private static final int HEADER_LENGTH = 110;

    private final OutputStream out;
    private final Set<String> directories = new HashSet<>();
    private long written;
    private int nextInode = 1;
    private boolean finished;

    CpioNewcWriter(OutputStream out) {
        this.out = out;
    }

    /** Adds a directory (and its missing parents) with mode 0755. */
    void directory(String path) throws IOException {
        String name = normalize(path);
        if (name.isEmpty() || directories.contains(name)) {
            return;
        }
        parentsOf(name);
        directories.add(name);
        entry(name, S_IFDIR | 0755, 2, 0, 0, new byte[0]);
    }

    /** Adds a regular file with the given permission bits (e.g. 0755). */
    void file(String path, int permissions, byte[] content) throws IOException {
        String name = normalize(path);
        parentsOf(name);
        entry(name, S_IFREG | (permissions & 07777), 1, 0, 0, content);
    }

    /** Adds a symbolic link at {@code path} pointing to {@code target}. */
    void symlink(String path, String target) throws IOException {
        String name = normalize(path);
        parentsOf(name);
        entry(name, S_IFLNK | 0777, 1, 0, 0, target.getBytes(StandardCharsets.UTF_8));
    }

    /** Adds a character device node, e.g. {@code /dev/console} is major 5, minor 1. */
    void characterDevice(String path, int permissions, int major, int minor) throws IOException {
        String name = normalize(path);
        parentsOf(name);
        entry(name, S_IFCHR | (permissions & 07777), 1, major, minor, new byte[0]);
    }

    /** Writes the trailer entry; the stream itself is left open for the caller to close. */
    void finish() throws IOException {
        if (!finished) {
            finished = true;
            entry("TRAILER!!!", 0, 1, 0, 0, new byte[0]);
            out.flush();
        }
    }

    @Override
    public void close() throws IOException {
        finish();
    }

    private void parentsOf(String name) throws IOException {
        int slash = name.lastIndexOf('/');
        if (slash > 0) {
            directory(name.substring(0, slash));
        }
    }

    private static String normalize(String path) {
        String name = path;
        while (name.startsWith("/")) {
            name = name.substring(1);
        }
        while (name.endsWith("/")) {
            name = name.substring(0, name.length() - 1);
        }
        return name;
    }

    private void entry(String name, int mode, int links, int rdevMajor, int rdevMinor, byte[] data)
            throws IOException {
        byte[] nameBytes = (name + "\0").getBytes(StandardCharsets.UTF_8);
        StringBuilder header = new StringBuilder(HEADER_LENGTH).append("070701");
        int inode = name.equals("TRAILER!!!") ? 0 : nextInode++;
        for (long field : new long[] {
                inode, mode, 0 /* uid */, 0 /* gid */, links, 0 /* mtime */, data.length,
                0 /* devmajor */, 0 /* devminor */, rdevMajor, rdevMinor, nameBytes.length, 0 /* check */}) {
            header.append(String.format("%08x", field));
        }
        write(header.toString().getBytes(StandardCharsets.US_ASCII));
        write(nameBytes);
        pad();
        write(data);
        pad();
    }

    private void write(byte[] bytes) throws IOException {
        out.write(bytes);
        written += bytes.length;
    }

    private void pad() throws IOException {
        while (written % 4 != 0) {
            out.write(0);
            written++;
        }
    }
}
