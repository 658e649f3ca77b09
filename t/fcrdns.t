#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# fcrdns.t - the client's names (worker/dns.c) against a real DNS server:
# dnsmasq on a loopback port with its own records.  The client connects
# from 127.0.0.1 to 127.0.0.8, one outcome each: a name that resolves back
# (OK), a PTR name whose A is another address (FORGED), no PTR (NXDOMAIN,
# FAIL), two PTR names of which one resolves back, a PTR "name" that is an
# IP address (FAIL), 30 long PTR names (over TCP), a PTR name whose A query
# is never answered (TEMP), a PTR reached through a CNAME (RFC 2317); and
# an IPv6 client (::1).  Each is checked where a user sees it: an exec
# hook's environment, a persistent hook's policy request, the Received
# header and the connect log line.  Then a DNS server that never answers
# (the greeting still comes within dns_timeout), reverse_lookup = no (no
# query at all), posternd -t on bad values, the example hook
# known-client.sh (Postfix's reject_unknown_client_hostname), and postgrey
# whose --whitelist-clients rule on the client name now matches.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Socket::IP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Postern::Test qw(run_bounded wait_for wait_until alive read_file write_file esc);
use Postern::Dnsmasq;

if (my $why = Postern::Dnsmasq::missing()) {
	plan skip_all => $why;
}

# A server that dies mid-session must fail a test, not kill this script
# before it stops its dnsmasq and helpers.
$SIG{PIPE} = 'IGNORE';

my $BUILD = Postern::Test::builddir();
my $ROOT = Postern::Test::is_root();

# A DNS server that never answers: reads and drops every query.
my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp')
    or die "udp: $!";
my $silent_port = $silent->sockport;
my $silent_pid = fork // die;
if ($silent_pid == 0) {
	my $buf;
	$silent->recv($buf, 4096) while 1;
	POSIX::_exit(0);
}
close $silent;
END { local $?; if ($silent_pid) { kill 'KILL', $silent_pid; waitpid($silent_pid, 0) } }

my $d = Postern::Test::workdir();
my $dns = Postern::Dnsmasq->start(dir => $d, records => [
	# the A of names under slow.fcrdns.test is asked of the silent server
	"--server=/slow.fcrdns.test/127.0.0.1#$silent_port",
	'--ptr-record=7.0.0.127.in-addr.arpa,h.slow.fcrdns.test',
	# RFC 2317 classless delegation: the PTR is reached through a CNAME
	'--cname=8.0.0.127.in-addr.arpa,8.0-25.0.0.127.in-addr.arpa',
	'--ptr-record=8.0-25.0.0.127.in-addr.arpa,classless.fcrdns.test',
	'--host-record=classless.fcrdns.test,127.0.0.8',
	# two PTR names, neither resolves back: reverse_client_name is the first
	'--ptr-record=9.0.0.127.in-addr.arpa,alpha.fcrdns.test',
	'--ptr-record=9.0.0.127.in-addr.arpa,beta.fcrdns.test',
	'--host-record=good.fcrdns.test,127.0.0.1',                     # A and PTR
	'--ptr-record=2.0.0.127.in-addr.arpa,liar.fcrdns.test',
	'--host-record=liar.fcrdns.test,127.0.0.99',                    # ... whose A is another
	'--ptr-record=4.0.0.127.in-addr.arpa,four.fcrdns.test',         # two PTR names
	'--ptr-record=4.0.0.127.in-addr.arpa,other.fcrdns.test',
	'--host-record=other.fcrdns.test,127.0.0.98',
	'--host-record=four.fcrdns.test,127.0.0.4',
	'--ptr-record=5.0.0.127.in-addr.arpa,192.0.2.1',                # not a host name
	'--host-record=six.fcrdns.test,::1',                            # AAAA and ip6.arpa PTR
	# 30 long PTR names: more than 512 octets (c-ares retries over TCP),
	# and more than the 4 names checked
	(map { sprintf('--ptr-record=6.0.0.127.in-addr.arpa,n%02d.%s.fcrdns.test', $_, 'x' x 60) } 1 .. 30),
	'--host-record=n01.' . ('x' x 60) . '.fcrdns.test,127.0.0.97',
], local => ['fcrdns.test', '127.in-addr.arpa', 'ip6.arpa']);
pass('dnsmasq listens on 127.0.0.1:' . $dns->port);

