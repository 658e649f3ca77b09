/* SPDX-License-Identifier: ISC */
/*
 * milter_proto.h - the Sendmail milter protocol (version 6, as libmilter
 * 8.14+ and Postfix speak it) as a pure packet codec: encoders for every
 * MTA -> milter command into a growable buffer, and decoders for every
 * milter -> MTA reply, each a function from bytes to a result struct and an
 * error code.  No I/O here: milter.c moves the bytes.
 *
 * A packet is a 4-byte length in network order (counting the command byte
 * and the data), the command byte, and the data.  Strings in the data are
 * NUL-terminated; numbers are 32-bit (16-bit for a port) in network order.
 */
#ifndef POSTERN_MILTER_PROTO_H
#define POSTERN_MILTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* Commands, MTA -> milter. */
#define SMFIC_ABORT     'A'
#define SMFIC_BODY      'B'
#define SMFIC_CONNECT   'C'
#define SMFIC_MACRO     'D'
#define SMFIC_BODYEOB   'E'
#define SMFIC_HELO      'H'
#define SMFIC_QUIT_NC   'K'
#define SMFIC_HEADER    'L'
#define SMFIC_MAIL      'M'
#define SMFIC_EOH       'N'
#define SMFIC_OPTNEG    'O'
#define SMFIC_QUIT      'Q'
#define SMFIC_RCPT      'R'
#define SMFIC_DATA      'T'
#define SMFIC_UNKNOWN   'U'

/* Replies, milter -> MTA. */
#define SMFIR_ADDRCPT     '+'
#define SMFIR_DELRCPT     '-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN    '4'
#define SMFIR_ACCEPT      'a'
#define SMFIR_REPLBODY    'b'
#define SMFIR_CONTINUE    'c'
#define SMFIR_DISCARD     'd'
#define SMFIR_CHGFROM     'e'
#define SMFIR_CONN_FAIL   'f'
#define SMFIR_ADDHEADER   'h'
#define SMFIR_INSHEADER   'i'
#define SMFIR_CHGHEADER   'm'
#define SMFIR_PROGRESS    'p'
#define SMFIR_QUARANTINE  'q'
#define SMFIR_REJECT      'r'
#define SMFIR_SKIP        's'
#define SMFIR_TEMPFAIL    't'
#define SMFIR_REPLYCODE   'y'

/* Address families in CONNECT. */
#define SMFIA_UNKNOWN   'U'
#define SMFIA_UNIX      'L'
#define SMFIA_INET      '4'
#define SMFIA_INET6     '6'

/* Actions a milter may ask for (its edits). */
#define SMFIF_ADDHDRS     0x001
#define SMFIF_CHGBODY     0x002
#define SMFIF_ADDRCPT     0x004
#define SMFIF_DELRCPT     0x008
#define SMFIF_CHGHDRS     0x010
#define SMFIF_QUARANTINE  0x020
#define SMFIF_CHGFROM     0x040
#define SMFIF_ADDRCPT_PAR 0x080
#define SMFIF_SETSYMLIST  0x100
#define MILTER_ACTIONS_ALL 0x1ff

/* Protocol flags: events a milter does not want (NO*), events it does not
 * answer (NR_*), and protocol features. */
#define SMFIP_NOCONNECT   0x000001
#define SMFIP_NOHELO      0x000002
#define SMFIP_NOMAIL      0x000004
#define SMFIP_NORCPT      0x000008
#define SMFIP_NOBODY      0x000010
#define SMFIP_NOHDRS      0x000020
#define SMFIP_NOEOH       0x000040
#define SMFIP_NR_HDR      0x000080
#define SMFIP_NOUNKNOWN   0x000100
#define SMFIP_NODATA      0x000200
#define SMFIP_SKIP        0x000400
#define SMFIP_RCPT_REJ    0x000800
#define SMFIP_NR_CONN     0x001000
#define SMFIP_NR_HELO     0x002000
#define SMFIP_NR_MAIL     0x004000
#define SMFIP_NR_RCPT     0x008000
#define SMFIP_NR_DATA     0x010000
#define SMFIP_NR_UNKN     0x020000
#define SMFIP_NR_EOH      0x040000
#define SMFIP_NR_BODY     0x080000
#define SMFIP_HDR_LEADSPC 0x100000
/* What Postern offers: every NO and NR flag, SKIP and HDR_LEADSPC; not
 * RCPT_REJ (refused recipients are not shown to milters) and no data sizes
 * above 64 KiB. */
#define MILTER_PFLAGS_OFFERED 0x1ff7ff

#define MILTER_VERSION      6       /* what we offer */
#define MILTER_VERSION_MIN  2       /* the oldest we talk to */

