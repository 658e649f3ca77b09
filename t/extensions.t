#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# extensions.t - the SMTP extensions end to end:
#
#   - SMTPUTF8 (RFC 6531): UTF-8 addresses with and without the parameter,
#     invalid UTF-8, UTF-8 in other commands, "with UTF8SMTP", the hooks'
#     POSTERN_SMTPUTF8 and exact bytes in POSTERN_MAIL_FROM;
#   - CHUNKING and BINARYMIME (RFC 3030): BDAT with exact byte counts, many
#     chunks, CRLF split across chunks, no dot-unstuffing, pipelining,
#     refused chunks still consumed, DATA/BDAT mixing, binary bodies, the
#     size limit across chunks, bad counts, the data timeout, and the same
#     message through DATA and BDAT;
#   - DSN (RFC 3461): RET, ENVID, NOTIFY, ORCPT syntax and what the hooks see;
#   - the PROXY protocol (v1 and v2, haproxy.org proxy-protocol.txt): trusted
#     and untrusted peers, LOCAL, split headers, malformed headers, config
#     errors, and a real HAProxy with send-proxy and send-proxy-v2;
#   - the greeting banner.
#
# t/extensions-python.py covers smtplib with SMTPUTF8 and PROXY in front of
# implicit TLS.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Socket qw(inet_aton inet_pton AF_INET6 IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);
use Postern::Test;

$SIG{PIPE} = 'IGNORE';

my $T0 = time;

# ---------------------------------------------------------------------------
# Helpers

sub esc { my ($t) = @_; return 'undef' unless defined $t; $t =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge; return $t }
sub slurp { my ($p) = @_; return defined $p && -e $p ? Postern::Test::slurp($p) : undef }

# The data hook dumps its environment (env -0) into DIR/denv.NS.PID, then
# hands the message to postern-maildir; the rcpt hook dumps into renv.*.
sub write_hooks {
	my ($dir) = @_;
	Postern::Test::write_script($dir, 'datahook', <<"EOS");
#!/bin/sh
env -0 > $dir/.denv.\$\$
mv $dir/.denv.\$\$ $dir/denv.\$(date +%s%N).\$\$
exec $dir/postern-maildir $dir/Maildir
EOS
	Postern::Test::write_script($dir, 'rcpthook', <<"EOS");
#!/bin/sh
env -0 > $dir/.renv.\$\$
mv $dir/.renv.\$\$ $dir/renv.\$(date +%s%N).\$\$
exit 0
EOS
	return ("$dir/datahook", "$dir/rcpthook");
}

sub env_files {
	my ($dir, $kind) = @_;
	my @f = glob("$dir/$kind.*");
	return sort { ($a =~ /\.(\d+)\.\d+$/)[0] <=> ($b =~ /\.(\d+)\.\d+$/)[0] } @f;
}

sub parse_env {
	my ($path) = @_;
	my $t = slurp($path) // return {};
	my %e;
	for my $kv (split /\0/, $t) {
		my ($k, $v) = split /=/, $kv, 2;
		$e{$k} = $v if defined $v;
	}
	return \%e;
}

# What a server has produced so far: messages, data-hook and rcpt-hook dumps.
sub mark {
	my ($srv) = @_;
	my %m = (msgs => { map { $_ => 1 } $srv->messages });
	$m{$_} = { map { $_ => 1 } env_files($srv->dir, $_) } for qw(denv renv);
	return \%m;
}

# What is new since MARK: { msgs => [paths], denv => [envs], renv => [envs] }.
sub since {
	my ($srv, $mark) = @_;
	my %r;
	$r{msgs} = [ grep { !$mark->{msgs}{$_} } $srv->messages ];
	for my $k (qw(denv renv)) {
		$r{$k} = [ map { parse_env($_) } grep { !$mark->{$k}{$_} } env_files($srv->dir, $k) ];
	}
	return \%r;
}

# The stored message without the Received header that Postern prepends.
sub body_of {
	my ($path) = @_;
	my $t = slurp($path) // return undef;
	$t =~ s/\AReceived: .*?\n(?!\t)//s;
	return $t;
}

# Read until EOF or TIMEOUT: (eof?, data received, seconds).
sub drain {
	my ($c, $timeout) = @_;
	my $t0 = time;
	my $data = $c->{buf};
	$c->{buf} = '';
	my $sel = IO::Select->new($c->sock);
	while (time - $t0 < $timeout) {
		last unless $sel->can_read($timeout - (time - $t0));
		my $n = sysread($c->sock, my $chunk, 65536);
		return (1, $data, time - $t0) unless $n;        # EOF or reset
		$data .= $chunk;
	}
	return (0, $data, time - $t0);
}

# A client whose socket comes from elsewhere (a bound source address).
sub client_on {
	my ($sock, %o) = @_;
	binmode $sock;
	my $c = bless { sock => $sock, buf => '', timeout => 30 }, 'Postern::Test::Client';
	$c->{greeting} = $c->reply(10) unless $o{no_greeting};
	return $c;
}

sub nmsgs { my @m = $_[0]->messages; return scalar @m }
sub crlf_to_lf { my ($t) = @_; $t =~ s/\r\n/\n/g; return $t }

# ---------------------------------------------------------------------------
# The main server: default limits, a data hook and a rcpt hook that record
# their environment.

my $dir = Postern::Test::workdir();
my ($datahook, $rcpthook) = write_hooks($dir);
my $srv = Postern::Test->start(dir => $dir,
    config => { hooks => { data => $datahook, rcpt => $rcpthook } });

# ------------------------------------------------------------------- banner
{
	my $c = $srv->connect;
	like($c->greeting, qr/^220 mx\.test ESMTP Postern\r\n\z/, 'default greeting: 220 mx.test ESMTP Postern');
	unlike($c->greeting, qr/Postern\D*\d/, 'default greeting carries no version number');
	my $ehlo = $c->cmd('EHLO client.test');
	for my $kw (qw(SMTPUTF8 DSN CHUNKING BINARYMIME PIPELINING ENHANCEDSTATUSCODES)) {
		like($ehlo, qr/^250[- ]\Q$kw\E\r\n/m, "EHLO advertises $kw");
	}
	$c->quit;
}

