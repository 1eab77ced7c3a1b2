package jpasst.link;

import jpasst.packet.Eth;

/**
 * What the daemon has learned about the guest from its frames, as passt keeps it in its
 * {@code struct ctx} beside the configuration: its MAC address (frames to the guest go there;
 * broadcast until its first frame), the IPv4 address it uses, and the IPv6 addresses it uses
 * (global and link-local). The configuration says what the guest was offered; this says what it
 * took, and the two may differ (a guest with a static address, say).
 *
 * One object per daemon, built at the top and handed by constructor to whoever needs it. It
 * belongs to the loop thread: the receiver writes it as frames arrive, DHCPv6 when it assigns an
 * address; ARP, NDP, the frame writer and the flows read it. 0 means "not seen".
 */
public final class Guest {
    /** The guest's MAC: broadcast until the first frame from the guest tells us. */
    public long mac = Eth.BROADCAST;
    /** The IPv4 address the guest actually uses, learned from its frames. */
    public int addr4Seen;
    /** The global IPv6 address the guest uses (from its frames, or assigned by DHCPv6). */
    public long addr6SeenHi, addr6SeenLo;
    /** The link-local IPv6 address the guest uses. */
    public long addr6LlSeenHi, addr6LlSeenLo;

    /** Whether the guest's IPv6 address is known (seen, or assigned by DHCPv6). */
    public boolean addr6Seen() {
        return (addr6SeenHi | addr6SeenLo) != 0;
    }
}
