#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# smtp-protocol.t - the SMTP protocol engine seen from the wire: command
# sequencing (RFC 5321 4.1.4), reply formats, path syntax and length limits
# (4.1.2, 4.5.3.1), MAIL parameters SIZE and BODY (RFC 1870, RFC 6152), the
# 512-octet command line, recipient and error limits, command and DATA
# timeouts, pipelining (RFC 2920), QUIT and client disconnects.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Postern::Test;

$SIG{PIPE} = 'IGNORE';          # a write after the server closed must not kill us

# "NNN X.Y.Z" (or "NNN" when the reply has no enhanced code) of each reply.
sub codes { [map { defined $_ && /^(\d{3}(?: [245]\.\d{1,3}\.\d{1,3})?)/ ? $1 : ($_ // 'EOF') } @_] }

# Read N replies; EOF reads as undef.
sub replies {
	my ($c, $n, $timeout) = @_;
	return map { scalar $c->reply($timeout // 10) } 1 .. $n;
}

# The connection is at EOF: no further line, then end of file.
sub at_eof {
	my ($c) = @_;
	my $l = $c->line(5);
	return !defined $l && $c->closed(1);
}

my $srv = Postern::Test->start;

# A new session, optionally after EHLO (or HELO).
sub session {
	my ($s, %o) = @_;
	my $c = $s->connect;
	if (my $hello = $o{hello} // 'EHLO client.test') {
		my $r = $c->cmd($hello);
		die "$hello failed: " . ($r // 'EOF') unless defined $r && $r =~ /^250[ -]/;
	}
	return $c;
}

# ---------------------------------------------------------------------------
# 1. Sequencing (RFC 5321 4.1.4)
{
	my $c = session($srv, hello => 0);
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^503 5\.5\.1 /, 'MAIL before EHLO/HELO: 503 5.5.1');
	like($c->cmd('NOOP'), qr/^250 2\.0\.0 /, 'NOOP before EHLO: 250');
	like($c->cmd('RSET'), qr/^250 2\.0\.0 /, 'RSET before EHLO: 250');
	like($c->cmd('VRFY bob'), qr/^252 2\.\d\.\d+ /, 'VRFY before EHLO: 252');
	like($c->cmd('HELP'), qr/^214[ -]2\.0\.0 /, 'HELP before EHLO: 214');
	like($c->cmd('EHLO client.test'), qr/^250 /m, 'EHLO after those commands still works');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^503 5\.5\.1 /, 'RCPT before MAIL: 503 5.5.1');
	like($c->cmd('DATA'), qr/^503 5\.5\.1 /, 'DATA before MAIL: 503 5.5.1');
	like($c->quit, qr/^221 2\.0\.0 /, 'QUIT: 221 2.0.0');
}
{
	my $c = session($srv);
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 2\.1\.0 /, 'MAIL after EHLO: 250 2.1.0');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^503 5\.5\.1 /, 'nested MAIL: 503 5.5.1');
	like($c->cmd('RCPT TO:<b..b@example.org>'), qr/^501 /, '(a recipient that is refused)');
	like($c->cmd('DATA'), qr/^554 5\.5\.1 /, 'DATA with no accepted recipient: 554 5.5.1');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 2\.1\.5 /, 'the transaction is still open after that 554');
	like($c->cmd('RSET'), qr/^250 2\.0\.0 /, 'RSET mid-transaction: 250');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^503 5\.5\.1 /, 'RCPT after RSET: 503 (transaction cleared)');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 2\.1\.0 /, 'MAIL after RSET: 250');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 2\.1\.5 /, 'RCPT: 250 2.1.5');
	like($c->cmd('EHLO again.test'), qr/^250 ENHANCEDSTATUSCODES\r\n\z/m, 'a second EHLO mid-transaction: 250');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^503 5\.5\.1 /, 'RCPT after a second EHLO: 503 (EHLO reset the transaction)');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 2\.1\.0 /, 'MAIL after the second EHLO is not nested: 250');
	$c->quit;
}

