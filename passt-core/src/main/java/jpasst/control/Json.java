package jpasst.control;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON of the control protocol (RFC 8259), both ways, without a library: objects are
 * {@code Map<String,Object>} (insertion order kept), arrays {@code List<Object>}, numbers
 * {@code Long} (or {@code Double} with a fraction or exponent), strings, {@code Boolean}, and
 * {@link #NULL} for null. The parser is the daemon's door to untrusted input: it reads one line
 * of bounded length, nests at most {@link #MAX_DEPTH} deep, and fails only with
 * {@link JsonException} (with where and why), never another exception.
 */
public final class Json {
    private Json() {}

    /** JSON's null, as parsed (a map cannot hold Java's null in every implementation). */
    public static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };

    public static final int MAX_DEPTH = 16;

    /** What a text that is not JSON gets. */
    public static final class JsonException extends Exception {
        JsonException(String message) {
            super(message);
        }
    }

    /** Parses {@code text}, one value with blanks around it at most. */
    public static Object parse(String text) throws JsonException {
        Parser p = new Parser(text);
        p.blanks();
        Object v = p.value(0);
        p.blanks();
        if (p.pos != text.length()) throw p.error("unexpected text after the value");
        return v;
    }

    /** Compact JSON of {@code value} (the types above; {@code null} is written as null too). */
    public static String write(Object value) {
        StringBuilder b = new StringBuilder();
        write(value, b);
        return b.toString();
    }

    static void write(Object v, StringBuilder out) {
        if (v == null || v == NULL) {
            out.append("null");
        } else if (v instanceof String s) {
            string(s, out);
        } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
            out.append(v);
        } else if (v instanceof Double d) {
            out.append(d.isNaN() || d.isInfinite() ? "null" : d.toString());
        } else if (v instanceof Map<?, ?> m) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) out.append(',');
                first = false;
                string(String.valueOf(e.getKey()), out);
                out.append(':');
                write(e.getValue(), out);
            }
            out.append('}');
        } else if (v instanceof List<?> l) {
            out.append('[');
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) out.append(',');
                write(l.get(i), out);
            }
            out.append(']');
        } else {
            string(v.toString(), out);
        }
    }

    private static void string(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        out.append('"');
    }

    private static final class Parser {
        final String s;
        int pos;

        Parser(String s) {
            this.s = s;
        }

        JsonException error(String why) {
            return new JsonException("bad JSON at character " + (pos + 1) + ": " + why);
        }

        void blanks() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return;
                pos++;
            }
        }

        Object value(int depth) throws JsonException {
            if (depth > MAX_DEPTH) throw error("nested deeper than " + MAX_DEPTH);
            if (pos >= s.length()) throw error("a value is missing");
            char c = s.charAt(pos);
            return switch (c) {
                case '{' -> object(depth);
                case '[' -> array(depth);
                case '"' -> string();
                case 't' -> word("true", Boolean.TRUE);
                case 'f' -> word("false", Boolean.FALSE);
                case 'n' -> word("null", NULL);
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) yield number();
                    throw error("unexpected character '" + printable(c) + "'");
                }
            };
        }

        private static String printable(char c) {
            return c < 0x20 || c > 0x7e ? String.format("\\u%04x", (int) c) : String.valueOf(c);
        }

        Object word(String w, Object v) throws JsonException {
            if (!s.startsWith(w, pos)) throw error("unexpected word");
            pos += w.length();
            return v;
        }

        Map<String, Object> object(int depth) throws JsonException {
            pos++;
            Map<String, Object> m = new LinkedHashMap<>();
            blanks();
            if (pos < s.length() && s.charAt(pos) == '}') {
                pos++;
                return m;
            }
            while (true) {
                blanks();
                if (pos >= s.length() || s.charAt(pos) != '"') throw error("a member name (a string) is expected");
                String key = string();
                blanks();
                if (pos >= s.length() || s.charAt(pos) != ':') throw error("':' is expected");
                pos++;
                blanks();
                if (m.put(key, value(depth + 1)) != null) throw error("member \"" + key + "\" twice");
                blanks();
                if (pos >= s.length()) throw error("the object is not closed");
                char c = s.charAt(pos++);
                if (c == '}') return m;
                if (c != ',') {
                    pos--;
                    throw error("',' or '}' is expected");
                }
            }
        }

        List<Object> array(int depth) throws JsonException {
            pos++;
            List<Object> l = new ArrayList<>();
            blanks();
            if (pos < s.length() && s.charAt(pos) == ']') {
                pos++;
                return l;
            }
            while (true) {
                blanks();
                l.add(value(depth + 1));
                blanks();
                if (pos >= s.length()) throw error("the array is not closed");
                char c = s.charAt(pos++);
                if (c == ']') return l;
                if (c != ',') {
                    pos--;
                    throw error("',' or ']' is expected");
                }
            }
        }

        String string() throws JsonException {
            pos++;
            StringBuilder b = new StringBuilder();
            while (true) {
                if (pos >= s.length()) throw error("the string is not closed");
                char c = s.charAt(pos++);
                if (c == '"') return b.toString();
                if (c < 0x20) {
                    pos--;
                    throw error("a control character in a string");
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                if (pos >= s.length()) throw error("the string is not closed");
                char e = s.charAt(pos++);
                switch (e) {
                    case '"', '\\', '/' -> b.append(e);
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'n' -> b.append('\n');
                    case 'r' -> b.append('\r');
                    case 't' -> b.append('\t');
                    case 'u' -> {
                        if (pos + 4 > s.length()) throw error("a short \\u escape");
                        int v = 0;
                        for (int i = 0; i < 4; i++) {
                            int d = Character.digit(s.charAt(pos++), 16);
                            if (d < 0) throw error("a bad \\u escape");
                            v = v << 4 | d;
                        }
                        b.append((char) v);
                    }
                    default -> {
                        pos--;
                        throw error("a bad escape '\\" + printable(e) + "'");
                    }
                }
            }
        }

        Object number() throws JsonException {
            int start = pos;
            if (s.charAt(pos) == '-') pos++;
            int intStart = pos;
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') pos++;
            if (pos == intStart) throw error("a number without digits");
            if (s.charAt(intStart) == '0' && pos - intStart > 1) throw error("a number with a leading zero");
            boolean real = false;
            if (pos < s.length() && s.charAt(pos) == '.') {
                real = true;
                pos++;
                int f = pos;
                while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') pos++;
                if (pos == f) throw error("a fraction without digits");
            }
            if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                real = true;
                pos++;
                if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) pos++;
                int f = pos;
                while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') pos++;
                if (pos == f) throw error("an exponent without digits");
            }
            String t = s.substring(start, pos);
            if (!real && pos - intStart <= 18) return Long.parseLong(t);
            try {
                return Double.parseDouble(t);
            } catch (NumberFormatException e) {
                throw error("a bad number");
            }
        }
    }
}
