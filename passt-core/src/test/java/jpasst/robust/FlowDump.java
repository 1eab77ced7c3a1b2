package jpasst.robust;

/**
 * For a failed "every flow expires" check: prints the TCP connections still open, field by
 * field (read by reflection, so the TCP code needs no test hooks; if its fields change, this just
 * says it could not look).
 */
final class FlowDump {
    private FlowDump() {}

    /** The kernel's view of a socket of this process: its line of /proc/thread-self/net/tcp{,6}. */
    static String socketState(int fd) {
        try {
            String link = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/" + fd)).toString();
            String inode = link.replaceAll("\\D", "");
            for (String f : new String[] {"tcp", "tcp6"}) {
                for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/thread-self/net/" + f))) {
                    String[] w = line.trim().split("\\s+");
                    if (w.length > 9 && w[9].equals(inode)) {
                        return "st=" + w[3] + " tx:rx=" + w[4] + " " + line.trim();
                    }
                }
            }
            return link + " (not in /proc/thread-self/net/tcp)";
        } catch (java.io.IOException e) {
            return "? " + e;
        }
    }

    static void tcp(jpasst.Passt passt, long now) {
        jpasst.flow.Flows flows = passt.flows;
        try {
            var f = passt.tcp.getClass().getDeclaredField("conns");
            f.setAccessible(true);
            for (Object c : (Object[]) f.get(passt.tcp)) {
                if (c == null) continue;
                var index = c.getClass().getDeclaredField("index");
                index.setAccessible(true);
                int slot = (int) index.get(c);
                if (flows.type(slot) != jpasst.flow.Flows.TCP) continue;
                StringBuilder b = new StringBuilder();
                for (var x : c.getClass().getDeclaredFields()) {
                    if (java.lang.reflect.Modifier.isStatic(x.getModifiers())) continue;
                    x.setAccessible(true);
                    b.append(x.getName()).append('=').append(x.get(c)).append(' ');
                }
                System.out.println("TCP connection left: " + b + "lastActivity=" + flows.lastActivity(slot)
                        + " (now " + now + ") socket: " + socketState(flows.fd(slot)));
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            System.out.println("cannot list TCP connections: " + e);
        }
    }
}
