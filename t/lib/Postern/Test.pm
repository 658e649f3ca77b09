# SPDX-License-Identifier: ISC
# Postern::Test - start posternd for a test and talk SMTP to it.
#
#   my $srv = Postern::Test->start(config => { limits => { max_errors => 3 } });
#   my $s = $srv->connect;             # raw SMTP client (Postern::Test::Client)
#   $s->cmd("EHLO x") ... $s->quit;
#   $srv->messages                     # files in the Maildir's new/
#   $srv->stop;                        # SIGTERM, reap, check the log for sanitizer reports
#
# Every server listens on a free loopback port, runs from its own temporary
# directory, and is stopped (by PID) when the object goes away.  When the
# test runs as root, workers run as "nobody" and the directory is theirs.
#
# Helpers the tests share (by name on request, or as Postern::Test::NAME):
#
#   use Postern::Test qw(run_bounded wait_for alive esc);
#   my ($status, $out) = run_bounded(10, $prog, @args);   # bounded, output captured
#   wait_for(5, sub { ... })          # poll until true (bounded)
#   listening($port), alive($pid), children($ppid), cmdline($pid), status_field($pid, 'VmRSS'),
#   sleepers($arg), read_file($path), write_file($path, $bytes), esc($text),
#   wait_until(sub { ... }, 5), exit_code($status)
#
# and on a server: $srv->worker_of($client), $srv->zombies, $srv->log_mark,
# $srv->log_since($offset), $srv->wait_log_since($offset, qr/.../).
package Postern::Test;

use strict;
use warnings;
use Carp;
use Fcntl qw(O_RDONLY O_CREAT :flock);
use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Socket;
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(run_bounded wait_for wait_until alive children cmdline status_field listening
    sleepers slurp read_file write_file esc exit_code reap_all);

# Set by a test that is a child subreaper (t/install.t): run_bounded,
# wait_for and alive then reap every child as they go (reap_all), keeping
# the statuses in %REAPED by pid.
our $REAP_ALL = 0;
our %REAPED;

our $BUILDDIR = $ENV{POSTERN_BUILDDIR} || abs_path(dirname(__FILE__) . '/../../..');
our $SRCDIR = $ENV{POSTERN_SRCDIR} || $BUILDDIR;

sub builddir { $BUILDDIR }
sub srcdir { $SRCDIR }
sub is_root { $> == 0 }

# Ports the tests draw from: 10000 up to the kernel's ephemeral range
# (net.ipv4.ip_local_port_range), which no outgoing connection takes a
# source port from; () when that leaves fewer than 1000.
sub _test_ports {
	my $low = 32768;
	if (open my $f, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
		my ($l) = split ' ', scalar(<$f> // '');
		$low = $l if defined $l && $l =~ /^\d+$/;
	}
	return $low - 10000 >= 1000 ? (10000, $low - 1) : ();
}

sub _bindable {
	my ($port, $udp) = @_;
	my $t = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
	    Proto => 'tcp', Listen => 1, ReuseAddr => 1) or return 0;
	return 1 unless $udp;
	my $u = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
	    Proto => 'udp') or return 0;
	return 1;
}

# Claim PORT for this process among all the suite's tests (the Python ones
# too: t/lib/postern_test.py does the same): the file $PORT_DIR/PORT holding
# our PID, looked at and written under an exclusive flock of
# $PORT_DIR/.lock, so that two tests never both take a free port or both
# take over the claim of a test that is gone.
our $PORT_DIR = ($ENV{TMPDIR} || '/tmp') . '/postern-test-ports';
my @reserved;
my $reserver = $$;

sub _reserve {
	my ($port) = @_;
	my $path = "$PORT_DIR/$port";
	sysopen my $lock, "$PORT_DIR/.lock", O_RDONLY | O_CREAT, 0666 or return 0;
	my $end = time + 10;                    # held for microseconds: bounded all the same
	until (flock $lock, LOCK_EX | LOCK_NB) {
		return 0 if time > $end;
		sleep 0.005;
	}
	if (open my $f, '<', $path) {
		my $pid = <$f> // '';
		chomp $pid;
		return 0 if $pid =~ /^\d+$/ && (kill(0, $pid) || $!{EPERM});   # a live test's
	}
	open my $f, '>', $path or return 0;     # another user's stale claim
	print $f "$$\n";
	close $f or return 0;
	push @reserved, $path;
	return 1;                               # the flock goes with $lock
}

