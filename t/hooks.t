#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# hooks.t - the hook contract of DESIGN.md "Hooks" for the connect, helo,
# mail and rcpt hooks (the data hook has its own battery, data-hook.t), in
# both modes: exec (one program per question, answering by exit status and
# an optional reply line on stdout) and persistent (a co-process, or a
# policy server that runs already, speaking the Postfix policy delegation
# protocol).  Then: policy servers on inet: and unix: sockets, a real
# postgrey, the auth hook as a checkpassword program and as a persistent
# postern_auth hook, the persistent postern_data request, the process
# context of hooks (user, descriptors, directory, environment), and every
# example shipped in hooks/examples.
#
# Hooks and what they write live in directories that the workers' user
# owns; helper servers (policy servers, HTTP, postgrey) are started here on
# free loopback ports and stopped by PID.  Every wait is bounded.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Postern::Test qw(read_file esc wait_until alive sleepers);

$SIG{PIPE} = 'IGNORE';          # a server that hangs up must fail a test, not end the run

my $EXAMPLES = Postern::Test::srcdir() . '/hooks/examples';
my $ROOT = Postern::Test::is_root();
my $NOBODY_UID = (getpwnam('nobody'))[2];
my $NOGROUP_GID = (getgrnam('nogroup'))[2];
my @KINDS = qw(connect helo mail rcpt);

# ================================================================== helpers

# Write a file atomically (a hook reading it never sees half of it).
sub put {
	my ($path, $text, $mode) = @_;
	my $tmp = "$path.tmp$$";
	open my $f, '>:raw', $tmp or die "$tmp: $!";
	print $f $text;
	close $f or die "$tmp: $!";
	chmod $mode // 0644, $tmp;
	rename $tmp, $path or die "rename $tmp: $!";
	return $path;
}

# NUL-separated NAME=VALUE (an environ file) to a hash.
sub environ_hash {
	my ($raw) = @_;
	my %e;
	for my $kv (split /\0/, $raw // '') {
		my ($k, $v) = $kv =~ /\A([^=]*)=(.*)\z/s or next;
		$e{$k} = $v;
	}
	return \%e;
}

# "name=value" lines (a policy request) to name => [values].
sub attrs_hash {
	my ($raw) = @_;
	my %a;
	for my $l (split /\n/, $raw // '') {
		my ($k, $v) = $l =~ /\A([^=]*)=(.*)\z/s or next;
		push @{ $a{$k} }, $v;
	}
	return \%a;
}

