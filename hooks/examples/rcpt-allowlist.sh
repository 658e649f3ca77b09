#!/bin/sh
# SPDX-License-Identifier: ISC
# rcpt-allowlist.sh - an rcpt hook: accept only the recipients listed in a file.
#
#   [hooks]
#   rcpt = /usr/share/doc/postern/examples/rcpt-allowlist.sh /etc/postern/recipients
#
# The file holds one entry per line: a full address (bob@example.org) or a
# whole domain (@example.org).  Blank lines and comments (from a "#" at the
# start of a line or after a blank to the end of the line) are ignored, and
# so are blanks around an entry.  Matching is case-insensitive and exact:
# entries are fixed strings, never patterns, so a "." or "*" in the file or
# in an address means just that character; @example.org does not cover
# sub.example.org.
#
# The recipient comes from POSTERN_RCPT (never argv, never evaluated).
# Exit 0: listed, the client gets 250.  Exit 67 (EX_NOUSER) with the reply
# "550 5.1.1 <addr>: no such user here".  Exit 75 with a 451 reply when the
# file cannot be read: a broken configuration must not bounce mail.
list=${1:-}
rcpt=${POSTERN_RCPT:-}

if [ -z "$list" ] || [ ! -r "$list" ]; then
	echo "rcpt-allowlist: cannot read the recipient list '${list}' (give its path as the first argument)" >&2
	echo "451 4.3.0 recipient list unavailable, try again later"
	exit 75
fi

# The entries, with comments and surrounding blanks removed.
entries=$(sed -e 's/^[[:space:]]*#.*$//' -e 's/[[:space:]][[:space:]]*#.*$//' \
	-e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -- "$list") || {
	echo "rcpt-allowlist: cannot read '$list'" >&2
	echo "451 4.3.0 recipient list unavailable, try again later"
	exit 75
}

listed() {
	# -F fixed string, -x whole line, -i any case; "--" ends the options so
	# that an address starting with "-" is still only a pattern.
	printf '%s\n' "$entries" | grep -Fxiq -- "$1"
}

if [ -n "$rcpt" ]; then
	listed "$rcpt" && exit 0
	case $rcpt in
	*@*)	listed "@${rcpt##*@}" && exit 0 ;;
	esac
fi

echo "550 5.1.1 <$rcpt>: no such user here"
exit 67
