package jpasst.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Msghdr;
import jpasst.sys.Sockets;

/**
 * The vhost-user message codec on a real socket pair: messages arriving in pieces, descriptors
 * beside the header, and everything refused before use (sizes, versions, too many descriptors),
 * with no descriptor left open.
 */
class MessageChannelTest {
    private final Arena arena = Arena.ofShared();
    private int ours, theirs;
    private MessageChannel ch;

    @BeforeEach
    void pair() {
        MemorySegment fds = arena.allocate(8, 4);
        Errno.check(Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_NONBLOCK, 0, fds), "socketpair");
        ours = fds.get(ValueLayout.JAVA_INT, 0);
        theirs = fds.get(ValueLayout.JAVA_INT, 4);
        ch = new MessageChannel();
        ch.attach(ours);
    }

    @AfterEach
    void close() {
        ch.close();
        Descriptors.close(ours);
        if (theirs >= 0) Descriptors.close(theirs);
        arena.close();
    }

    static int openFds() throws IOException {
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            return (int) s.count();
        }
    }

    static byte[] header(int request, int flags, int size) {
        MemorySegment m = MemorySegment.ofArray(new byte[12]);
        m.set(VhostUserMsg.U32, 0, request);
        m.set(VhostUserMsg.U32, 4, flags);
        m.set(VhostUserMsg.U32, 8, size);
        return m.toArray(ValueLayout.JAVA_BYTE);
    }

    /** Sends {@code bytes} with {@code fds} as SCM_RIGHTS. */
    void send(byte[] bytes, int... fds) {
        MemorySegment buf = arena.allocate(Math.max(1, bytes.length));
        MemorySegment.copy(bytes, 0, buf, ValueLayout.JAVA_BYTE, 0, bytes.length);
        MemorySegment iov = arena.allocate(Msghdr.IOVEC, 8);
        Msghdr.iovec(iov, 0, buf.address(), bytes.length);
        MemorySegment msg = arena.allocate(Msghdr.SIZE, 8);
        msg.set(ValueLayout.JAVA_LONG, Msghdr.IOV, iov.address());
        msg.set(ValueLayout.JAVA_LONG, Msghdr.IOVLEN, 1);
        if (fds.length > 0) {
            long len = Msghdr.CMSG_HDR + 4L * fds.length;
            MemorySegment control = arena.allocate((len + 7) & ~7L, 8);
            Msghdr.cmsg(control, 0, len, Sockets.SOL_SOCKET, Sockets.SCM_RIGHTS);
            for (int i = 0; i < fds.length; i++) control.set(ValueLayout.JAVA_INT, Msghdr.CMSG_HDR + 4L * i, fds[i]);
            msg.set(ValueLayout.JAVA_LONG, Msghdr.CONTROL, control.address());
            msg.set(ValueLayout.JAVA_LONG, Msghdr.CONTROLLEN, control.byteSize());
        }
        assertEquals(bytes.length, Sockets.sendmsg(theirs, msg, 0));
    }

    static int eventfd() {
        return Errno.check(Descriptors.eventfd(0, Descriptors.EFD_CLOEXEC), "eventfd");
    }

    static byte[] cat(byte[] a, byte[] b) {
        byte[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void aMessageArrivingInPiecesIsAssembledWithTheDescriptorsSentWithItsFirstBytes() throws Exception {
        int e1 = eventfd(), e2 = eventfd();
        byte[] m = cat(header(VhostUserMsg.SET_VRING_KICK, 1, 8), new byte[] {1, 0, 0, 0, 0, 0, 0, 0});
        send(java.util.Arrays.copyOfRange(m, 0, 5), e1, e2);
        Descriptors.close(e1);
        Descriptors.close(e2);
        assertEquals(MessageChannel.AGAIN, ch.read());
        send(java.util.Arrays.copyOfRange(m, 5, 14));
        assertEquals(MessageChannel.AGAIN, ch.read());
        send(java.util.Arrays.copyOfRange(m, 14, 20));
        assertEquals(MessageChannel.MESSAGE, ch.read());
        assertEquals(VhostUserMsg.SET_VRING_KICK, VhostUserMsg.request(ch.message()));
        assertEquals(1, VhostUserMsg.u64(ch.message(), 0));
        assertEquals(2, ch.fdCount());
        int before = openFds();
        ch.done();
        assertEquals(before - 2, openFds(), "descriptors nobody took were not closed");
        assertEquals(MessageChannel.AGAIN, ch.read());
    }

    @Test
    void twoMessagesInOneWriteAreReadOneAfterTheOther() {
        send(cat(header(VhostUserMsg.GET_FEATURES, 1, 0), header(VhostUserMsg.SET_OWNER, 1, 0)));
        assertEquals(MessageChannel.MESSAGE, ch.read());
        assertEquals(VhostUserMsg.GET_FEATURES, VhostUserMsg.request(ch.message()));
        ch.done();
        assertEquals(MessageChannel.MESSAGE, ch.read());
        assertEquals(VhostUserMsg.SET_OWNER, VhostUserMsg.request(ch.message()));
    }

    @Test
    void aPayloadLargerThanAnyRequestIsRefusedBeforeItIsRead() {
        send(header(VhostUserMsg.SET_MEM_TABLE, 1, 4097));
        VhostUserException e = assertThrows(VhostUserException.class, ch::read);
        assertTrue(e.getMessage().contains("4097"), e.getMessage());
        send(header(VhostUserMsg.SET_MEM_TABLE, 1, -1));
        ch.done();
        assertThrows(VhostUserException.class, ch::read);
    }

    @Test
    void anotherProtocolVersionOrTheReplyFlagIsRefused() {
        send(header(VhostUserMsg.GET_FEATURES, 2, 0));
        assertThrows(VhostUserException.class, ch::read);
        ch.done();
        send(header(VhostUserMsg.GET_FEATURES, 1 | VhostUserMsg.REPLY, 0));
        assertThrows(VhostUserException.class, ch::read);
    }

    @Test
    void moreThanEightDescriptorsAreAllClosedAndRefused() throws Exception {
        int before = openFds();
        int[] fds = new int[10];
        for (int i = 0; i < fds.length; i++) fds[i] = eventfd();
        send(cat(header(VhostUserMsg.SET_MEM_TABLE, 1, 0), new byte[0]), fds);
        for (int fd : fds) Descriptors.close(fd);
        assertThrows(VhostUserException.class, ch::read);
        ch.done();
        assertEquals(before, openFds(), "descriptors left open");
    }

    @Test
    void theFrontEndClosingIsSeenAsClosedEvenInTheMiddleOfAMessage() {
        send(java.util.Arrays.copyOf(header(VhostUserMsg.SET_OWNER, 1, 8), 12));
        Descriptors.close(theirs);
        theirs = -1;
        assertEquals(MessageChannel.CLOSED, ch.read());
        assertTrue(ch.closedWhy().contains("middle"), ch.closedWhy());
    }

    @Test
    void aReplyCarriesTheRequestTheVersionAndTheReplyFlag() {
        ch.sendAck(VhostUserMsg.SET_MEM_TABLE, true);
        MemorySegment got = arena.allocate(20);
        assertEquals(20, Sockets.recv(theirs, got, 20, 0));
        assertEquals(VhostUserMsg.SET_MEM_TABLE, got.get(VhostUserMsg.U32, 0));
        assertEquals(VhostUserMsg.VERSION | VhostUserMsg.REPLY, got.get(VhostUserMsg.U32, 4));
        assertEquals(8, got.get(VhostUserMsg.U32, 8));
        assertEquals(0L, got.get(VhostUserMsg.U64, 12));
    }
}
