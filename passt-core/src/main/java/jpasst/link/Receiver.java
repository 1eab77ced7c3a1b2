package jpasst.link;

/**
 * The daemon's side of a {@link Link}: what the link tells it. One implementation, the daemon's
 * dispatcher (passt's tap4_handler/tap6_handler); the link gets it with {@link Link#start}.
 * Every call comes from the loop thread, out of the link's own event handling.
 */
public interface Receiver {
    /**
     * The frames of one read from the guest, where they lie. The receiver takes them in order
     * ({@link FramesFromGuest#next()}) and may keep pointers into them (queued TCP payloads, say)
     * only until it returns: before it does, whatever it queued from them leaves (one sendmsg
     * per TCP connection); after it returns, the link reuses their memory (the stream socket's
     * input buffer) or hands it back to the guest (vhost-user's transmit buffers). Frames it
     * did not take (if it threw) are handed over again with the next batch.
     */
    void receive(FramesFromGuest frames);

    /** The guest's connection is gone: the flows that belong to it go too. */
    void guestGone();

    /** Room for frames to the guest is back after a reserve came short: producers that stopped go on. */
    void roomAgain();
}
