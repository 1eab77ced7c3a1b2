/**
 * Runtime control of a live daemon (issue 15): the control socket of {@code -c/--conf-path}
 * ({@code ControlServer}, served by the one event loop, never blocking it), the versioned
 * JSON-lines protocol and its operations ({@code Operations}: forwards, flows, statistics, log
 * level, health), the client the CLI and embedders use ({@code ControlClient}), and the CLI
 * itself ({@code PasstCtl}, {@code ./passt-ctl}).
 *
 * May use: sys, util, packet, conf, loop, link, tap, vhost, proto, flow. Not jpasst (which wires
 * a daemon together and hands the pieces down by constructor).
 */
package jpasst.control;
