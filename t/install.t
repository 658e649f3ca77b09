#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# install.t - `make install` and `make uninstall` under DESTDIR (where each
# file goes, configured paths substituted, an operator's postern.conf kept),
# the installed SysV init script driving a daemonized posternd
# (status/start/status/reload/stop/status), and the systemd unit
# (systemd-analyze verify, hardening keys).
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(remove_tree);
use File::Find;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Postern::Test qw(run_bounded exit_code wait_for alive children);

$SIG{PIPE} = q(IGNORE);   # a write to a closed connection must not kill the test

my $BUILDDIR = Postern::Test::builddir();     # $POSTERN_BUILDDIR, or this checkout
my $PREFIX = '/usr/local';

# Become a child subreaper: the daemonized posternd is reparented to this
# process, so it is reaped here when it exits (otherwise, under a PID 1 that
# does not reap, it would stay a zombie and `kill -0` in the init script
# would keep seeing it).
my $SUBREAPER = 0;
{
	my $nr = eval { require 'syscall.ph'; &SYS_prctl() };
	$nr //= { x86_64 => 157, aarch64 => 167 }->{ (POSIX::uname())[4] };
	$SUBREAPER = 1 if defined $nr && syscall($nr, 36, 1, 0, 0, 0) == 0;   # PR_SET_CHILD_SUBREAPER
	diag('cannot become a child subreaper: a stopped daemon may stay a zombie') unless $SUBREAPER;
}

# Reap every child while polling (run_bounded, wait_for, alive).
$Postern::Test::REAP_ALL = 1;

# Run a command with a deadline; returns (exit code or undef when it had to
# be killed, combined stdout+stderr).
sub run_code {
	my ($timeout, $env, @cmd) = @_;
	my ($st, $out) = run_bounded($timeout, { env => $env }, @cmd);
	return (exit_code($st), $out);
}

sub files_under {
	my ($dir) = @_;
	my @f;
	find({ wanted => sub { push @f, $File::Find::name if -f $_ || -l $_ }, no_chdir => 1 }, $dir) if -d $dir;
	return sort @f;
}

sub make_in {
	my ($dest, @targets) = @_;
	return run_code(60, {}, 'make', '-s', '-C', $BUILDDIR, @targets, "DESTDIR=$dest");
}

my $tmp = tempdir('postern-install-XXXXXX', TMPDIR => 1, CLEANUP => 0);
END { remove_tree($tmp) if $tmp && -d $tmp; }
chmod 0755, $tmp;       # nobody runs the installed hook from here
# Where this build installs (ask make: the directories differ under distcheck).
my %D;
{
	my ($rc, $out) = run_code(60, {}, 'make', '-s', '--no-print-directory', '-C', $BUILDDIR, 'print-install-dirs');
	%D = $out =~ /^(\w+)=(.*)$/mg;
	for my $k (keys %D) { 1 while $D{$k} =~ s/\$\{(\w+)\}|\$\((\w+)\)/$D{$1 \/\/ $2} \/\/ ''/e; }
}
$PREFIX = $D{sbindir} =~ s{/sbin$}{}r if $D{sbindir};
my $P = "$tmp$PREFIX";
my $sbin = "$tmp$D{sbindir}/posternd";
my $libexec = "$tmp$D{pkglibexecdir}";
my $etc = "$tmp$D{sysconfdir}/postern";
my $initd = "$tmp$D{sysconfdir}/init.d/posternd";
my $unit = "$tmp$D{systemdsystemunitdir}/posternd.service";

