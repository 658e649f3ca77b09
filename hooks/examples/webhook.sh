#!/bin/sh
# SPDX-License-Identifier: ISC
# webhook.sh - a data hook that POSTs each message to an HTTP(S) endpoint.
#
#   [hooks]
#   data = /usr/share/doc/postern/examples/webhook.sh https://app.example.org/inbound-mail
#
# The body is the message exactly as Postern gives it (Received header
# first, LF line ends), with Content-Type: message/rfc822, the envelope in
# X-Postern-Mail-From and X-Postern-Rcpt-To (recipients joined by commas).
# The endpoint decides, and the client gets its answer:
#   HTTP 2xx                                  exit 0   250 (delivered)
#   HTTP 4xx                                  exit 1   550 5.7.1 refused by webhook
#   anything else: 5xx, 3xx, no connection,   exit 75  451 4.3.0 webhook unavailable
#   timeout (20 s), a curl error                       (the client will retry)
# Needs curl.  Errors from curl go to stderr, which Postern logs.
url=${1:-}
if [ -z "$url" ]; then
	echo "webhook: usage: webhook.sh URL" >&2
	echo "451 4.3.0 webhook unavailable"
	exit 75
fi

rcpts=${POSTERN_RCPTS:-}
if [ -z "$rcpts" ]; then
	# above 64 KiB Postern leaves POSTERN_RCPTS out; fd 3 always has them
	rcpts=$(cat <&3 2>/dev/null)
fi
# one per line -> comma-separated (addresses hold no newline)
rcpts=$(printf '%s\n' "$rcpts" | sed -e '/^$/d' | paste -s -d, -)

code=$(curl --silent --show-error --max-time 20 --output /dev/null \
	--write-out '%{http_code}' --data-binary @- \
	-H 'Content-Type: message/rfc822' -H 'Expect:' \
	-H "X-Postern-Mail-From: ${POSTERN_MAIL_FROM:-}" \
	-H "X-Postern-Rcpt-To: $rcpts" \
	-- "$url")
status=$?

if [ "$status" -ne 0 ]; then
	echo "webhook: curl failed (exit $status) posting to $url" >&2
	echo "451 4.3.0 webhook unavailable"
	exit 75
fi
case $code in
2[0-9][0-9])
	exit 0 ;;
4[0-9][0-9])
	echo "webhook: $url answered HTTP $code: message refused" >&2
	echo "550 5.7.1 refused by webhook"
	exit 1 ;;
*)
	echo "webhook: $url answered HTTP $code" >&2
	echo "451 4.3.0 webhook unavailable"
	exit 75 ;;
esac
