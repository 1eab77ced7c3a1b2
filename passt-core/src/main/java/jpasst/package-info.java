/**
 * The daemon at the top: {@code Main} (options → configuration → launch or serve), the
 * launcher's daemonizing without fork ({@code Daemon}, {@code Listeners}, {@code Privileges}),
 * the signals that end it ({@code StopSignals}, {@code QuitSignal}), {@code Passt}, which wires
 * one daemon together with constructors and chooses the guest link, and {@code Dispatch}, the
 * link's receiver, where every frame from the guest goes first.
 *
 * May use every package below it: sys, util, packet, conf, loop, link, tap, vhost, proto, flow, control.
 */
package jpasst;
