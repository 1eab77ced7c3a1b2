package jpasst;

import jpasst.conf.Conf;
import jpasst.flow.AddressMapping;
import jpasst.conf.PortSpec;
import jpasst.control.ControlServer;
import jpasst.control.Operations;
import jpasst.flow.Flows;
import jpasst.flow.Forwards;
import jpasst.flow.Icmp;
import jpasst.flow.Tcp;
import jpasst.flow.TcpListeners;
import jpasst.flow.Udp;
import jpasst.link.FrameWriter;
import jpasst.link.Guest;
import jpasst.link.Link;
import jpasst.link.Pcap;
import jpasst.loop.EventLoop;
import jpasst.proto.Arp;
import jpasst.proto.Dhcp;
import jpasst.proto.Dhcpv6;
import jpasst.proto.Ndp;
import jpasst.proto.Services6;
import jpasst.tap.StreamLink;
import jpasst.vhost.VhostUserLink;

/**
 * One daemon instance: the configuration, the event loop and everything the loop drives, wired
 * together by constructors, bottom up: the link to the guest, the frame writer over it, the
 * services the daemon answers itself, the transports, and the dispatcher that the link hands
 * the guest's frames to ({@link #start}). {@link Main} builds one per process; tests build one
 * in-process over real sockets and run its loop on a thread of their own.
 *
 * The guest transport is chosen here: the stream socket QEMU's {@code -netdev stream} connects
 * to ({@link StreamLink}), or with {@code --vhost-user} the guest's own virtqueues
 * ({@link VhostUserLink}); every layer above it only knows {@link Link}.
 */
public final class Passt implements AutoCloseable {
    public final Conf conf;
    public final EventLoop loop;
    /** What the daemon learns about the guest from its frames. */
    public final Guest guest;
    public final Link link;
    public final FrameWriter frames;
    public final Arp arp;
    public final Dhcp dhcp;
    public final Ndp ndp;
    public final Dhcpv6 dhcpv6;
    public final AddressMapping mapping;
    /** The one flow table of TCP, UDP and ICMP. */
    public final Flows flows;
    public final Tcp tcp;
    public final TcpListeners tcpListeners;
    public final Udp udp;
    public final Icmp icmp;
    /** The forwarded ports as they are now (changed at run time by the control socket). */
    public final Forwards forwards;
    public final Dispatch dispatch;
    /** The control socket of -c, and what it can do; null without -c. */
    public final Operations operations;
    public final ControlServer control;
    private final Listeners listeners;

    /** A daemon on its own loop that binds the sockets {@code conf} asks for, without a capture (tests). */
    public Passt(Conf conf) {
        this(conf, new EventLoop(), Listeners.open(conf), null);
    }

    /**
     * A daemon on {@code loop} that serves {@code listeners} (bound by {@link Listeners#open},
     * or handed down by a launcher) and records every guest frame to {@code capture} (null: none).
     */
    public Passt(Conf conf, EventLoop loop, Listeners listeners, Pcap capture) {
        this.conf = conf;
        this.loop = loop;
        this.listeners = listeners;
        this.guest = new Guest();
        this.link = conf.vhostUser ? new VhostUserLink(conf, loop, capture, listeners.tap, listeners.socketPath)
                : new StreamLink(conf, loop, capture, listeners.tap, listeners.socketPath);
        this.frames = new FrameWriter(conf, guest, link);
        this.arp = new Arp(conf, guest, link);
        this.dhcp = new Dhcp(conf, frames);
        this.ndp = new Ndp(conf, guest, frames, link, loop);
        this.dhcpv6 = new Dhcpv6(conf, guest, frames);
        this.mapping = new AddressMapping(conf, guest);
        this.flows = new Flows(Tcp.MAX_CONNS_DEFAULT, Udp.MAX_FLOWS, Icmp.MAX_FLOWS);
        this.tcp = new Tcp(conf, loop, link, frames, flows, mapping);
        this.tcpListeners = new TcpListeners(loop, link, tcp);
        this.udp = new Udp(conf, loop, link, frames, flows, mapping);
        this.icmp = new Icmp(conf, loop, frames, flows, mapping);
        int[] ephemeral = PortSpec.ephemeralRange();
        this.forwards = new Forwards(conf, tcpListeners, udp, ephemeral[0], ephemeral[1]);
        this.dispatch = new Dispatch(conf, guest, arp, dhcp, new Services6(conf, ndp, dhcpv6), tcp, udp, icmp);
        if (listeners.control >= 0) {
            this.operations = new Operations(conf, Main.VERSION, loop, link, guest, flows, tcp, tcpListeners, udp, icmp,
                    forwards, dispatch);
            int uid = jpasst.sys.Processes.getuid();
            this.control = new ControlServer(loop, listeners.control, listeners.controlPath, operations,
                    uid == 0 ? new int[] {0} : new int[] {0, uid});
        } else {
            this.operations = null;
            this.control = null;
        }
        loop.onTick(ndp::tick);
        // after each batch of events: TCP reads and acknowledges what the batch made possible,
        // then the frames of the whole batch leave at once
        loop.onEndOfBatch(tcp::endOfBatch);
        loop.onEndOfBatch(link::flush);
        if (capture != null) loop.onEndOfBatch(() -> capture.tick(loop.now()));
        if (conf.statsSeconds > 0) loop.onEndOfBatch(new jpasst.loop.EventStats(loop, conf.statsSeconds, System.err));
    }

    /** Serves: the guest's frames go to the dispatcher, the forwarded ports to their transports. */
    public void start() {
        link.start(dispatch);
        tcpListeners.listen(listeners.tcpForward, listeners.tcp);
        if (listeners.udpForward != null) udp.listen(listeners.udpForward, listeners.udp);
        if (control != null) control.start();
    }


    /** Where the guest's socket listens (null with --fd). */
    public String socketPath() {
        return listeners.socketPath;
    }

    /** Runs the loop on the calling thread until {@link EventLoop#stop()}. */
    public void run() {
        loop.run();
    }

    /** On the loop's thread, once it has stopped: what is queued for the guest leaves, then everything closes. */
    @Override
    public void close() {
        if (control != null) control.close();
        link.flush();
        tcp.close();
        tcpListeners.close();
        udp.close();
        icmp.close();
        link.close();
        loop.close();
    }
}
