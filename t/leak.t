#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# leak.t - a worker's memory does not grow with the sessions it serves.
#
# One worker (workers = max_workers = 1, max_sessions = 100000) serves
# 10,000 short sessions of ten kinds: a delivered message (every 10th), an
# RSET transaction, a bad path, HELO/NOOP/VRFY/HELP, a disconnect in the
# middle of a transaction, a disconnect in the middle of DATA, AUTH where it
# is not offered, a BDAT chunk thrown away by RSET, a too-long line, and a
# bare EHLO/QUIT.  With max_workers = 1 every session takes the last worker,
# so it runs in stress mode (max_errors 1): each error session ends with 421
# after its first error, which exercises that path too.  Its VmRSS is read after 100, 1,000 and 10,000 sessions:
#
#   RSS(10,000) <= RSS(1,000) + 256 KiB  and  RSS(10,000) <= RSS(100) + 512 KiB
#
# A few client processes run the sessions in parallel (the one worker serves
# them one after another).  If 10,000 sessions do not fit in LEAK_BUDGET
# seconds (90), the last phase stops at the budget and says how far it got.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);
use Postern::Test;

$SIG{PIPE} = 'IGNORE';

my $BUDGET = $ENV{LEAK_BUDGET} // 90;   # seconds for all the sessions
my $PROCS = 3;                          # client processes
my $T0 = time;

my $srv = Postern::Test->start(config => {
	server => { workers => 1, min_spare => 1, max_spare => 1, max_workers => 1,
		max_sessions => 100000 },
});
my $port = $srv->port;

# The sessions, by kind (index % 10): what to send at once, how many replies
# to read before closing (undef: until EOF), and the codes expected.
my $ehlo = "EHLO leak.test\r\n";
my $tx = "MAIL FROM:<leak\@client.test>\r\nRCPT TO:<rcpt\@example.org>\r\n";
my @KINDS = (
	# 0: a delivered message
	[ "$ehlo${tx}DATA\r\n", 4, "Subject: leak\r\nMessage-Id: <leak-%d\@client.test>\r\n\r\nsmall message\r\n.\r\nQUIT\r\n",
	  [250, 250, 250, 354, 250, 221] ],
	# 1: a transaction dropped by RSET
	[ "$ehlo${tx}RSET\r\nQUIT\r\n", undef, undef, [250, 250, 250, 250, 221] ],
	# 2: a bad path (501; with max_workers = 1 every session is in stress
	#    mode, where max_errors is 1: then 421)
	[ "${ehlo}MAIL FROM:bad\r\nRCPT TO:<x\@y>\r\nQUIT\r\n", undef, undef, [250, 501, 421] ],
	# 3: HELO and junk commands (in stress mode the second one gets 421:
	#    the junk limit is 1 there)
	[ "HELO leak.test\r\nVRFY someone\r\nHELP\r\nQUIT\r\n", undef, undef, [250, 252, 421] ],
	# 4: a disconnect in the middle of a transaction
	[ "$ehlo$tx", 3, '', [250, 250, 250] ],
	# 5: a disconnect in the middle of DATA
	[ "$ehlo${tx}DATA\r\n", 4, "Subject: cut\r\n\r\nhalf a mess", [250, 250, 250, 354] ],
	# 6: AUTH where it is not offered (503), then 421
	[ "${ehlo}AUTH PLAIN AGFAYg==\r\nQUIT\r\n", undef, undef, [250, 503, 421] ],
	# 7: a BDAT chunk, then RSET
	[ "$ehlo${tx}BDAT 5\r\nhelloRSET\r\nQUIT\r\n", undef, undef, [250, 250, 250, 250, 250, 221] ],
	# 8: a line over 512 octets
	[ $ehlo . 'NOOP ' . ('x' x 600) . "\r\nQUIT\r\n", undef, undef, [250, 500, 421] ],
	# 9: EHLO, QUIT
	[ "${ehlo}QUIT\r\n", undef, undef, [250, 221] ],
);

# Read replies from SOCK: up to N replies (undef: to EOF); returns the codes.
sub read_codes {
	my ($sock, $n, $bufref) = @_;
	my @codes;
	my $sel = IO::Select->new($sock);
	my $end = time + 15;
	while (!defined $n || @codes < $n) {
		while ($$bufref =~ s/^(\d{3})([ -])[^\n]*\n//) {
			push @codes, $1 + 0 if $2 eq ' ';
			return @codes if defined $n && @codes >= $n;
		}
		my $left = $end - time;
		last if $left <= 0 || !$sel->can_read($left);
		my $r = sysread($sock, my $chunk, 65536);
		last unless $r;
		$$bufref .= $chunk;
	}
	return @codes;
}

# One session of kind I % 10; returns '' when the replies were as expected,
# else a description.
sub session {
	my ($i) = @_;
	my ($first, $n, $rest, $want) = @{ $KINDS[$i % 10] };
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 15)
	    or return "connect: $!";
	binmode $s;
	my $buf = '';
	my @got = read_codes($s, 1, \$buf);
	return "no greeting" unless @got && $got[0] == 220;
	syswrite($s, $first) // return "write: $!";
	my @codes = read_codes($s, $n, \$buf);
	if (defined $rest) {
		syswrite($s, $i % 10 == 0 ? sprintf($rest, $i) : $rest) if length $rest;
		push @codes, read_codes($s, $i % 10 == 0 ? undef : 0, \$buf) if $i % 10 == 0;
	}
	close $s;
	return "@codes" eq "@$want" ? '' : "kind " . ($i % 10) . ": got @codes, want @$want";
}

