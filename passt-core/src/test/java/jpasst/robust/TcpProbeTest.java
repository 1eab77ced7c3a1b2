package jpasst.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

import org.junit.jupiter.api.Test;

import jpasst.testutil.Frames;
import jpasst.testutil.GuestLink;
import jpasst.testutil.InProcessPasst;

/**
 * Segments a long-lived guest connection sends when nothing else happens: Linux's keep-alive and
 * zero-window probes carry the sequence number one before the next expected byte and no data
 * (tcp_xmit_probe_skb). They must be acknowledged (RFC 9293 3.10.7.4: an unacceptable segment
 * gets an ACK), or the guest's kernel, seeing none of its probes answered, gives up on a
 * perfectly healthy connection (after tcp_keepalive_probes keep-alives, or tcp_retries2 window
 * probes).
 */
class TcpProbeTest {
    @Test
    void keepAliveAndZeroWindowProbesAreAcknowledged() throws Exception {
        try (ServerSocket l = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"));
             InProcessPasst p = new InProcessPasst();
             GuestLink g = p.connect()) {
            int port = l.getLocalPort(), gport = 40100, isn = 5000;
            g.send(FuzzFrames.tcp4(FuzzFrames.ADDR4, FuzzFrames.GW4, gport, port, isn, 0, FuzzFrames.SYN, 65535,
                    new byte[0], new byte[0]));
            byte[] synAck = g.receive(3000, Replies.tcp(gport, FuzzFrames.SYN | FuzzFrames.ACK));
            assertNotNull(synAck);
            int their = Frames.i32(synAck, 14 + 20 + 4) + 1;
            g.send(FuzzFrames.tcp4(FuzzFrames.ADDR4, FuzzFrames.GW4, gport, port, isn + 1, their, FuzzFrames.ACK, 65535,
                    new byte[0], new byte[0]));
            try (Socket host = l.accept()) {
                for (int probe = 0; probe < 3; probe++) {
                    while (g.receive(100) != null) { /* quiet link */ }
                    g.send(FuzzFrames.tcp4(FuzzFrames.ADDR4, FuzzFrames.GW4, gport, port, isn, their, FuzzFrames.ACK, 65535,
                            new byte[0], new byte[0]));
                    byte[] ack = g.receive(2000, Replies.tcp(gport, FuzzFrames.ACK));
                    assertNotNull(ack, "probe " + probe + " not acknowledged");
                    assertEquals(isn + 1, Frames.i32(ack, 14 + 20 + 8), "the ACK names the next byte expected");
                }
                // the connection is as it was: data still flows
                g.send(FuzzFrames.tcp4(FuzzFrames.ADDR4, FuzzFrames.GW4, gport, port, isn + 1, their,
                        FuzzFrames.ACK | FuzzFrames.PSH, 65535, new byte[0], new byte[] {'o', 'k'}));
                host.setSoTimeout(3000);
                InputStream in = host.getInputStream();
                assertEquals("ok", new String(in.readNBytes(2), java.nio.charset.StandardCharsets.US_ASCII));
            }
        }
    }
}
