package jpasst.loop;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Epoll;
import jpasst.sys.Memory;

/**
 * The one event loop: a single thread over one epoll instance, edge- or level-triggered per
 * file descriptor as each owner chooses. It owns all flow state by construction: every handler
 * runs on this thread, so nothing on the frame path takes a lock.
 *
 * The 64-bit epoll data of each registration is a "reference", as in passt: the top byte says
 * which kind of owner it belongs to (tap, TCP flow, UDP flow...), the rest is the owner's own
 * (usually a flow index and the fd). Dispatch is an array lookup on that byte.
 *
 * Timers are coarse and cheap: owners ask for a wake-up with {@link #wakeAt}, the loop caps its
 * epoll_wait timeout accordingly, and after every batch of events the timer handlers whose time
 * has come run. After every batch the "end of batch" handlers run too (the link flushes its
 * output there, so frames produced by one batch leave in one write).
 *
 * An owner may also {@link #post} an event to a handler, for something that must happen after
 * its current call returns (the link's "room again", say): it is delivered at the start of the
 * next batch, and the loop does not sleep while one waits.
 *
 * Hot path: allocates nothing per event (the epoll event array is preallocated off-heap, and
 * read through {@link Epoll}, which knows the machine's {@code struct epoll_event}).
 */
public final class EventLoop {
    public interface Handler {
        void onEvents(long ref, int events);
    }

    public interface Tick {
        /** Called after a batch; {@code now} is System.nanoTime() of the batch. */
        void tick(long now);
    }

    /** Takes an InternalError a handler ended with; true if it was its own (and is dealt with). */
    public interface FaultHandler {
        boolean handled(InternalError e);
    }

    public static final int TYPE_SHIFT = 56;
    public static final int MAX_TYPES = 32;
    private static final int MAX_EVENTS = 256;
    private static final int TYPE_WAKE = MAX_TYPES - 1;

    private final int epfd;
    private final int wakeFd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment events = arena.allocate((long) Epoll.EVENT_SIZE * MAX_EVENTS, 8);
    private final MemorySegment ctlEvent = arena.allocate(Epoll.EVENT_SIZE, 8);
    private final MemorySegment wakeBuf = arena.allocate(8, 8);
    private final Handler[] handlers = new Handler[MAX_TYPES];
    /** Events handled per owner kind since start (passt's --stats counts), posted ones included. */
    private final long[] eventCounts = new long[MAX_TYPES];
    private Tick[] ticks = new Tick[0];
    private Runnable[] endOfBatch = new Runnable[0];
    private FaultHandler[] faultHandlers = new FaultHandler[0];
    private static final int MAX_POSTED = 64;
    private long[] posted = new long[MAX_POSTED], delivering = new long[MAX_POSTED];
    private int postedCount;
    /** Set by {@link #stop()}, from any thread: {@link #run()} returns, even if it has not begun yet. */
    private volatile boolean stopped;
    private long now = System.nanoTime();
    private long nextWake = Long.MAX_VALUE;
    /**
     * When to give the memory freed since (by the JIT compilers, a burst of traffic) back to the
     * kernel with malloc_trim: once the loop has been quiet for {@link #TRIM_DELAY}, once per
     * quiet spell; 0: given back already. (Instead of the JVM's -XX:TrimNativeHeapInterval, which
     * wakes every daemon every second whether or not anything was freed.)
     */
    private long trimAt = System.nanoTime() + TRIM_DELAY;
    private static final long TRIM_DELAY = 10_000_000_000L;
    private Thread thread;
    private volatile long failures; // (written by the loop only; read by tests from theirs)
    private long faults;

    public EventLoop() {
        epfd = Errno.check(Epoll.epollCreate1(Epoll.EPOLL_CLOEXEC), "epoll_create1");
        wakeFd = Errno.check(Descriptors.eventfd(0, Descriptors.EFD_NONBLOCK | Descriptors.EFD_CLOEXEC), "eventfd");
        add(wakeFd, Epoll.EPOLLIN, ref(TYPE_WAKE, 0));
    }

