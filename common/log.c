/* SPDX-License-Identifier: ISC */
/*
 * log.c - syslog with a session-id prefix, and an optional stderr mirror for
 * foreground runs (-d).  Messages are formatted with fixed formats only;
 * anything from the network or a hook goes through log_sanitize (or log_esc)
 * first, so that it can never pass for another line or another field.
 */
#include "autoconf.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* How often a process without a syslog daemon looks for one again. */
#define LOG_PROBE_SECONDS 10

static int log_stderr;
static int log_debug_on;
static char session_id[32];
static const char *log_ident = "posternd";
static int syslog_up;
static time_t syslog_next_probe;

/*
 * Is a syslog daemon listening on _PATH_LOG?  glibc's syslog() retries its
 * failed connect on every line when none is (a socket, a connect and a
 * close per line): look once, then again at most every LOG_PROBE_SECONDS,
 * and skip syslog() in between.  Lines logged while no daemon listens were
 * lost before as well.
 */
static int
syslog_listening(void)
{
	struct sockaddr_un addr;
	int fd, ok;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strlcpy(addr.sun_path, _PATH_LOG, sizeof(addr.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return 1;	/* cannot tell: leave it to syslog() */
	ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	close(fd);
	return ok;
}

static int
syslog_usable(void)
{
	time_t now;

	if (syslog_up)
		return 1;
	now = time(NULL);
	if (now < syslog_next_probe)
		return 0;
	syslog_next_probe = now + LOG_PROBE_SECONDS;
	syslog_up = syslog_listening();	/* syslog() then reconnects itself */
	return syslog_up;
}

void
log_open(const char *ident, int to_stderr, int debug)
{
	log_ident = ident;
	log_stderr = to_stderr;
	log_debug_on = debug;
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	syslog_up = syslog_listening();
	syslog_next_probe = time(NULL) + LOG_PROBE_SECONDS;
}

void
log_set_session(const char *id)
{
	strlcpy(session_id, id != NULL ? id : "", sizeof(session_id));
}

int
log_debugging(void)
{
	return log_debug_on;
}

void
log_msg(int priority, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int saved = errno;

	if (priority == LOG_DEBUG && !log_debug_on)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (syslog_usable()) {
		if (session_id[0] != '\0')
			syslog(priority, "%s: %s", session_id, line);
		else
			syslog(priority, "%s", line);
	}
	if (log_stderr) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		fprintf(stderr, "%s %s[%ld]: %s%s%s\n", stamp, log_ident, (long)getpid(),
		    session_id, session_id[0] != '\0' ? ": " : "", line);
	}
	errno = saved;
}

/* Bytes that could let logged text pass for another line's fields: the
 * separators (space), the address brackets of "from [ADDR]", the escape
 * character itself, controls, DEL and everything outside ASCII. */
static int
log_needs_escape(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '\\' || c == '[' || c == ']';
}

void
fatalx(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(LOG_CRIT, "fatal: %s (a bug: please report it)", line);
	abort();
}

void
log_sanitize(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t o = 0, i;

	if (dstlen == 0)
		return;
	for (i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];
		if (!log_needs_escape(c)) {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= dstlen)
				break;
			snprintf(dst + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	dst[o] = '\0';
}

const char *
log_esc(const char *src)
{
	static char ring[LOG_ESC_RING][LOG_ESC_MAX];
	static unsigned next;
	char *dst = ring[next++ % LOG_ESC_RING];

	if (src == NULL)
		src = "";
	log_sanitize(dst, LOG_ESC_MAX, src, strlen(src));
	return dst;
}
