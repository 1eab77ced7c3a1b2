package jpasst.guest.vm;

import java.nio.file.Path;
import java.util.List;

/**
 * How a guest's frames reach the daemon, the two transports passt serves: QEMU's stream netdev
 * on a UNIX socket (4-byte length, then the frame), and vhost-user, where QEMU shares the guest's
 * RAM (a memfd) and the daemon reads and writes the frames in the guest's own virtqueues. Each
 * says what QEMU and the daemon need to be started with; the end-to-end tests take a daemon over
 * a transport as their parameter, so every guest test runs over both. (The guest side's own
 * frame-level transports are {@link jpasst.guest.Transport}'s, for guests without a VM.)
 */
public enum Transport {
    STREAM("stream socket"),
    VHOST_USER("vhost-user");

    private final String displayName;

    Transport(String displayName) {
        this.displayName = displayName;
    }

    /** The daemon options that choose this transport (passt's). */
    public List<String> daemonOptions() {
        return this == VHOST_USER ? List.of("--vhost-user") : List.of();
    }

    /**
     * QEMU's arguments for a virtio-net device with netdev id {@code id} on the daemon's
     * {@code socket}, for a guest of {@code memoryMegabytes}: over vhost-user the guest's RAM is
     * a shared memfd of that size, which the daemon maps.
     */
    public List<String> qemuArguments(String id, Path socket, int memoryMegabytes) {
        return qemuArguments(id, socket, memoryMegabytes, 0);
    }

    /**
     * As {@link #qemuArguments(String, Path, int)}, and with {@code reconnectMs} > 0 QEMU
     * connects again that long after the daemon went away (libvirt asks for 5 s): the stream
     * netdev's or the vhost-user chardev's {@code reconnect-ms}.
     */
    public List<String> qemuArguments(String id, Path socket, int memoryMegabytes, int reconnectMs) {
        String reconnect = reconnectMs > 0 ? ",reconnect-ms=" + reconnectMs : "";
        return switch (this) {
            case STREAM -> List.of(
                    "-device", "virtio-net-pci,netdev=" + id + ",romfile=",
                    "-netdev", "stream,id=" + id + ",server=off,addr.type=unix,addr.path=" + socket + reconnect);
            case VHOST_USER -> List.of(
                    "-object", "memory-backend-memfd,id=" + id + "mem,share=on,size=" + memoryMegabytes + "M",
                    "-machine", "memory-backend=" + id + "mem",
                    "-chardev", "socket,id=" + id + "chr,path=" + socket + reconnect,
                    "-netdev", "vhost-user,id=" + id + ",chardev=" + id + "chr",
                    "-device", "virtio-net-pci,netdev=" + id + ",romfile=");
        };
    }

    @Override
    public String toString() {
        return displayName;
    }
}
