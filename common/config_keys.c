/* SPDX-License-Identifier: ISC */
/*
 * config_keys.c - the keys each reserved section of postern.conf knows
 * ([server], [limits], [tls], [hooks]) and those of an endpoint section:
 * name, type, where the value goes and its range.
 */
#include "autoconf.h"
#include "config.h"
#include "config_loader.h"

#include <stddef.h>

#define S(f)  offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define I(f)  offsetof(struct config, f), 0
#define L(f)  offsetof(struct limits, f), 0

const struct key server_keys[] = {
	{ "hostname", K_STRING, S(hostname), 0, 0 },
	{ "banner", K_STRING, S(banner), 0, 0 },
	{ "user", K_STRING, S(user), 0, 0 },
	{ "group", K_STRING, S(group), 0, 0 },
	{ "pidfile", K_STRING, S(pidfile), 0, 0 },
	{ "spool_directory", K_STRING, S(spool_directory), 0, 0 },
	{ "authserv_id", K_STRING, S(authserv_id), 0, 0 },
	{ "workers", K_INT, I(workers), 1, 4096 },
	{ "min_spare", K_INT, I(min_spare), 0, 4096 },
	{ "max_spare", K_INT, I(max_spare), 1, 4096 },
	{ "max_workers", K_INT, I(max_workers), 1, 4096 },
	{ "max_sessions", K_INT, I(max_sessions), 1, 100000000 },
	{ "shutdown_grace", K_INT, I(shutdown_grace), 0, 86400 },
	{ "reverse_lookup", K_BOOL, I(reverse_lookup), 0, 0 },
	{ "dns_timeout", K_INT, I(dns_timeout), 1, 300 },
	{ "resolver", K_STRING, S(resolver), 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

const struct key limits_keys[] = {
	{ "max_message_size", K_SIZE, L(max_message_size), 0, 1LL << 40 },
	{ "max_recipients", K_INT, L(max_recipients), 1, 1000000 },
	{ "max_transactions", K_INT, L(max_transactions), 0, 1000000 },
	{ "max_errors", K_INT, L(max_errors), 1, 100000 },
	{ "max_auth_attempts", K_INT, L(max_auth_attempts), 1, 1000 },
	{ "max_connections_per_client", K_INT, L(max_connections_per_client), 0, 100000 },
	{ "command_timeout", K_INT, L(command_timeout), 1, 86400 },
	{ "data_timeout", K_INT, L(data_timeout), 1, 86400 },
	{ "max_junk_commands", K_INT, L(max_junk_commands), 0, 1000000 },
	{ "max_connection_rate", K_INT, L(max_connection_rate), 0, 100000000 },
	{ "max_message_rate", K_INT, L(max_message_rate), 0, 100000000 },
	{ "max_recipient_rate", K_INT, L(max_recipient_rate), 0, 100000000 },
	{ "max_auth_failure_rate", K_INT, L(max_auth_failure_rate), 0, 100000000 },
	{ "limit_exempt", K_CUSTOM, 0, 0, 0, 0 },       /* read by load_exempt */
	{ "bare_newline", K_NEWLINE, L(bare_newline), 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

const struct key tls_keys[] = {
	{ "certificate", K_STRING, S(tls_certificate), 0, 0 },
	{ "key", K_STRING, S(tls_key), 0, 0 },
	{ "priority", K_STRING, S(tls_priority), 0, 0 },
	{ "certificate_directory", K_STRING, S(tls_certificate_directory), 0, 0 },
	{ "ticket_key_file", K_STRING, S(tls_ticket_key_file), 0, 0 },
	{ "client_certificates", K_STRING, S(tls_client_certificates), 0, 0 },
	{ "client_ca", K_STRING, S(tls_client_ca), 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

const struct key hooks_keys[] = {
	{ "connect", K_HOOK, HOOK_CONNECT, 0, 0, 0 },
	{ "helo", K_HOOK, HOOK_HELO, 0, 0, 0 },
	{ "auth", K_HOOK, HOOK_AUTH, 0, 0, 0 },
	{ "mail", K_HOOK, HOOK_MAIL, 0, 0, 0 },
	{ "rcpt", K_HOOK, HOOK_RCPT, 0, 0, 0 },
	{ "data", K_HOOK, HOOK_DATA, 0, 0, 0 },
	{ "timeout", K_CUSTOM, 0, 0, 0, 0 },            /* read by load_hooks */
	{ "data_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ "directory", K_STRING, S(hook_directory), 0, 0 },
	{ "data_crlf", K_BOOL, I(data_crlf), 0, 0 },
	{ "persistent", K_CUSTOM, 0, 0, 0, 0 },
	{ "auth_protocol", K_CUSTOM, 0, 0, 0, 0 },
	{ "connect_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ "helo_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ "auth_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ "mail_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ "rcpt_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

#define E(f)  offsetof(struct endpoint, f), 0
const struct key endpoint_keys[] = {
	{ "listen", K_LISTEN, 0, 0, 0, 0 },
	{ "tls", K_TLS, E(tls), 0, 0 },
	{ "auth", K_AUTH, E(auth), 0, 0 },
	{ "protocol", K_PROTO, E(protocol), 0, 0 },
	{ "insecure_auth", K_BOOL, E(insecure_auth), 0, 0 },
	{ "proxy_protocol", K_BOOL, E(proxy_protocol), 0, 0 },
	{ "proxy_trusted", K_CUSTOM, 0, 0, 0, 0 },
	{ "pipeline", K_CUSTOM, 0, 0, 0, 0 },          /* read by load_pipeline */
	{ NULL, 0, 0, 0, 0, 0 }
};
