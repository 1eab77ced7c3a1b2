package jpasst.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * Every structure jpasst lays out by hand, on both machines it runs on, against the C compilers'
 * figures: on x86-64, gcc 12.2 with glibc 2.36 (Debian 12), a program of sizeof/offsetof printed
 * and run once; on AArch64, the same program compiled by aarch64-linux-gnu-gcc 12.2 against
 * glibc 2.36's AArch64 headers (libc6-dev-arm64-cross) with -S, each figure read from the
 * assembly. They agree with glibc's {@code <sys/epoll.h>} and the kernel's
 * {@code uapi/linux/eventpoll.h}: struct epoll_event is packed on x86-64 only.
 */
class StructLayoutsTest {
    /** sizeof and offsetof as the C compilers gave them, the same keys for both machines. */
    static final Map<String, Long> X86_64 = Map.ofEntries(
            Map.entry("epoll_event", 12L), Map.entry("epoll_event.events", 0L), Map.entry("epoll_event.data", 4L),
            Map.entry("msghdr", 56L), Map.entry("msghdr.msg_name", 0L), Map.entry("msghdr.msg_namelen", 8L),
            Map.entry("msghdr.msg_iov", 16L), Map.entry("msghdr.msg_iovlen", 24L),
            Map.entry("msghdr.msg_control", 32L), Map.entry("msghdr.msg_controllen", 40L),
            Map.entry("msghdr.msg_flags", 48L),
            Map.entry("iovec", 16L), Map.entry("iovec.iov_base", 0L), Map.entry("iovec.iov_len", 8L),
            Map.entry("cmsghdr", 16L), Map.entry("cmsghdr.cmsg_len", 0L), Map.entry("cmsghdr.cmsg_level", 8L),
            Map.entry("cmsghdr.cmsg_type", 12L), Map.entry("CMSG_LEN(0)", 16L),
            Map.entry("sockaddr_in", 16L), Map.entry("sockaddr_in.sin_family", 0L),
            Map.entry("sockaddr_in.sin_port", 2L), Map.entry("sockaddr_in.sin_addr", 4L),
            Map.entry("sockaddr_in6", 28L), Map.entry("sockaddr_in6.sin6_family", 0L),
            Map.entry("sockaddr_in6.sin6_port", 2L), Map.entry("sockaddr_in6.sin6_flowinfo", 4L),
            Map.entry("sockaddr_in6.sin6_addr", 8L), Map.entry("sockaddr_in6.sin6_scope_id", 24L),
            Map.entry("sockaddr_un", 110L), Map.entry("sockaddr_un.sun_family", 0L),
            Map.entry("sockaddr_un.sun_path", 2L), Map.entry("sockaddr_storage", 128L),
            Map.entry("rlimit", 16L), Map.entry("rlimit.rlim_cur", 0L), Map.entry("rlimit.rlim_max", 8L),
            Map.entry("linger", 8L), Map.entry("linger.l_onoff", 0L), Map.entry("linger.l_linger", 4L),
            Map.entry("ucred", 12L), Map.entry("ucred.pid", 0L), Map.entry("ucred.uid", 4L), Map.entry("ucred.gid", 8L),
            Map.entry("sigset_t", 128L), Map.entry("posix_spawnattr_t", 336L),
            Map.entry("posix_spawn_file_actions_t", 80L));

    /** As {@link #X86_64} but for struct epoll_event: 16 bytes, its data aligned at 8. */
    static final Map<String, Long> AARCH64;

    static {
        java.util.HashMap<String, Long> m = new java.util.HashMap<>(X86_64);
        m.put("epoll_event", 16L);
        m.put("epoll_event.data", 8L);
        AARCH64 = Map.copyOf(m);
    }

    private static void assertLayout(Map<String, Long> c, String name, MemoryLayout layout, Arch arch) {
        assertEquals(c.get(name), layout.byteSize(), arch + ": sizeof(" + name + ")");
        if (layout instanceof StructLayout s) {
            for (MemoryLayout field : s.memberLayouts()) {
                if (field.name().isEmpty() || field.name().get().startsWith("__")) continue; // padding
                String key = name + "." + field.name().get();
                if (key.equals("sockaddr_in.sin_zero") || key.equals("sockaddr_storage.ss_family")) continue;
                assertEquals(c.get(key), s.byteOffset(MemoryLayout.PathElement.groupElement(field.name().get())),
                        arch + ": offsetof(" + key + ")");
            }
        }
    }

