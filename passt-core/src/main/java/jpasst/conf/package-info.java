/**
 * The configuration, as passt's {@code struct ctx} before the loop starts: passt's options
 * ({@code Options}, the table of every option and what it sets, read by {@code Getopt}, which
 * follows getopt_long's rules; {@code Usage}, passt's help text), the one reader of IP
 * addresses in options and port specs ({@code AddressLiteral}, inet_pton's rules), port specs
 * ({@code PortSpec}), what the host tells (addresses, routes, MTU, resolvers: {@code HostNet}),
 * all of it in {@code Conf}.
 *
 * May use: sys, util, packet.
 */
package jpasst.conf;
