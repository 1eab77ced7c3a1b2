/**
 * Header flyweights over off-heap memory (Ethernet, ARP, IPv4, IPv6, TCP, UDP, ICMP, NDP), the
 * Internet checksum, and {@code Inany}, the one form of an address of either family. Static
 * offset constants, no objects per frame.
 *
 * May use: sys, util.
 */
package jpasst.packet;