    private static void assertBoth(String name, java.util.function.Function<Arch, MemoryLayout> layout) {
        assertLayout(X86_64, name, layout.apply(Arch.X86_64), Arch.X86_64);
        assertLayout(AARCH64, name, layout.apply(Arch.AARCH64), Arch.AARCH64);
    }

    @Test
    void epollEventIsPacked12BytesOnX86_64And16WithItsDataAt8OnAArch64() {
        assertBoth("epoll_event", Epoll::eventLayout);
    }

    @Test
    void msghdrIovecAndCmsghdrAreLaidOutAsGlibcDoesOnBothMachines() {
        assertBoth("msghdr", Msghdr::layout);
        assertBoth("iovec", Msghdr::iovecLayout);
        assertBoth("cmsghdr", Msghdr::cmsghdrLayout);
        assertEquals(X86_64.get("CMSG_LEN(0)"), (long) Msghdr.CMSG_HDR);
    }

    @Test
    void socketAddressesAreLaidOutAsGlibcDoesOnBothMachines() {
        assertBoth("sockaddr_in", SockAddr::in4Layout);
        assertBoth("sockaddr_in6", SockAddr::in6Layout);
        assertBoth("sockaddr_un", SockAddr::unLayout);
        assertBoth("sockaddr_storage", SockAddr::storageLayout);
    }

    @Test
    void processStructuresAreLaidOutAsGlibcDoesOnBothMachines() {
        assertBoth("rlimit", Processes::rlimitLayout);
        assertBoth("sigset_t", Processes::sigsetLayout);
        for (Arch a : Arch.values()) {
            Map<String, Long> c = a == Arch.X86_64 ? X86_64 : AARCH64;
            assertEquals(c.get("posix_spawnattr_t"), Processes.spawnattrSize(a), a + ": sizeof(posix_spawnattr_t)");
            assertEquals(c.get("posix_spawn_file_actions_t"), Processes.fileActionsSize(a),
                    a + ": sizeof(posix_spawn_file_actions_t)");
        }
    }

    @Test
    void socketOptionStructuresAreLaidOutAsGlibcDoesOnBothMachines() {
        assertBoth("linger", SocketOptions::lingerLayout);
        assertBoth("ucred", SocketOptions::ucredLayout);
    }

    @Test
    void theJvmsArchitectureNamesMapToTheTwoMachinesAndOthersAreRefused() {
        assertEquals(Arch.X86_64, Arch.of("amd64"));
        assertEquals(Arch.X86_64, Arch.of("x86_64"));
        assertEquals(Arch.AARCH64, Arch.of("aarch64"));
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> Arch.of("riscv64"));
        assertEquals("jpasst knows the structure layouts of x86-64 and AArch64 Linux only, not of riscv64", e.getMessage());
    }

    @Test
    void theKernelReturnsTheDataRegisteredThroughThisMachinesEpollEvent() {
        try (Arena a = Arena.ofConfined()) {
            int ep = Errno.check(Epoll.epollCreate1(Epoll.EPOLL_CLOEXEC), "epoll_create1");
            int efd = Errno.check(Descriptors.eventfd(0, Descriptors.EFD_CLOEXEC | Descriptors.EFD_NONBLOCK), "eventfd");
            try {
                MemorySegment ev = a.allocate(Epoll.EVENT_SIZE, 8);
                Epoll.event(ev, Epoll.EPOLLIN, 0x0123_4567_89ab_cdefL);
                Errno.check(Epoll.epollCtl(ep, Epoll.EPOLL_CTL_ADD, efd, ev), "epoll_ctl");
                MemorySegment one = a.allocate(8, 8);
                one.set(ValueLayout.JAVA_LONG, 0, 1L);
                assertEquals(8, Descriptors.write(efd, one, 8));
                MemorySegment events = a.allocate((long) Epoll.EVENT_SIZE * 4, 8);
                events.fill((byte) 0x55);
                assertEquals(1, Epoll.epollWait(ep, events, 4, 1000));
                assertEquals(Epoll.EPOLLIN, Epoll.events(events, 0));
                assertEquals(0x0123_4567_89ab_cdefL, Epoll.data(events, 0));
                assertEquals(Epoll.eventLayout(Arch.CURRENT).byteSize(), Epoll.EVENT_SIZE);
            } finally {
                Descriptors.close(efd);
                Descriptors.close(ep);
            }
        }
    }
}