    public static long ref(int type, long value) {
        return (long) type << TYPE_SHIFT | (value & ((1L << TYPE_SHIFT) - 1));
    }

    public static int type(long ref) {
        return (int) (ref >>> TYPE_SHIFT);
    }

    public static long value(long ref) {
        return ref & ((1L << TYPE_SHIFT) - 1);
    }

    public void handler(int type, Handler h) {
        if (type < 0 || type >= TYPE_WAKE) throw new IllegalArgumentException("type " + type);
        handlers[type] = h;
    }

    public void onTick(Tick t) {
        Tick[] n = java.util.Arrays.copyOf(ticks, ticks.length + 1);
        n[ticks.length] = t;
        ticks = n;
    }

    public void onEndOfBatch(Runnable r) {
        Runnable[] n = java.util.Arrays.copyOf(endOfBatch, endOfBatch.length + 1);
        n[endOfBatch.length] = r;
        endOfBatch = n;
    }

    /**
     * Registers a handler for the InternalError HotSpot raises when an access to mapped memory
     * faults (SIGBUS: a vhost-user front-end truncated the file behind its guest memory while a
     * producer wrote into it). Such an error is not a JVM failure but the front-end's: its
     * owner resets the connection and the loop goes on. An InternalError no handler claims
     * ends the loop, as it would have.
     */
    public void onFault(FaultHandler h) {
        FaultHandler[] n = java.util.Arrays.copyOf(faultHandlers, faultHandlers.length + 1);
        n[faultHandlers.length] = h;
        faultHandlers = n;
    }

    /** Registers {@code fd}; returns 0 or a negated errno (e.g. -ENOMEM). */
    public int add(int fd, int ev, long ref) {
        return ctl(Epoll.EPOLL_CTL_ADD, fd, ev, ref);
    }

    public int modify(int fd, int ev, long ref) {
        return ctl(Epoll.EPOLL_CTL_MOD, fd, ev, ref);
    }

    public int remove(int fd) {
        return Epoll.epollCtl(epfd, Epoll.EPOLL_CTL_DEL, fd, MemorySegment.NULL);
    }

    private int ctl(int op, int fd, int ev, long ref) {
        Epoll.event(ctlEvent, ev, ref);
        return Epoll.epollCtl(epfd, op, fd, ctlEvent);
    }

    /**
     * Delivers an event with reference {@code ref} to its type's handler (with events
     * {@link #POSTED}) at the start of the next batch. Loop thread only; posters keep it to one
     * pending event of their own (at most {@value #MAX_POSTED} wait at a time).
     */
    public void post(long ref) {
        if (postedCount == MAX_POSTED) throw new IllegalStateException("too many posted events");
        posted[postedCount++] = ref;
    }

    /** The events a posted reference is delivered with. */
    public static final int POSTED = 0;

    /** Asks for a tick no later than {@code nanoTime}. */
    public void wakeAt(long nanoTime) {
        if (nanoTime < nextWake) nextWake = nanoTime;
    }

    /** System.nanoTime() at the start of the current batch. */
    public long now() {
        return now;
    }

    public boolean inLoopThread() {
        return Thread.currentThread() == thread;
    }

    /** Runs until {@link #stop()}; returns on the loop thread. */
    public void run() {
        thread = Thread.currentThread();
        while (!stopped) {
            runOnce();
        }
    }