# Helper servers started here: stopped by PID, at the latest at the end.
my %HELPERS;
sub spawn_helper {
	my ($log, @cmd) = @_;
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $log;
		open STDERR, '>>', $log;
		exec @cmd or POSIX::_exit(127);
	}
	$HELPERS{$pid} = 1;
	return $pid;
}
sub stop_helper {
	my ($pid) = @_;
	return unless $pid && delete $HELPERS{$pid};
	kill 'TERM', $pid;
	return if wait_until(sub { waitpid($pid, WNOHANG) != 0 }, 5);
	kill 'KILL', $pid;
	waitpid($pid, 0);
}
END {
	local $?;
	for my $pid (keys %HELPERS) {
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
}

# Messages in a server's Maildir that were not there before.
sub new_messages {
	my ($srv, $before) = @_;
	my %old = map { $_ => 1 } @$before;
	return grep { !$old{$_} } $srv->messages;
}

# A session up to the command that asks KIND's hook: the greeting for
# connect, EHLO for helo, MAIL for mail, RCPT for rcpt.  Returns
#   reply  - the reply to that step (the whole text, CRLFs kept)
#   took   - seconds that step took
#   noop   - the reply to a NOOP sent after it (not for connect)
#   closed - for a refused greeting: the server closed the connection
#   during - what the "during" callback returned: it runs while the hook
#            is being asked (after the command was sent, before the reply)
my %STEP = (connect => 0, helo => 1, mail => 2, rcpt => 3);
sub step {
	my ($srv, $kind, %o) = @_;
	my $t0 = time;
	my $c = $srv->connect(undef, timeout => 20, no_greeting => 1);
	my %r;
	$r{during} = $o{during}->() if $o{during} && $kind eq 'connect';
	$r{reply} = $c->reply // 'EOF';
	$r{took} = time - $t0;
	my @cmds = ('EHLO ' . ($o{helo} // 'client.test'),
	    'MAIL FROM:<' . ($o{from} // 'alice@example.org') . '>' . ($o{mail_params} // ''),
	    'RCPT TO:<' . ($o{to} // 'bob@example.org') . '>');
	for my $i (1 .. $STEP{$kind}) {
		if ($r{reply} !~ /^2\d\d[ -]/) {
			$r{reply} = "(refused before the $kind step) $r{reply}";
			last;
		}
		$t0 = time;
		$c->send("$cmds[$i - 1]\r\n");
		$r{during} = $o{during}->() if $o{during} && $i == $STEP{$kind};
		$r{reply} = $c->reply // 'EOF';
		$r{took} = time - $t0;
	}
	if ($kind eq 'connect') {
		if ($r{reply} =~ /^220 /) {
			$c->quit;
		} else {
			$r{closed} = $c->closed(5);
			$c->close;
		}
	} else {
		$r{noop} = $c->cmd('NOOP') // 'EOF';
		$c->quit;
	}
	return \%r;
}

my %ACCEPT = (connect => qr/^220 mx\.test /, helo => qr/^250-mx\.test\r\n/,
    mail => qr/^250 2\.1\.0 /, rcpt => qr/^250 2\.1\.5 /);
# The refusal and temporary-failure replies of a step: the greeting only
# knows 554 and 421 (RFC 5321 3.1, 4.3.2).
sub rej_code { return $_[0] eq 'connect' ? 554 : 550 }
sub tmp_code { return $_[0] eq 'connect' ? 421 : 451 }
sub rej_re { my ($k) = @_; return $k eq 'connect' ? qr/^554 5\.\d\.\d+ [\x20-\x7e]*\r\n\z/ : qr/^550 5\.7\.1 [\x20-\x7e]*\r\n\z/ }
sub tmp_re { my ($k) = @_; return $k eq 'connect' ? qr/^421 4\.\d\.\d+ [\x20-\x7e]*\r\n\z/ : qr/^451 4\.\d\.\d+ [\x20-\x7e]*\r\n\z/ }

# Checks that a refused step left the session usable (or, for a refused
# greeting, that the server closed the connection).
sub after_refusal {
	my ($kind, $r, $name) = @_;
	if ($kind eq 'connect') {
		ok($r->{closed}, "$name: and the server closes the connection");
	} else {
		like($r->{noop}, qr/^250 /, "$name: and the session goes on (NOOP 250)");
	}
}

# ================================================================== exec mode

my $dA = Postern::Test::workdir();
my %hookA = map { $_ => put("$dA/$_-hook", "#!/bin/sh\nexit 0\n", 0755) } @KINDS;
sub set_hookA { my ($kind, $body) = @_; put($hookA{$kind}, "#!/bin/sh\n$body", 0755) }
my $A = Postern::Test->start(dir => $dA, config => { hooks => {
	(map { ($_ => $hookA{$_}, "${_}_timeout" => 2) } @KINDS) } });

my $i = 0;
for my $kind (@KINDS) {
	$i++;
	my ($R, $T) = (rej_code($kind), tmp_code($kind));
	my $rej = rej_re($kind);
	my $tmp = tmp_re($kind);
	my $n = "exec $kind";
	my $r;

	set_hookA($kind, "exit 0\n");
	$r = step($A, $kind);
	like($r->{reply}, $ACCEPT{$kind}, "$n: exit 0 -> accepted");

	set_hookA($kind, "exit 75\n");
	$r = step($A, $kind);
	like($r->{reply}, $kind eq 'connect' ? $tmp : qr/^451 4\.3\.0 /, "$n: exit 75 -> $T");
	after_refusal($kind, $r, "$n: exit 75");

	set_hookA($kind, "exit 1\n");
	$r = step($A, $kind);
	like($r->{reply}, $rej, "$n: exit 1 -> $R 5.7.1");
	after_refusal($kind, $r, "$n: exit 1");

	set_hookA($kind, "exit 67\n");
	$r = step($A, $kind);
	like($r->{reply}, $kind eq 'connect' ? $rej : qr/^550 5\.1\.1 /, "$n: exit 67 -> " . ($kind eq 'connect' ? '554' : '550 5.1.1'));

	set_hookA($kind, "exit 68\n");
	$r = step($A, $kind);
	like($r->{reply}, $kind eq 'connect' ? $rej : qr/^550 5\.1\.2 /, "$n: exit 68 -> " . ($kind eq 'connect' ? '554' : '550 5.1.2'));

	set_hookA($kind, "exit 77\n");
	$r = step($A, $kind);
	like($r->{reply}, $rej, "$n: exit 77 -> $R 5.7.1");

	# the reply line on stdout
	set_hookA($kind, "echo '$R 5.7.1 custom $kind refusal'\nexit 1\n");
	$r = step($A, $kind);
	is($r->{reply}, "$R 5.7.1 custom $kind refusal\r\n", "$n: exit 1 + '$R 5.7.1 custom ...' on stdout: the client gets that line");

	my $T4 = $kind eq 'connect' ? 421 : 450;
	set_hookA($kind, "printf '$T4 4.7.1 custom $kind later\\r\\n'\nexit 75\n");
	$r = step($A, $kind);
	is($r->{reply}, "$T4 4.7.1 custom $kind later\r\n", "$n: exit 75 + '$T4 4.7.1 custom ...' (CRLF) on stdout: that line");

	if ($kind ne 'connect') {
		set_hookA($kind, "echo '550 5.1.1 <bob\@example.org>: no such user here'\nexit 67\n");
		$r = step($A, $kind);
		is($r->{reply}, "550 5.1.1 <bob\@example.org>: no such user here\r\n", "$n: exit 67 + a 550 5.1.1 line: that line");
	}

	# a reply of the wrong class is ignored
	set_hookA($kind, "echo '250 2.0.0 fine really'\nexit 1\n");
	$r = step($A, $kind);
	like($r->{reply}, $rej, "$n: exit 1 + a 250 line (wrong class): default $R");
	unlike($r->{reply}, qr/fine really/, "$n: ... without the hook's text");

	set_hookA($kind, "echo '$R 5.7.1 nope'\nexit 0\n");
	$r = step($A, $kind);
	like($r->{reply}, $ACCEPT{$kind}, "$n: exit 0 + a $R line (wrong class): accepted");

	set_hookA($kind, "echo '550 5.7.1 nope'\nexit 75\n");
	$r = step($A, $kind);
	like($r->{reply}, $tmp, "$n: exit 75 + a 550 line (wrong class): default $T");
	unlike($r->{reply}, qr/nope/, "$n: ... without the hook's text");

	# garbage and a flood on stdout
	set_hookA($kind, "printf '\\001\\377\\376$R 5.7.1 garbage\\n'\nexit 1\n");
	$r = step($A, $kind);
	like($r->{reply}, $rej, "$n: binary garbage on stdout, exit 1: default $R text");
	unlike($r->{reply}, qr/garbage/, "$n: ... none of the garbage");

	set_hookA($kind, "printf '$R 5.7.1 first line wins\\n'\nyes 'spam spam spam' | head -c 10485760\nexit 1\n");
	$r = step($A, $kind);
	is($r->{reply}, "$R 5.7.1 first line wins\r\n", "$n: 10 MB on stdout after a reply line: the first line, only");
	cmp_ok($r->{took}, '<', 10, "$n: ... without hanging") or diag(sprintf 'took %.1f s', $r->{took});

	# failures: never a 5xx, never a 250
	set_hookA($kind, "exit 3\n");
	$r = step($A, $kind);
	like($r->{reply}, $tmp, "$n: exit 3 (not in the table) -> $T");

	set_hookA($kind, "ulimit -c 0\nkill -SEGV \$\$\nexit 0\n");
	$r = step($A, $kind);
	like($r->{reply}, $tmp, "$n: killed by SIGSEGV -> $T");
	after_refusal($kind, $r, "$n: SIGSEGV");

	# past the timeout (2 s)
	my $arg = sprintf('4%d.%d7', $i, $$);
	set_hookA($kind, "sleep $arg\nexit 0\n");
	$r = step($A, $kind, during => sub { wait_until(sub { sleepers($arg) }, 1.5) });
	ok($r->{during}, "$n: a hook that sleeps: it runs");
	like($r->{reply}, $tmp, "$n: a hook sleeping past ${kind}_timeout -> $T");
	ok($r->{took} >= 1.5 && $r->{took} <= 6, "$n: ... after about the timeout (2 s)") or diag(sprintf 'took %.2f s', $r->{took});
	ok(wait_until(sub { !sleepers($arg) }, 5), "$n: ... and the hook's process is gone") or diag('left: ' . join ' ', sleepers($arg));
	is(join(' ', $A->zombies), '', "$n: ... no zombie");
	after_refusal($kind, $r, "$n: timeout");
	kill 'KILL', sleepers($arg);

	# the program vanished after start-up
	unlink $hookA{$kind} or die "unlink: $!";
	my $off = $A->log_mark;
	$r = step($A, $kind);
	like($r->{reply}, $tmp, "$n: hook program missing -> $T");
	ok($A->wait_log_since($off, qr/\Q$hookA{$kind}\E/), "$n: ... the log names the missing path") or diag($A->log_since($off));

	set_hookA($kind, "exit 0\n");
	like(step($A, $kind)->{reply}, $ACCEPT{$kind}, "$n: back to exit 0 -> accepted");
}

# ---------------------------------------------------------------- exec: what each hook is for
{
	# the greeting only knows 220, 554 and 421: a hook's reply line of the
	# right class but another code must not become the greeting
	set_hookA('connect', "echo '550 5.7.1 custom connect refusal'\nexit 1\n");
	my $r = step($A, 'connect');
	like($r->{reply}, qr/^554 /, 'exec connect: exit 1 + a 550 line: the greeting is still 554 (RFC 5321 3.1)')
	    or diag("got: " . esc($r->{reply}));
	set_hookA('connect', "echo '451 4.3.0 custom connect later'\nexit 75\n");
	$r = step($A, 'connect');
	like($r->{reply}, qr/^421 /, 'exec connect: exit 75 + a 451 line: the greeting is still 421')
	    or diag("got: " . esc($r->{reply}));
	set_hookA('connect', "exit 0\n");

	# helo: a refused name, then another one
	set_hookA('helo', <<'EOS');
case "$POSTERN_HELO" in
bad.example) echo '550 5.7.1 <bad.example>: helo name refused'; exit 1 ;;
esac
exit 0
EOS
	my $before = [$A->messages];
	my $c = $A->connect;
	is($c->cmd('EHLO bad.example'), "550 5.7.1 <bad.example>: helo name refused\r\n", 'helo hook refuses EHLO bad.example: 550 with its text');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^503 /, 'after a refused EHLO, MAIL still wants EHLO (503)');
	like($c->cmd('EHLO good.example'), qr/^250-mx\.test\r\n/, 'EHLO with another name: accepted');
	my $tok = "helo-$$-" . int(rand 1e9);
	like($c->send_message(no_ehlo => 1, data => "Subject: $tok\r\n\r\n$tok\r\n") // 'EOF', qr/^250 2\.0\.0 /, 'and a message goes through');
	$c->quit;
	my @new = new_messages($A, $before);
	is(scalar @new, 1, 'one message stored');
	like(read_file($new[0] // '/dev/null') // '', qr/\AReceived: from good\.example /, 'its Received header names the accepted EHLO name');
	set_hookA('helo', "exit 0\n");

	# mail: the sender and the declared SIZE
	set_hookA('mail', "cat /proc/\$\$/environ > $dA/mail.env\nexit 0\n");
	unlink "$dA/mail.env";
	$r = step($A, 'mail', mail_params => ' SIZE=4321 BODY=8BITMIME');
	like($r->{reply}, $ACCEPT{mail}, 'mail hook dumping its environment: 250');
	my $e = environ_hash(read_file("$dA/mail.env"));
	is($e->{POSTERN_HOOK}, 'mail', 'mail hook: POSTERN_HOOK=mail');
	is($e->{POSTERN_MAIL_FROM}, 'alice@example.org', 'mail hook: POSTERN_MAIL_FROM is the sender');
	is($e->{POSTERN_SIZE}, '4321', 'mail hook: POSTERN_SIZE is the declared SIZE');
	is($e->{POSTERN_HELO}, 'client.test', 'mail hook: POSTERN_HELO');
	ok(!exists $e->{POSTERN_RCPT}, 'mail hook: no POSTERN_RCPT yet');
	unlink "$dA/mail.env";
	$r = step($A, 'mail', from => '');
	like($r->{reply}, $ACCEPT{mail}, 'MAIL FROM:<> (null sender): 250');
	$e = environ_hash(read_file("$dA/mail.env"));
	ok(exists $e->{POSTERN_MAIL_FROM} && $e->{POSTERN_MAIL_FROM} eq '', 'mail hook: POSTERN_MAIL_FROM is set and empty for the null sender')
	    or diag('POSTERN_MAIL_FROM=' . esc($e->{POSTERN_MAIL_FROM}));
	set_hookA('mail', "exit 0\n");

	# rcpt: the recipient asked about, the sender, the ones accepted so far
	unlink glob("$dA/rcpt-*.env");
	set_hookA('rcpt', "cat /proc/\$\$/environ > \"$dA/rcpt-\$POSTERN_RCPT.env\"\nexit 0\n");
	$c = $A->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('MAIL FROM:<alice@example.org> SIZE=999'), qr/^250 /, 'MAIL');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 /, 'rcpt hook dumping its environment: RCPT bob 250');
	like($c->cmd('RCPT TO:<carol@example.org>'), qr/^250 /, 'RCPT carol 250');
	$c->quit;
	my $eb = environ_hash(read_file("$dA/rcpt-bob\@example.org.env"));
	my $ec = environ_hash(read_file("$dA/rcpt-carol\@example.org.env"));
	is($eb->{POSTERN_HOOK}, 'rcpt', 'rcpt hook: POSTERN_HOOK=rcpt');
	is($eb->{POSTERN_RCPT}, 'bob@example.org', 'rcpt hook: POSTERN_RCPT is the recipient asked about');
	is($eb->{POSTERN_MAIL_FROM}, 'alice@example.org', 'rcpt hook: POSTERN_MAIL_FROM is the sender');
	is($eb->{POSTERN_SIZE}, '999', 'rcpt hook: POSTERN_SIZE');
	is($ec->{POSTERN_RCPT}, 'carol@example.org', 'second rcpt hook: POSTERN_RCPT=carol');
	like($ec->{POSTERN_RCPTS} // '', qr/\Abob\@example\.org\n?\z/, 'second rcpt hook: POSTERN_RCPTS holds the one accepted before');

	# a refused recipient does not end the transaction
	set_hookA('rcpt', <<'EOS');
if [ "$POSTERN_RCPT" = nosuch@example.org ]; then
	echo "550 5.1.1 <$POSTERN_RCPT>: no such user here"
	exit 67
fi
exit 0
EOS
	$before = [$A->messages];
	$c = $A->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 /, 'MAIL');
	is($c->cmd('RCPT TO:<nosuch@example.org>'), "550 5.1.1 <nosuch\@example.org>: no such user here\r\n", 'RCPT refused by the hook: 550 5.1.1 with its text');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 2\.1\.5 /, 'the next RCPT is accepted: the transaction goes on');
	like($c->cmd('DATA'), qr/^354 /, 'DATA: 354');
	$tok = "rcpt-$$-" . int(rand 1e9);
	$c->send("Subject: $tok\r\n\r\n$tok\r\n.\r\n");
	like($c->reply // 'EOF', qr/^250 2\.0\.0 /, 'message accepted');
	$c->quit;
	@new = new_messages($A, $before);
	is(scalar @new, 1, 'one message delivered');
	my $m = read_file($new[0] // '/dev/null') // '';
	ok($m =~ /\Q$tok\E/ && $m =~ /for <bob\@example\.org>/ && $m !~ /nosuch/, 'to bob only');

	# no recipient accepted: DATA is refused
	set_hookA('rcpt', "exit 1\n");
	$c = $A->connect;
	$c->cmd('EHLO client.test');
	$c->cmd('MAIL FROM:<alice@example.org>');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^550 /, 'every RCPT refused (1)');
	like($c->cmd('RCPT TO:<carol@example.org>'), qr/^550 /, 'every RCPT refused (2)');
	like($c->cmd('DATA') // 'EOF', qr/^554 /, 'DATA with no accepted recipient: 554');
	like($c->cmd('NOOP') // 'EOF', qr/^250 /, 'and the session goes on');
	$c->quit;
	set_hookA('rcpt', "exit 0\n");
}

# ---------------------------------------------------------------- exec: the hook's process
{
	my $ctx = <<"EOS";
d=$dA
k=\$POSTERN_HOOK
id -u > \$d/ctx-\$k.uid
id -g > \$d/ctx-\$k.gid
readlink /proc/\$\$/cwd > \$d/ctx-\$k.cwd
cat /proc/\$\$/environ > \$d/ctx-\$k.env
cat /proc/\$\$/cmdline > \$d/ctx-\$k.cmdline
exec /bin/ls -l /proc/self/fd > \$d/ctx-\$k.fds
EOS
	unlink glob("$dA/ctx-*");
	set_hookA($_, $ctx) for @KINDS;
	my $c = $A->connect;
	like($c->greeting // 'EOF', qr/^220 /, 'context-dumping hooks: greeting');
	like($c->cmd('EHLO client.test'), qr/^250-/, 'EHLO');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 /, 'MAIL');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 /, 'RCPT');
	$c->quit;
	for my $kind (@KINDS) {
		SKIP: {
			skip 'not root: hooks run as the invoking user', 2 unless $ROOT;
			is(read_file("$dA/ctx-$kind.uid"), "$NOBODY_UID\n", "exec $kind hook runs as nobody");
			is(read_file("$dA/ctx-$kind.gid"), "$NOGROUP_GID\n", "exec $kind hook runs with group nogroup");
		}
		is(read_file("$dA/ctx-$kind.cwd"), "/\n", "exec $kind hook runs in /");
		my %fd = (read_file("$dA/ctx-$kind.fds") // '') =~ /^\S+.*? (\d+) -> (.*)$/mg;
		is(join(',', sort { $a <=> $b } grep { $_ <= 2 } keys %fd), '0,1,2', "exec $kind hook has descriptors 0-2");
		my @extra = grep { $_ > 2 && $fd{$_} !~ m{\A/proc/\d+/fd\z} } sort { $a <=> $b } keys %fd;
		is(join(' ', map { "$_ -> $fd{$_}" } @extra), '', "exec $kind hook has no other descriptor");
		my $env = environ_hash(read_file("$dA/ctx-$kind.env"));
		my @other = grep { !/\A(?:POSTERN_\w+|TCP\w+|PROTO|PATH)\z/ } sort keys %$env;
		ok(%$env && !@other, "exec $kind hook's environment: only POSTERN_*, TCP*, PROTO, PATH")
		    or diag("other: @other");
		is($env->{POSTERN_HOOK}, $kind, "exec $kind hook: POSTERN_HOOK=$kind");
		is(read_file("$dA/ctx-$kind.cmdline"), "/bin/sh\0$hookA{$kind}\0", "exec $kind hook: argv is the configured command, nothing added");
	}
	set_hookA($_, "exit 0\n") for @KINDS;
}

is(join(' ', $A->zombies), '', 'exec mode: no zombie children after all those hooks');
is($A->stop, 0, 'exec-mode server exits 0');

# ================================================================== persistent mode

# A persistent hook driven by a control file: DIR/ctl-KIND holds either the
# answer to give ("action=...") or what to do instead.  It records its pid
# (DIR/pids-KIND, one line per start), its context at start (DIR/start-KIND)
# and the last request (DIR/req-KIND).
my $CTL_POLICY = <<'EOS';
#!/usr/bin/python3
import os, resource, signal, subprocess, sys, time
d = sys.argv[1]
kind = os.environ.get('POSTERN_HOOK', 'unknown')
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

def put(name, data):
    tmp = '%s/%s.tmp%d' % (d, name, os.getpid())
    with open(tmp, 'wb') as f:
        f.write(data)
    os.rename(tmp, '%s/%s' % (d, name))

info = ['pid=%d' % os.getpid(), 'uid=%d' % os.getuid(), 'gid=%d' % os.getgid(), 'cwd=' + os.getcwd()]
for fd in sorted(os.listdir('/proc/self/fd'), key=int):
    try:
        info.append('fd=%s %s' % (fd, os.readlink('/proc/self/fd/' + fd)))
    except OSError:
        pass
for e in open('/proc/self/environ', 'rb').read().split(b'\0'):
    if e:
        info.append('env=' + e.decode('utf-8', 'replace'))
put('start-' + kind, ('\n'.join(info) + '\n').encode())
with open('%s/pids-%s' % (d, kind), 'a') as f:
    f.write('%d\n' % os.getpid())

inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    lines = []
    while True:
        l = inp.readline()
        if not l:
            sys.exit(0)
        if l == b'\n':
            break
        lines.append(l)
    put('req-' + kind, b''.join(lines))
    try:
        ctl = open('%s/ctl-%s' % (d, kind)).read().strip()
    except OSError:
        ctl = 'action=DUNNO'
    if ctl.startswith('HANG '):
        subprocess.Popen(['sleep', ctl[5:]])
        time.sleep(120)
    elif ctl == 'CRASH':
        os.kill(os.getpid(), signal.SIGSEGV)
    elif ctl == 'EXIT':
        sys.exit(0)
    elif ctl == 'GARBAGE':
        out.write(b'this is not a policy answer\n\n')
    elif ctl == 'BINARY':
        out.write(b'action=\x01\xff\xfeREJECT\n\n')
    elif ctl == 'HUGE':
        out.write(b'x' * (10 << 20))
    elif ctl.startswith('ONCE '):
        out.write(ctl[5:].encode() + b'\n\n')
        out.flush()
        sys.exit(0)
    else:
        out.write(ctl.encode() + b'\n\n')
    out.flush()
EOS

my $dB = Postern::Test::workdir();
sub install_pol { my ($kind) = @_; return put("$dB/pol-$kind", $CTL_POLICY, 0755) }
install_pol($_) for @KINDS;
sub ctl { my ($kind, $text) = @_; put("$dB/ctl-$kind", "$text\n") }
sub pids { my ($kind) = @_; return grep { /^\d+$/ } split /\n/, (read_file("$dB/pids-$kind") // '') }
sub current_pid { my @p = pids($_[0]); return $p[-1] }
my $B = Postern::Test->start(dir => $dB, config => {
	server => { workers => 1, max_workers => 1, min_spare => 0, max_spare => 1 },
	hooks => { (map { ($_ => "$dB/pol-$_ $dB", "${_}_timeout" => 4) } @KINDS), persistent => "@KINDS" } });

# After a failure: answer DUNNO again and wait (bounded) until a session gets
# through: the back-off after a failure is 0.5 s and doubles while it fails.
sub recover {
	my ($srv, $kind) = @_;
	ctl($kind, 'action=DUNNO');
	my $end = time + 10;
	while (time < $end) {
		return 1 if step($srv, $kind)->{reply} =~ $ACCEPT{$kind};
		sleep 0.3;
	}
	return 0;
}

$i = 0;
for my $kind (@KINDS) {
	$i++;
	my ($R, $T) = (rej_code($kind), tmp_code($kind));
	my $rej = rej_re($kind);
	my $tmp = tmp_re($kind);
	my $conn = $kind eq 'connect';
	my $n = "persistent $kind";
	my $r;

	ctl($kind, 'action=DUNNO');
	$r = step($B, $kind);
	like($r->{reply}, $ACCEPT{$kind}, "$n: action=DUNNO -> accepted");
	ok(alive(current_pid($kind)), "$n: the hook runs");
	ctl($kind, 'action=OK');
	like(step($B, $kind)->{reply}, $ACCEPT{$kind}, "$n: action=OK -> accepted");

	ctl($kind, 'action=DEFER');
	$r = step($B, $kind);
	like($r->{reply}, $conn ? qr/^421 / : qr/^450 4\.7\.1 /, "$n: action=DEFER -> " . ($conn ? '421' : '450 4.7.1'))
	    or diag('got: ' . esc($r->{reply}));
	after_refusal($kind, $r, "$n: DEFER");

	ctl($kind, 'action=DEFER_IF_PERMIT Greylisted for a while');
	$r = step($B, $kind);
	if ($conn) {
		like($r->{reply}, qr/^421 /, "$n: action=DEFER_IF_PERMIT text -> 421") or diag('got: ' . esc($r->{reply}));
	} else {
		is($r->{reply}, "450 4.7.1 Greylisted for a while\r\n", "$n: action=DEFER_IF_PERMIT text -> 450 4.7.1 text");
	}

	ctl($kind, 'action=REJECT');
	$r = step($B, $kind);
	like($r->{reply}, $rej, "$n: action=REJECT -> $R") or diag('got: ' . esc($r->{reply}));
	after_refusal($kind, $r, "$n: REJECT");

	ctl($kind, "action=REJECT custom $kind refusal");
	$r = step($B, $kind);
	if ($conn) {
		like($r->{reply}, qr/^554 \S+ custom connect refusal\r\n\z/, "$n: action=REJECT text -> 554 with the text")
		    or diag('got: ' . esc($r->{reply}));
	} else {
		is($r->{reply}, "550 5.7.1 custom $kind refusal\r\n", "$n: action=REJECT text -> 550 5.7.1 text");
	}

	my $rline = $conn ? '554 5.7.1 custom connect 554' : '550 5.1.1 <bob@example.org>: no such user';
	ctl($kind, "action=$rline");
	is(step($B, $kind)->{reply}, "$rline\r\n", "$n: action=$R text -> that reply");

	my $tline = $conn ? '421 4.3.0 custom connect tempfail' : "451 4.3.0 custom $kind tempfail";
	ctl($kind, "action=$tline");
	is(step($B, $kind)->{reply}, "$tline\r\n", "$n: action=$T text -> that reply");

	# a 2NN "action" is not one of the answers: not a refusal, and its text unused
	ctl($kind, 'action=250 2.0.0 custom accept');
	$r = step($B, $kind);
	ok($r->{reply} =~ $ACCEPT{$kind} || $r->{reply} =~ $tmp, "$n: action=250 text (not an action): accepted as DUNNO or $T, never 5xx")
	    or diag('got: ' . esc($r->{reply}));
	unlike($r->{reply}, qr/custom accept/, "$n: ... and its text is not used");
	ok(recover($B, $kind), "$n: answers again");

	# answers that are not answers, deaths
	for my $case (['GARBAGE', 'an answer without action='], ['BINARY', 'a binary action'],
	    ['HUGE', 'an endless answer (10 MB)'], ['CRASH', 'SIGSEGV on a request'], ['EXIT', 'exit without answering']) {
		my ($mode, $what) = @$case;
		my $old = current_pid($kind);
		ctl($kind, $mode);
		$r = step($B, $kind);
		like($r->{reply}, $tmp, "$n: $what -> $T") or diag('got: ' . esc($r->{reply}));
		# the timeout is 4 s: "at once" leaves room for a loaded sanitizer build
		cmp_ok($r->{took}, '<', 3, "$n: ... at once, not at the timeout") or diag(sprintf 'took %.2f s', $r->{took});
		ok(recover($B, $kind), "$n: restarted after $what");
		my $new = current_pid($kind);
		ok(defined $new && defined $old && $new != $old && alive($new), "$n: ... as a new process");
		ok(!alive($old), "$n: ... the old one is gone");
	}

	# a hook that hangs
	my $arg = sprintf('5%d.%d3', $i, $$);
	my $old = current_pid($kind);
	ctl($kind, "HANG $arg");
	$r = step($B, $kind, during => sub { wait_until(sub { sleepers($arg) }, 3) });
	ok($r->{during}, "$n: a hook that hangs (with a child): they run");
	like($r->{reply}, $tmp, "$n: a hook that does not answer -> $T") or diag('got: ' . esc($r->{reply}));
	ok($r->{took} >= 3.5 && $r->{took} <= 8, "$n: ... after about ${kind}_timeout (4 s), never a hang")
	    or diag(sprintf 'took %.2f s', $r->{took});
	after_refusal($kind, $r, "$n: hang");
	ok(wait_until(sub { !alive($old) }, 5), "$n: the hung process is gone");
	ok(wait_until(sub { !sleepers($arg) }, 5), "$n: ... and its child too (the process group)")
	    or diag('left: ' . join ' ', sleepers($arg));
	is(join(' ', $B->zombies), '', "$n: ... no zombie");
	kill 'KILL', sleepers($arg);
	ok(recover($B, $kind), "$n: restarted after hanging");
	isnt(current_pid($kind), $old, "$n: ... as a new process");

	# a hook that answers once, then exits
	$old = current_pid($kind);
	ctl($kind, 'ONCE action=DUNNO');
	like(step($B, $kind)->{reply}, $ACCEPT{$kind}, "$n: a hook that exits after its answer: that answer counts");
	ok(wait_until(sub { !alive($old) }, 5), "$n: ... and it exited");
	ctl($kind, 'action=DUNNO');
	$r = step($B, $kind);
	like($r->{reply}, $ACCEPT{$kind}, "$n: the next request is answered at once (no 451: Postern retries once on a new process)")
	    or diag('got: ' . esc($r->{reply}));
	isnt(current_pid($kind), $old, "$n: ... by a new process");

	# the program vanished: noticed when it has to be started again
	ctl($kind, 'ONCE action=DUNNO');
	like(step($B, $kind)->{reply}, $ACCEPT{$kind}, "$n: (answers once more, then exits)");
	unlink "$dB/pol-$kind" or die "unlink: $!";
	ctl($kind, 'action=DUNNO');
	my $off = $B->log_mark;
	$r = step($B, $kind);
	like($r->{reply}, $tmp, "$n: program missing when it must be restarted -> $T");
	ok($B->wait_log_since($off, qr/\Q$dB\/pol-$kind\E/), "$n: ... the log names the missing path")
	    or diag($B->log_since($off));
	install_pol($kind);
	ok(recover($B, $kind), "$n: started again once the program is back");
}

# ---------------------------------------------------------------- persistent: one process, many sessions
{
	ctl($_, 'action=DUNNO') for @KINDS;
	like(step($B, 'rcpt')->{reply}, $ACCEPT{rcpt}, 'persistent rcpt: a session');
	my $pid = current_pid('rcpt');
	my $starts = () = pids('rcpt');
	my @workers = $B->worker_pids;
	my $ok = 0;
	for (1 .. 3) { $ok++ if step($B, 'rcpt')->{reply} =~ $ACCEPT{rcpt} }
	is($ok, 3, 'persistent rcpt: three more sessions accepted');
	is(scalar(() = pids('rcpt')), $starts, 'persistent rcpt: no new process for them');
	ok(alive($pid), 'persistent rcpt: the same process served them all');
	is("@{[ $B->worker_pids ]}", "@workers", '(one worker all along)');

	# the request attributes
	step($B, 'rcpt', helo => 'attrs.example', mail_params => ' SIZE=2345');
	my $raw = read_file("$dB/req-rcpt") // '';
	my $ra = attrs_hash($raw);
	my @lines = split /\n/, $raw;
	is(scalar(grep { !/\A[a-z][a-z0-9_]*=/ } @lines), 0, 'rcpt request: every line is name=value with a lower-case name')
	    or diag(join "\n", map { esc($_) } grep { !/\A[a-z][a-z0-9_]*=/ } @lines);
	is(scalar(grep { /\A=/ } @lines), 0, 'rcpt request: no line has an empty name');
	unlike($raw, qr/\r/, 'rcpt request: no CR');
	is("@{ $ra->{request} // [] }", 'smtpd_access_policy', 'rcpt request: request=smtpd_access_policy (once)');
	is("@{ $ra->{protocol_state} // [] }", 'RCPT', 'rcpt request: protocol_state=RCPT');
	is("@{ $ra->{protocol_name} // [] }", 'ESMTP', 'rcpt request: protocol_name=ESMTP');
	is("@{ $ra->{sender} // [] }", 'alice@example.org', 'rcpt request: sender');
	is("@{ $ra->{recipient} // [] }", 'bob@example.org', 'rcpt request: recipient');
	is("@{ $ra->{client_address} // [] }", '127.0.0.1', 'rcpt request: client_address=127.0.0.1');
	is("@{ $ra->{helo_name} // [] }", 'attrs.example', 'rcpt request: helo_name');
	is("@{ $ra->{size} // [] }", '2345', 'rcpt request: size is the declared SIZE');
	my $sid = $ra->{postern_session}[0] // '';
	like($sid, qr/\A\S+\z/, 'rcpt request: postern_session');
	ok($sid ne '' && $B->log_text =~ /\Q$sid\E/, 'rcpt request: postern_session is the session id in the log');

	step($B, 'rcpt', mail_params => ' SIZE=77');
	my $am = attrs_hash(read_file("$dB/req-mail"));
	is("@{ $am->{protocol_state} // [] }", 'MAIL', 'mail request: protocol_state=MAIL');
	is("@{ $am->{sender} // [] }", 'alice@example.org', 'mail request: sender');
	is("@{ $am->{size} // [] }", '77', 'mail request: size is the declared SIZE');
	my $ah = attrs_hash(read_file("$dB/req-helo"));
	is("@{ $ah->{protocol_state} // [] }", 'EHLO', 'helo request: protocol_state=EHLO');
	is("@{ $ah->{helo_name} // [] }", 'client.test', 'helo request: helo_name is the name offered');
	my $ac = attrs_hash(read_file("$dB/req-connect"));
	is("@{ $ac->{protocol_state} // [] }", 'CONNECT', 'connect request: protocol_state=CONNECT');
	is("@{ $ac->{client_address} // [] }", '127.0.0.1', 'connect request: client_address');

	# the persistent process's context
	my $start = read_file("$dB/start-rcpt") // '';
	SKIP: {
		skip 'not root: hooks run as the invoking user', 2 unless $ROOT;
		like($start, qr/^uid=$NOBODY_UID$/m, 'persistent hook runs as nobody');
		like($start, qr/^gid=$NOGROUP_GID$/m, 'persistent hook runs with group nogroup');
	}
	like($start, qr/^cwd=\/$/m, 'persistent hook runs in /');
	my %fd = $start =~ /^fd=(\d+) (.*)$/mg;
	is(join(',', sort { $a <=> $b } grep { $_ <= 2 } keys %fd), '0,1,2', 'persistent hook has descriptors 0-2');
	my @extra = grep { $_ > 2 && $fd{$_} !~ m{\A/proc/\d+/fd\z} } sort { $a <=> $b } keys %fd;
	is(join(' ', map { "$_ -> $fd{$_}" } @extra), '', 'persistent hook has no other descriptor');
	ok(defined $fd{0} && $fd{0} =~ /^socket:/ && ($fd{1} // '') eq $fd{0}, 'persistent hook: stdin and stdout are one socket');
	my @env = $start =~ /^env=([^=]*)=/mg;
	my @other = grep { !/\A(?:POSTERN_\w+|PATH)\z/ } @env;
	ok(@env && !@other, 'persistent hook environment: PATH and POSTERN_* only') or diag("other: @other");
}
is(join(' ', $B->zombies), '', 'persistent mode: no zombie children');
is($B->stop, 0, 'persistent-mode server exits 0');
ok(wait_until(sub { !grep { alive($_) } map { pids($_) } @KINDS }, 5), 'no persistent hook outlives the server')
    or diag('alive: ' . join ' ', grep { alive($_) } map { pids($_) } @KINDS);

# ---------------------------------------------------------------- persistent: dies in a loop
{
	my $dC = Postern::Test::workdir();
	my $dying = put("$dC/dying", "#!/bin/sh\necho start >> $dC/starts\nexit 0\n", 0755);
	my $C = Postern::Test->start(dir => $dC, config => {
		server => { workers => 1, max_workers => 1, min_spare => 0, max_spare => 1 },
		hooks => { rcpt => $dying, persistent => 'rcpt', rcpt_timeout => 2 } });
	my @workers;    # the worker may still be starting (a sanitizer build is slow)
	for (my $end = time + 10; !(@workers = $C->worker_pids) && time < $end; ) { sleep 0.05; }
	my $c = $C->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 /, 'dying hook: MAIL');
	my ($n, $fast, $tmpf) = (10, 0, 0);
	my $t0 = time;
	for my $k (1 .. $n) {
		my $t = time;
		my $r = $c->cmd("RCPT TO:<r$k\@example.org>") // 'EOF';
		$tmpf++ if $r =~ /^451 4\.\d\.\d+ /;
		$fast++ if time - $t < 1.5;
		sleep 0.2;
	}
	is($tmpf, $n, "a persistent hook that exits at once: each of $n RCPTs gets 451");
	is($fast, $n, '... quickly, each one');
	my $starts = () = (read_file("$dC/starts") // '') =~ /^start$/mg;
	ok($starts >= 1 && $starts < $n, "... and it is started again with back-off ($starts starts for $n requests)");
	like($C->log_text, qr/failing repeatedly|failed on its first request/, 'the log says the hook keeps failing');
	like($c->cmd('NOOP') // 'EOF', qr/^250 /, 'the session goes on');
	$c->quit;
	my $r = step($C, 'rcpt');
	like($r->{reply}, qr/^451 /, 'a new session: the worker keeps serving (RCPT 451)');
	is("@{[ $C->worker_pids ]}", "@workers", 'the same worker')
	    or diag(join "\n", grep { /worker|pool|died|exited|stress/ } split /\n/, $C->log_text);
	is(join(' ', $C->zombies), '', 'no zombie children');
	is($C->stop, 0, 'server exits 0');
}

# ================================================================== policy servers: inet: and unix:

my $POLICY_SERVER = <<'EOS';
#!/usr/bin/perl
# A tiny policy server: REJECT for the recipient (RCPT) or sender (MAIL)
# blocked@..., DUNNO otherwise.  One process, all connections in one loop.
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Socket;
my ($spec, $log) = @ARGV;
my $l;
if ($spec =~ /^inet:(.+):(\d+)\z/) {
	$l = IO::Socket::INET->new(LocalAddr => $1, LocalPort => $2, Proto => 'tcp', Listen => 16, ReuseAddr => 1)
	    or die "listen $spec: $!";
} elsif ($spec =~ /^unix:(.+)\z/) {
	unlink $1;
	$l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $1, Listen => 16) or die "listen $spec: $!";
	chmod 0666, $1;
} else {
	die "bad spec $spec";
}
open my $lf, '>>', $log or die "$log: $!";
$lf->autoflush(1);
print $lf "ready $$\n";
my $sel = IO::Select->new($l);
my %buf;
while (1) {
	for my $fh ($sel->can_read) {
		if ($fh == $l) {
			my $c = $l->accept or next;
			$sel->add($c);
			$buf{$c} = '';
			next;
		}
		my $n = sysread($fh, my $chunk, 65536);
		if (!$n) {
			$sel->remove($fh);
			delete $buf{$fh};
			close $fh;
			next;
		}
		$buf{$fh} .= $chunk;
		while ($buf{$fh} =~ s/\A((?:[^\n]+\n)*)\n//) {
			my %a;
			for my $line (split /\n/, $1) {
				my ($k, $v) = split /=/, $line, 2;
				$a{$k} //= $v // '';
			}
			my $state = $a{protocol_state} // '';
			my $act = 'DUNNO';
			$act = 'REJECT 5.7.1 blocked by server'
			    if ($state eq 'RCPT' && ($a{recipient} // '') =~ /^blocked@/i)
			    || ($state eq 'MAIL' && ($a{sender} // '') =~ /^blocked@/i);
			print $lf "request $state sender=", $a{sender} // '', " recipient=", $a{recipient} // '', " -> $act\n";
			syswrite($fh, "action=$act\n\n");
		}
	}
}
EOS

{
	my $dD = Postern::Test::workdir();
	my $script = put("$dD/policy-server.pl", $POLICY_SERVER, 0755);
	my $pport = Postern::Test::free_port();
	my $sock = "$dD/policy.sock";
	my ($ilog, $ulog) = ("$dD/inet.log", "$dD/unix.log");
	my $ready = sub { my ($log, $n) = @_; my $k = () = (read_file($log) // '') =~ /^ready /mg; $k >= ($n // 1) };
	my $inet = spawn_helper($ilog, $^X, $script, "inet:127.0.0.1:$pport", $ilog);
	my $unix = spawn_helper($ulog, $^X, $script, "unix:$sock", $ulog);
	ok(wait_until(sub { $ready->($ilog) && $ready->($ulog) }, 10), 'policy servers (inet and unix) are up')
	    or diag(read_file($ilog), read_file($ulog));
	my $D = Postern::Test->start(dir => $dD, config => {
		hooks => { rcpt => "inet:127.0.0.1:$pport", mail => "unix:$sock", rcpt_timeout => 2, mail_timeout => 2 } });
	my $c = $D->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('MAIL FROM:<blocked@example.org>') // 'EOF', qr/^550 5\.7\.1 .*blocked by server\r\n\z/, 'unix: policy server: REJECT text -> 550 5.7.1 with the text');
	like($c->cmd('MAIL FROM:<alice@example.org>') // 'EOF', qr/^250 /, 'unix: policy server: DUNNO -> 250');
	like($c->cmd('RCPT TO:<blocked@example.org>') // 'EOF', qr/^550 5\.7\.1 .*blocked by server\r\n\z/, 'inet: policy server: REJECT text -> 550 5.7.1 with the text');
	like($c->cmd('RCPT TO:<bob@example.org>') // 'EOF', qr/^250 2\.1\.5 /, 'inet: policy server: DUNNO -> 250');
	like(read_file($ilog) // '', qr/^request RCPT sender=alice\@example\.org recipient=bob\@example\.org -> DUNNO$/m, 'inet: the server got the request');
	like(read_file($ulog) // '', qr/^request MAIL sender=alice\@example\.org recipient= -> DUNNO$/m, 'unix: the server got the request');

	stop_helper($inet);
	my $t0 = time;
	my $r = $c->cmd('RCPT TO:<carol@example.org>', 15);
	my $took = time - $t0;
	like($r // 'EOF', qr/^4\d\d 4\.\d\.\d+ /, 'inet server killed: the next RCPT gets 4xx');
	cmp_ok($took, '<', 5, '... in bounded time') or diag(sprintf 'took %.2f s', $took);
	like($c->cmd('NOOP') // 'EOF', qr/^250 /, '... and the session goes on');
	$c->quit;
	$r = step($D, 'rcpt');
	like($r->{reply}, qr/^4\d\d /, 'inet server down: a new session gets 4xx for RCPT');
	cmp_ok($r->{took}, '<', 5, '... in bounded time');

	$inet = spawn_helper($ilog, $^X, $script, "inet:127.0.0.1:$pport", $ilog);
	ok(wait_until(sub { $ready->($ilog, 2) }, 10), 'inet server started again');
	ok(wait_until(sub { step($D, 'rcpt')->{reply} =~ /^250 / }, 10), 'RCPT is accepted again once the server is back');

	stop_helper($unix);
	$r = step($D, 'mail');
	like($r->{reply}, qr/^4\d\d /, 'unix server killed: MAIL gets 4xx');
	cmp_ok($r->{took}, '<', 5, '... in bounded time');
	is($D->stop, 0, 'server exits 0');
	stop_helper($inet);
}

# ================================================================== postgrey

SKIP: {
	my $pg = '/usr/sbin/postgrey';
	skip 'postgrey is not installed (apt-get install postgrey)', 4 unless -x $pg;
	skip 'postgrey drops to nobody: needs root', 4 unless $ROOT;
	my $dE = Postern::Test::workdir();
	mkdir "$dE/pgdb";
	chown $NOBODY_UID, $NOGROUP_GID, "$dE/pgdb";
	my $port = Postern::Test::free_port();
	my $pgpid = spawn_helper("$dE/postgrey.log", $pg, "--inet=127.0.0.1:$port", '--delay=2',
	    "--dbdir=$dE/pgdb", "--pidfile=$dE/pg.pid", '--user=nobody', '--group=nogroup');
	if (!wait_until(sub { Postern::Test::listening($port) || !alive($pgpid) }, 20) || !alive($pgpid)) {
		diag(read_file("$dE/postgrey.log") // '');
		stop_helper($pgpid);
		fail('postgrey started');
		last SKIP;
	}
	pass('postgrey is listening');
	my $E = Postern::Test->start(dir => $dE, config => { hooks => { rcpt => "inet:127.0.0.1:$port", rcpt_timeout => 5 } });
	my $c = $E->connect;
	$c->cmd('EHLO client.test');
	my $from = "sender-$$\@example.org";
	$c->cmd("MAIL FROM:<$from>");
	my $t0 = time;
	my $r = $c->cmd('RCPT TO:<bob@example.org>') // 'EOF';
	like($r, qr/^450 4\.\d\.\d+ .*Greylisted/i, 'postgrey: the first RCPT is greylisted (450)');
	my ($last, $ok) = ('', 0);
	while (time - $t0 < 15) {
		sleep 0.5;
		$last = $c->cmd('RCPT TO:<bob@example.org>') // 'EOF';
		if ($last =~ /^250 /) { $ok = 1; last }
	}
	ok($ok, 'postgrey: accepted on a retry after the delay') or diag('last: ' . esc($last));
	# postgrey counts whole seconds: "2 s later" may be 1.01 s later
	cmp_ok(time - $t0, '>=', 1, 'postgrey: ... not before the delay (2 s, in whole seconds)');
	$c->quit;
	is($E->stop, 0, 'server exits 0');
	stop_helper($pgpid);
}

# ================================================================== auth: checkpassword

{
	my $dF = Postern::Test::workdir();
	my $checkpw = put("$dF/checkpw", <<"EOS", 0755);
#!/usr/bin/perl
# checkpassword: "user\\0password\\0timestamp\\0" on fd 3; exit 0 / 1 / 111
use strict;
use warnings;
my \$d = '$dF';
my \$buf = '';
if (open(my \$fd3, '<&=', 3)) {
	while (length \$buf < 512) {
		my \$n = sysread(\$fd3, \$buf, 512 - length \$buf, length \$buf);
		last unless \$n;
	}
}
sub keep { my (\$name, \$data) = \@_; open my \$f, '>:raw', "\$d/\$name" or return; print \$f \$data; close \$f }
sub file { my (\$p) = \@_; open my \$f, '<:raw', \$p or return ''; local \$/; return <\$f> // '' }
keep('cp.fd3', \$buf);
keep('cp.env', file("/proc/\$\$/environ"));
keep('cp.cmdline', file("/proc/\$\$/cmdline"));
my (\$user, \$pass) = split /\\0/, \$buf;
\$user //= '';
\$pass //= '';
exit 111 if \$user eq 'tempfail';
if (\$user eq 'bob' && \$pass eq 'secret') {
	exec \@ARGV if \@ARGV;          # the checkpassword interface: run the rest
	exit 0 unless \@ARGV;
	exit 111;
}
exit 1;
EOS
	my $F = Postern::Test->start(dir => $dF, tls => 1, config => {
		smtp => { tls => 'starttls', auth => 'optional', insecure_auth => 'yes' },
		hooks => { auth => "$checkpw /bin/true", auth_protocol => 'checkpassword' } });
	my $plain = sub { 'AUTH PLAIN ' . encode_base64("\0$_[0]\0$_[1]", '') };
	my $auth = sub {
		my ($user, $pass) = @_;
		my $c = $F->connect;
		my $e = $c->cmd('EHLO client.test') // '';
		my $r = $e =~ /^250[ -]AUTH\b/m ? ($c->cmd($plain->($user, $pass)) // 'EOF') : "no AUTH in EHLO: $e";
		$c->quit;
		return $r;
	};
	my $t = time;
	like($auth->('bob', 'secret'), qr/^235 2\.7\.0 /, 'checkpassword: bob/secret -> 235');
	my $fd3 = read_file("$dF/cp.fd3") // '';
	like($fd3, qr/\Abob\0secret\0\d+\0\z/, 'checkpassword: fd 3 holds user NUL password NUL timestamp NUL');
	my ($ts) = $fd3 =~ /\0(\d+)\0\z/;
	ok(defined $ts && abs($ts - $t) < 60, 'checkpassword: the timestamp is now');
	is(read_file("$dF/cp.cmdline"), "/usr/bin/perl\0$checkpw\0/bin/true\0", 'checkpassword: argv is the configured command line');
	unlike(read_file("$dF/cp.env") // '', qr/secret/, 'checkpassword: the password is not in its environment');
	like($auth->('bob', 'wrong'), qr/^535 5\.7\.8 /, 'checkpassword: wrong password (exit 1) -> 535');
	like($auth->('tempfail', 'x'), qr/^454 4\.7\.0 /, 'checkpassword: exit 111 -> 454');
	my $c = $F->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('AUTH LOGIN') // 'EOF', qr/^334 /, 'AUTH LOGIN: 334');
	like($c->cmd(encode_base64('bob', '')) // 'EOF', qr/^334 /, 'user: 334');
	like($c->cmd(encode_base64('secret', '')) // 'EOF', qr/^235 /, 'checkpassword: AUTH LOGIN bob/secret -> 235');
	$c->quit;
	unlike($F->log_text, qr/secret/, 'the password is not in the log');
	is($F->stop, 0, 'server exits 0');
}

# ================================================================== persistent auth and data

{
	my $dG = Postern::Test::workdir();
	my $pw = "pw-$$-Zq9x";
	my $pauth = put("$dG/pauth.py", <<'EOS', 0755);
#!/usr/bin/python3
# A persistent auth hook: request=postern_auth with user= and password=.
import os, sys
d = sys.argv[1]
good = open(d + '/good-password').read().strip()
with open(d + '/pauth.pid', 'w') as f:
    f.write('%d\n' % os.getpid())
inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    a, raw = {}, []
    while True:
        l = inp.readline()
        if not l:
            sys.exit(0)
        if l == b'\n':
            break
        raw.append(l)
        k, _, v = l.rstrip(b'\n').partition(b'=')
        a.setdefault(k.decode(), v.decode('utf-8', 'replace'))
    with open(d + '/pauth.req', 'wb') as f:
        f.write(b''.join(raw))
    user, pw = a.get('user', ''), a.get('password', '')
    if a.get('request') != 'postern_auth':
        act = 'REJECT not an auth request'
    elif user == 'tempfail':
        act = 'DEFER'
    elif user == 'bob' and pw == good:
        act = 'OK'
    else:
        act = 'REJECT'
    out.write(('action=%s\n\n' % act).encode())
    out.flush()
EOS
	my $pdata = put("$dG/pdata.py", <<'EOS', 0755);
#!/usr/bin/python3
# A persistent data hook: request=postern_data, size=N, then N bytes.
import os, sys
d = sys.argv[1]
with open(d + '/pdata.pid', 'w') as f:
    f.write('%d\n' % os.getpid())
inp, out = sys.stdin.buffer, sys.stdout.buffer
n = 0
while True:
    a, raw = {}, []
    while True:
        l = inp.readline()
        if not l:
            sys.exit(0)
        if l == b'\n':
            break
        raw.append(l)
        k, _, v = l.rstrip(b'\n').partition(b'=')
        a.setdefault(k.decode(), v.decode('utf-8', 'replace'))
    size = int(a.get('size', '0'))
    body = inp.read(size) if size > 0 else b''
    if len(body) != size:
        sys.stderr.write('pdata: short message\n')
        sys.exit(1)
    n += 1
    with open('%s/pdata-%d.eml' % (d, n), 'wb') as f:
        f.write(body)
    with open('%s/pdata-%d.req' % (d, n), 'wb') as f:
        f.write(b''.join(raw))
    try:
        act = open(d + '/pdata.ctl').read().strip()
    except OSError:
        act = 'action=OK'
    out.write(act.encode() + b'\n\n')
    out.flush()
EOS
	put("$dG/good-password", "$pw\n");
	my $G = Postern::Test->start(dir => $dG, tls => 1, config => {
		server => { workers => 1, max_workers => 1, min_spare => 0, max_spare => 1 },
		smtp => { tls => 'starttls', auth => 'optional', insecure_auth => 'yes' },
		hooks => { auth => "$pauth $dG", data => "$pdata $dG", persistent => 'auth data' } });
	my $plain = sub { 'AUTH PLAIN ' . encode_base64("\0$_[0]\0$_[1]", '') };
	my $auth = sub {
		my ($user, $pass) = @_;
		my $c = $G->connect;
		$c->cmd('EHLO client.test');
		my $r = $c->cmd($plain->($user, $pass)) // 'EOF';
		$c->quit;
		return $r;
	};
	like($auth->('bob', $pw), qr/^235 2\.7\.0 /, 'persistent auth: right password -> 235');
	my $pa = attrs_hash(read_file("$dG/pauth.req"));
	is("@{ $pa->{request} // [] }", 'postern_auth', 'persistent auth: request=postern_auth');
	is("@{ $pa->{user} // [] }", 'bob', 'persistent auth: user=');
	is("@{ $pa->{password} // [] }", $pw, 'persistent auth: password=');
	like($auth->('bob', 'wrong'), qr/^535 5\.7\.8 /, 'persistent auth: wrong password -> 535');
	like($auth->('tempfail', 'x'), qr/^454 4\.7\.0 /, 'persistent auth: DEFER -> 454');
	my ($apid) = (read_file("$dG/pauth.pid") // '') =~ /(\d+)/;
	ok($apid && alive($apid), 'persistent auth hook runs');
	# read as root from /proc: the persistent process never had the password
	# but on its stdin
	my $environ = read_file("/proc/$apid/environ") // '';
	my $cmdline = read_file("/proc/$apid/cmdline") // '';
	ok(length $environ, 'its environment is readable');
	unlike($environ, qr/\Q$pw\E/, 'the password is not in its environment');
	ok(length $cmdline, 'its command line is readable');
	unlike($cmdline, qr/\Q$pw\E/, 'the password is not in its argv');
	my @seen;
	for my $p (glob '/proc/[0-9]*') {
		for my $what ('cmdline', 'environ') {
			my $t = read_file("$p/$what") // next;
			push @seen, "$p/$what" if index($t, $pw) >= 0;
		}
	}
	is("@seen", '', 'no process has the password in its argv or environment');
	unlike($G->log_text, qr/\Q$pw\E/, 'the password is not in the log');

	# persistent data
	my $msg = "Subject: pdata\r\n\r\nline one\r\n..leading dot\r\naction=REJECT evil\r\n\r\n\r\nlast line\r\n";
	(my $want = $msg) =~ s/\r\n/\n/g;
	$want =~ s/^\.\././mg;
	my $c = $G->connect;
	$c->cmd('EHLO client.test');
	like($c->send_message(no_ehlo => 1, data => $msg, to => ['bob@example.org', 'carol@example.org']) // 'EOF',
	    qr/^250 2\.0\.0 /, 'persistent data hook: action=OK -> 250');
	my $got = read_file("$dG/pdata-1.eml") // '';
	like($got, qr/\AReceived: from client\.test \(\[127\.0\.0\.1\]\)\n(?:\t[^\n]*\n)+\Q$want\E\z/,
	    'persistent data hook got exactly the message postern-maildir would: Received header, then the text unstuffed with LF ends');
	my $ad = attrs_hash(read_file("$dG/pdata-1.req"));
	is("@{ $ad->{request} // [] }", 'postern_data', 'data request: request=postern_data');
	is("@{ $ad->{size} // [] }", length($got), 'data request: size= is the number of bytes that follow');
	is("@{ $ad->{sender} // [] }", 'alice@example.org', 'data request: sender');
	put("$dG/pdata.ctl", "action=REJECT spam\n");
	is($c->send_message(no_ehlo => 1, data => "Subject: spam\r\n\r\nbuy\r\n") // 'EOF', "550 5.7.1 spam\r\n",
	    'persistent data hook: action=REJECT spam -> 550 5.7.1 spam');
	put("$dG/pdata.ctl", "action=OK\n");
	like($c->send_message(no_ehlo => 1, data => "Subject: third\r\n\r\nthird\r\n") // 'EOF', qr/^250 2\.0\.0 /,
	    'a third message in the same session: 250');
	like(read_file("$dG/pdata-3.eml") // '', qr/\nSubject: third\n\nthird\n\z/, '... stored whole: the framing stays in step');
	my ($dpid) = (read_file("$dG/pdata.pid") // '') =~ /(\d+)/;
	ok($dpid && alive($dpid), '... by the same process');
	$c->quit;
	is($G->stop, 0, 'server exits 0');
}

# ================================================================== the shipped examples

{
	for my $ex (qw(rcpt-allowlist.sh webhook.sh sendmail-relay.sh)) {
		ok(-x "$EXAMPLES/$ex" && system('sh', '-n', "$EXAMPLES/$ex") == 0, "example $ex: executable, sh -n clean");
	}
	ok(-x "$EXAMPLES/data-filter.pl" && system("$^X -c '$EXAMPLES/data-filter.pl' >/dev/null 2>&1") == 0, 'example data-filter.pl: executable, perl -c clean');
	ok(-x "$EXAMPLES/policy.py" && system('/usr/bin/python3', '-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', "$EXAMPLES/policy.py") == 0,
	    'example policy.py: executable, parses');
	for my $ex (qw(rcpt-allowlist.sh webhook.sh sendmail-relay.sh data-filter.pl policy.py)) {
		my $first = (split /\n/, read_file("$EXAMPLES/$ex") // '')[0] // '';
		ok($first =~ m{\A#!(/bin/sh|/usr/bin/perl|/usr/bin/python3)\z}, "example $ex: interpreter " . ($1 // '?'))
		    or diag("first line: $first");
	}
}

# ---------------------------------------------------------------- rcpt-allowlist.sh and data-filter.pl
{
	my $dI = Postern::Test::workdir();
	my $allow = Postern::Test::install_program($dI, "$EXAMPLES/rcpt-allowlist.sh");
	my $filter = Postern::Test::install_program($dI, "$EXAMPLES/data-filter.pl");
	put("$dI/allow.txt", <<'EOS');
# recipients that exist here
Bob@Example.ORG
   carol@example.org   # Carol, with blanks and a comment
@Allowed.Example
a.b@example.org
-dash@example.org
EOS
	put("$dI/rules.txt", <<'EOS');
# content rules: one Perl regex per line
(?i)\bviagra\b
unsubscribe-now-[0-9]+
[invalid(
EOS
	my $I = Postern::Test->start(dir => $dI, config => { hooks => {
		rcpt => "$allow $dI/allow.txt",
		data => "$filter $dI/rules.txt $dI/postern-maildir $dI/Maildir" } });
	my $c = $I->connect;
	$c->cmd('EHLO client.test');
	$c->cmd('MAIL FROM:<alice@example.org>');
	for my $ok ('bob@example.org', 'CAROL@Example.org', 'anyone@allowed.example', '-dash@example.org', 'a.b@example.org') {
		like($c->cmd("RCPT TO:<$ok>") // 'EOF', qr/^250 /, "rcpt-allowlist.sh: <$ok> is listed -> 250");
	}
	for my $no ('eve@example.org', 'axb@example.org', 'x@sub.allowed.example', 'allowed.example@example.org') {
		is($c->cmd("RCPT TO:<$no>") // 'EOF', "550 5.1.1 <$no>: no such user here\r\n", "rcpt-allowlist.sh: <$no> is not listed -> 550 5.1.1");
	}
	rename "$dI/allow.txt", "$dI/allow.off" or die;
	like($c->cmd('RCPT TO:<bob@example.org>') // 'EOF', qr/^451 4\.3\.0 /, 'rcpt-allowlist.sh: list file missing -> 451, not a bounce');
	rename "$dI/allow.off", "$dI/allow.txt" or die;
	$c->quit;

	my $deliver = sub {
		my ($data) = @_;
		my $c = $I->connect;
		my $r = $c->send_message(data => $data) // 'EOF';
		$c->quit;
		return $r;
	};
	my $before = [$I->messages];
	is($deliver->("Subject: Cheap VIAGRA today\r\n\r\nhello\r\n"), "550 5.7.1 message refused by content filter\r\n", 'data-filter.pl: subject matches a rule -> 550');
	is($deliver->("Subject: cheap\r\n  Viagra\r\n\r\nhello\r\n"), "550 5.7.1 message refused by content filter\r\n", 'data-filter.pl: folded subject matches -> 550');
	is($deliver->("Subject: news\r\n\r\nclick unsubscribe-now-42\r\n"), "550 5.7.1 message refused by content filter\r\n", 'data-filter.pl: body matches -> 550');
	is(scalar(new_messages($I, $before)), 0, 'data-filter.pl: nothing delivered for refused messages');
	my $tok = "clean-$$-" . int(rand 1e9);
	like($deliver->("Subject: $tok\r\nX-Note: viagra in another header\r\n\r\nbody $tok\r\n"), qr/^250 2\.0\.0 /, 'data-filter.pl: clean message -> 250');
	my @new = new_messages($I, $before);
	is(scalar @new, 1, 'data-filter.pl: delivered through postern-maildir: a file appears in Maildir/new');
	my $m = read_file($new[0] // '/dev/null') // '';
	like($m, qr/\AReceived: from client\.test .*^Subject: \Q$tok\E\n.*^body \Q$tok\E\n\z/ms, 'data-filter.pl: the message is delivered whole');
	like($I->log_text, qr/not\\x20a\\x20valid\\x20regex/, 'data-filter.pl: the invalid rule is reported on stderr (in the log)');
	SKIP: {
		my $tmpdir = "$dI/Maildir/tmp";
		skip 'no Maildir/tmp', 1 unless -d $tmpdir;
		my $mode = (stat $tmpdir)[2] & 07777;
		chmod 0500, $tmpdir;
		like($deliver->("Subject: fine\r\n\r\nfine\r\n"), qr/^451 /, 'data-filter.pl: delivery program fails (Maildir unwritable, exit 75) -> 451');
		chmod $mode, $tmpdir;
	}
	is($I->stop, 0, 'server exits 0');
}

# ---------------------------------------------------------------- policy.py
{
	my $dJ = Postern::Test::workdir();
	my $policy = Postern::Test::install_program($dJ, "$EXAMPLES/policy.py");
	put("$dJ/deny.txt", "# refused sender domains\nspammer.example\n");

	# on its own, through a pipe
	put("$dJ/requests", join '',
	    "request=postern_auth\nuser=bob\npassword=x\n\n",
	    "request=smtpd_access_policy\nprotocol_state=MAIL\nsender=x\@Spammer.Example\n\n",
	    "garbage without equals sign\nrequest=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=1.2.3.4\nsender=a\@b.example\nrecipient=c\@d.example\n\n",
	    "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=1.2.3.4\nsender=a\@b.example\nrecipient=c\@d.example\n\n");
	my $out = `/usr/bin/python3 '$policy' 0 '$dJ/deny.txt' < '$dJ/requests' 2>&1`;
	is($?, 0, 'policy.py on its own: exits 0 at end of input');
	is($out, "action=DUNNO\n\naction=REJECT 5.7.1 sender domain refused\n\naction=DEFER_IF_PERMIT 4.2.0 Greylisted, try again later\n\naction=DUNNO\n\n",
	    'policy.py on its own: DUNNO for other requests, REJECT for a denied domain, DEFER then DUNNO (delay 0)');

	# max_workers 2: with a pool of one, every session is in stress mode
	# (junk limit 1), and this dialogue sends RSET twice
	my $J = Postern::Test->start(dir => $dJ, config => {
		server => { workers => 1, max_workers => 2, min_spare => 0, max_spare => 1 },
		hooks => { mail => "$policy 1 $dJ/deny.txt", rcpt => "$policy 1 $dJ/deny.txt", persistent => 'mail rcpt' } });
	my $c = $J->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('MAIL FROM:<x@spammer.example>') // 'EOF', qr/^550 5\.\d\.\d+ .*sender domain refused\r\n\z/, 'policy.py: a denied sender domain -> 550 at MAIL');
	$c->cmd('RSET');
	like($c->cmd('MAIL FROM:<x@SPAMMER.example>') // 'EOF', qr/^550 /, 'policy.py: any case');
	$c->cmd('RSET');
	like($c->cmd('MAIL FROM:<alice@example.org>') // 'EOF', qr/^250 /, 'policy.py: another sender -> 250');
	my $t0 = time;
	like($c->cmd('RCPT TO:<bob@example.org>') // 'EOF', qr/^450 4\.\d\.\d+ .*Greylisted/, 'policy.py: a new triple is greylisted -> 450');
	like($c->cmd('RCPT TO:<bob@example.org>') // 'EOF', qr/^450 /, 'policy.py: ... and still right away');
	my ($ok, $last) = (0, '');
	while (time - $t0 < 8) {
		sleep 0.3;
		$last = $c->cmd('RCPT TO:<bob@example.org>') // 'EOF';
		if ($last =~ /^250 /) { $ok = 1; last }
	}
	ok($ok, 'policy.py: accepted after the delay (1 s)') or diag('last: ' . esc($last));
	cmp_ok(time - $t0, '>=', 0.9, 'policy.py: ... not before it');
	like($c->cmd('RCPT TO:<carol@example.org>') // 'EOF', qr/^450 /, 'policy.py: another recipient is a new triple -> 450');
	like($c->cmd('DATA') // 'EOF', qr/^354 /, 'DATA');
	$c->send("Subject: greylisted\r\n\r\nok\r\n.\r\n");
	like($c->reply // 'EOF', qr/^250 /, 'the message to the accepted recipient is delivered');
	$c->quit;
	is($J->stop, 0, 'server exits 0');
}

# ---------------------------------------------------------------- the DSN in a policy answer's text
{
	# Postfix's access(5): "REJECT 5.1.1 text" and "DEFER 4.2.0 text" use
	# that enhanced status code instead of the default 5.7.1 / 4.7.1.
	my $dB2 = Postern::Test::workdir();
	put("$dB2/pol-rcpt", $CTL_POLICY, 0755);
	my $B2 = Postern::Test->start(dir => $dB2, config => {
		server => { workers => 1, max_workers => 1, min_spare => 0, max_spare => 1 },
		hooks => { rcpt => "$dB2/pol-rcpt $dB2", persistent => 'rcpt' } });
	put("$dB2/ctl-rcpt", "action=REJECT 5.1.1 no such mailbox\n");
	is(step($B2, 'rcpt')->{reply}, "550 5.1.1 no such mailbox\r\n", 'action=REJECT 5.1.1 text -> 550 5.1.1 text (the code is not doubled)');
	put("$dB2/ctl-rcpt", "action=DEFER_IF_PERMIT 4.2.0 Greylisted, try again later\n");
	is(step($B2, 'rcpt')->{reply}, "450 4.2.0 Greylisted, try again later\r\n", 'action=DEFER_IF_PERMIT 4.2.0 text -> 450 4.2.0 text');
	is($B2->stop, 0, 'server exits 0');
}

# ---------------------------------------------------------------- webhook.sh
{
	my $dK = Postern::Test::workdir();
	my $hook = Postern::Test::install_program($dK, "$EXAMPLES/webhook.sh");
	my $http = put("$dK/http-server.py", <<'EOS', 0755);
#!/usr/bin/python3
# Records each POST (body, headers) in DIR and answers the status in DIR/http-status.
import http.server, os, sys
port, d = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n)
        k = 1 + len([f for f in os.listdir(d) if f.startswith('post-') and f.endswith('.body')])
        with open('%s/post-%d.head' % (d, k), 'w') as f:
            f.write('PATH %s\n%s' % (self.path, self.headers))
        with open('%s/post-%d.body' % (d, k), 'wb') as f:
            f.write(body)
        try:
            status = int(open(d + '/http-status').read().strip())
        except Exception:
            status = 200
        self.send_response(status)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(('127.0.0.1', port), H)
print('ready', flush=True)
srv.serve_forever()
EOS
	my $port = Postern::Test::free_port();
	my $hpid = spawn_helper("$dK/http.log", '/usr/bin/python3', $http, $port, $dK);
	ok(wait_until(sub { (read_file("$dK/http.log") // '') =~ /^ready/m }, 10), 'HTTP server is up') or diag(read_file("$dK/http.log"));
	my $K = Postern::Test->start(dir => $dK, config => { hooks => { data => "$hook http://127.0.0.1:$port/inbound" } });
	my $tok = "hook-$$-" . int(rand 1e9);
	my $msg = "Subject: $tok\r\n\r\nbody $tok\r\n..dot\r\n";
	my $deliver = sub {
		my $c = $K->connect;
		my $r = $c->send_message(data => $_[0] // $msg, to => ['bob@example.org', 'carol@example.org']) // 'EOF';
		$c->quit;
		return $r;
	};
	put("$dK/http-status", "200\n");
	like($deliver->(), qr/^250 2\.0\.0 /, 'webhook.sh: HTTP 200 -> 250');
	my $body = read_file("$dK/post-1.body") // '';
	my $head = read_file("$dK/post-1.head") // '';
	like($body, qr/\AReceived: from client\.test \(\[127\.0\.0\.1\]\)\n(?:\t[^\n]*\n)+Subject: \Q$tok\E\n\nbody \Q$tok\E\n\.dot\n\z/, 'webhook.sh: the POST body is the message');
	like($head, qr/^PATH \/inbound$/m, 'webhook.sh: POST to the configured URL');
	like($head, qr/^Content-Type: message\/rfc822$/mi, 'webhook.sh: Content-Type: message/rfc822');
	like($head, qr/^X-Postern-Mail-From: alice\@example\.org$/mi, 'webhook.sh: X-Postern-Mail-From');
	like($head, qr/^X-Postern-Rcpt-To: bob\@example\.org,carol\@example\.org$/mi, 'webhook.sh: X-Postern-Rcpt-To, comma-separated');
	put("$dK/http-status", "500\n");
	is($deliver->(), "451 4.3.0 webhook unavailable\r\n", 'webhook.sh: HTTP 500 -> 451');
	put("$dK/http-status", "403\n");
	is($deliver->(), "550 5.7.1 refused by webhook\r\n", 'webhook.sh: HTTP 403 -> 550');
	stop_helper($hpid);
	is($deliver->(), "451 4.3.0 webhook unavailable\r\n", 'webhook.sh: nothing listening -> 451');
	is($K->stop, 0, 'server exits 0');
}

# ---------------------------------------------------------------- sendmail-relay.sh
{
	my $dL = Postern::Test::workdir();
	my $hook = Postern::Test::install_program($dL, "$EXAMPLES/sendmail-relay.sh");
	my $fake = put("$dL/fake-sendmail", <<"EOS", 0755);
#!/bin/sh
printf '%s\\n' "\$@" > $dL/sm.argv
cat > $dL/sm.stdin
exit "\$(cat $dL/sm.exit 2>/dev/null || echo 0)"
EOS
	my $L = Postern::Test->start(dir => $dL, config => { hooks => { data => "$hook -s $fake" } });
	my $tok = "relay-$$-" . int(rand 1e9);
	my $deliver = sub {
		my (%o) = @_;
		unlink "$dL/sm.argv", "$dL/sm.stdin";
		my $c = $L->connect;
		my $r = $c->send_message(data => "Subject: $tok\r\n\r\nbody $tok\r\n", %o) // 'EOF';
		$c->quit;
		return $r;
	};
	put("$dL/sm.exit", "0\n");
	like($deliver->(to => ['bob@example.org', '-carol@example.org']), qr/^250 2\.0\.0 /, 'sendmail-relay.sh: sendmail exits 0 -> 250');
	is(read_file("$dL/sm.argv"), "-i\n-f\nalice\@example.org\n--\nbob\@example.org\n-carol\@example.org\n",
	    'sendmail-relay.sh: sendmail -i -f sender -- rcpt1 rcpt2');
	like(read_file("$dL/sm.stdin") // '', qr/\AReceived: from client\.test \(\[127\.0\.0\.1\]\)\n(?:\t[^\n]*\n)+Subject: \Q$tok\E\n\nbody \Q$tok\E\n\z/,
	    'sendmail-relay.sh: sendmail gets the message as is');
	like($deliver->(from => ''), qr/^250 /, 'sendmail-relay.sh: null sender -> 250');
	is(read_file("$dL/sm.argv"), "-i\n-f\n\n--\nbob\@example.org\n", 'sendmail-relay.sh: ... with -f ""');
	put("$dL/sm.exit", "75\n");
	like($deliver->(), qr/^451 4\.\d\.\d+ /, 'sendmail-relay.sh: sendmail exits 75 -> 451');
	put("$dL/sm.exit", "1\n");
	like($deliver->(), qr/^451 4\.\d\.\d+ /, 'sendmail-relay.sh: sendmail exits 1 -> 451, never a bounce');
	is($L->stop, 0, 'server exits 0');
}

done_testing;
