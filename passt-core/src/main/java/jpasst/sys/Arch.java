package jpasst.sys;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/**
 * The two machines jpasst runs on, 64-bit Linux with glibc: x86-64 and AArch64. The structures
 * the kernel and libc take are laid out alike on both but one, {@code struct epoll_event}, which
 * x86-64 packs. Each class of this package that lays out a structure gives its layout as a
 * function of the architecture, and takes the one for {@link #CURRENT} (from {@code os.arch},
 * once at start) for its offsets: so a test on either machine checks both layouts against the
 * figures of the C compilers ({@code StructLayoutsTest}).
 */
public enum Arch {
    X86_64, AARCH64;

    /** The machine this JVM runs on. */
    public static final Arch CURRENT = of(System.getProperty("os.arch"));

    /** The architecture a JVM names {@code osArch}; other machines are refused, clearly. */
    static Arch of(String osArch) {
        return switch (osArch) {
            case "amd64", "x86_64" -> X86_64;
            case "aarch64", "arm64" -> AARCH64;
            default -> throw new UnsupportedOperationException(
                    "jpasst knows the structure layouts of x86-64 and AArch64 Linux only, not of " + osArch);
        };
    }

    /** The byte offset of field {@code name} in {@code layout}. */
    static int offset(StructLayout layout, String name) {
        return (int) layout.byteOffset(MemoryLayout.PathElement.groupElement(name));
    }
}
