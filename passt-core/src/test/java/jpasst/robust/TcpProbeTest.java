package jpasst.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.InputStream;

import org.junit.jupiter.api.Test;

import jpasst.guest.Frames;
import jpasst.guest.Match;
import jpasst.guest.GuestLink;

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
        try (RawTcpConnection t = RawTcpConnection.open(40100, 5000)) {
            GuestLink g = t.g;
            for (int probe = 0; probe < 3; probe++) {
                while (g.receive(100) != null) { /* quiet link */ }
                g.send(t.segment(t.isn, t.their, Frames.ACK, new byte[0]));
                byte[] ack = g.receive(2000, Match.tcp(t.guestPort, Frames.ACK));
                assertNotNull(ack, "probe " + probe + " not acknowledged");
                assertEquals(t.isn + 1, Frames.i32(ack, 14 + 20 + 8), "the ACK names the next byte expected");
            }
            // the connection is as it was: data still flows
            g.send(t.segment(t.isn + 1, t.their, Frames.ACK | Frames.PSH, new byte[] {'o', 'k'}));
            t.host.setSoTimeout(3000);
            InputStream in = t.host.getInputStream();
            assertEquals("ok", new String(in.readNBytes(2), java.nio.charset.StandardCharsets.US_ASCII));
        }
    }
}
