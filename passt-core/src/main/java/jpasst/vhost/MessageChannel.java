package jpasst.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jpasst.sys.Errno;
import jpasst.sys.Descriptors;
import jpasst.sys.Msghdr;
import jpasst.sys.Sockets;

import static jpasst.vhost.VhostUserMsg.HEADER;
import static jpasst.vhost.VhostUserMsg.MAX_FDS;
import static jpasst.vhost.VhostUserMsg.MAX_PAYLOAD;

/**
 * The vhost-user socket, message by message: reads requests with the descriptors that travel
 * beside them (SCM_RIGHTS, which JDK channels cannot receive: recvmsg through FFM with a control
 * buffer) and writes replies.
 *
 * The socket is non-blocking and served by the event loop, so a message may arrive in pieces:
 * {@link #read} keeps what it has (header, payload, descriptors) and returns {@link #AGAIN} until
 * the whole message is there. The kernel hands descriptors over with the bytes they were sent
 * with and never merges them into a read that goes on past those bytes, so every descriptor
 * read before the message is complete belongs to it. Descriptors the handler does not take
 * ({@link #takeFd}) are closed when the message is done ({@link #done}), when the connection is
 * dropped, or at once when there are too many.
 *
 * Checked before anything else sees the message: the version bits, no reply flag, a payload of
 * at most {@link VhostUserMsg#MAX_PAYLOAD} bytes, at most {@link VhostUserMsg#MAX_FDS}
 * descriptors, no truncated control data. Each breach throws {@link VhostUserException}.
 */
final class MessageChannel {
    static final int MESSAGE = 1, AGAIN = 0, CLOSED = -1;
    /** Room for twice the descriptors a message may carry, so that too many are seen, not cut. */
    private static final int CONTROL = Msghdr.CMSG_HDR + 4 * 2 * MAX_FDS;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment msg = arena.allocate(HEADER + MAX_PAYLOAD, 8);
    private final MemorySegment out = arena.allocate(HEADER + 64, 8);
    private final MemorySegment msghdr = arena.allocate(Msghdr.SIZE, 8);
    private final MemorySegment iov = arena.allocate(Msghdr.IOVEC, 8);
    private final MemorySegment control = arena.allocate(CONTROL, 8);
    private final int[] fds = new int[MAX_FDS];
    private int nfds;
    private int fd = -1;
    private int have;
    private String closedWhy;

    MessageChannel() {
        msghdr.set(ValueLayout.JAVA_LONG, Msghdr.IOV, iov.address());
        msghdr.set(ValueLayout.JAVA_LONG, Msghdr.IOVLEN, 1);
    }

    void attach(int fd) {
        this.fd = fd;
        have = 0;
        nfds = 0;
    }

    /** Forgets the socket (the caller closes it) and closes the descriptors of a partial message. */
    void detach() {
        closeFds();
        fd = -1;
        have = 0;
    }

    int fd() {
        return fd;
    }

    /** Why {@link #read} returned {@link #CLOSED}: "closed by the front-end" or the error. */
    String closedWhy() {
        return closedWhy;
    }

    /**
     * Reads on until a whole message is there: {@link #MESSAGE} (see {@link #message()}),
     * {@link #AGAIN} (wait for the socket), or {@link #CLOSED}.
     */
    int read() {
        if (have < HEADER) {
            int r = receive(HEADER - have);
            if (r != MESSAGE) return r;
            if (have < HEADER) return AGAIN;
            checkHeader();
        }
        long want = HEADER + VhostUserMsg.size(msg);
        if (have < want) {
            int r = receive((int) (want - have));
            if (r != MESSAGE) return r;
            if (have < want) return AGAIN;
        }
        return MESSAGE;
    }

    private void checkHeader() {
        int flags = VhostUserMsg.flags(msg);
        int request = VhostUserMsg.request(msg);
        if ((flags & VhostUserMsg.VERSION_MASK) != VhostUserMsg.VERSION) {
            throw new VhostUserException("message " + request + " of protocol version " + (flags & VhostUserMsg.VERSION_MASK)
                    + ", only version 1 exists");
        }
        if ((flags & VhostUserMsg.REPLY) != 0) {
            throw new VhostUserException("message " + request + " flagged as a reply: the front-end sends requests");
        }
        long size = VhostUserMsg.size(msg);
        if (size > MAX_PAYLOAD) {
            throw new VhostUserException(VhostUserMsg.name(request) + " (" + request + ") announces a payload of "
                    + size + " bytes, more than any request has");
        }
    }

