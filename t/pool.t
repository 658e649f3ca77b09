#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# pool.t - the pre-forked pool under load (master/pool_workers.c): it grows
# with busy workers up to max_workers and never beyond, later clients wait in
# the listen queue, idle workers beyond max_spare are retired back down to
# `workers`; max_connections_per_client (the scoreboard's per-client count);
# stress mode when a session takes the last worker.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Postern::Test qw(wait_for);

# A write to a connection the server closed must fail, not kill the test
# (which would leave its posternd running).
$SIG{PIPE} = 'IGNORE';

# Postern::Test->start probes the port with one connection: wait until that
# session is over (and its worker idle again), or it counts as a busy worker
# and as a connection from 127.0.0.1.
sub settle {
	my ($srv) = @_;
	my $ok = $srv->wait_log(qr/disconnect from \[127\.0\.0\.1\]/, 5);
	sleep 0.3;
	return $ok;
}

# The session id the server logged for the client whose local port is PORT.
sub session_of {
	my ($srv, $port, $addr) = @_;
	$addr //= '127.0.0.1';
	return $srv->wait_log(qr/: (\S+): connect from \[\Q$addr\E\]:$port to /, 5);
}

# A raw client bound to a local address (for a second client address).
sub connect_from {
	my ($srv, $local) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port,
	    LocalAddr => $local, Proto => 'tcp', Timeout => 10) or return undef;
	binmode $sock;
	my $c = bless { sock => $sock, buf => '', timeout => 10 }, 'Postern::Test::Client';
	$c->{greeting} = $c->reply;
	return $c;
}

