/**
 * The vhost-user transport ({@code --vhost-user}): QEMU shares the guest's memory and the
 * virtio-net device's rings, and the daemon reads and writes the frames in them
 * ({@code VhostUserLink}, a {@code Link}, over {@code VhostUserDevice}: the protocol session,
 * the guest memory, the split virtqueues).
 *
 * May use: sys, util, packet, conf, loop, link. Not tap (its sibling), nothing above.
 */
package jpasst.vhost;
