package jpasst.proto;

import java.lang.foreign.MemorySegment;

import jpasst.conf.Conf;
import jpasst.link.Guest;
import jpasst.link.Link;
import jpasst.packet.ArpHdr;
import jpasst.packet.Eth;
import jpasst.packet.Net;
import jpasst.util.Log;

/**
 * ARP, answered by the daemon as passt's arp.c does: the guest is alone on its link with us, so
 * every address it asks for is ours (we forward everything), except its own address (it is
 * probing for duplicates: silence means "free") and announcements (sender == target), which get
 * no answer. The reply carries our MAC.
 *
 * Hot path: no allocation; the reply is built directly in the frame reserved for it.
 */
public final class Arp {
    private final Conf conf;
    private final Guest guest;
    private final Link link;

    public Arp(Conf conf, Guest guest, Link link) {
        this.conf = conf;
        this.guest = guest;
        this.link = link;
    }

    /** Handles an ARP frame ({@code len} bytes at {@code off}); returns true if it answered. */
    public boolean handle(MemorySegment s, long off, int len) {
        if (len < Eth.LEN + ArpHdr.LEN) return false;
        long a = off + Eth.LEN;
        if (ArpHdr.htype(s, a) != ArpHdr.HTYPE_ETHER
                || ArpHdr.ptype(s, a) != Eth.TYPE_IPV4
                || ArpHdr.hlen(s, a) != 6 || ArpHdr.plen(s, a) != 4
                || ArpHdr.op(s, a) != ArpHdr.OP_REQUEST) {
            return false;
        }
        int spa = ArpHdr.spa(s, a);
        int tpa = ArpHdr.tpa(s, a);
        if (spa != 0 && spa == tpa) return false;          // announcement
        if (tpa == conf.addr4 || tpa == guest.addr4Seen && tpa != 0) return false; // the guest's own
        long sha = ArpHdr.sha(s, a);
        long frame = link.reserve(Eth.LEN + ArpHdr.LEN);
        if (frame < 0) return false;
        MemorySegment o = link.out();
        Eth.write(o, frame, Eth.src(s, off), conf.ourMac, Eth.TYPE_ARP);
        ArpHdr.write(o, frame + Eth.LEN, ArpHdr.OP_REPLY,
                conf.ourMac, tpa, sha, spa);
        link.commit(frame, Eth.LEN + ArpHdr.LEN);
        if (Log.traceEnabled()) {
            Log.trace("ARP: " + jpasst.sys.SockAddr.ip4String(tpa) + " is at " + Net.macString(conf.ourMac));
        }
        return true;
    }
}