# ---- growth up to max_workers, the listen queue, shrink back to `workers` --
{
	my %pool = (workers => 2, min_spare => 1, max_spare => 2, max_workers => 8);
	my $srv = Postern::Test->start(config => { server => \%pool, limits => { command_timeout => 30 } });
	settle($srv);
	my $max_seen = 0;
	my $sample = sub {
		my $n = () = $srv->worker_pids;
		$max_seen = $n if $n > $max_seen;
		return $n;
	};
	ok(wait_for(5, sub { $sample->() == 2 }), 'the pool starts with `workers` (2) processes')
	    or diag('workers: ' . $sample->());

	# 30 slow clients: they connect and send nothing.
	my @c = map { Postern::Test::Client->new($srv->port, no_greeting => 1, timeout => 10) } 1 .. 30;
	my %by_fd = map { fileno($_->sock) => $_ } @c;
	my (@greeted, @waiting);
	my $grew = wait_for(10, sub {
		my $sel = IO::Select->new(map { $_->sock } grep { !defined $_->{greeting} } @c);
		for my $fh ($sel->can_read(0.05)) {
			my $cl = $by_fd{ fileno $fh };
			$cl->{greeting} = $cl->reply(1) // '';
		}
		$sample->();
		scalar(grep { defined $_->{greeting} } @c) >= 8 && $sample->() >= 8;
	});
	ok($grew, 'the pool grows to max_workers (8) busy workers under 30 clients')
	    or diag('workers: ' . $sample->() . ', greeted: ' . scalar(grep { defined $_->{greeting} } @c));
	# Go on sampling a moment: the pool must not go past max_workers.
	my $end = time + 1.5;
	while (time < $end) { $sample->(); sleep 0.05; }
	@greeted = grep { defined $_->{greeting} } @c;
	@waiting = grep { !defined $_->{greeting} } @c;
	is(scalar @greeted, 8, 'exactly 8 clients are in a session');
	is(scalar(grep { /^220 / } map { $_->{greeting} } @greeted), scalar @greeted, 'each got a 220 greeting');
	is($max_seen, 8, 'the number of workers reached and never exceeded max_workers (8)');
	ok(defined $srv->wait_log(qr/pool: all 8 workers busy/, 2), 'the log says all workers are busy');

	# The others wait in the listen queue: no greeting within 1 s.
	my @ready = IO::Select->new(map { $_->sock } @waiting)->can_read(1);
	is(scalar @ready, 0, 'the 22 waiting clients get no greeting while all workers are busy');

	# Free 8 workers: 8 waiting clients are served.
	my @quit = map { $_->quit // '' } @greeted;
	is(scalar(grep { /^221 / } @quit), 8, 'the 8 sessions end with QUIT (221)');
	my $served = wait_for(10, sub {
		my $sel = IO::Select->new(map { $_->sock } grep { !defined $_->{greeting} } @waiting);
		for my $fh ($sel->can_read(0.05)) {
			my $cl = $by_fd{ fileno $fh };
			$cl->{greeting} = $cl->reply(1) // '';
		}
		$sample->();
		scalar(grep { defined $_->{greeting} } @waiting) >= 8;
	});
	ok($served, 'waiting clients get their greeting once workers are free');
	my @second = grep { defined $_->{greeting} } @waiting;
	is(scalar(grep { /^220 / } map { $_->{greeting} } @second), 8, '8 of them got 220 (the rest still wait)')
	    or diag(join '', map { $_->{greeting} } @second);
	$end = time + 0.5;
	while (time < $end) { $sample->(); sleep 0.05; }
	cmp_ok($max_seen, '<=', 8, 'still no more than max_workers processes');

	# Close everything: the pool shrinks.  maintain() retires one idle worker
	# a second while idle > max_spare (2) and live > workers (2), so it
	# settles at exactly 2 (idle 2 is not above max_spare; min_spare 1 asks
	# for none).
	$_->quit for @second;
	$_->close for grep { !defined $_->{greeting} } @waiting;
	my $shrunk = wait_for(20, sub { $sample->() <= 2 });
	ok($shrunk, 'idle workers are retired after the load') or diag('workers: ' . $sample->());
	$end = time + 2.5;
	my ($lo, $hi) = (99, 0);
	while (time < $end) {
		my $n = $sample->();
		$lo = $n if $n < $lo;
		$hi = $n if $n > $hi;
		sleep 0.05;
	}
	is("$lo..$hi", '2..2', 'the pool settles at `workers` (2) processes and stays there');
	my @retired = $srv->log_text =~ /pool: \d+ idle workers \(max_spare 2\): retiring/g;
	cmp_ok(scalar @retired, '>=', 6, 'the log shows the retirements (at least 6)');
	cmp_ok($max_seen, '<=', 8, 'never more than max_workers processes during the whole run');
	$srv->stop;
}

# ---- max_connections_per_client ----------------------------------------------
{
	my $srv = Postern::Test->start(config => {
		server => { workers => 6, max_workers => 6, min_spare => 1, max_spare => 6 },
		limits => { max_connections_per_client => 3, limit_exempt => '' } });
	settle($srv);
	my @c;
	for my $i (1 .. 3) {
		my $c = Postern::Test::Client->new($srv->port, timeout => 10);
		like($c->greeting // '', qr/^220 /, "connection $i from 127.0.0.1: 220");
		like($c->cmd('EHLO client.test') // '', qr/^250[ -]/, "connection $i: EHLO 250");
		push @c, $c;
	}
	my $fourth = Postern::Test::Client->new($srv->port, timeout => 10);
	like($fourth->greeting // '', qr/^421 4\.7\.0 .*too many connections/, 'the 4th connection from 127.0.0.1 gets 421 4.7.0');
	ok($fourth->closed(5), 'and is closed');
	$fourth->close;
	ok(defined $srv->wait_log(qr/refused \[127\.0\.0\.1\]:\d+ on smtp: too many connections from this client \(3, limit 3\)/, 5),
	    'the log says "too many connections" with the count and the limit');

	# Another client address is served meanwhile.
	my $other = connect_from($srv, '127.0.0.2');
	ok($other, 'a client can connect from 127.0.0.2') or diag("connect: $!");
	like($other ? $other->greeting // '' : '', qr/^220 /, 'a client from 127.0.0.2 gets 220 while 127.0.0.1 is at its limit');
	like($other ? $other->cmd('EHLO other.test') // '' : '', qr/^250[ -]/, 'and is served (EHLO 250)');
	my $sid = $other ? session_of($srv, $other->sock->sockport, '127.0.0.2') : undef;
	ok($sid, 'the server logged the session from 127.0.0.2');

	# The three still work.
	is(scalar(grep { ($_->cmd('NOOP') // '') =~ /^250 / } @c), 3, 'the 3 sessions from 127.0.0.1 are still served');

	# Once they are closed, 127.0.0.1 is accepted again.
	for my $c (@c) {
		$c->send("QUIT\r\n");
		$c->reply(5);
		$c->closed(5);
		$c->close;
	}
	sleep 0.2;      # the workers mark their slots idle right after the close
	my $again = Postern::Test::Client->new($srv->port, timeout => 10);
	like($again->greeting // '', qr/^220 /, 'after the 3 close, a new connection from 127.0.0.1 gets 220');
	like($again->quit // '', qr/^221 /, 'and is served');
	$other->quit if $other;
	$srv->stop;
}

# ---- stress mode: a session that takes the last worker ---------------------
{
	my $srv = Postern::Test->start(config => {
		server => { workers => 2, max_workers => 2, min_spare => 1, max_spare => 2 },
		limits => { command_timeout => 60 } });
	settle($srv);
	my $a = Postern::Test::Client->new($srv->port, timeout => 10);
	like($a->greeting // '', qr/^220 /, 'first session: 220');
	like($a->cmd('EHLO a.test') // '', qr/^250[ -]/, 'first session: EHLO 250');
	my $b = Postern::Test::Client->new($srv->port, timeout => 10);
	like($b->greeting // '', qr/^220 /, 'second session (the last worker): 220');
	like($b->cmd('EHLO b.test') // '', qr/^250[ -]/, 'second session: EHLO 250');
	my $t_b = time;
	my $sid_a = session_of($srv, $a->sock->sockport);
	my $sid_b = session_of($srv, $b->sock->sockport);
	ok($sid_a && $sid_b, 'both sessions are in the log');
	$sid_a //= 'none-a';
	$sid_b //= 'none-b';
	ok(defined $srv->wait_log(qr/\Q$sid_b\E: stress mode: all 2 workers are busy/, 5),
	    'the session that took the last worker is in stress mode (log)');
	# As in Postfix, stress applies to every session, the running ones too
	# (issue 13): the first one notices while it waits for a command.
	ok(defined $srv->wait_log(qr/\Q$sid_a\E: stress mode/, 10), 'the first session enters stress mode too');

	# Both are cut after 10 s of silence, not command_timeout.
	my ($code, $text) = $b->reply(20);
	my $after = time - $t_b;
	like($text // '', qr/^421 4\.4\.2 /, 'the stressed session is cut with 421 4.4.2 when idle')
	    or diag('got: ' . ($text // 'EOF'));
	ok($after >= 8 && $after <= 14, sprintf('after about 10 s (stress timeout), not command_timeout (%.1f s)', $after));
	ok($b->closed(5), 'and closed');
	$b->close;
	($code, $text) = $a->reply(10);
	like($text // '', qr/^421 4\.4\.2 /, 'the first session, idle as long, is cut too');
	$a->close;

	# With the load gone, a new session is not in stress mode.
	sleep 0.2;      # the workers mark themselves idle after the close
	my $n_stress = () = $srv->log_text =~ /stress mode/g;
	my $c = Postern::Test::Client->new($srv->port, timeout => 10);
	like($c->greeting // '', qr/^220 /, 'a new session with no other load: 220');
	like($c->cmd('EHLO c.test') // '', qr/^250[ -]/, 'new session: EHLO 250');
	my $sid_c = session_of($srv, $c->sock->sockport);
	ok($sid_c, 'the new session is in the log');
	sleep 0.3;
	my $n_after = () = $srv->log_text =~ /stress mode/g;
	is($n_after, $n_stress, 'no new "stress mode" line for it');
	unlike($srv->log_text, qr/\Q${\($sid_c \/\/ 'none-c')}\E: stress mode/, 'the new session is not in stress mode');
	like($c->quit // '', qr/^221 /, 'and ends with QUIT');
	$srv->stop;
}

done_testing();
