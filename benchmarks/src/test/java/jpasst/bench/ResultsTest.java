package jpasst.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

class ResultsTest {
    private static final Results.Key GBPS = new Results.Key("bulk", "TCP host→guest", "Gbit/s", true, 2);

    private static Results threeDaemons() {
        Results r = new Results();
        for (double v : new double[] {10, 14, 12}) r.add("passt-2023", GBPS, v);
        for (double v : new double[] {20, 30, 40}) r.add("passt-upstream", GBPS, v);
        for (double v : new double[] {15, 45, 33}) r.add("jpasst", GBPS, v);
        return r;
    }

    private static String row(String table, String startsWith) {
        return table.lines().filter(l -> l.startsWith(startsWith)).findFirst().orElseThrow();
    }

    @Test
    void tableGivesEveryDaemonsMedianAndTheSubjectsRatioToEachReferenceUpstreamFirst() {
        List<Results.Column> cols = List.of(Results.Column.of("passt-2023"), Results.Column.of("passt-upstream"),
                Results.Column.of("jpasst"));
        String t = threeDaemons().table(cols, "jpasst",
                List.of(Results.Column.of("passt-upstream"), Results.Column.of("passt-2023")));
        String head = t.lines().findFirst().orElseThrow();
        assertTrue(head.indexOf("jpasst/upstream") < head.indexOf("jpasst/2023"), head);
        // medians 12, 30, 33; ratios 33/30 and 33/12
        assertEquals(List.of("TCP", "host→guest", "(Gbit/s)", "12.00", "30.00", "33.00", "1.10", "2.75", "higher", "is",
                "better"), List.of(row(t, "TCP").trim().split("\\s+")));
    }

    @Test
    void anAbsentReferenceHasAColumnThatSaysSoAndNoFigure() {
        Results r = threeDaemons();
        List<Results.Column> cols = List.of(Results.Column.of("passt-2023"),
                new Results.Column("passt-upstream", "no executable at /nowhere/passt"), Results.Column.of("jpasst"));
        String t = r.table(cols, "jpasst", List.of(cols.get(1), cols.get(0)));
        assertEquals(List.of("TCP", "host→guest", "(Gbit/s)", "12.00", "absent", "33.00", "absent", "2.75", "higher", "is",
                "better"), List.of(row(t, "TCP").trim().split("\\s+")));
    }

    @Test
    void ratioIsUndefinedAgainstAReferenceAtZeroOrWithoutTheFigure() {
        Results r = new Results();
        Results.Key loss = new Results.Key("loss", "lost", "%", false, 2);
        r.add("passt-upstream", loss, 0);
        r.add("jpasst", loss, 1.5);
        assertTrue(Double.isNaN(r.ratio("jpasst", "passt-upstream", "loss")));
        assertTrue(Double.isNaN(r.ratio("jpasst", "passt-2023", "loss")));
        assertEquals("", Results.ratioText(Double.NaN));
        assertFalse(r.raw().isEmpty());
    }

    @Test
    void medianOfAnEvenCountIsTheMeanOfTheMiddleTwoAndIgnoresMissingValues() {
        assertEquals(2.5, Results.median(List.of(4.0, 1.0, 2.0, 3.0, Double.NaN)));
        assertTrue(Double.isNaN(Results.median(List.of())));
    }
}
