/*
 * config.h - Postern's configuration: the [server], [limits], [tls] and
 * [hooks] sections and one struct endpoint per other section.  Loaded and
 * checked by config.c (iniparser); shared read-only by master and workers.
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stddef.h>
#include <sys/types.h>
#include "netaddr.h"
#include "resolver.h"

#define CONFIG_MAX_ENDPOINTS 16
#define CONFIG_MAX_LISTEN    8       /* listen addresses per endpoint */
#define CONFIG_MAX_WORDS     32      /* words in a hook command line */

enum tls_mode { TLS_NONE, TLS_STARTTLS, TLS_IMPLICIT };
enum auth_mode { AUTH_NONE, AUTH_OPTIONAL, AUTH_REQUIRED };

/* Limits: global in [limits], overridable per endpoint. */
struct limits {
	long long max_message_size;     /* bytes; 0 = no limit */
	int max_recipients;
	int max_errors;
	int max_auth_attempts;
	int max_connections_per_client; /* busy sessions per IPv4 / IPv6 /64; 0: no limit */
	int command_timeout;            /* seconds */
	int data_timeout;               /* seconds */
};

enum hook_kind {
	HOOK_CONNECT, HOOK_HELO, HOOK_AUTH, HOOK_MAIL, HOOK_RCPT, HOOK_DATA,
	HOOK_COUNT
};

struct hook_command {
	char *argv[CONFIG_MAX_WORDS + 1];       /* NULL-terminated; argv[0] NULL: unset */
	char *line;                             /* the line as configured */
	int timeout;                            /* seconds */
	int persistent;                         /* a co-process speaking the policy protocol */
	int server;                             /* inet:HOST:PORT or unix:PATH (persistent) */
	struct sockaddr_storage addr;           /* server: its address, parsed once */
	socklen_t addrlen;
};

enum auth_protocol { AUTH_PROTOCOL_POSTERN, AUTH_PROTOCOL_CHECKPASSWORD };

/*
 * A step of a pipeline (DESIGN.md Part 2, "Named steps and pipelines"): a
 * [hooks] key (the step is named after its stage), a [hook.NAME] section,
 * or a [milter.NAME] section.  Loaded by steps.c.
 */
#define CONFIG_MAX_STEPS 32
#define STEP_STAGE(kind) (1u << (kind))

enum step_kind {
	STEP_EXEC,              /* a program run once per question */
	STEP_POLICY,            /* persistent: Postfix policy protocol */
	STEP_MILTER,            /* a milter (worker/milter.h) */
};

enum milter_action { MILTER_TEMPFAIL, MILTER_ACCEPT, MILTER_REJECT };

struct milter_conf {
	char *socket;                   /* inet:HOST:PORT or unix:PATH */
	enum milter_action default_action;
	int connect_timeout, command_timeout, content_timeout;  /* seconds */
};

struct step {
	char name[64];
	enum step_kind kind;
	unsigned stages;                /* STEP_STAGE(HOOK_*) bits */
	struct hook_command cmd;        /* exec and policy steps */
	int legacy;                     /* a [hooks] key: cmd is a copy of hooks[k], not owned */
	int on_error_accept;            /* a failure of this step counts as accept */
	struct milter_conf milter;      /* milter steps */
};

#define CONFIG_MAX_TRUSTED 16

struct endpoint {
	char name[64];
	char *listen[CONFIG_MAX_LISTEN];
	int nlisten;
	enum tls_mode tls;
	enum auth_mode auth;
	int insecure_auth;
	int proxy_protocol;             /* a PROXY header comes first from trusted peers */
	struct cidr proxy_trusted[CONFIG_MAX_TRUSTED];
	int nproxy_trusted;
	struct limits limits;
	unsigned char pipeline[CONFIG_MAX_STEPS];       /* indexes into config.steps */
	int npipeline;
};

struct config {
	char *path;
	/* [server] */
	char hostname[256];
	char banner[256];               /* greeting text after the host name */
	char user[64];
	char group[64];
	char pidfile[1024];
	char spool_directory[1024];
	char authserv_id[256];          /* RFC 8601; default: hostname */
	int workers, min_spare, max_spare, max_workers, max_sessions;
	int shutdown_grace;             /* seconds */
	int reverse_lookup;             /* FCrDNS of each client (worker/dns.c) */
	int dns_timeout;                /* seconds for all of it */
	char resolver[64];              /* "": /etc/resolv.conf */
	struct resolver_addr resolver_addr;
	/* [limits] */
	struct limits limits;
	/* [tls] */
	char tls_certificate[1024];
	char tls_key[1024];
	char tls_priority[512];
	/* [hooks] */
	struct hook_command hooks[HOOK_COUNT];
	char hook_directory[1024];
	int data_crlf;
	enum auth_protocol auth_protocol;
	/* [hooks] keys, [hook.NAME] and [milter.NAME] sections, in that order */
	struct step steps[CONFIG_MAX_STEPS];
	int nsteps;
	/* endpoints */
	struct endpoint endpoints[CONFIG_MAX_ENDPOINTS];
	int nendpoints;
};

/* Load and check FILE.  On error returns NULL and writes a message that names
 * the file, section, key and reason into err. */
struct config *config_load(const char *file, char *err, size_t errlen);
void config_free(struct config *);

const char *hook_name(enum hook_kind);
#define hook_is_set(cfg, kind) ((cfg)->hooks[(kind)].line != NULL)

/* Does the endpoint's pipeline hold a step for stage KIND? */
int endpoint_has_stage(const struct config *, const struct endpoint *, enum hook_kind);

/* Split a command line into words (whitespace separated; '...' and "..."
 * group, backslash escapes the next character).  No expansion of any kind.
 * Returns the number of words or -1 (unbalanced quote, too many words). */
int split_words(char *line, char **words, int max);

#endif
