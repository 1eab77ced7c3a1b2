/**
 * The only package that calls libc, through java.lang.foreign, one class per subject:
 * {@code Sockets}, {@code Descriptors} (open, read, write, fcntl, ioctl, eventfd...),
 * {@code Epoll}, {@code Processes} (ids, signals, rlimits, spawn, exit), {@code Memory} (mmap);
 * {@code Native} binds them all (the linker, errno, the one convention for variadic calls). The
 * structures those calls take ({@code SockAddr}, {@code Msghdr}), integer socket options
 * ({@code SocketOptions}), and errno turned into return codes or exceptions ({@code Errno}).
 *
 * The bottom of the DAG: uses no other package of jpasst.
 */
package jpasst.sys;
