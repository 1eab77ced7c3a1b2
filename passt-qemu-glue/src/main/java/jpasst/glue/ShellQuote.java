package jpasst.glue;

import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * POSIX shell quoting, so that `passt-qemu args` can print one line a user pastes after a QEMU
 * command (or splices in with {@code eval}) and every argument, JSON ones included, arrives intact.
 * Words made only of characters no shell treats specially are left bare; anything else is wrapped
 * in single quotes, inside which nothing is special except the quote itself, written {@code '\''}.
 */
public final class ShellQuote {

    private static final Pattern SAFE = Pattern.compile("[A-Za-z0-9_@%+=:,./-]+");

    private ShellQuote() {
    }

    public static String quote(String word) {
        if (SAFE.matcher(word).matches()) {
            return word;
        }
        return "'" + word.replace("'", "'\\''") + "'";
    }

    public static String join(List<String> words) {
        return words.stream().map(ShellQuote::quote).collect(Collectors.joining(" "));
    }
}
