#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# clients.t - real SMTP clients against posternd: Perl's Net::SMTP (dot
# stuffing, two recipients), swaks with PIPELINING and with an 8-bit data
# file, and curl's SMTP client.  (Python's smtplib is exercised by load.py.)
use strict;
use warnings;
use Test::More;
use Net::SMTP;
use Postern::Test qw(run_bounded write_file);

sub which {
	my ($prog) = @_;
	for my $d (split /:/, $ENV{PATH} // '/usr/bin:/bin') {
		return "$d/$prog" if -x "$d/$prog";
	}
	return undef;
}

# Messages whose text matches RE.
sub stored {
	my ($srv, $re) = @_;
	return grep { Postern::Test::slurp($_) =~ $re } $srv->messages;
}

# The stored text without the Received header the server prepends.
sub without_received {
	my ($text) = @_;
	$text =~ s/\AReceived: .*?\n(?!\t)//s;
	return $text;
}

my $srv = Postern::Test->start;
my $port = $srv->port;

# ---------------------------------------------------------------- Net::SMTP
{
	my $smtp = Net::SMTP->new('127.0.0.1', Port => $port, Timeout => 30, Hello => 'netsmtp.test');
	ok($smtp, 'Net::SMTP connects') or diag("Net::SMTP: $@");
	SKIP: {
		skip 'no Net::SMTP session', 9 unless $smtp;
		like($smtp->banner // '', qr/^mx\.test ESMTP Postern/, 'Net::SMTP sees the banner');
		ok(defined $smtp->supports('8BITMIME'), 'Net::SMTP sees 8BITMIME in EHLO');
		ok($smtp->mail('alice@example.org'), 'MAIL accepted');
		ok($smtp->to('bob@example.org', 'carol@example.net'), 'two recipients accepted');
		my @lines = ("Subject: via Net::SMTP\n", "Message-Id: <netsmtp\@test>\n", "\n",
		    "before\n", ".one leading dot\n", "..two leading dots\n", ".\n", " .not at start\n", "after\n");
		ok($smtp->data, 'DATA accepted');
		$smtp->datasend($_) for @lines;
		ok($smtp->dataend, 'end of data accepted');
		like($smtp->message // '', qr/Ok: queued as/, 'the reply to the dot is 250 ... queued as');
		ok($smtp->quit, 'QUIT accepted');
		my @m = stored($srv, qr/^Message-Id: <netsmtp\@test>$/m);
		is(scalar @m, 1, 'the Net::SMTP message is stored once');
		is(without_received(Postern::Test::slurp($m[0] // '/dev/null')), join('', @lines),
		    'dot lines arrive unstuffed, the text is intact');
	}
	like($srv->log_text, qr/from=<alice\@example\.org> to=<[^>]+>,<[^>]+> nrcpt=2 .*status=sent/, 'the log shows one message for two recipients');
}

my $swaks = which('swaks');

# ---------------------------------------------------------------- swaks --pipeline
SKIP: {
	skip 'swaks is not installed', 5 unless $swaks;
	my ($st, $out) = run_bounded(30, $swaks, '--server', "127.0.0.1:$port", '--pipeline',
	    '--from', 'dave@example.org', '--to', 'a@x.example,b@y.example',
	    '--header', 'Subject: swaks pipelined', '--header', 'Message-Id: <swaks-pipe@test>',
	    '--body', 'pipelined body');
	is($st, 0, 'swaks --pipeline exits 0') or diag($out);
	# swaks sends MAIL, both RCPTs and DATA as one group when PIPELINING is
	# offered, and prints the replies afterwards.
	like($out, qr/^ -> MAIL FROM:<dave\@example\.org>\n -> RCPT TO:<a\@x\.example>\n -> RCPT TO:<b\@y\.example>\n -> DATA\n/m,
	    'swaks pipelines MAIL, RCPT, RCPT, DATA') or diag($out);
	like($out, qr/^<-  250 [^\n]*\n<-  250 [^\n]*\n<-  250 [^\n]*\n<-  354 /m, 'and gets 250 250 250 354 back in order') or diag($out);
	like($out, qr/<-  250 2\.0\.0 Ok: queued as/, 'swaks sees 250 after the data');
	my @m = stored($srv, qr/^Message-Id: <swaks-pipe\@test>$/m);
	is(scalar @m, 1, 'the pipelined message is stored once');
}

# ---------------------------------------------------------------- swaks, 8-bit data file
SKIP: {
	skip 'swaks is not installed', 3 unless $swaks;
	# swaks has no option to send BODY=8BITMIME (none in swaks --help); it
	# sends an 8-bit data file as it is, which the server must store intact.
	# With --no-data-fixup swaks sends the file verbatim, the final dot
	# included.
	my $dir = Postern::Test::workdir();
	my $data = "From: <erin\@example.org>\r\nTo: <frank\@example.org>\r\nSubject: swaks 8bit\r\n" .
	    "Message-Id: <swaks-8bit\@test>\r\nContent-Type: text/plain; charset=iso-8859-1\r\n" .
	    "Content-Transfer-Encoding: 8bit\r\n\r\n" .
	    "Gr\xfc\xdfe, \xe9t\xe9, na\xefve\r\n" . join('', map { chr } 0x80 .. 0xff) . "\r\n\xff\xfe end\r\n";
	write_file("$dir/8bit.eml", "$data.\r\n");
	my ($st, $out) = run_bounded(30, $swaks, '--server', "127.0.0.1:$port",
	    '--from', 'erin@example.org', '--to', 'frank@example.org', '--no-data-fixup', '--data', "\@$dir/8bit.eml");
	is($st, 0, 'swaks --data @8bit-file exits 0') or diag($out);
	my @m = stored($srv, qr/^Message-Id: <swaks-8bit\@test>$/m);
	is(scalar @m, 1, 'the 8-bit message is stored once');
	(my $want = $data) =~ s/\r\n/\n/g;
	is(without_received(Postern::Test::slurp($m[0] // '/dev/null')), $want, 'every 8-bit byte is stored as sent');
}

# ---------------------------------------------------------------- curl
my $curl = which('curl');
my $curl_smtp = $curl && `$curl --version 2>/dev/null` =~ /^Protocols:.*\bsmtp\b/m;
SKIP: {
	skip 'curl with SMTP support is not installed', 4 unless $curl_smtp;
	my $dir = Postern::Test::workdir();
	my $data = "From: <gina\@example.org>\r\nTo: <hank\@example.org>\r\nSubject: via curl\r\n" .
	    "Message-Id: <curl\@test>\r\n\r\ncurl body\r\n.leading dot\r\nlast line\r\n";
	write_file("$dir/curl.eml", $data);
	my ($st, $out) = run_bounded(30, $curl, '-sS', '--max-time', '20', "smtp://127.0.0.1:$port/client.test",
	    '--mail-from', 'gina@example.org', '--mail-rcpt', 'hank@example.org', '--upload-file', "$dir/curl.eml");
	is($st, 0, 'curl exits 0') or diag($out);
	my @m = stored($srv, qr/^Message-Id: <curl\@test>$/m);
	is(scalar @m, 1, 'the curl message is stored once');
	(my $want = $data) =~ s/\r\n/\n/g;
	is(without_received(Postern::Test::slurp($m[0] // '/dev/null')), $want, 'its text is intact (curl\'s dot stuffing undone)');
	like($srv->log_text, qr/ehlo client\.test/, 'curl greeted with the name from the URL');
}

is($srv->stop, 0, 'posternd exits 0 on SIGTERM');
done_testing;
