/* SPDX-License-Identifier: ISC */
/*
 * address.c - parse the reverse-path and forward-path of MAIL FROM and
 * RCPT TO strictly by the RFC 5321 grammar (4.1.2), with the length limits of
 * 4.5.3.1, and RFC 6531 with SMTPUTF8.  Whatever passes here is safe to hand
 * to hooks: no control characters, no CR, LF or NUL, no bytes above 126 but
 * those of well-formed UTF-8, and those only with SMTPUTF8.
 */
#include "autoconf.h"
#include "address.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* RFC 6531: with SMTPUTF8, UTF8-non-ascii is atext, qtext and part of a
 * U-label.  The caller has checked that the bytes are well-formed UTF-8. */
static int
is_atext(unsigned char c, int utf8)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL) ||
	    (utf8 && c >= 0x80);
}

int
dotted_name_valid(const char *s, size_t len, size_t max, int flags)
{
	size_t i, label = 0;
	int numeric = 1;        /* the label so far is all digits */

	if (len == 0 || len > max)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			numeric = 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || (c == '_' && (flags & NAME_UNDERSCORE)) ||
		    (c >= 0x80 && (flags & NAME_UTF8))))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (c < '0' || c > '9')
			numeric = 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[len - 1] != '-' && !(numeric && (flags & NAME_NOT_NUMERIC));
}

/* sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str] */
static int
valid_dotted_domain(const char *s, size_t len, int utf8)
{
	return dotted_name_valid(s, len, SMTP_DOMAIN_MAX, utf8 ? NAME_UTF8 : 0);
}

/* "[" ... "]" with dcontent = %d33-90 / %d94-126 inside. */
static int
valid_address_literal(const char *s, size_t len)
{
	size_t i;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']' || len > SMTP_DOMAIN_MAX)
		return 0;
	for (i = 1; i < len - 1; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']')
			return 0;
	}
	return 1;
}

int
smtp_valid_domain(const char *s, size_t len)
{
	if (len > 0 && s[0] == '[')
		return valid_address_literal(s, len);
	return valid_dotted_domain(s, len, 0);
}

static int
valid_domain_utf8(const char *s, size_t len, int utf8)
{
	if (len > 0 && s[0] == '[')
		return valid_address_literal(s, len);
	return valid_dotted_domain(s, len, utf8);
}

/* Dot-string = Atom *("." Atom) */
static int
valid_dot_string(const char *s, size_t len, int utf8)
{
	size_t i;

	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (s[i + 1] == '.')
				return 0;
		} else if (!is_atext(c, utf8)) {
			return 0;
		}
	}
	return 1;
}

/* Quoted-string: returns its length (including quotes) or 0. */
static size_t
quoted_string_len(const char *s, size_t len, int utf8)
{
	size_t i;

	if (len < 2 || s[0] != '"')
		return 0;
	for (i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			return i + 1;
		if (c == '\\') {
			if (i + 1 >= len || (unsigned char)s[i + 1] < 32 || (unsigned char)s[i + 1] > 126)
				return 0;
			i++;
		} else if (c < 32 || (c > 126 && !(utf8 && c >= 0x80))) {
			return 0;
		}
	}
	return 0;
}

static int
has_non_ascii(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] > 127)
			return 1;
	return 0;
}

/* The code point of the UTF-8 sequence at S (LEN > 0 bytes left), its
 * length in *N; U+FFFD for a malformed one (the caller checked, but this
 * parser trusts no one). */
