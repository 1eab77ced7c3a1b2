package jpasst.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import javax.xml.parsers.DocumentBuilderFactory;

import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

class ChartTest {
    private static final Results.Key GBPS = new Results.Key("bulk", "TCP host→guest", "Gbit/s", true, 2);
    private static final Results.Key CPU = new Results.Key("bulk.cpu", "  daemon CPU per GB", "s/GB", false, 3);
    private static final Results.Key GUEST = new Results.Key("bulk.guest_cpu", "  synthetic guest's own CPU", "%", false, 0);
    private static final Results.Key SHARE = new Results.Key("bulk.daemon_cpu", "  daemon CPU", "%", false, 0);

    private static Results results() {
        Results r = new Results();
        r.add("passt-2023", GBPS, 10);
        r.add("passt-upstream", GBPS, 20);
        r.add("jpasst", GBPS, 30);
        r.add("passt-2023", CPU, 0.4);
        r.add("passt-upstream", CPU, 0.2);
        r.add("jpasst", CPU, 0.1);
        for (String d : List.of("passt-2023", "passt-upstream", "jpasst")) {
            r.add(d, GUEST, 50);
            r.add(d, SHARE, 70);
        }
        return r;
    }

    private static Document parse(String svg) throws Exception {
        return DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    }

    /** The bars: rectangles starting at the plot's left edge, in document order, as widths. */
    private static List<Double> barWidths(Document d) {
        List<Double> w = new ArrayList<>();
        NodeList rects = d.getElementsByTagName("rect");
        for (int i = 0; i < rects.getLength(); i++) {
            Element e = (Element) rects.item(i);
            if (e.getAttribute("x").equals("500")) w.add(Double.parseDouble(e.getAttribute("width")));
        }
        return w;
    }

    @Test
    void everyDaemonFigureIsABarGroupNormalisedToUpstreamAndTheContextRowsAreLeftOut() throws Exception {
        List<Results.Column> cols = List.of(Results.Column.of("passt-2023"), Results.Column.of("passt-upstream"),
                Results.Column.of("jpasst"));
        Document d = parse(Chart.svg(results(), cols, "test"));
        List<Double> w = barWidths(d);
        assertEquals(6, w.size(), "two figures of three bars: the guest's CPU and the daemon's CPU share are context");
        double one = w.get(1); // upstream's throughput bar: 1.0
        assertEquals(0.5, w.get(0) / one, 1e-3);
        assertEquals(1.5, w.get(2) / one, 1e-3);
        assertEquals(2.0, w.get(3) / one, 1e-3); // CPU: 0.4 against 0.2
        assertEquals(1.0, w.get(4) / one, 1e-3);
        assertEquals(0.5, w.get(5) / one, 1e-3);
        String text = d.getDocumentElement().getTextContent();
        assertTrue(text.contains("TCP host→guest (Gbit/s) ↑"), text);
        assertTrue(text.contains("daemon CPU per GB (s/GB) ↓"), text);
    }

    @Test
    void withUpstreamAbsentTheChartSaysSoAndNormalisesToTheOtherReference() throws Exception {
        Results r = results();
        List<Results.Column> cols = List.of(Results.Column.of("passt-2023"),
                new Results.Column("passt-upstream", "no executable at /nowhere"), Results.Column.of("jpasst"));
        Document d = parse(Chart.svg(r, cols, "test"));
        String text = d.getDocumentElement().getTextContent();
        assertTrue(text.contains("passt-upstream (absent: no executable at /nowhere)"), text);
        assertTrue(text.contains("normalised to passt-2023 = 1.0"), text);
        List<Double> w = barWidths(d);
        assertEquals(4, w.size(), "no bar for the absent daemon");
        assertEquals(3.0, w.get(1) / w.get(0), 1e-3);
    }

    @Test
    void textIsEscaped() {
        assertEquals("a &lt;b&gt; &amp; &quot;c&quot;", Chart.escape("a <b> & \"c\""));
    }
}
