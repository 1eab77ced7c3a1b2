package jpasst.bench;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.channels.ServerSocketChannel;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;

import jpasst.Passt;
import jpasst.conf.Conf;

class ArpProbeTest {
    @Test
    void aServingDaemonAnswersTheProbe() throws Exception {
        Path dir = Files.createTempDirectory("jpb-arp");
        Conf.Builder b = new Conf.Builder();
        b.addr4 = 0xc0000202;  // 192.0.2.2
        b.prefix4 = 24;
        b.gw4 = 0xc0000201;
        b.v6 = false;
        b.socketPath = dir.resolve("s").toString();
        Conf c = b.build();
        Passt passt = new Passt(c);
        passt.start();
        Thread loop = new Thread(passt::run, "loop");
        loop.setDaemon(true);
        loop.start();
        try {
            assertTrue(ArpProbe.answered(c.socketPath, 5_000));
        } finally {
            passt.loop.stop();
            loop.join(5000);
            passt.close();
            Compare.deleteTree(dir);
        }
    }

    @Test
    void aSocketThatOnlyListensIsNotServing() throws Exception {
        // a launcher's socket before its daemon runs: connections queue, nothing answers
        Path dir = Files.createTempDirectory("jpb-arp");
        Path s = dir.resolve("s");
        try (ServerSocketChannel listening = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listening.bind(UnixDomainSocketAddress.of(s));
            assertFalse(ArpProbe.answered(s.toString(), 300));
        } finally {
            Compare.deleteTree(dir);
        }
    }
}
