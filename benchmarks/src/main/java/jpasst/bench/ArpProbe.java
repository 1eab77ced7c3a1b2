package jpasst.bench;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;

/**
 * Whether a daemon serves: connects to its socket as QEMU would and sends one ARP request (who
 * has 169.254.1.1, from 0.0.0.0: a probe, which passt and jpasst both answer for any address
 * but the guest's own), and waits for the reply. A launcher that returned has a socket that
 * listens; only a daemon whose event loop runs answers. Plain JDK UNIX-domain channels: the
 * probe starts nothing of its own that the measured time would include.
 */
final class ArpProbe {
    private ArpProbe() {}

    private static final int ETH_LEN = 14, ARP_LEN = 28;
    private static final byte[] MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

    /** Sends the request on {@code socketPath}; true once the reply is read, false after {@code timeoutMs}. */
    static boolean answered(String socketPath, long timeoutMs) throws IOException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socketPath));
             Selector sel = Selector.open()) {
            ch.write(request());
            ch.configureBlocking(false);
            ch.register(sel, SelectionKey.OP_READ);
            ByteBuffer in = ByteBuffer.allocate(1 << 16).order(ByteOrder.BIG_ENDIAN);
            while (true) {
                long left = (deadline - System.nanoTime()) / 1_000_000L;
                if (left <= 0) return false;
                sel.select(left);
                sel.selectedKeys().clear();
                if (ch.read(in) < 0) return false;
                // frames: 4-byte length, then Ethernet; look for an ARP reply
                int pos = 0;
                while (in.position() - pos >= 4) {
                    int len = in.getInt(pos);
                    if (in.position() - pos - 4 < len) break;
                    int f = pos + 4;
                    if (len >= ETH_LEN + ARP_LEN && in.getShort(f + 12) == 0x0806 && in.getShort(f + ETH_LEN + 6) == 2) {
                        return true;
                    }
                    pos = f + len;
                }
                if (in.remaining() < 4096) in.clear(); // only other frames: forget them
            }
        }
    }

    private static ByteBuffer request() {
        ByteBuffer b = ByteBuffer.allocate(4 + ETH_LEN + ARP_LEN).order(ByteOrder.BIG_ENDIAN);
        b.putInt(ETH_LEN + ARP_LEN);
        for (int i = 0; i < 6; i++) b.put((byte) 0xff);
        b.put(MAC).putShort((short) 0x0806);
        b.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 1);
        b.put(MAC).putInt(0);                                   // sender: us, 0.0.0.0
        b.put(new byte[6]).put(new byte[] {(byte) 169, (byte) 254, 1, 1}); // target: 169.254.1.1
        return b.flip();
    }
}
