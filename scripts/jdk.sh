# Sourced by ./passt, ./test and the other root scripts: finds a JDK >= 25 without
# anything exported by hand (JAVA_HOME, then java on PATH, then /usr/lib/jvm/*) and
# sets JAVA_HOME and JAVA to it. Prints a clear error and returns 1 if there is none.
#
# This is on ./passt's path, so on every VM's start-up path: it starts no JVM (50-100 ms per
# candidate) and, but for a readlink of a java that is a symbolic link, no process at all (bash
# builtins only: the sed/grep/dirname version took ~55 ms, one readlink per candidate ~4, this
# one under 1 when the JDK is found under /usr/lib/jvm).

jpasst_java_feature() {   # sets jpasst_feature to the feature release of the JDK at $1 (17, 25, ...)
    # the JDK's release file says it: JAVA_VERSION="25.0.1"
    local line
    jpasst_feature=
    if [ -r "$1/release" ]; then
        while IFS= read -r line; do
            case $line in
                JAVA_VERSION=\"[0-9]*)
                    jpasst_feature=${line#JAVA_VERSION=\"}
                    jpasst_feature=${jpasst_feature%%[!0-9]*}
                    return
                    ;;
            esac
        done < "$1/release"
    fi
    # no release file: ask the JVM itself (slow, but only for such a JDK)
    jpasst_feature=$("$1/bin/java" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1)
}

jpasst_path_java() {   # sets jpasst_path_java to the first java on PATH (type -P, without a subshell)
    local IFS=: dir
    jpasst_path_java=
    for dir in $PATH; do
        if [ -f "${dir:-.}/java" ] && [ -x "${dir:-.}/java" ]; then
            jpasst_path_java=${dir:-.}/java
            return
        fi
    done
}

jpasst_find_jdk() {
    local candidate real home
    jpasst_path_java
    for candidate in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$jpasst_path_java" /usr/lib/jvm/*/bin/java; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        # a link (PATH's java, through /etc/alternatives) is resolved; a JDK's own bin/java is not one
        if [ -L "$candidate" ]; then
            real=$(readlink -f "$candidate") || continue
        else
            real=$candidate
        fi
        home=${real%/bin/java}
        [ "$home" != "$real" ] && [ -x "$home/bin/javac" ] || continue
        jpasst_java_feature "$home"
        if [ -n "$jpasst_feature" ] && [ "$jpasst_feature" -ge 25 ]; then
            JAVA_HOME=$home
            JAVA=$home/bin/java
            export JAVA_HOME
            return 0
        fi
    done
    echo "jpasst: no JDK 25 or later found (looked at JAVA_HOME, PATH and /usr/lib/jvm)" >&2
    return 1
}
