package jpasst.conf;

import java.util.ArrayList;
import java.util.List;

/**
 * The execution context, as passt's {@code struct ctx}: what the options asked for, completed by
 * what was discovered on the host. Built once by {@link Options} and {@link HostNet} before the
 * loop starts; after that only the guest's learned MAC and addresses change, on the loop thread.
 * IPv4 addresses are host-order ints, IPv6 addresses pairs of longs (high, low); 0 means unset.
 */
public final class Conf {
    public static final int MTU_DEFAULT = 65520;
    public static final long MAC_DEFAULT = 0x9a559a559a55L;

    // process
    public String socketPath;          // -s; null: pick /tmp/passt_N.socket
    public int fd = -1;                // -F
    public boolean oneOff;             // -1
    public boolean foreground;         // -f
    public String pidFile;             // -P
    public String pcapFile;            // -p
    public String logFile;             // -l
    public long logSize = 1 << 20;     // --log-size
    public int logLevel = jpasst.util.Log.INFO;
    public boolean quiet;
    public String runAs;               // --runas
    public boolean freebind;

    // link
    public int mtu = MTU_DEFAULT;
    public boolean mtuSet;
    public long ourMac = MAC_DEFAULT;
    /** The guest's MAC: broadcast until the first frame from the guest tells us. */
    public long guestMac = 0xffff_ffff_ffffL;

    // IPv4
    public boolean v4 = true;
    public String ifname4;
    public int addr4;                  // handed to the guest
    public int prefix4;
    public int gw4;
    public int[] dns4 = new int[0];    // at most 3, handed out by DHCP
    public int dnsMatch4;              // --dns-forward: queries to this go to the host's resolver
    public int dnsHost4;               // the host's first resolver (target of --dns-forward)
    public boolean addr4Set, prefix4Set, gw4Set;
    /** The address the guest actually uses, learned from its frames. */
    public int addr4Seen;

    // IPv6
    public boolean v6 = true;
    public String ifname6;
    public long addr6Hi, addr6Lo;
    public int prefix6 = 64;
    public long gw6Hi, gw6Lo;
    public long ourLl6Hi, ourLl6Lo;    // passt's link-local address
    public long[] dns6 = new long[0];  // pairs hi, lo
    public long dnsMatch6Hi, dnsMatch6Lo;
    public boolean addr6Set, gw6Set;
    public long addr6SeenHi, addr6SeenLo, addr6LlSeenHi, addr6LlSeenLo;

    // names
    public List<String> search = new ArrayList<>();
    public String hostname;
    public String fqdn;

    // switches
    public boolean noDhcp, noDhcpDns, noDhcpSearch, noDhcpv6, noNdp, noRa;
    public boolean noTcp, noUdp, noIcmp;
    public boolean noMapGw;
    public String outboundIf4, outboundIf6;
    public int outbound4;
    public long outbound6Hi, outbound6Lo;
    public boolean dnsSet;             // -D given (possibly "none")
    public boolean noDns;              // -D none: no resolvers at all, none read from resolv.conf
    public boolean searchSet;

    /** TCP inactivity timeout in seconds; 0: passt's 7200. */
    public long tcpTimeoutSeconds;

    // port forwarding specs as given (-t, -u); parsed by the flow layer
    public List<String> tcpSpecs = new ArrayList<>();
    public List<String> udpSpecs = new ArrayList<>();

    // flow idle timeouts, passt's values; jpasst-only --udp-timeout/--icmp-timeout shorten them (tests)
    public int udpTimeoutSeconds = 180;
    public int icmpTimeoutSeconds = 60;
    /** jpasst-only --no-seccomp: the daemon runs without its system call filter (debugging). */
    public boolean noSeccomp;
    /** --dns-host for IPv6 (the IPv4 one is {@link #dnsHost4}); 0: unset. */
    public long dnsHost6Hi, dnsHost6Lo;

    /**
     * --map-host-loopback and --map-guest-addr as given (0: not given). The effective host-loopback
     * address is the given one, else the gateway unless --no-map-gw: see {@link #hostLoopbackMap4()}.
     */
    public int mapHostLoopback4, mapGuestAddr4;
    public long mapHostLoopback6Hi, mapHostLoopback6Lo, mapGuestAddr6Hi, mapGuestAddr6Lo;

    /** The guest-side IPv4 address that stands for the host's 127.0.0.1; 0: none. */
    public int hostLoopbackMap4() {
        return mapHostLoopback4 != 0 ? mapHostLoopback4 : noMapGw ? 0 : gw4;
    }

    /** Whether --map-host-loopback gave an IPv6 address (else the gateway's is used). */
    public boolean mapHostLoopback6Given() {
        return (mapHostLoopback6Hi | mapHostLoopback6Lo) != 0;
    }

    /** High half of the guest-side IPv6 address that stands for the host's ::1 (0, 0: none). */
    public long hostLoopbackMap6Hi() {
        return mapHostLoopback6Given() ? mapHostLoopback6Hi : noMapGw ? 0 : gw6Hi;
    }

    public long hostLoopbackMap6Lo() {
        return mapHostLoopback6Given() ? mapHostLoopback6Lo : noMapGw ? 0 : gw6Lo;
    }

    /** Whether the IPv4 address {@code a} stands for the host, to be mapped to its loopback. */
    public boolean isGateway4(int a) {
        return a != 0 && a == hostLoopbackMap4();
    }
}