# The hooks: an exec connect hook writes its environment, a persistent
# rcpt hook (Postfix policy protocol) writes each request, per client.
my $env_hook = Postern::Test::write_script($d, 'env-hook', <<"EOS");
#!/bin/sh
env | grep -E '^POSTERN_(CLIENT_NAME|REVERSE_CLIENT_NAME|CLIENT_RESOLVE)=' | sort > "$d/env.\$POSTERN_CLIENT_ADDR"
exit 0
EOS
my $policy = Postern::Test::write_script($d, 'policy', <<"EOS");
#!/usr/bin/perl
use strict;
\$| = 1;
my \%a;
while (my \$l = <STDIN>) {
	chomp \$l;
	if (\$l ne '') { my (\$k, \$v) = split /=/, \$l, 2; \$a{\$k} = \$v; next }
	open my \$f, '>', "$d/req.\$a{client_address}.tmp" or die;
	print \$f "\$_=\$a{\$_}\\n" for grep { /client_name|client_resolve/ } sort keys \%a;
	close \$f;
	rename "$d/req.\$a{client_address}.tmp", "$d/req.\$a{client_address}";
	print "action=DUNNO\\n\\n";
	\%a = ();
}
EOS

my $HAVE6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Proto => 'tcp', Listen => 1) ? 1 : 0;
my $port6 = Postern::Test::free_port();
my $S = Postern::Test->start(dir => $d, config => {
	server => { reverse_lookup => 'yes', resolver => '127.0.0.1:' . $dns->port, dns_timeout => 3 },
	hooks => { connect => $env_hook, rcpt => $policy, persistent => 'rcpt' },
	($HAVE6 ? (smtp6 => { listen => "[::1]:$port6" }) : ()),
});

