/**
 * The one event loop: a thread over epoll that owns all flow state, with coarse timers, events
 * posted by an owner to be delivered after its call, and handlers after each batch.
 *
 * May use: sys, util, packet, conf.
 */
package jpasst.loop;
