#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# data-hook.t - the data hook contract of DESIGN.md "Hooks": exit status to
# reply, the reply override from stdout (class-checked), bounded stdout and
# stderr, the timeout that kills the whole process group, the environment,
# fd 3 and stdin, cwd /, no shell anywhere between the client and the hook,
# and no hook run for a message the client did not finish.
#
# The hooks are small /bin/sh scripts in a directory the workers' user owns;
# what they write goes there too.
use strict;
use warnings;
use Test::More;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);
use Postern::Test qw(read_file esc sleepers wait_until);


my $dir = Postern::Test::workdir();
my $hook = "$dir/hook";
Postern::Test::write_script($dir, 'hook', "#!/bin/sh\ncat >/dev/null\nexit 0\n");
my $srv = Postern::Test->start(dir => $dir,
    config => { hooks => { data => $hook, data_timeout => 20 }, limits => { max_recipients => 1000 } });

# Replace the hook script (run afresh for each message).
sub set_hook { Postern::Test::write_script($dir, 'hook', "#!/bin/sh\n$_[0]") }
# One message on a new connection; returns the reply to the final dot.
sub deliver {
	my (%o) = @_;
	my $c = $srv->connect;
	my $r = $c->send_message(%o);
	$c->quit;
	return $r // 'EOF';
}

# ---------------------------------------------------------------- exit status
{
	my @cases = (
		[0, qr/^250 2\.0\.0 /, '250 2.0.0'],
		[1, qr/^550 5\.7\.1 /, '550 5.7.1'],
		[67, qr/^550 5\.1\.1 /, '550 5.1.1'],
		[68, qr/^550 5\.1\.2 /, '550 5.1.2'],
		[77, qr/^550 5\.7\.1 /, '550 5.7.1'],
		[75, qr/^451 4\.3\.0 /, '451 4.3.0'],
	);
	for my $case (@cases) {
		my ($st, $re, $what) = @$case;
		set_hook("cat >/dev/null\nexit $st\n");
		like(deliver(), $re, "exit $st -> $what");
	}
	for my $st (2, 3, 64, 126, 127, 255) {
		set_hook("cat >/dev/null\nexit $st\n");
		like(deliver(), qr/^451 4\.\d\.\d+ /, "exit $st (not in the table) -> 451, never 5xx or 250");
	}
	for my $sig ('SEGV', 'KILL', 'TERM') {
		set_hook("ulimit -c 0\nkill -$sig \$\$\nexit 0\n");
		like(deliver(), qr/^451 4\.\d\.\d+ /, "killed by SIG$sig -> 451");
	}
	# a failure keeps its class whatever stdout says
	set_hook("echo '250 2.0.0 fine really'\nexit 3\n");
	like(deliver(), qr/^451 4\.\d\.\d+ /, 'exit 3 with a 250 on stdout -> still 451');
	set_hook("echo '550 5.7.1 go away'\nexit 3\n");
	like(deliver(), qr/^451 4\.\d\.\d+ /, 'exit 3 with a 550 on stdout -> still 451');
	set_hook("echo '250 2.0.0 fine really'\nkill -SEGV \$\$\n");
	like(deliver(), qr/^451 4\.\d\.\d+ /, 'killed by a signal after printing a 250 -> 451');
}

