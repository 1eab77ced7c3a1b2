package jpasst.guest.vm;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What one guest run left behind: the whole serial console, the {@code @@KEY=VALUE} markers in
 * the order printed (a key may repeat), QEMU's exit status and the wall-clock time.
 *
 * <p>{@link #marker(String)} fails with the console in the message when a marker is missing, so
 * a test can simply ask for what it expects.
 */
public record GuestRun(String console, Map<String, List<String>> markers, int qemuExitCode, Duration elapsed) {

    /** The last value printed for {@code key}; an AssertionError with the console if none. */
    public String marker(String key) {
        return optionalMarker(key).orElseThrow(() -> new AssertionError(
                "guest printed no @@" + key + "= marker\n" + Guest.consoleBlock(console)));
    }

    /** The last value printed for {@code key}, if any. */
    public Optional<String> optionalMarker(String key) {
        List<String> values = markers.get(key);
        return values == null || values.isEmpty() ? Optional.empty() : Optional.of(values.getLast());
    }

    /** Every value printed for {@code key}, in order; empty if none. */
    public List<String> allMarkers(String key) {
        return markers.getOrDefault(key, List.of());
    }

    /** The exit status of the test script, from {@code @@GUEST_SCRIPT_EXIT}. */
    public int scriptExitStatus() {
        return Integer.parseInt(marker("GUEST_SCRIPT_EXIT"));
    }

    /** A message suffix with the console, for assertion messages. */
    public String consoleForMessage() {
        return "\n" + Guest.consoleBlock(console);
    }
}
