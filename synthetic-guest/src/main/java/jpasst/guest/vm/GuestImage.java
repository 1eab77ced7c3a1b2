package jpasst.guest.vm;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * The kernel and the base initramfs every end-to-end guest boots: the host's Debian cloud kernel,
 * busybox-static with all its applet links, the virtio-net modules of that kernel, a udhcpc event
 * script that prints the lease as marker lines, shell helpers, and an {@code /init} that mounts
 * proc/sys/dev, loads the modules, runs the test's {@code /test.sh} and powers off.
 *
 * <p>Why built here: nothing needs root or a prebuilt image; everything comes from packages the
 * {@code ./test} script installs. The archive is written by {@link CpioNewcWriter} (so
 * {@code /dev/console} exists before devtmpfs is mounted and the kernel can give {@code /init} its
 * console) and gzip'd. It is built once per JVM and written under {@code tests/target/e2e-guest/}.
 * A test's own files (its script, extra programs) go into a second, small archive that
 * {@link Guest} appends: the kernel unpacks concatenated archives in order.
 *
 * <p>Contract of the guest side, for test scripts ({@code /test.sh} is sourced by {@code /bin/sh}
 * after {@code /lib/e2e/functions.sh}):
 * <ul>
 * <li>{@code mark KEY VALUE...} prints {@code @@KEY=VALUE} on the console; {@link Guest} parses it.
 * <li>{@code netif} prints the name of the first non-loopback interface (waits up to 5 s for it).
 * <li>{@code dhcp4 [IFACE]} runs busybox udhcpc once (requesting MTU and search list), configures
 * the interface, default route and /etc/resolv.conf and prints {@code DHCP4_*} markers:
 * {@code DHCP4_EVENT} (bound), {@code DHCP4_IP}, {@code DHCP4_SUBNET} (dotted mask),
 * {@code DHCP4_PREFIX} (bits), {@code DHCP4_ROUTER}, {@code DHCP4_DNS} (space separated),
 * {@code DHCP4_DOMAIN}, {@code DHCP4_SEARCH}, {@code DHCP4_MTU}, {@code DHCP4_LEASE} (seconds),
 * {@code DHCP4_SERVER}, {@code DHCP4_BROADCAST}, then what the interface really got:
 * {@code IF_MTU}, {@code IF_ADDR} (a.b.c.d/n) and {@code IF_DEFAULT_ROUTE}; finally
 * {@code DHCP4_EXIT} with udhcpc's exit status. An option the server did not send gives an empty
 * value.
 * <li>After the script, {@code /init} prints {@code @@GUEST_SCRIPT_EXIT=status} and powers off.
 * </ul>
 */
public final class GuestImage {
    /** virtio-net and what it needs, in load order (from design.md; modules.dep agrees). */
    static final List<String> VIRTIO_NET_MODULES = List.of(
            "virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
            "failover", "net_failover", "virtio_net");

    private static final Path BUSYBOX = Path.of("/usr/bin/busybox");
    private static GuestImage instance;

    private final String kernelVersion;
    private final Path kernel;
    private final Path initramfs;

    private GuestImage(String kernelVersion, Path kernel, Path initramfs) {
        this.kernelVersion = kernelVersion;
        this.kernel = kernel;
        this.initramfs = initramfs;
    }

    /** The image for this JVM, built on first use. */
    public static synchronized GuestImage get() {
        if (instance == null) {
            try {
                instance = build(workDirectory());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot build the guest initramfs", e);
            }
        }
        return instance;
    }

    /** The kernel release of the guest, e.g. {@code 6.1.0-56-cloud-amd64}. */
    public String kernelVersion() {
        return kernelVersion;
    }

    /** {@code /boot/vmlinuz-<version>}. */
    public Path kernel() {
        return kernel;
    }

    /** The base initramfs (gzip'd newc cpio) without any test's script. */
    public Path initramfs() {
        return initramfs;
    }

