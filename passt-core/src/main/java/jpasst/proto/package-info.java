/**
 * The services the daemon answers itself, as passt's arp.c, dhcp.c, ndp.c, dhcpv6.c: ARP,
 * DHCP, NDP and DHCPv6, the IPv6 ones behind {@code Services6}.
 *
 * May use: sys, util, packet, conf, loop, link. Not tap or vhost (they write through
 * {@code jpasst.link.Link} and never learn which transport carries their frames), not flow.
 */
package jpasst.proto;