# ------------------------------------------------------------------ SMTPUTF8
my $U_FROM = 'jörg@bücher.example';                # UTF-8 bytes (no "use utf8")
my $U_RCPT = 'δοκιμή@παράδειγμα.example';
{
	die 'the test file must be UTF-8 read as bytes' unless length($U_FROM) == 21;
	my $m = mark($srv);
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd("MAIL FROM:<$U_FROM> SMTPUTF8"), qr/^250 2\.1\.0 /, 'SMTPUTF8: UTF-8 sender with SMTPUTF8 -> 250 2.1.0');
	like($c->cmd("RCPT TO:<$U_RCPT>"), qr/^250 2\.1\.5 /, 'SMTPUTF8: Greek recipient -> 250 2.1.5');
	like($c->cmd('DATA'), qr/^354 /, 'SMTPUTF8: DATA -> 354');
	$c->send("Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nFrom: <$U_FROM>\r\n\r\nGrüße\r\n.\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, 'SMTPUTF8: message accepted with 250 2.0.0');
	like($c->cmd('MAIL FROM:<plain@example.org>'), qr/^250 /, 'SMTPUTF8: next transaction without the parameter -> 250');
	like($c->cmd("RCPT TO:<$U_RCPT>"), qr/^553 5\.6\.7 /, 'SMTPUTF8 does not carry over to the next transaction (UTF-8 RCPT -> 553 5.6.7)');
	$c->cmd('RSET');
	$c->quit;
	my $n = since($srv, $m);
	is(scalar @{ $n->{msgs} }, 1, 'SMTPUTF8: message stored');
	my $stored = slurp($n->{msgs}[0]) // '';
	like($stored, qr/\AReceived: from client\.test \(\[127\.0\.0\.1\]\)\n\tby mx\.test \(Postern\) with UTF8SMTP id /,
	    'SMTPUTF8: the Received header says "with UTF8SMTP"');
	like($stored, qr/^\tfor <\Q$U_RCPT\E>;/m, 'SMTPUTF8: Received "for" has the UTF-8 recipient');
	like($stored, qr/\n\nGrüße\n\z/, 'SMTPUTF8: 8-bit body stored');
	my $e = $n->{denv}[0] // {};
	is($e->{POSTERN_SMTPUTF8}, '1', 'SMTPUTF8: data hook sees POSTERN_SMTPUTF8=1');
	is(esc($e->{POSTERN_MAIL_FROM}), esc($U_FROM), 'SMTPUTF8: POSTERN_MAIL_FROM has the exact UTF-8 bytes');
	is(esc($e->{POSTERN_RCPTS}), esc("$U_RCPT\n"), 'SMTPUTF8: POSTERN_RCPTS has the exact UTF-8 bytes');
	my $r = $n->{renv}[0] // {};
	is(esc($r->{POSTERN_RCPT}), esc($U_RCPT), 'SMTPUTF8: rcpt hook sees the UTF-8 POSTERN_RCPT');
	is($r->{POSTERN_SMTPUTF8}, '1', 'SMTPUTF8: rcpt hook sees POSTERN_SMTPUTF8=1');
}
{
	my $m = mark($srv);
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd("MAIL FROM:<$U_FROM>"), qr/^553 5\.6\.7 /, 'SMTPUTF8: UTF-8 sender without SMTPUTF8 -> 553 5.6.7');
	like($c->cmd('MAIL FROM:<plain@example.org>'), qr/^250 2\.1\.0 /, 'SMTPUTF8: no transaction left behind: ASCII MAIL -> 250');
	like($c->cmd("RCPT TO:<$U_RCPT>"), qr/^553 5\.6\.7 /, 'SMTPUTF8: UTF-8 recipient in a transaction without SMTPUTF8 -> 553 5.6.7');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 2\.1\.5 /, 'SMTPUTF8: ASCII recipient still accepted');
	like($c->cmd('RSET'), qr/^250 /, 'RSET');
	like($c->cmd('MAIL FROM:<a@example.org> SMTPUTF8=yes'), qr/^501 5\.5\.4 /, 'SMTPUTF8 with a value -> 501 5.5.4');
	$c->quit;
	my $n = since($srv, $m);
	is(scalar(@{ $n->{renv} }), 1, 'SMTPUTF8: the rcpt hook was not asked about the refused UTF-8 recipient');
}
{
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	for my $case (["\xc3\x28", 'a broken 2-byte sequence (\xc3\x28)'], ["\xc0\xaf", 'an overlong "/" (\xc0\xaf)'],
	    ["\x80", 'a lone continuation byte (\x80)'], ["\xed\xa0\x80", 'a UTF-16 surrogate (\xed\xa0\x80)'],
	    ["\xf4\x90\x80\x80", 'a code point above U+10FFFF']) {
		my ($bytes, $what) = @$case;
		like($c->cmd("MAIL FROM:<j${bytes}rg\@example.org> SMTPUTF8"), qr/^501 5\.5\.2 /, "invalid UTF-8 in MAIL: $what -> 501 5.5.2");
	}
	like($c->cmd('MAIL FROM:<ok@example.org> SMTPUTF8'), qr/^250 /, 'MAIL after the invalid ones -> 250');
	like($c->cmd("RCPT TO:<\xc3\x28x\@example.org>"), qr/^501 5\.5\.2 /, 'invalid UTF-8 in RCPT -> 501 5.5.2');
	$c->quit;
	$c = $srv->connect;
	like($c->cmd("NOOP \xc3\xa9"), qr/^500 5\.5\.2 /, 'UTF-8 in NOOP -> 500 5.5.2');
	like($c->cmd("EHLO b\xc3\xbccher.example"), qr/^500 5\.5\.2 /, 'UTF-8 in EHLO -> 500 5.5.2');
	like($c->cmd('MAIL FROM:<a@example.org>'), qr/^503 /, 'the refused EHLO did not open the session (MAIL -> 503)');
	like($c->cmd('EHLO client.test'), qr/^250[- ]/, 'ASCII EHLO afterwards -> 250');
	$c->quit;
}

