#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# hostile.t - bad input not covered by smtp-protocol.t, smtp-data.t, tls.t
# and data-hook.t (RFC-CHECKLIST section 2):
#
#   - 1000 pipelined recipients against max_recipients = 100 (item 15);
#   - CR and LF inside MAIL/RCPT lines: no transaction, no extra header line,
#     nothing but the validated address in the hook's environment and fd 3
#     (item 11);
#   - 200 lines of pipelined junk: max_errors, then 421 and close (item 16);
#   - slowloris clients do not hold back a normal client (item 13);
#   - half-closed connections (shutdown(SHUT_WR)) after a whole session, in
#     the middle of a command and in the middle of DATA (item 5);
#   - privileges: the TLS key is not readable by the workers' user, and
#     nothing the server or postern-maildir creates is world-writable.
use strict;
use warnings;
use Test::More;
use IO::Select;
use POSIX qw(:sys_wait_h);
use Socket qw(SHUT_WR);
use Time::HiRes qw(time sleep);
use Postern::Test qw(read_file esc status_field);

$SIG{PIPE} = 'IGNORE';

sub codes { [map { defined $_ && /^(\d{3}(?: [245]\.\d{1,3}\.\d{1,3})?)/ ? $1 : ($_ // 'EOF') } @_] }
sub at_eof { my ($c) = @_; my $l = $c->line(5); return !defined $l && $c->closed(1) }

# Files in DIR matching RE (full paths).
sub files_like {
	my ($dir, $re) = @_;
	opendir my $d, $dir or return ();
	return sort map { "$dir/$_" } grep { $_ =~ $re } readdir $d;
}

sub kb { my ($v) = @_; return defined $v && $v =~ /^(\d+)/ ? $1 : undef }

# A server whose data hook records fd 3 (the recipients) and the environment
# (NUL-separated), then delivers with postern-maildir.
my $dir = Postern::Test::workdir();
my $hook = Postern::Test::write_script($dir, 'data-hook', <<"EOF");
#!/bin/sh
cat <&3 > $dir/rcpts.\$\$ || exit 75
env -0 > $dir/env.\$\$ || exit 75
exec $dir/postern-maildir $dir/Maildir
EOF
my $srv = Postern::Test->start(dir => $dir, config => { hooks => { data => $hook } });

my %seen;
sub new_messages { return grep { !$seen{$_}++ } $srv->messages }
my %seen_rcpts;
sub new_hook_files {
	my @r = grep { !$seen_rcpts{$_}++ } files_like($dir, qr/^rcpts\.\d+$/);
	return map { my ($pid) = /(\d+)$/; { rcpts => read_file($_), env => read_file("$dir/env.$pid") } } @r;
}

# ---------------------------------------------------------------------------
# 1000 recipients pipelined in one write (max_recipients = 100, the default)
{
	new_messages(); new_hook_files();
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 /, 'MAIL before the 1000 RCPTs');
	my $pid = $srv->worker_of($c);
	my $hwm0 = $pid ? kb(status_field($pid, 'VmHWM')) : undef;
	ok($c->send(join '', map { "RCPT TO:<user$_\@example.org>\r\n" } 1 .. 1000), '1000 RCPT commands sent in one write');
	my @r = map { scalar $c->reply(10) } 1 .. 1000;
	my $codes = codes(@r);
	my $first = join ',', @$codes[0 .. 99];
	my $rest = join ',', @$codes[100 .. 999];
	is(scalar(grep { $_ eq '250 2.1.5' } @$codes[0 .. 99]), 100, '1000 pipelined RCPTs: the first 100 get 250 2.1.5');
	is(scalar(grep { $_ eq '452 4.5.3' } @$codes[100 .. 999]), 900, 'the other 900 get 452 4.5.3, in order')
	    or diag('distinct replies after the 100th: ' . join(' ', sort keys %{ { map { $_ => 1 } @$codes[100 .. 999] } }));
	like($c->cmd('DATA'), qr/^354 /, 'DATA after 900 refusals: 354 (the session was not cut)');
	$c->send("Subject: thousand\r\nMessage-Id: <thousand\@client.test>\r\n\r\none thousand asked\r\n.\r\n");
	like($c->reply(30), qr/^250 2\.0\.0 /, 'the message is accepted');
	my $rss = $pid ? kb(status_field($pid, 'VmRSS')) : undef;
	my $hwm = $pid ? kb(status_field($pid, 'VmHWM')) : undef;
	like($c->quit // '', qr/^221 /, 'QUIT: 221');
	my @m = new_messages();
	is(scalar @m, 1, 'delivered once');
	my @h = new_hook_files();
	is(scalar @h, 1, 'the data hook ran once');
	my $rc = $h[0]{rcpts} // '';
	is($rc, join('', map { "user$_\@example.org\n" } 1 .. 100), 'fd 3 of the data hook: exactly the first 100 recipients');
	ok($pid, 'found the worker that served the session');
	ok(defined $hwm && $hwm < 20 * 1024, 'the worker stays under 20 MB (peak VmHWM)')
	    or diag("VmHWM before " . ($hwm0 // '?') . " kB, after " . ($hwm // '?') . " kB; VmRSS " . ($rss // '?') . " kB");
	note("worker $pid: VmHWM " . ($hwm0 // '?') . " -> " . ($hwm // '?') . " kB, VmRSS " . ($rss // '?') . " kB");
}

# ---------------------------------------------------------------------------
# CR and LF inside envelope commands
{
	new_messages(); new_hook_files();
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	my $n_err = 0;
	$c->send("MAIL FROM:<a\rb\@x>\r\n");
	like($c->reply, qr/^50[01] /, 'MAIL FROM:<a CR b@x>: 500/501');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^503 /, 'and no transaction was opened (RCPT: 503)');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 /, 'a clean MAIL: 250');
	$c->send("RCPT TO:<b\@x>\rDATA\r\n");
	like($c->reply, qr/^50[01] /, 'RCPT TO:<b@x> CR DATA: 500/501');
	like($c->cmd('NOOP'), qr/^250 /, 'the DATA after the bare CR was not run (the next reply is the NOOP\'s)');
	$c->send("RCPT TO:<\"a\r\nb\"\@x>\r\n");
	my @r = (scalar $c->reply, scalar $c->reply);
	ok($r[0] =~ /^50[01] / && $r[1] =~ /^50[01] /, 'RCPT TO:<"a CRLF b"@x>: two lines, two refusals')
	    or diag(esc("@r"));
	$c->send("RCPT TO:<\"a\\\rb\"\@x>\r\n");
	like($c->reply, qr/^50[01] /, 'a quoted-pair escaping a CR ("a\\<CR>b"@x): 500/501');
	$c->send("RCPT TO:<\"a\nX-Injected: yes\"\@x>\r\n");
	@r = (scalar $c->reply, scalar $c->reply);
	ok($r[0] =~ /^50[01] / && $r[1] =~ /^50[01] /, 'RCPT with a bare LF inside the quotes: two refusals, no recipient')
	    or diag(esc("@r"));
	my @good = ('bob@example.org', '"john doe"@example.org', '"a\\"b"@example.org', '"x;y|z`id`$(id)"@example.org');
	like($c->cmd("RCPT TO:<$_>"), qr/^250 /, "RCPT TO:<$_>: accepted") for @good;
	like($c->cmd('DATA'), qr/^354 /, 'DATA: 354 (after 7 refused lines)');
	$c->send("Subject: injection\r\n\r\nbody\r\n.\r\n");
	like($c->reply(30), qr/^250 /, 'the message is accepted');
	$c->quit;

	# A single odd recipient: the Received header names it in "for <...>".
	my $d = $srv->connect;
	$d->cmd('EHLO client.test');
	$d->cmd('MAIL FROM:<alice@example.org>');
	$d->send("RCPT TO:<\"evil\r\nX-Injected: yes\"\@x>\r\n");
	@r = (scalar $d->reply, scalar $d->reply);
	ok($r[0] =~ /^50[01] / && $r[1] =~ /^50[01] /, 'RCPT TO:<"evil CRLF X-Injected: yes"@x>: two refusals') or diag(esc("@r"));
	like($d->cmd('RCPT TO:<"we ird;`id`"@example.org>'), qr/^250 /, 'one odd but valid recipient: accepted');
	like($d->cmd('DATA'), qr/^354 /, 'DATA: 354');
	$d->send("Subject: one\r\n\r\nbody\r\n.\r\n");
	like($d->reply(30), qr/^250 /, 'accepted');
	$d->quit;

	my @m = new_messages();
	is(scalar @m, 2, 'two messages stored');
	my @h = new_hook_files();
	is(scalar @h, 2, 'the data hook ran twice');
	for my $path (@m) {
		my $text = read_file($path) // '';
		my ($head) = $text =~ /\A(.*?\n)\n/s;
		$head //= $text;
		ok($head !~ /\r/, 'no CR in the stored header block of ' . (split m{/}, $path)[-1]) or diag(esc($head));
		my ($rcv) = $head =~ /\A(Received: [^\n]*\n(?:\t[^\n]*\n)*)/;
		ok(defined $rcv && ($rcv =~ tr/\n//) == 3, 'the Received header has exactly 3 lines') or diag(esc($rcv // $head));
		unlike($text, qr/^X-Injected/m, 'no injected header line');
	}
	my %want = (scalar(@good) => join('', map { "$_\n" } @good), 1 => "\"we ird;`id`\"\@example.org\n");
	for my $h (@h) {
		my $rc = $h->{rcpts} // '';
		my $n = ($rc =~ tr/\n//);
		is($rc, $want{$n} // 'no such recipient list', "fd 3: exactly the $n accepted recipients, one per line") or diag(esc($rc));
		my @env = split /\0/, $h->{env} // '';
		my @cr = grep { /[\r]/ } @env;
		is(scalar @cr, 0, 'no CR anywhere in the hook environment') or diag(esc(join ' | ', @cr));
		my ($rcpts) = map { /^POSTERN_RCPTS=(.*)\z/s ? $1 : () } @env;
		my ($from) = map { /^POSTERN_MAIL_FROM=(.*)\z/s ? $1 : () } @env;
		is(($rcpts // '') =~ s/\n\z//r, $rc =~ s/\n\z//r, 'POSTERN_RCPTS holds the same recipients as fd 3');
		is($from, 'alice@example.org', 'POSTERN_MAIL_FROM is the validated sender');
		ok(!grep({ /X-Injected|evil/ } @env), 'nothing of the refused addresses in the environment');
	}
}

# ---------------------------------------------------------------------------
# 200 lines of pipelined junk
{
	new_messages(); new_hook_files();
	srand(20250101);
	my @junk;
	while (@junk < 200) {
		my $l = join '', map { chr(0x20 + int rand 95) } 1 .. 1 + int rand 100;
		next if $l =~ /^(?:EHLO|HELO|MAIL|RCPT|DATA|RSET|NOOP|QUIT|VRFY|EXPN|HELP|STARTTLS|AUTH|BDAT)(?: |\z)/i;
		push @junk, $l;
	}
	my $c = $srv->connect;
	my $t0 = time;
	ok($c->send(join('', map { "$_\r\n" } @junk) . "QUIT\r\n"), '200 junk lines and QUIT in one write');
	my @r;
	while (defined(my $r = $c->reply(5))) { push @r, $r; last if @r > 30; }
	my $codes = codes(@r);
	is_deeply($codes, [('500 5.5.2') x 10, '421 4.7.0'], 'ten 500s (max_errors = 10), then 421 4.7.0')
	    or diag(join ', ', @$codes);
	ok(at_eof($c), 'then the server closes, without answering the rest');
	cmp_ok(time - $t0, '<', 5, 'promptly');
	is(scalar(new_messages()), 0, 'nothing is stored');
	my $d = $srv->connect;
	like($d->send_message(data => "Subject: after junk\r\n\r\nx\r\n") // 'EOF', qr/^250 /, 'the server still serves a new client');
	$d->quit;
	is(scalar(new_messages()), 1, 'and stores its message');
	new_hook_files();
}

# ---------------------------------------------------------------------------
# Half-closed connections
{
	new_messages(); new_hook_files();
	my $c = $srv->connect;
	$c->send("EHLO x\r\nMAIL FROM:<a\@x>\r\nRCPT TO:<b\@y>\r\nDATA\r\nhello\r\n.\r\nQUIT\r\n");
	ok(shutdown($c->sock, SHUT_WR), 'a whole session in one write, then shutdown(SHUT_WR)');
	my @r = map { scalar $c->reply(10) } 1 .. 6;
	like($r[0] // 'EOF', qr/^250-/, 'the EHLO reply comes');
	is_deeply(codes(@r[1 .. 5]), ['250 2.1.0', '250 2.1.5', '354', '250 2.0.0', '221 2.0.0'],
	    'and every other reply, 250 for the message and 221 included');
	ok(at_eof($c), 'then EOF');
	my @m = new_messages();
	is(scalar @m, 1, 'the message is stored once');
	like(read_file($m[0] // '/dev/null') // '', qr/\n\nhello\n\z|\nhello\n\z/, 'with its text');
	new_hook_files();

	my $d = $srv->connect;
	$d->cmd('EHLO x');
	$d->send('MAIL FROM:<a@');
	shutdown($d->sock, SHUT_WR);
	my $t0 = time;
	ok($d->closed(5), 'half a command, then SHUT_WR: the server closes');
	cmp_ok(time - $t0, '<', 2, sprintf('promptly (%.2f s), not after the command timeout', time - $t0));

	my $e = $srv->connect;
	$e->cmd('EHLO x');
	$e->cmd('MAIL FROM:<a@x>');
	$e->cmd('RCPT TO:<b@y>');
	like($e->cmd('DATA') // 'EOF', qr/^354 /, 'DATA: 354');
	$e->send("Subject: half\r\n\r\nhalf a message\r\n");
	shutdown($e->sock, SHUT_WR);
	$t0 = time;
	my $l = $e->line(5);
	ok(!defined $l && $e->closed(1), 'SHUT_WR in the middle of DATA: the server closes without a reply')
	    or diag(esc($l));
	cmp_ok(time - $t0, '<', 2, 'promptly');
	sleep 0.3;
	is(scalar(new_messages()), 0, 'and stores nothing');
}
is($srv->stop, 0, 'posternd exits 0');

# ---------------------------------------------------------------------------
# Slowloris does not hold back others
{
	my $slow = Postern::Test->start(config => {
		server => { workers => 2, min_spare => 1, max_spare => 4, max_workers => 4 },
		limits => { command_timeout => 3 } });
	my @s = map { $slow->connect } 1 .. 3;
	is(scalar(grep { ($_->greeting // '') =~ /^220 / } @s), 3, '3 slow clients connected (220)');
	my $t0 = time;
	my %start = map { $_ => $t0 } 0 .. 2;
	pipe(my $rd, my $wr) or die "pipe: $!";
	my $kid = fork // die "fork: $!";
	if ($kid == 0) {
		close $rd;
		sleep 0.3;
		my $t = time;
		my $r = eval {
			my $c = $slow->connect;
			my $x = $c->send_message(data => "Subject: not slow\r\n\r\nquick\r\n");
			$c->quit;
			$x;
		};
		printf $wr "%.3f %s\n", time - $t, ($r // 'EOF') =~ s/\r?\n.*//sr;
		close $wr;
		POSIX::_exit(0);
	}
	close $wr;
	my @cmd = map { "NOOP " . ('z' x 20) } 0 .. 2;
	my (%cut, %reply);
	my $next = $t0;
	my $sel = IO::Select->new(map { $_->sock } @s);
	while (time < $t0 + 8 && keys(%cut) < 3) {
		if (time >= $next) {
			for my $i (0 .. 2) {
				next if $cut{$i} || $cmd[$i] eq '';
				$s[$i]->send(substr($cmd[$i], 0, 1, ''));
			}
			$next += 1;
		}
		my $wait = $next - time;
		$wait = 0.01 if $wait < 0.01;
		for my $sock ($sel->can_read($wait)) {
			my ($i) = grep { $s[$_]->sock == $sock } 0 .. 2;
			next if $cut{$i};
			my $r = $s[$i]->reply(0.5);
			$cut{$i} = time - $start{$i};
			$reply{$i} = $r;
			$sel->remove($sock);
		}
	}
	my $res = <$rd> // '';
	close $rd;
	waitpid($kid, 0);
	my ($took, $final) = $res =~ /^([\d.]+) (.*)$/;
	like($final // 'no result', qr/^250 /, 'a normal client delivers a message while 3 slowloris clients dribble');
	ok(defined $took && $took < 3, sprintf('within 3 s (%s s)', $took // '?'));
	for my $i (0 .. 2) {
		like($reply{$i} // 'none', qr/^421 4\.4\.2 /, "slow client $i is cut with 421 4.4.2");
		ok(defined $cut{$i} && $cut{$i} > 2.5 && $cut{$i} < 4.5,
		    sprintf('at about command_timeout = 3 s, not later (%s s)', defined $cut{$i} ? sprintf('%.2f', $cut{$i}) : 'never'));
	}
	is($slow->stop, 0, 'the slowloris server exits 0');
}

# ---------------------------------------------------------------------------
# Privileges and file modes
SKIP: {
	my $tls = Postern::Test->start(tls => 1, config => { smtp => { tls => 'starttls' } });
	my $key = $tls->dir . '/server-key.pem';
	my @st = stat $key;
	ok(@st && ($st[2] & 07777) == 0600 && $st[4] == 0, sprintf('the TLS key is mode 0600, owned by root (%04o, uid %s)', ($st[2] // 0) & 07777, $st[4] // '?'));
	if (Postern::Test::is_root()) {
		my $out = `setpriv --reuid=nobody --regid=nogroup --clear-groups cat '$key' 2>/dev/null`;
		my $st = $?;
		ok($st != 0 && $out !~ /PRIVATE KEY/, 'a process running as nobody cannot read the key')
		    or diag("exit $st, read " . length($out) . ' bytes');
		my @w = $tls->worker_pids;
		ok(@w, 'the TLS server has workers');
		my (@root, @keyfd);
		for my $pid (@w) {
			my ($uid) = split ' ', status_field($pid, 'Uid') // '';
			push @root, $pid if !defined $uid || $uid == 0;
			opendir my $d, "/proc/$pid/fd" or next;
			for my $fd (readdir $d) {
				my $l = readlink("/proc/$pid/fd/$fd") // next;
				push @keyfd, "$pid:$fd" if $l eq $key;
			}
		}
		is("@root", '', 'no worker runs as root');
		is("@keyfd", '', 'no worker holds the key file open');
	} else {
		skip 'not root: workers are not run as nobody', 4;
	}
	my $c = $tls->connect;
	like($c->send_message(data => "Subject: modes\r\n\r\nx\r\n") // 'EOF', qr/^250 /, 'a message is delivered');
	$c->quit;
	my $md = $tls->maildir;
	for my $p ($md, "$md/tmp", "$md/new", "$md/cur") {
		my @s = stat $p;
		ok(@s && !($s[2] & 0002), sprintf('%s is not world-writable (%04o)', $p =~ s{^\Q$md\E}{Maildir}r, ($s[2] // 0) & 07777));
	}
	my ($msg) = $tls->messages;
	my @ms = stat($msg // '/nonexistent');
	is(sprintf('%04o', ($ms[2] // 0) & 07777), '0600', 'the message file is mode 0600');
	my @ps = stat($tls->dir . '/posternd.pid');
	ok(@ps && !($ps[2] & 0022), sprintf('the pidfile is not group- or world-writable (%04o)', ($ps[2] // 0) & 07777));
	my @spool = grep { !/^(?:\.|\.\.|Maildir|postern-maildir|postern\.conf|posternd\.(?:log|pid|pid\.status)|server[-.].*)$/ }
	    do { opendir my $dd, $tls->dir; readdir $dd };
	is("@spool", '', 'no spool file is left in spool_directory');
	is($tls->stop, 0, 'the TLS server exits 0');
}

done_testing;
