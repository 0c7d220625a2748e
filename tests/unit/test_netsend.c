/*
 * test_netsend: SMTP and webhook delivery against real servers on
 * 127.0.0.1 (tests/tools/http_receiver.py and tests/tools/smtp_server.py,
 * started here with a free port and killed by PID): what arrives, how
 * every kind of answer is classified, timeouts, capped bodies, per-channel
 * concurrency, and the Standard Webhooks signature, checked by the
 * receiver's own Python implementation and the specification's vector;
 * and that an SMTP server stalling after DATA never holds up the host
 * loop nor netsend_free (emails run on netsend's mail thread).
 * A peer that cannot be started fails the test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "promised/netsend.h"

#define MAX_PEERS 4
#define MAX_JOBS 16
#define NOW 1790000000

static char tmpdir[] = "/tmp/promised-netsend-XXXXXX";
static pid_t peers[MAX_PEERS];
static size_t npeers;

struct result {
	int set;
	enum netsend_result result;
	long status;
	int64_t retry_after;
	char detail[256];
	char *response;
	char provider[128];
};
static struct result results[MAX_JOBS];

/* ------------------------------------------------------------------ */
/* Files and peers                                                     */

static const char *
tmp_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

static const char *
put_file(const char *name, const char *data, char *buf, size_t len)
{
	FILE *fp;

	tmp_path(name, buf, len);
	fp = fopen(buf, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, strlen(data), fp), strlen(data));
	assert_int_equal(fclose(fp), 0);
	return buf;
}

/* Reads a whole file into an owned string (NULL when missing). */
static char *
slurp(const char *path, size_t *lenp)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	if (lenp != NULL)
		*lenp = (size_t)n;
	return buf;
}

static const char *
python(void)
{
	const char *p = getenv("PROMISED_PYTHON");

	if (p != NULL && p[0] != '\0')
		return p;
	/* The Debian interpreter has python3-aiosmtpd; a python3 earlier
	 * in PATH (pyenv, venv) may not. */
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3"
						     : "python3";
}

static const char *
tool(const char *name, char *buf, size_t len)
{
	const char *src = getenv("PROMISED_SOURCE_DIR");

	snprintf(buf, len, "%s/tests/tools/%s", src != NULL ? src : ".", name);
	return buf;
}

/* Starts a peer (argv[0] is the script) and reads the port it prints
 * first; the peer's PID is remembered for the teardown. */
