package jpasst.loop;

import java.io.PrintStream;

/**
 * passt's --stats: in the foreground, a line on standard error with the events the loop has
 * handled per owner kind since start, at most every DELAY seconds, and none while nothing
 * happens. A header naming the kinds, one per column in a staircase, comes before the first line
 * and every 20 lines after it: passt's layout, jpasst's owner kinds ({@link Refs}).
 *
 * It runs after each batch of events on the loop thread; it builds its lines only when it prints
 * (once per DELAY at most), so it is not on the per-frame path.
 */
public final class EventStats implements Runnable {
    private static final int COLUMN = 6, LINES_PER_HEADER = 20;

    private final EventLoop loop;
    private final long intervalNanos;
    private final PrintStream out;
    private final long[] shown = new long[Refs.count()];
    private long lastPrint;
    private boolean printedOnce;
    private int lines;

    public EventStats(EventLoop loop, int delaySeconds, PrintStream out) {
        this.loop = loop;
        this.intervalNanos = delaySeconds * 1_000_000_000L;
        this.out = out;
    }

    @Override
    public void run() {
        long now = loop.now();
        if (printedOnce && now - lastPrint < intervalNanos) return;
        boolean changed = false;
        for (int t = 1; t < shown.length; t++) {
            if (loop.events(t) != shown[t]) changed = true;
        }
        if (!changed) return;
        lastPrint = now;
        printedOnce = true;
        StringBuilder b = new StringBuilder();
        if (lines % LINES_PER_HEADER == 0) header(b);
        b.append(' ');
        for (int t = 1; t < shown.length; t++) {
            shown[t] = loop.events(t);
            String n = Long.toString(shown[t]);
            b.append(' ').append(" ".repeat(Math.max(0, COLUMN - n.length()))).append(n);
        }
        out.println(b);
        out.flush();
        lines++;
    }

    /** One line per kind, its name right of its column: | marks the columns to its left. */
    private void header(StringBuilder b) {
        for (int t = 1; t < shown.length; t++) {
            for (int j = 0; j < t * (COLUMN + 1); j++) {
                b.append(j > 0 && j % (COLUMN + 1) == 0 ? '|' : ' ');
            }
            b.append(Refs.name(t)).append('\n');
        }
    }
}
