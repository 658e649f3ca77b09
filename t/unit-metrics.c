/* SPDX-License-Identifier: ISC */
/*
 * unit-metrics.c - tests of the metrics counters and their Prometheus text
 * (common/metrics.c) and of the metrics process's request parser
 * (master/metricsd.c).  With --print, prints a rendering with every kind of
 * series instead, for `promtool check metrics` (t/metrics.t).
 */
#include "autoconf.h"
#include "t/tap.h"
#include "common/metrics.h"
#include "master/metricsd.h"

#include <stdlib.h>

static char buf[1 << 20];

static struct metrics *
sample(void)
{
	struct metrics *m = metrics_create();
	int smtp = metrics_register_endpoint(m, "smtp");
	int sub = metrics_register_endpoint(m, "submission");
	int spf = metrics_register_step(m, "spf");
	int store = metrics_register_step(m, "maildir");

	metrics_session(m, smtp);
	metrics_session(m, smtp);
	metrics_session(m, sub);
	metrics_message(m, smtp, MSG_ACCEPTED);
	metrics_message(m, smtp, MSG_REJECTED);
	metrics_reply(m, 250);
	metrics_reply(m, 250);
	metrics_reply(m, 550);
	metrics_reply(m, 99);           /* not a reply code: ignored */
	metrics_step(m, spf, MSTAGE_RCPT, STEP_ACCEPT, 0.0004);
	metrics_step(m, spf, MSTAGE_RCPT, STEP_REJECT, 0.2);
	metrics_step(m, store, MSTAGE_DATA, STEP_ACCEPT, 30);   /* past the last bound */
	metrics_add(m, &m->tls[TLS_RESUMED], 1);
	metrics_add(m, &m->auth[AUTH_FAILED], 1);
	metrics_add(m, &m->received_bytes, 1234);
	return m;
}

static int
has(const char *text, const char *line)
{
	if (strstr(text, line) != NULL)
		return 1;
	printf("#   missing: %s", line);
	return 0;
}

static void
test_render(void)
{
	struct metrics *m = sample();
	struct metrics_pool pool = { .busy = 3, .idle = 1, .stress = 0 };
	size_t len = metrics_render(m, &pool, buf, sizeof(buf));

	ok(len > 0 && len == strlen(buf), "renders");
	ok(has(buf, "postern_sessions_total{endpoint=\"smtp\"} 2\n"), "sessions by endpoint");
	ok(has(buf, "postern_sessions_total{endpoint=\"submission\"} 1\n"), "second endpoint");
	ok(has(buf, "postern_messages_total{endpoint=\"smtp\",outcome=\"accepted\"} 1\n"), "accepted");
	ok(has(buf, "postern_messages_total{endpoint=\"smtp\",outcome=\"rejected\"} 1\n"), "rejected");
	ok(has(buf, "postern_replies_total{class=\"2xx\"} 2\n"), "2xx replies");
	ok(has(buf, "postern_replies_total{class=\"5xx\"} 1\n"), "5xx replies");
	ok(has(buf, "postern_step_calls_total{step=\"spf\",stage=\"rcpt\",outcome=\"reject\"} 1\n"),
	    "step outcome");
	ok(strstr(buf, "step=\"spf\",stage=\"data\"") == NULL, "stages a step never ran at are left out");
	ok(has(buf, "postern_step_duration_seconds_bucket{step=\"spf\",stage=\"rcpt\",le=\"0.001\"} 1\n"),
	    "fast call in the first bucket");
	ok(has(buf, "postern_step_duration_seconds_bucket{step=\"spf\",stage=\"rcpt\",le=\"0.25\"} 2\n"),
	    "buckets are cumulative");
	ok(has(buf, "postern_step_duration_seconds_bucket{step=\"maildir\",stage=\"data\",le=\"10\"} 0\n"),
	    "slow call in no finite bucket");
	ok(has(buf, "postern_step_duration_seconds_bucket{step=\"maildir\",stage=\"data\",le=\"+Inf\"} 1\n"),
	    "but in +Inf");
	ok(has(buf, "postern_step_duration_seconds_count{step=\"spf\",stage=\"rcpt\"} 2\n"), "count");
	ok(has(buf, "postern_tls_handshakes_total{result=\"resumed\"} 1\n"), "TLS resumed");
	ok(has(buf, "postern_auth_total{result=\"failure\"} 1\n"), "AUTH failure");
	ok(has(buf, "postern_received_bytes_total 1234\n"), "bytes");
	ok(has(buf, "postern_workers{state=\"busy\"} 3\n"), "busy workers");
	ok(has(buf, "postern_stress 0\n"), "stress");
	is_int(metrics_render(m, &pool, buf, 100), 0, "too small a buffer: 0, not a cut text");
}

