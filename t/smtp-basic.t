#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# smtp-basic.t - one message end to end through swaks and through a raw
# dialogue: the greeting, EHLO keywords, delivery into the Maildir with a
# Received header and the body byte-identical.
use strict;
use warnings;
use Test::More;
use Postern::Test;

my $srv = Postern::Test->start;
my $port = $srv->port;

my $c = $srv->connect;
like($c->greeting, qr/^220 mx\.test ESMTP Postern\r\n$/, 'greeting names the host');
my $ehlo = $c->cmd('EHLO client.test');
like($ehlo, qr/^250-mx\.test\r\n/, 'EHLO first line');
for my $kw ('PIPELINING', 'SIZE 26214400', '8BITMIME', 'ENHANCEDSTATUSCODES', 'SMTPUTF8', 'DSN',
    'CHUNKING', 'BINARYMIME') {
	like($ehlo, qr/^250[- ]\Q$kw\E\r\n/m, "EHLO advertises $kw");
}
unlike($ehlo, qr/STARTTLS|AUTH/, 'nothing advertised that is not offered (no TLS, no auth here)');
my $body = "Subject: raw\r\n\r\nline 1\r\n..leading dot\r\n\xe9\xff 8-bit\r\n";
like($c->send_message(data => $body, no_ehlo => 1), qr/^250 2\.0\.0 Ok: queued as \S+\r\n$/, 'message accepted');
like($c->quit, qr/^221 2\.0\.0/, 'QUIT gets 221');

my @m = $srv->messages;
is(scalar @m, 1, 'one message in the Maildir');
my $stored = Postern::Test::slurp($m[0] // '/dev/null');
like($stored, qr/\AReceived: from client\.test \(\[127\.0\.0\.1\]\)\n\tby mx\.test \(Postern\) with ESMTP id \S+\n\tfor <bob\@example\.org>; \w{3}, \d\d \w{3} \d{4} [\d:]{8} [+-]\d{4}\n/,
    'Received header first, with EHLO name, IP, host, protocol, recipient, date');
(my $want = $body) =~ s/\r\n/\n/g;
$want =~ s/^\.\././mg;
(my $got = $stored) =~ s/\AReceived: .*?\n(?!\t)//s;
is($got, $want, 'body byte-identical (LF line ends, dot unstuffed, 8-bit intact)');

SKIP: {
	skip 'swaks is not installed', 3 unless -x '/usr/bin/swaks';
	my $out = `swaks --server 127.0.0.1:$port --from alice\@example.org --to carol\@example.org --body 'swaks body' --h-Subject 'via swaks' 2>&1`;
	is($? >> 8, 0, 'swaks exits 0') or diag($out);
	like($out, qr/<-  250 2\.0\.0 Ok: queued as/, 'swaks sees 250 after DATA');
	my @m2 = $srv->messages;
	my @hit = grep { my $t = Postern::Test::slurp($_); $t =~ /^Subject: via swaks$/m && $t =~ /^swaks body$/m } @m2;
	is(scalar @hit, 1, 'swaks message stored with its subject and body');
}
is($srv->stop, 0, 'posternd exits 0 on SIGTERM');
done_testing;
