package jpasst.conf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import jpasst.conf.Getopt.Arg;

/**
 * getopt_long's rules on a table of its own, the optional arguments included (passt has none
 * yet): what each call returns, in order, and getopt's words for what is wrong.
 */
class GetoptTest {
    private static final String VERBOSE = "verbose", FILE = "file", COLOR = "color", COLOUR = COLOR, QUIT = "quit";
    private static final List<Getopt.Option<String>> TABLE = List.of(
            new Getopt.Option<>("verbose", 'v', Arg.NONE, VERBOSE),
            new Getopt.Option<>("file", 'f', Arg.REQUIRED, FILE),
            new Getopt.Option<>("color", 'c', Arg.OPTIONAL, COLOR),
            new Getopt.Option<>("colour", '\0', Arg.OPTIONAL, COLOUR),
            new Getopt.Option<>("quit", 'q', Arg.NONE, QUIT),
            new Getopt.Option<>("quiet", '\0', Arg.NONE, "quiet"));

    /** "what=value" (or "what") for each option found, then "@index". */
    private static List<String> run(String... args) {
        Getopt<String> g = new Getopt<>(TABLE, args);
        List<String> out = new ArrayList<>();
        for (Getopt.Found<String> f; (f = g.next()) != null; ) {
            out.add(f.option().what() + (f.value() == null ? "" : "=" + f.value()));
        }
        out.add("@" + g.index());
        return out;
    }

    private static String error(String... args) {
        ConfException e = assertThrows(ConfException.class, () -> run(args));
        assertTrue(e.usage(), "getopt's errors are followed by the usage");
        return e.getMessage();
    }

    @Test
    void shortOptionsBundleAndTakeTheRestOfTheirWordOrTheNextOne() {
        assertEquals(List.of("verbose", "quit", "@1"), run("-vq"));
        assertEquals(List.of("verbose", "file=x", "@1"), run("-vfx"));
        assertEquals(List.of("verbose", "file=x", "@2"), run("-vf", "x"));
        assertEquals(List.of("file=-q", "@2"), run("-f", "-q"));
    }

    @Test
    void anOptionalArgumentIsOnlyTheRestOfTheWordOrWhatFollowsTheEqualsSign() {
        assertEquals(List.of("color=always", "@1"), run("-calways"));
        assertEquals(List.of("color", "@1"), run("-c", "always"));
        assertEquals(List.of("color", "verbose", "@2"), run("-c", "-v"));
        assertEquals(List.of("color=always", "@1"), run("--color=always"));
        assertEquals(List.of("color", "@1"), run("--color", "always"));
        assertEquals(List.of("color=", "@1"), run("--color="));
    }

    @Test
    void longOptionsTakeTheirArgumentAfterAnEqualsSignOrInTheNextWord() {
        assertEquals(List.of("file=x", "@1"), run("--file=x"));
        assertEquals(List.of("file=x", "@2"), run("--file", "x"));
        assertEquals(List.of("file=", "@1"), run("--file="));
    }

    @Test
    void unambiguousAbbreviationsAndTwoNamesOfOneOptionAreAccepted() {
        assertEquals(List.of("verbose", "@1"), run("--verb"));
        assertEquals(List.of("color=x", "@1"), run("--col=x")); // color and colour: one option
        assertEquals(List.of("quit", "@1"), run("--quit")); // exact beats a longer name
        assertEquals("option '--qui' is ambiguous; possibilities: '--quit' '--quiet'", error("--qui"));
    }

    @Test
    void optionsEndAtDoubleDashOrTheFirstNonOption() {
        assertEquals(List.of("verbose", "@2"), run("-v", "--", "-q"));
        assertEquals(List.of("verbose", "@1"), run("-v", "x", "-q"));
        assertEquals(List.of("@0"), run("-"));
        assertEquals(List.of("@0"), run());
    }

    @Test
    void errorsAreInGetoptsWords() {
        assertEquals("invalid option -- 'z'", error("-z"));
        assertEquals("unrecognized option '--zz'", error("--zz"));
        assertEquals("unrecognized option '--zz=1'", error("--zz=1"));
        assertEquals("option requires an argument -- 'f'", error("-vf"));
        assertEquals("option '--file' requires an argument", error("--file"));
        assertEquals("option '--verbose' doesn't allow an argument", error("--verbose=1"));
    }

    @Test
    void eachOptionIsReturnedBeforeTheNextIsRead() {
        Getopt<String> g = new Getopt<>(TABLE, new String[] {"-vz"});
        assertEquals("verbose", g.next().option().what());
        assertEquals("invalid option -- 'z'", assertThrows(ConfException.class, g::next).getMessage());
    }
}