static unsigned long
utf8_decode(const unsigned char *s, size_t len, size_t *n)
{
	size_t want, i;
	unsigned long cp;

	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	want = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	cp = s[0] & (0x3f >> (want - 1));
	for (i = 1; i < want; i++) {
		if (i >= len || (s[i] & 0xc0) != 0x80) {
			*n = i;
			return 0xfffd;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	*n = want;
	return cp;
}

/* Code points that must never reach a hook's environment, a header or a
 * log line from an address (SMTPUTF8): C1 controls (NEL among them), the
 * line and paragraph separators, the invisible direction marks and bidi
 * embeddings/isolates that make text read other than it is, the BOM and
 * the interlinear annotation characters. */
static int
forbidden_code_point(unsigned long cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	    (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
	    (cp >= 0xfff9 && cp <= 0xfffb) || cp == 0xfffd;
}

static int
has_forbidden_code_point(const char *s, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		if (forbidden_code_point(utf8_decode((const unsigned char *)s + i, len - i, &n)))
			return 1;
		i += n;
	}
	return 0;
}

/* Mailbox = Local-part "@" ( Domain / address-literal ) */
static enum path_error
check_mailbox(const char *s, size_t len, int allow_postmaster, int utf8, const char **why)
{
	size_t local_len;
	const char *at;

	if (!utf8 && has_non_ascii(s, len)) {
		*why = "non-ASCII address without SMTPUTF8";
		return PATH_NON_ASCII;
	}
	if (utf8 && has_forbidden_code_point(s, len)) {
		*why = "control or line-separator character in the address";
		return PATH_BAD_ADDRESS;
	}
	if (s[0] == '"') {
		local_len = quoted_string_len(s, len, utf8);
		if (local_len == 0) {
			*why = "bad quoted local part";
			return PATH_BAD_ADDRESS;
		}
		if (local_len >= len || s[local_len] != '@') {
			*why = "missing @domain";
			return PATH_BAD_ADDRESS;
		}
		at = s + local_len;
	} else {
		at = memchr(s, '@', len);
		if (at == NULL) {
			if (allow_postmaster && len == 10 && strncasecmp(s, "postmaster", 10) == 0)
				return PATH_OK;
			*why = "missing @domain";
			return PATH_BAD_ADDRESS;
		}
		local_len = (size_t)(at - s);
		if (!valid_dot_string(s, local_len, utf8)) {
			*why = "bad local part";
			return PATH_BAD_ADDRESS;
		}
	}
	if (local_len > SMTP_LOCAL_PART_MAX) {
		*why = "local part longer than 64 octets";
		return PATH_TOO_LONG;
	}
	if (len - local_len - 1 > SMTP_DOMAIN_MAX) {
		*why = "domain longer than 255 octets";
		return PATH_TOO_LONG;
	}
	if (!valid_domain_utf8(at + 1, len - local_len - 1, utf8)) {
		*why = "bad domain";
		return PATH_BAD_ADDRESS;
	}
	return PATH_OK;
}

/* A-d-l = At-domain *( "," At-domain ) ":" -- returns its length or 0. */
static size_t
source_route_len(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || s[0] != '@')
		return 0;
	while (i < len && s[i] == '@') {
		size_t start = ++i;
		while (i < len && s[i] != ',' && s[i] != ':')
			i++;
		if (i >= len || !smtp_valid_domain(s + start, i - start))
			return 0;
		if (s[i] == ':')
			return i + 1;
		i++;    /* ',' */
	}
	return 0;
}

enum path_error
smtp_parse_path(const char *arg, const char *prefix, int allow_null,
    int allow_postmaster, int utf8, char *mailbox, size_t mailboxlen,
    const char **params, const char **why)
{
	size_t plen = strlen(prefix), len, route;
	const char *open, *close, *inner;
	enum path_error e;

	*why = "syntax error";
	if (strncasecmp(arg, prefix, plen) != 0) {
		*why = prefix[0] == 'F' ? "expected FROM:<address>" : "expected TO:<address>";
		return PATH_SYNTAX;
	}
	open = arg + plen;
	while (*open == ' ')
		open++;
	if (*open != '<') {
		*why = "the address must be in angle brackets";
		return PATH_SYNTAX;
	}
	/* The closing bracket: skip quoted strings so "a>b"@c works. */
	for (close = open + 1; *close != '\0' && *close != '>'; close++) {
		if (*close == '"') {
			for (close++; *close != '\0' && *close != '"'; close++)
				if (*close == '\\' && close[1] != '\0')
					close++;
			if (*close == '\0')
				break;
		}
	}
	if (*close != '>') {
		*why = "missing '>'";
		return PATH_SYNTAX;
	}
	len = (size_t)(close - open) + 1;
	if (len > SMTP_PATH_MAX) {
		*why = "path longer than 256 octets";
		return PATH_TOO_LONG;
	}
	inner = open + 1;
	len -= 2;
	if (close[1] != '\0' && close[1] != ' ') {
		*why = "garbage after '>'";
		return PATH_SYNTAX;
	}
	*params = close + 1;
	while (**params == ' ')
		(*params)++;
	if (len == 0) {
		if (!allow_null) {
			*why = "the null path <> is not allowed here";
			return PATH_BAD_ADDRESS;
		}
		mailbox[0] = '\0';
		return PATH_OK;
	}
	route = source_route_len(inner, len);
	if (inner[0] == '@' && route == 0) {
		*why = "bad source route";
		return PATH_BAD_ADDRESS;
	}
	inner += route;
	len -= route;
	if (len == 0) {
		*why = "empty mailbox";
		return PATH_BAD_ADDRESS;
	}
	if ((e = check_mailbox(inner, len, allow_postmaster, utf8, why)) != PATH_OK)
		return e;
	if (len >= mailboxlen) {
		*why = "path too long";
		return PATH_TOO_LONG;
	}
	memcpy(mailbox, inner, len);
	mailbox[len] = '\0';
	return PATH_OK;
}

int
smtp_next_param(const char **cursor, char *keyword, size_t kwlen,
    char *value, size_t valuelen)
{
	const char *p = *cursor;
	size_t k = 0, v = 0;

	while (*p == ' ')
		p++;
	if (*p == '\0') {
		*cursor = p;
		return 0;
	}
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	if (!isalnum((unsigned char)*p))
		return -1;
	while (isalnum((unsigned char)*p) || *p == '-') {
		if (k + 1 >= kwlen)
			return -1;
		keyword[k++] = (char)toupper((unsigned char)*p++);
	}
	keyword[k] = '\0';
	value[0] = '\0';
	if (*p == '=') {
		p++;
		/* esmtp-value = 1*(%d33-60 / %d62-126) */
		while (*p != '\0' && *p != ' ') {
			unsigned char c = (unsigned char)*p;
			if (c < 33 || c > 126 || c == '=' || v + 1 >= valuelen)
				return -1;
			value[v++] = *p++;
		}
		if (v == 0)
			return -1;
		value[v] = '\0';
	}
	if (*p != '\0' && *p != ' ')
		return -1;
	*cursor = p;
	return 1;
}