static int
peer_start(char *const *args)
{
	char *argv[32], line[32];
	int fds[2], status, port = -1;
	size_t n = 0, i;
	struct pollfd pfd;
	pid_t pid;

	argv[0] = (char *)python();
	for (i = 0; args[i] != NULL && i < 30; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	assert_true(npeers < MAX_PEERS);
	peers[npeers++] = pid;
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while (n < sizeof(line) - 1 && poll(&pfd, 1, 15000) == 1) {
		ssize_t r = read(fds[0], line + n, 1);

		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(fds[0]);
	if (n > 0)
		port = (int)strtol(line, NULL, 10);
	if (port <= 0 && waitpid(pid, &status, WNOHANG) == pid)
		peers[--npeers] = 0;
	if (port <= 0)
		fail_msg("peer %s did not start (is %s with its modules "
			 "installed?)", args[0], argv[0]);
	return port;
}

static int
teardown_peers(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < npeers; i++) {
		kill(peers[i], SIGTERM);
		waitpid(peers[i], NULL, 0);
		peers[i] = 0;
	}
	npeers = 0;
	for (i = 0; i < MAX_JOBS; i++) {
		free(results[i].response);
		memset(&results[i], 0, sizeof(results[i]));
	}
	return 0;
}

/* A port that nothing listens on (bound, read, closed). */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* ------------------------------------------------------------------ */
/* netsend plumbing                                                    */

static void
on_done(void *cb_ctx, const struct netsend_done *d)
{
	struct result *r = d->job_ctx;

	assert_ptr_equal(cb_ctx, results);
	assert_int_equal(r->set, 0);     /* once per job */
	r->set = 1;
	r->result = d->result;
	r->status = d->status;
	r->retry_after = d->retry_after;
	snprintf(r->detail, sizeof(r->detail), "%s", d->detail);
	r->response = strdup(d->response);
	snprintf(r->provider, sizeof(r->provider), "%s", d->provider_id);
}

/* A tiny host loop: poll() over what netsend asks to watch plus its one
 * timer, as the daemon's epoll loop does. */
struct hostloop {
	int fd[32];
	unsigned ev[32];
	size_t n;
	int64_t deadline;    /* ms, -1: disarmed */
	int timer_calls;
	int64_t max_call_ms; /* longest netsend_on_fd / netsend_on_timeout */
};
static struct hostloop hl;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
hl_watch(void *ctx, int fd, unsigned events)
{
	size_t i;

	assert_ptr_equal(ctx, &hl);
	for (i = 0; i < hl.n && hl.fd[i] != fd; i++)
		;
	if (events == 0) {
		if (i < hl.n) {
			hl.fd[i] = hl.fd[hl.n - 1];
			hl.ev[i] = hl.ev[hl.n - 1];
			hl.n--;
		}
		return;
	}
	if (i == hl.n) {
		assert_true(hl.n < 32);
		hl.fd[hl.n++] = fd;
	}
	hl.ev[i] = events;
}

static void
hl_timer(void *ctx, long ms)
{
	assert_ptr_equal(ctx, &hl);
	hl.timer_calls++;
	hl.deadline = ms < 0 ? -1 : now_ms() + ms;
}

/* Notes how long one call into netsend took: the host loop must never
 * be held up by a transfer. */
static void
hl_timed(int64_t since)
{
	int64_t took = now_ms() - since;

	if (took > hl.max_call_ms)
		hl.max_call_ms = took;
}

/* Runs the host loop until nothing is pending, limit_ms passed or *until
 * became non-zero (until may be NULL). */
static void
hl_run_until(struct netsend *ns, int64_t limit_ms, const int *until)
{
	int64_t end = now_ms() + limit_ms, t0;
	struct pollfd p[32];
	size_t i, n;
	int wait;

	while (netsend_pending(ns) > 0 && now_ms() < end &&
	       (until == NULL || *until == 0)) {
		n = hl.n;
		for (i = 0; i < n; i++) {
			p[i].fd = hl.fd[i];
			p[i].events = (short)(((hl.ev[i] & NETSEND_IN) ? POLLIN : 0) |
					      ((hl.ev[i] & NETSEND_OUT) ? POLLOUT : 0));
			p[i].revents = 0;
		}
		wait = 100;
		if (hl.deadline >= 0 && hl.deadline - now_ms() < wait)
			wait = hl.deadline > now_ms() ? (int)(hl.deadline - now_ms()) : 0;
		assert_true(poll(p, n, wait) >= 0);
		for (i = 0; i < n; i++) {
			unsigned ev = 0;

			if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
				ev |= NETSEND_IN;
			if (p[i].revents & POLLOUT)
				ev |= NETSEND_OUT;
			if (ev != 0) {
				t0 = now_ms();
				netsend_on_fd(ns, p[i].fd, ev);
				hl_timed(t0);
			}
		}
		if (hl.deadline >= 0 && now_ms() >= hl.deadline) {
			hl.deadline = -1;
			t0 = now_ms();
			netsend_on_timeout(ns);
			hl_timed(t0);
		}
	}
}

static void
hl_run(struct netsend *ns, int64_t limit_ms)
{
	hl_run_until(ns, limit_ms, NULL);
}

static struct netsend *
new_engine(int hosted)
{
	char err[256] = "";
	struct netsend *ns;

	memset(&hl, 0, sizeof(hl));
	hl.deadline = -1;
	ns = hosted ? netsend_new(hl_watch, hl_timer, &hl, on_done, results,
				  err, sizeof(err))
		    : netsend_new(NULL, NULL, NULL, on_done, results, err,
				  sizeof(err));
	assert_non_null(ns);
	return ns;
}

static void
webhook_channel(struct cfg_channel *ch, const char *name, int port)
{
	static char url[8][64];
	static int next;
	char *u = url[next++ % 8];

	memset(ch, 0, sizeof(*ch));
	snprintf(u, 64, "http://127.0.0.1:%d/hook", port);
	ch->name = (char *)name;
	ch->type = CFG_CHANNEL_WEBHOOK;
	ch->concurrency = 1;
	ch->connect_timeout = 5;
	ch->timeout = 10;
	ch->webhook.url = u;
	ch->webhook.method = CFG_HTTP_POST;
	ch->webhook.content_type = "application/json";
	ch->webhook.max_response = 65536;
}

static void
send_http(struct netsend *ns, const struct cfg_channel *ch, const char *key,
	  const char *body, int slot)
{
	char err[256] = "";

	assert_int_equal(netsend_http(ns, ch, key, body, strlen(body), NOW,
				      &results[slot], err, sizeof(err)), 0);
}

/* The receiver's log as one string (lines are JSON objects). */
static char *
receiver_log(const char *name)
{
	char path[512];
	char *s = slurp(tmp_path(name, path, sizeof(path)), NULL);

	assert_non_null(s);
	return s;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* ------------------------------------------------------------------ */
/* Signature                                                           */

static void
test_sign_vector(void **state)
{
	/* The test vector published with the Standard Webhooks spec. */
	const char *body = "{\"test\": 2432232314}";
	char out[128], err[256];

	(void)state;
	assert_int_equal(netsend_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
				      "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
				      body, strlen(body), out, sizeof(out), err,
				      sizeof(err)), 0);
	assert_string_equal(out, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");

	/* Bad base64 after whsec_ is refused, and the message does not echo
	 * the secret. */
	assert_int_equal(netsend_sign("whsec_!!secret!!", "id", 1, "x", 1, out,
				      sizeof(out), err, sizeof(err)), -1);
	assert_null(strstr(err, "!!secret!!"));
	/* Too small an output buffer. */
	assert_int_equal(netsend_sign("raw", "id", 1, "x", 1, out, 10, err,
				      sizeof(err)), -1);
}

static void
test_sign_raw_secret_matches_python(void **state)
{
	char out[128], err[256], want[128] = "", cmd[512];
	FILE *fp;

	(void)state;
	/* A secret without whsec_ is used as raw bytes; Python's hmac is the
	 * reference. */
	assert_int_equal(netsend_sign("plain-secret", "evt-1", 1700000000,
				      "h\xc3\xa9llo", 6, out, sizeof(out), err,
				      sizeof(err)), 0);
	snprintf(cmd, sizeof(cmd), "%s -c 'import hmac,hashlib,base64;"
		 "print(\"v1,\"+base64.b64encode(hmac.new(b\"plain-secret\","
		 "b\"evt-1.1700000000.h\\xc3\\xa9llo\",hashlib.sha256)"
		 ".digest()).decode())'", python());
	fp = popen(cmd, "r");
	assert_non_null(fp);
	assert_non_null(fgets(want, sizeof(want), fp));
	assert_int_equal(pclose(fp), 0);
	want[strcspn(want, "\n")] = '\0';
	assert_string_equal(out, want);
}

/* ------------------------------------------------------------------ */
/* Webhooks                                                            */

static int
start_receiver(const char *log, const char *extra1, const char *extra2,
	       const char *extra3, const char *extra4)
{
	char script[512], logp[512];
	char *args[] = { (char *)tool("http_receiver.py", script, sizeof(script)),
			 "--log", (char *)tmp_path(log, logp, sizeof(logp)),
			 (char *)extra1, (char *)extra2, (char *)extra3,
			 (char *)extra4, NULL };

	return peer_start(args);
}

static void
test_webhook_delivered_signed(void **state)
{
	struct cfg_header hdr[] = { { "X-Custom", "yes" } };
	struct cfg_channel bearer, basic;
	char tok[512], pw[512], sec[512];
	struct netsend *ns;
	char *log;
	int port;

	(void)state;
	put_file("token", "tok-123\n", tok, sizeof(tok));
	put_file("password", "p", pw, sizeof(pw));
	put_file("signing", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", sec,
		 sizeof(sec));
	port = start_receiver("hook.log", "--secret-file", sec, NULL, NULL);

	webhook_channel(&bearer, "sms", port);
	bearer.webhook.headers = hdr;
	bearer.webhook.nheaders = 1;
	bearer.webhook.auth = CFG_AUTH_BEARER;
	bearer.webhook.auth_secret_file = tok;
	bearer.webhook.signing = CFG_SIGNING_STANDARD_WEBHOOKS;
	bearer.webhook.signing_secret_file = sec;
	webhook_channel(&basic, "gateway", port);
	basic.webhook.method = CFG_HTTP_PUT;
	basic.webhook.content_type = "application/x-www-form-urlencoded";
	basic.webhook.auth = CFG_AUTH_BASIC;
	basic.webhook.auth_username = "u";
	basic.webhook.auth_secret_file = pw;

	ns = new_engine(0);
	send_http(ns, &bearer, "p1-s0-r0", "{\"text\":\"caf\xc3\xa9 \\\"x\\\"\"}", 0);
	assert_int_equal(netsend_pending(ns), 1);
	assert_int_equal(netsend_run(ns, 10000), 0);
	send_http(ns, &basic, "p2-s1-r0", "To=%2B32470&Body=hi", 1);
	assert_int_equal(netsend_run(ns, 10000), 0);
	assert_int_equal(netsend_pending(ns), 0);
	netsend_free(ns);

	assert_true(results[0].set);
	assert_int_equal(results[0].result, NETSEND_OK);
	assert_int_equal(results[0].status, 200);
	assert_string_equal(results[0].detail, "HTTP 200");
	assert_string_equal(results[0].response, "{\"id\":\"rcv-1\"}");
	assert_string_equal(results[0].provider, "rcv-1");
	assert_int_equal(results[1].result, NETSEND_OK);
	assert_string_equal(results[1].provider, "rcv-2");

	log = receiver_log("hook.log");
	assert_int_equal(count_lines(log), 2);
	/* First request: POST, bearer, both idempotency headers, signed. */
	assert_non_null(strstr(log, "\"n\": 1, \"method\": \"POST\", \"path\": \"/hook\""));
	assert_non_null(strstr(log, "[\"Authorization\", \"Bearer tok-123\"]"));
	assert_non_null(strstr(log, "[\"webhook-id\", \"p1-s0-r0\"]"));
	assert_non_null(strstr(log, "[\"Idempotency-Key\", \"p1-s0-r0\"]"));
	assert_non_null(strstr(log, "[\"webhook-timestamp\", \"1790000000\"]"));
	assert_non_null(strstr(log, "[\"Content-Type\", \"application/json\"]"));
	assert_non_null(strstr(log, "[\"X-Custom\", \"yes\"]"));
	assert_non_null(strstr(log, "\"body\": \"{\\\"text\\\":\\\"caf\\u00e9 \\\\\\\"x\\\\\\\"\\\"}\""));
	/* The receiver verified the signature with Python's hmac. */
	assert_non_null(strstr(log, "\"sig_ok\": true"));
	assert_non_null(strstr(log, "\"sig_ok\": null"));
	assert_null(strstr(log, "\"sig_ok\": false"));
	/* Second request: PUT, basic auth of u:p, no signing headers. */
	assert_non_null(strstr(log, "\"n\": 2, \"method\": \"PUT\""));
	assert_non_null(strstr(log, "[\"Authorization\", \"Basic dTpw\"]"));
	assert_non_null(strstr(log, "[\"Idempotency-Key\", \"p2-s1-r0\"]"));
	assert_non_null(strstr(log, "[\"Content-Type\", \"application/x-www-form-urlencoded\"]"));
	assert_non_null(strstr(log, "\"body\": \"To=%2B32470&Body=hi\""));
	assert_null(strstr(strstr(log, "\"n\": 2"), "webhook-signature"));
	free(log);
}

static void
test_webhook_statuses(void **state)
{
	char script[512], date[64];
	struct cfg_channel ch;
	struct netsend *ns;
	struct tm tm;
	time_t later = time(NULL) + 600;
	FILE *fp;
	int port, i;

	(void)state;
	gmtime_r(&later, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	fp = fopen(tmp_path("script", script, sizeof(script)), "w");
	assert_non_null(fp);
	fprintf(fp, "503\n429:Retry-After=7\n400\n"
		"302:Location=http://127.0.0.1:1/\n408\n503:Retry-After=%s\n"
		"201\n", date);
	assert_int_equal(fclose(fp), 0);
	port = start_receiver("status.log", "--script-file", script, NULL, NULL);
	webhook_channel(&ch, "status", port);    /* concurrency 1: in order */
	ns = new_engine(0);
	for (i = 0; i < 7; i++)
		send_http(ns, &ch, "k", "{}", i);
	assert_int_equal(netsend_pending(ns), 7);
	assert_int_equal(netsend_run(ns, 20000), 0);
	netsend_free(ns);

	assert_int_equal(results[0].result, NETSEND_RETRY);
	assert_int_equal(results[0].status, 503);
	assert_int_equal(results[0].retry_after, -1);
	assert_string_equal(results[0].detail, "HTTP 503");
	assert_int_equal(results[1].result, NETSEND_RETRY);
	assert_int_equal(results[1].status, 429);
	assert_int_equal(results[1].retry_after, 7);
	assert_int_equal(results[2].result, NETSEND_PERMANENT);
	assert_int_equal(results[2].status, 400);
	assert_int_equal(results[3].result, NETSEND_PERMANENT);
	assert_int_equal(results[3].status, 302);
	assert_non_null(strstr(results[3].detail, "redirects are not followed"));
	assert_int_equal(results[4].result, NETSEND_RETRY);
	assert_int_equal(results[4].status, 408);
	/* An HTTP-date ten minutes ahead: about 600 s from now. */
	assert_int_equal(results[5].result, NETSEND_RETRY);
	assert_in_range(results[5].retry_after, 590, 600);
	assert_int_equal(results[6].result, NETSEND_OK);
	assert_int_equal(results[6].status, 201);
	/* No follow-up request to the redirect target, one request each. */
	{
		char *log = receiver_log("status.log");

		assert_int_equal(count_lines(log), 7);
		free(log);
	}
}

static void
test_webhook_network_failures(void **state)
{
	struct cfg_channel stall, down, reset;
	struct netsend *ns;
	int64_t t0;
	int port;

	(void)state;
	port = start_receiver("stall.log", "--script", "stall:5,reset", NULL,
			      NULL);
	webhook_channel(&stall, "stall", port);
	stall.timeout = 1;
	webhook_channel(&reset, "reset", port);
	webhook_channel(&down, "down", free_port());

	ns = new_engine(0);
	send_http(ns, &stall, "k1", "{}", 0);
	t0 = now_ms();
	assert_int_equal(netsend_run(ns, 10000), 0);
	/* Given up after the channel's 1 s, not the receiver's 5 s. */
	assert_in_range(now_ms() - t0, 900, 3000);
	send_http(ns, &reset, "k2", "{}", 1);
	send_http(ns, &down, "k3", "{}", 2);
	assert_int_equal(netsend_run(ns, 10000), 0);
	netsend_free(ns);

	assert_int_equal(results[0].result, NETSEND_RETRY);
	assert_int_equal(results[0].status, 0);
	assert_string_equal(results[0].detail, "timeout after 1s");
	assert_int_equal(results[1].result, NETSEND_RETRY);
	assert_int_equal(results[1].status, 0);
	assert_int_equal(results[2].result, NETSEND_RETRY);
	assert_string_equal(results[2].detail, "cannot connect");
}

static void
test_webhook_body_capped(void **state)
{
	struct cfg_channel ch;
	struct netsend *ns;
	int port;

	(void)state;
	port = start_receiver("cap.log", "--body", "0123456789",
			      "--body-repeat", "10000");
	webhook_channel(&ch, "cap", port);
	ch.webhook.max_response = 25;
	ns = new_engine(0);
	send_http(ns, &ch, "k", "{}", 0);
	send_http(ns, &ch, "k", "{}", 1);   /* same connection afterwards */
	assert_int_equal(netsend_run(ns, 10000), 0);
	netsend_free(ns);
	/* 100000 bytes came back; 25 are kept, and the transfer is OK. */
	assert_int_equal(results[0].result, NETSEND_OK);
	assert_string_equal(results[0].response, "0123456789012345678901234");
	assert_string_equal(results[0].provider, "");
	assert_int_equal(results[1].result, NETSEND_OK);
	assert_int_equal(strlen(results[1].response), 25);
	/* Dropping the rest did not cost the connection: both requests came
	 * from one client port. */
	{
		char *log = receiver_log("cap.log"), *p, *q;

		p = strstr(log, "\"client_port\": ");
		assert_non_null(p);
		q = strstr(p + 1, "\"client_port\": ");
		assert_non_null(q);
		assert_int_equal(strtol(p + 15, NULL, 10),
				 strtol(q + 15, NULL, 10));
		free(log);
	}
}

static void
test_webhook_missing_secret(void **state)
{
	struct cfg_channel ch;
	char bad[512], path[512];
	struct netsend *ns;

	(void)state;
	webhook_channel(&ch, "nosecret", free_port());
	ch.webhook.auth = CFG_AUTH_BEARER;
	ch.webhook.auth_secret_file = (char *)tmp_path("missing", path,
						       sizeof(path));
	ns = new_engine(1);
	send_http(ns, &ch, "k", "{}", 0);
	/* Answered later from the loop, never inside the submit call. */
	assert_false(results[0].set);
	assert_int_equal(netsend_pending(ns), 1);
	assert_int_equal(hl.deadline >= 0, 1);

	webhook_channel(&ch, "badsig", free_port());
	ch.webhook.signing = CFG_SIGNING_STANDARD_WEBHOOKS;
	ch.webhook.signing_secret_file = (char *)put_file("bad", "whsec_!!hidden!!",
							  bad, sizeof(bad));
	send_http(ns, &ch, "k", "{}", 1);
	hl_run(ns, 5000);
	assert_int_equal(netsend_pending(ns), 0);
	netsend_free(ns);

	assert_int_equal(results[0].result, NETSEND_PERMANENT);
	assert_non_null(strstr(results[0].detail, "token_file"));
	assert_int_equal(results[1].result, NETSEND_PERMANENT);
	assert_non_null(strstr(results[1].detail, "secret_file"));
	assert_null(strstr(results[1].detail, "hidden"));
}

static void
test_webhook_concurrency_in_host_loop(void **state)
{
	struct cfg_channel ch, other;
	struct netsend *ns;
	char *log, *p;
	int port, i, max = 0, two = 0;

	(void)state;
	port = start_receiver("conc.log", "--delay", "0.3", NULL, NULL);
	webhook_channel(&ch, "conc", port);
	ch.concurrency = 2;
	ns = new_engine(1);
	for (i = 0; i < 10; i++)
		send_http(ns, &ch, "k", "{}", i);
	assert_int_equal(netsend_pending(ns), 10);
	hl_run(ns, 20000);
	assert_int_equal(netsend_pending(ns), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(results[i].result, NETSEND_OK);
	/* The transfers ran on the webhook thread: the host loop only
	 * watched its answers' eventfd, and no call into netsend held it
	 * while the receiver took 0.3 s per request. */
	assert_true(hl.n > 0);
	assert_true(hl.max_call_ms < 200);

	log = receiver_log("conc.log");
	assert_int_equal(count_lines(log), 10);
	for (p = log; (p = strstr(p, "\"concurrent\": ")) != NULL; p++) {
		int c = (int)strtol(p + strlen("\"concurrent\": "), NULL, 10);

		max = c > max ? c : max;
		two += c == 2;
	}
	free(log);
	/* Never more than 2 at once, and 2 did run together. */
	assert_int_equal(max, 2);
	assert_true(two >= 1);

	/* A second channel to the same receiver has its own slots. */
	for (i = 0; i < MAX_JOBS; i++) {
		free(results[i].response);
		memset(&results[i], 0, sizeof(results[i]));
	}
	webhook_channel(&other, "other", port);
	send_http(ns, &ch, "k", "{}", 0);
	send_http(ns, &other, "k", "{}", 1);
	hl_run(ns, 10000);
	assert_int_equal(results[0].result, NETSEND_OK);
	assert_int_equal(results[1].result, NETSEND_OK);
	netsend_free(ns);
}

/* ------------------------------------------------------------------ */
/* SMTP                                                                */

static const char message[] =
	"From: Promised <promised@example.test>\r\n"
	"To: alice@example.test\r\n"
	"Subject: =?UTF-8?Q?caf=C3=A9?=\r\n"
	"Content-Type: text/plain; charset=UTF-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"Caf\xc3\xa9 at 10:00.\r\n"
	".a line that starts with a dot\r\n"
	"..two dots\r\n"
	"\r\n"
	"end\r\n";

/* A certificate for 127.0.0.1, made with openssl in tmpdir. */
static void
make_cert(char *cert, char *key, size_t len)
{
	char cmd[1024];

	tmp_path("cert.pem", cert, len);
	tmp_path("key.pem", key, len);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:prime256v1 -nodes -keyout %s -out %s "
		 "-days 2 -subj /CN=127.0.0.1 "
		 "-addext subjectAltName=IP:127.0.0.1 2>/dev/null", key, cert);
	assert_int_equal(system(cmd), 0);
}

static int
start_smtp(const char *maildir, const char *script, int tls, char *cert,
	   char *key)
{
	char tool_p[512], md[512], logp[512];
	char *args[20];
	int n = 0;

	args[n++] = (char *)tool("smtp_server.py", tool_p, sizeof(tool_p));
	args[n++] = "--maildir";
	args[n++] = (char *)tmp_path(maildir, md, sizeof(md));
	args[n++] = "--log";
	args[n++] = (char *)tmp_path("smtp.log", logp, sizeof(logp));
	if (tls) {
		args[n++] = "--cert";
		args[n++] = cert;
		args[n++] = "--key";
		args[n++] = key;
		args[n++] = "--user";
		args[n++] = "alice";
		args[n++] = "--password";
		args[n++] = "s3cret pass";
	}
	if (script != NULL) {
		args[n++] = "--script";
		args[n++] = (char *)script;
	}
	args[n] = NULL;
	return peer_start(args);
}

static void
smtp_channel(struct cfg_channel *ch, const char *name, int port, char *ca,
	     char *pwfile)
{
	static char url[8][64];
	static int next;
	char *u = url[next++ % 8];

	memset(ch, 0, sizeof(*ch));
	snprintf(u, 64, "smtp://127.0.0.1:%d", port);
	ch->name = (char *)name;
	ch->type = CFG_CHANNEL_SMTP;
	ch->concurrency = 1;
	ch->connect_timeout = 5;
	ch->timeout = 20;
	ch->ca_file = ca;
	ch->smtp.url = u;
	ch->smtp.host = "127.0.0.1";
	ch->smtp.port = port;
	ch->smtp.tls = CFG_SMTP_STARTTLS_REQUIRED;
	ch->smtp.username = pwfile != NULL ? "alice" : NULL;
	ch->smtp.password_file = pwfile;
	ch->smtp.from = "Promised <promised@example.test>";
	ch->smtp.from_addr = "promised@example.test";
}

static void
send_smtp(struct netsend *ns, const struct cfg_channel *ch, int slot)
{
	char err[256] = "";

	assert_int_equal(netsend_smtp(ns, ch, "alice@example.test", message,
				      strlen(message), &results[slot], err,
				      sizeof(err)), 0);
}

/* The one message stored in maildir/new, as an owned string. */
static char *
stored_message(const char *maildir, size_t *len)
{
	char dir[512], path[1024];
	struct dirent *de;
	char *data = NULL;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/%s/new", tmpdir, maildir);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n++;
		free(data);
		data = slurp(path, len);
	}
	closedir(d);
	assert_int_equal(n, 1);
	return data;
}

static void
test_smtp_starttls_auth_delivers(void **state)
{
	char cert[512], key[512], pw[512], badpw[512];
	struct cfg_channel ch, wrong, untrusted;
	struct netsend *ns;
	char *got, *log;
	size_t len = 0;
	int port;

	(void)state;
	make_cert(cert, key, sizeof(cert));
	put_file("smtp-pw", "s3cret pass\n", pw, sizeof(pw));
	put_file("smtp-badpw", "nope", badpw, sizeof(badpw));
	port = start_smtp("md1", NULL, 1, cert, key);
	smtp_channel(&ch, "mail", port, cert, pw);
	smtp_channel(&wrong, "mail-wrong", port, cert, badpw);
	smtp_channel(&untrusted, "mail-untrusted", port, NULL, pw);

	ns = new_engine(1);
	send_smtp(ns, &ch, 0);
	hl_run(ns, 20000);
	assert_int_equal(netsend_pending(ns), 0);
	send_smtp(ns, &wrong, 1);
	send_smtp(ns, &untrusted, 2);
	assert_int_equal(netsend_run(ns, 20000), 0);
	netsend_free(ns);

	assert_int_equal(results[0].result, NETSEND_OK);
	assert_int_equal(results[0].status, 250);
	assert_non_null(strstr(results[0].response, "250 2.0.0 OK queued"));
	got = stored_message("md1", &len);
	assert_int_equal(len, strlen(message));
	assert_memory_equal(got, message, len);
	free(got);
	log = receiver_log("smtp.log");
	assert_int_equal(count_lines(log), 1);
	assert_non_null(strstr(log, "\"mail_from\": \"promised@example.test\""));
	assert_non_null(strstr(log, "\"rcpt_tos\": [\"alice@example.test\"]"));
	assert_non_null(strstr(log, "\"tls\": true, \"auth\": \"alice\""));
	free(log);

	/* Wrong password: 535, permanent, and the password is not quoted. */
	assert_int_equal(results[1].result, NETSEND_PERMANENT);
	assert_int_equal(results[1].status, 535);
	assert_null(strstr(results[1].detail, "nope"));
	assert_null(strstr(results[1].response, "nope"));
	/* A certificate the system does not trust. */
	assert_int_equal(results[2].result, NETSEND_RETRY);
	assert_non_null(strstr(results[2].detail, "TLS verification failed"));
}

static void
test_smtp_scripted_replies(void **state)
{
	char cert[512], key[512], pw[512];
	struct cfg_channel ch;
	struct netsend *ns;
	int port, i;

	(void)state;
	make_cert(cert, key, sizeof(cert));
	put_file("smtp-pw", "s3cret pass", pw, sizeof(pw));
	port = start_smtp("md2", "451,554,drop", 1, cert, key);
	smtp_channel(&ch, "mail", port, cert, pw);
	ns = new_engine(0);
	for (i = 0; i < 4; i++)
		send_smtp(ns, &ch, i);
	assert_int_equal(netsend_run(ns, 30000), 0);
	netsend_free(ns);

	assert_int_equal(results[0].result, NETSEND_RETRY);
	assert_int_equal(results[0].status, 451);
	assert_non_null(strstr(results[0].detail, "SMTP 451"));
	assert_int_equal(results[1].result, NETSEND_PERMANENT);
	assert_int_equal(results[1].status, 554);
	assert_non_null(strstr(results[1].response, "554 5.7.1"));
	assert_int_equal(results[2].result, NETSEND_RETRY);   /* dropped */
	assert_int_equal(results[3].result, NETSEND_OK);
	free(stored_message("md2", NULL));
}

static void
test_smtp_requires_starttls(void **state)
{
	struct cfg_channel ch, plain;
	struct netsend *ns;
	char *got;
	int port;

	(void)state;
	port = start_smtp("md3", NULL, 0, NULL, NULL);
	smtp_channel(&ch, "mail", port, NULL, NULL);
	smtp_channel(&plain, "mail-plain", port, NULL, NULL);
	plain.smtp.tls = CFG_SMTP_STARTTLS_OPTIONAL;
	ns = new_engine(0);
	send_smtp(ns, &ch, 0);
	send_smtp(ns, &plain, 1);
	assert_int_equal(netsend_run(ns, 20000), 0);
	netsend_free(ns);

	assert_int_equal(results[0].result, NETSEND_PERMANENT);
	assert_string_equal(results[0].detail, "server does not offer STARTTLS");
	/* With STARTTLS optional the same server is good enough. */
	assert_int_equal(results[1].result, NETSEND_OK);
	got = stored_message("md3", NULL);
	assert_string_equal(got, message);
	free(got);
}

static void
test_smtp_refuses_bad_addresses(void **state)
{
	struct cfg_channel ch;
	struct netsend *ns;
	char err[256] = "";

	(void)state;
	smtp_channel(&ch, "mail", free_port(), NULL, NULL);
	ns = new_engine(0);
	assert_int_equal(netsend_smtp(ns, &ch, "a@b\r\nRCPT TO:<x@y>", "x", 1,
				      &results[0], err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid address"));
	assert_int_equal(netsend_http(ns, &ch, "k", "x", 1, NOW, &results[0],
				      err, sizeof(err)), -1);
	assert_int_equal(netsend_pending(ns), 0);
	/* Nothing listening: a retry. */
	send_smtp(ns, &ch, 1);
	assert_int_equal(netsend_run(ns, 10000), 0);
	assert_int_equal(results[1].result, NETSEND_RETRY);
	netsend_free(ns);
}

/* How many DATA commands the SMTP server has left unanswered so far. */
static int
smtp_stalls(void)
{
	char path[512];
	char *log = slurp(tmp_path("smtp.log", path, sizeof(path)), NULL);
	const char *p = log;
	int n = 0;

	while (p != NULL && (p = strstr(p, "\"answer\": \"stall\"")) != NULL) {
		n++;
		p++;
	}
	free(log);
	return n;
}

/* Waits (without driving netsend: the mail thread does) until the server
 * holds one more DATA than `before`. */
static void
wait_stall(int before)
{
	int64_t end = now_ms() + 10000;

	while (smtp_stalls() <= before && now_ms() < end)
		poll(NULL, 0, 50);
	assert_int_equal(smtp_stalls(), before + 1);
}

/* libcurl waits for the reply to the end of DATA with a blocking call
 * (curl/curl#8555).  That wait must happen on the mail thread: while the
 * server stalls, a webhook is answered at once, no call into netsend holds
 * the host loop, and the email still ends as a timeout retry. */
static void
test_smtp_stall_leaves_host_loop_free(void **state)
{
	struct cfg_channel mail, hook;
	struct netsend *ns;
	int64_t t0, hook_ms;
	int before;

	(void)state;
	webhook_channel(&hook, "hook", start_receiver("stall-hook.log", NULL,
						      NULL, NULL, NULL));
	smtp_channel(&mail, "mail", start_smtp("md4", "stall", 0, NULL, NULL),
		     NULL, NULL);
	mail.smtp.tls = CFG_SMTP_STARTTLS_NEVER;
	mail.timeout = 3;
	ns = new_engine(1);
	before = smtp_stalls();
	t0 = now_ms();
	send_smtp(ns, &mail, 0);
	wait_stall(before);

	send_http(ns, &hook, "k", "{}", 1);
	hl_run_until(ns, 2000, &results[1].set);
	hook_ms = now_ms() - t0;
	assert_true(results[1].set);
	assert_int_equal(results[1].result, NETSEND_OK);
	/* The email is still waiting for its reply. */
	assert_false(results[0].set);
	assert_int_equal(netsend_pending(ns), 1);

	hl_run(ns, 10000);
	assert_int_equal(netsend_pending(ns), 0);
	assert_int_equal(results[0].result, NETSEND_RETRY);
	assert_non_null(strstr(results[0].detail, "timeout after 3s"));
	/* It did wait for the timeout: the webhook came well before. */
	assert_true(now_ms() - t0 >= 2500);
	assert_true(hook_ms < now_ms() - t0 - 1000);
	/* The host loop was never held: the old blocking wait would show
	 * here as a call of about 3 s. */
	assert_true(hl.max_call_ms < 500);
	/* The stalled connection is not used again: the next email goes
	 * through at once. */
	t0 = now_ms();
	send_smtp(ns, &mail, 2);
	hl_run(ns, 10000);
	assert_int_equal(results[2].result, NETSEND_OK);
	assert_true(now_ms() - t0 < 2000);
	free(stored_message("md4", NULL));
	t0 = now_ms();
	netsend_free(ns);
	/* Nor does closing what is cached wait for the stalled server. */
	assert_true(now_ms() - t0 < 1500);
}

/* Emails and webhooks run on threads of their own: a webhook receiver
 * that takes 3 s holds up neither the host loop nor an email. */
static void
test_slow_webhook_leaves_mail_free(void **state)
{
	struct cfg_channel mail, hook;
	struct netsend *ns;
	int64_t t0;

	(void)state;
	webhook_channel(&hook, "slow", start_receiver("slow-hook.log",
						      "--delay", "3", NULL,
						      NULL));
	smtp_channel(&mail, "mail", start_smtp("md6", NULL, 0, NULL, NULL),
		     NULL, NULL);
	mail.smtp.tls = CFG_SMTP_STARTTLS_NEVER;
	ns = new_engine(1);
	t0 = now_ms();
	send_http(ns, &hook, "k", "{}", 0);
	send_smtp(ns, &mail, 1);
	hl_run_until(ns, 2500, &results[1].set);
	assert_true(results[1].set);
	assert_int_equal(results[1].result, NETSEND_OK);
	assert_false(results[0].set);
	assert_true(now_ms() - t0 < 2500);
	hl_run(ns, 10000);
	assert_int_equal(results[0].result, NETSEND_OK);
	assert_true(now_ms() - t0 >= 2900);
	assert_true(hl.max_call_ms < 500);
	free(stored_message("md6", NULL));
	netsend_free(ns);
}

/* Stopping while the server stalls after DATA: netsend_free returns
 * within about a second (not after the 30 s timeout), without a
 * callback; and a missing password is answered like any early failure. */
static void
test_smtp_free_while_stalled(void **state)
{
	struct cfg_channel mail, nopw;
	struct netsend *ns;
	char path[512];
	int64_t t0;
	int before;

	(void)state;
	smtp_channel(&mail, "mail", start_smtp("md5", "stall", 0, NULL, NULL),
		     NULL, NULL);
	mail.smtp.tls = CFG_SMTP_STARTTLS_NEVER;
	mail.timeout = 30;
	smtp_channel(&nopw, "nopw", free_port(), NULL,
		     (char *)tmp_path("no-such-pw", path, sizeof(path)));
	ns = new_engine(1);
	send_smtp(ns, &nopw, 1);
	/* Answered later from the loop, never inside the submit call. */
	assert_false(results[1].set);
	assert_true(hl.deadline >= 0);
	hl_run(ns, 2000);
	assert_int_equal(results[1].result, NETSEND_PERMANENT);
	assert_non_null(strstr(results[1].detail, "password_file"));

	before = smtp_stalls();
	send_smtp(ns, &mail, 0);
	wait_stall(before);
	/* Without a host loop too: netsend_run gives up at its limit. */
	assert_int_equal(netsend_run(ns, 300), -1);
	assert_int_equal(netsend_pending(ns), 1);
	t0 = now_ms();
	netsend_free(ns);
	assert_true(now_ms() - t0 < 3000);
	assert_false(results[0].set);
}

/* ------------------------------------------------------------------ */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_vector),
		cmocka_unit_test(test_sign_raw_secret_matches_python),
		cmocka_unit_test_teardown(test_webhook_delivered_signed, teardown_peers),
		cmocka_unit_test_teardown(test_webhook_statuses, teardown_peers),
		cmocka_unit_test_teardown(test_webhook_network_failures, teardown_peers),
		cmocka_unit_test_teardown(test_webhook_body_capped, teardown_peers),
		cmocka_unit_test_teardown(test_webhook_missing_secret, teardown_peers),
		cmocka_unit_test_teardown(test_webhook_concurrency_in_host_loop, teardown_peers),
		cmocka_unit_test_teardown(test_smtp_starttls_auth_delivers, teardown_peers),
		cmocka_unit_test_teardown(test_smtp_scripted_replies, teardown_peers),
		cmocka_unit_test_teardown(test_smtp_requires_starttls, teardown_peers),
		cmocka_unit_test_teardown(test_smtp_refuses_bad_addresses, teardown_peers),
		cmocka_unit_test_teardown(test_smtp_stall_leaves_host_loop_free, teardown_peers),
		cmocka_unit_test_teardown(test_slow_webhook_leaves_mail_free, teardown_peers),
		cmocka_unit_test_teardown(test_smtp_free_while_stalled, teardown_peers),
	};
	int rc;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
