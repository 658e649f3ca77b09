#!/bin/sh
# SPDX-License-Identifier: ISC
# sendmail-relay.sh - a data hook that hands each message to another MTA
# through its sendmail(1) command (Postfix, Exim, OpenSMTPD, msmtp ...).
#
#   [hooks]
#   data = /usr/share/doc/postern/examples/sendmail-relay.sh
#   data = /usr/share/doc/postern/examples/sendmail-relay.sh -s /usr/bin/msmtp
#
# Runs  SENDMAIL -i -f SENDER -- RCPT...  with the message, unchanged (with
# Postern's Received header), on its stdin.  The sender comes from
# POSTERN_MAIL_FROM, the recipients from fd 3, one per line; none of them
# ever passes through a shell's word splitting, and "--" keeps an address
# that starts with "-" from being taken as an option.
#
# SENDMAIL is /usr/sbin/sendmail, or the program given with "-s PATH" (hooks
# get a clean environment, so a $SENDMAIL variable would have to be set in
# the command line's program itself; -s is the way to choose another one).
#
# Exit status: 0 when sendmail took the message; anything else from sendmail
# (75 or any other failure, a signal, a missing program) gives 75 and a 451
# reply, so the client keeps the message and retries: never lose mail.
sendmail=${SENDMAIL:-/usr/sbin/sendmail}
if [ "${1:-}" = "-s" ]; then
	if [ -z "${2:-}" ]; then
		echo "sendmail-relay: -s needs the path of a sendmail program" >&2
		echo "451 4.3.0 relay misconfigured, try again later"
		exit 75
	fi
	sendmail=$2
	shift 2
fi

# The recipients, one per line on fd 3, become the positional parameters.
set --
while IFS= read -r r <&3 || [ -n "$r" ]; do
	[ -n "$r" ] && set -- "$@" "$r"
done
if [ $# -eq 0 ]; then
	echo "sendmail-relay: no recipients on fd 3" >&2
	echo "451 4.3.0 no recipients, try again later"
	exit 75
fi

"$sendmail" -i -f "${POSTERN_MAIL_FROM:-}" -- "$@"
status=$?
if [ "$status" -eq 0 ]; then
	exit 0
fi
echo "sendmail-relay: $sendmail exited with status $status: temporary failure" >&2
echo "451 4.3.0 relay failed, try again later"
exit 75