    /** One epoll_wait and everything it leads to; exposed for tests that drive the loop. */
    public void runOnce() {
        long t = System.nanoTime();
        if (trimAt != 0) wakeAt(trimAt);
        int timeout;
        if (postedCount > 0) {
            timeout = 0;
        } else if (nextWake == Long.MAX_VALUE) {
            timeout = -1; // nothing due: an idle daemon sleeps until something happens
        } else {
            long ms = (nextWake - t + 999_999) / 1_000_000;
            timeout = (int) Math.max(0, Math.min(ms, 1000));
        }
        int n = Epoll.epollWait(epfd, events, MAX_EVENTS, timeout);
        now = System.nanoTime();
        if (n < 0) {
            if (n == -Errno.EINTR) return;
            throw new IllegalStateException("epoll_wait: " + Errno.text(n));
        }
        if (postedCount > 0) deliverPosted();
        for (int i = 0; i < n; i++) {
            int ev = Epoll.events(events, i);
            long ref = Epoll.data(events, i);
            int type = type(ref);
            if (type == TYPE_WAKE) {
                Descriptors.read(wakeFd, wakeBuf, 8);
                continue;
            }
            Handler h = handlers[type];
            if (h == null) continue;
            eventCounts[type]++;
            try {
                h.onEvents(ref, ev);
            } catch (RuntimeException e) {
                handlerFailed(e);
            } catch (InternalError e) {
                fault(e);
            }
        }
        if (n > 0) {
            trimAt = now + TRIM_DELAY;
        } else if (trimAt != 0 && now - trimAt >= 0) {
            trimAt = 0;
            Memory.mallocTrim();
        }
        if (now - nextWake >= 0 || (n == 0 && timeout > 0)) {
            nextWake = Long.MAX_VALUE;
            for (Tick tk : ticks) {
                try {
                    tk.tick(now);
                } catch (RuntimeException e) {
                    handlerFailed(e);
                } catch (InternalError e) {
                    fault(e);
                }
            }
        }
        for (Runnable r : endOfBatch) {
            try {
                r.run();
            } catch (RuntimeException e) {
                handlerFailed(e);
            } catch (InternalError e) {
                fault(e);
            }
        }
    }

    private void deliverPosted() {
        long[] refs = posted;
        int count = postedCount;
        posted = delivering; // (what is posted meanwhile waits for the next batch)
        delivering = refs;
        postedCount = 0;
        for (int i = 0; i < count; i++) {
            Handler h = handlers[type(refs[i])];
            if (h == null) continue;
            eventCounts[type(refs[i])]++;
            try {
                h.onEvents(refs[i], POSTED);
            } catch (RuntimeException e) {
                handlerFailed(e);
            } catch (InternalError e) {
                fault(e);
            }
        }
    }

    /**
     * A bug in a handler must not take the guest's network down: say so once per occurrence,
     * with the stack trace at debug level, and carry on with the next event.
     */
    private void handlerFailed(RuntimeException e) {
        failures++;
        jpasst.util.Log.error("Internal error, event dropped: " + e);
        if (jpasst.util.Log.debugEnabled()) {
            java.io.StringWriter w = new java.io.StringWriter();
            e.printStackTrace(new java.io.PrintWriter(w));
            jpasst.util.Log.debug(w.toString());
        }
    }

    private void fault(InternalError e) {
        for (FaultHandler h : faultHandlers) {
            if (h.handled(e)) {
                faults++;
                return;
            }
        }
        throw e;
    }

    /** Events handled for owner kind {@code type} since start (loop thread). */
    public long events(int type) {
        return eventCounts[type];
    }

    /** How many memory faults the fault handlers dealt with. */
    public long faults() {
        return faults;
    }

    /** How many events a handler failed on (tests assert it stays 0). */
    public long failures() {
        return failures;
    }

    /** Stops the loop from any thread. */
    public void stop() {
        stopped = true;
        wake();
    }

    /**
     * From any thread: the loop runs a batch now (no owner's handler is called for it, the
     * end-of-batch handlers are). Tests use it to have the loop look at them.
     */
    public void wake() {
        try (Arena a = Arena.ofConfined()) { // (the caller's own buffer: any thread may call this)
            MemorySegment one = a.allocate(8, 8);
            one.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 1L);
            Descriptors.write(wakeFd, one, 8);
        }
    }

    public void close() {
        Descriptors.close(wakeFd);
        Descriptors.close(epfd);
    }
}
