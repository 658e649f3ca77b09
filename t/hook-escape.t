#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# hook-escape.t - a hook that leaves its process group must not hang its
# worker (security audit, finding 5).
#
# The hook forks a child that starts a session of its own (setsid) and keeps
# the hook's stdout and stderr open (the persistent variant floods stderr),
# then the hook itself tries to move into its worker's process group and
# sleeps past its timeout.  Before the fix, killing the hook's process group
# missed the hook (its group was empty) and the worker waited for it without
# a bound: the client never got an answer.  Now the hook leads a session of
# its own (it cannot join the worker's group), the leader is signalled
# directly too, the final wait is bounded, and the client gets 451.
# The escaped children are killed here, by the pid they wrote.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use Postern::Test qw(wait_for alive read_file);

my $dir = Postern::Test::workdir();
my $hook = Postern::Test::write_script($dir, 'escape', <<'EOF');
#!/usr/bin/perl
# escape DIR NAME [persistent]: see t/hook-escape.t
use strict;
use warnings;
use POSIX ();
my ($dir, $name, $persistent) = @ARGV;
if ($persistent) {
	while (my $l = <STDIN>) { last if $l eq "\n"; }
}
my $kid = fork;
if (defined $kid && $kid == 0) {
	POSIX::setsid();
	open my $f, '>', "$dir/$name.kid.tmp"; print $f "$$\n"; close $f;
	rename "$dir/$name.kid.tmp", "$dir/$name.kid";
	if ($persistent) {
		my $junk = ('x' x 1023) . "\n";
		1 while syswrite(STDERR, $junk x 64);     # stops at EPIPE
		POSIX::_exit(0);
	}
	sleep 300;
	POSIX::_exit(0);
}
# Into the worker's process group, if the kernel lets us.
my $moved = POSIX::setpgid(0, getpgrp(getppid())) ? 'moved' : "stayed: $!";
open my $f, '>', "$dir/$name.leader.tmp"; print $f "$$ $moved\n"; close $f;
rename "$dir/$name.leader.tmp", "$dir/$name.leader";
sleep 300;
EOF

my @escaped;
END { kill 'KILL', @escaped if @escaped; }

for my $mode (qw(exec persistent)) {
	my $srv = Postern::Test->start(dir => Postern::Test::workdir(), config => {
	    hooks => { rcpt => "$hook $dir $mode" . ($mode eq 'persistent' ? ' persistent' : ''),
		rcpt_timeout => 2, ($mode eq 'persistent' ? (persistent => 'rcpt') : ()) } });
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	$c->cmd('MAIL FROM:<a@example.org>');
	my $t0 = time;
	my $r = $c->cmd('RCPT TO:<b@example.org>', 15);
	my $took = time - $t0;
	like($r // '', qr/^451 /, "$mode: a hook that left its group and timed out -> 451")
	    or diag("reply after ${took}s: " . ($r // 'none'));
	ok($took < 10, "$mode: the answer came within the timeout and the kill grace ("
	    . sprintf('%.1f', $took) . ' s)');
	my $kid = wait_for(5, sub { my $t = read_file("$dir/$mode.kid"); $t && $t =~ /^(\d+)/ ? $1 : undef });
	push @escaped, $kid if $kid;
	my ($leader) = (read_file("$dir/$mode.leader") // '') =~ /^(\d+)/;
	push @escaped, $leader if $leader;
	like(read_file("$dir/$mode.leader") // '', qr/ stayed/,
	    "$mode: the hook could not move into its worker's process group (own session)");
	ok($leader && wait_for(5, sub { !alive($leader) }), "$mode: the hook process itself is gone");
	like($c->cmd('NOOP') // '', qr/^250 /, "$mode: the worker serves the session on");
	$c->cmd('QUIT');
	is(join(' ', $srv->zombies), '', "$mode: no zombie left behind");
	is($srv->stop(timeout => 20), 0, "$mode: the server stops");
	kill 'KILL', $kid if $kid;
}
done_testing;
