#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# master.t - the root master trusts nothing a worker can write (security
# audit, finding 4), and a second posternd with the same configuration is
# told who runs.
#
# The test plays a compromised worker for real: as root it opens a worker's
# /proc/PID/mem, finds the scoreboard (the shared mapping of PIDFILE.status every
# worker can write) and overwrites it: every word holding a worker's pid now
# holds the pid of an innocent process this test started, and the slot
# count says 2^31-1.  Before the fix, the master sent SIGTERM to the
# innocent process at shutdown and a worker counting busy slots ran off the
# end of the mapping.  Then: workers hold no descriptor of the root
# pidfile, the master's pidfile descriptor is close-on-exec, and a
# descriptor posternd inherited is closed at start.
use strict;
use warnings;
use Test::More;
use Fcntl qw(SEEK_SET);
use Postern::Test qw(run_bounded wait_for alive read_file);

plan skip_all => 'needs root (to write a worker\'s memory as an attacker would)' unless Postern::Test::is_root();

# ---------------------------------------------------------------- a second server
{
	my $srv = Postern::Test->start;
	my ($status, $out) = run_bounded(20, Postern::Test::builddir() . '/posternd', '-f', '-c', $srv->conffile);
	is(Postern::Test::exit_code($status), 1, 'a second posternd with the same config exits 1');
	like($out, qr/already running as pid ${\ $srv->pid}\b/, 'and says which pid runs')
	    or diag($out);
	unlike($out, qr/Address already in use/, 'not "Address already in use"');
	ok(-s $srv->dir . '/posternd.pid', 'the first server keeps its pidfile');
	is($srv->stop, 0, 'the first server stops');
}

# ---------------------------------------------------------------- descriptors
{
	# A descriptor left open (not close-on-exec) by whoever starts posternd.
	my $dir = Postern::Test::workdir();
	open my $leak, '>', "$dir/leaked-file" or die $!;
	{ no warnings; $^F = 1000; }    # perl: keep descriptors open across exec
	open my $leak2, '>', "$dir/leaked-file2" or die $!;
	$^F = 2;
	my $srv = Postern::Test->start(dir => $dir);
	my $fds = sub {
		my ($pid) = @_;
		opendir my $d, "/proc/$pid/fd" or return {};
		return { map { ($_ => readlink("/proc/$pid/fd/$_") // '') } grep { /^\d+$/ } readdir $d };
	};
	my $m = $fds->($srv->pid);
	ok(!grep({ /leaked-file/ } values %$m), 'an inherited descriptor is closed at start')
	    or diag(join ' ', values %$m);
	my ($pidfd) = grep { $m->{$_} =~ m{/posternd\.pid$} } keys %$m;
	ok(defined $pidfd, 'the master holds the pidfile (its lock)');
	my ($flags) = (read_file("/proc/${\ $srv->pid}/fdinfo/" . ($pidfd // 0)) // '') =~ /^flags:\s*(\d+)/m;
	ok(defined $flags && oct($flags) & 02000000, 'the pidfile descriptor is close-on-exec');
	my @w = $srv->worker_pids;
	ok(@w >= 1, 'workers run');
	my @holding = grep { my $f = $fds->($_); grep { m{/posternd\.pid$} } values %$f } @w;
	is("@holding", '', 'no worker holds the root pidfile');
	is($srv->stop, 0, 'server stops');
	close $leak;
	close $leak2;
}

# ---------------------------------------------------------------- a compromised worker
# The scoreboard: the worker's shared mapping of the status file beside the
# pidfile (PIDFILE.status, rw-s).  Returns (address, length) or ().
sub scoreboard_of {
	my ($pid) = @_;
	open my $f, '<', "/proc/$pid/maps" or return ();
	no warnings 'portable';         # 64-bit addresses
	while (<$f>) {
		return (hex $1, hex($2) - hex($1)) if /^([0-9a-f]+)-([0-9a-f]+) rw-s .*\.pid\.status$/;
	}
	return ();
}

# Rewrite the scoreboard from a worker's memory: EDIT gets the mapping's
# bytes and changes them.  Returns true when it was written.
sub forge {
	my ($worker, $edit) = @_;
	my ($addr, $len) = scoreboard_of($worker) or return 0;
	open my $mem, '+<:raw', "/proc/$worker/mem" or return 0;
	sysseek($mem, $addr, SEEK_SET) or return 0;
	sysread($mem, my $sb, $len) == $len or return 0;
	$edit->(\$sb);
	sysseek($mem, $addr, SEEK_SET) or return 0;
	return syswrite($mem, $sb) == $len;
}

my $victim = fork // die;
if ($victim == 0) { { exec 'sleep', '300' }; POSIX::_exit(127); }
END { kill 'KILL', $victim if $victim; }

# 1. Every worker pid in the scoreboard replaced by the victim's.
my $srv = Postern::Test->start(config => { server => { shutdown_grace => 2 } });
my @workers = $srv->worker_pids;
ok(@workers >= 1, 'workers run') or BAIL_OUT('no worker');
my %w = map { $_ => 1 } @workers;
my $n = 0;
ok(forge($workers[0], sub {
	my ($sb) = @_;
	for (my $off = 0; $off + 4 <= length $$sb; $off += 4) {
		next unless $w{ unpack('l<', substr($$sb, $off, 4)) };
		substr($$sb, $off, 4) = pack('l<', $victim);
		$n++;
	}
}), 'the scoreboard is rewritten through a worker\'s /proc/PID/mem');
ok($n >= @workers, "the worker pids in the scoreboard ($n) now name an innocent process");
is($srv->stop(timeout => 30), 0, 'the server stops');
ok(alive($victim), 'the innocent process the scoreboard named was not signalled');
is(join(' ', grep { alive($_) } @workers), '', 'the real workers are gone');

# 2. The slot count (the mapping's first word) says 2^31-1: workers count
# busy slots for every new session.
$srv = Postern::Test->start;
@workers = $srv->worker_pids;
ok(forge($workers[0], sub { substr(${ $_[0] }, 0, 4) = pack('l<', 0x7fffffff) }),
    'the slot count is forged');
my $c = eval { $srv->connect };
like($c ? $c->greeting : '', qr/^220 /, 'a new session is served with the slot count forged');
like($c ? $c->cmd('EHLO client.test') // '' : '', qr/^250[ -]/, 'and goes on');
$c->quit if $c;
is($srv->stop(timeout => 30), 0, 'the server stops');
done_testing;
