#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# tls.t - TLS: STARTTLS (RFC 3207) and implicit TLS (RFC 8314) end to end.
#
#   - STARTTLS with swaks and gnutls-cli; the Received header names the
#     protocol and cipher suite; POSTERN_TLS in the data hook;
#   - implicit TLS with swaks --tlsc; the greeting comes inside TLS;
#   - the session state machine around STARTTLS (RFC 3207 4.2): EHLO
#     offers STARTTLS only before TLS, the session starts over after the
#     handshake, STARTTLS twice, with an argument, where it is not offered;
#   - clients that send garbage instead of a ClientHello, or stop in the
#     middle of the handshake: closed without an SMTP reply, within the
#     command timeout, and the worker is free again;
#   - protocol versions: TLS 1.0 and 1.1 refused by the default priority,
#     1.2 and 1.3 accepted, [tls] priority honoured; resumption (gnutls-cli);
#   - configuration errors found by posternd -t;
#   - workers never hold the private key open and run as nobody.
#
# t/tls-python.py covers STARTTLS command injection, resumption across
# workers and reloading the certificate.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Postern::Test;

$SIG{PIPE} = 'IGNORE';          # writes after the server closed must not kill us

BEGIN {
	for my $tool (qw(certtool gnutls-cli swaks)) {
		plan skip_all => "$tool is not installed"
		    unless grep { -x "$_/$tool" } split /:/, $ENV{PATH} // '/usr/bin:/bin';
	}
	plan skip_all => 'IO::Socket::SSL (libio-socket-ssl-perl) is not installed'
	    unless eval { require IO::Socket::SSL; 1 };
	plan skip_all => 'Net::SSLeay (libnet-ssleay-perl) is not installed; swaks needs it for TLS'
	    unless eval { require Net::SSLeay; 1 };
}

# ---------------------------------------------------------------------------
# A Postern::Test::Client whose socket has become a TLS socket (its line()
# looks at what OpenSSL already holds before waiting on the fd).
package TLSClient;
our @ISA = ('Postern::Test::Client');

# Upgrade a plaintext client after "220 Ready to start TLS".
sub upgrade {
	my ($class, $c) = @_;
	die "unread plaintext before the handshake: $c->{buf}" if length $c->{buf};
	IO::Socket::SSL->start_SSL($c->{sock}, SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
	    Timeout => 10) or return undef;
	return bless $c, $class;
}

# A client for an implicit-TLS port; reads the greeting.
sub connect_tls {
	my ($class, $port, %o) = @_;
	my $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $port,
	    SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(), Timeout => $o{timeout} // 10)
	    or return undef;
	my $self = bless { sock => $s, buf => '', timeout => 30 }, $class;
	$self->{greeting} = $self->reply;
	return $self;
}

package main;

# Read whatever comes until EOF (or TIMEOUT); returns (bytes, closed?).
sub read_to_eof {
	my ($sock, $timeout) = @_;
	my ($buf, $end) = ('', time + $timeout);
	while (1) {
		my $left = $end - time;
		return ($buf, 0) if $left <= 0;
		return ($buf, 0) unless IO::Select->new($sock)->can_read($left);
		my $n = sysread($sock, my $chunk, 4096);
		return ($buf, 1) unless $n;     # EOF or reset
		$buf .= $chunk;
	}
}

sub local_port { $_[0]->sock->sockport }

# The session id the server logged for the connection from PORT.
sub session_of {
	my ($srv, $port) = @_;
	return $srv->wait_log(qr/posternd\[\d+\]: (\S+): connect from \[127\.0\.0\.1\]:$port to /, 5);
}

# The stored message whose Received header has queue id QID.
sub message_with_id {
	my ($srv, $qid) = @_;
	for my $m ($srv->messages) {
		my $t = Postern::Test::slurp($m);
		return $t if $t =~ /\A[^\n]*\n\t[^\n]* id \Q$qid\E[;\n]/;
	}
	return undef;
}

# What the data hook saw in POSTERN_TLS for session SID (undef: not run).
sub hook_tls {
	my ($dir, $sid) = @_;
	my $f = "$dir/env-$sid";
	my $end = time + 5;
	sleep 0.02 while !-e $f && time < $end;
	return -e $f ? Postern::Test::slurp($f) : undef;
}

