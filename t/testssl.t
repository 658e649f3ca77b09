#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# testssl.t - the real testssl.sh (Debian package testssl.sh) against the
# default TLS settings, over STARTTLS ("--starttls smtp") and implicit TLS,
# offline: no update check, no DNS (--nodns none, 127.0.0.1), warnings off,
# only the checks that matter here (protocols, cipher categories, forward
# secrecy, the vulnerabilities that apply), both runs at once, bounded.
#
# Its JSON findings must hold nothing of severity MEDIUM or above, with one
# exception: testssl 3.0 reports "Secure Client-Initiated Renegotiation:
# VULNERABLE, potential DoS threat" (MEDIUM), over implicit TLS and (seen
# here with testssl 3.0.8 and OpenSSL 3) over STARTTLS too.  It is a known
# false positive: its probe sends s_client's "R" and counts a connection
# that stays open as a renegotiation that worked.  s_client negotiates
# TLS 1.3, where there is no renegotiation ("wrong ssl version" in
# s_client), so nothing is sent and the connection of course stays open;
# forced to TLS 1.2, the same "R" makes Postern close the connection (netio
# treats GNUTLS_E_REHANDSHAKE as an error).  That one finding is let
# through; any other MEDIUM or worse fails the test.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use POSIX ();
use Postern::Test qw(read_file);

my $TESTSSL = (grep { -x } map { "$_/testssl" } split /:/, $ENV{PATH} . ':/usr/bin')[0];
plan skip_all => 'testssl missing: apt-get install testssl.sh' unless $TESTSSL;
plan skip_all => 'POSTERN_SKIP_TESTSSL is set (.ci/run: testssl runs in the first pass only)'
	if $ENV{POSTERN_SKIP_TESTSSL};
my $OPENSSL = `command -v openssl 2>/dev/null`;
chomp $OPENSSL;
plan skip_all => 'openssl missing: apt-get install openssl' unless $OPENSSL;

my $dir = Postern::Test::workdir();
my ($cert, $key) = Postern::Test::make_cert($dir, 'rsa', rsa => 1);
my $srv = Postern::Test->start(dir => $dir, endpoints => ['smtp', 'smtps'], config => {
	server => { workers => 4, max_spare => 8 },
	limits => { max_connections_per_client => 0 },
	tls => { certificate => $cert, key => $key },
	smtp => { tls => 'starttls' }, smtps => { tls => 'implicit' } });

# The renegotiation finding (see above).
sub known_false_positive {
	my ($ep, $f) = @_;
	return $f->{id} eq 'secure_client_renego';
}

# Both runs at once (each is one client at a time), bounded together.
my $LIMIT = 170;
my %run;
my $t0 = time;
for my $ep (qw(smtp smtps)) {
	my $json = "$dir/testssl-$ep.json";
	my @starttls = $ep eq 'smtp' ? ('--starttls', 'smtp') : ();
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>', "$dir/testssl-$ep.out";
		open STDERR, '>&', \*STDOUT;
		setpgrp(0, 0);          # so that a run past the limit is stopped whole
		{ exec $TESTSSL, '--warnings', 'off', '--quiet', '--color', '0', '--nodns', 'none',
		    '--openssl', $OPENSSL, '--connect-timeout', '10', '--openssl-timeout', '10',
		    # What matters here and runs in ~85 s on a loaded 2-core machine:
		    # protocols, forward secrecy (which lists the suites and groups),
		    # renegotiation, and the single-connection vulnerability probes.
		    # Cipher-by-cipher checks (--std, --each-cipher) take minutes and
		    # are covered by t/tls-defaults.t with gnutls-cli.
		    '--protocols', '--fs', '--renegotiation', '--heartbleed', '--ccs-injection',
		    '--ticketbleed', '--tls-fallback',
		    '--jsonfile', $json, @starttls, '127.0.0.1:' . $srv->port($ep) };
		POSIX::_exit(127);
	}
	$run{$ep} = { pid => $pid, json => $json };
}
for my $ep (keys %run) {
	my $r = $run{$ep};
	while (waitpid($r->{pid}, POSIX::WNOHANG()) == 0) {
		if (time - $t0 > $LIMIT) {
			kill 'KILL', -$r->{pid};
			waitpid($r->{pid}, 0);
			$r->{timeout} = 1;
			last;
		}
		select(undef, undef, undef, 0.2);
	}
	$r->{took} = time - $t0;
}

for my $ep (qw(smtp smtps)) {
	my $r = $run{$ep};
	# testssl is a bash program that starts hundreds of openssl processes:
	# ~1 minute per run on an idle 2-core machine, several times that when
	# the machine is saturated (8 test suites at once).  A run cut short
	# proves nothing either way: it is reported as skipped, not passed.
	if ($r->{timeout}) {
		SKIP: { skip "$ep: testssl did not finish within $LIMIT s (machine loaded?): nothing checked", 7 }
		next;
	}
	pass("$ep: testssl finished within $LIMIT s (" . sprintf('%.0f', $r->{took}) . ' s)');
	my $findings = eval { decode_json(read_file($r->{json}) // '') } // [];
	ok(@$findings > 10, "$ep: testssl reported its findings (" . scalar(@$findings) . ')');
	my @bad = grep { ($_->{severity} // '') =~ /^(MEDIUM|HIGH|CRITICAL)$/ && !known_false_positive($ep, $_) } @$findings;
	is(scalar(@bad), 0, "$ep: no finding of severity MEDIUM or above")
	    or diag(join "\n", map { "$_->{severity} $_->{id}: $_->{finding}" } @bad);
	my %by = map { $_->{id} => $_ } @$findings;
	like($by{TLS1_3}{finding} // '', qr/^offered/, "$ep: TLS 1.3 offered");
	like($by{TLS1}{finding} // '', qr/^not offered/, "$ep: TLS 1.0 not offered");
	like($by{PFS}{finding} // '', qr/offered/i, "$ep: forward secrecy offered");
	my @errors = grep { $_->{id} eq 'scanProblem' } @$findings;
	is(scalar(@errors), 0, "$ep: testssl met no scan problem")
	    or diag(join "\n", map { "$_->{id}: $_->{finding}" } @errors);
}
is($srv->stop, 0, 'server stops');
done_testing;
