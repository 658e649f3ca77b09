#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# process.t - the master and its workers (DESIGN.md "Processes"): the command
# line (-t, -V, usage), unprivileged workers, process titles, respawn of a
# killed worker, recycling after max_sessions, graceful stop and the grace
# period, the pidfile, workers that outlive a killed master, SIGHUP reload,
# and the races around SIGTERM: a worker being started when the master stops,
# a burst of reloads, a connection that arrives just after a worker's SIGTERM.
use strict;
use warnings;
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Postern::Test qw(run_bounded wait_for alive cmdline status_field read_file write_file);

my $BIN = Postern::Test::builddir() . '/posternd';

# Wait (bounded) until the pool has at least MIN workers and every one of
# them has finished starting (title "worker idle" or busy with a client).
sub pool_ready {
	my ($srv, $min) = @_;
	return wait_for(10, sub {
		my @p = grep { alive($_) } $srv->worker_pids;
		return @p >= ($min // 1) && !grep { cmdline($_) !~ /posternd: worker (?:idle|\d|\[)/ } @p;
	});
}

# A stand-alone config file (for -t): a data hook that exists.
sub config_file {
	my (%o) = @_;
	my $dir = Postern::Test::workdir();
	my $hook = $o{hook} // Postern::Test::install_program($dir, Postern::Test::builddir() . '/hooks/postern-maildir');
	my $user = Postern::Test::is_root() ? "user = nobody\ngroup = nogroup\n" : '';
	my $text = "[server]\nhostname = mx.test\nreverse_lookup = no\n$user" . ($o{server_extra} // '') .
	    "workers = 2\n\n[hooks]\ndata = $hook $dir/Maildir\n\n[smtp]\nlisten = 127.0.0.1:" .
	    Postern::Test::free_port() . "\n";
	write_file("$dir/postern.conf", $text);
	return "$dir/postern.conf";
}

# ---------------------------------------------------------------- -t, -V, usage
{
	my $good = config_file();
	my ($st, $out) = run_bounded(10, $BIN, '-t', '-c', $good);
	is($st, 0, '-t: a valid file exits 0') or diag($out);
	like($out, qr/configuration OK/, '-t: says "configuration OK"');

	my $typo = config_file(server_extra => "wokers = 3\n");
	($st, $out) = run_bounded(10, $BIN, '-t', '-c', $typo);
	is(defined $st ? $st >> 8 : undef, 1, '-t: an unknown key exits 1');
	like($out, qr/\[server\] wokers/, '-t: the message names [server] wokers') or diag($out);
	unlike($out, qr/configuration OK/, '-t: an unknown key is not "OK"');

	my $missing = Postern::Test::workdir() . '/no-such.conf';
	($st, $out) = run_bounded(10, $BIN, '-t', '-c', $missing);
	is(defined $st ? $st >> 8 : undef, 1, '-t: a missing file exits 1');
	like($out, qr/\Q$missing\E.*cannot open/, '-t: a missing file: "cannot open" with the path') or diag($out);

	my $nohook = config_file(hook => '/nonexistent/postern-maildir');
	($st, $out) = run_bounded(10, $BIN, '-t', '-c', $nohook);
	is(defined $st ? $st >> 8 : undef, 1, '-t: a data hook that does not exist exits 1');
	like($out, qr/\[hooks\] data.*\/nonexistent\/postern-maildir/, '-t: the message names the hook and its path') or diag($out);

	($st, $out) = run_bounded(10, $BIN, '-V');
	is($st, 0, '-V exits 0');
	like($out, qr/^posternd \d+\.\d+(?:\.\d+)?\S*\n\z/, '-V prints "posternd VERSION"') or diag($out);

	($st, $out) = run_bounded(10, $BIN, '-Q');
	is(defined $st ? $st >> 8 : undef, 1, 'an unknown option exits 1');
	like($out, qr/^usage: posternd/m, 'an unknown option prints the usage') or diag($out);

	# A stray argument is not silently ignored either.
	($st, $out) = run_bounded(10, $BIN, '-t', '-c', $good, 'extra');
	is(defined $st ? $st >> 8 : undef, 1, 'a stray argument exits 1');
}

# ---------------------------------------------------------------- privileges, titles, respawn
{
	my $srv = Postern::Test->start(config => { server => { workers => 3, min_spare => 1, max_spare => 4 } });
	ok(pool_ready($srv, 3), 'three workers started');
	my @w = $srv->worker_pids;

	SKIP: {
		skip 'not root: workers keep the caller\'s uid', 5 unless Postern::Test::is_root();
		my (undef, undef, $nuid) = getpwnam('nobody');
		my $ngid = getgrnam('nogroup');
		my @bad_uid = grep { (status_field($_, 'Uid') // '') ne join("\t", ($nuid) x 4) } @w;
		ok(!@bad_uid, "every worker's real, effective, saved and fs uid is nobody ($nuid)")
		    or diag(join "\n", map { "$_: Uid " . (status_field($_, 'Uid') // '?') } @bad_uid);
		my @bad_gid = grep { (status_field($_, 'Gid') // '') ne join("\t", ($ngid) x 4) } @w;
		ok(!@bad_gid, "every worker's gids are nogroup ($ngid)")
		    or diag(join "\n", map { "$_: Gid " . (status_field($_, 'Gid') // '?') } @bad_gid);
		my @root_grp = grep { grep { $_ == 0 } split ' ', (status_field($_, 'Groups') // '0') } @w;
		ok(!@root_grp, 'no worker keeps group 0 among its supplementary groups')
		    or diag(join "\n", map { "$_: Groups " . (status_field($_, 'Groups') // '?') } @root_grp);
		like(status_field($srv->pid, 'Uid') // '', qr/^0\s/, 'the master stays root');
		my $cap = status_field($w[0], 'CapEff') // '';
		like($cap, qr/^0+$/, 'a worker has no effective capabilities');
	}

	like(cmdline($srv->pid), qr/posternd: master/, 'master title: "posternd: master"');
	my @idle_bad = grep { cmdline($_) !~ /posternd: worker idle/ } @w;
	ok(!@idle_bad, 'idle workers: "posternd: worker idle"') or diag(join "\n", map { "$_: " . cmdline($_) } @idle_bad);

	# While a session runs, its worker says so.
	my $c = $srv->connect;
	like($c->greeting, qr/^220 /, 'a session starts');
	my ($busy) = wait_for(5, sub { my @b = grep { cmdline($_) =~ /posternd: worker 127\.0\.0\.1/ } $srv->worker_pids; @b ? \@b : undef }) // [];
	ok(defined $busy && @$busy == 1, 'the busy worker\'s title names the client address');
	$c->quit;

	# Kill one idle worker: it is replaced.
	my @before = $srv->worker_pids;
	my $victim = (grep { cmdline($_) =~ /worker idle/ } @before)[0] // $before[0];
	ok(kill('KILL', $victim), "SIGKILL worker $victim");
	my $ok = wait_for(10, sub {
		my @now = $srv->worker_pids;
		return (!grep { $_ == $victim } @now) && @now >= @before;
	});
	ok($ok, 'the killed worker is reaped and replaced (count back, pid gone)')
	    or diag('workers now: ' . join(' ', $srv->worker_pids) . " before: @before");
	ok($srv->wait_log(qr/worker $victim died of signal 9/, 5), 'the master logs the death');
	$c = $srv->connect;
	like($c->greeting, qr/^220 /, 'a new session after the respawn gets 220');
	like($c->send_message, qr/^250 /, 'and its message is accepted');
	$c->quit;
	pool_ready($srv, 1);      # (no worker half started: see "SIGTERM right after a pool top-up")
	is($srv->stop, 0, 'posternd exits 0');
}

# ---------------------------------------------------------------- max_sessions
{
	my $srv = Postern::Test->start(config => { server => { workers => 1, min_spare => 1, max_spare => 1, max_sessions => 3 } });
	my $greetings = 0;
	for my $i (1 .. 5) {
		my $c = eval { $srv->connect };
		$greetings++ if $c && ($c->greeting // '') =~ /^220 /;
		$c->quit if $c;
	}
	is($greetings, 5, 'five sessions in a row all get the 220 greeting');
	# Sessions per worker, from the log (the wait_ready probe counts too).
	my $ok = wait_for(10, sub { my $t = $srv->log_text; my $n = () = $t =~ /disconnect from/g; $n >= 6 });
	ok($ok, 'six sessions logged (the readiness probe and five)');
	my %per;
	my $log = $srv->log_text;
	$per{$1}++ while $log =~ /posternd\[(\d+)\]: \w+: connect from/g;
	my @over = grep { $per{$_} > 3 } keys %per;
	ok(!@over, 'no worker serves more than max_sessions (3) sessions')
	    or diag(join ', ', map { "$_: $per{$_}" } sort keys %per);
	my @full = grep { $per{$_} == 3 } keys %per;
	ok(keys(%per) >= 2, 'the sessions were served by more than one worker pid (recycled)');
	my $gone = wait_for(10, sub { !grep { alive($_) } @full });
	ok($gone, 'every worker that served 3 sessions has exited') or diag("still alive: @full");
	my $c = $srv->connect;
	like($c->greeting, qr/^220 /, 'a session after the recycling gets 220');
	like($c->send_message, qr/^250 /, 'and delivers');
	$c->quit;
	pool_ready($srv, 1);      # (no worker half started: see "SIGTERM right after a pool top-up")
	is($srv->stop, 0, 'posternd exits 0');
}

# The same with a single worker and no spare: the order is exact.
{
	my $srv = Postern::Test->start(config => { server => { workers => 1, min_spare => 0, max_spare => 1, max_sessions => 3 } });
	my @served;
	for my $i (1 .. 5) {
		my $c = $srv->connect;
		my $port = $c->sock->sockport;
		like($c->greeting // '', qr/^220 /, "single worker: session $i greeted");
		$c->quit;
		my $pid = $srv->wait_log(qr/posternd\[(\d+)\]: \w+: connect from \[127\.0\.0\.1\]:$port /, 5);
		push @served, $pid // '?';
	}
	my ($probe) = $srv->log_text =~ /posternd\[(\d+)\]: \w+: connect from/;   # the readiness probe
	my @seq = ($probe // '?', @served);
	ok($seq[0] eq $seq[1] && $seq[1] eq $seq[2] && $seq[3] ne $seq[2] && $seq[3] eq $seq[4] && $seq[4] eq $seq[5],
	    'sessions 1-3 on one worker, 4-6 on its successor') or diag("serving pids: @seq");
	ok(wait_for(10, sub { !alive($seq[0]) }), "the first worker ($seq[0]) exited after its 3 sessions");
	ok($srv->wait_log(qr/pool: worker $seq[0] exited/, 5), 'the master logs a normal exit, not a crash');
	unlike($srv->log_text, qr/died of signal|exited with status/, 'no worker crashed');
	pool_ready($srv, 1);
	is($srv->stop, 0, 'posternd exits 0');
}

# ---------------------------------------------------------------- graceful stop
{
	my $srv = Postern::Test->start(config => { server => { workers => 2, min_spare => 1, max_spare => 4 } });
	pool_ready($srv, 2);
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	like($c->cmd('MAIL FROM:<alice@example.org>'), qr/^250 /, 'MAIL before the stop');
	like($c->cmd('RCPT TO:<bob@example.org>'), qr/^250 /, 'RCPT before the stop');
	like($c->cmd('DATA'), qr/^354 /, 'DATA before the stop');
	$c->send("Subject: graceful\r\nMessage-Id: <graceful\@test>\r\n\r\nfirst half\r\n");
	ok(pool_ready($srv, 2), 'no worker is still starting');
	ok(kill('TERM', $srv->pid), 'SIGTERM to the master during DATA');
	ok($srv->wait_log(qr/stopping: no new connections/, 10), 'the master logs that it is stopping');
	# The busy worker must stay; the idle ones go.
	my $busy_only = wait_for(10, sub { my @p = grep { alive($_) } $srv->worker_pids; @p == 1 });
	ok($busy_only, 'idle workers exit, the busy one stays')
	    or diag('workers: ' . join(' ', map { "$_ " . cmdline($_) } $srv->worker_pids));
	# A new connection now: refused, or never greeted and closed.
	my $late = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port,
	    Proto => 'tcp', Timeout => 5);
	$c->send("second half\r\n.\r\n");
	like($c->reply(20) // '', qr/^250 /, 'the message in progress is accepted after SIGTERM');
	like($c->cmd('QUIT') // '', qr/^221 /, 'QUIT still gets 221');
	$c->close;
	if ($late) {
		# Nobody may greet it; it must be closed (at the latest when the
		# last worker is gone).
		my $cl = bless { sock => $late, buf => '', timeout => 15 }, 'Postern::Test::Client';
		my $greet = $cl->line(15);
		ok(!defined $greet || $greet !~ /^220/, 'a connection made after SIGTERM is never greeted')
		    or diag("got: $greet");
		$greet = $cl->line(5) if defined $greet && $greet !~ /^220/;
		ok(!defined $greet, 'and it is closed');
		close $late;
	} else {
		pass('a connection made after SIGTERM is refused');
		pass('(refused: nothing to close)');
	}
	my $st = $srv->stop(timeout => 20);
	is($st, 0, 'the master exits 0 after the session ends');
	my @m = grep { read_file($_) =~ /^Message-Id: <graceful\@test>$/m } $srv->messages;
	is(scalar @m, 1, 'the message is in the Maildir');
	like(read_file($m[0] // '/dev/null'), qr/^first half\nsecond half\n\z/m, 'with both halves of its text');
	my $refused = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port, Proto => 'tcp', Timeout => 3);
	ok(!$refused, 'after the exit the port is closed');
}

# ---------------------------------------------------------------- grace period
{
	my $srv = Postern::Test->start(config => { server => { shutdown_grace => 1 } });
	my $c = $srv->connect;
	like($c->cmd('EHLO client.test'), qr/^250[ -]/, 'an idle session after EHLO');
	my $t0 = time;
	kill 'TERM', $srv->pid;
	my $r = $c->reply(15);
	my $dt = time - $t0;
	like($r // '', qr/^421 4\.3\.2 /, 'the idle session gets 421 4.3.2 after the grace period') or diag("got: " . ($r // 'EOF'));
	ok($dt >= 0.8 && $dt <= 8, sprintf('... after about the grace period (%.1f s)', $dt));
	ok($c->closed(5), 'and the connection is closed');
	my $end = time + 10;
	my $w;
	while (($w = waitpid($srv->pid, WNOHANG)) == 0 && time < $end) { sleep 0.02; }
	is($w, $srv->pid, 'the master exits within the bounded wait');
	is($?, 0, 'with status 0');
	$srv->{status} = $?;
	like($srv->log_text, qr/grace period over/, 'the log says the grace period is over');
	unlike($srv->log_text, qr/killing workers that did not stop/, 'no worker had to be killed');
	unlike($srv->log_text, qr/ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer/, 'no sanitizer report in the server log');
}

# ---------------------------------------------------------------- pidfile
{
	my $srv = Postern::Test->start;
	my $pidfile = $srv->dir . '/posternd.pid';
	ok(wait_for(5, sub { -s $pidfile }), 'the pidfile exists');
	my $content = -e $pidfile ? read_file($pidfile) : '';
	like($content, qr/^\Q${\ $srv->pid }\E\n?\z/, 'the pidfile holds the master pid');

	# A second instance: same pidfile, different port.
	my $conf2 = $srv->dir . '/second.conf';
	my $text = read_file($srv->conffile);
	my $port2 = Postern::Test::free_port();
	$text =~ s/^listen = .*$/listen = 127.0.0.1:$port2/m or die 'no listen line';
	write_file($conf2, $text);
	my ($st, $out) = run_bounded(10, $BIN, '-f', '-c', $conf2);
	is(defined $st ? $st >> 8 : 'still running', 1, 'a second instance with the same pidfile exits 1');
	my $mpid = $srv->pid;
	like($out, qr/already running as pid $mpid\b/, 'and says "already running as pid MASTER"') or diag($out);
	is(read_file($pidfile), $content, 'the pidfile is untouched by the second instance');
	my $c = $srv->connect;
	like($c->send_message, qr/^250 /, 'the first instance still serves');
	$c->quit;
	pool_ready($srv, 1);      # (no worker half started: see "SIGTERM right after a pool top-up")
	is($srv->stop, 0, 'posternd exits 0');
	ok(!-e $pidfile, 'the pidfile is removed at exit');
}

# ---------------------------------------------------------------- master death
{
	my $srv = Postern::Test->start(config => { server => { workers => 3, min_spare => 1, max_spare => 4 } });
	my @w = @{ wait_for(10, sub { my @p = $srv->worker_pids; @p >= 3 ? \@p : undef }) // [] };
	ok(@w >= 3, 'workers are running');
	kill 'KILL', $srv->pid;
	waitpid($srv->pid, 0);
	$srv->{status} = $?;
	my $gone = wait_for(10, sub { !grep { alive($_) } @w });
	ok($gone, 'the idle workers exit when the master is killed')
	    or do { diag("still alive: " . join(' ', map { "$_ " . cmdline($_) } grep { alive($_) } @w)); kill 'KILL', grep { alive($_) } @w; };
	ok($srv->wait_log(qr/the master process is gone/, 5), 'they log why');
	my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port, Proto => 'tcp', Timeout => 3);
	ok(!$c, 'nothing listens on the port any more');
	my @bad = $srv->log_text =~ /^(.*(?:ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer).*)$/mg;
	ok(!@bad, 'no sanitizer report in the server log') or diag(join "\n", @bad);
}

# ---------------------------------------------------------------- SIGHUP reload
{
	my $srv = Postern::Test->start(config => { server => { workers => 2, min_spare => 1, max_spare => 4 } });
	my $conf = read_file($srv->conffile);
	my $old = $srv->connect;
	like($old->cmd('EHLO before.test'), qr/^250[ -]/, 'a session opened before the reload');

	# Before: three recipients are fine.
	my $c = $srv->connect;
	$c->cmd('EHLO client.test');
	$c->cmd('MAIL FROM:<a@example.org>');
	my @r = map { scalar $c->cmd("RCPT TO:<r$_\@example.org>") } 1 .. 3;
	like($r[2], qr/^250 /, 'before the reload a third RCPT is accepted');
	$c->quit;
	ok(pool_ready($srv, 2), 'no worker is still starting before the reload');

	my $new = $conf;
	$new =~ s/^\[limits\]\n/[limits]\nmax_recipients = 2\n/m
	    or $new =~ s/^\[hooks\]/[limits]\nmax_recipients = 2\n\n[hooks]/m;
	write_file($srv->conffile, $new);
	my ($old_pid) = $srv->log_text =~ /posternd\[(\d+)\]: \w+: ehlo before\.test/;
	my @old_idle = grep { $_ != ($old_pid // 0) } $srv->worker_pids;
	kill 'HUP', $srv->pid;
	ok($srv->wait_log(qr/configuration reloaded/, 10), 'SIGHUP: "configuration reloaded" is logged');
	# The old idle workers go.  (Wait for that: a connection racing with their
	# SIGTERM is the subject of "SIGTERM to an idle worker" below.)
	ok(wait_for(10, sub { !grep { alive($_) } @old_idle }), 'the idle workers of the old configuration exit')
	    or diag('still alive: ' . join(' ', grep { alive($_) } @old_idle));
	ok(defined $old_pid && alive($old_pid), 'the worker with a session in progress stays');

	$c = $srv->connect;
	like($c->greeting, qr/^220 /, 'a new session after the reload');
	$c->cmd('EHLO client.test');
	$c->cmd('MAIL FROM:<a@example.org>');
	@r = map { scalar $c->cmd("RCPT TO:<r$_\@example.org>") } 1 .. 3;
	like($r[1], qr/^250 /, 'second RCPT accepted');
	like($r[2], qr/^452 /, 'third RCPT: 452 (the new max_recipients = 2)') or diag($srv->log_text . Postern::Test::slurp($srv->conffile));
	$c->quit;

	# The session from before the reload was not cut and still delivers.
	my $rr = $old->send_message(no_ehlo => 1, data => "Subject: old session\r\n\r\nstill here\r\n");
	like($rr // '', qr/^250 /, 'the session opened before the reload delivers after it');
	like($old->quit // '', qr/^221 /, 'and quits normally');
	ok(scalar(grep { read_file($_) =~ /^Subject: old session$/m } $srv->messages) == 1, 'its message is stored');

	# A broken config: the old one stays.
	(my $broken = $new) =~ s/^\[server\]\n/[server]\nwokers = 3\n/m;
	write_file($srv->conffile, $broken);
	kill 'HUP', $srv->pid;
	ok($srv->wait_log(qr/reload failed.*wokers/, 10), 'a broken config: "reload failed" names the bad key');
	$c = $srv->connect;
	like($c->greeting, qr/^220 /, 'the server still greets after a failed reload');
	like($c->send_message // '', qr/^250 /, 'and accepts mail');
	$c->cmd('MAIL FROM:<a@example.org>');
	@r = map { scalar $c->cmd("RCPT TO:<r$_\@example.org>") } 1 .. 3;
	like($r[2], qr/^452 /, 'with the last good configuration (max_recipients = 2)');
	$c->quit;
	my $alive = alive($srv->pid);
	ok($alive, 'the master is still running');
	pool_ready($srv, 1);      # (no worker half started: see "SIGTERM right after a pool top-up")
	is($srv->stop, 0, 'posternd exits 0');
}

# ---------------------------------------------------------------- SIGHUP: listen addresses
# A reload binds an address it adds, keeps (does not bind again) one that
# stays, and when an address cannot be bound keeps the running sockets.
{
	use IO::Socket::INET;
	my $srv = Postern::Test->start;
	my ($a, $b) = ($srv->port, Postern::Test::free_port());
	my $conf = read_file($srv->conffile);
	my $greets = sub {
		my ($port) = @_;
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
		    Timeout => 5) or return 0;
		$s->timeout(5);
		my $l = <$s> // '';
		close $s;
		return $l =~ /^220 /;
	};
	(my $two = $conf) =~ s/^listen = 127\.0\.0\.1:$a$/listen = 127.0.0.1:$a 127.0.0.1:$b/m
	    or die "no listen line in\n$conf";
	write_file($srv->conffile, $two);
	my $mark = $srv->log_mark;
	kill 'HUP', $srv->pid;
	ok($srv->wait_log_since($mark, qr/configuration reloaded: 1 endpoints, 2 listening sockets/),
	    'a reload that adds an address: 2 listening sockets') or diag($srv->log_since($mark));
	ok($greets->($b), 'the added address greets');
	ok($greets->($a), 'the address that stayed still greets');

	# An address another program holds: the reload fails, both stay.
	my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1,
	    Proto => 'tcp') or die "listen: $!";
	write_file($srv->conffile, $two =~ s/^(listen = .*)$/$1 127.0.0.1:${\ $busy->sockport}/mr);
	$mark = $srv->log_mark;
	kill 'HUP', $srv->pid;
	ok($srv->wait_log_since($mark,
	    qr/reload failed, keeping the running configuration: cannot listen on 127\.0\.0\.1:\d+: .*in use/),
	    'an address in use: "reload failed, keeping the running configuration"')
	    or diag($srv->log_since($mark));
	ok($greets->($a) && $greets->($b), 'both running addresses still greet');

	# More addresses than the master holds (64): refused before any is
	# bound (so no port another test holds meanwhile can decide it); the
	# same.
	my $many = $two . join('', map { "\n[extra$_]\nlisten = " .
	    join(' ', map { '127.0.0.1:' . Postern::Test::free_port() } 1 .. 8) . "\n" } 1 .. 8);
	write_file($srv->conffile, $many);
	$mark = $srv->log_mark;
	kill 'HUP', $srv->pid;
	ok($srv->wait_log_since($mark, qr/reload failed, keeping the running configuration: too many listen addresses \(at most 64\)/),
	    'too many addresses: the reload fails') or diag($srv->log_since($mark));
	ok($greets->($a) && $greets->($b), 'both running addresses still greet');

	# The added address dropped again: nobody listens there once the old
	# workers are gone.
	write_file($srv->conffile, $conf);
	$mark = $srv->log_mark;
	kill 'HUP', $srv->pid;
	ok($srv->wait_log_since($mark, qr/configuration reloaded: 1 endpoints, 1 listening sockets/),
	    'a reload that drops an address: 1 listening socket') or diag($srv->log_since($mark));
	ok(wait_for(10, sub { !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $b, Proto => 'tcp', Timeout => 2) }),
	    'the dropped address refuses connections');
	ok($greets->($a), 'the address that stayed still greets');
	is($srv->stop, 0, 'posternd exits 0');
}

# ---------------------------------------------------------------- SIGTERM right after a pool top-up
# A worker that is being started when SIGTERM comes must still stop (and
# never greet a client after "no new connections").  The master starts a
# worker as soon as the only one gets busy; SIGTERM follows at once.  A few
# rounds, since the window is short.
{
	my $grace = 3;
	my ($rounds, @greeted, @slow) = (0);
	for my $round (1 .. 6) {
		my $srv = Postern::Test->start(config => { server => { workers => 1, min_spare => 1, max_spare => 4, shutdown_grace => $grace } });
		pool_ready($srv, 1);
		my $c = $srv->connect;          # the only worker is busy: the master starts another
		kill 'TERM', $srv->pid;
		my $t0 = time;
		$srv->wait_log(qr/stopping: no new connections/, 10);
		my ($busy) = grep { cmdline($_) =~ /posternd: worker 127\.0\.0\.1/ } $srv->worker_pids;
		$c->cmd('QUIT');
		$c->close;
		wait_for(10, sub { !defined $busy || !alive($busy) });
		my $late = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port, Proto => 'tcp', Timeout => 3);
		if ($late) {
			my $cl = bless { sock => $late, buf => '', timeout => 3 }, 'Postern::Test::Client';
			my $greet = $cl->line(3);
			close $late;
			push @greeted, "round $round: $greet" . join('', grep { /worker|stopping|connect from/ } split /^/, $srv->log_text)
			    if defined $greet && $greet =~ /^220/;
		}
		my $w;
		while (($w = waitpid($srv->pid, WNOHANG)) == 0 && time < $t0 + $grace + 15) { sleep 0.02; }
		my $dt = time - $t0;
		$srv->{status} = $w == $srv->pid ? $? : do { kill 'KILL', $srv->pid; waitpid($srv->pid, 0); -1 };
		$rounds++;
		if ($srv->{status} != 0 || $dt > $grace - 0.5) {
			push @slow, sprintf("round %d: exit status %d after %.1f s\n%s", $round, $srv->{status}, $dt,
			    join '', grep { /worker|grace|stopping/ } split /^/, $srv->log_text);
		}
		last if @greeted || @slow;
	}
	ok(!@greeted, "SIGTERM while the pool grows: no connection made after \"stopping\" is greeted ($rounds rounds)")
	    or diag(join "\n", @greeted);
	ok(!@slow, "the master exits 0 at once when its last session ends, not after the ${grace} s grace period")
	    or diag(join "\n", @slow);
}

# ---------------------------------------------------------------- SIGHUP storm
# Reloads in quick succession: once it is over, every worker runs the last
# configuration (was started after the last "configuration reloaded").
{
	my $srv = Postern::Test->start(config => { server => { workers => 2, min_spare => 1, max_spare => 4 } });
	kill 'HUP', $srv->pid for 1 .. 300;     # as fast as possible: reloads follow spawns
	my $prev = -1;
	my $stable_since = time;
	my $quiet = wait_for(15, sub {
		my $n = () = $srv->log_text =~ /configuration reloaded/g;
		if ($n != $prev) { $prev = $n; $stable_since = time; }
		return $n > 0 && time - $stable_since > 1;
	});
	ok($quiet, "the reloads are over ($prev logged)");
	my $stale = sub {
		my @lines = split /\n/, $srv->log_text;
		my ($last) = grep { $lines[$_] =~ /configuration reloaded/ } reverse 0 .. $#lines;
		my %started;
		for (0 .. $#lines) { $started{$1} = $_ if $lines[$_] =~ /started worker (\d+)/ }
		return [ grep { alive($_) && (!defined $started{$_} || $started{$_} < ($last // 0)) } $srv->worker_pids ];
	};
	my $ok = wait_for(5, sub { !@{ $stale->() } });
	ok($ok, 'no worker of an older configuration is left running')
	    or diag('stale workers (started before the last reload, still idle): ' . join(' ', map { "$_ " . cmdline($_) } @{ $stale->() }));
	my $c = $srv->connect;
	like($c->send_message // '', qr/^250 /, 'the server still delivers');
	$c->quit;
	pool_ready($srv, 1);      # (no worker half started: see "SIGTERM right after a pool top-up")
	is($srv->stop, 0, 'posternd exits 0');
}

# ---------------------------------------------------------------- SIGTERM to an idle worker
# The master retires workers with SIGTERM (stop, reload, max_spare).  A
# worker that has been sent SIGTERM must not take a connection made after
# that, even one that arrives before it has run its handler: epoll_pwait()
# returns a ready listening socket in preference to a pending signal, so the
# worker has to look for a stop request before it accepts.  (Here the worker
# has just finished a session; the next connection is made right after kill()
# has returned.)
{
	my $srv = Postern::Test->start(config => { server => { workers => 1, min_spare => 0, max_spare => 1 } });
	my ($tries, @late) = (0);
	for my $i (1 .. 100) {
		my $w = wait_for(10, sub { my @p = grep { alive($_) && cmdline($_) =~ /worker idle/ } $srv->worker_pids; @p == 1 ? $p[0] : undef });
		last unless $w;
		my $c = $srv->connect;
		$c->send("QUIT\r\n");
		$c->reply;
		kill 'TERM', $w;                # the session is over; the worker is told to stop
		my $d = eval { $srv->connect(undef, timeout => 10) };
		last unless $d;
		my $port = $d->sock->sockport;
		$d->quit;
		$c->close;
		$tries++;
		my $log = $srv->log_text;
		push @late, "$w served port $port" if $log =~ /posternd\[$w\]: \w+: connect from \[127\.0\.0\.1\]:$port /;
		last if @late >= 3;
	}
	ok($tries >= 3, "SIGTERM right after a session: $tries rounds");
	ok(!@late, 'a worker never accepts a connection after it was sent SIGTERM')
	    or diag(scalar(@late) . " times in $tries rounds: @late");
	pool_ready($srv, 1);      # (no worker half started: see "SIGTERM right after a pool top-up")
	is($srv->stop, 0, 'posternd exits 0');
}

done_testing;
