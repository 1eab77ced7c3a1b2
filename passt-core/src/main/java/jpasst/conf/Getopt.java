package jpasst.conf;

import java.util.ArrayList;
import java.util.List;

/**
 * getopt_long(3) as passt calls it, over a table of options: one option at a time, in the order
 * of the command line, so that what an option does happens before the next one is even read
 * ({@code -hZ} prints the help, as passt, before getopt would see the unknown {@code Z}).
 *
 * <p>The rules, glibc's: short options bundle ({@code -fq}); a short option's required argument
 * is the rest of its word or else the next word ({@code -s/tmp/x}, {@code -s /tmp/x}), an
 * optional one only the rest of its word; a long option's argument follows {@code =} or, if
 * required, is the next word ({@code --socket=/tmp/x}, {@code --socket /tmp/x}), an optional one
 * only after {@code =}; a long option may be abbreviated to any prefix that is unambiguous, and
 * prefixes of two names of the same option with the same argument are not ambiguous
 * ({@code --sock} for {@code --socket} and {@code --socket-path}); options end at {@code --} or
 * at the first word that is not an option (passt's {@code +} optstring: no permutation), where
 * {@link #index()} stops.
 *
 * <p>Errors are getopt's own words, without its "passt: " in front, in a {@link ConfException}
 * flagged for the usage to follow, as passt prints it.
 */
final class Getopt<T> {
    enum Arg { NONE, REQUIRED, OPTIONAL }

    /**
     * One option: its long name, its short name ({@code '\0'} for none), its argument, and what it
     * does ({@code what}: two names of one option share it).
     */
    record Option<T>(String name, char shortName, Arg arg, T what) {}

    /** An option found, with its argument ({@code null}: none given). */
    record Found<T>(Option<T> option, String value) {}

    private final List<Option<T>> table;
    private final String[] args;
    private int index;
    /** Inside a bundle of short options: where the next one is in {@code args[index]}, else 0. */
    private int inWord;
    private boolean ended;

    Getopt(List<Option<T>> table, String[] args) {
        this.table = table;
        this.args = args;
    }

    /** The next option, or null once the options have ended. */
    Found<T> next() {
        if (inWord > 0) return shortOption();
        if (ended || index >= args.length) return null;
        String a = args[index];
        if (a.equals("--")) {
            index++;
            ended = true;
            return null;
        }
        if (!a.startsWith("-") || a.equals("-")) { // passt's '+': options end here
            ended = true;
            return null;
        }
        if (a.startsWith("--")) return longOption(a);
        inWord = 1;
        return shortOption();
    }

    /** Once {@link #next} returned null: the index of the first word after the options. */
    int index() {
        return index;
    }

    private Found<T> longOption(String a) {
        String body = a.substring(2), value = null;
        int eq = body.indexOf('=');
        if (eq >= 0) {
            value = body.substring(eq + 1);
            body = body.substring(0, eq);
        }
        Option<T> o = byLongName(body, a);
        index++;
        if (o.arg == Arg.NONE && value != null) {
            throw new ConfException("option '--" + o.name + "' doesn't allow an argument", true);
        }
        if (o.arg == Arg.REQUIRED && value == null) {
            if (index >= args.length) throw new ConfException("option '--" + o.name + "' requires an argument", true);
            value = args[index++];
        }
        return new Found<>(o, value);
    }

    private Found<T> shortOption() {
        String a = args[index];
        char ch = a.charAt(inWord++);
        boolean last = inWord >= a.length();
        Option<T> o = byShortName(ch);
        if (o == null) {
            endWordIf(last);
            throw new ConfException("invalid option -- '" + ch + "'", true);
        }
        if (o.arg == Arg.NONE || (o.arg == Arg.OPTIONAL && last)) {
            endWordIf(last);
            return new Found<>(o, null);
        }
        String value;
        if (!last) {
            value = a.substring(inWord);
        } else if (index + 1 < args.length) {
            value = args[++index];
        } else {
            endWordIf(true);
            throw new ConfException("option requires an argument -- '" + ch + "'", true);
        }
        endWordIf(true);
        return new Found<>(o, value);
    }

    private void endWordIf(boolean end) {
        if (end) {
            inWord = 0;
            index++;
        }
    }

    private Option<T> byShortName(char ch) {
        if (ch == '\0') return null;
        for (Option<T> o : table) if (o.shortName == ch) return o;
        return null;
    }

    private Option<T> byLongName(String body, String word) {
        List<Option<T>> prefixed = new ArrayList<>();
        for (Option<T> o : table) {
            if (o.name.equals(body)) return o;
            if (!body.isEmpty() && o.name.startsWith(body)) prefixed.add(o);
        }
        if (prefixed.isEmpty()) throw new ConfException("unrecognized option '" + word + "'", true);
        Option<T> first = prefixed.get(0);
        for (Option<T> o : prefixed) {
            if (o.what != first.what || o.arg != first.arg) {
                StringBuilder b = new StringBuilder("option '" + word + "' is ambiguous; possibilities:");
                for (Option<T> p : prefixed) b.append(" '--").append(p.name).append('\'');
                throw new ConfException(b.toString(), true);
            }
        }
        return first;
    }
}
