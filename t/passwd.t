#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# passwd.t - postern-passwd does not tell which users exist (security audit,
# finding 6): an unknown or locked user costs the same crypt() as a real
# one, with a dummy hash of the file's own most common kind and cost, and
# gets the same exit status (1, so 535) as a wrong password.
#
# Which hash an unknown user was checked against is seen without timing it:
# yescrypt at cost j9T needs a 16 MiB scratch area and at jBT 64 MiB,
# SHA-512 crypt next to nothing, so the peak memory of the run (GNU time's
# %M) tells the hash kind and cost apart by a wide margin.  The authzid
# refusal prints the client's text escaped.
use strict;
use warnings;
use Test::More;
use Postern::Test qw(run_bounded);

for my $prog (qw(mkpasswd /usr/bin/time)) {
	plan skip_all => "$prog missing: apt-get install " . ($prog eq 'mkpasswd' ? 'whois' : 'time')
	    unless system("command -v $prog >/dev/null 2>&1") == 0;
}
my $BIN = Postern::Test::builddir() . '/hooks/postern-passwd';
my $dir = Postern::Test::workdir();

sub mkpasswd {
	my ($method, $pw, @opt) = @_;
	open my $p, '-|', 'mkpasswd', '-m', $method, @opt, $pw or die "mkpasswd: $!";
	my $h = <$p>;
	close $p;
	chomp $h;
	return $h;
}

# Run postern-passwd on FILE with STDIN: (exit code, peak RSS in KiB, stderr).
sub check {
	my ($file, $stdin) = @_;
	my ($st, $out) = run_bounded(60, { stdin => $stdin }, '/usr/bin/time', '-f', 'maxrss=%M', $BIN, $file);
	my ($rss) = $out =~ /maxrss=(\d+)/;
	return (Postern::Test::exit_code($st), $rss // 0, $out);
}

sub write_passwd {
	my ($name, @lines) = @_;
	my $path = "$dir/$name";
	Postern::Test::write_file($path, join('', map { "$_\n" } @lines));
	return $path;
}

my $sha = write_passwd('sha', '# SHA-512 users', 'alice:' . mkpasswd('sha-512', 'pw-a'),
    'bob:' . mkpasswd('sha-512', 'pw-b'), 'locked:!' . mkpasswd('sha-512', 'pw-l'), 'empty:',
    'star:*');
my $yes = write_passwd('yes', 'carol:' . mkpasswd('yescrypt', 'pw-c', '-R', '7'),
    'dave:' . mkpasswd('yescrypt', 'pw-d', '-R', '7'), 'erin:' . mkpasswd('sha-512', 'pw-e'));

my ($rc, $rss_known, $rss_unknown, $rss_locked, $rss_ref, $out);
($rc, $rss_known) = check($sha, "alice\npw-a\n");
is($rc, 0, 'sha-512 file: the right password: 0');
($rc, $rss_ref) = check($yes, "carol\npw-c\n");
is($rc, 0, 'yescrypt file: the right password: 0');
ok($rss_ref > $rss_known + 32 * 1024, "yescrypt -R 7 ($rss_ref KiB) needs far more memory than sha-512 ($rss_known KiB): the measure works");

($rc, $rss_unknown) = check($sha, "nobody\nwhatever\n");
is($rc, 1, 'sha-512 file: an unknown user: 1');
ok($rss_unknown < $rss_known + 8 * 1024,
    "sha-512 file: an unknown user is checked against a sha-512 dummy ($rss_unknown KiB, a real user $rss_known KiB)");
($rc, my $rss_wrong) = check($yes, "carol\nwrong\n");
is($rc, 1, 'yescrypt file: a wrong password: 1');
($rc, $rss_unknown) = check($yes, "nobody\nwhatever\n");
is($rc, 1, 'yescrypt file: an unknown user: 1');
ok(abs($rss_unknown - $rss_wrong) < 8 * 1024,
    "yescrypt file: an unknown user costs the file's yescrypt at its cost ($rss_unknown KiB, a real user $rss_wrong KiB)");

for my $u (qw(locked empty star)) {
	($rc, $rss_locked) = check($sha, "$u\npw-l\n");
	is($rc, 1, "a locked entry ($u): 1 (535), not 75");
	ok($rss_locked < $rss_known + 8 * 1024 && $rss_locked > 0, "a locked entry ($u): the same kind of work ($rss_locked KiB)");
}

($rc, undef, $out) = check($sha, "alice\npw-a\nroot\e[31m x\n");
is($rc, 1, 'an authzid other than the user: 1');
like($out, qr/may not act as root\\x1b\[31m x$/m, 'the authzid is printed escaped')
    or diag($out);
for my $bad (['b' x 300, 'of 300 octets'], ["bo\0b", 'with a NUL'], ["bob\r", 'ending in CR']) {
	($rc, undef, $out) = check($sha, "alice\npw-a\n$bad->[0]\n");
	is($rc, 1, "an authzid $bad->[1]: 1");
	# The message names the rule and not the octets, and is one line:
	# the buffer holds what was read so far (before, it was left
	# unterminated and the message read past its end).
	(my $msg = $out) =~ s/^(?:maxrss=\d+|Command exited with non-zero status \d+)\n?//mg;    # /usr/bin/time
	like($msg, qr/\Apostern-passwd: the authorization identity \(third line\) is longer than 255 octets or holds a NUL or CR: refused\n\z/,
	    "an authzid $bad->[1]: the message says what is wrong, nothing more") or diag($out);
}
done_testing;
