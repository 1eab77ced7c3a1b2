package jpasst.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;

import org.junit.jupiter.api.Test;

import jpasst.guest.Frames;
import jpasst.guest.Match;
import jpasst.guest.GuestLink;

/**
 * Both sides close at once, as the soak test caught once in 463,660 transfers: the guest's FIN
 * (sent before the daemon's FIN reached it) and the guest's ACK of the daemon's FIN arrive in the
 * same batch. The daemon then has both FINs through and closes the connection; it must still
 * acknowledge the guest's FIN, or the guest retransmits it to a connection that is gone and gets
 * a reset instead of a clean close.
 */
class TcpCloseRaceTest {
    @Test
    void theGuestsFinIsAcknowledgedWhenItsAckOfOurFinArrivesInTheSameBatch() throws Exception {
        try (RawTcpConnection t = RawTcpConnection.open(40200, 7000)) {
            GuestLink g = t.g;
            t.host.getOutputStream().write('x');
            t.host.shutdownOutput();
            // the daemon's data and FIN (maybe in one segment, maybe two)
            int theirFin = -1;
            for (int i = 0; i < 4 && theirFin < 0; i++) {
                byte[] f = g.receive(3000, Match.tcpTo(t.guestPort));
                assertNotNull(f, "no data or FIN from the daemon");
                int seq = Frames.i32(f, 14 + 20 + 4), len = f.length - 14 - 20 - 20;
                if ((f[14 + 20 + 13] & Frames.FIN) != 0) theirFin = seq + len;
            }
            // the guest's FIN, which does not acknowledge the daemon's FIN yet, then its ACK of
            // that FIN: one write, so the daemon takes both in one batch
            ByteArrayOutputStream both = new ByteArrayOutputStream();
            for (byte[] f : new byte[][] {
                    t.segment(t.isn + 1, t.their, Frames.ACK | Frames.FIN, new byte[0]),
                    t.segment(t.isn + 2, theirFin + 1, Frames.ACK, new byte[0])}) {
                both.writeBytes(ByteBuffer.allocate(4).putInt(f.length).array());
                both.writeBytes(f);
            }
            g.writeRaw(both.toByteArray());
            byte[] ack = g.receive(2000, f -> Match.tcpTo(t.guestPort).test(f));
            assertNotNull(ack, "the guest's FIN was never acknowledged");
            assertEquals(Frames.ACK, ack[14 + 20 + 13] & 0x17, "an ACK, not a reset");
            assertEquals(t.isn + 2, Frames.i32(ack, 14 + 20 + 8), "acknowledging the guest's FIN");
        }
    }
}
