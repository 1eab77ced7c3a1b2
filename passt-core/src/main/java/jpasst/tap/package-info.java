/**
 * The stream socket transport: QEMU's {@code -netdev stream} (and passt's qrap, --fd) on a
 * UNIX socket, each frame with a 4-byte length in front ({@code StreamLink}, a {@code Link}).
 *
 * May use: sys, util, packet, conf, loop, link. Not vhost (its sibling), nothing above.
 */
package jpasst.tap;
