package jpasst.glue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.regex.Pattern;

/**
 * The QEMU arguments that wire a guest NIC to a passt-compatible daemon's UNIX socket, for the
 * QEMU release at hand. Facts behind the version boundaries (QEMU's qapi/net.json, qapi/char.json
 * and qemu-options.hx; libvirt's qemu_capabilities.c for JSON):
 * <ul>
 *   <li>{@code -netdev stream,server=off,addr.type=unix,addr.path=…} exists from 7.2, and so does
 *       JSON syntax for {@code -netdev} (it came with the stream/dgram netdevs).</li>
 *   <li>{@code reconnect=SECONDS} on {@code -netdev stream}: 8.0 to 10.1 (deprecated in 9.2,
 *       removed in 10.2); {@code reconnect-ms=MS}: 9.2 on. So seconds for 8.0–9.1, ms from 9.2.</li>
 *   <li>Older QEMU gets {@code -netdev socket,fd=N} with a socket connected for it (passt's qrap).</li>
 *   <li>vhost-user: {@code -chardev socket,path=…} + {@code -netdev vhost-user,chardev=…}, with all
 *       guest RAM in a shared memfd ({@code -object memory-backend-memfd,share=on,size=RAM
 *       -numa node,memdev=…}) because the daemon reads guest memory directly. The chardev's
 *       reconnect follows the same seconds/ms boundary at 9.2.</li>
 * </ul>
 * The JSON form writes {@code -netdev}, {@code -device} and {@code -object} as JSON objects the way
 * libvirt does; {@code -chardev} and {@code -numa} stay in key=value form, which every QEMU reads.
 * In key=value form a comma inside a value is doubled, as QEMU's option parser requires.
 */
public final class QemuNetworkArgs {

    public static final String DEFAULT_ID = "jpasst0";
    /** The descriptor number qrap used for the connected socket. */
    public static final int DEFAULT_SOCKET_FD = 5;
    public static final String DEFAULT_DEVICE_MODEL = "virtio-net-pci";

    private static final Pattern QEMU_ID = Pattern.compile("[A-Za-z][A-Za-z0-9._-]*");
    private static final Pattern MAC = Pattern.compile("\\p{XDigit}{2}(:\\p{XDigit}{2}){5}");

    private final Path socket;
    private final QemuVersion version;
    private final NetdevForm form;
    private final String id;
    private final String guestMac;
    private final Duration reconnect;
    private final int socketFd;
    private final long guestRamBytes;
    private final String deviceModel;
    private final boolean json;

    private QemuNetworkArgs(Builder b) {
        this.socket = Objects.requireNonNull(b.socket, "socket");
        this.version = Objects.requireNonNull(b.version, "QEMU version");
        this.form = b.form != null ? b.form
                : version.atLeast(QemuVersion.STREAM_NETDEV) ? NetdevForm.STREAM : NetdevForm.SOCKET_FD;
        this.id = b.id;
        this.guestMac = b.guestMac;
        this.reconnect = b.reconnect;
        this.socketFd = b.socketFd;
        this.guestRamBytes = b.guestRamBytes;
        this.deviceModel = b.deviceModel;
        this.json = b.json;
        validate();
    }

    /** Starts arguments for the daemon socket at {@code socket}; a QEMU version is required. */
    public static Builder forSocket(Path socket) {
        return new Builder(socket);
    }

