package jpasst;

import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.loop.EventLoop;
import jpasst.proto.Arp;
import jpasst.proto.Dhcp;
import jpasst.tap.Tap;
import jpasst.tap.TapFrames;

/**
 * One daemon instance: the configuration, the event loop and everything the loop drives, wired
 * together. {@link Main} builds one per process; tests build one in-process over real sockets and
 * run its loop on a thread of their own.
 */
public final class Passt implements AutoCloseable {
    public final Conf conf;
    public final EventLoop loop;
    public final Tap tap;
    public final TapFrames frames;
    public final Dispatch dispatch;
    public final Dhcp dhcp;
    public final Arp arp;
    public final jpasst.flow.Flows flows;
    public final jpasst.proto.Ndp ndp;
    public final jpasst.proto.Dhcpv6 dhcpv6;
    public final jpasst.flow.Tcp tcp;
    public final jpasst.flow.Udp udp;
    public final jpasst.flow.Icmp icmp;

    public Passt(Conf conf) {
        this.conf = conf;
        this.loop = new EventLoop();
        Dispatch[] d = new Dispatch[1];
        this.tap = new Tap(conf, loop, new Tap.Handler() {
            @Override
            public void frame(MemorySegment buf, long off, int len) {
                d[0].frame(buf, off, len);
            }

            @Override
            public void guestGone() {
                d[0].guestGone();
            }

            @Override
            public void framesDone() {
                d[0].framesDone();
            }
        });
        this.frames = new TapFrames(conf, tap);
        this.arp = new Arp(conf, tap);
        this.dhcp = new Dhcp(conf, frames);
        this.dispatch = new Dispatch(conf, arp, dhcp);
        d[0] = dispatch;
        this.flows = new jpasst.flow.Flows(conf);
        dispatch.l4(flows);
        this.ndp = new jpasst.proto.Ndp(conf, frames, loop);
        this.dhcpv6 = new jpasst.proto.Dhcpv6(conf, frames);
        dispatch.local6(new jpasst.proto.Services6(conf, ndp, dhcpv6));
        loop.onTick(ndp::tick);
        this.tcp = new jpasst.flow.Tcp(conf, loop, frames, flows, jpasst.flow.Tcp.MAX_CONNS_DEFAULT);
        flows.tcp(tcp);
        this.udp = new jpasst.flow.Udp(conf, loop, frames, flows);
        flows.udp(udp);
        this.icmp = new jpasst.flow.Icmp(conf, loop, frames, flows);
        flows.icmp(icmp);
        flows.icmp6(icmp);
        // after each batch of events: transports finish their work, then the frames leave at once
        loop.onEndOfBatch(tcp::endOfBatch);
        loop.onEndOfBatch(tap::flush);
        tap.onOneOffExit(loop::stop);
    }

    /** Binds the guest-side socket and the forwarded ports, and serves them. */
    public void start() {
        start(Listeners.open(conf));
    }

    /** Serves sockets bound already: by {@link #start()}, or by the launching process. */
    public void start(Listeners l) {
        if (l.tap >= 0) tap.listen(l.tap, l.socketPath);
        else tap.start();
        tcp.listen(l.tcpForward, l.tcp);
        if (l.udpForward != null) udp.listen(l.udpForward, l.udp);
    }

    /** Runs the loop on the calling thread until {@link EventLoop#stop()}. */
    public void run() {
        loop.run();
    }

    @Override
    public void close() {
        tcp.close();
        udp.close();
        icmp.close();
        tap.close();
        loop.close();
    }
}
