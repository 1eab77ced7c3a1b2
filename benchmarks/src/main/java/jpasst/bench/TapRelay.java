package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

import jpasst.packet.Net;
import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Sockets;
import jpasst.sys.SockAddr;

/**
 * Joins a tap device to a passt-compatible daemon's socket, as QEMU joins a guest's NIC to it:
 * run inside a network namespace, it makes that namespace's own kernel the guest, with real
 * Linux TCP (design.md, "Measuring without a VM"). Usage:
 * {@code TapRelay TAPNAME SOCKET}; prints "READY" once the tap exists and the socket is
 * connected, then relays until either side goes away.
 *
 * <p>The tap is opened through /dev/net/tun with {@code TUNSETIFF} ({@code IFF_TAP|IFF_NO_PI}:
 * bare Ethernet frames, one per read or write; without {@code IFF_VNET_HDR} the kernel hands it
 * segmented, checksummed frames no larger than the MTU). Two threads, so neither direction ever
 * waits for the other: tap → socket reads every frame the tap has (non-blocking, up to 1 MB)
 * straight behind its 4-byte length and writes the batch with one write; socket → tap reads the
 * stream in large chunks and writes each complete frame to the tap where it lies.
 */
public final class TapRelay {
    private static final long TUNSETIFF = 0x400454caL;
    private static final short IFF_TAP = 0x0002, IFF_NO_PI = 0x1000;
    private static final int BATCH = 1 << 20, MAX_FRAME = 65535 + 4;

    private TapRelay() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: TapRelay TAPNAME SOCKET");
            System.exit(2);
        }
        Arena arena = Arena.global();
        int tap = Descriptors.open(arena.allocateFrom("/dev/net/tun"), Descriptors.O_RDWR | Descriptors.O_CLOEXEC, 0);
        if (tap < 0) fail("/dev/net/tun: " + Errno.text(tap));
        MemorySegment ifr = arena.allocate(40, 8);
        byte[] name = args[0].getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(name, 0, ifr, ValueLayout.JAVA_BYTE, 0, Math.min(15, name.length));
        ifr.set(ValueLayout.JAVA_SHORT, 16, (short) (IFF_TAP | IFF_NO_PI));
        int r = Descriptors.ioctl(tap, TUNSETIFF, ifr);
        if (r < 0) fail("TUNSETIFF " + args[0] + ": " + Errno.text(r));
        Descriptors.fcntl(tap, Descriptors.F_SETFL, Descriptors.fcntl(tap, Descriptors.F_GETFL, 0) | Descriptors.O_NONBLOCK);

        int sock = Sockets.socket(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0);
        MemorySegment sa = arena.allocate(SockAddr.UN_SIZE);
        int len = SockAddr.unix(sa, args[1]);
        r = Sockets.connect(sock, sa, len);
        if (r < 0) fail("connect " + args[1] + ": " + Errno.text(r));

        Thread up = new Thread(() -> tapToSocket(tap, sock), "tap-to-socket");
        Thread down = new Thread(() -> socketToTap(sock, tap), "socket-to-tap");
        up.start();
        down.start();
        System.out.println("READY");
        System.out.flush();
        down.join();
        System.exit(0);
    }

    private static void fail(String why) {
        System.err.println("TapRelay: " + why);
        System.exit(1);
    }

    private static void tapToSocket(int tap, int sock) {
        MemorySegment buf = Arena.global().allocate(BATCH + MAX_FRAME, 64);
        MemorySegment ev = Arena.global().allocate(Epoll.EVENT_SIZE, 8);
        int ep = Epoll.epollCreate1(Epoll.EPOLL_CLOEXEC);
        Epoll.event(ev, Epoll.EPOLLIN, 0L);
        Epoll.epollCtl(ep, Epoll.EPOLL_CTL_ADD, tap, ev);
        long base = buf.address();
        while (true) {
            int fill = 0;
            while (fill < BATCH) {
                long n = Descriptors.read(tap, base + fill + 4, MAX_FRAME);
                if (n < 0) {
                    if (n == -Errno.EINTR) continue;
                    if (n == -Errno.EAGAIN) break;
                    fail("tap read: " + Errno.text((int) n));
                }
                buf.set(Net.INT, fill, (int) n);
                fill += 4 + (int) n;
            }
            if (fill == 0) {
                Epoll.epollWait(ep, ev, 1, 1000);
                continue;
            }
            for (long p = 0; p < fill; ) {
                long n = Descriptors.write(sock, base + p, fill - p);
                if (n < 0) {
                    if (n == -Errno.EINTR) continue;
                    System.exit(0); // the daemon went away
                }
                p += n;
            }
        }
    }

    private static void socketToTap(int sock, int tap) {
        MemorySegment buf = Arena.global().allocate(4L * BATCH + MAX_FRAME, 64);
        long base = buf.address();
        int fill = 0;
        while (true) {
            long n = Descriptors.read(sock, base + fill, 4L * BATCH - fill);
            if (n == -Errno.EINTR) continue;
            if (n <= 0) return;
            fill += (int) n;
            int pos = 0;
            while (fill - pos >= 4) {
                int len = buf.get(Net.INT, pos);
                if (len < 14 || len > 65535) fail("bad frame length " + len + " from the daemon");
                if (fill - pos - 4 < len) break;
                long w;
                do {
                    w = Descriptors.write(tap, base + pos + 4, len);
                } while (w == -Errno.EINTR);
                // EAGAIN or ENOBUFS: the namespace's backlog is full, the frame is dropped as a NIC would
                pos += 4 + len;
            }
            if (pos > 0) {
                int rest = fill - pos;
                if (rest > 0) MemorySegment.copy(buf, pos, buf, 0, rest);
                fill = rest;
            }
        }
    }
}