    private void validate() {
        if (!QEMU_ID.matcher(id).matches()) {
            throw new IllegalArgumentException("'" + id + "' is not a QEMU id (a letter, then letters, digits, '.', '_', '-')");
        }
        if (guestMac != null && !MAC.matcher(guestMac).matches()) {
            throw new IllegalArgumentException("'" + guestMac + "' is not a MAC address like 52:54:00:12:34:56");
        }
        if (form == NetdevForm.STREAM && !version.atLeast(QemuVersion.STREAM_NETDEV)) {
            throw new IllegalArgumentException("QEMU " + version + " has no -netdev stream (added in 7.2): "
                    + "use the socket fd form, which hands QEMU a connected socket");
        }
        if (json && !version.atLeast(QemuVersion.STREAM_NETDEV)) {
            throw new IllegalArgumentException("QEMU " + version + " does not read JSON after -netdev (added in 7.2)");
        }
        if (reconnect != null) {
            if (reconnect.isNegative() || reconnect.isZero()) {
                throw new IllegalArgumentException("reconnect delay must be positive, not " + reconnect);
            }
            if (form == NetdevForm.SOCKET_FD) {
                throw new IllegalArgumentException("a socket handed over as fd " + socketFd + " cannot reconnect");
            }
            if (form == NetdevForm.STREAM && !version.atLeast(QemuVersion.STREAM_RECONNECT_SECONDS)) {
                throw new IllegalArgumentException("QEMU " + version
                        + " cannot reconnect -netdev stream (reconnect= arrived in 8.0)");
            }
        }
        if (form == NetdevForm.SOCKET_FD && socketFd < 3) {
            throw new IllegalArgumentException("fd " + socketFd + " is stdin/stdout/stderr; use 3 or more");
        }
        if (form == NetdevForm.VHOST_USER && guestRamBytes <= 0) {
            throw new IllegalArgumentException("vhost-user needs the guest RAM size (the -m of the VM)");
        }
    }

    public NetdevForm form() {
        return form;
    }

    public QemuVersion qemuVersion() {
        return version;
    }

    public Path socket() {
        return socket;
    }

    public String netdevId() {
        return id;
    }

    /**
     * For the socket fd form: the descriptor number at which QEMU expects the connected socket
     * (whoever starts QEMU must connect {@link #socket()} and place it there). Empty otherwise.
     */
    public OptionalInt fdToPass() {
        return form == NetdevForm.SOCKET_FD ? OptionalInt.of(socketFd) : OptionalInt.empty();
    }

    /** The arguments to append to a QEMU command line. */
    public List<String> arguments() {
        List<String> args = new ArrayList<>();
        switch (form) {
            case STREAM -> {
                args.add("-netdev");
                args.add(json ? Json.write(streamNetdevJson()) : streamNetdevKeyval());
            }
            case SOCKET_FD -> {
                args.add("-netdev");
                args.add(json ? Json.write(socketFdNetdevJson()) : "socket,id=" + id + ",fd=" + socketFd);
            }
            case VHOST_USER -> {
                args.add("-chardev");
                args.add(vhostUserChardevKeyval());
                args.add("-netdev");
                args.add(json ? Json.write(vhostUserNetdevJson())
                        : "vhost-user,id=" + id + ",chardev=" + chardevId());
                args.add("-object");
                args.add(json ? Json.write(memoryBackendJson())
                        : "memory-backend-memfd,id=" + memoryId() + ",share=on,size=" + GuestMemory.format(guestRamBytes));
                args.add("-numa");
                args.add("node,memdev=" + memoryId());
            }
        }
        args.add("-device");
        args.add(json ? Json.write(deviceJson()) : deviceKeyval());
        return List.copyOf(args);
    }

    /** {@link #arguments()} as one line for a POSIX shell. */
    public String shellLine() {
        return ShellQuote.join(arguments());
    }

    private String chardevId() {
        return id + "-chardev";
    }

    private String memoryId() {
        return id + "-memory";
    }

    private boolean reconnectInMilliseconds() {
        return version.atLeast(QemuVersion.STREAM_RECONNECT_MS);
    }

    /** Whole seconds, rounded up: a sub-second delay must not become 0, which means "never". */
    private long reconnectSeconds() {
        long seconds = reconnect.toSeconds();
        return reconnect.toNanosPart() > 0 || seconds == 0 ? seconds + 1 : seconds;
    }

    private String reconnectKeyval() {
        if (reconnect == null) return "";
        return reconnectInMilliseconds() ? ",reconnect-ms=" + reconnect.toMillis() : ",reconnect=" + reconnectSeconds();
    }

    private void putReconnect(Map<String, Object> json) {
        if (reconnect == null) return;
        if (reconnectInMilliseconds()) {
            json.put("reconnect-ms", reconnect.toMillis());
        } else {
            json.put("reconnect", reconnectSeconds());
        }
    }

