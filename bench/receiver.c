/*
 * receiver: the loopback HTTP peer of the delivery benchmarks.  One
 * thread, epoll, HTTP/1.1 with keep-alive; every request is answered
 * "200 ok" at once, so what is measured is the sender, not the peer.
 * With --log FILE each request with a body is written as one line,
 * "<arrival, µs since the epoch> <body>", the arrival taken when the
 * request's last byte was read.  The same program is what `wrk` measures
 * for the receiver's own ceiling.
 *
 *   receiver [--log FILE]     prints its port, serves until SIGTERM/SIGINT
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 4096
#define BUFSZ 65536

struct conn {
	int fd;
	size_t len;
	char buf[BUFSZ];
};

static FILE *logf_;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Length of the first complete request in c->buf, 0 if incomplete. */
static size_t
request_len(const struct conn *c, const char **body, size_t *blen)
{
	const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	const char *p;
	size_t head, clen = 0;

	if (end == NULL)
		return 0;
	head = (size_t)(end - c->buf) + 4;
	for (p = c->buf; p < end; p++) {
		if ((p == c->buf || p[-1] == '\n') &&
		    strncasecmp(p, "Content-Length:", 15) == 0)
			clen = strtoul(p + 15, NULL, 10);
	}
	if (c->len < head + clen)
		return 0;
	*body = c->buf + head;
	*blen = clen;
	return head + clen;
}

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			     "Content-Length: 3\r\n\r\nok\n";

/* Reads what is there and answers every complete request; -1 to close. */
static int
serve(struct conn *c)
{
	const char *body;
	size_t n, blen;
	ssize_t r;

	for (;;) {
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r == 0)
			return -1;
		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		c->len += (size_t)r;
		while ((n = request_len(c, &body, &blen)) > 0) {
			if (logf_ != NULL && blen > 0)
				fprintf(logf_, "%lld %.*s\n", (long long)now_us(),
					(int)blen, body);
			if (write(c->fd, answer, sizeof(answer) - 1) < 0)
				return -1;
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
		}
		if (c->len == sizeof(c->buf))
			return -1;   /* a request larger than the buffer */
	}
}

static int
listen_loopback(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				 sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
		perror("receiver: listen");
		exit(1);
	}
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	return fd;
}

static void
accept_all(int ep, int lfd, struct conn **conns)
{
	struct epoll_event ev;
	int one = 1, fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		if (fd >= MAXCONN) {
			close(fd);
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conns[fd] = calloc(1, sizeof(struct conn));
		if (conns[fd] == NULL) {
			close(fd);
			continue;
		}
		conns[fd]->fd = fd;
		ev.events = EPOLLIN;
		ev.data.fd = fd;
		(void)epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

int
main(int argc, char **argv)
{
	static struct conn *conns[MAXCONN];
	struct epoll_event ev, evs[256];
	sigset_t mask;
	int ep, lfd, sfd, i, n;

	if (argc == 3 && strcmp(argv[1], "--log") == 0) {
		logf_ = fopen(argv[2], "w");
		if (logf_ == NULL) {
			perror(argv[2]);
			return 1;
		}
		/* bench/run reads the log while the receiver runs. */
		setvbuf(logf_, NULL, _IOLBF, 0);
	} else if (argc != 1) {
		fprintf(stderr, "usage: receiver [--log FILE]\n");
		return 2;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, 0);
	lfd = listen_loopback();
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd)
				goto out;
			if (fd == lfd) {
				accept_all(ep, lfd, conns);
			} else if (serve(conns[fd]) != 0) {
				close(fd);
				free(conns[fd]);
				conns[fd] = NULL;
			}
		}
	}
out:
	if (logf_ != NULL && fclose(logf_) != 0)
		return 1;
	return 0;
}
