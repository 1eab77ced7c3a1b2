package jpasst.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Figures collected over rounds, per daemon, and the side-by-side table of their medians: each
 * figure for every daemon (the references, then the subject: jpasst) and the ratio of the
 * subject to each reference, with which way is better. A daemon that could not be measured at
 * all (a reference binary that is not there) has a column that says "absent", never a figure.
 */
final class Results {
    /** What a figure is: its label in the table, unit, and whether higher is better. */
    record Key(String id, String label, String unit, boolean higherBetter, int decimals) {
    }

    /** A column of the table: a daemon's name, and why it has no figures if it is absent. */
    record Column(String name, String absentBecause) {
        static Column of(String name) {
            return new Column(name, null);
        }

        boolean absent() {
            return absentBecause != null;
        }
    }

    static final String ABSENT = "absent";

    private final Map<String, Key> keys = new LinkedHashMap<>();
    private final Map<String, Map<String, List<Double>>> values = new LinkedHashMap<>();

    void add(String daemon, Key k, double v) {
        keys.putIfAbsent(k.id(), k);
        values.computeIfAbsent(daemon, d -> new LinkedHashMap<>())
                .computeIfAbsent(k.id(), i -> new ArrayList<>()).add(v);
    }

    static double median(List<Double> v) {
        if (v == null || v.isEmpty()) return Double.NaN;
        double[] s = v.stream().mapToDouble(Double::doubleValue).filter(d -> !Double.isNaN(d)).toArray();
        if (s.length == 0) return Double.NaN;
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    double median(String daemon, String id) {
        Map<String, List<Double>> m = values.get(daemon);
        return m == null ? Double.NaN : median(m.get(id));
    }

    List<Double> all(String daemon, String id) {
        Map<String, List<Double>> m = values.get(daemon);
        return m == null || m.get(id) == null ? List.of() : m.get(id);
    }

    /** Every figure measured, in the order first measured. */
    List<Key> keys() {
        return List.copyOf(keys.values());
    }

    /** subject / reference for figure {@code id}, NaN where either is missing or the reference is 0. */
    double ratio(String subject, String reference, String id) {
        double a = median(reference, id), b = median(subject, id);
        return Double.isNaN(a) || Double.isNaN(b) || a == 0 ? Double.NaN : b / a;
    }

    /**
     * The table: one row per figure, the medians of every column, then the ratio of
     * {@code subject} to each of {@code ratioTo} (in that order), and which way is better.
     */
    String table(List<Column> columns, String subject, List<Column> ratioTo) {
        StringBuilder sb = new StringBuilder();
        int w = 46;
        for (Key k : keys.values()) w = Math.max(w, k.label().length() + k.unit().length() + 3);
        StringBuilder fmt = new StringBuilder("%-" + w + "s");
        List<Object> head = new ArrayList<>(List.of(""));
        for (Column c : columns) {
            fmt.append(" %").append(Math.max(12, c.name().length())).append('s');
            head.add(c.name());
        }
        for (Column r : ratioTo) {
            String h = ratioHeader(subject, r.name());
            fmt.append(" %").append(Math.max(9, h.length())).append('s');
            head.add(h);
        }
        fmt.append("  %s%n");
        head.add("");
        sb.append(String.format(Locale.ROOT, fmt.toString(), head.toArray()));
        for (Key k : keys.values()) {
            List<Object> row = new ArrayList<>(List.of(k.label() + " (" + k.unit() + ")"));
            for (Column c : columns) row.add(c.absent() ? ABSENT : num(median(c.name(), k.id()), k.decimals()));
            for (Column r : ratioTo) row.add(r.absent() ? ABSENT : ratioText(ratio(subject, r.name(), k.id())));
            row.add(k.higherBetter() ? "higher is better" : "lower is better");
            sb.append(String.format(Locale.ROOT, fmt.toString(), row.toArray()));
        }
        return sb.toString();
    }

    /** "jpasst/upstream" for "passt-upstream": the ratio column's header. */
    static String ratioHeader(String subject, String reference) {
        String r = reference.startsWith("passt-") ? reference.substring("passt-".length()) : reference;
        return subject + "/" + r;
    }

    static String ratioText(double r) {
        if (Double.isNaN(r)) return "";
        return r > 99 ? ">99" : String.format(Locale.ROOT, "%.2f", r);
    }

    /** Every value of every round, for the record. */
    String raw() {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, Map<String, List<Double>>> d : values.entrySet()) {
            for (Map.Entry<String, List<Double>> e : d.getValue().entrySet()) {
                sb.append(String.format(Locale.ROOT, "%-15s %-28s", d.getKey(), e.getKey()));
                for (double v : e.getValue()) sb.append(' ').append(num(v, keys.get(e.getKey()).decimals() + 1));
                sb.append('\n');
            }
        }
        return sb.toString();
    }

    static String num(double v, int decimals) {
        if (Double.isNaN(v)) return "-";
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }
}