    private String streamNetdevKeyval() {
        return "stream,id=" + id + ",server=off,addr.type=unix,addr.path=" + keyvalValue(socket.toString())
                + reconnectKeyval();
    }

    private Map<String, Object> streamNetdevJson() {
        Map<String, Object> addr = new LinkedHashMap<>();
        addr.put("type", "unix");
        addr.put("path", socket.toString());
        Map<String, Object> netdev = new LinkedHashMap<>();
        netdev.put("type", "stream");
        netdev.put("addr", addr);
        netdev.put("server", false);
        putReconnect(netdev);
        netdev.put("id", id);
        return netdev;
    }

    private Map<String, Object> socketFdNetdevJson() {
        Map<String, Object> netdev = new LinkedHashMap<>();
        netdev.put("type", "socket");
        netdev.put("fd", Integer.toString(socketFd));
        netdev.put("id", id);
        return netdev;
    }

    private String vhostUserChardevKeyval() {
        return "socket,id=" + chardevId() + ",path=" + keyvalValue(socket.toString()) + reconnectKeyval();
    }

    private Map<String, Object> vhostUserNetdevJson() {
        Map<String, Object> netdev = new LinkedHashMap<>();
        netdev.put("type", "vhost-user");
        netdev.put("chardev", chardevId());
        netdev.put("id", id);
        return netdev;
    }

    private Map<String, Object> memoryBackendJson() {
        Map<String, Object> object = new LinkedHashMap<>();
        object.put("qom-type", "memory-backend-memfd");
        object.put("id", memoryId());
        object.put("share", true);
        object.put("size", guestRamBytes);
        return object;
    }

    private String deviceKeyval() {
        return deviceModel + ",netdev=" + id + (guestMac == null ? "" : ",mac=" + guestMac);
    }

    private Map<String, Object> deviceJson() {
        Map<String, Object> device = new LinkedHashMap<>();
        device.put("driver", deviceModel);
        device.put("netdev", id);
        if (guestMac != null) device.put("mac", guestMac);
        return device;
    }

    private static String keyvalValue(String value) {
        return value.replace(",", ",,");
    }

    /** Collects the choices; {@link #build()} checks them against the QEMU version. */
    public static final class Builder {
        private final Path socket;
        private QemuVersion version;
        private NetdevForm form;
        private String id = DEFAULT_ID;
        private String guestMac;
        private Duration reconnect;
        private int socketFd = DEFAULT_SOCKET_FD;
        private long guestRamBytes;
        private String deviceModel = DEFAULT_DEVICE_MODEL;
        private boolean json;

        private Builder(Path socket) {
            this.socket = socket;
        }

        public Builder qemuVersion(QemuVersion version) {
            this.version = version;
            return this;
        }

        /** Forces a form; by default STREAM on QEMU 7.2 and later, SOCKET_FD before. */
        public Builder form(NetdevForm form) {
            this.form = form;
            return this;
        }

        public Builder netdevId(String id) {
            this.id = id;
            return this;
        }

        public Builder guestMac(String mac) {
            this.guestMac = mac;
            return this;
        }

        /** Reconnect after this delay when the daemon goes away (QEMU 8.0 on; null: never). */
        public Builder reconnect(Duration delay) {
            this.reconnect = delay;
            return this;
        }

        public Builder socketFd(int fd) {
            this.socketFd = fd;
            return this;
        }

        /** Guest RAM in bytes; required by the vhost-user form. */
        public Builder guestRamBytes(long bytes) {
            this.guestRamBytes = bytes;
            return this;
        }

        public Builder deviceModel(String model) {
            this.deviceModel = model;
            return this;
        }

        /** Writes -netdev, -device and -object as JSON, as libvirt does (QEMU 7.2 on). */
        public Builder json(boolean json) {
            this.json = json;
            return this;
        }

        public QemuNetworkArgs build() {
            return new QemuNetworkArgs(this);
        }
    }
}
