/**
 * The configuration, as passt's {@code struct ctx} before the loop starts: passt's options
 * ({@code Options}), port specs ({@code PortSpec}), what the host tells (addresses, routes, MTU,
 * resolvers: {@code HostNet}), all of it in {@code Conf}.
 *
 * May use: sys, util, packet.
 */
package jpasst.conf;
