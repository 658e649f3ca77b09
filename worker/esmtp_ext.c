/* SPDX-License-Identifier: ISC */
/*
 * esmtp_ext.c - REQUIRETLS (RFC 8689), LIMITS (RFC 9422) and MT-PRIORITY
 * (RFC 6710) as a receiver: Postern makes no delivery of its own, so it
 * checks the parameters (esmtp_params.c), announces its limits, keeps
 * what the client asked for and hands it to the steps, which deliver.
 */
#include "autoconf.h"
#include "esmtp_ext.h"
#include "session.h"
#include "hook.h"
#include "../common/log.h"

void
esmtp_ext_advertise(struct session *s)
{
	/* RFC 8689 2: only where the session itself is protected by TLS */
	if (session_has_tls(s))
		smtp_reply_cont(s, 250, NULL, "REQUIRETLS");
	/* RFC 9422 4: MAILMAX only when a session limit exists */
	if (s->lim->max_transactions > 0)
		smtp_reply_cont(s, 250, NULL, "LIMITS RCPTMAX=%d MAILMAX=%d", s->lim->max_recipients,
		    s->lim->max_transactions);
	else
		smtp_reply_cont(s, 250, NULL, "LIMITS RCPTMAX=%d", s->lim->max_recipients);
	smtp_reply_cont(s, 250, NULL, "MT-PRIORITY");
}

int
esmtp_ext_mail_allowed(struct session *s)
{
	if (s->lim->max_transactions <= 0 || s->ntransactions < s->lim->max_transactions)
		return 1;
	log_info("reject: MAIL after %d transactions (max_transactions)", s->ntransactions);
	smtp_reply(s, 452, "4.5.3", "Error: too many transactions in this session (MAILMAX=%d): start a new one",
	    s->lim->max_transactions);
	return 0;
}

void
esmtp_ext_env(const struct session *s, struct hook_env *e)
{
	if (s->requiretls)
		hook_env_add(e, "POSTERN_REQUIRETLS", "1");
	if (s->has_priority)
		hook_env_add_num(e, "POSTERN_MT_PRIORITY", s->priority);
}
