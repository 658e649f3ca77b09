#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# smtp-data.t - DATA and the message: dot-stuffing both ways, 8-bit and odd
# bytes kept intact, every SMTP smuggling sequence of the 2023 research taken
# as message text, SIZE enforced during DATA with bounded memory, the
# 1000-octet text line limit, the Received trace header, empty and repeated
# messages.  The stored file is what the default data hook (postern-maildir)
# got on stdin: the Received header, then the text with LF line ends.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use Postern::Test qw(slurp esc);

my $LIMIT = 10000;
my $srv = Postern::Test->start(config => { limits => { max_message_size => $LIMIT } });
my $dir = $srv->dir;

my %seen;
# Messages stored since the last call.
sub new_messages { return grep { !$seen{$_}++ } $srv->messages }
# (received header, rest) of a stored message; the header is the first one
# and spans three lines, the 2nd and 3rd starting with a tab.
sub split_received {
	my ($text) = @_;
	return $text =~ /\A(Received: [^\n]*\n\t[^\n]*\n\t[^\n]*\n)(.*)\z/s ? ($1, $2) : (undef, $text);
}
sub lf { my ($t) = @_; $t =~ s/\r\n/\n/g; return $t }

# Open a transaction: EHLO (or HELO), MAIL, RCPTs, DATA; returns the client
# after the 354 (or undef after a failed test).
sub open_data {
	my (%o) = @_;
	my $c = $srv->connect;
	my $r = $c->cmd($o{helo} // 'EHLO client.test');
	my $m = $c->cmd('MAIL FROM:<' . ($o{from} // 'alice@example.org') . '>' . ($o{mail_params} // ''));
	$c->cmd("RCPT TO:<$_>") for @{ $o{to} // ['bob@example.org'] };
	my $d = $c->cmd('DATA');
	return $c if defined $d && $d =~ /^354 /;
	fail("DATA not accepted: " . esc($d // 'EOF'));
	return undef;
}

new_messages();

# ---------------------------------------------------------------- dot-stuffing
{
	# Unstuffed text, then its dot-stuffed wire form.
	my @lines = ('Subject: dots', '', '.', '..', '...', '. space after', '.leading',
	    '..two leading', 'middle . dot', '.', 'x.', ' .indented', '.');
	my $want = join('', map { "$_\n" } @lines);
	my $wire = join('', map { (/^\./ ? ".$_" : $_) . "\r\n" } @lines);

	my $c = open_data();
	$c->send($wire);
	$c->send(".\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, 'dot-stuffed message accepted');
	my @m = new_messages();
	is(scalar @m, 1, 'dot-stuffed message stored once');
	my ($rcv, $body) = split_received(slurp($m[0] // '/dev/null'));
	ok(defined $rcv, 'stored message starts with a 3-line Received header');
	is(esc($body), esc($want), 'dot-stuffed text stored unstuffed, byte for byte, LF line ends');

	# The same text one byte per write: the DATA state machine must not
	# depend on where the reads split the stream.
	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	like($c->cmd('DATA'), qr/^354 /, 'second DATA in the session');
	setsockopt($c->sock, 6, 1, 1);          # TCP_NODELAY
	$c->send($_) for split //, $wire . ".\r\n";
	like($c->reply, qr/^250 2\.0\.0 /, 'dot-stuffed message sent byte by byte accepted');
	@m = new_messages();
	($rcv, $body) = split_received(slurp($m[0] // '/dev/null'));
	is(esc($body), esc($want), 'byte-by-byte: stored text identical');
	$c->quit;
}

# ---------------------------------------------------------------- 8-bit, NUL, bare CR
{
	my $wire = "Subject: bytes\r\n\r\n"
	    . "high: " . join('', map { chr } 0x80 .. 0xff) . "\r\n"
	    . "nul: a\x00b\x00\r\n"
	    . "\x00 at the start\r\n"
	    . "bare cr: a\rb\r\r\n"
	    . "\rcr at the start\r\n"
	    . "bare lf: a\nb\r\n"
	    . "end\r\n";
	my $c = open_data(mail_params => ' BODY=8BITMIME');
	$c->send($wire . ".\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, '8-bit/NUL/bare CR message accepted');
	my @m = new_messages();
	is(scalar @m, 1, '8-bit message stored once');
	my (undef, $body) = split_received(slurp($m[0] // '/dev/null'));
	is(esc($body), esc(lf($wire)), '0x80-0xFF, NUL, bare CR and bare LF stored intact');
	$c->quit;
}

# ---------------------------------------------------------------- SMTP smuggling
{
	my @seqs = ("\n.\n", "\n.\r\n", "\r.\r", "\r.\r\n", "\r\n.\n", "\r\n.\r",
	    "\r\n\x00.\r\n", "\r\n.\x00\r\n", "\r\n.\r\r\n", "\r\r\n.\r\r\n", "\n\n.\r\n");
	my $smuggle = "MAIL FROM:<evil\@x>\r\nRCPT TO:<victim\@y>\r\nDATA\r\n"
	    . "Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n";
	for my $seq (@seqs) {
		for my $quit (0, 1) {
			my $name = 'smuggling ' . esc($seq) . ($quit ? ' + pipelined QUIT' : '');
			my $c = open_data() or next;
			$c->send("Subject: s\r\n\r\nbefore" . $seq . $smuggle);
			$c->send("\r\n.\r\n" . ($quit ? "QUIT\r\n" : ''));
			my @codes;
			if ($quit) {
				# every reply up to the 221 (or EOF)
				while (defined(my $r = $c->reply(10))) {
					push @codes, substr($r, 0, 3);
					last if $r =~ /^221 /;
				}
			} else {
				my $first = $c->reply(10);
				push @codes, substr($first // 'EOF', 0, 3);
				# a sentinel after the first reply: the replies before
				# its 252 answer whatever the server took as commands
				$c->send("VRFY sentinel\r\n");
				while (defined(my $r = $c->reply(10))) {
					last if $r =~ /^252 /;
					push @codes, substr($r, 0, 3);
				}
			}
			my $n250 = grep { $_ eq '250' } @codes;
			is($n250, 1, "$name: exactly one 250") or diag("replies: @codes");
			is($codes[0], '250', "$name: the first reply is the 250 for the message");
			ok(!grep({ $_ eq '354' } @codes), "$name: no second DATA was started");
			if ($quit) {
				is($codes[-1], '221', "$name: 221 for the pipelined QUIT comes last");
			} else {
				$c->quit;
			}
			my @m = new_messages();
			is(scalar @m, 1, "$name: exactly one message stored");
			my (undef, $body) = split_received(slurp($m[0] // '/dev/null'));
			my ($text) = $body =~ /\A.*?\n\n(.*)\z/s;
			$text //= '';
			ok(index($text, "MAIL FROM:<evil\@x>") >= 0 && index($text, "Subject: smuggled") >= 0
			    && $text =~ /^smuggled$/m, "$name: the smuggled commands are body text")
			    or diag('stored: ' . esc($body));
		}
	}
}

# ---------------------------------------------------------------- SIZE during DATA
# A message of exactly N octets on the wire (CRLFs counted, no leading dots,
# not counting the final ".CRLF"), RFC 1870 section 2.
sub sized {
	my ($n) = @_;
	my $s = "Subject: size $n\r\n\r\n";
	$s .= ('y' x 78) . "\r\n" while $n - length($s) >= 160;
	my $r = $n - length $s;
	die "size $n too small" if $r < 4;
	my $a = int($r / 2);
	$s .= ('z' x ($a - 2)) . "\r\n" . ('w' x ($r - $a - 2)) . "\r\n";
	die "sized($n) is " . length($s) unless length($s) == $n;
	return $s;
}

sub hwm_kb {
	my ($pid) = @_;
	open my $f, '<', "/proc/$pid/status" or return undef;
	while (<$f>) { return $1 if /^VmHWM:\s+(\d+)/ }
	return undef;
}
# Size of the worker's (deleted, never linked) spool file.
sub spool_size {
	my ($pid) = @_;
	opendir my $d, "/proc/$pid/fd" or return undef;
	my $max;
	for my $fd (readdir $d) {
		my $l = readlink("/proc/$pid/fd/$fd") // next;
		next unless $l =~ m{^\Q$dir\E/.*\(deleted\)$};
		my $s = -s "/proc/$pid/fd/$fd";
		$max = $s if defined $s && (!defined $max || $s > $max);
	}
	return $max;
}

{
	my $c = open_data() or last;
	$c->send(sized(9000) . ".\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, '9000-octet message accepted under a 10000 limit');
	is(scalar(new_messages()), 1, '9000-octet message stored');

	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	$c->cmd('DATA');
	$c->send(sized($LIMIT) . ".\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, 'a message of exactly the limit is accepted (RFC 1870)');
	is(scalar(new_messages()), 1, 'limit-sized message stored');

	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	$c->cmd('DATA');
	$c->send(sized($LIMIT + 1) . ".\r\n");
	like($c->reply, qr/^552 5\.3\.4 /, '10001-octet message without SIZE: 552 5.3.4 after the dot');
	is(scalar(new_messages()), 0, 'the oversized message is not stored');
	like($c->cmd('RSET'), qr/^250 /, 'RSET after 552 gets 250');
	like($c->send_message(no_ehlo => 1, data => "Subject: after 552\r\n\r\nsmall\r\n"), qr/^250 2\.0\.0 /,
	    'a small message after the 552 is accepted in the same session');
	is(scalar(new_messages()), 1, 'and stored');

	# 100 times the limit: rejected, and neither memory nor the spool grows with it.
	my $pid = $srv->worker_of($c);
	ok($pid, 'found the worker serving the connection');
	my $hwm0 = $pid ? hwm_kb($pid) : undef;
	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	$c->cmd('DATA');
	my $t0 = time;
	$c->send(sized(100 * $LIMIT) . ".\r\n");
	like($c->reply(60), qr/^552 5\.3\.4 /, 'a message 100x the limit: 552 5.3.4');
	my $hwm1 = $pid ? hwm_kb($pid) : undef;
	my $spool = $pid ? spool_size($pid) : undef;
	ok(defined $hwm0 && defined $hwm1 && $hwm1 - $hwm0 < 400,
	    'the worker\'s peak memory did not grow with the message')
	    or diag("VmHWM before " . ($hwm0 // '?') . " kB, after " . ($hwm1 // '?') . " kB");
	ok(!defined $spool || $spool <= 2 * $LIMIT + 4096, 'the spool file did not grow past the limit')
	    or diag("spool file: $spool bytes");
	is(scalar(new_messages()), 0, 'the 1 MB message is not stored');
	like($c->cmd('NOOP'), qr/^250 /, 'session still usable after the 1 MB rejection');

	# SIZE declared at MAIL
	like($c->cmd("MAIL FROM:<alice\@example.org> SIZE=20000"), qr/^552 5\.3\.4 /,
	    'MAIL with SIZE=20000 over the 10000 limit: 552 5.3.4 at MAIL');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^503 /, 'no transaction after the refused MAIL');
	like($c->cmd("MAIL FROM:<alice\@example.org> SIZE=$LIMIT"), qr/^250 /, 'MAIL with SIZE equal to the limit: 250');
	$c->quit;
}

# ---------------------------------------------------------------- text line length
{
	my $c = open_data() or last;
	$c->send("Subject: long\r\n\r\n" . ('L' x 998) . "\r\n.\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, 'a 1000-octet text line (998 + CRLF) is accepted');
	my @m = new_messages();
	my (undef, $body) = split_received(slurp($m[0] // '/dev/null'));
	is($body, "Subject: long\n\n" . ('L' x 998) . "\n", '998-octet line stored whole');

	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	$c->cmd('DATA');
	$c->send("Subject: stuffed long\r\n\r\n.." . ('D' x 997) . "\r\n.\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, 'the dot added by stuffing does not count (998 octets + stuffing dot + CRLF)');
	is(scalar(new_messages()), 1, 'stuffed long line stored');

	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	$c->cmd('DATA');
	$c->send("Subject: too long\r\n\r\n" . ('L' x 999) . "\r\nmore\r\n");
	$c->send(".\r\n");
	like($c->reply, qr/^554 5\.6\.0 /, 'a 1001-octet text line: 554 5.6.0 after the final dot');
	is(scalar(new_messages()), 0, 'the message with the long line is not stored');
	like($c->cmd('RSET'), qr/^250 /, 'RSET after 554 gets 250');
	like($c->send_message(no_ehlo => 1), qr/^250 2\.0\.0 /, 'the session is still usable after the 554');
	is(scalar(new_messages()), 1, 'and the next message is stored');
	$c->quit;
}

# ---------------------------------------------------------------- Received header
{
	my $orig = "Received: from relay.example.net (relay.example.net [192.0.2.1])\r\n"
	    . "\tby mx.example.com with ESMTP id OLD1; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    . "Received: from old.example ([198.51.100.7]) by relay.example.net; Sun, 31 Dec 2023 23:59:59 +0000\r\n"
	    . "Subject: trace\r\n\r\nbody\r\n";
	my $c = $srv->connect;
	my $r = $c->send_message(data => $orig);
	like($r, qr/^250 2\.0\.0 /, 'message with two Received headers accepted');
	my ($qid) = ($r // '') =~ /queued as (\S+)/;
	my @m = new_messages();
	my $stored = slurp($m[0] // '/dev/null');
	my ($rcv, $rest) = split_received($stored);
	ok(defined $rcv, 'a 3-line Received header at the top');
	$rcv //= '';
	is($rest, lf($orig), 'the existing Received headers and the message follow unchanged');
	my $n = () = $stored =~ /^Received:/mg;
	is($n, 3, 'exactly one Received header added');
	like($rcv, qr/^Received: from client\.test \(\[127\.0\.0\.1\]\)\n/, 'from the EHLO name and [127.0.0.1]');
	my $qidq = $qid // "?";
	like($rcv, qr/\tby mx\.test \(Postern\) with ESMTP id \Q$qidq\E\n/, 'with ESMTP after EHLO, and the queue id of the 250');
	like($rcv, qr/\tfor <bob\@example\.org>; \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\n\z/,
	    'for <rcpt> with one recipient, then the date');
	$c->quit;

	$c = $srv->connect;
	like($c->cmd('HELO old.client.test'), qr/^250 /, 'HELO accepted');
	like($c->send_message(no_ehlo => 1), qr/^250 2\.0\.0 /, 'message after HELO accepted');
	@m = new_messages();
	($rcv) = split_received(slurp($m[0] // '/dev/null'));
	$rcv //= '';
	like($rcv, qr/\bwith SMTP\b/, 'with SMTP after HELO');
	unlike($rcv, qr/ESMTP/, 'not ESMTP after HELO');
	like($rcv, qr/^Received: from old\.client\.test \(\[127\.0\.0\.1\]\)/, 'HELO name in the header');
	$c->quit;

	$c = $srv->connect;
	like($c->send_message(to => ['bob@example.org', 'carol@example.org']), qr/^250 2\.0\.0 /,
	    'message to two recipients accepted');
	@m = new_messages();
	is(scalar @m, 1, 'one file for two recipients');
	($rcv) = split_received(slurp($m[0] // '/dev/null'));
	ok(defined $rcv, 'Received header present with two recipients');
	$rcv //= '';
	unlike($rcv, qr/\bfor\b/, 'no "for" clause with two recipients');
	unlike($rcv, qr/bob|carol/, 'no recipient named with two recipients');
	like($rcv, qr/\[127\.0\.0\.1\]/, 'contains [127.0.0.1]');
	$c->quit;
}

# ---------------------------------------------------------------- empty message
{
	my $c = open_data() or last;
	$c->send(".\r\n");
	like($c->reply, qr/^250 2\.0\.0 /, 'empty message (DATA then ".") accepted');
	my @m = new_messages();
	is(scalar @m, 1, 'empty message stored');
	my ($rcv, $rest) = split_received(slurp($m[0] // '/dev/null'));
	ok(defined $rcv, 'it has the Received header');
	is($rest, '', 'and nothing else');
	$c->quit;
}

# ---------------------------------------------------------------- two messages, one session
{
	my $c = $srv->connect;
	my $r1 = $c->send_message(data => "Subject: one\r\n\r\nfirst\r\n");
	my $r2 = $c->send_message(no_ehlo => 1, data => "Subject: two\r\n\r\nsecond\r\n");
	my ($q1) = ($r1 // '') =~ /^250 .*queued as (\S+)/;
	my ($q2) = ($r2 // '') =~ /^250 .*queued as (\S+)/;
	ok(defined $q1 && defined $q2, 'two messages in one session: both 250 with a queue id');
	isnt($q1 // 'x', $q2 // 'x', 'different queue ids');
	like($c->quit, qr/^221 /, 'QUIT after two messages');
	my @m = new_messages();
	is(scalar @m, 2, 'two files');
	my %subj = map { (slurp($_) =~ /^Subject: (\w+)$/m)[0] // '?' => 1 } @m;
	is(join(',', sort keys %subj), 'one,two', 'each file holds its own message');
}

is($srv->stop, 0, 'posternd exits 0 on SIGTERM');
done_testing;
