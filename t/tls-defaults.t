#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# tls-defaults.t - what the default TLS priority lets a client negotiate
# (security audit, finding 3).  Nothing here is measured by time: each case
# is a real gnutls-cli handshake (STARTTLS on port "smtp", implicit TLS on
# "smtps") that must complete or be refused.
#
# Refused: a client that offers only an FFDHE group above 2048 bits (one
# replayed ClientHello would cost a worker ~250 ms of CPU), only the
# static-RSA key exchange, or only a CBC-SHA1 suite.  Accepted: X25519,
# P-256, P-384, ffdhe2048.  The server picks the cipher in its own order.
# The certificate is RSA, so that static RSA would be possible if allowed.
use strict;
use warnings;
use Test::More;
use Postern::Test qw(run_bounded);

my $CLI = `command -v gnutls-cli 2>/dev/null`;
chomp $CLI;
plan skip_all => 'gnutls-cli missing: apt-get install gnutls-bin' unless $CLI;

my $dir = Postern::Test::workdir();
my ($cert, $key) = Postern::Test::make_cert($dir, 'rsa', rsa => 1);
my $srv = Postern::Test->start(dir => $dir, endpoints => ['smtp', 'smtps'], config => {
	tls => { certificate => $cert, key => $key },
	smtp => { tls => 'starttls' }, smtps => { tls => 'implicit' } });

# A handshake with PRIORITY: (completed?, the session description line).
sub handshake {
	my ($ep, $priority) = @_;
	my @args = ('--insecure', '--priority', $priority, '--port', $srv->port($ep));
	push @args, '--starttls-proto=smtp' if $ep eq 'smtp';
	my ($status, $out) = run_bounded(20, $CLI, @args, '127.0.0.1');
	my ($desc) = $out =~ /^- Description: (\S+)/m;
	return ((defined $desc && $out !~ /Handshake has failed/) ? 1 : 0, $desc // '', $out);
}

my $BASE = 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2';
for my $ep (qw(smtp smtps)) {
	for my $g (qw(X25519 SECP256R1 SECP384R1 FFDHE2048)) {
		my ($ok, $desc) = handshake($ep, "$BASE:-GROUP-ALL:+GROUP-$g");
		ok($ok, "$ep: a client offering only $g is served ($desc)");
	}
	for my $g (qw(FFDHE3072 FFDHE4096 FFDHE8192)) {
		for my $v (qw(1.3 1.2)) {
			my $kx = $v eq '1.2' ? ':-KX-ALL:+DHE-RSA' : '';
			my ($ok, $desc) = handshake($ep, "NORMAL:-VERS-ALL:+VERS-TLS$v:-GROUP-ALL:+GROUP-$g$kx");
			# TLS 1.2 DHE-RSA may fall back to ffdhe2048 at most: never more.
			ok(!$ok || $desc =~ /FFDHE2048/, "$ep: TLS $v offering only $g: refused or at most ffdhe2048 ($desc)");
		}
	}
	my ($ok, $desc) = handshake($ep, 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA');
	ok(!$ok, "$ep: static-RSA key exchange refused ($desc)");
	($ok, $desc) = handshake($ep, 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC:-MAC-ALL:+SHA1');
	ok(!$ok, "$ep: CBC-SHA1 suites refused ($desc)");
	($ok, $desc) = handshake($ep, 'NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0');
	ok(!$ok, "$ep: TLS 1.0 and 1.1 refused ($desc)");
	# The client prefers AES-128-GCM; the server's order puts AES-256-GCM first.
	for my $v (qw(1.3 1.2)) {
		($ok, $desc) = handshake($ep, "NORMAL:-VERS-ALL:+VERS-TLS$v:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM");
		like($desc, qr/AES-256-GCM/, "$ep: TLS $v: the server's cipher order wins ($desc)");
	}
}
is($srv->stop, 0, 'server stops');
done_testing;
