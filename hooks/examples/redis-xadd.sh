#!/bin/sh
# SPDX-License-Identifier: ISC
# redis-xadd.sh REDIS_URL STREAM - a Postern data hook (exec mode) that
# appends each message to a Redis stream with XADD, and says 250 only when
# Redis answered with the new entry's id.
#
#   [hooks]
#   data = /usr/local/lib/postern/redis-xadd.sh redis://127.0.0.1:6379/0 mail
#
# Fields of the entry: mail_from, rcpt_to (the recipients, one per line),
# session, message (as posternd gives it to a data hook).  Consumers read
# the stream with XREADGROUP and XACK.
#
# The 250 is only as durable as Redis is: run it with appendonly yes and
# appendfsync always (else the last second of entries may be lost in a
# crash), and with replicas add a WAIT to this script.  Needs redis-cli
# (Debian: redis-tools).  Any failure prints a 451 line and exits 75.
fail() {
	echo "451 4.3.0 message not handed to Redis: $1"
	echo "redis-xadd: $1" >&2
	exit 75
}
[ $# -eq 2 ] || fail "usage: redis-xadd.sh REDIS_URL STREAM (fix the data hook in postern.conf)"
command -v redis-cli >/dev/null 2>&1 || fail "redis-cli is not installed (apt-get install redis-tools)"
rcpts=$(cat <&3 2>/dev/null) || rcpts=$POSTERN_RCPTS
# -x: the last argument (the message) is read from standard input
id=$(redis-cli -u "$1" -x XADD "$2" '*' mail_from "$POSTERN_MAIL_FROM" rcpt_to "$rcpts" \
	session "$POSTERN_SESSION" message 2>&1) || fail "redis-cli: $id"
case $id in
*[!0-9-]* | "" | -* ) fail "Redis said: $(printf '%s' "$id" | head -c 200 | tr -c '[:print:]' ' ')" ;;
esac
exit 0