# ---------------------------------------------------------------- reply override
{
	set_hook("cat >/dev/null\necho '550 5.1.1 <bob\@example.org>: no such user here'\nexit 1\n");
	is(deliver(), "550 5.1.1 <bob\@example.org>: no such user here\r\n", 'exit 1 + stdout 550 line: the client gets exactly that line');
	set_hook("echo '250 2.0.0 stored as 12345'\nexit 0\n");
	is(deliver(), "250 2.0.0 stored as 12345\r\n", 'exit 0 + stdout 250 line: the client gets exactly that line');
	set_hook("printf '451 4.7.1 greylisted, come back later\\r\\n'\nexit 75\n");
	is(deliver(), "451 4.7.1 greylisted, come back later\r\n", 'exit 75 + stdout 451 line (CRLF): that line');
	set_hook("printf '550 5.1.1 first line\\n550 5.1.1 second line\\n'\nexit 67\n");
	is(deliver(), "550 5.1.1 first line\r\n", 'only the first stdout line is the reply');

	my $off = length $srv->log_text;
	set_hook("echo '250 ok'\nexit 1\n");
	like(deliver(), qr/^550 5\.7\.1 (?!ok)/, 'exit 1 + stdout "250 ok" (class mismatch): default 550 5.7.1');
	ok($srv->wait_log_since($off, qr/250(?: |\\x20)ok.*(?:match|class)/), 'the log mentions the mismatched reply')
	    or diag($srv->log_since($off));

	set_hook("printf '\\001\\377\\376250 2.0.0 garbage\\n'\nexit 0\n");
	my $r = deliver();
	like($r, qr/^250 2\.0\.0 [\x20-\x7e]*\r\n\z/, 'binary stdout, exit 0: default 250 text');
	unlike($r, qr/garbage/, 'and none of the garbage');
	set_hook("printf '250 2.0.0 a\\033[2Jb\\n'\nexit 0\n");
	$r = deliver();
	like($r, qr/^250 2\.0\.0 [\x20-\x7e]*\r\n\z/, 'stdout with an escape sequence: not passed to the client');
	set_hook("printf '\\377\\376junk'\nexit 1\n");
	like(deliver(), qr/^550 5\.7\.1 [\x20-\x7e]*\r\n\z/, 'binary stdout, exit 1: default 550 5.7.1 text');

	# 10 MB on each of stdout and stderr, written at the same time
	my $mark = "bigerr-$$";
	$off = length $srv->log_text;
	set_hook("yes '$mark' | head -c 10485760 >&2 &\nyes bigout | head -c 10485760\nwait\nexit 0\n");
	my $t0 = time;
	my $c = $srv->connect(undef, timeout => 60);
	$r = $c->send_message();
	my $took = time - $t0;
	like($r // 'EOF', qr/^250 2\.0\.0 /, '10 MB stdout + 10 MB stderr, exit 0: 250');
	cmp_ok($took, '<', 15, 'without hanging') or diag(sprintf 'took %.1f s', $took);
	$c->quit;
	my $log = $srv->log_since($off);
	my $n = () = $log =~ /^.*\Q$mark\E.*$/mg;
	ok($n >= 1 && $n <= 55, 'the log has at most ~50 stderr lines from that hook')
	    or diag("$n stderr lines logged");
}

# ---------------------------------------------------------------- environment, fd 3, stdin, cwd
{
	unlink glob("$dir/*.out");
	set_hook(<<"EOS");
env -0 > $dir/env.out
cat <&3 > $dir/fd3.out
cat > $dir/stdin.out
pwd > $dir/pwd.out
echo "\$#" > $dir/argc.out
exit 0
EOS
	my $msg = "Subject: env\r\n\r\nline one\r\n..dot\r\nline three\r\n";
	my @rcpts = ('bob@example.org', 'carol@example.org', 'dave@example.net');
	my $c = $srv->connect;
	like($c->cmd('EHLO env-client.test'), qr/^250 /m, 'EHLO');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=1234 BODY=8BITMIME'), qr/^250 /, 'MAIL with SIZE and BODY');
	like($c->cmd("RCPT TO:<$_>"), qr/^250 /, "RCPT $_") for @rcpts;
	like($c->cmd('DATA'), qr/^354 /, 'DATA');
	$c->send($msg . ".\r\n");
	my $r = $c->reply;
	like($r // 'EOF', qr/^250 2\.0\.0 /, 'environment-dumping hook accepted the message');
	my $cport = $c->sock->sockport;
	$c->quit;

	my %env;
	my $raw = read_file("$dir/env.out") // '';
	for my $kv (split /\0/, $raw) {
		my ($k, $v) = $kv =~ /\A([^=]*)=(.*)\z/s or next;
		$env{$k} = $v;
	}
	ok(%env, 'the hook dumped its environment');
	is($env{POSTERN_HOOK}, 'data', 'POSTERN_HOOK=data');
	like($env{POSTERN_SESSION} // '', qr/\A\S+\z/, 'POSTERN_SESSION set');
	ok(defined $env{POSTERN_SESSION} && $srv->log_text =~ /\Q$env{POSTERN_SESSION}\E/, 'the session id is the one in the log');
	is($env{POSTERN_ENDPOINT}, 'smtp', 'POSTERN_ENDPOINT=smtp');
	is($env{POSTERN_CLIENT_ADDR}, '127.0.0.1', 'POSTERN_CLIENT_ADDR');
	is($env{POSTERN_CLIENT_PORT}, $cport, 'POSTERN_CLIENT_PORT is the client\'s port');
	is($env{POSTERN_SERVER_ADDR}, '127.0.0.1', 'POSTERN_SERVER_ADDR');
	is($env{POSTERN_SERVER_PORT}, $srv->port, 'POSTERN_SERVER_PORT');
	is($env{POSTERN_HELO}, 'env-client.test', 'POSTERN_HELO is the EHLO name');
	is($env{POSTERN_MAIL_FROM}, 'alice@example.org', 'POSTERN_MAIL_FROM');
	is($env{POSTERN_SIZE}, '1234', 'POSTERN_SIZE is the declared SIZE');
	is($env{POSTERN_BODY}, '8BITMIME', 'POSTERN_BODY');
	like($env{POSTERN_RCPTS} // '', qr/\A\Q$rcpts[0]\E\n\Q$rcpts[1]\E\n\Q$rcpts[2]\E\n?\z/, 'POSTERN_RCPTS: the three recipients, one per line');
	is($env{PROTO}, 'TCP', 'PROTO=TCP');
	is($env{TCPREMOTEIP}, '127.0.0.1', 'TCPREMOTEIP');
	is($env{TCPREMOTEPORT}, $cport, 'TCPREMOTEPORT');
	is($env{TCPLOCALIP}, '127.0.0.1', 'TCPLOCALIP');
	is($env{TCPLOCALPORT}, $srv->port, 'TCPLOCALPORT');
	like($env{PATH} // '', qr/\A\S+\z/, 'PATH set');
	my @other = grep { !/\A(?:POSTERN_\w+|TCP\w+|PROTO|PATH|PWD|SHLVL|_)\z/ } sort keys %env;
	is("@other", '', 'no other environment variables');
	is(read_file("$dir/fd3.out"), join('', map { "$_\n" } @rcpts), 'fd 3: the recipients, each followed by a newline');
	my $in = read_file("$dir/stdin.out") // '';
	(my $want = $msg) =~ s/\r\n/\n/g;
	$want =~ s/^\.\././mg;
	like($in, qr/\AReceived: from env-client\.test \(\[127\.0\.0\.1\]\)\n\t[^\n]*\n\t[^\n]*\n\Q$want\E\z/,
	    'stdin: the Received header, then the message unstuffed with LF line ends');
	is(read_file("$dir/pwd.out"), "/\n", 'the data hook runs in /');
	is(read_file("$dir/argc.out"), "0\n", 'no arguments added to the configured command');

	# descriptors: 0-3 only (ls adds one for the directory it reads)
	unlink "$dir/fds.out";
	set_hook("exec /bin/ls -l /proc/self/fd > $dir/fds.out\n");
	like(deliver(), qr/^250 /, 'descriptor-listing hook ran');
	my %fd = (read_file("$dir/fds.out") // '') =~ /^\S+.*? (\d+) -> (.*)$/mg;
	is(join(',', sort { $a <=> $b } grep { $_ <= 3 } keys %fd), '0,1,2,3', 'the hook has descriptors 0-3');
	my @extra = grep { $_ > 3 && $fd{$_} !~ m{\A/proc/\d+/fd\z} } sort { $a <=> $b } keys %fd;
	is(join(' ', map { "$_ -> $fd{$_}" } @extra), '', 'and no other descriptor of the worker');
}

# ---------------------------------------------------------------- fd 3 without a size limit
{
	# 400 recipients of about 200 octets: more than a pipe buffer (64 KiB)
	my $dom = join('.', map { chr(ord('a') + $_) x 63 } 0 .. 2) . '.example';
	my @rcpts = map { sprintf("r%04d\@%s", $_, $dom) } 1 .. 400;
	my $send = sub {
		my $c = $srv->connect;
		$c->cmd('EHLO client.test');
		$c->cmd('MAIL FROM:<alice@example.org>');
		$c->send(join('', map { "RCPT TO:<$_>\r\n" } @rcpts));
		my $ok = grep { ($c->reply // '') =~ /^250 / } @rcpts;
		is($ok, scalar @rcpts, '400 long recipients accepted');
		my $r = $c->cmd('DATA') // 'EOF';
		$c->send("Subject: many\r\n\r\nmany\r\n.\r\n") if $r =~ /^354 /;
		$r = $c->reply(30) // 'EOF' if $r =~ /^354 /;
		my $noop = $c->cmd('NOOP') // 'EOF';
		$c->quit;
		return ($r, $noop);
	};
	unlink "$dir/fd3big.out";
	set_hook("cat <&3 > $dir/fd3big.out\ncat >/dev/null\nexit 0\n");
	my ($r) = $send->();
	like($r, qr/^250 2\.0\.0 /, 'a hook reading 80 KB of recipients on fd 3: 250');
	my $got = read_file("$dir/fd3big.out") // '';
	ok($got eq join('', map { "$_\n" } @rcpts), 'fd 3 carries all 400 recipients, complete')
	    or diag(sprintf '%d of %d octets', length $got, length join('', map { "$_\n" } @rcpts));

	set_hook("exec 3<&-\ncat >/dev/null\nsleep 0.2\nexit 0\n");
	my $t0 = time;
	my ($r2, $noop) = $send->();
	like($r2, qr/^250 2\.0\.0 /, 'a hook that closes fd 3 unread: still 250');
	like($noop, qr/^250 /, 'and the session goes on');
	cmp_ok(time - $t0, '<', 10, 'without waiting for the timeout');
	set_hook("cat >/dev/null\nexit 0\n");
	($r2) = $send->();
	like($r2, qr/^250 2\.0\.0 /, 'a hook that ignores fd 3 and exits: 250');
}

# ---------------------------------------------------------------- no shell in between
{
	my $tag = "pwned-$$";
	unlink glob("/tmp/$tag-*");
	unlink glob("$dir/*.out");
	set_hook(<<"EOS");
printf '%s' "\$POSTERN_MAIL_FROM" > $dir/from.out
cat <&3 > $dir/fd3.out
echo "\$#" > $dir/argc.out
cat >/dev/null
exit 0
EOS
	my @senders = ("`touch\${IFS}/tmp/$tag-a`\@example.org",
	    "\"`touch /tmp/$tag-b`\"\@example.org",
	    "\"\$(touch /tmp/$tag-c)\"\@example.org");
	my @rcpts = ("-`touch\${IFS}/tmp/$tag-r`\@example.org", "--help\@example.org");
	for my $from (@senders) {
		unlink "$dir/from.out", "$dir/fd3.out", "$dir/argc.out";
		my $c = $srv->connect;
		$c->cmd('EHLO client.test');
		like($c->cmd("MAIL FROM:<$from>"), qr/^250 /, "MAIL FROM:<$from> accepted (valid syntax)");
		like($c->cmd("RCPT TO:<$_>"), qr/^250 /, "RCPT TO:<$_> accepted") for @rcpts;
		like($c->cmd('DATA'), qr/^354 /, 'DATA');
		$c->send("Subject: inject\r\n\r\nx\r\n.\r\n");
		like($c->reply // 'EOF', qr/^250 /, 'message accepted');
		$c->quit;
		is(read_file("$dir/from.out"), $from, 'the hook got the sender verbatim in POSTERN_MAIL_FROM');
		is(read_file("$dir/fd3.out"), join('', map { "$_\n" } @rcpts), 'and the recipients verbatim on fd 3');
		is(read_file("$dir/argc.out"), "0\n", 'and nothing in argv');
	}
	my @pwned = glob("/tmp/$tag-*");
	is("@pwned", '', 'no command in an address was run');
	unlink @pwned;
}

# ---------------------------------------------------------------- unfinished messages
{
	my $count = "$dir/count";
	unlink $count;
	set_hook("cat >/dev/null\necho run >> $count\nexit 0\n");
	my $runs = sub { my $t = read_file($count) // ''; my $n = () = $t =~ /^run$/mg; $n };
	like(deliver(), qr/^250 /, 'counting hook: a complete message');
	is($runs->(), 1, 'the hook ran once');

	my @cut = (
		['in the middle of a line', "Subject: cut\r\n\r\npartial li"],
		['after a complete line', "Subject: cut\r\n\r\nbody\r\n"],
		['after CRLF "."', "Subject: cut\r\n\r\nbody\r\n."],
		['after CRLF "." CR', "Subject: cut\r\n\r\nbody\r\n.\r"],
		['after CRLF "." LF', "Subject: cut\r\n\r\nbody\r\n.\n"],
		['after LF "." CRLF', "Subject: cut\r\n\r\nbody\n.\r\n"],
		['after CR "." CR', "Subject: cut\r\n\r\nbody\r.\r"],
		['half-close after a line', "Subject: cut\r\n\r\nbody\r\n", 'shutdown'],
		['reset after a line', "Subject: cut\r\n\r\nbody\r\n", 'reset'],
	);
	for my $case (@cut) {
		my ($name, $data, $how) = @$case;
		my $c = $srv->connect;
		$c->cmd('EHLO client.test');
		$c->cmd('MAIL FROM:<alice@example.org>');
		$c->cmd('RCPT TO:<bob@example.org>');
		like($c->cmd('DATA'), qr/^354 /, "disconnect $name: DATA");
		my $cport = $c->sock->sockport;
		$c->send($data);
		if (($how // '') eq 'shutdown') {
			shutdown($c->sock, 1);
			$c->closed(10);
		} elsif (($how // '') eq 'reset') {
			setsockopt($c->sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
		}
		$c->close;
		ok($srv->wait_log(qr/disconnect from \[127\.0\.0\.1\]:$cport\b/), "disconnect $name: the session ended");
		is($runs->(), 1, "disconnect $name: the hook was not run");
	}
	like(deliver(), qr/^250 /, 'counting hook: another complete message');
	is($runs->(), 2, 'the hook ran for it');
}

is(join(' ', $srv->zombies), '', 'no zombie children after all those hooks');
is($srv->stop, 0, 'posternd exits 0 on SIGTERM');

# ---------------------------------------------------------------- a hook that vanished
{
	my $d2 = Postern::Test::workdir();
	my $path = Postern::Test::write_script($d2, 'vanishing-hook', "#!/bin/sh\ncat >/dev/null\nexit 0\n");
	my $s2 = Postern::Test->start(dir => $d2, config => { hooks => { data => $path } });
	unlink $path or die "unlink $path: $!";
	my $off = length $s2->log_text;
	my $c = $s2->connect;
	like($c->send_message // 'EOF', qr/^451 4\.\d\.\d+ /, 'a data hook that does not exist: 451');
	$c->quit;
	ok($s2->wait_log_since($off, qr/\Q$path\E/), 'the log names the missing hook\'s path')
	    or diag($s2->log_since($off));
	is($s2->stop, 0, 'posternd exits 0');
}

# ---------------------------------------------------------------- timeout
{
	my $d3 = Postern::Test::workdir();
	my ($fg, $bg) = (sprintf('31.%d5', $$), sprintf('32.%d5', $$));
	my $path = Postern::Test::write_script($d3, 'slow-hook', "#!/bin/sh\nsleep $bg &\nsleep $fg\nexit 0\n");
	my $s3 = Postern::Test->start(dir => $d3, config => { hooks => { data => $path, data_timeout => 2 } });
	my $c = $s3->connect;
	$c->cmd('EHLO client.test');
	$c->cmd('MAIL FROM:<alice@example.org>');
	$c->cmd('RCPT TO:<bob@example.org>');
	like($c->cmd('DATA'), qr/^354 /, 'timeout: DATA');
	my $t0 = time;
	$c->send("Subject: slow\r\n\r\nslow\r\n.\r\n");
	ok(wait_until(sub { sleepers($fg) && sleepers($bg) }, 2), 'the hook and its background child run');
	my $r = $c->reply(30);
	my $took = time - $t0;
	like($r // 'EOF', qr/^451 4\.\d\.\d+ /, 'a hook over data_timeout: 451');
	ok($took >= 1.5 && $took <= 6, 'after about data_timeout (2 s)') or diag(sprintf 'took %.2f s', $took);
	ok(wait_until(sub { !sleepers($fg) }, 5), 'the hook process is gone') or diag("left: " . join ' ', sleepers($fg));
	ok(wait_until(sub { !sleepers($bg) }, 5), 'its background child is gone too (the whole process group)')
	    or diag("left: " . join ' ', sleepers($bg));
	is(join(' ', $s3->zombies), '', 'no zombie children of the server');
	like($c->cmd('NOOP') // 'EOF', qr/^250 /, 'the session goes on after the timeout');
	$c->quit;
	kill 'KILL', sleepers($fg), sleepers($bg);     # leave nothing behind if the test failed
	is($s3->stop, 0, 'posternd exits 0');
}

done_testing;