# ---------------------------------------------------------------------------
# 2. Replies
{
	my $c = session($srv, hello => 0);
	is($c->cmd('HELO client.test'), "250 mx.test\r\n", 'HELO: a single-line "250 mx.test"');
	my $ehlo = $c->cmd('EHLO client.test') // '';
	my @l = split /(?<=\r\n)/, $ehlo;
	ok(@l >= 2 && !grep({ !/^250-/ } @l[0 .. $#l - 1]) && $l[-1] =~ /^250 \S/,
	    'EHLO: multi-line, "250-" on every line but the last, "250 " on the last') or diag($ehlo);
	like($c->cmd('VRFY x'), qr/^252 2\.\d\.\d+ /, 'VRFY x: 252');
	like($c->cmd('VRFY'), qr/^501 5\.5\.4 /, 'VRFY without an argument: 501 5.5.4');
	like($c->cmd('EXPN staff'), qr/^502 5\.5\.1 /, 'EXPN: 502 5.5.1');
	my $help = $c->cmd('HELP') // '';
	like($help, qr/^214 2\.0\.0 [^\r\n]*\r\n\z/m, 'HELP: 214 2.0.0 (last line)');
	like($c->cmd('FROB x'), qr/^500 5\.5\.2 /, 'unknown command: 500 5.5.2');
	like($c->cmd(''), qr/^500 5\.5\.2 /, 'empty line: 500 5.5.2');
	like($c->cmd('NOOP'), qr/^250 2\.0\.0 /, 'the session goes on after errors');
	$c->quit;
}
{
	my $c = session($srv);
	like($c->cmd('RSET now'), qr/^501 5\.5\.4 /, 'RSET with an argument: 501 5.5.4');
	like($c->cmd('QUIT now'), qr/^501 5\.5\.4 /, 'QUIT with an argument: 501 5.5.4 (and no close)');
	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	like($c->cmd('DATA now'), qr/^501 5\.5\.4 /, 'DATA with an argument: 501 5.5.4 (no 354)');
	like($c->cmd('EHLO'), qr/^501 5\.5\.4 /, 'EHLO without an argument: 501 5.5.4');
	like($c->cmd('RCPT TO:<carol@example.org>'), qr/^250 2\.1\.5 /, 'a rejected EHLO leaves the transaction alone');
	like($c->cmd('NOOP'), qr/^250 2\.0\.0 /, 'the session is still open');
	$c->quit;
}
{
	my $c = session($srv);
	like($c->cmd('STARTTLS'), qr/^502 5\.5\.1 /, 'STARTTLS (not offered): 502 5.5.1');
	like($c->cmd('AUTH PLAIN AGJvYgBwdw=='), qr/^503 5\.5\.1 /, 'AUTH on an endpoint with auth = none: 503 5.5.1');
	like($c->cmd('BDAT 0 LAST'), qr/^503 5\.5\.1 /, 'BDAT without MAIL: 503 5.5.1');
	like($c->cmd('NOOP'), qr/^250 2\.0\.0 /, 'BDAT 0 LAST read no data: the next command is a command');
	$c->quit;
}

# ---------------------------------------------------------------------------
# 3. Syntax of paths and command lines
my $dom190 = join('.', 'd' x 63, 'd' x 63, 'd' x 62);      # 190 octets
my $dom189 = join('.', 'd' x 63, 'd' x 63, 'd' x 61);      # 189 octets
{
	my $c = session($srv);
	like($c->cmd('MAIL FROM:alice@example.org'), qr/^501 5\.5\.4 /, 'MAIL FROM without angle brackets: 501 5.5.4');
	like($c->cmd('MAIL FROM:<a..b@x>'), qr/^501 5\.1\.7 /, 'bad sender address <a..b@x>: 501 5.1.7');
	like($c->cmd('MAIL FROM:<>'), qr/^250 2\.1\.0 /, 'MAIL FROM:<> (null reverse-path): 250');
	like($c->cmd('RCPT TO:<b..b@example.org>'), qr/^501 5\.1\.3 /, 'bad recipient address: 501 5.1.3');
	like($c->cmd('RCPT TO:<Postmaster>'), qr/^250 2\.1\.5 /, 'RCPT TO:<Postmaster>: 250');
	like($c->cmd('RCPT TO:<postmaster>'), qr/^250 2\.1\.5 /, 'RCPT TO:<postmaster>: 250');
	like($c->cmd('RCPT TO:<@a.example,@b.example:bob@example.org>'), qr/^250 2\.1\.5 /, 'source route: accepted');
	like($c->cmd('RCPT TO:<"john doe"@example.org>'), qr/^250 2\.1\.5 /, 'quoted local part "john doe": accepted');
	like($c->cmd('RCPT TO:<' . ('a' x 64) . '@example.org>'), qr/^250 2\.1\.5 /, '64-octet local part: accepted');
	like($c->cmd('RCPT TO:<' . ('a' x 65) . '@example.org>'), qr/^501 5\.(?:5\.4|1\.3) /, '65-octet local part: 501');
	$c->quit;
}
{
	my $c = session($srv);
	$c->cmd('MAIL FROM:<alice@example.org>');
	my $p256 = '<' . ('a' x 64) . '@' . $dom189 . '>';
	my $p257 = '<' . ('a' x 64) . '@' . $dom190 . '>';
	die 'path lengths' unless length($p256) == 256 && length($p257) == 257;
	like($c->cmd("RCPT TO:$p256"), qr/^250 2\.1\.5 /, 'a 256-octet path (with the brackets): accepted');
	like($c->cmd("RCPT TO:$p257"), qr/^501 5\.(?:5\.4|1\.3) /, 'a 257-octet path: 501');
	like($c->cmd("NOOP a\0b"), qr/^500 5\.5\.2 /, 'a NUL byte inside a command: 500 5.5.2');
	like($c->cmd("RCPT TO:<bo\0b\@example.org>"), qr/^500 5\.5\.2 /, 'a NUL byte inside an address: 500 5.5.2');
	like($c->cmd("RCPT TO:<b\xe9b\@example.org>"), qr/^501 5\.5\.2 /, 'a byte that is not UTF-8 in RCPT: 501 5.5.2');
	like($c->cmd("NOOP \xc3\xa9"), qr/^500 5\.5\.2 /, 'an 8-bit byte in another command: 500 5.5.2');
	like($c->cmd("RCPT\tTO:<bob\@example.org>"), qr/^500 5\.5\.2 /, 'a tab in a command: 500 5.5.2');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 2\.1\.5 /, 'the transaction survived the bad lines');
	$c->quit;
}

# ---------------------------------------------------------------------------
# 4. MAIL and RCPT parameters
{
	my $c = session($srv);
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=100'), qr/^250 2\.1\.0 /, 'SIZE=100: accepted');
	$c->cmd('RSET');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=26214400'), qr/^250 2\.1\.0 /, 'SIZE equal to the limit: accepted');
	$c->cmd('RSET');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=26214401'), qr/^552 5\.3\.4 /, 'SIZE over the limit: 552 5.3.4');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=abc'), qr/^501 5\.5\.4 /, 'SIZE=abc: 501 5.5.4');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=99999999999999999999999'), qr/^552 5\.3\.4 /,
	    'SIZE that overflows 64 bits: 552 5.3.4');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=10 SIZE=10'), qr/^501 5\.5\.4 /, 'duplicate SIZE: 501 5.5.4');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^503 5\.5\.1 /, 'a refused MAIL opens no transaction');
	like($c->cmd('MAIL FROM:<alice@example.org> BODY=8BITMIME'), qr/^250 2\.1\.0 /, 'BODY=8BITMIME: accepted');
	$c->cmd('RSET');
	like($c->cmd('MAIL FROM:<alice@example.org> BODY=7BIT'), qr/^250 2\.1\.0 /, 'BODY=7BIT: accepted');
	$c->cmd('RSET');
	like($c->cmd('MAIL FROM:<alice@example.org> BODY=BINARYMIME'), qr/^250 /, 'BODY=BINARYMIME (with CHUNKING): 250');
	$c->cmd('RSET');
	like($c->cmd('MAIL FROM:<alice@example.org> BODY=9BIT'), qr/^501 5\.5\.4 /, 'BODY=9BIT: 501 5.5.4');
	like($c->quit, qr/^221 /, 'still under max_errors');
}
{
	my $c = session($srv);
	like($c->cmd('MAIL FROM:<alice@example.org> FOO=bar'), qr/^555 5\.5\.4 /, 'unknown MAIL parameter FOO=bar: 555 5.5.4');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=100 BODY=8BITMIME'), qr/^250 2\.1\.0 /, 'SIZE and BODY together: accepted');
	like($c->cmd('RCPT TO:<bob@example.org> FOO=1'), qr/^555 5\.5\.4 /, 'an unknown RCPT parameter (FOO=1): 555 5.5.4');
	like($c->cmd('RCPT TO:<bob@example.org> FOO'), qr/^555 5\.5\.4 /, 'any RCPT parameter (FOO): 555 5.5.4');
	$c->quit;
}
{
	my $c = session($srv, hello => 'HELO client.test');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=100'), qr/^555 5\.5\.4 /, 'MAIL parameters after HELO (not EHLO): 555 5.5.4');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 2\.1\.0 /, 'MAIL without parameters after HELO: 250');
	$c->quit;
}