    /** Where generated guest files live: {@code tests/target/e2e-guest}. */
    static Path workDirectory() throws IOException {
        String root = System.getProperty("jpasst.root");
        Path target = root != null ? Path.of(root, "tests", "target") : Path.of("target");
        return Files.createDirectories(target.toAbsolutePath().normalize().resolve("e2e-guest"));
    }

    private static GuestImage build(Path directory) throws IOException {
        String version = chooseKernelVersion();
        Path kernel = Path.of("/boot", "vmlinuz-" + version);
        if (!Files.isReadable(kernel)) {
            throw new IOException("guest kernel " + kernel + " is missing or unreadable"
                    + " (apt-get install linux-image-cloud-amd64)");
        }
        if (!Files.isExecutable(BUSYBOX)) {
            throw new IOException(BUSYBOX + " is missing (apt-get install busybox-static)");
        }
        Path initramfs = directory.resolve("initramfs-" + version + ".cpio.gz");
        // Unique name, then an atomic rename: several JVMs may build at once in one tree.
        Path partial = Files.createTempFile(directory, "initramfs-", ".partial");
        try (OutputStream file = new BufferedOutputStream(Files.newOutputStream(partial));
             GZIPOutputStream gzip = new GZIPOutputStream(file, 1 << 16);
             CpioNewcWriter cpio = new CpioNewcWriter(gzip)) {
            writeBase(cpio, version);
        }
        Files.setPosixFilePermissions(partial, PosixFilePermissions.fromString("rw-r--r--"));
        Files.move(partial, initramfs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return new GuestImage(version, kernel, initramfs);
    }

    /**
     * The kernel release to boot: system property {@code jpasst.guest.kernel} if set, else the
     * newest release under /lib/modules that has a /boot/vmlinuz, preferring "cloud" kernels.
     */
    static String chooseKernelVersion() throws IOException {
        String forced = System.getProperty("jpasst.guest.kernel");
        if (forced != null && !forced.isBlank()) {
            return forced;
        }
        List<String> candidates = new ArrayList<>();
        try (Stream<Path> releases = Files.list(Path.of("/lib/modules"))) {
            releases.map(p -> p.getFileName().toString())
                    .filter(v -> Files.exists(Path.of("/boot", "vmlinuz-" + v)))
                    .forEach(candidates::add);
        }
        if (candidates.isEmpty()) {
            throw new IOException("no kernel with modules found (/lib/modules/* with /boot/vmlinuz-*);"
                    + " apt-get install linux-image-cloud-amd64");
        }
        candidates.sort(Comparator.comparing((String v) -> v.contains("cloud"))
                .thenComparing(GuestImage::compareReleases));
        return candidates.getLast();
    }

    /** Compares kernel releases by their numeric parts (6.1.0-56 after 6.1.0-9). */
    private static int compareReleases(String a, String b) {
        String[] as = a.split("[^0-9]+");
        String[] bs = b.split("[^0-9]+");
        for (int i = 0; i < Math.min(as.length, bs.length); i++) {
            if (as[i].isEmpty() || bs[i].isEmpty()) {
                continue;
            }
            int c = Long.compare(Long.parseLong(as[i]), Long.parseLong(bs[i]));
            if (c != 0) {
                return c;
            }
        }
        return a.compareTo(b);
    }

    private static void writeBase(CpioNewcWriter cpio, String version) throws IOException {
        for (String dir : List.of("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev",
                "tmp", "run", "root", "var/run", "lib/e2e/modules")) {
            cpio.directory(dir);
        }
        cpio.characterDevice("dev/console", 0600, 5, 1);
        cpio.characterDevice("dev/null", 0666, 1, 3);

        cpio.file("bin/busybox", 0755, Files.readAllBytes(BUSYBOX));
        for (String applet : run(List.of(BUSYBOX.toString(), "--list-full")).lines().toList()) {
            String path = applet.strip();
            // The list names busybox itself: a link there would replace the binary with a loop.
            if (path.isEmpty() || path.equals("bin/busybox") || path.endsWith("/busybox")) {
                continue;
            }
            cpio.symlink(path, "/bin/busybox");
        }

        List<String> loaded = new ArrayList<>();
        Map<String, Path> modules = indexModules(version);
        Set<String> builtIn = builtInModules(version);
        for (String module : VIRTIO_NET_MODULES) {
            Path file = modules.get(module);
            if (file == null) {
                if (builtIn.contains(module)) {
                    continue;
                }
                throw new IOException("kernel module " + module + " not found under /lib/modules/" + version);
            }
            cpio.file("lib/e2e/modules/" + module + ".ko", 0644, readModule(file));
            loaded.add(module);
        }
        cpio.file("lib/e2e/modules.order", 0644, (String.join("\n", loaded) + "\n").getBytes(StandardCharsets.UTF_8));

        cpio.file("etc/udhcpc.script", 0755, utf8(UDHCPC_SCRIPT));
        cpio.file("lib/e2e/functions.sh", 0644, utf8(FUNCTIONS));
        cpio.file("etc/passwd", 0644, utf8("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"));
        cpio.file("etc/group", 0644, utf8("root:x:0:\nnogroup:x:65534:\n"));
        cpio.file("init", 0755, utf8(INIT));
    }

    /** Module name (dashes as underscores) to its file, for .ko and compressed .ko.{xz,zst,gz}. */
    private static Map<String, Path> indexModules(String version) throws IOException {
        Map<String, Path> index = new HashMap<>();
        try (Stream<Path> files = Files.walk(Path.of("/lib/modules", version, "kernel"))) {
            files.filter(Files::isRegularFile).forEach(file -> {
                String name = file.getFileName().toString();
                int ko = name.indexOf(".ko");
                if (ko > 0) {
                    index.putIfAbsent(name.substring(0, ko).replace('-', '_'), file);
                }
            });
        }
        return index;
    }

    private static Set<String> builtInModules(String version) throws IOException {
        Set<String> names = new HashSet<>();
        Path list = Path.of("/lib/modules", version, "modules.builtin");
        if (Files.exists(list)) {
            for (String line : Files.readAllLines(list)) {
                String name = line.substring(line.lastIndexOf('/') + 1);
                names.add(name.replace(".ko", "").replace('-', '_'));
            }
        }
        return names;
    }

    /** The module as plain ELF: busybox insmod is not trusted to decompress. */
    private static byte[] readModule(Path file) throws IOException {
        String name = file.getFileName().toString();
        if (name.endsWith(".ko")) {
            return Files.readAllBytes(file);
        }
        if (name.endsWith(".ko.gz")) {
            try (InputStream in = new GZIPInputStream(Files.newInputStream(file))) {
                return in.readAllBytes();
            }
        }
        if (name.endsWith(".ko.xz")) {
            return runBytes(List.of("xz", "-dc", file.toString()));
        }
        if (name.endsWith(".ko.zst")) {
            return runBytes(List.of("zstd", "-dcq", file.toString()));
        }
        throw new IOException("unknown module compression: " + file);
    }

    public static String run(List<String> command) throws IOException {
        return new String(runBytes(command), StandardCharsets.UTF_8);
    }

    private static byte[] runBytes(List<String> command) throws IOException {
        Process process = new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        ByteArrayOutputStream output = new ByteArrayOutputStream();
        try (InputStream in = process.getInputStream()) {
            in.transferTo(output);
            if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
                process.destroyForcibly();
                throw new IOException("command failed: " + command);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
            throw new IOException("interrupted running " + command, e);
        }
        return output.toByteArray();
    }

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    static final String INIT = """
            #!/bin/sh
            # /init of the jpasst end-to-end guest: mount, load virtio-net, run /test.sh, power off.
            export PATH=/bin:/sbin:/usr/bin:/usr/sbin
            mount -t proc proc /proc
            mount -t sysfs sysfs /sys
            mount -t devtmpfs devtmpfs /dev 2>/dev/null
            mkdir -p /dev/pts /dev/shm
            mount -t devpts devpts /dev/pts 2>/dev/null
            mount -t tmpfs tmpfs /tmp
            for module in $(cat /lib/e2e/modules.order); do
                insmod /lib/e2e/modules/$module.ko || echo "@@MODULE_LOAD_FAILED=$module"
            done
            ip link set lo up
            echo "@@GUEST_BOOTED=$(cut -d' ' -f1 /proc/uptime)"
            if [ -f /test.sh ]; then
                /bin/sh -c '. /lib/e2e/functions.sh; . /test.sh'
                status=$?
            else
                echo "@@GUEST_NO_SCRIPT=1"
                status=127
            fi
            echo "@@GUEST_SCRIPT_EXIT=$status"
            sync
            poweroff -f
            """;

    static final String FUNCTIONS = """
            # Helpers for test scripts; sourced before /test.sh.
            mark() {
                _key=$1
                shift
                echo "@@$_key=$*"
            }

            netif() {
                _tries=0
                while [ $_tries -lt 50 ]; do
                    for _dev in /sys/class/net/*; do
                        _name=${_dev##*/}
                        if [ "$_name" != lo ] && [ -e "$_dev" ]; then
                            echo "$_name"
                            return 0
                        fi
                    done
                    sleep 0.1
                    _tries=$((_tries + 1))
                done
                echo "@@NETIF_MISSING=1" >&2
                return 1
            }

            dhcp4() {
                _if=${1:-$(netif)} || return 1
                ip link set "$_if" up
                udhcpc -i "$_if" -s /etc/udhcpc.script -f -q -n -t 3 -T 1 -O mtu -O search
                _status=$?
                mark DHCP4_EXIT $_status
                return $_status
            }
            """;

    static final String UDHCPC_SCRIPT = """
            #!/bin/sh
            # busybox udhcpc event script: configure the interface and print the lease as markers.
            case "$1" in
            deconfig)
                ip -4 addr flush dev "$interface"
                ip link set "$interface" up
                ;;
            leasefail|nak)
                echo "@@DHCP4_EVENT=$1"
                ;;
            bound|renew)
                ip -4 addr flush dev "$interface"
                ip addr add "$ip/${mask:-32}" ${broadcast:+broadcast $broadcast} dev "$interface"
                if [ -n "$mtu" ]; then
                    ip link set dev "$interface" mtu "$mtu"
                fi
                for gateway in $router; do
                    ip route add default via "$gateway" dev "$interface" 2>/dev/null ||
                        ip route add default via "$gateway" dev "$interface" onlink
                    break
                done
                : > /etc/resolv.conf
                if [ -n "$search" ]; then
                    echo "search $search" >> /etc/resolv.conf
                elif [ -n "$domain" ]; then
                    echo "search $domain" >> /etc/resolv.conf
                fi
                for server in $dns; do
                    echo "nameserver $server" >> /etc/resolv.conf
                done
                echo "@@DHCP4_EVENT=$1"
                echo "@@DHCP4_IP=$ip"
                echo "@@DHCP4_SUBNET=$subnet"
                echo "@@DHCP4_PREFIX=$mask"
                echo "@@DHCP4_ROUTER=$router"
                echo "@@DHCP4_DNS=$dns"
                echo "@@DHCP4_DOMAIN=$domain"
                echo "@@DHCP4_SEARCH=$search"
                echo "@@DHCP4_MTU=$mtu"
                echo "@@DHCP4_LEASE=$lease"
                echo "@@DHCP4_SERVER=$serverid"
                echo "@@DHCP4_BROADCAST=$broadcast"
                echo "@@IF_MTU=$(cat /sys/class/net/$interface/mtu)"
                echo "@@IF_ADDR=$(ip -4 -o addr show dev "$interface" | awk '{print $4}')"
                echo "@@IF_DEFAULT_ROUTE=$(ip route show default | head -n 1)"
                ;;
            esac
            exit 0
            """;
}
