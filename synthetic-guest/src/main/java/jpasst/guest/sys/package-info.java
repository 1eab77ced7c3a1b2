/**
 * The guest side's own bindings to libc through java.lang.foreign (sockets, memfd and mmap,
 * eventfds, poll), apart from passt-core's {@code jpasst.sys}. Uses nothing else of the project.
 */
package jpasst.guest.sys;