static void
test_names(void)
{
	struct metrics *m = metrics_create();
	char name[16];

	is_int(metrics_register_endpoint(m, "a"), 0, "first name, first index");
	is_int(metrics_register_endpoint(m, "b"), 1, "second name");
	is_int(metrics_register_endpoint(m, "a"), 0, "registered again: same index (reload)");
	is_int(metrics_find_endpoint(m, "b"), 1, "found");
	is_int(metrics_find_endpoint(m, "c"), -1, "workers never add");
	is_int(metrics_find_endpoint(NULL, "a"), -1, "no metrics: -1");
	is_int(metrics_register_step(m, ""), -1, "empty name refused");
	for (int i = 0; i < METRICS_STEPS; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		metrics_register_step(m, name);
	}
	is_int(metrics_register_step(m, "one-too-many"), -1, "a full table refuses");
	metrics_session(NULL, 0);
	metrics_step(m, -1, MSTAGE_DATA, STEP_ACCEPT, 1);
	metrics_step(m, METRICS_STEPS, MSTAGE_DATA, STEP_ACCEPT, 1);
	ok(1, "NULL metrics and out-of-range indexes are ignored");
	m->endpoints[0].name[0] = '\0';
	strcpy(m->endpoints[0].name, "we\"ird\\");
	metrics_render(m, &(struct metrics_pool){ 0 }, buf, sizeof(buf));
	ok(has(buf, "endpoint=\"we\\\"ird\\\\\"}"), "label values escaped");
	/* a worker overwrote names: no NUL in 64 bytes, quotes, control bytes */
	memset(m->endpoints[0].name, '"', METRICS_NAME_MAX);
	memset(m->endpoints[1].name, 'b', METRICS_NAME_MAX);
	m->endpoints[1].name[3] = '\n';
	ok(metrics_render(m, &(struct metrics_pool){ 0 }, buf, sizeof(buf)) > 0,
	    "unterminated names render");
	ok(has(buf, "bbb?bbb") && strstr(buf, "bbb\n") == NULL, "control bytes shown as ?");
	is_int(metrics_find_endpoint(m, "bbb"), -1, "an unterminated name matches nothing");
	is_int(metrics_register_endpoint(m, "a"), 2, "registering passes over unterminated names");
	ok(metrics_find_endpoint(m, "a") == 2, "and finds it again");
}

static void
request(const char *text, enum http_parse want, const char *wantpath, const char *name)
{
	char path[64] = "";
	enum http_parse r = http_parse_request(text, strlen(text), path, sizeof(path));

	if (!ok(r == want && (wantpath == NULL || strcmp(path, wantpath) == 0), name))
		printf("#   got %d '%s'\n", r, path);
}

static void
test_http(void)
{
	char big[5000];

	request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_GET, "/metrics", "GET");
	request("GET /metrics?x=1 HTTP/1.0\n\n", HTTP_GET, "/metrics", "query dropped, LF only");
	request("HEAD / HTTP/1.1\r\n\r\n", HTTP_HEAD, "/", "HEAD");
	request("GET /metrics HTTP/1.1\r\nHost: x\r\n", HTTP_INCOMPLETE, NULL, "no blank line yet");
	request("GET /metrics", HTTP_INCOMPLETE, NULL, "no line end yet");
	request("POST /metrics HTTP/1.1\r\n\r\n", HTTP_BAD_METHOD, NULL, "POST");
	request("GET /metrics HTTP/2\r\n\r\n", HTTP_BAD, NULL, "not HTTP/1.x");
	request("GET metrics HTTP/1.1\r\n\r\n", HTTP_BAD, NULL, "target without /");
	request("GET  HTTP/1.1\r\n\r\n", HTTP_BAD, NULL, "empty target");
	request("\r\n\r\n", HTTP_BAD, NULL, "empty request line");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	request(big, HTTP_BAD, NULL, "4 KiB without a line end");
	memcpy(big, "GET /", 5);
	memcpy(big + 4000, " HTTP/1.1\r\n\r\n", 14);
	request(big, HTTP_BAD, NULL, "target longer than the buffer");
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--print") == 0) {
		struct metrics_pool pool = { .busy = 1, .idle = 2 };
		if (metrics_render(sample(), &pool, buf, sizeof(buf)) == 0)
			return 1;
		fputs(buf, stdout);
		return 0;
	}
	test_render();
	test_names();
	test_http();
	return done_testing();
}
