# SPDX-License-Identifier: ISC
# Postern::Dnsmasq - a private DNS server for a test: dnsmasq on a free
# loopback port (UDP and TCP), with its own records and nothing else.
#
#   my $dns = Postern::Dnsmasq->start(dir => $dir, records => [
#       '--host-record=mx.example.test,127.0.0.1',          # A + PTR
#       '--ptr-record=2.0.0.127.in-addr.arpa,liar.example.test',
#   ], local => ['example.test', '127.in-addr.arpa']);
#   "resolver = 127.0.0.1:" . $dns->port
#   $dns->queries                # the names asked so far (from its query log)
#   $dns->stop;                  # SIGTERM by PID (also when the object goes away)
#
# No file of the system is read (--no-resolv --no-hosts --conf-file=/dev/null),
# nothing is forwarded: a name under a "local" domain that has no record is
# NXDOMAIN.  Postern::Dnsmasq::missing() is the reason to skip when dnsmasq is
# not installed.
package Postern::Dnsmasq;

use strict;
use warnings;
use IO::Socket::INET;
use Postern::Test ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

our $DNSMASQ = '/usr/sbin/dnsmasq';

sub missing {
	return -x $DNSMASQ ? undef : 'dnsmasq missing: apt-get install dnsmasq-base';
}

# A port free for both UDP and TCP on 127.0.0.1, claimed for this test.
sub _free_port { Postern::Test::free_port(1) }

sub start {
	my ($class, %o) = @_;
	my $dir = $o{dir} or die "Postern::Dnsmasq->start: dir is required";
	my $port = _free_port();
	my $self = bless { dir => $dir, port => $port, log => "$dir/dnsmasq-$port.log" }, $class;
	my @cmd = ($DNSMASQ, '--keep-in-foreground', '--no-resolv', '--no-hosts',
	    '--conf-file=/dev/null', '--listen-address=127.0.0.1', '--bind-interfaces',
	    "--port=$port", "--pid-file=$dir/dnsmasq-$port.pid", '--log-queries',
	    "--log-facility=$self->{log}", '--cache-size=0',
	    (map { "--local=/$_/" } @{ $o{local} // [] }), @{ $o{records} // [] });
	# dnsmasq, started as root, writes its log as the user it becomes
	if ($> == 0) {
		open my $f, '>', $self->{log} or die "$self->{log}: $!";
		close $f;
		my (undef, undef, $uid, $gid) = getpwnam('nobody');
		chown $uid, $gid, $self->{log} if defined $uid;
	}
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', "$dir/dnsmasq-$port.out";
		open STDERR, '>&', \*STDOUT;
		exec @cmd or POSIX::_exit(127);
	}
	$self->{pid} = $pid;
	my $t0 = time;
	while (time - $t0 < 10) {
		last if waitpid($pid, WNOHANG) != 0;
		return $self if Postern::Test::listening($port);
		sleep 0.05;
	}
	my $out = '';
	if (open my $f, '<', "$dir/dnsmasq-$port.out") { local $/; $out = <$f> // '' }
	$self->stop;
	die "dnsmasq did not start on 127.0.0.1:$port: $out";
}

sub port { $_[0]{port} }
sub pid { $_[0]{pid} }

# The names dnsmasq was asked, in order ("query[PTR] 1.0.0.127.in-addr.arpa").
sub queries {
	my ($self) = @_;
	open my $f, '<', $self->{log} or return ();
	my @q;
	while (<$f>) {
		push @q, "$1 $2" if /query\[(\w+)\] (\S+) from/;
	}
	return @q;
}

sub stop {
	my ($self) = @_;
	my $pid = delete $self->{pid} or return;
	kill 'TERM', $pid;
	my $t0 = time;
	while (time - $t0 < 5) {
		return if waitpid($pid, WNOHANG) != 0;
		sleep 0.05;
	}
	kill 'KILL', $pid;
	waitpid($pid, 0);
}

sub DESTROY { local $?; $_[0]->stop }

1;
