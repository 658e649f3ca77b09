/*
 * main.c - posternd: parse the command line, load and check the config,
 * bind the endpoints while root, write the pidfile, and hand over to the
 * pool.  The master never speaks SMTP and never runs a hook.
 */
#include "autoconf.h"
#include "listen.h"
#include "pool.h"
#include "../common/config.h"
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
#include <unistd.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/postern/postern.conf"

extern char **environ;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: posternd [-fdtV] [-c config]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground (for systemd and containers)\n"
	    "  -d       debug: verbose log, also to stderr\n"
	    "  -t       check the configuration and exit (0: valid, 1: not)\n"
	    "  -V       print the version and exit\n", DEFAULT_CONFIG);
}

/* Make sure descriptors 0-2 are open, so that no socket or pipe gets them. */
static void
sanitize_stdio(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

int
main(int argc, char **argv)
{
	const char *file = DEFAULT_CONFIG;
	int foreground = 0, debug = 0, check = 0, ch, n, rc;
	struct listener listeners[MAX_LISTENERS];
	struct credentials cr;
	struct tls_server tls;
	struct config *cfg;
	struct pidfh *pfh = NULL;
	char err[2048], abs[PATH_MAX];
	pid_t other;

	setproctitle_init(argc, argv, environ);
	sanitize_stdio();
	while ((ch = getopt(argc, argv, "c:fdtVh")) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'f': foreground = 1; break;
		case 'd': debug = 1; break;
		case 't': check = 1; break;
		case 'V': printf("posternd %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	/* The daemon runs in /: keep an absolute path for reloads. */
	if (realpath(file, abs) != NULL)
		file = abs;
	if ((cfg = config_load(file, err, sizeof(err))) == NULL) {
		fprintf(stderr, "posternd: %s\n", err);
		return 1;
	}
	if (credentials_lookup(cfg, &cr, err, sizeof(err)) < 0) {
		fprintf(stderr, "posternd: %s: %s\n", file, err);
		config_free(cfg);
		return 1;
	}
	/* Certificates and keys are read now, as root: workers never open them. */
	if (tls_server_load(cfg, NULL, &tls, err, sizeof(err)) < 0) {
		fprintf(stderr, "posternd: %s: %s\n", file, err);
		config_free(cfg);
		return 1;
	}
	if (check) {
		tls_server_free(&tls);
		printf("posternd: %s: configuration OK\n", file);
		config_free(cfg);
		return 0;
	}
	log_open("posternd", debug, debug);
	if (!cr.drop)
		log_info("not started as root: workers run as uid %d, [server] user and group are not used",
		    (int)getuid());
	if ((n = listen_all(cfg, listeners, MAX_LISTENERS, err, sizeof(err))) < 0) {
		log_err("%s", err);
		if (!debug)
			fprintf(stderr, "posternd: %s\n", err);
		return 1;
	}
	if (cfg->pidfile[0] != '\0') {
		pfh = pidfile_open(cfg->pidfile, 0644, &other);
		if (pfh == NULL) {
			if (errno == EEXIST)
				snprintf(err, sizeof(err), "already running as pid %d (pidfile %s)",
				    (int)other, cfg->pidfile);
			else
				snprintf(err, sizeof(err), "cannot open pidfile %s: %s (set [server] pidfile)",
				    cfg->pidfile, strerror(errno));
			log_err("%s", err);
			if (!debug)
				fprintf(stderr, "posternd: %s\n", err);
			return 1;
		}
	}
	if (!foreground && daemon(0, 0) < 0) {
		log_err("daemon: %s", strerror(errno));
		return 1;
	}
	if (pfh != NULL)
		pidfile_write(pfh);
	rc = pool_run(cfg, &cr, &tls, n, listeners);
	if (pfh != NULL)
		pidfile_remove(pfh);
	return rc;
}