# Run gnutls-cli with INPUT on its stdin; returns (exit status, output).
sub gnutls_cli {
	my ($input, @args) = @_;
	my $in = "$main::dir/gnutls-cli.in";
	open my $f, '>', $in or die "$in: $!";
	print $f $input;
	close $f;
	my $cmd = join ' ', 'timeout 20 gnutls-cli', (map { "'$_'" } @args), "<'$in' 2>&1";
	my $out = `$cmd`;
	return ($? >> 8, $out);
}

sub swaks {
	my (@args) = @_;
	my $cmd = join ' ', 'timeout 30 swaks', (map { "'$_'" } @args), '2>&1';
	my $out = `$cmd`;
	return ($? >> 8, $out);
}

# ---------------------------------------------------------------------------
# The main server: smtp (STARTTLS), smtps (implicit), plain (no TLS); the
# data hook records POSTERN_TLS per session and delivers to the Maildir.
our $dir = Postern::Test::workdir();
my $hook = Postern::Test::write_script($dir, 'tls-hook', <<"EOF");
#!/bin/sh
printf '%s' "\$POSTERN_TLS" > '$dir/env-'"\$POSTERN_SESSION"
exec '$dir/postern-maildir' '$dir/Maildir'
EOF
my $srv = Postern::Test->start(dir => $dir, tls => 1, endpoints => ['smtp', 'smtps', 'plain'],
    config => { smtp => { tls => 'starttls' }, smtps => { tls => 'implicit' },
	hooks => { data => $hook } });
my ($port, $sport, $pport) = map { $srv->port($_) } qw(smtp smtps plain);
my $key = $srv->conffile && do { my $t = Postern::Test::slurp($srv->conffile); $t =~ /^key = (.*)$/m; $1 };

