/*
 * curl_alone: what libcurl itself can send to the benchmark receiver,
 * with nothing else to do.  The daemon's webhooks go through libcurl's
 * multi interface; this client sends the same kind of request the same
 * way (a POST of a short JSON body with an idempotency header, keep-alive
 * connections, handles reused, no signals) and no database, no rendering,
 * no bookkeeping.  Its rate is the ceiling of any libcurl sender on this
 * machine, set beside wrk's ceiling of the receiver.
 *
 *   curl_alone PORT COUNT CONNECTIONS    prints "<requests> <seconds>"
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_clock.h"
#include "promised/util.h"

#define BODY "{\"p\":\"12345\",\"k\":\"0123456789abcdef0123456789abcdef\"}"

struct blast {
	CURLM *multi;
	struct curl_slist *headers;
	char url[64];
	long total, started, done, failed;
};

static size_t
discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

/* Puts the handle back into the multi for the next request; 0 or -1. */
static int
blast_start(struct blast *b, CURL *e)
{
	if (b->started == b->total)
		return 0;
	b->started++;
	return curl_multi_add_handle(b->multi, e) == CURLM_OK ? 0 : -1;
}

static CURL *
blast_easy(struct blast *b)
{
	CURL *e = curl_easy_init();
	int ok = e != NULL;

	if (!ok)
		return NULL;
	ok &= curl_easy_setopt(e, CURLOPT_URL, b->url) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, BODY) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, b->headers) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, "promised") == CURLE_OK;
	if (!ok) {
		curl_easy_cleanup(e);
		return NULL;
	}
	return e;
}

/* Collects finished transfers and starts the next on their handles. */
static int
blast_reap(struct blast *b)
{
	CURLMsg *msg;
	long code;
	int left;

	while ((msg = curl_multi_info_read(b->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		code = 0;
		(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE,
					&code);
		if (msg->data.result != CURLE_OK || code != 200)
			b->failed++;
		b->done++;
		(void)curl_multi_remove_handle(b->multi, msg->easy_handle);
		if (blast_start(b, msg->easy_handle) != 0)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct blast b;
	CURL **easy = NULL;
	int64_t port, total, conns = 0, i;
	double t0;
	int running, rc = 1;

	memset(&b, 0, sizeof(b));
	if (argc != 4 || util_parse_int64(argv[1], 1, 65535, &port) != 0 ||
	    util_parse_int64(argv[2], 1, 100000000, &total) != 0 ||
	    util_parse_int64(argv[3], 1, 1024, &conns) != 0) {
		fprintf(stderr, "usage: curl_alone PORT COUNT CONNECTIONS\n");
		return 2;
	}
	b.total = (long)total;
	(void)snprintf(b.url, sizeof(b.url), "http://127.0.0.1:%d/n",
		       (int)port);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (b.multi = curl_multi_init()) == NULL)
		goto out;
	(void)curl_multi_setopt(b.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
				(long)conns);
	b.headers = curl_slist_append(NULL, "Content-Type: application/json");
	b.headers = curl_slist_append(b.headers,
				      "webhook-id: 0123456789abcdef");
	easy = calloc((size_t)conns, sizeof(*easy));
	if (b.headers == NULL || easy == NULL)
		goto out;
	for (i = 0; i < conns; i++)
		if ((easy[i] = blast_easy(&b)) == NULL)
			goto out;
	t0 = bench_mono_seconds();
	for (i = 0; i < conns; i++)
		if (blast_start(&b, easy[i]) != 0)
			goto out;
	while (b.done < b.total) {
		if (curl_multi_perform(b.multi, &running) != CURLM_OK ||
		    blast_reap(&b) != 0)
			goto out;
		if (b.done < b.total &&
		    curl_multi_poll(b.multi, NULL, 0, 1000, NULL) != CURLM_OK)
			goto out;
	}
	printf("%ld %.6f\n", b.total - b.failed, bench_mono_seconds() - t0);
	rc = b.failed > 0 ? 1 : 0;
	if (b.failed > 0)
		fprintf(stderr, "curl_alone: %ld of %ld requests failed\n",
			b.failed, b.total);
out:
	if (rc != 0 && b.failed == 0)
		fprintf(stderr, "curl_alone: libcurl could not be set up\n");
	for (i = 0; easy != NULL && i < conns; i++)
		if (easy[i] != NULL) {
			(void)curl_multi_remove_handle(b.multi, easy[i]);
			curl_easy_cleanup(easy[i]);
		}
	free(easy);
	curl_slist_free_all(b.headers);
	if (b.multi != NULL)
		curl_multi_cleanup(b.multi);
	curl_global_cleanup();
	return rc;
}
