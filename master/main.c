/* SPDX-License-Identifier: ISC */
/*
 * main.c - posternd: parse the command line, load and check the config,
 * take the pidfile (a second server with the same config stops here), bind
 * the endpoints while root, and hand over to the pool.  The master never
 * speaks SMTP and never runs a hook.
 */
#include "autoconf.h"
#include "listen.h"
#include "metrics_proc.h"
#include "status.h"
#include "pool.h"
#include "credentials.h"
#include "../common/config.h"
#include "../common/config_load.h"
#include "../common/listener.h"
#include "../common/log.h"
#include "../common/tls_creds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libutil.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/postern/postern.conf"

extern char **environ;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: posternd [-fdtSV] [-c config]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground (for systemd and containers)\n"
	    "  -d       debug: verbose log, also to stderr\n"
	    "  -t       check the configuration and exit (0: valid, 1: not)\n"
	    "  -S       print the running daemon's workers and exit\n"
	    "  -V       print the version and exit\n", DEFAULT_CONFIG);
}

/* Make sure descriptors 0-2 are open, so that no socket or pipe gets them,
 * and that nothing else inherited is (workers and hooks must not get it). */
static void
sanitize_stdio(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	closefrom(3);
}

/* Take the pidfile before anything is bound: a second posternd with the
 * same configuration is told who runs, not "Address already in use".
 * Returns 0 (*pfh NULL when no pidfile is configured) or -1 with err set. */
static int
take_pidfile(const struct config *cfg, struct pidfh **pfh, char *err, size_t errlen)
{
	pid_t other = 0;

	*pfh = NULL;
	if (cfg->pidfile[0] == '\0')
		return 0;
	if ((*pfh = pidfile_open(cfg->pidfile, 0644, &other)) == NULL) {
		if (errno == EEXIST)
			snprintf(err, errlen, "already running as pid %d (pidfile %s)",
			    (int)other, cfg->pidfile);
		else
			snprintf(err, errlen, "cannot open pidfile %s: %s (set [server] pidfile)",
			    cfg->pidfile, strerror(errno));
		return -1;
	}
	/* Root's file: no exec'd program gets it (workers close it too). */
	fcntl(pidfile_fileno(*pfh), F_SETFD, FD_CLOEXEC);
	return 0;
}

struct options {
	const char *file;
	int foreground, debug, check, status;
};

/* The command line into *O.  Returns -1 to go on, or the exit status (-V,
 * -h, a usage error). */
static int
parse_options(int argc, char **argv, struct options *o)
{
	int ch;

	memset(o, 0, sizeof(*o));
	o->file = DEFAULT_CONFIG;
	while ((ch = getopt(argc, argv, "c:fdtSVh")) != -1) {
		switch (ch) {
		case 'c': o->file = optarg; break;
		case 'f': o->foreground = 1; break;
		case 'd': o->debug = 1; break;
		case 't': o->check = 1; break;
		case 'S': o->status = 1; break;
		case 'V': printf("posternd %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	return -1;
}

/* Load the configuration, look up its user, read its certificates and keys
 * (now, as root: workers never open them).  Returns -1 to go on with all
 * three, or the exit status (-S, -t, an error: printed, all freed). */
static int
load_all(const struct options *o, struct config **cfg, struct credentials *cr,
    struct tls_server *tls)
{
	char err[2048];
	int rc;

	if ((*cfg = config_load(o->file, err, sizeof(err))) == NULL) {
		fprintf(stderr, "posternd: %s\n", err);
		return 1;
	}
	if (o->status) {
		rc = status_print(*cfg, stdout);
		config_free(*cfg);
		return rc;
	}
	if (credentials_lookup(*cfg, cr, err, sizeof(err)) < 0 ||
	    tls_server_load(*cfg, NULL, tls, err, sizeof(err)) < 0) {
		fprintf(stderr, "posternd: %s: %s\n", o->file, err);
		config_free(*cfg);
		return 1;
	}
	if (o->check) {
		tls_server_free(tls);
		printf("posternd: %s: configuration OK\n", o->file);
		config_free(*cfg);
		return 0;
	}
	return -1;
}

/* Take the pidfile, bind the endpoints and the [metrics] socket, go into
 * the background and run the pool.  Returns the exit status. */
static int
run(const struct options *o, struct config *cfg, struct credentials *cr,
    struct tls_server *tls)
{
	struct listener listeners[MAX_LISTENERS];
	struct pidfh *pfh = NULL;
	struct metrics_proc mp;
	char err[2048];
	int n, rc;

	log_open("posternd", o->debug, o->debug);
	if (!cr->drop)
		log_info("not started as root: workers run as uid %d, [server] user and group are not used",
		    (int)getuid());
	if (take_pidfile(cfg, &pfh, err, sizeof(err)) < 0 ||
	    (n = listen_all(cfg, NULL, 0, listeners, MAX_LISTENERS, err, sizeof(err))) < 0 ||
	    metrics_proc_open(&mp, cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		if (!o->debug)
			fprintf(stderr, "posternd: %s\n", err);
		if (pfh != NULL)
			pidfile_remove(pfh);
		return 1;
	}
	if (!o->foreground && daemon(0, 0) < 0) {
		log_err("daemon: %s", strerror(errno));
		return 1;
	}
	if (pfh != NULL)
		pidfile_write(pfh);
	rc = pool_run(cfg, cr, tls, n, listeners, pfh != NULL ? pidfile_fileno(pfh) : -1, &mp);
	if (pfh != NULL)
		pidfile_remove(pfh);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct credentials cr;
	struct tls_server tls;
	struct config *cfg;
	char abs[PATH_MAX];
	int rc;

	setproctitle_init(argc, argv, environ);
	sanitize_stdio();
	if ((rc = parse_options(argc, argv, &o)) >= 0)
		return rc;
	/* The daemon runs in /: keep an absolute path for reloads. */
	if (realpath(o.file, abs) != NULL)
		o.file = abs;
	if ((rc = load_all(&o, &cfg, &cr, &tls)) >= 0)
		return rc;
	return run(&o, cfg, &cr, &tls);
}