# ---------------------------------------------------------------------------
# 1. STARTTLS with swaks: delivered; Received and POSTERN_TLS name TLS.
my $tlsinfo;
{
	my ($rc, $out) = swaks('--server', "127.0.0.1:$port", '--tls', '--ehlo', 'client.test',
	    '--from', 'alice@example.org', '--to', 'bob@example.org',
	    '--h-Subject', 'via starttls', '--body', 'starttls body');
	is($rc, 0, 'swaks --tls: exits 0') or diag($out);
	like($out, qr/^ -> STARTTLS\r?\n<-  220 2\.0\.0 /m, 'swaks --tls: STARTTLS gets 220 2.0.0 in plaintext');
	like($out, qr/^=== TLS started with cipher TLSv1\.3:TLS_AES_/m, 'swaks --tls: TLS 1.3 negotiated');
	my ($qid) = $out =~ /^<~  250 2\.0\.0 Ok: queued as (\S+)/m;
	ok($qid, 'swaks --tls: 250 after DATA, inside TLS') or diag($out);
	$qid //= 'NONE';
	my $msg = message_with_id($srv, $qid);
	ok($msg && $msg =~ /^Subject: via starttls$/m && $msg =~ /^starttls body$/m,
	    'swaks --tls: message stored with its subject and body');
	($tlsinfo) = ($msg // '') =~ /\A[^\n]*\n\tby mx\.test \(Postern\) with ESMTPS \((TLS1\.3 TLS_AES_\w+)\) id \Q$qid\E\n/;
	ok($tlsinfo, 'swaks --tls: Received says "with ESMTPS (TLS1.3 TLS_AES_...)" (protocol then cipher suite)')
	    or diag(substr($msg // '', 0, 300));
	like($msg // '', qr/\AReceived: from client\.test \(\[127\.0\.0\.1\]\)\n/,
	    'swaks --tls: Received names the EHLO sent inside TLS');
	(my $sid = $qid) =~ s/\..*//;
	my $env = hook_tls($dir, $sid);
	like($env // 'NOT RUN', qr/^TLS1\.[23] TLS_\w+$/, 'POSTERN_TLS after STARTTLS: protocol and cipher suite');
	is($env, $tlsinfo // '', 'POSTERN_TLS is what the Received header says');
}
for my $ep (['smtp', $port], ['plain', $pport]) {
	my ($name, $p) = @$ep;
	my $c = $srv->connect($name);
	my $r = $c->send_message(data => "Subject: plaintext via $name\r\n\r\nno TLS\r\n");
	my ($qid) = ($r // '') =~ /^250 2\.0\.0 Ok: queued as (\S+)/;
	ok($qid, "plaintext on $name: message accepted") or diag($r);
	$c->quit;
	$qid //= 'NONE';
	my $msg = message_with_id($srv, $qid) // '';
	like($msg, qr/\A[^\n]*\n\tby mx\.test \(Postern\) with ESMTP id \Q$qid\E\n/,
	    "plaintext on $name: Received says \"with ESMTP\" without a TLS comment");
	(my $sid = $qid) =~ s/\..*//;
	is(hook_tls($dir, $sid), '', "plaintext on $name: POSTERN_TLS is empty");
}

# ---------------------------------------------------------------------------
# 2. Implicit TLS with swaks --tlsc: the greeting comes inside TLS.
{
	my ($rc, $out) = swaks('--server', "127.0.0.1:$sport", '--tlsc', '--ehlo', 'client.test',
	    '--from', 'alice@example.org', '--to', 'carol@example.org',
	    '--h-Subject', 'via smtps', '--body', 'smtps body');
	is($rc, 0, 'swaks --tlsc: exits 0') or diag($out);
	like($out, qr/^=== TLS started[^\n]*\n(?:===[^\n]*\n)*<~  220 mx\.test ESMTP Postern\r?$/m,
	    'swaks --tlsc: TLS first, then the 220 greeting inside TLS');
	unlike($out, qr/^<-  /m, 'swaks --tlsc: nothing at all read in plaintext');
	unlike($out, qr/^<~  250-STARTTLS/m, 'swaks --tlsc: EHLO on the implicit port does not offer STARTTLS');
	my ($qid) = $out =~ /^<~  250 2\.0\.0 Ok: queued as (\S+)/m;
	ok($qid, 'swaks --tlsc: 250 after DATA') or diag($out);
	$qid //= 'NONE';
	my $msg = message_with_id($srv, $qid) // '';
	ok($msg =~ /^Subject: via smtps$/m && $msg =~ /^smtps body$/m, 'swaks --tlsc: message stored');
	like($msg, qr/\A[^\n]*\n\tby mx\.test \(Postern\) with ESMTPS \(TLS1\.3 TLS_AES_\w+\) id /,
	    'swaks --tlsc: Received says ESMTPS with protocol and cipher suite');
	(my $sid = $qid) =~ s/\..*//;
	like(hook_tls($dir, $sid) // 'NOT RUN', qr/^TLS1\.[23] TLS_\w+$/, 'POSTERN_TLS with implicit TLS');
}
{
	# A raw TCP client that sends no ClientHello hears nothing.
	my $c = $srv->connect('smtps', no_greeting => 1);
	ok(!IO::Select->new($c->sock)->can_read(1), 'implicit TLS: no plaintext greeting before the handshake');
	$c->close;
}

# gnutls-cli with STARTTLS
{
	my ($rc, $out) = gnutls_cli("EHLO gnutls.test\r\nQUIT\r\n", '--starttls-proto=smtp',
	    '--port', $port, '--insecure', '127.0.0.1');
	like($out, qr/^- Handshake was completed/m, 'gnutls-cli --starttls-proto=smtp: handshake completed')
	    or diag($out);
	like($out, qr/^- Description: \(TLS1\.3-/m, 'gnutls-cli --starttls-proto=smtp: TLS 1.3');
	like($out, qr/^250-mx\.test\r?\n(?:250-[^\n]*\n)*250 ENHANCEDSTATUSCODES\r?\n221 2\.0\.0/m,
	    'gnutls-cli --starttls-proto=smtp: EHLO and QUIT answered inside TLS');
	unlike($out, qr/^250-STARTTLS/m, 'gnutls-cli --starttls-proto=smtp: no STARTTLS offered inside TLS');
}

# ---------------------------------------------------------------------------
# 3. The session around STARTTLS (RFC 3207 4.2).
{
	my $c = $srv->connect('smtp');
	my $ehlo = $c->cmd('EHLO client.test') // '';
	like($ehlo, qr/^250-STARTTLS\r$/m, 'EHLO before TLS offers STARTTLS');
	like($c->cmd('STARTTLS foo') // 'EOF', qr/^501 5\.5\.4 /, 'STARTTLS with an argument: 501 5.5.4');
	like($c->cmd('MAIL FROM:<alice@example.org>') // 'EOF', qr/^250 2\.1\.0 /,
	    'a transaction started in plaintext');
	like($c->cmd('RCPT TO:<bob@example.org>') // 'EOF', qr/^250 /, '... with a recipient');
	like($c->cmd('STARTTLS') // 'EOF', qr/^220 2\.0\.0 /, 'STARTTLS: 220 2.0.0');
	my $t = TLSClient->upgrade($c);
	ok($t, 'TLS handshake after STARTTLS') or diag(IO::Socket::SSL::errstr());
	SKIP: {
		skip 'no TLS session', 10 unless $t;
		like($t->cmd('MAIL FROM:<alice@example.org>') // 'EOF', qr/^503 5\.5\.1 /,
		    'MAIL right after the handshake: 503 5.5.1 (EHLO needed again)');
		like($t->cmd('RCPT TO:<bob@example.org>') // 'EOF', qr/^503 5\.5\.1 /,
		    'RCPT: 503 5.5.1 (the plaintext transaction is gone)');
		my $e2 = $t->cmd('EHLO client.test') // '';
		like($e2, qr/^250-mx\.test\r\n/, 'EHLO inside TLS: 250');
		unlike($e2, qr/STARTTLS/, 'EHLO inside TLS does not offer STARTTLS');
		like($e2, qr/^250[ -]PIPELINING\r$/m, 'EHLO inside TLS still offers the other extensions');
		like($t->cmd('RCPT TO:<bob@example.org>') // 'EOF', qr/^503 5\.5\.1 /,
		    'RCPT after the new EHLO: 503 5.5.1 (no MAIL yet)');
		like($t->cmd('STARTTLS') // 'EOF', qr/^503 5\.5\.1 /, 'STARTTLS again: 503 5.5.1');
		my $r = $t->send_message(no_ehlo => 1, data => "Subject: raw tls\r\n\r\nbody\r\n");
		like($r // 'EOF', qr/^250 2\.0\.0 Ok: queued as \S+/, 'a message is accepted inside TLS');
		my ($qid) = ($r // '') =~ /queued as (\S+)/;
		like(message_with_id($srv, $qid // 'NONE') // '', qr/\A[^\n]*\n\t[^\n]* with ESMTPS \(TLS1\.[23] /,
		    '... and stored with ESMTPS');
		like($t->quit // 'EOF', qr/^221 2\.0\.0 /, 'QUIT inside TLS: 221');
	}
}
{
	my $c = $srv->connect('plain');
	my $e = $c->cmd('EHLO client.test') // '';
	like($e, qr/^250 ENHANCEDSTATUSCODES\r$/m, 'tls = none: EHLO answered');
	unlike($e, qr/STARTTLS/, 'tls = none: EHLO does not offer STARTTLS');
	like($c->cmd('STARTTLS') // 'EOF', qr/^502 5\.5\.1 /, 'tls = none: STARTTLS gets 502 5.5.1');
	like($c->cmd('NOOP') // 'EOF', qr/^250 /, 'tls = none: the session goes on in plaintext');
	$c->quit;
}
{
	my $t = TLSClient->connect_tls($sport);
	ok($t && ($t->greeting // '') eq "220 mx.test ESMTP Postern\r\n", 'implicit TLS: greeting inside TLS');
	SKIP: {
		skip 'no TLS session', 3 unless $t;
		my $e = $t->cmd('EHLO client.test') // '';
		like($e, qr/^250 ENHANCEDSTATUSCODES\r$/m, 'implicit TLS: EHLO answered');
		unlike($e, qr/STARTTLS/, 'implicit TLS: EHLO does not offer STARTTLS');
		like($t->cmd('STARTTLS') // 'EOF', qr/^50[23] 5\.5\.1 /, 'implicit TLS: STARTTLS refused');
		$t->quit;
	}
}

# ---------------------------------------------------------------------------
# 5. Garbage instead of a ClientHello.
{
	my $c = $srv->connect('smtps', no_greeting => 1);
	my $sid = session_of($srv, local_port($c));
	$c->send("EHLO client.test\r\n");
	my ($got, $closed) = read_to_eof($c->sock, 10);
	ok($closed, 'implicit TLS, plaintext EHLO instead of a ClientHello: connection closed');
	unlike($got, qr/\d{3}[ -]/, '... without an SMTP reply') or diag(unpack 'H*', $got);
	ok($srv->wait_log(qr/\Q${\($sid \/\/ 'NONE')}\E: TLS handshake failed/), '... and the log says why');
	$c->close;
	my $t = TLSClient->connect_tls($sport);
	ok($t && ($t->greeting // '') =~ /^220 /, 'implicit TLS: the next good client is served');
	$t->quit if $t;
}
{
	my $c = $srv->connect('smtp');
	my $sid = session_of($srv, local_port($c)) // 'NONE';
	$c->cmd('EHLO client.test');
	like($c->cmd('STARTTLS') // 'EOF', qr/^220 /, 'STARTTLS, then garbage: 220 first');
	$c->send("EHLO client.test\r\nMAIL FROM:<a\@b>\r\n");
	my ($got, $closed) = read_to_eof($c->sock, 10);
	ok($closed, 'STARTTLS, then plaintext instead of a ClientHello: connection closed');
	unlike($got, qr/\d{3}[ -]/, '... without an SMTP reply') or diag(unpack 'H*', $got);
	ok($srv->wait_log(qr/\Q$sid\E: STARTTLS: TLS handshake failed/), '... and the log says why');
	# the debug echo escapes client text (spaces as \x20, issue 13)
	my @seen = $srv->log_text =~ /\Q$sid\E: < (.*)/g;
	is_deeply(\@seen, ['EHLO\\x20client.test', 'STARTTLS'], '... and nothing of it was read as a command');
	$c->close;
	my ($rc, $out) = swaks('--server', "127.0.0.1:$port", '--tls', '--quit-after', 'EHLO');
	is($rc, 0, 'STARTTLS: the next good client is served') or diag($out);
}

# ---------------------------------------------------------------------------
# 7. Protocol versions under the default priority; resumption.
{
	my %want = ('TLS1.0' => 0, 'TLS1.1' => 0, 'TLS1.2' => 1, 'TLS1.3' => 1);
	for my $v (sort keys %want) {
		my $before = () = $srv->log_text =~ /TLS handshake failed/g;
		my ($rc, $out) = gnutls_cli("QUIT\r\n", '--priority', "NORMAL:-VERS-ALL:+VERS-$v",
		    '--port', $sport, '--insecure', '127.0.0.1');
		if ($want{$v}) {
			ok($rc == 0 && $out =~ /^- Description: \(\Q$v\E-/m && $out =~ /^220 mx\.test ESMTP Postern\r?$/m
			    && $out =~ /^221 /m, "$v only: handshake, greeting and QUIT") or diag($out);
		} else {
			ok($rc != 0 && $out !~ /Handshake was completed/ && $out !~ /^220 /m,
			    "$v only: refused by the default priority") or diag($out);
			ok($srv->wait_log(qr/(?:TLS handshake failed.*){${\($before + 1)}}/s, 5),
			    "$v only: the server logs the failed handshake");
		}
	}
	my ($rc, $out) = gnutls_cli("QUIT\r\n", '--resume', '--port', $sport, '--insecure', '127.0.0.1');
	like($out, qr/^\*\*\* This is a resumed session/m, 'gnutls-cli --resume: "This is a resumed session"')
	    or diag($out);
	like($out, qr/^220 mx\.test ESMTP Postern\r?\n221 /m, 'gnutls-cli --resume: greeting and QUIT after resuming');
}

# ---------------------------------------------------------------------------
# 12. The key: 0600 root; workers run as nobody and hold no descriptor to it.
SKIP: {
	skip 'not root: workers do not change user', 6 unless Postern::Test::is_root();
	my @st = stat $key;
	ok(@st && ($st[2] & 07777) == 0600 && $st[4] == 0, 'the key file is mode 0600, owned by root');
	my $held = TLSClient->connect_tls($sport);     # a busy worker, in a TLS session
	ok($held, 'a TLS session is open while the workers are inspected');
	my @w = $srv->worker_pids;
	ok(@w >= 2, 'workers found: ' . scalar @w);
	my $nobody = (getpwnam 'nobody')[2];
	my (@rootish, @holders);
	for my $pid (@w) {
		open my $s, '<', "/proc/$pid/status" or next;
		my ($uids) = join('', <$s>) =~ /^Uid:\s+(.*)$/m;
		push @rootish, "$pid: $uids" if grep { $_ != $nobody } split ' ', $uids // '0';
	}
	for my $pid ($srv->pid, @w) {
		opendir my $d, "/proc/$pid/fd" or next;
		for my $fd (grep { /^\d+$/ } readdir $d) {
			my $to = readlink "/proc/$pid/fd/$fd" // next;
			push @holders, "$pid fd $fd -> $to" if $to eq $key;
		}
	}
	ok(!@rootish, 'every worker runs as nobody (real, effective, saved, fs uid)') or diag(join "\n", @rootish);
	ok(!@holders, 'no worker (nor the master) has the key file open') or diag(join "\n", @holders);
	ok(system('runuser', '-u', 'nobody', '--', 'sh', '-c', "cat '$key' >/dev/null 2>&1") != 0,
	    'nobody cannot read the key (so the TLS sessions above used what the master loaded)');
	$held->quit if $held;
}

is($srv->stop, 0, 'posternd exits 0 on SIGTERM');

# ---------------------------------------------------------------------------
# 6. Clients that stop in the middle of the handshake: one worker only, a
# 2 s command timeout.  (max_workers = 2 but min_spare = 0: the pool keeps
# one worker, and a session on it is not in "stress mode", whose 10 s
# timeouts would replace the configured 2 s.)
{
	my $s2 = Postern::Test->start(tls => 1, endpoints => ['smtp', 'smtps'],
	    config => { server => { workers => 1, min_spare => 0, max_spare => 1, max_workers => 2 },
		limits => { command_timeout => 2 },
		smtp => { tls => 'starttls' }, smtps => { tls => 'implicit' } });
	my $half = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03";     # the first 10 bytes of a ClientHello

	my %cases = (
		'nothing' => sub { },
		'half a ClientHello' => sub { $_[0]->send($half) },
	);
	for my $name (sort keys %cases) {
		my $c = $s2->connect('smtps', no_greeting => 1);
		my $sid = session_of($s2, local_port($c)) // 'NONE';
		my $t0 = time;
		$cases{$name}->($c);
		my ($got, $closed) = read_to_eof($c->sock, 10);
		my $dt = time - $t0;
		ok($closed && $dt > 1.5 && $dt < 5, sprintf('implicit TLS, %s sent: closed after the 2 s timeout (%.1f s)', $name, $dt));
		is($got, '', "implicit TLS, $name sent: no reply at all");
		ok($s2->wait_log(qr/\Q$sid\E: TLS handshake timed out/), "implicit TLS, $name sent: logged as a timeout");
		$c->close;
	}
	{
		# One byte every 0.4 s: the deadline is for the whole handshake.
		my $c = $s2->connect('smtps', no_greeting => 1);
		my $t0 = time;
		my $closed = 0;
		for my $i (0 .. length($half) - 1) {
			$c->send(substr $half, $i, 1);
			if (IO::Select->new($c->sock)->can_read(0.4)) {
				my $n = sysread($c->sock, my $chunk, 4096);
				if (!$n) { $closed = 1; last; }
			}
		}
		my $dt = time - $t0;
		ok($closed && $dt < 3.5, sprintf('a ClientHello trickled byte by byte is cut off by the 2 s deadline (%.1f s)', $dt));
		$c->close;
	}
	{
		my $c = $s2->connect('smtp');
		my $sid = session_of($s2, local_port($c)) // 'NONE';
		$c->cmd('EHLO client.test');
		like($c->cmd('STARTTLS') // 'EOF', qr/^220 /, 'STARTTLS, then silence: 220');
		my $t0 = time;
		my ($got, $closed) = read_to_eof($c->sock, 10);
		my $dt = time - $t0;
		ok($closed && $dt > 1.5 && $dt < 5, sprintf('STARTTLS, then silence: closed after the 2 s timeout (%.1f s)', $dt));
		is($got, '', 'STARTTLS, then silence: nothing more is sent');
		ok($s2->wait_log(qr/\Q$sid\E: STARTTLS: TLS handshake timed out/), 'STARTTLS, then silence: logged as a timeout');
		$c->close;
	}
	{
		# The only worker is stuck with a half handshake; a good client
		# waits in the listen queue and is served once it times out.
		my $c = $s2->connect('smtps', no_greeting => 1);
		my $lp = local_port($c);
		ok(session_of($s2, $lp), 'a stalled handshake holds the worker');
		my @w = $s2->worker_pids;
		is(scalar @w, 1, 'there is only one worker') or diag("workers: @w");
		$c->send($half);
		my $t0 = time;
		my $t = TLSClient->connect_tls($s2->port('smtps'), timeout => 15);
		my $dt = time - $t0;
		ok($t && ($t->greeting // '') =~ /^220 /,
		    sprintf('a good client queued behind it is served when it times out (after %.1f s)', $dt));
		ok($dt > 1 && $dt < 6, 'the good client had to wait for the timeout, not longer');
		$t->quit if $t;
		$c->close;
		my ($rc, $out) = swaks('--server', '127.0.0.1:' . $s2->port('smtps'), '--tlsc',
		    '--from', 'alice@example.org', '--to', 'bob@example.org');
		is($rc, 0, 'the worker serves a full delivery over implicit TLS afterwards') or diag($out);
		($rc, $out) = swaks('--server', '127.0.0.1:' . $s2->port('smtp'), '--tls',
		    '--from', 'alice@example.org', '--to', 'bob@example.org');
		is($rc, 0, 'and one over STARTTLS') or diag($out);
	}
	is($s2->stop, 0, 'the one-worker server exits 0');
}

# ---------------------------------------------------------------------------
# 7b. [tls] priority is honoured (and this gnutls-cli can do TLS 1.0/1.1, so
# the refusals above are the server's).
{
	my $s3 = Postern::Test->start(tls => 1, endpoints => ['smtps'],
	    config => { smtps => { tls => 'implicit' },
		tls => { priority => 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:+VERS-TLS1.1:+VERS-TLS1.0' } });
	for my $v ('TLS1.1', 'TLS1.0') {
		my ($rc, $out) = gnutls_cli("QUIT\r\n", '--priority', "NORMAL:-VERS-ALL:+VERS-$v",
		    '--port', $s3->port('smtps'), '--insecure', '127.0.0.1');
		ok($rc == 0 && $out =~ /^- Description: \(\Q$v\E-/m && $out =~ /^220 /m,
		    "[tls] priority allowing $v: a $v client is served") or diag($out);
	}
	my ($rc, $out) = gnutls_cli("QUIT\r\n", '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.3',
	    '--port', $s3->port('smtps'), '--insecure', '127.0.0.1');
	ok($rc == 0 && $out =~ /^- Description: \(TLS1\.3-/m, '[tls] priority allowing 1.0-1.3: TLS 1.3 still preferred')
	    or diag($out);
	is($s3->stop, 0, 'the custom-priority server exits 0');
}

# ---------------------------------------------------------------------------
# 10. Configuration errors (posternd -t).
{
	my $cdir = Postern::Test::workdir();
	my ($cert1, $key1) = Postern::Test::make_cert($cdir, 'one');
	my ($cert2, $key2) = Postern::Test::make_cert($cdir, 'two');
	mkdir "$cdir/keydir";
	my $mdhook = Postern::Test::install_program($cdir, "$Postern::Test::BUILDDIR/hooks/postern-maildir");
	my $n = 0;
	my $check = sub {
		my ($tls, $ep, %o) = @_;
		my $file = "$cdir/check-" . ++$n . '.conf';
		my $text = "[server]\nhostname = mx.test\npidfile = $cdir/posternd.pid\nspool_directory = $cdir\n";
		$text .= "user = nobody\ngroup = nogroup\n" if Postern::Test::is_root() && !$o{as_nobody};
		$text .= "[hooks]\ndata = $mdhook $cdir/Maildir\n";
		$text .= "[tls]\n" . join('', map { "$_ = $tls->{$_}\n" } sort keys %$tls) if $tls;
		$text .= "[smtp]\nlisten = 127.0.0.1:" . Postern::Test::free_port() . "\n";
		$text .= "tls = $ep\n" if $ep;
		open my $f, '>', $file or die "$file: $!";
		print $f $text;
		close $f;
		my @cmd = ("$Postern::Test::BUILDDIR/posternd", '-t', '-c', $file);
		unshift @cmd, 'runuser', '-u', 'nobody', '--' if $o{as_nobody};
		my $out = `@cmd 2>&1`;
		return ($? >> 8, $out);
	};
	my ($rc, $out) = $check->({ certificate => $cert1, key => $key1 }, 'starttls');
	is($rc, 0, 'config check: a good TLS configuration is valid') or diag($out);
	like($out, qr/configuration OK/, 'config check: says so');
	($rc, $out) = $check->({ certificate => $cert1, key => $key1 }, 'implicit');
	is($rc, 0, 'config check: implicit TLS with a certificate is valid') or diag($out);

	($rc, $out) = $check->(undef, 'starttls');
	is($rc, 1, 'config check: tls = starttls without [tls] certificate: exit 1');
	like($out, qr/certificate/, '... the message says a certificate is needed') or diag($out);
	($rc, $out) = $check->(undef, 'implicit');
	is($rc, 1, 'config check: tls = implicit without [tls] certificate: exit 1');
	like($out, qr/certificate/, '... the message says a certificate is needed') or diag($out);
	($rc, $out) = $check->({ certificate => $cert1 }, 'starttls');
	is($rc, 1, 'config check: a certificate without a key: exit 1');
	like($out, qr/\[tls\] key/, '... the message names [tls] key') or diag($out);
	($rc, $out) = $check->({ certificate => $cert1, key => "$cdir/no-such-key.pem" }, 'starttls');
	is($rc, 1, 'config check: a key file that does not exist: exit 1');
	like($out, qr/\[tls\] key.*\Q$cdir\E\/no-such-key\.pem.*No such file/, '... the message names the key and why')
	    or diag($out);
	($rc, $out) = $check->({ certificate => "$cdir/no-such-cert.pem", key => $key1 }, 'starttls');
	is($rc, 1, 'config check: a certificate file that does not exist: exit 1');
	like($out, qr/\[tls\] certificate.*no-such-cert\.pem/, '... the message names the certificate') or diag($out);
	($rc, $out) = $check->({ certificate => $cert1, key => "$cdir/keydir" }, 'starttls');
	is($rc, 1, 'config check: a key path that is a directory: exit 1');
	like($out, qr/\[tls\].*\Q$cdir\E\/keydir/, '... the message names [tls] and the key path') or diag($out);
	($rc, $out) = $check->({ certificate => $cert1, key => $key2 }, 'starttls');
	is($rc, 1, 'config check: a key that does not match the certificate: exit 1');
	like($out, qr/\[tls\] key.*does not match/, '... the message says "does not match"') or diag($out);
	($rc, $out) = $check->({ certificate => $cert1, key => $key1, priority => 'NORMAL:+BOGUS' }, 'starttls');
	is($rc, 1, 'config check: a bad priority string: exit 1');
	like($out, qr/\[tls\] priority.*BOGUS/, '... the message names [tls] priority and the bad part') or diag($out);
	($rc, $out) = $check->({ certificate => $cert1, key => $key1 }, 'sometimes');
	is($rc, 1, 'config check: tls = sometimes: exit 1');
	like($out, qr/none, starttls, implicit/, '... the message lists the valid modes') or diag($out);
	SKIP: {
		skip 'not root', 2 unless Postern::Test::is_root();
		# (a tree under /root: nobody cannot run posternd from it at all)
		skip "nobody cannot execute $Postern::Test::BUILDDIR/posternd (a build tree nobody cannot enter)", 2
		    if system('runuser', '-u', 'nobody', '--', 'test', '-x', "$Postern::Test::BUILDDIR/posternd") != 0;
		# As nobody, the 0600 root key cannot be read.
		chmod 0644, $cert1;
		($rc, $out) = $check->({ certificate => $cert1, key => $key1 }, 'starttls', as_nobody => 1);
		is($rc, 1, 'config check as nobody: an unreadable key: exit 1');
		like($out, qr/\[tls\] key: cannot read \Q$key1\E: Permission denied/, '... the message says the key cannot be read')
		    or diag($out);
	}
}

done_testing;
