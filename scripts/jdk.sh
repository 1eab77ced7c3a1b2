# Sourced by ./passt, ./test and the other root scripts: finds a JDK >= 25 without
# anything exported by hand (JAVA_HOME, then java on PATH, then /usr/lib/jvm/*) and
# sets JAVA_HOME and JAVA to it. Prints a clear error and returns 1 if there is none.

jpasst_java_feature() {   # prints the feature release of the java binary $1 (17, 25, ...)
    # the JDK's release file says it without starting a JVM (which takes 50-100 ms per candidate
    # on ./passt's path, that is on every VM's start-up path)
    local release
    release="$(dirname "$(dirname "$(readlink -f "$1")")")/release"
    if [ -r "$release" ] && grep -q '^JAVA_VERSION="[0-9]' "$release"; then
        sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$release" | head -n 1
        return
    fi
    "$1" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}

jpasst_find_jdk() {
    local candidate home v
    for candidate in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java 2>/dev/null)" \
                     /usr/lib/jvm/*/bin/java; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        home=$(cd "$(dirname "$(readlink -f "$candidate")")/.." && pwd)
        [ -x "$home/bin/javac" ] || continue
        v=$(jpasst_java_feature "$candidate")
        if [ -n "$v" ] && [ "$v" -ge 25 ]; then
            JAVA_HOME=$home
            JAVA=$home/bin/java
            export JAVA_HOME
            return 0
        fi
    done
    echo "jpasst: no JDK 25 or later found (looked at JAVA_HOME, PATH and /usr/lib/jvm)" >&2
    return 1
}