END { unlink @reserved if $$ == $reserver }

# A free TCP port on 127.0.0.1 (and UDP with $udp) that no other test of
# the suite holds: drawn below the kernel's ephemeral range and claimed
# for this process until it exits, so a parallel test's listener or
# outgoing connection cannot take it between this call and the bind of
# the server it is for.  Where the range does not allow that, the
# kernel's choice.
sub free_port {
	my ($udp) = @_;
	my @range = _test_ports();
	if (@range) {
		mkdir $PORT_DIR, 01777 and chmod 01777, $PORT_DIR;
		for (1 .. 500) {
			my $port = $range[0] + int(rand($range[1] - $range[0] + 1));
			return $port if _bindable($port, $udp) && _reserve($port);
		}
	}
	for (1 .. 50) {
		my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
		    Proto => $udp ? 'udp' : 'tcp', ReuseAddr => 1) or next;
		my $port = $s->sockport;
		close $s;
		return $port if _bindable($port, $udp);
	}
	die "no free port on 127.0.0.1";
}

# Does 127.0.0.1:PORT accept a TCP connection now?
sub listening {
	my ($port) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
	    Proto => 'tcp', Timeout => 2) or return 0;
	close $s;
	return 1;
}

# A temporary directory the workers (nobody when root) can use.
sub workdir {
	my $dir = tempdir('postern-test-XXXXXX', TMPDIR => 1, CLEANUP => 1);
	chmod 0755, $dir;
	if (is_root()) {
		my (undef, undef, $uid, $gid) = getpwnam('nobody');
		chown $uid, $gid, $dir if defined $uid;
	}
	return $dir;
}

# Copy a program into DIR so that nobody can run it whatever the checkout's
# permissions are; returns the new path.
sub install_program {
	my ($dir, $src, $name) = @_;
	$name //= (split m{/}, $src)[-1];
	my $dst = "$dir/$name";
	copy($src, $dst) or die "copy $src: $!";
	chmod 0755, $dst;
	return $dst;
}

# Write an executable script into DIR.
sub write_script {
	my ($dir, $name, $text) = @_;
	my $path = "$dir/$name";
	open my $f, '>', $path or die "$path: $!";
	print $f $text;
	close $f;
	chmod 0755, $path;
	return $path;
}

