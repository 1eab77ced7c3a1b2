package jpasst.glue;

import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Guest RAM sizes, needed by the vhost-user form: the daemon maps guest memory, so QEMU must back
 * all of it with a shared memfd whose size equals {@code -m} exactly. Reads {@code -m} the way QEMU
 * does (a bare number is MiB; K/M/G/T suffixes are binary; {@code -m size=2G,maxmem=...} too;
 * 128 MiB when absent) and writes a size back with the largest exact suffix, e.g. "512M".
 */
public final class GuestMemory {

    /** QEMU's RAM size when no {@code -m} is given (x86 machines). */
    public static final long QEMU_DEFAULT_RAM_BYTES = 128L << 20;

    private static final Pattern SIZE = Pattern.compile("(\\d+)([KMGT]?)(?:i?B)?", Pattern.CASE_INSENSITIVE);

    private GuestMemory() {
    }

    /** The guest RAM of a QEMU command line: its last {@code -m}/{@code --m} option, or QEMU's default. */
    public static long ramBytesOf(List<String> qemuArguments) {
        long bytes = QEMU_DEFAULT_RAM_BYTES;
        for (int i = 0; i < qemuArguments.size(); i++) {
            String arg = qemuArguments.get(i);
            if ((arg.equals("-m") || arg.equals("--m")) && i + 1 < qemuArguments.size()) {
                bytes = parseMachineMemoryOption(qemuArguments.get(++i));
            } else if (arg.startsWith("-m=") || arg.startsWith("--m=")) {
                bytes = parseMachineMemoryOption(arg.substring(arg.indexOf('=') + 1));
            }
        }
        return bytes;
    }

    /** Parses the value of {@code -m}: "1024", "512M", "2G" or "size=2G,slots=4,maxmem=8G". */
    public static long parseMachineMemoryOption(String value) {
        String size = value;
        for (String part : value.split(",")) {
            if (part.startsWith("size=")) {
                size = part.substring("size=".length());
            } else if (!part.contains("=")) {
                size = part;
            }
        }
        return parse(size, 1L << 20);
    }

    /** Parses a size whose bare number is in {@code defaultUnitBytes}, e.g. MiB for {@code -m}. */
    public static long parse(String size, long defaultUnitBytes) {
        Matcher m = SIZE.matcher(size.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("not a memory size: '" + size + "' (expected e.g. 512M or 4G)");
        }
        long number = Long.parseLong(m.group(1));
        long unit = switch (m.group(2).toUpperCase(Locale.ROOT)) {
            case "K" -> 1L << 10;
            case "M" -> 1L << 20;
            case "G" -> 1L << 30;
            case "T" -> 1L << 40;
            default -> defaultUnitBytes;
        };
        return Math.multiplyExact(number, unit);
    }

    /** Writes bytes with the largest binary suffix that divides them exactly, as QEMU reads sizes. */
    public static String format(long bytes) {
        String[] suffixes = {"T", "G", "M", "K"};
        int[] shifts = {40, 30, 20, 10};
        for (int i = 0; i < suffixes.length; i++) {
            long unit = 1L << shifts[i];
            if (bytes >= unit && bytes % unit == 0) {
                return (bytes / unit) + suffixes[i];
            }
        }
        return Long.toString(bytes);
    }
}
