package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.packet.Eth;
import jpasst.packet.Ip4;
import jpasst.packet.UdpHdr;
import jpasst.proto.Dhcp;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * A DHCPDISCOVER (with a parameter request list, as udhcpc sends) answered with a DHCPOFFER
 * synthesized in the tap's output buffer: option parsing, the reply's fixed fields, options in
 * the client's order, padding, UDP checksum, IPv4 and Ethernet headers. The daemon runs with
 * passt's default log level minus info ({@code -q}), as a daemon does.
 */
public class DhcpBench extends JmhSettings {
    MemorySegment seg;
    int udpLen;
    BenchTap bt;
    Dhcp dhcp;

    @Setup(Level.Trial)
    public void setup() {
        Conf.Builder conf = BenchFrames.conf();
        conf.search = new java.util.ArrayList<>(java.util.List.of("example.org", "lab.example.org"));
        seg = Arena.ofAuto().allocate(2048, 64);
        BenchFrames.dhcpDiscover(seg, 0);
        udpLen = UdpHdr.length(seg, Eth.LEN + Ip4.MIN_LEN);
        bt = new BenchTap(conf).start(BenchTap.NO_RECEIVER);
        dhcp = new Dhcp(bt.conf, bt.frames);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        bt.close();
    }

    @Benchmark
    public boolean offer() {
        boolean r = dhcp.handle(seg, 0, Eth.LEN + Ip4.MIN_LEN, udpLen);
        bt.link.discardQueued();
        return r;
    }
}
