/*
 * udpburst ADDR PORT FIRST_SOURCE_PORT COUNT
 *
 * For the end-to-end UDP tests, inside the guest: sends one datagram to ADDR:PORT from each of
 * COUNT sockets bound to source ports FIRST_SOURCE_PORT, FIRST_SOURCE_PORT + 1, ..., then waits
 * up to 10 s for the replies (an echo server answers each) and prints "sent=N replies=M". UDP may
 * lose a datagram of a burst (the guest's own queue discipline drops what waits too long when
 * the host is loaded): a socket without its reply after 2 s sends again, twice at most.
 * busybox has no UDP client and a socat per port costs a second each under TCG: this opens
 * 1000 flows in well under a second. Built statically by the test (gcc -static).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct pollfd *p;
	int port, first, n, i, sent = 0, replies = 0, rounds = 0;
	time_t deadline, resend;

	if (argc != 5) {
		fprintf(stderr, "usage: udpburst ADDR PORT FIRST_SOURCE_PORT COUNT\n");
		return 2;
	}
	port = atoi(argv[2]);
	first = atoi(argv[3]);
	n = atoi(argv[4]);
	dst.sin_port = htons(port);
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", argv[1]);
		return 2;
	}
	p = calloc(n, sizeof(*p));
	for (i = 0; i < n; i++) {
		struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(first + i) };
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "burst %d", i);

		p[i].fd = socket(AF_INET, SOCK_DGRAM, 0);
		p[i].events = POLLIN;
		if (p[i].fd < 0 || bind(p[i].fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			perror("socket/bind");
			p[i].fd = -1;
			continue;
		}
		if (sendto(p[i].fd, msg, len, 0, (struct sockaddr *)&dst, sizeof(dst)) == len)
			sent++;
	}
	deadline = time(NULL) + 10;
	resend = time(NULL) + 2;
	while (replies < sent && time(NULL) < deadline) {
		if (rounds < 2 && time(NULL) >= resend) {
			for (i = 0; i < n; i++) {
				char msg[32];
				int len = snprintf(msg, sizeof(msg), "burst %d", i);

				if (p[i].fd >= 0)
					sendto(p[i].fd, msg, len, 0, (struct sockaddr *)&dst, sizeof(dst));
			}
			rounds++;
			resend = time(NULL) + 2;
		}
		if (poll(p, n, 500) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			char buf[64];

			if (p[i].fd >= 0 && (p[i].revents & POLLIN)) {
				if (recv(p[i].fd, buf, sizeof(buf), 0) > 0)
					replies++;
				p[i].fd = -1;
			}
		}
	}
	printf("sent=%d replies=%d\n", sent, replies);
	return 0;
}