# A self-signed ECDSA certificate for localhost/127.0.0.1 made with certtool:
# returns (certificate path, key path).  NAME prefixes the file names.
sub make_cert {
	my ($dir, $name, %o) = @_;
	$name //= 'server';
	my ($cert, $key, $tmpl) = ("$dir/$name-cert.pem", "$dir/$name-key.pem", "$dir/$name.tmpl");
	open my $t, '>', $tmpl or die "$tmpl: $!";
	print $t "cn = " . ($o{cn} // 'localhost') . "\ndns_name = localhost\nip_address = 127.0.0.1\n",
	    "expiration_days = 365\ntls_www_server\nsigning_key\nencryption_key\n";
	close $t;
	my $type = $o{rsa} ? 'rsa' : 'ecdsa';
	system("certtool --generate-privkey --key-type=$type --outfile '$key' >/dev/null 2>&1") == 0
	    or die "certtool --generate-privkey failed (is gnutls-bin installed?)";
	system("certtool --generate-self-signed --load-privkey '$key' --template '$tmpl' --outfile '$cert' >/dev/null 2>&1") == 0
	    or die "certtool --generate-self-signed failed";
	chmod 0600, $key;       # root-only, as in production: the master reads it
	return ($cert, $key);
}

sub _ini {
	my ($conf) = @_;
	my $out = '';
	for my $sec (sort { _secorder($a) <=> _secorder($b) or $a cmp $b } keys %$conf) {
		$out .= "[$sec]\n";
		for my $k (sort keys %{ $conf->{$sec} }) {
			$out .= "$k = $conf->{$sec}{$k}\n";
		}
	}
	return $out;
}
sub _secorder { my %o = (server => 0, limits => 1, tls => 2, hooks => 3); $o{$_[0]} // 9 }

# start(config => {section => {key => value}}, endpoints => [names], args => [...],
#       tls => 1)
# Default: one endpoint "smtp" on a free port; data hook postern-maildir into
# DIR/Maildir.  Sections given in config are merged over the defaults (a
# value of undef deletes a key).  tls => 1 makes a certificate and sets [tls];
# the endpoints' tls modes come from config (e.g. smtp => {tls => 'starttls'}).
sub start {
	my ($class, %o) = @_;
	my $dir = $o{dir} // workdir();
	my $self = bless { dir => $dir, ports => {}, maildir => "$dir/Maildir",
	    failed_before => _failed() }, $class;     # on a failure, stop() shows the log's tail
	my $maildir_hook = install_program($dir, "$BUILDDIR/hooks/postern-maildir");
	my %conf = (
		server => { hostname => 'mx.test', pidfile => "$dir/posternd.pid",
			workers => 2, min_spare => 1, max_spare => 4,
			spool_directory => $dir,
			reverse_lookup => 'no',     # hermetic: no DNS unless a test asks
			(is_root() ? (user => 'nobody', group => 'nogroup') : ()) },
		hooks => { data => "$maildir_hook $dir/Maildir" },
	);
	if ($o{tls}) {
		my ($cert, $key) = make_cert($dir);
		$conf{tls} = { certificate => $cert, key => $key };
		$self->{cert} = $cert;
	}
	my @endpoints = @{ $o{endpoints} // ['smtp'] };
	for my $ep (@endpoints) {
		my $port = free_port();
		$self->{ports}{$ep} = $port;
		$conf{$ep} = { listen => "127.0.0.1:$port" };
	}
	for my $sec (keys %{ $o{config} // {} }) {
		my $v = $o{config}{$sec};
		if (!defined $v) { delete $conf{$sec}; next; }
		$conf{$sec}{$_} = $v->{$_} for keys %$v;
		delete $conf{$sec}{$_} for grep { !defined $conf{$sec}{$_} } keys %{ $conf{$sec} };
	}
	$self->{conffile} = "$dir/postern.conf";
	open my $f, '>', $self->{conffile} or die $!;
	print $f _ini(\%conf);
	close $f;
	$self->{log} = "$dir/posternd.log";
	my @cmd = ($o{wrapper} ? @{ $o{wrapper} } : (), "$BUILDDIR/posternd", '-f', '-d',
	    '-c', $self->{conffile}, @{ $o{args} // [] });
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $self->{log};
		open STDERR, '>>', $self->{log};
		exec @cmd or POSIX::_exit(127);
	}
	$self->{pid} = $pid;
	return $self if $o{no_wait};
	$self->wait_ready or do {
		diag("posternd did not start; log:\n" . $self->log_text);
		croak "posternd did not start";
	};
	return $self;
}

sub dir { $_[0]{dir} }
sub pid { $_[0]{pid} }
sub port { my ($self, $ep) = @_; $self->{ports}{ $ep // 'smtp' } }
sub maildir { $_[0]{maildir} }
sub conffile { $_[0]{conffile} }
sub cert { $_[0]{cert} }

# Wait until every endpoint accepts a connection and the greeting comes.
sub wait_ready {
	my ($self, $timeout) = @_;
	my $end = time + ($timeout // 20);
	for my $ep (keys %{ $self->{ports} }) {
		until (listening($self->{ports}{$ep})) {
			return 0 if waitpid($self->{pid}, WNOHANG) == $self->{pid} || time > $end;
			sleep 0.02;
		}
	}
	# The sockets listen before the first worker is forked: tests that
	# look at the workers need them to exist.
	while (!(my @workers = $self->worker_pids)) {
		return 0 if time > $end || waitpid($self->{pid}, WNOHANG) == $self->{pid};
		sleep 0.02;
	}
	return 1;
}

sub log_text {
	my ($self) = @_;
	open my $f, '<', $self->{log} or return '';
	local $/;
	return <$f> // '';
}

# Wait until the log matches RE (or TIMEOUT seconds); returns the match.
sub wait_log {
	my ($self, $re, $timeout) = @_;
	my $end = time + ($timeout // 10);
	while (time < $end) {
		my $t = $self->log_text;
		return $1 // 1 if $t =~ $re;
		sleep 0.05;
	}
	return undef;
}

# Files in the Maildir's new/ (full paths, sorted by name).
sub messages {
	my ($self) = @_;
	opendir my $d, "$self->{maildir}/new" or return ();
	my @f = sort map { "$self->{maildir}/new/$_" } grep { !/^\./ } readdir $d;
	return @f;
}

# A file's bytes; dies if it cannot be read.
sub slurp {
	my ($path) = @_;
	open my $f, '<:raw', $path or die "$path: $!";
	local $/;
	return scalar <$f>;
}

# Pids of the workers (children of the master).
sub worker_pids {
	my ($self) = @_;
	return children($self->{pid});
}

# The worker that holds client C's connection (a Postern::Test::Client) to
# ENDPOINT (default smtp): the process with the server side's socket inode.
sub worker_of {
	my ($self, $c, $ep) = @_;
	my ($sport, $cport) = ($self->port($ep), $c->sock->sockport);
	my $inode;
	open my $f, '<', '/proc/net/tcp' or return undef;
	while (<$f>) {
		my @x = split ' ';
		next unless @x > 9 && $x[1] =~ /:([0-9A-F]{4})$/ && hex($1) == $sport;
		next unless $x[2] =~ /:([0-9A-F]{4})$/ && hex($1) == $cport;
		$inode = $x[9];
		last;
	}
	return undef unless $inode;
	for my $pid ($self->worker_pids) {
		opendir my $d, "/proc/$pid/fd" or next;
		for my $fd (readdir $d) {
			my $l = readlink("/proc/$pid/fd/$fd") // next;
			return $pid if $l eq "socket:[$inode]";
		}
	}
	return undef;
}

# Zombie children of the server's processes (master and workers).
sub zombies {
	my ($self) = @_;
	my %parents = map { $_ => 1 } $self->worker_pids, $self->{pid};
	my @z;
	for my $stat (glob '/proc/[0-9]*/stat') {
		open my $f, '<', $stat or next;
		my $l = <$f> // next;
		my ($pid, $state, $ppid) = $l =~ /^(\d+) \(.*\) (\S) (\d+)/s or next;
		push @z, $pid if $state eq 'Z' && $parents{$ppid};
	}
	return @z;
}

# The log's length now (an offset for log_since), the log written after
# OFFSET, and a bounded wait (TIMEOUT seconds, default 10) until that
# matches RE; true if it did.
sub log_mark { return length $_[0]->log_text }
sub log_since { my ($self, $off) = @_; return substr($self->log_text, $off) }
sub wait_log_since {
	my ($self, $off, $re, $timeout) = @_;
	return wait_for($timeout // 10, sub { $self->log_since($off) =~ $re }) ? 1 : 0;
}

sub connect {
	my ($self, $ep, %o) = @_;
	return Postern::Test::Client->new($self->port($ep), %o);
}

# Stop: SIGTERM, wait for exit (bounded), SIGKILL if needed; check the log
# for sanitizer reports.  Returns the exit status.
# How many tests failed so far.
sub _failed { scalar grep { !$_ } Test::More->builder->summary }

sub stop {
	my ($self, %o) = @_;
	return $self->{status} if exists $self->{status};
	my $pid = $self->{pid};
	kill 'TERM', $pid;
	my $end = time + ($o{timeout} // 30);
	my $r;
	while (($r = waitpid($pid, WNOHANG)) == 0 && time < $end) { sleep 0.02; }
	if ($r == 0) {
		diag("posternd $pid did not stop: killing its process group");
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
	$self->{status} = $r == -1 && exists $REAPED{$pid} ? delete $REAPED{$pid} : $?;
	my $log = $self->log_text;
	if (_failed() > $self->{failed_before}) {
		my @l = split /\n/, $log;
		diag("posternd $pid log, last lines:\n" . join("\n", @l[($#l > 24 ? $#l - 24 : 0) .. $#l]));
	}
	my @bad = $log =~ /^(.*(?:ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer).*)$/mg;
	ok(!@bad, 'no sanitizer report in the server log') or diag(join "\n", @bad[0 .. ($#bad < 5 ? $#bad : 5)]);
	return $self->{status};
}

sub DESTROY {
	my ($self) = @_;
	return if exists $self->{status} || !$self->{pid};
	kill 'KILL', $self->{pid};
	waitpid($self->{pid}, 0);
}

# ---------------------------------------------------------------------------
# Helpers (exported on request)

# Reap every child that has exited (statuses into %REAPED).
sub reap_all {
	while ((my $p = waitpid(-1, WNOHANG)) > 0) { $REAPED{$p} = $?; }
}

# run_bounded(TIMEOUT, [{stdin => BYTES, env => {NAME => VALUE}},] CMD...)
# Run CMD with a deadline, stdin from BYTES (default /dev/null), ENV added
# to the environment; returns (the wait status, or undef if it had to be
# killed at the deadline; its stdout and stderr together).
sub run_bounded {
	my ($timeout, @cmd) = @_;
	my %o = ref $cmd[0] eq 'HASH' ? %{ shift @cmd } : ();
	my $dir = workdir();
	my $in = '/dev/null';
	if (defined $o{stdin}) {
		$in = "$dir/in";
		open my $f, '>:raw', $in or die "$in: $!";
		print $f $o{stdin};
		close $f;
	}
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		$ENV{$_} = $o{env}{$_} for keys %{ $o{env} // {} };
		open STDIN, '<', $in;
		open STDOUT, '>', "$dir/out";
		open STDERR, '>&', \*STDOUT;
		exec @cmd or POSIX::_exit(127);
	}
	my $end = time + $timeout;
	my $status;
	while (1) {
		my $r = waitpid($pid, WNOHANG);
		if ($r == $pid) { $status = $?; last; }
		if ($r == -1 && exists $REAPED{$pid}) { $status = delete $REAPED{$pid}; last; }
		last if time >= $end;
		reap_all() if $REAP_ALL;
		sleep 0.02;
	}
	if (!defined $status) {
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
	return ($status, read_file("$dir/out") // '');
}

# A wait status as an exit code: 128 + the signal for a killed process,
# undef for undef.
sub exit_code {
	my ($st) = @_;
	return undef unless defined $st;
	return $st & 127 ? 128 + ($st & 127) : $st >> 8;
}

# Poll CODE until it returns true or TIMEOUT seconds pass: its value, or
# undef.
sub wait_for {
	my ($timeout, $code) = @_;
	my $end = time + $timeout;
	while (1) {
		reap_all() if $REAP_ALL;
		my $v = $code->();
		return $v if $v;
		return undef if time > $end;
		sleep 0.05;
	}
}

# wait_for with the arguments the other way round, and 1 or 0.
sub wait_until {
	my ($cond, $timeout) = @_;
	return wait_for($timeout, $cond) ? 1 : 0;
}

# (state letter, parent pid) of PID from /proc/PID/stat, or ().
sub _proc_stat {
	my ($pid) = @_;
	return () unless defined $pid && $pid =~ /^\d+$/;
	open my $f, '<', "/proc/$pid/stat" or return ();
	my $stat = <$f> // return ();
	return $stat =~ /^\d+ \(.*\) (\S) (\d+)/s ? ($1, $2) : ();
}

# Is PID a live process (not gone, not a zombie)?
sub alive {
	my ($pid) = @_;
	reap_all() if $REAP_ALL;
	my ($state) = _proc_stat($pid);
	return defined $state && $state ne 'Z' && $state ne 'X';
}

# Pids of the children of PPID (sorted).
sub children {
	my ($ppid) = @_;
	my @c;
	opendir my $d, '/proc' or return ();
	for my $p (grep { /^\d+$/ } readdir $d) {
		my (undef, $parent) = _proc_stat($p);
		push @c, $p if defined $parent && $parent == $ppid;
	}
	return sort { $a <=> $b } @c;
}

# PID's command line, arguments joined by spaces ('' if it is gone).
sub cmdline {
	my ($pid) = @_;
	my $c = read_file("/proc/$pid/cmdline") // '';
	$c =~ s/\0+$//;
	$c =~ s/\0/ /g;
	return $c;
}

# A field of /proc/PID/status ("VmRSS" gives "1234 kB"), or undef.
sub status_field {
	my ($pid, $field) = @_;
	open my $f, '<', "/proc/$pid/status" or return undef;
	while (my $l = <$f>) {
		return $1 if $l =~ /^\Q$field\E:\s*(.*?)\s*$/;
	}
	return undef;
}

# Processes whose command line is "sleep ARG".
sub sleepers {
	my ($arg) = @_;
	my @p;
	opendir my $d, '/proc' or return ();
	for my $pid (grep { /^\d+$/ } readdir $d) {
		open my $f, '<', "/proc/$pid/cmdline" or next;
		my @a = split /\0/, (<$f> // '');
		push @p, $pid if @a >= 2 && $a[0] =~ m{(?:^|/)sleep$} && $a[1] eq $arg;
	}
	return @p;
}

# A file's bytes, undef if it cannot be read (never dies: /proc races).
sub read_file {
	my ($p) = @_;
	open my $f, '<:raw', $p or return undef;
	local $/;
	my $t = <$f>;
	return $t // '';
}

# Write BYTES into PATH (dies on error).
sub write_file {
	my ($path, $bytes) = @_;
	open my $f, '>:raw', $path or die "$path: $!";
	print $f $bytes;
	close $f or die "$path: $!";
	return $path;
}

# TEXT with every byte outside printable ASCII as \xNN ('undef' for undef).
sub esc {
	my ($t) = @_;
	return 'undef' unless defined $t;
	$t =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
	return $t;
}

package Postern::Test::Client;
# A raw SMTP client: send exact bytes, read whole replies.

use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

sub new {
	my ($class, $port, %o) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => $o{host} // '127.0.0.1', PeerPort => $port,
	    (defined $o{local} ? (LocalAddr => $o{local}) : ()),        # source address
	    Proto => 'tcp', Timeout => 10) or die "connect to $port: $!";
	binmode $sock;
	my $self = bless { sock => $sock, buf => '', timeout => $o{timeout} // 30 }, $class;
	$self->{greeting} = $self->reply unless $o{no_greeting};
	return $self;
}

sub sock { $_[0]{sock} }
sub greeting { $_[0]{greeting} }

sub send {
	my ($self, $data) = @_;
	my $off = 0;
	while ($off < length $data) {
		my $n = syswrite($self->{sock}, $data, length($data) - $off, $off);
		return 0 unless defined $n;
		$off += $n;
	}
	return 1;
}

# Read one line (up to LF) or undef on EOF/timeout.  When the socket has
# become a TLS socket (IO::Socket::SSL), data OpenSSL already decrypted is not
# visible to select(): look at pending() first.
sub line {
	my ($self, $timeout) = @_;
	my $end = time + ($timeout // $self->{timeout});
	while ($self->{buf} !~ /\n/) {
		my $sock = $self->{sock};
		unless ($sock->can('pending') && $sock->pending) {
			my $left = $end - time;
			return undef if $left <= 0;
			return undef unless IO::Select->new($sock)->can_read($left);
		}
		my $n = sysread($sock, my $chunk, 65536);
		return undef unless $n;
		$self->{buf} .= $chunk;
	}
	$self->{buf} =~ s/^(.*?\n)//s;
	return $1;
}

# Read a whole reply (all NNN- lines and the NNN line); returns the text with
# CRLFs, or undef at EOF.  In list context: (code, text).
sub reply {
	my ($self, $timeout) = @_;
	my $text = '';
	while (defined(my $l = $self->line($timeout))) {
		$text .= $l;
		return wantarray ? (substr($l, 0, 3), $text) : $text if $l =~ /^\d{3}(?: |\r?\n)/;
		last unless $l =~ /^\d{3}-/;
	}
	return wantarray ? (undef, $text) : (length $text ? $text : undef);
}

# Send a command, return its reply.
sub cmd {
	my ($self, $line, $timeout) = @_;
	$self->send("$line\r\n") or return undef;
	return $self->reply($timeout);
}

# Is the connection closed by the server (EOF within TIMEOUT)?
sub closed {
	my ($self, $timeout) = @_;
	my $sel = IO::Select->new($self->{sock});
	return 0 unless $sel->can_read($timeout // 10);
	my $n = sysread($self->{sock}, my $chunk, 65536);
	return 1 if !$n;
	$self->{buf} .= $chunk;
	return 0;
}

# EHLO, MAIL, RCPT..., DATA, text, "."; returns the final reply.
sub send_message {
	my ($self, %o) = @_;
	my @r;
	$self->cmd("EHLO client.test") unless $o{no_ehlo};
	my $r = $self->cmd("MAIL FROM:<" . ($o{from} // 'alice@example.org') . ">");
	return $r unless $r =~ /^250/;
	for my $to (@{ $o{to} // ['bob@example.org'] }) {
		$r = $self->cmd("RCPT TO:<$to>");
	}
	$r = $self->cmd("DATA");
	return $r unless $r =~ /^354/;
	$self->send($o{data} // "Subject: test\r\n\r\nHello\r\n");
	$self->send(".\r\n");
	return $self->reply;
}

sub quit {
	my ($self) = @_;
	my $r = $self->cmd("QUIT");
	close $self->{sock};
	return $r;
}

sub close { close $_[0]{sock} }

1;
