/**
 * The guest side, for tests and benchmarks: what a VM's kernel would be to the daemon, in one
 * place that passt-core's tests, the end-to-end tests and the benchmarks share. It depends on
 * nothing of passt-core: its codecs ({@code jpasst.guest.net}) and its bindings to libc
 * ({@code jpasst.guest.sys}) are its own, so a mistake shared with the daemon cannot cancel out.
 *
 * <ul>
 * <li>The guest's transport ({@link jpasst.guest.Transport}): QEMU's stream socket
 *     ({@link jpasst.guest.StreamTransport}) or vhost-user ({@link jpasst.guest.VhostTransport}
 *     over {@code jpasst.guest.vhost}'s front-end, what QEMU is to a back-end).
 * <li>The synthetic guest's stack ({@link jpasst.guest.GuestStack}): ARP, DHCP, NDP/SLAAC,
 *     DHCPv6, TCP with windows and congestion control ({@link jpasst.guest.TcpConn}), UDP,
 *     ICMP echo; allocation-free per frame.
 * <li>Frame-by-frame tools: frames crafted on the heap, malformed ones included
 *     ({@link jpasst.guest.Frames}, {@link jpasst.guest.V6Frames}), the link they go over with
 *     barriers and frame matching ({@link jpasst.guest.GuestLink}, {@link jpasst.guest.Match}),
 *     a TCP peer driven by hand ({@link jpasst.guest.GuestTcp}).
 * <li>A real guest: {@code jpasst.guest.vm} boots QEMU (TCG) with the host's kernel and a
 *     busybox initramfs built here.
 * </ul>
 */
package jpasst.guest;
