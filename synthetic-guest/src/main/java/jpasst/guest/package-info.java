/**
 * The guest side, for tests and benchmarks: what a VM's kernel would be to the daemon, in one
 * place that passt-core's tests, the end-to-end tests and the benchmarks share. It speaks to the
 * daemon over either guest transport: QEMU's stream socket, or vhost-user as QEMU's front-end
 * would (guest memory in a memfd, the handshake, virtqueues it fills and drains).
 *
 * It depends on nothing of passt-core: its codecs and its bindings to libc are its own.
 */
package jpasst.guest;
