package jpasst.glue;

import org.junit.jupiter.api.Named;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The daemons the endpoint tests run against, chosen by the system property jpasst.glue.daemons
 * (comma-separated; set in this module's pom): "reference-passt" is /usr/bin/passt, "jpasst-jar"
 * is our passt-core/target/passt.jar (system property jpasst.jar).
 */
final class TestDaemons {

    static final String REFERENCE_PASST = "reference-passt";
    static final String JPASST_JAR = "jpasst-jar";

    /** A daemon under test: its name and the spec passt-qemu's --daemon takes. */
    record TestDaemon(String name, String spec) {
        DaemonCommand command() {
            if (name.equals(JPASST_JAR)) {
                assertTrue(Files.isRegularFile(Path.of(spec)), "passt.jar is not built at " + spec
                        + " (mvn -B -q -pl passt-core -DskipTests package)");
            }
            return DaemonCommand.parse(spec);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    private TestDaemons() {
    }

    /** For {@code @MethodSource("jpasst.glue.TestDaemons#selected")}. */
    static Stream<Named<TestDaemon>> selected() {
        String selection = System.getProperty("jpasst.glue.daemons", REFERENCE_PASST);
        return Arrays.stream(selection.split(",")).map(String::trim).filter(s -> !s.isEmpty()).map(name -> switch (name) {
            case REFERENCE_PASST -> Named.of(name, new TestDaemon(name, "/usr/bin/passt"));
            case JPASST_JAR -> Named.of(name, new TestDaemon(name, System.getProperty("jpasst.jar",
                    "../passt-core/target/passt.jar")));
            default -> throw new IllegalArgumentException("unknown daemon '" + name + "' in jpasst.glue.daemons");
        });
    }
}
