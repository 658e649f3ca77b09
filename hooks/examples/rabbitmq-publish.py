#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""rabbitmq-publish.py AMQP_URL QUEUE - a Postern data hook (exec mode)
that hands each message to RabbitMQ, and says 250 only once the broker has
confirmed it.

    [hooks]
    data = /usr/local/lib/postern/rabbitmq-publish.py amqp://postern:PASSWORD@127.0.0.1:5672/%2F mail

The message (standard input, as posternd gives it to a data hook) goes to
the durable queue QUEUE through the default exchange, as a persistent
message (delivery_mode 2), published with mandatory=True on a channel in
confirm mode: basic_publish returns only after the broker's ack, and
raises if the broker nacks it or cannot route it.  The envelope rides in
the message's AMQP headers (mail_from, rcpt_to, queue_id).

Exit 0 only after the confirm; any failure (broker down, refused login,
nack, unroutable, timeout) prints a 451 line and exits 75: the client
keeps the message and retries.  Needs python3-pika (Debian).
"""
import os
import sys

TEMPFAIL = 75


def fail(why):
    print('451 4.3.0 message not handed to the broker: %s' % why)
    print('rabbitmq-publish: %s' % why, file=sys.stderr)
    return TEMPFAIL


def recipients():
    """The accepted recipients, one per line on descriptor 3."""
    try:
        with os.fdopen(3, 'rb') as f:
            return [l.decode('utf-8', 'replace') for l in f.read().split(b'\n') if l]
    except OSError:
        return [r for r in os.environ.get('POSTERN_RCPTS', '').split('\n') if r]


def main():
    if len(sys.argv) != 3:
        return fail('usage: rabbitmq-publish.py AMQP_URL QUEUE (fix the data hook in postern.conf)')
    try:
        import pika
    except ImportError:
        return fail('python3-pika is not installed (apt-get install python3-pika)')
    url, queue = sys.argv[1], sys.argv[2]
    body = sys.stdin.buffer.read()
    headers = {'mail_from': os.environ.get('POSTERN_MAIL_FROM', ''), 'rcpt_to': recipients(),
               'queue_id': os.environ.get('POSTERN_SESSION', '')}
    try:
        params = pika.URLParameters(url)
        params.connection_attempts, params.socket_timeout = 1, 10
        params.blocked_connection_timeout = 20
        conn = pika.BlockingConnection(params)
        try:
            ch = conn.channel()
            ch.queue_declare(queue=queue, durable=True)
            ch.confirm_delivery()
            ch.basic_publish(exchange='', routing_key=queue, body=body, mandatory=True,
                             properties=pika.BasicProperties(delivery_mode=2, content_type='message/rfc822',
                                                             headers=headers))
        finally:
            try:
                conn.close()
            except Exception:       # noqa: BLE001 - the confirm came, or it did not
                pass
    except pika.exceptions.UnroutableError:
        return fail('the broker could not route it to queue %s' % queue)
    except pika.exceptions.NackError:
        return fail('the broker refused it (nack)')
    except Exception as e:          # noqa: BLE001 - any failure is a temporary one
        return fail('%s: %s' % (type(e).__name__, e))
    return 0


sys.exit(main())
