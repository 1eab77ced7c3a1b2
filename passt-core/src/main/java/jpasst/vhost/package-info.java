/**
 * vhost-user, the second guest transport: QEMU shares the guest's memory and virtqueues over a
 * UNIX socket (the message codec, the session, guest memory, split virtqueues, the device that
 * serves one front-end at a time on the loop), and frames are read and written in place there.
 *
 * May use: {@code sys}, {@code util}, {@code packet}, {@code conf}, {@code loop}, {@code link}.
 */
package jpasst.vhost;