# ---------------------------------------------------------------------------
# 5. Command line length
{
	my $c = session($srv);
	my $l512 = 'NOOP ' . ('x' x 505) . "\r\n";
	die 'length' unless length($l512) == 512;
	$c->send($l512);
	like($c->reply, qr/^250 2\.0\.0 /, 'a 512-octet command line (with CRLF): 250');
	$c->send('NOOP ' . ('x' x 506) . "\r\n");
	like($c->reply, qr/^500 5\.5\.2 /, 'a 513-octet command line: 500 5.5.2');
	like($c->cmd('NOOP'), qr/^250 2\.0\.0 /, 'after the 513-octet line the session goes on');
	$c->send('x' x 65536);
	sleep 0.2;
	$c->send("\r\n");
	like($c->reply, qr/^500 5\.5\.2 /, 'a 64 KiB line: 500 5.5.2');
	like($c->cmd('NOOP'), qr/^250 2\.0\.0 /, 'exactly one reply to the 64 KiB line, and the session goes on');

	# 10 MB without a newline: the worker discards it with bounded memory.
	my $chunk = 'y' x 65536;
	my $ok = 1;
	for (1 .. 160) { $ok &&= $c->send($chunk); }
	ok($ok, '10 MB without a newline written (the server keeps reading)');
	sleep 0.3;
	my %mem;
	for my $pid ($srv->worker_pids) {
		open my $f, '<', "/proc/$pid/status" or next;
		local $/;
		my $st = <$f>;
		my ($rss) = $st =~ /^VmRSS:\s+(\d+) kB/m;
		my ($hwm) = $st =~ /^VmHWM:\s+(\d+) kB/m;
		$mem{$pid} = [$rss // 0, $hwm // 0];
	}
	ok(%mem && !grep({ $_->[0] >= 20 * 1024 || $_->[1] >= 20 * 1024 } values %mem),
	    'every worker stays under 20 MB (VmRSS and peak VmHWM) while the 10 MB line arrives')
	    or diag(join ', ', map { "pid $_: rss $mem{$_}[0] kB, hwm $mem{$_}[1] kB" } sort keys %mem);
	$c->send("\r\n");
	like($c->reply, qr/^500 5\.5\.2 /, 'the 10 MB line: 500 5.5.2');
	like($c->cmd('NOOP'), qr/^250 2\.0\.0 /, 'exactly one reply to the 10 MB line, and the session goes on');
	$c->quit;
}

# ---------------------------------------------------------------------------
# 6b. The default max_recipients (100), pipelined
{
	my $c = session($srv);
	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->send(join '', map { "RCPT TO:<user$_\@example.org>\r\n" } 1 .. 101);
	my @r = replies($c, 101);
	my $codes = codes(@r);
	is(scalar(grep { $_ eq '250 2.1.5' } @$codes[0 .. 99]), 100, 'default limit: 100 pipelined RCPTs accepted, in order');
	is($codes->[100], '452 4.5.3', 'the 101st RCPT: 452 4.5.3');
	like($c->cmd('DATA'), qr/^354 /, 'DATA after the 452: 354 (the first 100 are kept)');
	$c->send("Subject: hundred\r\n\r\nx\r\n.\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, 'the message to 100 recipients is accepted');
	$c->quit;
}

# ---------------------------------------------------------------------------
# 9. Pipelining (RFC 2920)
{
	my $before = () = $srv->messages;
	my $c = session($srv);
	$c->send("MAIL FROM:<alice\@example.org>\r\nRCPT TO:<bob\@example.org>\r\n"
	    . "RCPT TO:<carol\@example.org>\r\nRCPT TO:<dave\@example.org>\r\nDATA\r\n");
	is_deeply(codes(replies($c, 5)), ['250 2.1.0', '250 2.1.5', '250 2.1.5', '250 2.1.5', '354'],
	    'MAIL, 3 RCPT, DATA in one write: 250 250 250 250 354, in order');
	$c->send("Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n");
	is_deeply(codes(replies($c, 2)), ['250 2.0.0', '221 2.0.0'], 'text, "." and QUIT in one write: 250 then 221');
	ok(at_eof($c), 'the server closes after 221');
	my @m = $srv->messages;
	is(scalar(@m) - $before, 1, 'one message stored');
}
{
	my $before = () = $srv->messages;
	my $c = $srv->connect;
	$c->send("EHLO client.test\r\nMAIL FROM:<alice\@example.org>\r\nRCPT TO:<bob\@example.org>\r\n"
	    . "DATA\r\nSubject: one write\r\n\r\nall in one segment\r\n.\r\nQUIT\r\n");
	my @r = replies($c, 6);
	like($r[0] // '', qr/^250-mx\.test\r\n(?:250-.*\r\n)*250 ENHANCEDSTATUSCODES\r\n\z/, 'one-write session: the EHLO reply first, whole');
	is_deeply(codes(@r[1 .. 5]), ['250 2.1.0', '250 2.1.5', '354', '250 2.0.0', '221 2.0.0'],
	    'one-write session: MAIL, RCPT, DATA, end of data, QUIT answered in order');
	ok(at_eof($c), 'and the connection closes');
	my @m = $srv->messages;
	is(scalar(@m) - $before, 1, 'the one-write session stored one message');
	my ($new) = grep { Postern::Test::slurp($_) =~ /^Subject: one write\n\nall in one segment\n\z/m } @m;
	ok($new, 'its text is intact');
}
{
	my $c = session($srv);
	$c->send("NOOP\r\nNOOP\r\nNOOP\r\n");
	is_deeply(codes(replies($c, 3, 5)), ['250 2.0.0', '250 2.0.0', '250 2.0.0'], 'NOOP x3 in one write: three replies');
	$c->send("RSET\r\nMAIL FROM:<alice\@example.org>\r\nMAIL FROM:<alice\@example.org>\r\nRCPT TO:<x..y\@example.org>\r\nRCPT TO:<bob\@example.org>\r\nNOOP\r\n");
	is_deeply(codes(replies($c, 6, 5)), ['250 2.0.0', '250 2.1.0', '503 5.5.1', '501 5.1.3', '250 2.1.5', '250 2.0.0'],
	    'a pipelined group with errors: one reply per command, in order');
	$c->quit;
}

# ---------------------------------------------------------------------------
# 10. Nothing is read after QUIT
{
	my $c = session($srv);
	$c->send("QUIT\r\nNOOP\r\n");
	like($c->reply, qr/^221 2\.0\.0 /, 'QUIT and NOOP in one write: 221');
	ok(at_eof($c), 'then EOF: no reply to the NOOP after QUIT');
}

# ---------------------------------------------------------------------------
# 11. Client disconnect mid-transaction
{
	my $before = () = $srv->messages;
	my $c = session($srv);
	$c->cmd('MAIL FROM:<alice@example.org>');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 /, '(transaction open)');
	$c->close;
	ok($srv->wait_log(qr/lost connection during the transaction/, 10), 'the server notices the disconnect');
	my $after = () = $srv->messages;
	is($after, $before, 'a disconnect mid-transaction stores no message');
	my $d = $srv->connect;
	like($d->send_message(data => "Subject: after\r\n\r\nx\r\n"), qr/^250 2\.0\.0 /, 'the server still serves a new connection');
	$d->quit;
	$after = () = $srv->messages;
	is($after, $before + 1, 'and only that message was stored');
}

is($srv->stop, 0, 'posternd exits 0 on SIGTERM');

# ---------------------------------------------------------------------------
# A server with small limits.  Its data hook records the recipient list
# (fd 3) next to the Maildir delivery.
my $dir = Postern::Test::workdir();
my $hook = Postern::Test::write_script($dir, 'data-hook', <<"EOF");
#!/bin/sh
cat <&3 > $dir/rcpts.\$\$ || exit 75
exec $dir/postern-maildir $dir/Maildir
EOF
my $lim = Postern::Test->start(dir => $dir, config => {
	limits => { max_recipients => 5, max_errors => 3, command_timeout => 2, data_timeout => 2,
		max_message_size => 1000 },
	hooks => { data => $hook },
});

# 4 (second server). SIZE against max_message_size = 1000
{
	my $c = $lim->connect;
	like($c->cmd('EHLO client.test'), qr/^250-SIZE 1000\r\n/m, 'EHLO advertises SIZE 1000');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=1000'), qr/^250 2\.1\.0 /, 'SIZE=1000 with a 1000-octet limit: accepted');
	$c->cmd('RSET');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=1001'), qr/^552 5\.3\.4 /, 'SIZE=1001 with a 1000-octet limit: 552 5.3.4');
	$c->quit;
}

# 6. max_recipients = 5
{
	my $c = $lim->connect;
	$c->cmd('EHLO client.test');
	$c->cmd('MAIL FROM:<alice@example.org>');
	my @r = map { scalar $c->cmd("RCPT TO:<r$_\@example.org>") } 1 .. 5;
	is_deeply(codes(@r), [('250 2.1.5') x 5], 'max_recipients=5: five RCPTs accepted');
	like($c->cmd('RCPT TO:<r6@example.org>'), qr/^452 4\.5\.3 /, 'the sixth RCPT: 452 4.5.3');
	like($c->cmd('DATA'), qr/^354 /, 'DATA after the 452: 354');
	$c->send("Subject: five\r\n\r\nfive recipients\r\n.\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, 'the message is accepted: 250 2.0.0');
	$c->quit;
	is(scalar(() = $lim->messages), 1, 'one message in the Maildir');
	opendir(my $dh, $dir) or die "$dir: $!";
	my @rf = map { "$dir/$_" } grep { /^rcpts\./ } readdir $dh;
	my $rcpts = @rf == 1 ? Postern::Test::slurp($rf[0]) : '';
	is($rcpts, join('', map { "r$_\@example.org\n" } 1 .. 5), 'the data hook got the first five recipients, not the sixth');
}

# 7. max_errors = 3
{
	my $c = $lim->connect;
	my @r = map { scalar $c->cmd("JUNK$_") } 1 .. 3;
	is_deeply(codes(@r), [('500 5.5.2') x 3], 'three unknown commands: 500 5.5.2 each');
	like($c->reply(5), qr/^421 4\.7\.0 /, 'the third error is followed by 421 4.7.0');
	ok(at_eof($c), 'and the server closes the connection');
}

# 8. Timeouts
{
	my $c = $lim->connect;
	$c->cmd('EHLO client.test');
	my $t0 = time;
	my $r = $c->reply(8);
	my $dt = time - $t0;
	like($r, qr/^421 4\.4\.2 /, 'command_timeout=2: idle after EHLO gets 421 4.4.2');
	ok($dt > 1.5 && $dt < 4.5, sprintf('the 421 comes after about 2 s (%.2f s)', $dt));
	ok(at_eof($c), 'and the connection closes');
}
{
	my $c = $lim->connect;
	$c->cmd('EHLO client.test');
	my $t0 = time;
	my @bytes = split //, 'NOOP ' . ('z' x 15);
	my $r;
	for my $b (@bytes) {
		$c->send($b) or last;
		last if defined($r = $c->reply(0.5));
	}
	$r //= $c->reply(3);
	my $dt = time - $t0;
	like($r, qr/^421 4\.4\.2 /, 'slowloris (one byte every 0.5 s, no newline): 421 4.4.2');
	ok($dt < 4.0, sprintf('cut by the per-command deadline, not extended by each byte (%.2f s)', $dt));
	ok(at_eof($c), 'and the connection closes');
}
{
	my $before = () = $lim->messages;
	my $c = $lim->connect;
	$c->cmd('EHLO client.test');
	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	like($c->cmd('DATA'), qr/^354 /, 'DATA: 354');
	$c->send("Subject: never finished\r\n\r\npartial");
	my $t0 = time;
	my $r = $c->reply(8);
	my $dt = time - $t0;
	like($r, qr/^421 4\.4\.2 /, 'data_timeout=2: a stalled DATA gets 421 4.4.2');
	ok($dt > 1.0 && $dt < 4.5, sprintf('after about 2 s (%.2f s)', $dt));
	ok(at_eof($c), 'and the connection closes');
	my $after = () = $lim->messages;
	is($after, $before, 'no message stored after the DATA timeout');
}
is($lim->stop, 0, 'the second posternd exits 0 on SIGTERM');

done_testing;
