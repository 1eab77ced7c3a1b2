package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

import jpasst.Passt;
import jpasst.conf.Conf;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
import jpasst.packet.Net;
import jpasst.packet.TcpHdr;
import jpasst.sys.Descriptors;
import jpasst.sys.Sockets;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * A guest ACK on an established connection through the whole daemon as assembled by
 * {@link Passt}: tap framing handed over, dispatch, TCP checksum check, flow table lookup among
 * the live connections, and the TCP layer's ACK processing. The connection is real: set up in
 * the trial's setup by a SYN to the gateway, which the daemon connects to a listening socket on
 * the host's loopback, and the guest's ACK of the daemon's SYN-ACK. Nothing here makes a system
 * call per operation (an ACK that acknowledges nothing new changes nothing).
 */
public class TcpPathBench extends JmhSettings {
    Passt passt;
    int peerFd;
    ServerSocket server;
    Socket accepted;
    MemorySegment seg;
    int ackLen;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        Conf.Builder conf = BenchFrames.conf();
        conf.v6 = false;
        MemorySegment fds = Arena.ofAuto().allocate(ValueLayout.JAVA_INT, 2);
        Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM, 0, fds);
        conf.fd = fds.get(ValueLayout.JAVA_INT, 0);
        peerFd = fds.get(ValueLayout.JAVA_INT, 4);
        passt = new Passt(conf.build());
        passt.start();
        server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
        int port = server.getLocalPort();
        seg = Arena.ofAuto().allocate(2048, 64);

        int synLen = BenchFrames.tcp(seg, 0, false, 40000, port, 1000, 0, TcpHdr.SYN, 65535, 0);
        passt.dispatch.frame(seg, 0, synLen);
        MemorySegment in = Arena.ofAuto().allocate(65536, 8);
        int serverSeq = 0;
        long deadline = System.nanoTime() + 5_000_000_000L;
        found:
        while (System.nanoTime() < deadline) {
            passt.loop.runOnce();
            long n = Sockets.recv(peerFd, in, in.byteSize(), Sockets.MSG_DONTWAIT);
            for (long p = 0; n > 0 && p + 4 <= n; ) {
                int flen = Net.i32(in, p);
                long tcp = p + 4 + Eth.LEN + Ip4.MIN_LEN;
                if ((TcpHdr.flags(in, tcp) & (TcpHdr.SYN | TcpHdr.ACK_FLAG)) == (TcpHdr.SYN | TcpHdr.ACK_FLAG)) {
                    serverSeq = TcpHdr.seq(in, tcp);
                    break found;
                }
                p += 4 + flen;
            }
        }
        if (serverSeq == 0) throw new IllegalStateException("no SYN-ACK from the daemon");
        accepted = server.accept();
        ackLen = BenchFrames.tcp(seg, 0, false, 40000, port, 1001, serverSeq + 1, TcpHdr.ACK_FLAG, 65535, 0);
        passt.dispatch.frame(seg, 0, ackLen);
        passt.loop.runOnce();
        Sockets.recv(peerFd, in, in.byteSize(), Sockets.MSG_DONTWAIT);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        accepted.close();
        server.close();
        passt.close();
        Descriptors.close(peerFd);
    }

    @Benchmark
    public long pureAck() {
        passt.dispatch.frame(seg, 0, ackLen);
        return passt.dispatch.dropped();
    }
}
