package jpasst.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Figures collected over rounds, per daemon, and the side-by-side table of their medians: each
 * figure for both daemons and the ratio jpasst / passt (with which way is better).
 */
final class Results {
    /** What a figure is: its label in the table, unit, and whether higher is better. */
    record Key(String id, String label, String unit, boolean higherBetter, int decimals) {
    }

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

    /** The table: one row per figure, medians, ratio second / first. */
    String table(String first, String second) {
        StringBuilder sb = new StringBuilder();
        int w = 46;
        for (Key k : keys.values()) w = Math.max(w, k.label().length() + k.unit().length() + 3);
        String fmt = "%-" + w + "s %12s %12s %9s  %s%n";
        sb.append(String.format(Locale.ROOT, fmt, "", first, second, second + "/" + first.charAt(0), ""));
        for (Key k : keys.values()) {
            double a = median(first, k.id()), b = median(second, k.id());
            String ratio = Double.isNaN(a) || Double.isNaN(b) || a == 0 ? ""
                    : b / a > 99 ? ">99" : String.format(Locale.ROOT, "%.2f", b / a);
            sb.append(String.format(Locale.ROOT, fmt, k.label() + " (" + k.unit() + ")", num(a, k.decimals()),
                    num(b, k.decimals()), ratio, k.higherBetter() ? "higher is better" : "lower is better"));
        }
        return sb.toString();
    }

    /** Every value of every round, for the record. */
    String raw() {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, Map<String, List<Double>>> d : values.entrySet()) {
            for (Map.Entry<String, List<Double>> e : d.getValue().entrySet()) {
                sb.append(String.format(Locale.ROOT, "%-8s %-28s", d.getKey(), e.getKey()));
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
