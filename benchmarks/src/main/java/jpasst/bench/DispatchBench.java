package jpasst.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jpasst.Dispatch;
import jpasst.conf.Conf;
import jpasst.flow.Transport;
import jpasst.packet.TcpHdr;
import jpasst.proto.Arp;
import jpasst.proto.Dhcp;
import jpasst.proto.Dhcpv6;
import jpasst.proto.Ndp;
import jpasst.proto.Services6;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * One guest frame through {@link Dispatch} to its transport's handler: MAC
 * learning, EtherType switch, IPv4 length/checksum/fragment checks or the IPv6 extension header
 * walk, address learning, and the hand-off with the addresses as {@code Inany} pairs. The
 * transport handler is a stub, so this is the parse-and-dispatch cost alone (see
 * {@link TcpPathBench} for the TCP layer behind it).
 */
public class DispatchBench extends JmhSettings {
    @Param({"tcp4-ack", "tcp4-1460", "tcp6-1440", "udp4-1472"})
    String frame;

    MemorySegment seg;
    int len;
    Dispatch dispatch;
    BenchTap tap;
    long handled;
    long lastL4;

    final Transport stub = new Transport() {
        @Override
        public void packet(MemorySegment s, long f, long l4, int l4Len, boolean v6,
                           long srcHi, long srcLo, long dstHi, long dstLo, boolean checksumPending) {
            handled++;
            lastL4 = l4 + l4Len + srcLo + dstLo;
        }

        @Override
        public void guestGone() {
        }
    };

    @Setup(Level.Trial)
    public void setup() {
        seg = Arena.ofAuto().allocate(65600, 64);
        len = switch (frame) {
            case "tcp4-ack" -> BenchFrames.tcp(seg, 0, false, 40000, 5201, 1000, 2000, TcpHdr.ACK_FLAG, 65535, 0);
            case "tcp4-1460" -> BenchFrames.tcp(seg, 0, false, 40000, 5201, 1000, 2000, TcpHdr.ACK_FLAG, 65535, 1460);
            case "tcp6-1440" -> BenchFrames.tcp(seg, 0, true, 40000, 5201, 1000, 2000, TcpHdr.ACK_FLAG, 65535, 1440);
            case "udp4-1472" -> BenchFrames.udp4(seg, 0, 40000, 5201, 1472);
            default -> throw new IllegalArgumentException(frame);
        };
        tap = new BenchTap(BenchFrames.conf());
        Conf conf = tap.conf;
        Ndp ndp = new Ndp(conf, tap.guest, tap.frames, tap.link, tap.loop);
        Services6 services6 = new Services6(conf, ndp, new Dhcpv6(conf, tap.guest, tap.frames));
        dispatch = new Dispatch(conf, tap.guest, new Arp(conf, tap.guest, tap.link), new Dhcp(conf, tap.frames),
                services6, stub, stub, stub);
        tap.start(dispatch);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        tap.close();
    }

    @Benchmark
    public long dispatch() {
        dispatch.frame(seg, 0, len);
        return handled + lastL4;
    }
}