# ------------------------------------------------------------------ CHUNKING
# One connection through EHLO, MAIL, RCPT.
sub ready {
	my ($srv, %o) = @_;
	my $c = $srv->connect($o{ep});
	$c->cmd('EHLO client.test');
	my $r1 = $c->cmd('MAIL FROM:<alice@example.org>' . ($o{mail_params} // ''));
	my $r2 = $c->cmd('RCPT TO:<bob@example.org>');
	die "MAIL/RCPT refused: $r1 $r2" unless $r1 =~ /^250/ && $r2 =~ /^250/;
	return $c;
}
{
	my $msg = "Subject: one chunk\r\n\r\nHello in BDAT\r\n";
	my $m = mark($srv);
	my $c = ready($srv);
	$c->send('BDAT ' . length($msg) . " LAST\r\n" . $msg);
	like($c->reply, qr/^250 2\.0\.0 Ok: queued as \S+\r\n\z/, 'BDAT n LAST with the exact byte count -> 250 2.0.0');
	like($c->cmd('NOOP'), qr/^250 /, 'the session is in step afterwards (NOOP -> 250)');
	$c->quit;
	my $n = since($srv, $m);
	is(scalar @{ $n->{msgs} }, 1, 'BDAT LAST: one message stored');
	is(esc(body_of($n->{msgs}[0])), esc(crlf_to_lf($msg)), 'BDAT LAST: body stored with LF line ends');
}
{
	# 10 + 5 + 0 octets; the CRLF after "abc" is split across the chunks.
	my ($c1, $c2) = ("Subj: abc\r", "\nx\ry\n");
	my $m = mark($srv);
	my $c = ready($srv);
	$c->send("BDAT 10\r\n$c1");
	like($c->reply, qr/^250 2\.0\.0 /, 'BDAT 10 -> 250');
	$c->send("BDAT 5\r\n$c2");
	like($c->reply, qr/^250 2\.0\.0 /, 'BDAT 5 -> 250');
	is(scalar since($srv, $m)->{msgs}->@*, 0, 'nothing delivered before LAST');
	like($c->cmd('BDAT 0 LAST'), qr/^250 2\.0\.0 Ok: queued as /, 'BDAT 0 LAST -> 250 queued');
	$c->quit;
	my $n = since($srv, $m);
	is(scalar @{ $n->{msgs} }, 1, 'chunks: one message stored');
	is(esc(body_of($n->{msgs}[0])), esc("Subj: abc\nx\ry\n"),
	    'chunks concatenated; a CRLF split across chunks becomes one LF; a lone CR and a bare LF kept');
}
{
	my $msg = "Subject: dots\r\n\r\n.\r\n..two\r\n.one\r\nend\r\n";
	my $m = mark($srv);
	my $c = ready($srv);
	$c->send('BDAT ' . length($msg) . " LAST\r\n$msg");
	like($c->reply, qr/^250 2\.0\.0 /, 'BDAT with a "." line -> 250');
	$c->quit;
	my $n = since($srv, $m);
	is(esc(body_of($n->{msgs}[0])), esc(crlf_to_lf($msg)), 'BDAT: the "." line and dot-led lines stored as is (no unstuffing)');
}
{
	my $msg = "Subject: pipelined\r\n\r\nall in one write\r\n";
	my $m = mark($srv);
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	$c->send("MAIL FROM:<alice\@example.org>\r\nRCPT TO:<bob\@example.org>\r\nRCPT TO:<carol\@example.org>\r\nBDAT "
	    . length($msg) . " LAST\r\n$msg" . "NOOP\r\n");
	like($c->reply, qr/^250 2\.1\.0 /, 'pipelined: MAIL -> 250 2.1.0 first');
	like($c->reply, qr/^250 2\.1\.5 /, 'pipelined: RCPT -> 250 2.1.5');
	like($c->reply, qr/^250 2\.1\.5 /, 'pipelined: RCPT -> 250 2.1.5');
	like($c->reply, qr/^250 2\.0\.0 Ok: queued as /, 'pipelined: BDAT LAST -> 250 queued');
	like($c->reply, qr/^250 2\.0\.0 Ok\r\n/, 'pipelined: the NOOP after the chunk -> 250');
	$c->quit;
	my $n = since($srv, $m);
	is(esc(body_of($n->{msgs}[0])), esc(crlf_to_lf($msg)), 'pipelined BDAT message stored');
	is(esc($n->{denv}[0]{POSTERN_RCPTS}), esc("bob\@example.org\ncarol\@example.org\n"), 'pipelined: both recipients reach the hook');
}
{
	my $m = mark($srv);
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	# The 12 octets of the chunk look like two QUITs: if they were taken as
	# commands the server would say 221 and close.
	$c->send("BDAT 12\r\nQUIT\r\nQUIT\r\n");
	like($c->reply, qr/^503 5\.5\.1 /, 'BDAT without MAIL -> 503 5.5.1');
	like($c->cmd('NOOP'), qr/^250 2\.0\.0 Ok\r\n\z/, 'BDAT without MAIL: its octets were consumed (next command answered, no 221)');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 /, 'MAIL -> 250');
	like($c->cmd('RCPT TO:<bad address>'), qr/^501 /, 'a refused RCPT -> 501');
	$c->send("BDAT 6 LAST\r\nQUIT\r\n");
	like($c->reply, qr/^554 5\.5\.1 /, 'BDAT with no accepted recipient -> 554 5.5.1');
	like($c->cmd('NOOP'), qr/^250 2\.0\.0 Ok\r\n\z/, 'BDAT with no recipient: its octets were consumed');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 /, 'the transaction is still open: RCPT -> 250');
	$c->send("BDAT 5 LAST\r\nhi\r\n\r");
	like($c->reply, qr/^250 2\.0\.0 Ok: queued/, 'BDAT after that -> 250 queued');
	$c->quit;
	my $n = since($srv, $m);
	is(scalar @{ $n->{msgs} }, 1, 'only the good chunk made a message');
	is(esc(body_of($n->{msgs}[0])), esc("hi\n\r"), 'its body, with the trailing lone CR kept');
}
{
	my $m = mark($srv);
	my $c = ready($srv);
	$c->send("BDAT 5\r\nabcde");
	like($c->reply, qr/^250 /, 'BDAT 5 -> 250');
	like($c->cmd('DATA'), qr/^503 5\.5\.1 /, 'DATA after BDAT in the same transaction -> 503 5.5.1');
	like($c->cmd('RSET'), qr/^250 /, 'RSET -> 250');
	like($c->cmd('MAIL FROM:<alice@example.org> BODY=BINARYMIME'), qr/^250 2\.1\.0 /, 'MAIL BODY=BINARYMIME -> 250');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 /, 'RCPT -> 250');
	like($c->cmd('DATA'), qr/^503 5\.5\.1 /, 'BODY=BINARYMIME then DATA -> 503 5.5.1');
	$c->quit;
	is(scalar since($srv, $m)->{msgs}->@*, 0, 'nothing stored from the DATA/BDAT mix');
}
{
	# RSET (and EHLO) in the middle of a chunked message throw its chunks away.
	my $m = mark($srv);
	my $c = ready($srv);
	$c->send("BDAT 6\r\nstale\n");
	like($c->reply, qr/^250 /, 'BDAT 6 -> 250');
	like($c->cmd('RSET'), qr/^250 /, 'RSET in the middle of a chunked message -> 250');
	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	$c->send("BDAT 7\r\nstale2\n");
	like($c->reply, qr/^250 /, 'BDAT 7 -> 250');
	like($c->cmd('EHLO client.test'), qr/^250[- ]/, 'EHLO in the middle of a chunked message -> 250');
	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	$c->send("BDAT 6 LAST\r\nfresh\n");
	like($c->reply, qr/^250 2\.0\.0 Ok: queued/, 'a new chunked message after RSET/EHLO -> 250');
	$c->quit;
	my $n = since($srv, $m);
	is(scalar @{ $n->{msgs} }, 1, 'RSET/EHLO during chunking: one message');
	is(esc(body_of($n->{msgs}[0])), esc("fresh\n"), 'RSET/EHLO during chunking: no stale chunk in the new message');
}
{
	my $bin = "Subject: bin\r\n\r\n\x00\x01\x02\r\rA\nB\r\n\x00\xff\xfe.\r\n.\r\n\r\n..x\n\rend\r";
	my $m = mark($srv);
	my $c = ready($srv, mail_params => ' BODY=BINARYMIME');
	my $half = int(length($bin) / 2);
	$c->send("BDAT $half\r\n" . substr($bin, 0, $half));
	like($c->reply, qr/^250 /, 'BINARYMIME: first chunk -> 250');
	$c->send('BDAT ' . (length($bin) - $half) . " LAST\r\n" . substr($bin, $half));
	like($c->reply, qr/^250 2\.0\.0 Ok: queued/, 'BINARYMIME: last chunk -> 250 queued');
	$c->quit;
	my $n = since($srv, $m);
	is(esc(body_of($n->{msgs}[0])), esc($bin), 'BINARYMIME: NUL, bare CR, bare LF and CRLF stored byte-identical');
	is($n->{denv}[0]{POSTERN_BODY}, 'BINARYMIME', 'BINARYMIME: data hook sees POSTERN_BODY=BINARYMIME');
}
{
	my $m = mark($srv);
	my $c = ready($srv);
	like($c->cmd('BDAT 0 LAST'), qr/^250 2\.0\.0 Ok: queued/, 'BDAT 0 LAST alone -> 250 queued');
	$c->send("BDAT 3 last\r\nabc");
	like($c->reply(10), qr/^503 5\.5\.1 /, 'the transaction is over after LAST (BDAT -> 503; lower-case "last" parsed)');
	$c->quit;
	my $n = since($srv, $m);
	is(scalar @{ $n->{msgs} }, 1, 'BDAT 0 LAST: a message is stored');
	like(slurp($n->{msgs}[0]) // '', qr/\AReceived: [^\n]*\n(?:\t[^\n]*\n)+\z/, 'BDAT 0 LAST: the message is just the Received header');
}
{
	my $c = ready($srv);
	like($c->cmd('BDAT abc'), qr/^501 5\.5\.4 /, 'BDAT abc -> 501 5.5.4');
	like($c->cmd('BDAT'), qr/^501 5\.5\.4 /, 'BDAT without a size -> 501 5.5.4');
	like($c->cmd('BDAT 5 FIRST'), qr/^501 5\.5\.4 /, 'BDAT 5 FIRST -> 501 5.5.4');
	like($c->cmd('NOOP'), qr/^250 /, 'the session goes on');
	$c->send("BDAT 99999999999999999999\r\n");
	my ($eof, $data) = drain($c, 10);
	like($data, qr/\A552 5\.3\.4 [^\n]*\r\n421 4\.\d\.\d [^\n]*\r\n\z/, 'BDAT 99999999999999999999 -> 552 5.3.4 then 421') or diag(esc($data));
	ok($eof, 'BDAT 99999999999999999999: the connection is closed');
	$c->close;
}
{
	# The same message through DATA and BDAT reaches the data hook identically.
	my $msg = "Subject: same\r\nX-Test: both ways\r\n\r\nline 1\r\n.leading dot\r\n..two dots\r\n"
	    . "bare\rCR\r\n\xc3\xa9 8-bit \xff\r\n \r\n\r\nlast line\r\n";
	(my $stuffed = $msg) =~ s/(^|\r\n)\./$1../g;
	my $m = mark($srv);
	my $c = ready($srv);
	like($c->cmd('DATA'), qr/^354 /, 'DATA -> 354');
	$c->send("$stuffed.\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, 'the message through DATA -> 250');
	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	my @parts = (substr($msg, 0, 7), substr($msg, 7, 30), substr($msg, 37));
	for my $i (0 .. $#parts) {
		$c->send('BDAT ' . length($parts[$i]) . ($i == $#parts ? ' LAST' : '') . "\r\n$parts[$i]");
		like($c->reply, qr/^250 /, "the message through BDAT, chunk " . ($i + 1) . ' -> 250');
	}
	$c->quit;
	my $n = since($srv, $m);
	is(scalar @{ $n->{msgs} }, 2, 'DATA and BDAT: two messages stored');
	my ($b1, $b2) = map { body_of($_) } @{ $n->{msgs} };
	is(esc($b2), esc($b1), 'BDAT and DATA give the data hook the same message');
	is(esc($b1), esc(crlf_to_lf($msg)), 'and it is the message with LF line ends');
	is($n->{denv}[1]{POSTERN_BODY}, $n->{denv}[0]{POSTERN_BODY}, 'same POSTERN_BODY both ways');
}

# ----------------------------------------------------------------------- DSN
{
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('MAIL FROM:<a@x.example> RET=BAD'), qr/^501 5\.5\.4 /, 'DSN: RET=BAD -> 501 5.5.4');
	like($c->cmd('MAIL FROM:<a@x.example> ENVID=QQ+0D314'), qr/^501 5\.5\.4 /, 'DSN: ENVID with +0D (CR in xtext) -> 501 5.5.4');
	like($c->cmd('MAIL FROM:<a@x.example> ENVID=' . ('E' x 101)), qr/^501 5\.5\.4 /, 'DSN: ENVID of 101 characters -> 501 5.5.4');
	like($c->cmd('MAIL FROM:<a@x.example> RET=HDRS RET=FULL'), qr/^501 5\.5\.4 /, 'DSN: duplicate RET -> 501 5.5.4');
	like($c->cmd('MAIL FROM:<a@x.example> ENVID=' . ('E' x 100)), qr/^250 2\.1\.0 /, 'DSN: ENVID of exactly 100 characters -> 250');
	like($c->cmd('RSET'), qr/^250 /, 'RSET');
	$c->quit;
	$c = $srv->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('MAIL FROM:<a@x.example>'), qr/^250 /, 'MAIL -> 250');
	like($c->cmd('RCPT TO:<b@y.example> NOTIFY=NEVER,SUCCESS'), qr/^501 5\.5\.4 /, 'DSN: NOTIFY=NEVER,SUCCESS -> 501 5.5.4');
	like($c->cmd('RCPT TO:<b@y.example> NOTIFY=BOGUS'), qr/^501 5\.5\.4 /, 'DSN: NOTIFY=BOGUS -> 501 5.5.4');
	like($c->cmd('RCPT TO:<b@y.example> ORCPT=rfc822b+40y'), qr/^501 5\.5\.4 /, "DSN: ORCPT without ';' -> 501 5.5.4");
	like($c->cmd('RCPT TO:<b@y.example> ORCPT=rfc822;b+0Ay'), qr/^501 5\.5\.4 /, 'DSN: ORCPT with +0A -> 501 5.5.4');
	like($c->cmd('RCPT TO:<b@y.example> NOTIFY=NEVER'), qr/^250 2\.1\.5 /, 'DSN: NOTIFY=NEVER alone -> 250');
	$c->quit;
	$c = $srv->connect;
	$c->cmd('HELO client.test');
	like($c->cmd('MAIL FROM:<a@x.example> RET=HDRS'), qr/^555 5\.5\.4 /, 'DSN: RET after HELO (no EHLO) -> 555 5.5.4');
	like($c->cmd('MAIL FROM:<a@x.example>'), qr/^250 /, 'MAIL after HELO -> 250');
	like($c->cmd('RCPT TO:<b@y.example> NOTIFY=SUCCESS'), qr/^555 5\.5\.4 /, 'DSN: NOTIFY after HELO -> 555 5.5.4');
	$c->quit;
}
{
	my $m = mark($srv);
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('MAIL FROM:<a@x.example> RET=HDRS ENVID=QQ314159'), qr/^250 2\.1\.0 /, 'DSN: MAIL RET=HDRS ENVID=QQ314159 -> 250 2.1.0');
	like($c->cmd('RCPT TO:<b@y.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40y'), qr/^250 2\.1\.5 /,
	    'DSN: RCPT NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40y -> 250 2.1.5');
	like($c->cmd('RCPT TO:<c@y.example>'), qr/^250 2\.1\.5 /, 'DSN: a recipient without DSN parameters -> 250');
	like($c->cmd('DATA'), qr/^354 /, 'DATA -> 354');
	$c->send("Subject: dsn\r\n\r\nbody\r\n.\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, 'DSN message accepted');
	# the next transaction in the same session does not inherit RET/ENVID
	like($c->send_message(no_ehlo => 1, from => 'a@x.example', to => ['d@y.example']), qr/^250 /,
	    'a second message without DSN parameters in the same session');
	$c->quit;
	my $n = since($srv, $m);
	my $e = $n->{denv}[0] // {};
	my $e2 = $n->{denv}[1] // {};
	ok(!exists $e2->{POSTERN_DSN_RET} && !exists $e2->{POSTERN_DSN_ENVID},
	    'next transaction: no POSTERN_DSN_RET/ENVID left over') or diag(esc($e2->{POSTERN_DSN_RET}) . ' ' . esc($e2->{POSTERN_DSN_ENVID}));
	is($e2->{POSTERN_RCPTS_DSN}, "NOTIFY= ORCPT=\n", 'next transaction: POSTERN_RCPTS_DSN with empty values');
	is($e->{POSTERN_DSN_RET}, 'HDRS', 'data hook: POSTERN_DSN_RET=HDRS');
	is($e->{POSTERN_DSN_ENVID}, 'QQ314159', 'data hook: POSTERN_DSN_ENVID=QQ314159');
	is(esc($e->{POSTERN_RCPTS}), esc("b\@y.example\nc\@y.example\n"), 'data hook: POSTERN_RCPTS in order');
	is(esc($e->{POSTERN_RCPTS_DSN}), esc("NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40y\nNOTIFY= ORCPT=\n"),
	    'data hook: POSTERN_RCPTS_DSN one line per recipient (empty values for the second)');
	my @r = @{ $n->{renv} };
	is(scalar @r, 3, 'rcpt hook asked three times (two + one in the next transaction)');
	is($r[0]{POSTERN_RCPT}, 'b@y.example', 'rcpt hook 1: POSTERN_RCPT');
	is($r[0]{POSTERN_DSN_NOTIFY}, 'SUCCESS,FAILURE', 'rcpt hook 1: POSTERN_DSN_NOTIFY');
	is($r[0]{POSTERN_DSN_ORCPT}, 'rfc822;b+40y', 'rcpt hook 1: POSTERN_DSN_ORCPT');
	is($r[0]{POSTERN_DSN_RET}, 'HDRS', 'rcpt hook 1: POSTERN_DSN_RET');
	is($r[1]{POSTERN_RCPT}, 'c@y.example', 'rcpt hook 2: POSTERN_RCPT');
	ok(!exists $r[1]{POSTERN_DSN_NOTIFY} && !exists $r[1]{POSTERN_DSN_ORCPT},
	    'rcpt hook 2: no POSTERN_DSN_NOTIFY/ORCPT left over from the first recipient')
	    or diag("NOTIFY=" . esc($r[1]{POSTERN_DSN_NOTIFY}) . " ORCPT=" . esc($r[1]{POSTERN_DSN_ORCPT}));
}
is($srv->stop, 0, 'main server exits 0');

# ---------------------------------------------------------------------------
# Limits: max_message_size 1000 across chunks, data_timeout 2 inside BDAT.
{
	my $ldir = Postern::Test::workdir();
	my $lsrv = Postern::Test->start(dir => $ldir, config => { limits => { max_message_size => 1000, data_timeout => 2 } });
	my $chunk = ("x" x 58 . "\r\n") x 10;          # 600 octets
	my $c = ready($lsrv);
	$c->send("BDAT 600\r\n$chunk");
	like($c->reply, qr/^250 /, 'SIZE: first chunk of 600 -> 250');
	$c->send("BDAT 600\r\n$chunk" . "BDAT 10 LAST\r\n0123456789");
	like($c->reply, qr/^552 5\.3\.4 /, 'SIZE: second chunk of 600 (1200 > 1000) -> 552 5.3.4');
	like($c->reply, qr/^503 5\.5\.1 /, 'SIZE: the pipelined BDAT 10 LAST -> 503 (the transaction is gone)');
	like($c->cmd('RSET'), qr/^250 /, 'SIZE: RSET -> 250');
	is(nmsgs($lsrv), 0, 'SIZE: nothing stored');
	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	$c->send("BDAT 20 LAST\r\nSubject: s\r\n\r\nsmall\r\n");
	like($c->reply, qr/^250 2\.0\.0 Ok: queued/, 'SIZE: a new small message in the same session -> 250');
	$c->quit;
	is(nmsgs($lsrv), 1, 'SIZE: exactly the small message stored');

	$c = ready($lsrv);
	$c->send("BDAT 100 LAST\r\n0123456789");
	my $t0 = time;
	my ($eof, $data, $secs) = drain($c, 10);
	like($data, qr/\A421 4\.4\.2 /, 'BDAT timeout: 421 4.4.2 while octets are missing') or diag(esc($data));
	ok($secs >= 1.5 && $secs <= 5, sprintf('BDAT timeout: after ~2 s (data_timeout), took %.1f s', $secs));
	ok($eof, 'BDAT timeout: connection closed');
	$c->close;
	is(nmsgs($lsrv), 1, 'BDAT timeout: nothing stored');
	is($lsrv->stop, 0, 'limits server exits 0');
}

# ---------------------------------------------------------------------------
# Banner
{
	my $bdir = Postern::Test::workdir();
	my $bsrv = Postern::Test->start(dir => $bdir, config => { server => { banner => 'mail service ready' } });
	my $c = $bsrv->connect;
	is(esc($c->greeting), esc("220 mx.test mail service ready\r\n"), 'banner: 220 mx.test mail service ready');
	$c->quit;
	is($bsrv->stop, 0, 'banner server exits 0');
}

# ---------------------------------------------------------------------------
# PROXY protocol

my $SIG2 = "\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a";
sub v2 { my ($cmd, $fam, $body) = @_; return $SIG2 . chr(0x20 | $cmd) . chr($fam) . pack('n', length $body) . $body }
sub v2_tcp4 { my ($src, $dst, $sp, $dp, $tlv) = @_; return v2(1, 0x11, inet_aton($src) . inet_aton($dst) . pack('nn', $sp, $dp) . ($tlv // '')) }
sub v2_tcp6 { my ($src, $dst, $sp, $dp) = @_; return v2(1, 0x21, inet_pton(AF_INET6, $src) . inet_pton(AF_INET6, $dst) . pack('nn', $sp, $dp)) }

my $pdir = Postern::Test::workdir();
my ($pdata) = write_hooks($pdir);
my $psrv = Postern::Test->start(dir => $pdir, endpoints => ['px'],
    config => { px => { proxy_protocol => 'yes', proxy_trusted => '127.0.0.1/32' },
	limits => { command_timeout => 2 }, hooks => { data => $pdata } });
my $pport = $psrv->port('px');

# Send HEADER (optionally in two parts), then a whole message; returns
# { greeting, reply, env, stored, sockport }.
sub proxied {
	my ($header, %o) = @_;
	my $m = mark($psrv);
	my $c = Postern::Test::Client->new($pport, no_greeting => 1);
	my %r = (sockport => $c->sock->sockport);
	if ($o{split}) {
		setsockopt($c->sock, IPPROTO_TCP, TCP_NODELAY, 1);
		$c->send(substr($header, 0, $o{split}));
		sleep 0.2;
		$c->send(substr($header, $o{split}));
	} else {
		$c->send($header);
	}
	$r{greeting} = $c->reply(10) // '';
	if ($r{greeting} =~ /^220 /) {
		$r{reply} = $c->send_message(to => ['bob@example.org']) // '';
		$c->quit;
	} else {
		$c->close;
	}
	my $n = since($psrv, $m);
	$r{env} = $n->{denv}[0] // {};
	$r{stored} = slurp($n->{msgs}[0]) // '';
	return \%r;
}

sub check_proxied {
	my ($what, $r, $addr, $port, $saddr, $sport) = @_;
	like($r->{greeting}, qr/^220 mx\.test /, "$what: greeting after the header");
	like($r->{reply}, qr/^250 2\.0\.0 /, "$what: message accepted");
	is($r->{env}{POSTERN_CLIENT_ADDR}, $addr, "$what: POSTERN_CLIENT_ADDR=$addr");
	is($r->{env}{POSTERN_CLIENT_PORT}, $port, "$what: POSTERN_CLIENT_PORT=$port");
	is($r->{env}{TCPREMOTEIP}, $addr, "$what: TCPREMOTEIP=$addr");
	is($r->{env}{TCPREMOTEPORT}, $port, "$what: TCPREMOTEPORT=$port");
	if (defined $saddr) {
		is($r->{env}{POSTERN_SERVER_ADDR}, $saddr, "$what: POSTERN_SERVER_ADDR=$saddr");
		is($r->{env}{POSTERN_SERVER_PORT}, $sport, "$what: POSTERN_SERVER_PORT=$sport");
	}
	my $lit = $addr =~ /:/ ? "IPv6:$addr" : $addr;
	like($r->{stored}, qr/\AReceived: from client\.test \(\[\Q$lit\E\]\)/, "$what: Received header says [$lit]");
}

{
	my $r = proxied("PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\n");
	check_proxied('v1 TCP4', $r, '192.0.2.7', 40000, '198.51.100.1', 25);
	ok($psrv->wait_log(qr/connect from \[192\.0\.2\.7\]:40000 to px/, 5), 'v1 TCP4: log says "connect from [192.0.2.7]:40000"');

	$r = proxied("PROXY TCP6 2001:db8::7 2001:db8::1 40001 587\r\n");
	check_proxied('v1 TCP6', $r, '2001:db8::7', 40001, '2001:db8::1', 587);

	$r = proxied("PROXY UNKNOWN\r\n");
	check_proxied('v1 UNKNOWN', $r, '127.0.0.1', $r->{sockport}, '127.0.0.1', $pport);
	$r = proxied("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n");
	check_proxied('v1 UNKNOWN with (ignored) addresses', $r, '127.0.0.1', $r->{sockport});

	$r = proxied(v2_tcp4('192.0.2.8', '198.51.100.2', 40002, 25));
	check_proxied('v2 PROXY TCP4', $r, '192.0.2.8', 40002, '198.51.100.2', 25);

	$r = proxied(v2_tcp6('2001:db8::8', '2001:db8::2', 40003, 25));
	check_proxied('v2 PROXY TCP6', $r, '2001:db8::8', 40003, '2001:db8::2', 25);

	# PP2_TYPE_NOOP (0x04) and PP2_TYPE_AUTHORITY (0x02) TLVs after the addresses
	$r = proxied(v2_tcp4('192.0.2.9', '198.51.100.3', 40004, 25, "\x04\x00\x02ab\x02\x00\x07mx.test"));
	check_proxied('v2 PROXY TCP4 with TLVs', $r, '192.0.2.9', 40004, '198.51.100.3', 25);

	$r = proxied(v2(1, 0x00, ''));
	check_proxied('v2 PROXY UNSPEC', $r, '127.0.0.1', $r->{sockport}, '127.0.0.1', $pport);

	my $f8 = join ':', ('ffff') x 8;
	$r = proxied("PROXY TCP6 $f8 $f8 65535 65535\r\n");
	check_proxied('v1 TCP6 of the longest form (104 octets)', $r, $f8, 65535, $f8, 65535);
	$r = proxied("PROXY UNKNOWN $f8 $f8 65535 65535\r\n");
	check_proxied('v1 UNKNOWN of the maximal 107 octets', $r, '127.0.0.1', $r->{sockport});

	$r = proxied(v2(0, 0x00, ''));
	check_proxied('v2 LOCAL (health check)', $r, '127.0.0.1', $r->{sockport}, '127.0.0.1', $pport);
	$r = proxied(v2(0, 0x11, inet_aton('192.0.2.66') . inet_aton('198.51.100.66') . pack('nn', 4066, 25)));
	check_proxied('v2 LOCAL with addresses (ignored)', $r, '127.0.0.1', $r->{sockport});

	$r = proxied(v2_tcp4('192.0.2.10', '198.51.100.4', 40005, 25), split => 7);
	check_proxied('v2 split after 7 bytes, 200 ms pause', $r, '192.0.2.10', 40005);
	$r = proxied("PROXY TCP4 192.0.2.11 198.51.100.5 40006 25\r\n", split => 9);
	check_proxied('v1 split after 9 bytes, 200 ms pause', $r, '192.0.2.11', 40006);
}

# Malformed headers from the trusted peer: closed without a greeting.
{
	my @bad = (
		['v1 with 999.1.1.1', "PROXY TCP4 999.1.1.1 198.51.100.1 40000 25\r\n", qr/bad address or port/],
		['v1 ended by LF only', "PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\n", qr/not ended by CRLF/],
		['v1 without an end of line, then silence', "PROXY TCP4 192.0.2.7 198.51.100.1 40000 25", qr/too slow/],
		['v1 line of 200 bytes', 'PROXY TCP4 ' . ('1' x 187) . "\r\n", qr/longer than/],
		['v1 TCP4 with an IPv6 address', "PROXY TCP4 2001:db8::7 198.51.100.1 40000 25\r\n", qr/bad address/],
		['v1 port 65536', "PROXY TCP4 192.0.2.7 198.51.100.1 65536 25\r\n", qr/bad address or port/],
		['v1 lower-case "proxy"', "proxy TCP4 192.0.2.7 198.51.100.1 40000 25\r\n", qr/got something else/],
		['bad v2 signature', "\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0b\x21\x11\x00\x0c" . ("\x01" x 12), qr/bad PROXY v2 signature/],
		['v2 length beyond the bytes sent, then silence', "$SIG2\x21\x11\x00\x0c\xc0\x00\x02\x07", qr/v2 addresses too slow/],
		['v2 version 3', "$SIG2\x31\x11\x00\x0c" . ("\x01" x 12), qr/version 3/],
		['v2 UDP (Postern accepts TCP only)', "$SIG2\x21\x12\x00\x0c" . ("\x01" x 12), qr/not TCP/],
		['v2 unassigned command 2', "$SIG2\x22\x11\x00\x0c" . ("\x01" x 12), qr/unknown PROXY v2 command/],
		['v2 TCP4 with a short address block', "$SIG2\x21\x11\x00\x04\xc0\x00\x02\x07", qr/too short/],
		['no header at all (plain EHLO)', "EHLO client.test\r\n", qr/got something else/],
		['no header at all (silence)', '', qr/no PROXY header \(timeout\)/],
	);
	for my $case (@bad) {
		my ($what, $bytes, $logre) = @$case;
		my $before = length $psrv->log_text;
		my $c = Postern::Test::Client->new($pport, no_greeting => 1);
		$c->send($bytes) if length $bytes;
		my ($eof, $data, $secs) = drain($c, 8);
		ok($eof && $data eq '', sprintf('malformed, %s: closed without a greeting (%.1f s)', $what, $secs))
		    or diag('received: ' . esc($data) . ($eof ? '' : ' (still open)'));
		ok($secs < 5, "malformed, $what: closed within the command_timeout bound");
		$c->close;
		my $ok = 0;
		for (1 .. 40) {
			last if ($ok = substr($psrv->log_text, $before) =~ /proxy \[127\.0\.0\.1\]:\d+ on px: .*$logre.*connection closed/);
			sleep 0.05;
		}
		ok($ok, "malformed, $what: the log says why") or diag(substr($psrv->log_text, $before));
	}
}

# proxy-protocol.txt 2.1: "exactly one space" between fields, ports and
# IPv4 octets without heading zeroes, and "any sequence which does not
# exactly match the protocol must be discarded and cause the receiver to
# abort the connection".
{
	my @strict = (
		['v1 port with a heading zero', "PROXY TCP4 192.0.2.7 198.51.100.1 040000 25\r\n"],
		['v1 IPv4 octet with a heading zero', "PROXY TCP4 192.0.2.07 198.51.100.1 40000 25\r\n"],
		['v1 with two spaces between fields', "PROXY TCP4  192.0.2.7 198.51.100.1 40000 25\r\n"],
		['v1 with a space before the CRLF', "PROXY TCP4 192.0.2.7 198.51.100.1 40000 25 \r\n"],
		['v1 port with a "+" sign', "PROXY TCP4 192.0.2.7 198.51.100.1 +40000 25\r\n"],
		['v1 port "-0"', "PROXY TCP4 192.0.2.7 198.51.100.1 -0 25\r\n"],
		['v1 "PROXY" alone', "PROXY\r\n"],
	);
	for my $case (@strict) {
		my ($what, $bytes) = @$case;
		my $c = Postern::Test::Client->new($pport, no_greeting => 1);
		$c->send($bytes);
		my ($eof, $data, $secs) = drain($c, 1.5);
		ok($eof && $data eq '', "malformed, $what: closed without a greeting")
		    or diag('header ' . esc($bytes) . ' got: ' . esc($data) . ($eof ? '' : ' (still open)'));
		$c->close;
	}
}

# An untrusted peer (127.0.0.2) is served directly; its PROXY line is no command.
{
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $pport, LocalAddr => '127.0.0.2',
	    Proto => 'tcp', Timeout => 10);
	SKIP: {
		skip "cannot bind 127.0.0.2: $!", 7 unless $sock;
		my $m = mark($psrv);
		my $myport = $sock->sockport;
		my $c = client_on($sock);
		like($c->greeting // '', qr/^220 mx\.test /, 'untrusted peer: greeted at once, no header expected');
		like($c->cmd('PROXY TCP4 1.2.3.4 198.51.100.1 40000 25'), qr/^500 5\.5\.2 /, 'untrusted peer: its PROXY line -> 500 5.5.2');
		like($c->send_message(to => ['bob@example.org']) // '', qr/^250 /, 'untrusted peer: message accepted');
		$c->quit;
		my $n = since($psrv, $m);
		my $e = $n->{denv}[0] // {};
		is($e->{POSTERN_CLIENT_ADDR}, '127.0.0.2', 'untrusted peer: the PROXY line is not honored (hook sees 127.0.0.2)');
		is($e->{TCPREMOTEIP}, '127.0.0.2', 'untrusted peer: TCPREMOTEIP=127.0.0.2');
		is($e->{POSTERN_CLIENT_PORT}, $myport, 'untrusted peer: POSTERN_CLIENT_PORT is its own source port');
		like(slurp($n->{msgs}[0]) // '', qr/\AReceived: from client\.test \(\[127\.0\.0\.2\]\)/, 'untrusted peer: Received says [127.0.0.2]');
	}
}

# ---------------------------------------------------------------------------
# A real HAProxy in front, with send-proxy and send-proxy-v2.
SKIP: {
	my ($haproxy) = grep { -x $_ } '/usr/sbin/haproxy', '/usr/local/sbin/haproxy';
	skip 'haproxy is not installed (apt-get install haproxy)', 16 unless $haproxy;
	for my $mode ('send-proxy', 'send-proxy-v2') {
		my $hdir = Postern::Test::workdir();
		my $fport = Postern::Test::free_port();
		open my $f, '>', "$hdir/haproxy.cfg" or die $!;
		print $f <<"EOC";
global
	pidfile $hdir/haproxy.pid
	maxconn 100

defaults
	mode tcp
	timeout connect 5s
	timeout client 20s
	timeout server 20s

frontend fe
	bind 127.0.0.1:$fport
	default_backend be

backend be
	server s1 127.0.0.1:$pport $mode
EOC
		close $f;
		my $hpid = fork // die "fork: $!";
		if ($hpid == 0) {
			open STDIN, '<', '/dev/null';
			open STDOUT, '>', "$hdir/haproxy.log";
			open STDERR, '>&', \*STDOUT;
			exec $haproxy, '-f', "$hdir/haproxy.cfg", '-db' or POSIX::_exit(127);
		}
		my $up = 0;
		for (1 .. 200) {
			last if waitpid($hpid, WNOHANG) == $hpid;
			my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $fport, Proto => 'tcp', Timeout => 2);
			if ($s) {
				# the probe goes through to posternd: read its greeting
				my $g = client_on($s);
				$g->quit;
				$up = 1;
				last;
			}
			sleep 0.05;
		}
		ok($up, "haproxy $mode: listening") or diag(slurp("$hdir/haproxy.log"));
		if ($up) {
			my $m = mark($psrv);
			my $c = Postern::Test::Client->new($fport);
			my $myport = $c->sock->sockport;
			like($c->greeting // '', qr/^220 mx\.test /, "haproxy $mode: posternd greets through haproxy");
			like($c->send_message(to => ['bob@example.org']) // '', qr/^250 2\.0\.0 /, "haproxy $mode: message accepted");
			$c->quit;
			my $n = since($psrv, $m);
			my $e = $n->{denv}[0] // {};
			is($e->{POSTERN_CLIENT_ADDR}, '127.0.0.1', "haproxy $mode: POSTERN_CLIENT_ADDR=127.0.0.1");
			is($e->{POSTERN_CLIENT_PORT}, $myport, "haproxy $mode: POSTERN_CLIENT_PORT is the client's own source port ($myport), not haproxy's");
			is($e->{POSTERN_SERVER_PORT}, $fport, "haproxy $mode: POSTERN_SERVER_PORT is haproxy's frontend port");
			like(slurp($n->{msgs}[0]) // '', qr/\AReceived: from client\.test \(\[127\.0\.0\.1\]\)/, "haproxy $mode: Received says [127.0.0.1]");
			ok($psrv->wait_log(qr/connect from \[127\.0\.0\.1\]:$myport to px/, 5), "haproxy $mode: log names the client's port");
		} else {
			fail("haproxy $mode: not started") for 1 .. 7;
		}
		kill 'TERM', $hpid;
		my $end = time + 10;
		while (waitpid($hpid, WNOHANG) == 0 && time < $end) { sleep 0.05 }
		if (waitpid($hpid, WNOHANG) == 0) { kill 'KILL', $hpid; waitpid($hpid, 0) }
	}
}
is($psrv->stop, 0, 'proxy server exits 0');

# ---------------------------------------------------------------------------
# Configuration errors (posternd -t)
{
	my $cdir = Postern::Test::workdir();
	my $port = Postern::Test::free_port();
	my $check = sub {
		my ($ep) = @_;
		open my $f, '>', "$cdir/c.conf" or die $!;
		print $f "[server]\nhostname = mx.test\npidfile = $cdir/p.pid\nspool_directory = $cdir\n",
		    ($> == 0 ? "user = nobody\ngroup = nogroup\n" : ''),
		    "[hooks]\ndata = /bin/true\n[px]\nlisten = 127.0.0.1:$port\n$ep";
		close $f;
		my $out = `$Postern::Test::BUILDDIR/posternd -t -c $cdir/c.conf 2>&1`;
		return ($? >> 8, $out);
	};
	my ($st, $out) = $check->("proxy_protocol = yes\nproxy_trusted = 127.0.0.1/32 10.0.0.0/8 ::1/128\n");
	is($st, 0, 'config: proxy_protocol with proxy_trusted is valid (posternd -t exits 0)') or diag($out);
	($st, $out) = $check->("proxy_protocol = yes\n");
	is($st, 1, 'config: proxy_protocol = yes without proxy_trusted -> exit 1');
	like($out, qr/proxy_trusted/, 'config: the error names proxy_trusted') or diag($out);
	($st, $out) = $check->("proxy_protocol = yes\nproxy_trusted = 10.0.0.0/33\n");
	is($st, 1, 'config: proxy_trusted = 10.0.0.0/33 -> exit 1');
	like($out, qr/proxy_trusted/, 'config: the CIDR error names proxy_trusted') or diag($out);
	($st, $out) = $check->("proxy_trusted = 127.0.0.1/32\n");
	is($st, 1, 'config: proxy_trusted without proxy_protocol -> exit 1');
}

note(sprintf('extensions.t took %.1f s', time - $T0));
done_testing;
