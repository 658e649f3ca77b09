#!/bin/sh
# SPDX-License-Identifier: ISC
# known-client.sh - a mail or rcpt hook: refuse clients whose host name is
# not verified by forward-confirmed reverse DNS, as Postfix's
# reject_unknown_client_hostname does.
#
#   [server]
#   reverse_lookup = yes
#   [hooks]
#   rcpt = /usr/share/doc/postern/examples/known-client.sh
#
# POSTERN_CLIENT_RESOLVE says why POSTERN_CLIENT_NAME is what it is:
#   OK      the name resolves back to the address: accept (exit 0)
#   TEMP    the DNS did not answer in time or failed: 450, try again later
#           (exit 75) - a broken resolver must not bounce mail
#   FAIL    no PTR record, or no valid host name in it: 550 (exit 1)
#   FORGED  the PTR name does not resolve back to the address: 550 (exit 1)
# The enhanced status code is RFC 7372's X.7.25 (reverse DNS validation
# failed).  Authenticated clients (POSTERN_AUTH_USER) are always accepted:
# a laptop on a hotel network has no name.  With reverse_lookup = no there
# is no status, and the hook accepts and says so on stderr (the log).
addr=${POSTERN_CLIENT_ADDR:-unknown}

[ -n "${POSTERN_AUTH_USER:-}" ] && exit 0
case ${POSTERN_CLIENT_RESOLVE:-} in
OK)
	exit 0 ;;
TEMP)
	echo "450 4.7.25 Client host rejected: cannot find your hostname, [$addr]"
	exit 75 ;;
FAIL|FORGED)
	echo "550 5.7.25 Client host rejected: cannot find your hostname, [$addr]"
	exit 1 ;;
*)
	echo "known-client: no POSTERN_CLIENT_RESOLVE (set reverse_lookup = yes): accepting" >&2
	exit 0 ;;
esac
