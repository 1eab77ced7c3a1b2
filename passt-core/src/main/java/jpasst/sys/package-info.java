/**
 * The only package that calls libc, through java.lang.foreign: sockets, epoll, processes,
 * memory, and the structures those calls take ({@code SockAddr}, {@code Msghdr}), with errno
 * turned into return codes ({@code Errno}).
 *
 * The bottom of the DAG: uses no other package of jpasst.
 */
package jpasst.sys;