# Run sessions FROM .. TO-1 in $PROCS processes, stopping at DEADLINE;
# returns (sessions run, delivered, list of problems).
sub phase {
	my ($from, $to, $deadline) = @_;
	my @kids;
	for my $p (0 .. $PROCS - 1) {
		pipe(my $rd, my $wr) or die "pipe: $!";
		my $pid = fork // die "fork: $!";
		if ($pid == 0) {
			close $rd;
			my ($done, $delivered, @bad) = (0, 0);
			for (my $i = $from + $p; $i < $to; $i += $PROCS) {
				last if time > $deadline;
				my $r = session($i);
				$done++;
				$delivered++ if $i % 10 == 0 && $r eq '';
				push @bad, "session $i: $r" if $r ne '' && @bad < 5;
			}
			print $wr join("\n", "$done $delivered", @bad), "\n";
			close $wr;
			POSIX::_exit(0);
		}
		close $wr;
		push @kids, [$pid, $rd];
	}
	my ($done, $delivered, @bad) = (0, 0);
	for my $k (@kids) {
		my $rd = $k->[1];
		my $head = <$rd> // "0 0\n";
		my ($d, $m) = split ' ', $head;
		$done += $d // 0;
		$delivered += $m // 0;
		while (my $l = <$rd>) { chomp $l; push @bad, $l; }
		close $rd;
		waitpid($k->[0], 0);
	}
	return ($done, $delivered, @bad);
}

sub nfds {
	my ($pid) = @_;
	opendir my $d, "/proc/$pid/fd" or return undef;
	return scalar grep { /^\d+$/ } readdir $d;
}

sub rss_kb {
	my ($pid) = @_;
	open my $f, '<', "/proc/$pid/status" or return undef;
	while (<$f>) { return $1 if /^VmRSS:\s+(\d+) kB/ }
	return undef;
}

# The worker, idle after one more session of kind 1 (RSET), which hands
# its spool file to no program.  A worker keeps its spool file for the next
# session unless the last session gave it to an exec step (worker/spool.c),
# so the descriptors are counted after the same kind of session each time
# (counted after whichever session came last, they were 8 or 7).  Idle:
# its title says "worker idle", set once the session's socket is closed.
sub worker_idle {
	my $r = session(1);
	my @w = $srv->worker_pids;
	return (undef, undef, scalar @w, $r) unless @w == 1;
	Postern::Test::wait_for(10, sub { Postern::Test::cmdline($w[0]) =~ /worker idle/ });
	return ($w[0], rss_kb($w[0]), 1, $r);
}

my ($pid0) = $srv->worker_pids;
ok($pid0, "one worker ($pid0)") or BAIL_OUT('no worker');
my (%rss, %fds);
my ($total, $delivered, @problems) = (0, 0);
my $ended_early;
for my $mark (100, 1000, 10000) {
	my $deadline = $T0 + $BUDGET;
	my ($n, $m, @bad) = phase($total, $mark, $deadline);
	$total += $n;
	$delivered += $m;
	push @problems, @bad;
	my ($pid, $rss, $nw, $probe) = worker_idle();
	push @problems, "the session after the phase: $probe" if $probe ne '';
	is($nw, 1, "after $total sessions: still exactly one worker");
	is($pid // 0, $pid0, "the same worker process served all $total sessions");
	$rss{$mark} = $rss;
	$fds{$mark} = $pid ? nfds($pid) : undef;
	diag(sprintf 'worker %s: VmRSS %s kB, %s descriptors after %d sessions (%.1f s)', $pid // '?', $rss // '?',
	    $fds{$mark} // '?', $total, time - $T0);
	if ($total < $mark) {
		$ended_early = $total;
		diag("the time budget ($BUDGET s) ran out: the last phase reached $total sessions, not $mark");
		last;
	}
}
is(scalar @problems, 0, 'every session got the replies expected of its kind') or diag(join "\n", @problems[0 .. ($#problems < 9 ? $#problems : 9)]);
my @m = $srv->messages;
is(scalar @m, $delivered, "every delivered message is in the Maildir ($delivered)");

my ($r100, $r1k, $r10k) = @rss{100, 1000, 10000};
ok(defined $r100 && defined $r1k, 'RSS read after 100 and 1,000 sessions');
# AddressSanitizer keeps freed memory in quarantine (256 MB by default): RSS
# says nothing about leaks in such a build.  Its own leak checker is the tool.
my $asan = do { open my $b, '<:raw', "$Postern::Test::BUILDDIR/posternd"; local $/; my $x = <$b> // ''; $x =~ /__asan_init/ };
if ($asan) {
	SKIP: { skip 'a sanitizer build: RSS is not a leak measure under ASan', 2 }
} elsif (defined $r10k) {
	cmp_ok($r10k, '<=', $r1k + 256, sprintf('RSS after %d sessions (%d kB) <= RSS after 1,000 (%d kB) + 256 KiB',
	    $total, $r10k, $r1k));
	cmp_ok($r10k, '<=', $r100 + 512, sprintf('RSS after %d sessions (%d kB) <= RSS after 100 (%d kB) + 512 KiB',
	    $total, $r10k, $r100));
} else {
	fail('RSS read after the last phase');
}
my @fdv = grep { defined } @fds{100, 1000, 10000};
ok(@fdv >= 2 && !grep({ $_ != $fdv[0] } @fdv), 'the worker\'s open descriptors do not grow (' . join(', ', @fdv) . ')');
diag(sprintf 'sessions %d in %.1f s (%.0f/s); VmRSS: 100 -> %s kB, 1,000 -> %s kB, %d -> %s kB',
    $total, time - $T0, $total / ((time - $T0) || 1), $r100 // '?', $r1k // '?', $total, $r10k // '?');
is($srv->stop, 0, 'posternd exits 0');
done_testing;