my %want = (
	'127.0.0.1' => ['good.fcrdns.test', 'good.fcrdns.test', 'OK', 'matching FCrDNS'],
	'127.0.0.2' => ['unknown', 'liar.fcrdns.test', 'FORGED', 'PTR name whose A is another address'],
	'127.0.0.3' => ['unknown', 'unknown', 'FAIL', 'NXDOMAIN'],
	'127.0.0.4' => ['four.fcrdns.test', 'four.fcrdns.test', 'OK', 'two PTR names, one resolves back'],
	'127.0.0.5' => ['unknown', 'unknown', 'FAIL', 'a PTR that is an IP address'],
	'127.0.0.6' => ['unknown', qr/n\d\d\.x{60}\.fcrdns\.test/, 'FORGED', '30 long PTR names (TCP)'],
	'127.0.0.7' => ['unknown', 'h.slow.fcrdns.test', 'TEMP', 'forward lookup never answered'],
	'127.0.0.8' => ['classless.fcrdns.test', 'classless.fcrdns.test', 'OK', 'PTR through a CNAME (RFC 2317)'],
);
for my $ip (sort keys %want) {
	my ($name, $rev, $resolve, $what) = @{ $want{$ip} };
	my $mark = $S->log_mark;
	my $t0 = time;
	my $c = Postern::Test::Client->new($S->port, local => $ip);
	like($c->greeting // '', qr/^220 /, "$what: greeting");
	cmp_ok(time - $t0, '<', 3 + 1.5, "$what: ... within dns_timeout (3 s) + 1.5 s");
	like($c->send_message(data => "Subject: fcrdns $ip\r\n\r\nbody\r\n") // '', qr/^250 /,
	    "$what: message accepted");
	$c->quit;
	my $r = ref $rev ? $rev : qr/\Q$rev\E/;       # a name, or a pattern when the order is the server's
	my $n = quotemeta $name;
	like(read_file("$d/env.$ip") // '',
	    qr/\APOSTERN_CLIENT_NAME=$n\nPOSTERN_CLIENT_RESOLVE=$resolve\nPOSTERN_REVERSE_CLIENT_NAME=$r\n\z/,
	    "$what: exec hook environment");
	like(read_file("$d/req.$ip") // '', qr/\Aclient_name=$n\npostern_client_name=$n\n(?#
	    )postern_client_resolve=$resolve\npostern_reverse_client_name=$r\nreverse_client_name=$r\n\z/,
	    "$what: persistent hook's policy request");
	my ($msg) = grep { (read_file($_) // '') =~ /^Subject: fcrdns \Q$ip\E$/m } $S->messages;
	like(read_file($msg // '/dev/null') // '', qr/\AReceived: from client\.test \(\Q$name\E \[\Q$ip\E\]\)\n/,
	    "$what: Received header says ($name [$ip])");
	ok($S->wait_log_since($mark, qr/: connect from \Q$name\E\[\Q$ip\E\]:\d+ to smtp(?: \(.+\))?$/m),
	    "$what: log says connect from $name\[$ip\]") or diag(esc($S->log_since($mark)));
}
SKIP: {
	skip 'no IPv6 on loopback', 5 unless $HAVE6;
	# an IPv6 client: the ip6.arpa PTR, then AAAA
	my $mark = $S->log_mark;
	my $c = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port6, Proto => 'tcp', Timeout => 10)
	    or die "connect [::1]:$port6: $!";
	my @r;
	my $line = sub { my $l = <$c> // ''; $l =~ s/\r?\n\z//; push @r, $l; $l };
	my $cmd = sub { print $c "$_[0]\r\n"; my $l; do { $l = $line->() } while ($l =~ /^\d{3}-/); $l };
	like($line->(), qr/^220 /, 'IPv6 client: greeting');
	$cmd->('EHLO client.test');
	$cmd->('MAIL FROM:<a@example.org>');
	$cmd->('RCPT TO:<bob@example.org>');
	$cmd->('DATA');
	like($cmd->("Subject: fcrdns ::1\r\n\r\nbody\r\n."), qr/^250 /, 'IPv6 client: message accepted');
	$cmd->('QUIT');
	close $c;
	is(read_file("$d/env.::1") // '', "POSTERN_CLIENT_NAME=six.fcrdns.test\nPOSTERN_CLIENT_RESOLVE=OK\n" .
	    "POSTERN_REVERSE_CLIENT_NAME=six.fcrdns.test\n", 'IPv6 client: exec hook environment');
	my ($msg) = grep { (read_file($_) // '') =~ /^Subject: fcrdns ::1$/m } $S->messages;
	like(read_file($msg // '/dev/null') // '', qr/\AReceived: from client\.test \(six\.fcrdns\.test \[IPv6:::1\]\)\n/,
	    'IPv6 client: Received header says (six.fcrdns.test [IPv6:::1])');
	ok($S->wait_log_since($mark, qr/: connect from six\.fcrdns\.test\[::1\]:\d+ to smtp6$/m),
	    'IPv6 client: log says connect from six.fcrdns.test[::1]') or diag(esc($S->log_since($mark)));
}
SKIP: {
	# which name comes first is the server's choice: ask it
	skip 'Net::DNS missing: apt-get install libnet-dns-perl', 1 unless eval { require Net::DNS; 1 };
	my $res = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $dns->port, recurse => 0,
	    udp_timeout => 5, retry => 2);
	my $a = $res->send('9.0.0.127.in-addr.arpa', 'PTR');
	my @ptr = $a ? map { $_->ptrdname } grep { $_->type eq 'PTR' } $a->answer : ();
	s/\.\z// for @ptr;
	my $c = Postern::Test::Client->new($S->port, local => '127.0.0.9');
	$c->quit;
	is((read_file("$d/env.127.0.0.9") // '') =~ /^POSTERN_REVERSE_CLIENT_NAME=(.*)$/m ? $1 : '', $ptr[0] // '(no answer)',
	    "two PTR names, neither resolves back: reverse_client_name is the first of the answer (@ptr)");
}
my $log = $S->log_text;
like($log, qr/connect from unknown\[127\.0\.0\.2\]:\d+ to smtp \(hostname liar\.fcrdns\.test does not resolve to the address\)/,
    'FORGED: the log says why');
like($log, qr/connect from unknown\[127\.0\.0\.5\]:\d+ to smtp \(PTR name '192\.0\.2\.1' is not a valid host name\)/,
    'a bad PTR name: the log says why');
my @q = $dns->queries;
ok((grep { $_ eq 'A liar.fcrdns.test' } @q) && !(grep { /^AAAA .*\.fcrdns\.test$/ && $_ ne 'AAAA six.fcrdns.test' } @q),
    'an IPv4 client: only A records were asked for') or diag(join(', ', @q));
is($S->stop, 0, 'server exits 0');

# ---------------------------------------------------------------- hooks/examples/known-client.sh

{
	my $d5 = Postern::Test::workdir();
	my $hook = Postern::Test::install_program($d5, Postern::Test::srcdir() . '/hooks/examples/known-client.sh');
	my $K = Postern::Test->start(dir => $d5, config => {
		server => { reverse_lookup => 'yes', resolver => '127.0.0.1:' . $dns->port, dns_timeout => 3 },
		hooks => { rcpt => $hook },
	});
	for my $case (['127.0.0.1', qr/^250 /, 'a verified name: 250'],
	    ['127.0.0.2', qr/^550 5\.7\.25 Client host rejected: cannot find your hostname, \[127\.0\.0\.2\]/, 'FORGED: 550 5.7.25'],
	    ['127.0.0.3', qr/^550 5\.7\.25 /, 'no PTR: 550 5.7.25'],
	    ['127.0.0.7', qr/^450 4\.7\.25 Client host rejected: cannot find your hostname, \[127\.0\.0\.7\]/, 'DNS timeout: 450 4.7.25']) {
		my ($ip, $want, $what) = @$case;
		my $c = Postern::Test::Client->new($K->port, local => $ip);
		$c->cmd('EHLO client.test');
		$c->cmd('MAIL FROM:<a@example.org>');
		like($c->cmd('RCPT TO:<bob@example.org>') // 'EOF', $want, "known-client.sh: $what");
		$c->quit;
	}
	is($K->stop, 0, 'server exits 0');
}

# ---------------------------------------------------------------- a DNS server that never answers

{
	my $port = $silent_port;
	my $d2 = Postern::Test::workdir();
	my $env2 = Postern::Test::write_script($d2, 'env-hook', read_file($env_hook) =~ s/\Q$d\E/$d2/r);
	my $T = Postern::Test->start(dir => $d2, config => {
		server => { reverse_lookup => 'yes', resolver => "127.0.0.1:$port", dns_timeout => 2 },
		hooks => { connect => $env2 },
	});
	my $t0 = time;
	my $c = $T->connect;
	my $took = time - $t0;
	like($c->greeting // '', qr/^220 /, 'silent DNS server: the session gets its greeting');
	cmp_ok($took, '<', 2 + 1.5, sprintf('... within dns_timeout (2 s) + 1.5 s (%.2f s)', $took));
	cmp_ok($took, '>', 0.5, '... after waiting for the DNS (it was asked)');
	$c->quit;
	is(read_file("$d2/env.127.0.0.1") // '', "POSTERN_CLIENT_NAME=unknown\nPOSTERN_CLIENT_RESOLVE=TEMP\n" .
	    "POSTERN_REVERSE_CLIENT_NAME=unknown\n", 'silent DNS server: names unknown, status TEMP');
	like($T->log_text, qr/connect from unknown\[127\.0\.0\.1\]:\d+ to smtp \(PTR lookup: .+\)$/m,
	    'silent DNS server: the log says the PTR lookup failed');
	is($T->stop, 0, 'server exits 0');
}

# ---------------------------------------------------------------- reverse_lookup = no

{
	my $d3 = Postern::Test::workdir();
	my $env3 = Postern::Test::write_script($d3, 'env-hook', read_file($env_hook) =~ s/\Q$d\E/$d3/r);
	my $before = () = $dns->queries;
	my $N = Postern::Test->start(dir => $d3, config => {
		server => { reverse_lookup => 'no', resolver => '127.0.0.1:' . $dns->port },
		hooks => { connect => $env3 },
	});
	my $c = $N->connect;
	$c->send_message(data => "Subject: off\r\n\r\nbody\r\n");
	$c->quit;
	is(read_file("$d3/env.127.0.0.1") // '', "POSTERN_CLIENT_NAME=unknown\nPOSTERN_REVERSE_CLIENT_NAME=unknown\n",
	    'reverse_lookup = no: names unknown, no status');
	my ($m) = $N->messages;
	like(read_file($m // '/dev/null') // '', qr/\AReceived: from client\.test \(\[127\.0\.0\.1\]\)\n/,
	    'reverse_lookup = no: Received header has no name');
	like($N->log_text, qr/connect from \[127\.0\.0\.1\]:\d+ to smtp$/m, 'reverse_lookup = no: log line has no name');
	is(scalar(() = $dns->queries), $before, 'reverse_lookup = no: no DNS query');
	is($N->stop, 0, 'server exits 0');
}

# ---------------------------------------------------------------- posternd -t

for my $case (['resolver = localhost', 'resolver', 'not a numeric'],
    ['resolver = 127.0.0.1:0', 'resolver', 'port'], ['resolver = [::1', 'resolver', 'IPv6'],
    ['dns_timeout = 0', 'dns_timeout', 'out of range'], ['reverse_lookup = maybe', 'reverse_lookup', 'yes or no']) {
	my ($line, $key, $why) = @$case;
	my $f = "$d/bad.conf";
	write_file($f, "[server]\nhostname = mx.test\n$line\n[hooks]\ndata = /bin/true\n[smtp]\nlisten = 127.0.0.1:2525\n");
	my ($st, $out) = run_bounded(10, "$BUILD/posternd", '-t', '-c', $f);
	ok(defined $st && $st >> 8 == 1 && $out =~ /\Q$f\E: \[server\] \Q$key\E: .*\Q$why\E/,
	    "posternd -t refuses '$line' naming file, [server] $key and why") or diag($out);
}
write_file("$d/good.conf", "[server]\nhostname = mx.test\n" . ($ROOT ? "user = nobody\n" : '') . "resolver = [::1]:5353\ndns_timeout = 3\n" .
    "reverse_lookup = yes\n[hooks]\ndata = /bin/true\n[smtp]\nlisten = 127.0.0.1:2525\n");
my ($st, $out) = run_bounded(10, "$BUILD/posternd", '-t', '-c', "$d/good.conf");
is($st, 0, 'posternd -t accepts resolver = [::1]:5353') or diag($out);

# ---------------------------------------------------------------- postgrey

SKIP: {
	my $pg = '/usr/sbin/postgrey';
	skip 'postgrey missing: apt-get install postgrey', 3 unless -x $pg;
	skip 'postgrey drops to nobody: needs root', 3 unless $ROOT;
	my $d4 = Postern::Test::workdir();
	mkdir "$d4/pgdb";
	my (undef, undef, $uid, $gid) = getpwnam('nobody');
	chown $uid, $gid, "$d4/pgdb";
	write_file("$d4/wl-clients", "good.fcrdns.test\n");
	write_file("$d4/wl-rcpts", "\n");
	my $port = Postern::Test::free_port();
	my $pgpid = fork // die;
	if ($pgpid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', "$d4/postgrey.log";
		open STDERR, '>&', \*STDOUT;
		exec $pg, "--inet=127.0.0.1:$port", '--delay=60', "--dbdir=$d4/pgdb", "--pidfile=$d4/pg.pid",
		    '--user=nobody', '--group=nogroup', "--whitelist-clients=$d4/wl-clients",
		    "--whitelist-recipients=$d4/wl-rcpts" or POSIX::_exit(127);
	}
	my $up = wait_until(sub {
		IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 1)
		    || waitpid($pgpid, WNOHANG) != 0 }, 20);
	if (!$up || !alive($pgpid)) {
		diag(read_file("$d4/postgrey.log") // '');
		kill 'KILL', $pgpid;
		waitpid($pgpid, 0);
		fail('postgrey started');
		last SKIP;
	}
	my $G = Postern::Test->start(dir => $d4, config => {
		server => { reverse_lookup => 'yes', resolver => '127.0.0.1:' . $dns->port },
		hooks => { rcpt => "inet:127.0.0.1:$port", rcpt_timeout => 5 },
	});
	my %r;
	for my $ip ('127.0.0.1', '127.0.0.2') {
		my $c = Postern::Test::Client->new($G->port, local => $ip);
		$c->cmd('EHLO client.test');
		$c->cmd("MAIL FROM:<sender-$$\@example.org>");
		$r{$ip} = $c->cmd('RCPT TO:<bob@example.org>') // 'EOF';
		$c->quit;
	}
	like($r{'127.0.0.1'}, qr/^250 /, 'postgrey: client_name good.fcrdns.test is whitelisted (250 at once)');
	like($r{'127.0.0.2'}, qr/^450 .*Greylisted/i, 'postgrey: a client whose name is not verified (liar) is greylisted');
	is($G->stop, 0, 'server exits 0');
	kill 'TERM', $pgpid;
	wait_until(sub { waitpid($pgpid, WNOHANG) != 0 }, 5) or do { kill 'KILL', $pgpid; waitpid($pgpid, 0) };
}

$dns->stop;
done_testing();
