package jpasst.conf;

/**
 * passt's usage text (its -h, and what follows getopt's complaints), with jpasst's own lines at
 * the end: the options it refuses for now, and the ones only it has.
 */
final class Usage {
    private Usage() {}

    static final String TEXT = """
                Usage: passt [OPTION]...

                  -d, --debug		Be verbose
                      --trace		Be extra verbose, implies --debug
                  --stats DELAY		Display events statistics
                    minimum DELAY seconds between updates
                  -q, --quiet		Don't print informational messages
                  -f, --foreground	Don't run in background
                    default: run in background
                  -l, --log-file PATH	Log (only) to given file
                  --log-size BYTES	Maximum size of log file
                    default: 1 MiB
                  --runas UID|UID:GID 	Run as given UID, GID, which can be
                    numeric, or login and group names
                    default: drop to user "nobody"
                  -h, --help		Display this help message and exit
                  --version		Show version and exit
                  -s, --socket, --socket-path PATH	UNIX domain socket path
                    default: probe free path starting from /tmp/passt_1.socket
                  --vhost-user		Enable vhost-user mode
                    UNIX domain socket is provided by -s option
                  --print-capabilities	print back-end capabilities in JSON format,
                    only meaningful for vhost-user mode
                  --repair-path PATH	path for passt-repair(1)
                    default: append '.repair' to UNIX domain path
                  --migrate-exit	DEPRECATED:
                			source quits after migration
                    default: source keeps running after migration
                  --migrate-no-linger	DEPRECATED:
                			close sockets on migration
                    default: keep sockets open, ignore events
                  -F, --fd FD		Use FD as pre-opened connected socket
                  -p, --pcap FILE	Log tap-facing traffic to pcap file
                  -P, --pid FILE	Write own PID to the given file
                  -m, --mtu MTU	Assign MTU via DHCP/NDP
                    a zero value disables assignment
                    default: 65520: maximum 802.3 MTU minus 802.3 header
                                    length, rounded to 32 bits (IPv4 words)
                  -a, --address ADDR	Assign IPv4 or IPv6 address ADDR[/PREFIXLEN]
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: use addresses from interface with default route
                  -n, --netmask MASK	Assign IPv4 MASK, dot-decimal or bits
                    default: netmask from matching address on the host
                  -M, --mac-addr ADDR	Use source MAC address ADDR
                    default: 9a:55:9a:55:9a:55 (locally administered)
                  -g, --gateway ADDR	Pass IPv4 or IPv6 address as gateway
                    default: gateway from interface with default route
                  -i, --interface NAME	Interface for addresses and routes
                    default: from --outbound-if4 and --outbound-if6, if any
                             otherwise interface with first default route
                  -o, --outbound ADDR	Bind to address as outbound source
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: use source address from routing tables
                  --outbound-if4 NAME	Bind to outbound interface for IPv4
                    default: use interface from default route
                  --outbound-if6 NAME	Bind to outbound interface for IPv6
                    default: use interface from default route
                  -D, --dns ADDR	Use IPv4 or IPv6 address as DNS
                    can be specified multiple times
                    a single, empty option disables DNS information
                    default: use addresses from /etc/resolv.conf
                  -S, --search LIST	Space-separated list, search domains
                    a single, empty option disables the DNS search list
                  -H, --hostname NAME 	Hostname to configure client with
                  --fqdn NAME		FQDN to configure client with
                    default: use search list from /etc/resolv.conf
                  --no-dhcp-dns	No DNS list in DHCP/DHCPv6/NDP
                  --no-dhcp-search	No list in DHCP/DHCPv6/NDP
                  --map-host-loopback ADDR	Translate ADDR to refer to host
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: gateway address
                  --map-guest-addr ADDR	Translate ADDR to guest's address
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: none
                  --dns-forward ADDR	Forward DNS queries sent to ADDR
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: don't forward DNS queries
                  --dns-host ADDR	Host nameserver to direct queries to
                    can be specified zero to two times (for IPv4 and IPv6)
                    default: first nameserver from host's /etc/resolv.conf
                  --no-tcp		Disable TCP protocol handler
                  --no-udp		Disable UDP protocol handler
                  --no-icmp		Disable ICMP/ICMPv6 protocol handler
                  --no-dhcp		Disable DHCP server
                  --no-ndp		Disable NDP responses
                  --no-dhcpv6		Disable DHCPv6 server
                  --no-ra		Disable router advertisements
                  --freebind		Bind to any address for forwarding
                  --no-map-gw		Don't map gateway address to host
                  -4, --ipv4-only	Enable IPv4 operation only
                  -6, --ipv6-only	Enable IPv6 operation only
                  -t, --tcp-ports SPEC	TCP port forwarding to guest
                    can be specified multiple times
                    SPEC can be:
                      'none': don't forward any ports
                      'all': forward all unbound, non-ephemeral ports
                      a comma-separated list, optionally ranged with '-'
                        and optional target ports after ':', with optional
                        address specification suffixed by '/' and optional
                        interface prefixed by '%'. Ranges can be reduced by
                        excluding ports or ranges prefixed by '~'
                        Examples:
                        -t 22		Forward local port 22 to 22 on guest
                        -t 22:23	Forward local port 22 to 23 on guest
                        -t 22,25	Forward ports 22, 25 to ports 22, 25
                        -t 22-80  	Forward ports 22 to 80
                        -t 22-80:32-90	Forward ports 22 to 80 to
                    			corresponding port numbers plus 10
                        -t 192.0.2.1/5	Bind port 5 of 192.0.2.1 to guest
                        -t 5-25,~10-20	Forward ports 5 to 9, and 21 to 25
                        -t ~25		Forward all ports except for 25
                    default: none
                  -u, --udp-ports SPEC	UDP port forwarding to guest
                    SPEC is as described for TCP above
                    default: none
                  -1, --one-off	Quit after handling one single client

                  -c, --conf-path PATH	Control socket for passt-ctl (jpasst's
                    runtime control: forwards, flows, statistics, log level)
                    default: none

                Accepted without effect, as jpasst migrates no flows: --repair-path,
                --migrate-exit, --migrate-no-linger. Deprecated in passt, accepted: -e, --stderr.

                jpasst only, for tests and debugging:
                  --udp-timeout SECONDS	Idle time before a UDP flow closes
                    default: 180
                  --icmp-timeout SECONDS	Idle time before an echo flow closes
                    default: 60
                  --no-seccomp		No system call filter (to debug one it lacks)
                """;
}
