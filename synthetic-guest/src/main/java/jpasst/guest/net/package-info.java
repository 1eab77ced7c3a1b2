/**
 * The guest side's own header codecs and Internet checksum: static methods over (segment,
 * offset), network byte order, no objects per frame. Written apart from passt-core's
 * {@code jpasst.packet} on purpose. Uses nothing else of the project.
 */
package jpasst.guest.net;