/* Macro stages (the numbers in an OPTNEG reply's macro lists). */
enum milter_stage {
	MILTER_STAGE_CONNECT, MILTER_STAGE_HELO, MILTER_STAGE_MAIL,
	MILTER_STAGE_RCPT, MILTER_STAGE_DATA, MILTER_STAGE_EOM,
	MILTER_STAGE_EOH, MILTER_STAGES
};

/* Body chunks are at most this long; a reply packet's length field (command
 * byte + data) at most MILTER_MAX_PACKET: a full chunk plus room for the
 * index, a header name and NULs. */
#define MILTER_CHUNK        65535
#define MILTER_MAX_PACKET   (65536 + 1024)
#define MILTER_SYMLIST_MAX  1024    /* one stage's macro list, as text */

enum milter_err {
	MILTER_OK = 0,
	MILTER_E_SHORT,         /* not a whole packet yet: read more */
	MILTER_E_TOOBIG,        /* length over MILTER_MAX_PACKET */
	MILTER_E_EMPTY,         /* length 0: no command byte */
	MILTER_E_UNKNOWN,       /* not a reply command we know */
	MILTER_E_FORMAT,        /* data of the wrong shape for the command */
	MILTER_E_REPLYCODE,     /* a REPLYCODE text that is not a 4xx/5xx reply */
	MILTER_E_VERSION,       /* OPTNEG: a version we cannot speak */
};

const char *milter_strerror(enum milter_err);

/* A growable output buffer for the encoders. */
struct milter_buf {
	unsigned char *p;
	size_t len, cap;
};
void milter_buf_free(struct milter_buf *);

/* Encoders: each appends one packet to B; -1 only when memory ran out or an
 * argument cannot be encoded (a body chunk over MILTER_CHUNK). */
int milter_enc_optneg(struct milter_buf *b, uint32_t version, uint32_t actions,
    uint32_t pflags);
/* MACRO for command CMD: NAMES[i] = VALUES[i]; pairs with a NULL or empty
 * value are left out. */
int milter_enc_macro(struct milter_buf *b, char cmd, const char *const *names,
    const char *const *values, size_t n);
/* CONNECT: FAMILY is one of SMFIA_*; PORT and ADDR are left out for
 * SMFIA_UNKNOWN. */
int milter_enc_connect(struct milter_buf *b, const char *hostname, char family,
    unsigned port, const char *addr);
int milter_enc_helo(struct milter_buf *b, const char *helo);
/* MAIL or RCPT: the address ("<a@b>") then each ESMTP argument. */
int milter_enc_envelope(struct milter_buf *b, char cmd, const char *addr,
    const char *const *args, size_t nargs);
int milter_enc_header(struct milter_buf *b, const char *name, const char *value);
int milter_enc_body(struct milter_buf *b, const unsigned char *p, size_t n);
int milter_enc_unknown(struct milter_buf *b, const char *line);
/* DATA, EOH, EOB, ABORT, QUIT, QUIT_NC: no data. */
int milter_enc_empty(struct milter_buf *b, char cmd);

/* Frame: is there a whole packet at BUF (LEN bytes)?  On MILTER_OK, *CMD,
 * *DATA, *DATALEN describe it and *USED is its size on the wire. */
enum milter_err milter_frame(const unsigned char *buf, size_t len, char *cmd,
    const unsigned char **data, size_t *datalen, size_t *used);

/* The OPTNEG reply. */
struct milter_optneg {
	uint32_t version, actions, pflags;
	/* SETSYMLIST: a stage's list, space-separated names; NULL-free text.
	 * has_list[stage] says whether the milter gave one. */
	int has_list[MILTER_STAGES];
	char list[MILTER_STAGES][MILTER_SYMLIST_MAX];
};
enum milter_err milter_dec_optneg(const unsigned char *data, size_t len,
    struct milter_optneg *out);

/* Any other reply. */
struct milter_reply {
	char cmd;               /* SMFIR_* */
	uint32_t index;         /* INSHEADER, CHGHEADER */
	/* Pointers into the packet's data (NUL-terminated there): */
	const char *s1;         /* header name, recipient, sender, reason, REPLYCODE text */
	const char *s2;         /* header value, ESMTP args (NULL if none) */
	const unsigned char *body;      /* REPLBODY */
	size_t bodylen;
	int code;               /* REPLYCODE: 400-599 */
};
enum milter_err milter_dec_reply(char cmd, const unsigned char *data, size_t len,
    struct milter_reply *out);

/* Is TEXT a valid SMTP reply for a milter to give: "4xx" or "5xx", then an
 * optional enhanced code of the same class, lines joined by CR LF each
 * starting with the same code ("550-" for all but the last), printable?
 * Returns the code or 0. */
int milter_replycode_check(const char *text);

#endif
