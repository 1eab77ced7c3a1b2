package jpasst.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code --svg FILE}: the table drawn as a chart, plain SVG written here (no library). One bar
 * group per figure, a bar per daemon, every figure normalised to upstream passt = 1.0 (to the
 * other reference where upstream has no figure, marked "*"), so that one scale serves
 * throughput, latency, CPU and memory alike. Each figure says which way is better (↑ higher,
 * ↓ lower) and jpasst's ratio is printed green where it is at least even with the reference the
 * row is normalised to, red where it is behind. Sub-figures (indented in the table) stay under
 * their figure. Bars longer than the scale are cut, with their value printed. Rows that are
 * context rather than merit are left out: the synthetic guest's and the tap relay's own CPU (the
 * harness), and a daemon's CPU share during a window (more of it is no worse when it moves more
 * bytes: its CPU per GB is the figure).
 */
final class Chart {
    private Chart() {}

    private static final String[] COLOURS = {"#9a9a9a", "#3f6fb5", "#e0761c", "#6a9f3a"};
    private static final int WIDTH = 1040, LABEL_W = 470, PLOT_X = 500, PLOT_W = 430, BAR = 7, GAP = 1, GROUP_GAP = 9;

    static String svg(Results results, List<Results.Column> columns, String title) {
        List<Results.Key> keys = new ArrayList<>();
        for (Results.Key k : results.keys()) {
            if (!context(k)) keys.add(k);
        }
        String norm = normaliseTo(columns);
        String fallback = columns.stream().filter(c -> !c.absent() && !c.name().equals(norm)
                && !c.name().equals(Compare.SUBJECT)).map(Results.Column::name).findFirst().orElse(null);
        double max = 1.5;
        for (Results.Key k : keys) {
            String ref = reference(results, k, norm, fallback);
            for (Results.Column c : columns) {
                double r = ref == null ? Double.NaN : results.ratio(c.name(), ref, k.id());
                if (!Double.isNaN(r) && r > max) max = r;
            }
        }
        max = Math.min(3.0, Math.ceil(max * 2) / 2);
        int bars = columns.size();
        int groupH = bars * (BAR + GAP) + GROUP_GAP;
        int top = 106;
        int height = top + keys.size() * groupH + 40;

        StringBuilder s = new StringBuilder();
        s.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(WIDTH).append("\" height=\"").append(height)
                .append("\" viewBox=\"0 0 ").append(WIDTH).append(' ').append(height)
                .append("\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"11\">\n");
        s.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        text(s, 12, 20, "start", "font-size=\"14\" font-weight=\"bold\"", title);
        text(s, 12, 38, "start", "fill=\"#444\"", "each figure normalised to " + (norm == null ? "?" : norm)
                + " = 1.0" + (fallback != null ? " (* where it has no figure: to " + fallback + ")" : "")
                + "; ↑ higher is better, ↓ lower is better;");
        text(s, 12, 52, "start", "fill=\"#444\"", "jpasst's ratio green where even or ahead, red where behind;"
                + " grey numbers: the reference's own figure");
        int lx = 12;
        for (int i = 0; i < bars; i++) {
            Results.Column c = columns.get(i);
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"62\" width=\"14\" height=\"10\" fill=\"%s\"/>\n",
                    lx, COLOURS[i % COLOURS.length]));
            String label = c.name() + (c.absent() ? " (absent: " + c.absentBecause() + ")" : "");
            text(s, lx + 18, 71, "start", "", label);
            lx += 30 + label.length() * 7;
        }
        // scale: grid every 0.5, the reference at 1.0
        int plotTop = top - 8, plotBottom = top + keys.size() * groupH;
        for (double g = 0; g <= max + 1e-9; g += 0.5) {
            double x = PLOT_X + g / max * PLOT_W;
            boolean one = Math.abs(g - 1) < 1e-9;
            s.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-width=\"%s\"/>\n",
                    x, plotTop, x, plotBottom, one ? "#333" : "#ddd", one ? "1.2" : "1"));
            String t = String.format(Locale.ROOT, "%.1f", g);
            text(s, x, plotTop - 4, "middle", "fill=\"#444\"", t);
            text(s, x, plotBottom + 14, "middle", "fill=\"#444\"", t);
        }
        int y = top;
        for (Results.Key k : keys) {
            boolean sub = k.label().startsWith(" ");
            String ref = reference(results, k, norm, fallback);
            String label = k.label().strip() + " (" + k.unit() + ")" + (k.higherBetter() ? " ↑" : " ↓")
                    + (ref != null && !ref.equals(norm) ? " *" : "");
            double refValue = ref == null ? Double.NaN : results.median(ref, k.id());
            int labelY = y + (bars * (BAR + GAP)) / 2 + 4;
            text(s, sub ? 30 : 12, labelY, "start", sub ? "" : "font-weight=\"bold\"", label);
            if (ref == null) { // nothing to normalise to (every reference at 0): the figures themselves
                List<String> names = new ArrayList<>(), figures = new ArrayList<>();
                for (Results.Column c : columns) {
                    names.add(c.name());
                    figures.add(c.absent() ? Results.ABSENT : Results.num(results.median(c.name(), k.id()), k.decimals()));
                }
                text(s, PLOT_X + 3, labelY, "start", "fill=\"#555\"",
                        String.join(" / ", figures) + " (" + String.join(" / ", names) + ")");
            }
            if (!Double.isNaN(refValue)) {
                text(s, LABEL_W + 20, labelY, "end", "fill=\"#777\"", Results.num(refValue, k.decimals()));
            }
            for (int i = 0; i < bars; i++) {
                Results.Column c = columns.get(i);
                int by = y + i * (BAR + GAP);
                double r = ref == null || c.absent() ? Double.NaN : results.ratio(c.name(), ref, k.id());
                if (Double.isNaN(r)) {
                    if (ref != null) text(s, PLOT_X + 3, by + BAR, "start", "fill=\"#999\" font-size=\"8\"", c.absent() ? "absent" : "–");
                    continue;
                }
                double w = Math.min(r, max) / max * PLOT_W;
                s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n",
                        PLOT_X, by, w, BAR, COLOURS[i % COLOURS.length]));
                boolean subject = c.name().equals(Compare.SUBJECT);
                if (subject || r > max || !c.name().equals(ref)) {
                    String colour = !subject ? "#555" : (k.higherBetter() ? r >= 1 : r <= 1) ? "#1a7f37" : "#c62828";
                    String t = String.format(Locale.ROOT, "%.2f", r) + (r > max ? " ▸" : "");
                    text(s, PLOT_X + w + 4, by + BAR, "start", "fill=\"" + colour + "\" font-size=\"9\""
                            + (subject ? " font-weight=\"bold\"" : ""), t);
                }
            }
            y += groupH;
        }
        s.append("</svg>\n");
        return s.toString();
    }

    static boolean context(Results.Key k) {
        return k.id().endsWith(".guest_cpu") || k.id().endsWith(".relay_cpu") || k.id().endsWith(".daemon_cpu");
    }

    /** Upstream if it has a column and is there, else the first reference present. */
    private static String normaliseTo(List<Results.Column> columns) {
        for (Results.Column c : columns) if (c.name().equals(Compare.UPSTREAM) && !c.absent()) return c.name();
        for (Results.Column c : columns) if (!c.absent() && !c.name().equals(Compare.SUBJECT)) return c.name();
        return null;
    }

    /** The reference a row is normalised to: {@code norm} where it has the figure, else {@code fallback}. */
    private static String reference(Results results, Results.Key k, String norm, String fallback) {
        if (norm != null && nonZero(results.median(norm, k.id()))) return norm;
        if (fallback != null && nonZero(results.median(fallback, k.id()))) return fallback;
        return null;
    }

    private static boolean nonZero(double v) {
        return !Double.isNaN(v) && v != 0;
    }

    private static void text(StringBuilder s, double x, double y, String anchor, String attrs, String t) {
        s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" %s>", x, y, anchor, attrs))
                .append(escape(t)).append("</text>\n");
    }

    static String escape(String t) {
        return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
