/**
 * The flows: every guest TCP connection, UDP flow and ICMP echo flow mapped onto a host socket
 * ({@code Tcp}, {@code Udp}, {@code Icmp}, each a {@code Transport}), where they go
 * ({@code AddressMapping}, passt's fwd.c), and the flow lookup table.
 *
 * May use: sys, util, packet, conf, loop, link. Not tap or vhost (frames go through
 * {@code jpasst.link.Link} only), not proto.
 */
package jpasst.flow;
