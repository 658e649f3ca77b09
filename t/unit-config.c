/* SPDX-License-Identifier: ISC */
/*
 * unit-config.c - tests of the config loader (common/config.c): defaults,
 * every kind of error names the section and key, word splitting.
 */
#include "autoconf.h"
#include "t/tap.h"
#include "common/config.h"
#include "common/config_load.h"

#include <stdlib.h>
#include <unistd.h>

static char path[] = "/tmp/postern-unit-config-XXXXXX";

static struct config *
load(const char *text, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	return config_load(path, err, errlen);
}

#define BASE "[hooks]\ndata = /bin/true\n[smtp]\nlisten = 127.0.0.1:2525\n"

static void
bad(const char *text, const char *want, const char *name)
{
	char err[1024];
	struct config *c = load(text, err, sizeof(err));

	if (!ok(c == NULL && strstr(err, want) != NULL, name))
		printf("#   error was: %s\n#   expected to contain: %s\n", c ? "(loaded)" : err, want);
	config_free(c);
}

int
main(void)
{
	char err[1024], line[128];
	char *w[8];
	struct config *c;
	int fd = mkstemp(path);

	close(fd);
	c = load(BASE, err, sizeof(err));
	ok(c != NULL, "minimal config loads");
	if (c != NULL) {
		is_int(c->workers, 4, "default workers");
		is_int(c->limits.max_message_size, 26214400, "default max_message_size");
		is_int(c->limits.max_recipients, 100, "default max_recipients");
		is_int(c->nendpoints, 1, "one endpoint");
		is_str(c->endpoints[0].name, "smtp", "endpoint named by its section");
		is_int(c->endpoints[0].limits.command_timeout, 300, "endpoint inherits limits");
		is_str(c->hooks[HOOK_DATA].argv[0], "/bin/true", "data hook argv[0]");
		is_int(c->hooks[HOOK_DATA].timeout, 300, "data hook timeout default");
		is_int(c->hooks[HOOK_RCPT].timeout, 30, "hook timeout default");
		is_int(c->limits.max_junk_commands, 100, "default max_junk_commands");
		is_int(c->endpoints[0].protocol, PROTO_SMTP, "protocol defaults to smtp");
		is_int(c->limits.max_connection_rate, 0, "rates are off by default");
		is_int(c->limits.bare_newline, BARE_NEWLINE_NORMALIZE, "default bare_newline normalize");
		is_int(c->endpoints[0].limits.nlimit_exempt, 2, "default limit_exempt: two blocks");
		config_free(c);
	}
	c = load(BASE "[metrics]\nlisten = 127.0.0.1:9587\n", err, sizeof(err));
	ok(c != NULL && strcmp(c->metrics_listen, "127.0.0.1:9587") == 0 && c->nendpoints == 1,
	    "[metrics] listen is read, and [metrics] is no endpoint");
	config_free(c);
	bad(BASE "[metrics]\nlisten = 127.0.0.1:9587\ntls = none\n", "must be renamed",
	    "an endpoint named metrics is told to rename");
	bad(BASE "[metrics]\nlisten = 127.0.0.1\n", "[metrics] listen", "[metrics] listen needs a port");
	bad(BASE "[metrics]\nlisten = 127.0.0.1:1\nport = 2\n", "[metrics] port", "unknown [metrics] key");
	c = load("[limits]\nlimit_exempt = 192.0.2.0/24\nbare_newline = reject\nmax_message_rate = 5\n"
	    "[hooks]\ndata = /bin/true\n[smtp]\nlisten = 127.0.0.1:25\nlimit_exempt =\n"
	    "[sub]\nlisten = 127.0.0.1:587\nbare_newline = normalize\n", err, sizeof(err));
	ok(c != NULL, "rates, limit_exempt, bare_newline load");
	if (c != NULL) {
		is_int(c->limits.nlimit_exempt, 1, "[limits] limit_exempt: one block");
		is_int(c->endpoints[0].limits.nlimit_exempt, 0, "an empty limit_exempt exempts nobody");
		is_int(c->endpoints[1].limits.nlimit_exempt, 1, "an endpoint inherits limit_exempt");
		is_int(c->endpoints[1].limits.bare_newline, BARE_NEWLINE_NORMALIZE, "endpoint bare_newline");
		is_int(c->endpoints[0].limits.bare_newline, BARE_NEWLINE_REJECT, "inherited bare_newline");
		is_int(c->endpoints[0].limits.max_message_rate, 5, "inherited max_message_rate");
		config_free(c);
	}
	bad("[limits]\nbare_newline = maybe\n" BASE, "bare_newline: 'maybe' is not one of normalize, reject", "bad bare_newline");
	bad("[limits]\nlimit_exempt = 10.0.0.0/99\n" BASE, "[limits] limit_exempt", "bad limit_exempt block");
	c = load(BASE "protocol = LMTP\n[sub]\nlisten = 127.0.0.1:2526\nprotocol = smtp\n", err, sizeof(err));
	ok(c != NULL, "protocol = LMTP / smtp load");
	if (c != NULL) {
		is_int(c->endpoints[0].protocol, PROTO_LMTP, "protocol = LMTP (any case)");
		is_int(c->endpoints[1].protocol, PROTO_SMTP, "protocol = smtp");
		config_free(c);
	}
	bad(BASE "protocol = esmtp\n", "[smtp] protocol: 'esmtp' is not smtp or lmtp", "bad protocol named");
	c = load("[limits]\nmax_message_size = 10M ; comment\nmax_errors = 3\n" BASE
	    "max_recipients = 5\n[sub]\nlisten = [::1]:2526 127.0.0.1:2527\n", err, sizeof(err));
	ok(c != NULL, "config with overrides loads");
	if (c != NULL) {
		is_int(c->limits.max_message_size, 10485760, "size suffix M");
		is_int(c->endpoints[0].limits.max_recipients, 5, "per-endpoint override");
		is_int(c->endpoints[1].limits.max_recipients, 100, "other endpoint keeps the default");
		is_int(c->endpoints[1].limits.max_errors, 3, "endpoint inherits [limits]");
		is_int(c->endpoints[1].nlisten, 2, "two listen addresses");
		config_free(c);
	}
	bad("[server]\nwokers = 3\n" BASE, "[server] wokers: unknown key", "unknown key named");
	bad("[server]\nworkers = three\n" BASE, "[server] workers: 'three' is not a whole number", "bad number named");
	bad("[server]\nworkers = 0\n" BASE, "[server] workers: 0 is out of range", "out of range");
	bad("[limits]\nmax_recipients = 10x\n" BASE, "max_recipients", "bad limit");
	bad("[hooks]\ndata = /bin/true\n[smtp]\nlisten = 127.0.0.1\n", "[smtp] listen", "listen without port");
	bad("[hooks]\ndata = /bin/true\n[smtp]\nlisten = 127.0.0.1:99999\n", "[smtp] listen", "port out of range");
	bad("[hooks]\ndata = /bin/true\n[smtp]\ntls = sometimes\nlisten = 127.0.0.1:25\n", "[smtp] tls: 'sometimes'", "bad tls mode");
	bad("[hooks]\ndata = /bin/true\n[smtp]\nfoo = 1\nlisten = 127.0.0.1:25\n", "[smtp] foo: unknown key", "unknown endpoint key");
	bad("[hooks]\ndata = /bin/true\n", "no endpoint", "no endpoint");
	bad("[smtp]\nlisten = 127.0.0.1:25\n", "[hooks] data", "no data hook");
	bad("[hooks]\ndata = relative/hook\n[smtp]\nlisten = 127.0.0.1:25\n", "not an absolute path", "relative hook path");
	bad("[hooks]\ndata = /nonexistent/hook\n[smtp]\nlisten = 127.0.0.1:25\n", "cannot execute '/nonexistent/hook'", "missing hook program");
	bad("[hooks]\ndata = /bin/true 'unbalanced\n[smtp]\nlisten = 127.0.0.1:25\n", "unbalanced quote", "unbalanced quote");
	bad("[server]\nmin_spare = 9\nmax_spare = 2\n" BASE, "min_spare", "min_spare > max_spare");
	bad("[smtp\nlisten = 1\n", "syntax error", "INI syntax error");

	strcpy(line, "  /usr/bin/hook  -x 'a b' \"c d\" e\\ f ");
	is_int(split_words(line, w, 7), 5, "split_words count");
	is_str(w[0], "/usr/bin/hook", "word 1");
	is_str(w[2], "a b", "single quotes group");
	is_str(w[3], "c d", "double quotes group");
	is_str(w[4], "e f", "backslash escapes");
	unlink(path);
	return done_testing();
}
