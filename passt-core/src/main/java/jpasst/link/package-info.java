/**
 * The guest-transport seam, as passt's tap.c: the {@code Link} interface that every guest
 * transport implements (frames to the guest reserved, filled and committed, one piece or a
 * {@code FrameBatch} filled by a host socket read; "room again"; frames from the guest handed
 * to a {@code Receiver} where they lie, as a {@code FramesFromGuest} batch), the Ethernet and IP
 * headers of frames to the guest ({@code FrameWriter}), what is learned about the guest
 * ({@code Guest}), and the capture both ways ({@code Pcap}).
 *
 * May use: sys, util, packet, conf, loop. Nothing here knows which transport runs.
 */
package jpasst.link;