# ---- make install ----------------------------------------------------------
{
	my ($rc, $out) = make_in($tmp, 'install');
	is($rc, 0, 'make install DESTDIR=... exits 0') or diag($out);
	ok(-f $sbin && -x _, "posternd installed in $PREFIX/sbin");
	ok(-f "$tmp$D{sbindir}/postern-ticket-key" && -x _, "postern-ticket-key installed in $PREFIX/sbin");
	ok(-f "$tmp$D{mandir}/man8/postern-ticket-key.8", "postern-ticket-key(8) installed") if $D{mandir};
	ok(-f "$libexec/postern-maildir" && -x _, "postern-maildir installed in $PREFIX/libexec/postern");
	ok(-f "$libexec/postern-passwd" && -x _, "postern-passwd installed in $PREFIX/libexec/postern");
	ok(-f "$etc/postern.conf", "postern.conf installed in $PREFIX/etc/postern");
	ok(-f "$etc/postern.conf.sample", "postern.conf.sample installed in $PREFIX/etc/postern");
	ok(-f $initd && -x _, "init script installed, executable, in $PREFIX/etc/init.d/posternd");
	my $f2b = "$tmp$D{sysconfdir}/fail2ban/filter.d/posternd.conf";
	ok(-f $f2b && Postern::Test::slurp($f2b) eq (Postern::Test::slurp(Postern::Test::srcdir() . "/etc/fail2ban/filter.d/posternd.conf") // ''),
	    "the fail2ban filter installed as $PREFIX/etc/fail2ban/filter.d/posternd.conf");
	ok(-f $unit, "posternd.service installed in $PREFIX/lib/systemd/system");
	my $conf = -f "$etc/postern.conf" ? Postern::Test::slurp("$etc/postern.conf") : '';
	like($conf, qr{^\s*data\s*=\s*\Q$D{pkglibexecdir}\E/postern-maildir\s}m,
	    'the installed postern.conf names the installed postern-maildir');
	unlike($conf, qr/\@/, "no '\@' left in the installed postern.conf (all paths substituted)");
	my @left = grep { -f $_ && Postern::Test::slurp($_) =~ /\@(?:sbindir|sysconfdir|pkglibexecdir|localstatedir|runstatedir)\@/ }
	    ($initd, $unit);
	is_deeply(\@left, [], 'no @dir@ placeholders left in the init script and the unit');
	is(Postern::Test::slurp("$etc/postern.conf"), Postern::Test::slurp("$etc/postern.conf.sample"),
	    'postern.conf is the sample on a first install') if -f "$etc/postern.conf" && -f "$etc/postern.conf.sample";
}

# ---- sh -n ------------------------------------------------------------------
{
	my ($rc, $out) = run_code(10, {}, 'sh', '-n', $initd);
	is($rc, 0, 'sh -n passes on the installed init script') or diag($out);
}

# ---- the init script against the DESTDIR install ---------------------------
my $pidfile;
END {
	# Leave nothing running: the daemon by the pid in its pidfile.
	if ($pidfile && -r $pidfile) {
		my $pid = Postern::Test::slurp($pidfile);
		($pid) = $pid =~ /(\d+)/;
		if ($pid && kill 0, $pid) {
			kill 'KILL', $pid;
			my $end = time + 5;
			while (time < $end && alive($pid)) { sleep 0.05; }
		}
	}
}
SKIP: {
	skip 'posternd or the init script was not installed', 24 unless -x $sbin && -x $initd;
	my $dir = Postern::Test::workdir();
	my $port = Postern::Test::free_port();
	$pidfile = "$dir/posternd.pid";
	my $conf = "$dir/postern.conf";
	open my $f, '>', $conf or die "$conf: $!";
	print $f <<"EOF";
[server]
hostname = mx.install.test
reverse_lookup = no
user = nobody
group = nogroup
pidfile = $pidfile
spool_directory = $dir
workers = 1
min_spare = 1
max_spare = 2
max_workers = 4
shutdown_grace = 5

[hooks]
data = $libexec/postern-maildir $dir/Maildir

[smtp]
listen = 127.0.0.1:$port
EOF
	close $f;
	my %env = (DAEMON => $sbin, CONFIG => $conf);
	my $init = sub { run_code($_[1] // 20, \%env, $initd, $_[0]) };

	my ($rc, $out) = $init->('status');
	is($rc, 3, 'status before start: exit 3') or diag($out);
	like($out, qr/not running/, 'status before start: "not running"');

	($rc, $out) = $init->('start');
	is($rc, 0, 'start: exit 0') or diag($out);
	my $up = wait_for(10, sub {
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		    Proto => 'tcp', Timeout => 2);
		$s && -s $pidfile ? 1 : 0;
	});
	ok($up, 'the daemon accepts connections and wrote its pidfile');
	my ($pid) = (-r $pidfile ? Postern::Test::slurp($pidfile) : '') =~ /^(\d+)\s*$/;
	ok($pid && alive($pid), 'the pidfile holds the pid of a live process') or diag("pidfile: " . ($pid // 'none'));
	$pid //= 0;

	($rc, $out) = $init->('status');
	is($rc, 0, 'status while running: exit 0') or diag($out);
	like($out, qr/running \(pid $pid\)/, 'status names the pid from the pidfile');

	my $c = eval { Postern::Test::Client->new($port, timeout => 15) };
	my $reply = $c ? $c->send_message(to => ['bob@example.org'], data => "Subject: init\r\n\r\nvia init.d\r\n") : undef;
	like($reply // '', qr/^250 /, 'a message through the daemon: 250') or diag($@);
	$c->quit if $c;
	my $msgs = wait_for(5, sub { opendir my $d, "$dir/Maildir/new" or return 0; scalar grep { !/^\./ } readdir $d });
	ok($msgs, 'the message is a file in the Maildir (the installed postern-maildir delivered it)');

	# A configuration that does not parse: reload refuses it (posternd -t)
	# and the daemon keeps running.
	my $good = Postern::Test::slurp($conf);
	open $f, '>>', $conf or die $!;
	print $f "[server]\nno_such_key = 1\n";
	close $f;
	($rc, $out) = $init->('reload');
	isnt($rc, 0, 'reload with a broken configuration: non-zero exit') or diag($out);
	like($out, qr/no_such_key/, 'and the error names the bad key');
	ok($pid && alive($pid), 'the daemon keeps running');
	open $f, '>', $conf or die $!;
	print $f $good;
	close $f;

	my @old = children($pid);
	ok(@old >= 1, 'the master has workers before reload') or diag("children: @old");
	($rc, $out) = $init->('reload');
	is($rc, 0, 'reload: exit 0') or diag($out);
	my %old = map { $_ => 1 } @old;
	ok(wait_for(10, sub { my @c = children($pid); @c && !grep { $old{$_} } @c }),
	    'reload replaced the idle workers (SIGHUP reached the master)')
	    or diag("before: @old; after: " . join(' ', children($pid)));
	my $after = wait_for(10, sub {
		my $s = eval { Postern::Test::Client->new($port, timeout => 5) } or return 0;
		my $g = $s->greeting // '';
		$s->quit;
		$g =~ /^220 mx\.install\.test/ ? 1 : 0;
	});
	ok($after, 'the daemon still greets after reload');
	ok($pid && alive($pid), 'reload kept the master (same pid)');
	my ($pid2) = (-r $pidfile ? Postern::Test::slurp($pidfile) : '') =~ /^(\d+)/;
	is($pid2 // 0, $pid, 'the pidfile still names the same master after reload');

	my $t0 = time;
	($rc, $out) = $init->('stop', 40);
	is($rc, 0, 'stop: exit 0') or diag($out);
	cmp_ok(time - $t0, '<', 15, 'stop returns promptly (no session open)');
	ok(wait_for(5, sub { !alive($pid) }), 'the master is gone after stop');
	ok(!-e $pidfile, 'the pidfile is removed after stop');

	($rc, $out) = $init->('status');
	is($rc, 3, 'status after stop: exit 3') or diag($out);
	like($out, qr/not running/, 'status after stop: "not running"');
}

# ---- the systemd unit --------------------------------------------------------
SKIP: {
	skip 'the unit was not installed', 9 unless -f $unit;
	my $text = Postern::Test::slurp($unit);
	like($text, qr/^ExecReload=.*\bkill\b.*-HUP\b.*\$MAINPID/m, 'unit: ExecReload sends HUP to $MAINPID');
	like($text, qr/^Restart=on-failure\s*$/m, 'unit: Restart=on-failure');
	like($text, qr/^NoNewPrivileges=yes\s*$/m, 'unit: NoNewPrivileges=yes');
	like($text, qr/^ProtectSystem=\S+/m, 'unit: ProtectSystem');
	like($text, qr/^ProtectHome=\S+/m, 'unit: ProtectHome');
	like($text, qr/^PrivateTmp=yes\s*$/m, 'unit: PrivateTmp=yes');
	like($text, qr/^CapabilityBoundingSet=.*\bCAP_NET_BIND_SERVICE\b/m,
	    'unit: CapabilityBoundingSet keeps CAP_NET_BIND_SERVICE');
	my $sa = (grep { -x "$_/systemd-analyze" } split /:/, $ENV{PATH} // '/usr/bin:/bin')[0];
	skip 'systemd-analyze is not installed', 2 unless $sa;
	my $udir = "$tmp/unit-check";
	mkdir $udir;
	(my $copy = $text) =~ s{\Q$PREFIX\E/}{$P/}g;
	open my $f, '>', "$udir/posternd.service" or die $!;
	print $f $copy;
	close $f;
	my ($rc, $out) = run_code(30, {}, "$sa/systemd-analyze", 'verify', '--man=no', "$udir/posternd.service");
	is($rc, 0, 'systemd-analyze verify --man=no: exit 0') or diag($out);
	is($out, '', 'systemd-analyze verify: no output') or diag($out);
	unlink "$udir/posternd.service";
	rmdir $udir;
}

# ---- a second install keeps an edited postern.conf; uninstall --------------
SKIP: {
	skip 'postern.conf was not installed', 7 unless -f "$etc/postern.conf";
	my $edit = "\n; edited by the operator (install.t)\n";
	open my $f, '>>', "$etc/postern.conf" or die "$etc/postern.conf: $!";
	print $f $edit;
	close $f;
	my $edited = Postern::Test::slurp("$etc/postern.conf");
	my ($rc, $out) = make_in($tmp, 'install');
	is($rc, 0, 'a second make install exits 0') or diag($out);
	is(Postern::Test::slurp("$etc/postern.conf"), $edited, 'the second install keeps the edited postern.conf');
	like($out, qr/keeping the existing \S*postern\.conf/, 'and says so');

	($rc, $out) = make_in($tmp, 'uninstall');
	is($rc, 0, 'make uninstall exits 0') or diag($out);
	is_deeply([files_under($tmp)], ["$etc/postern.conf"], 'uninstall removes everything but the edited postern.conf');
	like($out, qr/keeping the edited \S*postern\.conf/, 'and says it keeps it');
	is(-f "$etc/postern.conf" ? Postern::Test::slurp("$etc/postern.conf") : '', $edited, 'the edited file is intact');
}

# ---- install + uninstall with an unedited config leaves no files -----------
{
	remove_tree($tmp);
	mkdir $tmp or die "$tmp: $!";
	my ($rc, $out) = make_in($tmp, 'install');
	is($rc, 0, 'a fresh make install exits 0') or diag($out);
	($rc, $out) = make_in($tmp, 'uninstall');
	is($rc, 0, 'make uninstall exits 0') or diag($out);
	my @f = files_under($tmp);
	is_deeply(\@f, [], 'uninstall with an unedited postern.conf leaves no files at all') or diag(join "\n", @f);
}

remove_tree($tmp);
ok(!-e $tmp, 'the DESTDIR tree is cleaned up');

done_testing();
