#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# hardening.t - what the build and the process setup promise (security
# audit, finding 9): the programs are position-independent, fully RELRO
# (BIND_NOW), built with the stack protector and _FORTIFY_SOURCE (their
# checked libc calls are linked); workers and the hooks they run have
# no_new_privs set (a setuid program run by a hook gains nothing).
#
# A build configured with --disable-hardening, or with the user's own flags
# turning these off (-fno-stack-protector, -U_FORTIFY_SOURCE, -no-pie),
# is what the user asked for: then the build checks are skipped, saying so.
use strict;
use warnings;
use Test::More;
use Postern::Test qw(run_bounded read_file wait_for status_field);

my $B = Postern::Test::builddir();
my $READELF = `command -v readelf 2>/dev/null`;
chomp $READELF;

SKIP: {
	skip 'readelf missing: apt-get install binutils', 13 unless $READELF;
	my $mk = read_file("$B/Makefile") // '';
	my $user = join ' ', map { $mk =~ /^$_ = (.*)$/m ? $1 : '' } qw(CFLAGS CPPFLAGS LDFLAGS);
	my $how = read_file("$B/config.status") // '';
	skip "built with --disable-hardening or the user's own flags ($user)", 13
	    if $how =~ /--disable-hardening/ || $user =~ /-fno-stack-protector|-U_FORTIFY_SOURCE|-no-pie|-O0|norelro|lazy/;
	for my $prog (qw(posternd hooks/postern-passwd hooks/postern-maildir)) {
		my $path = "$B/$prog";
		my ($st, $hdr) = run_bounded(20, $READELF, '-h', '-d', '-l', '--dyn-syms', '-W', $path);
		ok($hdr =~ /Type:\s+DYN/, "$prog: position-independent (PIE)");
		ok($hdr =~ /\bGNU_RELRO\b/, "$prog: has a RELRO segment");
		ok($hdr =~ /\(FLAGS\)\s+BIND_NOW|\(FLAGS_1\)\s+Flags:.*\bNOW\b/, "$prog: BIND_NOW (full RELRO)");
		SKIP: {
			# configure leaves _FORTIFY_SOURCE out of sanitizer builds
			skip "$prog: sanitizer build, built without _FORTIFY_SOURCE", 1
			    if $how =~ /--enable-sanitizers/;
			ok($hdr =~ /\b__\w+_chk\b/, "$prog: _FORTIFY_SOURCE checked calls linked");
		}
	}
	my ($st, $syms) = run_bounded(20, $READELF, '--dyn-syms', '-W', "$B/posternd");
	# -fstack-protector-strong puts a canary in functions with arrays.
	ok($syms =~ /\b__stack_chk_fail\b/, 'posternd: stack protector in use');
}

# no_new_privs: in every worker, and so in the hooks they start.
my $dir = Postern::Test::workdir();
my $hook = Postern::Test::write_script($dir, 'nnp', <<"EOF");
#!/bin/sh
grep '^NoNewPrivs:' /proc/self/status > $dir/hook-nnp.tmp
mv $dir/hook-nnp.tmp $dir/hook-nnp
exit 0
EOF
my $srv = Postern::Test->start(dir => $dir, config => { hooks => { helo => $hook } });
my @w = $srv->worker_pids;
ok(@w >= 1, 'workers run');
# A worker just forked sets it before it serves anyone: wait for that.
my $nnp = sub { join(',', map { status_field($_, 'NoNewPrivs') // 'gone' } $srv->worker_pids) };
ok(Postern::Test::wait_for(10, sub { $nnp->() =~ /^(?:(?:1|gone),)*(?:1|gone)$/ && $nnp->() =~ /\b1\b/ }),
    'every worker has NoNewPrivs: 1') or diag($nnp->());
is(status_field($srv->pid, 'NoNewPrivs'), 0, 'the master does not (it stays able to reload as root)');
my $c = $srv->connect;
like($c->cmd('HELO client.test') // '', qr/^250 /, 'a hook runs');
$c->quit;
ok(wait_for(5, sub { -e "$dir/hook-nnp" }), 'the hook reported');
like(read_file("$dir/hook-nnp") // '', qr/^NoNewPrivs:\s*1$/m, 'the hook has NoNewPrivs: 1');
is($srv->stop, 0, 'server stops');
done_testing;
