package jpasst.guest;

import java.lang.foreign.MemorySegment;

/** What owns a {@link TcpConn}: called back on the guest's thread, from {@link GuestStack#poll}. */
public interface TcpApp {
    default void established(TcpConn c) {}

    /** In-order data, {@code len} bytes at {@code off} of {@code s} (not to be kept past the call). */
    default void data(TcpConn c, MemorySegment s, long off, int len) {}

    /** The daemon acknowledged something or opened its window: more may be sent. */
    default void acked(TcpConn c) {}

    default void remoteFin(TcpConn c) {}

    /** Closed (both FINs acknowledged), reset ({@code reset}), or refused before established. */
    default void closed(TcpConn c, boolean reset) {}

    /** An application that does nothing (bulk transfers driven from outside). */
    TcpApp NONE = new TcpApp() { };
}
