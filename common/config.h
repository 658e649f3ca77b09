/* SPDX-License-Identifier: ISC */
/*
 * config.h - Postern's configuration: the [server], [limits], [tls],
 * [hooks] and [metrics] sections and one struct endpoint per other section.  Loaded and
 * checked by config.c (iniparser); shared read-only by master and workers.
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

/* TLS 1.2 and 1.3; ECDHE over X25519, P-256, P-384 or DHE over ffdhe2048
 * only (an 8192-bit group costs a worker ~250 ms of CPU per replayed
 * ClientHello); no static-RSA key exchange; no SHA-1 MACs (the CBC-SHA1
 * suites): AEAD suites only; the server's order. */
#define TLS_PRIORITY_DEFAULT "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" \
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-FFDHE2048:" \
	"-RSA:-SHA1:%SERVER_PRECEDENCE"

#include <stddef.h>
#include <sys/types.h>
#include "netaddr.h"
#include "resolver.h"

#define CONFIG_MAX_ENDPOINTS 16
#define CONFIG_MAX_LISTEN    8       /* listen addresses per endpoint */
#define CONFIG_MAX_WORDS     32      /* words in a hook command line */

enum tls_mode { TLS_NONE, TLS_STARTTLS, TLS_IMPLICIT };
enum auth_mode { AUTH_NONE, AUTH_OPTIONAL, AUTH_REQUIRED };
enum protocol { PROTO_SMTP, PROTO_LMTP };      /* endpoint key protocol (RFC 2033) */

#define CONFIG_MAX_EXEMPT 16

/* A bare LF in a message: a line end either way (never the end of data);
 * REJECT answers 521 and disconnects, as Postfix 3.9. */
enum bare_newline { BARE_NEWLINE_NORMALIZE = 0, BARE_NEWLINE_REJECT = 1 };

/* Limits: global in [limits], overridable per endpoint. */
struct limits {
	long long max_message_size;     /* bytes; 0 = no limit */
	int max_recipients;
	int max_errors;
	int max_auth_attempts;
	int max_connections_per_client; /* busy sessions per IPv4 / IPv6 /64; 0: no limit */
	int command_timeout;            /* seconds */
	int data_timeout;               /* seconds */
	int max_junk_commands;          /* NOOP, RSET, VRFY, EXPN, HELP; 0: no limit */
	/* per client (IPv4 address, IPv6 /64), across sessions; 0: off */
	int max_connection_rate;        /* per 60 s */
	int max_message_rate;           /* per 60 s */
	int max_recipient_rate;         /* per 60 s */
	int max_auth_failure_rate;      /* per hour */
	struct cidr limit_exempt[CONFIG_MAX_EXEMPT];    /* no per-client limit */
	int nlimit_exempt;
	int bare_newline;               /* enum bare_newline, for DATA and BDAT */
	int max_transactions;           /* MAIL commands accepted per session; 0 = no limit */
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
	/* persistent steps: " name name " of the attributes asked for
	 * (attributes =), "" for all */
	char attributes[512];
	struct milter_conf milter;      /* milter steps */
};

#define CONFIG_MAX_TRUSTED 16

struct endpoint {
	char name[64];
	char *listen[CONFIG_MAX_LISTEN];
	int nlisten;
	enum tls_mode tls;
	enum auth_mode auth;
	enum protocol protocol;         /* smtp (default) or lmtp */
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
	char tls_certificate_directory[1024];   /* certbot layout, for SNI */
	char tls_ticket_key_file[1024];
	char tls_client_certificates[16];       /* "no" or "request" (checked in tls_creds.c) */
	char tls_client_ca[1024];
	/* [hooks] */
	struct hook_command hooks[HOOK_COUNT];
	char hook_directory[1024];
	int data_crlf;
	enum auth_protocol auth_protocol;
	/* [hooks] keys, [hook.NAME] and [milter.NAME] sections, in that order */
	struct step steps[CONFIG_MAX_STEPS];
	int nsteps;
	/* [metrics] */
	char metrics_listen[128];               /* "": no metrics process */
	/* endpoints */
	struct endpoint endpoints[CONFIG_MAX_ENDPOINTS];
	int nendpoints;
};

const char *hook_name(enum hook_kind);
#define hook_is_set(cfg, kind) ((cfg)->hooks[(kind)].line != NULL)

/* Does the endpoint's pipeline hold a step for stage KIND? */
int endpoint_has_stage(const struct config *, const struct endpoint *, enum hook_kind);

/* Split a command line into words (whitespace separated; '...' and "..."
 * group, backslash escapes the next character).  No expansion of any kind.
 * Returns the number of words or -1 (unbalanced quote, too many words). */
int split_words(char *line, char **words, int max);

#endif