    /** One recvmsg of at most {@code len} bytes: MESSAGE if some came (it may be fewer), else AGAIN or CLOSED. */
    private int receive(int len) {
        Msghdr.iovec(iov, 0, msg.address() + have, len);
        msghdr.set(ValueLayout.JAVA_LONG, Msghdr.CONTROL, control.address());
        msghdr.set(ValueLayout.JAVA_LONG, Msghdr.CONTROLLEN, CONTROL);
        msghdr.set(ValueLayout.JAVA_INT, Msghdr.FLAGS, 0);
        long n = Sockets.recvmsg(fd, msghdr, Sockets.MSG_DONTWAIT | Sockets.MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (n == -Errno.EAGAIN || n == -Errno.EINTR) return AGAIN;
            closedWhy = "error on the vhost-user socket: " + Errno.text((int) n);
            return CLOSED;
        }
        takeDescriptors();
        if (n == 0) {
            closedWhy = have == 0 ? "closed by the front-end" : "closed by the front-end in the middle of a message";
            return CLOSED;
        }
        have += (int) n;
        return MESSAGE;
    }

    /** Collects the SCM_RIGHTS descriptors of the last recvmsg; throws if there were too many. */
    private void takeDescriptors() {
        long controlLen = msghdr.get(ValueLayout.JAVA_LONG, Msghdr.CONTROLLEN);
        int flags = msghdr.get(ValueLayout.JAVA_INT, Msghdr.FLAGS);
        boolean tooMany = (flags & Sockets.MSG_CTRUNC) != 0;
        long off = 0;
        while (off + Msghdr.CMSG_HDR <= controlLen && controlLen <= CONTROL) {
            long cmsgLen = Msghdr.cmsgLength(control, off);
            if (cmsgLen < Msghdr.CMSG_HDR || off + cmsgLen > controlLen) break;
            int level = Msghdr.cmsgLevel(control, off);
            int type = Msghdr.cmsgType(control, off);
            if (level == Sockets.SOL_SOCKET && type == Sockets.SCM_RIGHTS) {
                int count = (int) ((cmsgLen - Msghdr.CMSG_HDR) / 4);
                for (int i = 0; i < count; i++) {
                    int received = control.get(ValueLayout.JAVA_INT, off + Msghdr.CMSG_HDR + 4L * i);
                    if (nfds < MAX_FDS) {
                        fds[nfds++] = received;
                    } else {
                        Descriptors.close(received);
                        tooMany = true;
                    }
                }
            }
            off += (cmsgLen + 7) & ~7L;
        }
        if (tooMany) {
            closeFds();
            throw new VhostUserException("more than " + MAX_FDS + " descriptors with one message");
        }
    }

    /** The message read: header at 0, payload at {@link VhostUserMsg#HEADER}. */
    MemorySegment message() {
        return msg;
    }

    int fdCount() {
        return nfds;
    }

    /** Takes descriptor {@code i} of the message: the caller owns it from now on. */
    int takeFd(int i) {
        int f = fds[i];
        fds[i] = -1;
        return f;
    }

    /** The message has been handled: closes the descriptors nobody took, makes room for the next. */
    void done() {
        closeFds();
        have = 0;
    }

    private void closeFds() {
        for (int i = 0; i < nfds; i++) {
            if (fds[i] >= 0) Descriptors.close(fds[i]);
            fds[i] = -1;
        }
        nfds = 0;
    }

    /** The reply buffer: payload at {@link VhostUserMsg#HEADER}; see {@link #sendReply}. */
    MemorySegment reply() {
        return out;
    }

    /**
     * Sends the reply to {@code request} with the {@code size} payload bytes written into
     * {@link #reply()}. Replies are small and the front-end waits for them: a socket that cannot
     * take one at once means a front-end that does not read, and the connection is given up.
     */
    void sendReply(int request, int size) {
        VhostUserMsg.replyHeader(out, request, size);
        long n;
        do {
            n = Sockets.send(fd, out, HEADER + size, Sockets.MSG_DONTWAIT | Sockets.MSG_NOSIGNAL);
        } while (n == -Errno.EINTR);
        if (n != HEADER + size) {
            throw new VhostUserException("cannot send the reply to " + VhostUserMsg.name(request) + ": "
                    + (n < 0 ? Errno.text((int) n) : "the front-end does not read its replies"));
        }
    }

    /** The REPLY_ACK answer: u64 0 for success, 1 for failure. */
    void sendAck(int request, boolean ok) {
        VhostUserMsg.putU64(out, 0, ok ? 0 : 1);
        sendReply(request, VhostUserMsg.U64_SIZE);
    }

    void close() {
        detach();
        arena.close();
    }
}
