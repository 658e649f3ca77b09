#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# t/maildir.t - tests for hooks/postern-maildir, the Maildir data hook.
#
# The binary is $POSTERN_BUILDDIR/hooks/postern-maildir; POSTERN_BUILDDIR
# defaults to the directory above t/.  Some cases need root (tmpfs mount)
# or a way to drop privileges (setpriv/runuser) and are skipped otherwise.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Spec;
use File::Temp qw(tempdir);
use POSIX qw(_exit);
use Test::More;

my $builddir = $ENV{POSTERN_BUILDDIR}
    // File::Spec->catdir(dirname(abs_path($0)), File::Spec->updir);
my $hook = abs_path(File::Spec->catfile($builddir, 'hooks', 'postern-maildir'));

plan skip_all => "postern-maildir not built (looked in $builddir/hooks)"
    unless defined $hook && -f $hook && -x _;

use constant EX_TEMPFAIL => 75;

my $have_sha = eval { require Digest::SHA; 1 };
my $tmp = tempdir('postern-maildir-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $serial = 0;

# ---------------------------------------------------------------- helpers

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "open $path: $!";
    local $/;
    my $data = <$fh>;
    return $data // '';
}

sub spew {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or die "open $path: $!";
    print {$fh} $data or die "write $path: $!";
    close $fh or die "close $path: $!";
}

sub entries {
    my ($dir) = @_;
    opendir my $dh, $dir or return ();
    my @e = sort grep { !/^\.\.?\z/ } readdir $dh;
    return @e;
}

sub count_entries {
    my @e = entries(@_);
    return scalar @e;
}

# run_hook(args => [...], input => $bytes, pipe => 0|1, stdin_path => $p,
#          as => [prefix command for privilege drop], env => {...})
# Runs the hook like Postern does (empty environment, cwd /) and returns a
# hash with status (exit code, or -1 for a signal), stdout and stderr.
sub run_hook {
    my (%o) = @_;
    my $n = ++$serial;
    my $in = "$tmp/in.$n";
    my $out = "$tmp/out.$n";
    my $err = "$tmp/err.$n";
    spew($in, $o{input} // '') unless $o{pipe} || $o{stdin_path};
    my @cmd = (@{ $o{as} // [] }, $o{hook} // $hook, @{ $o{args} // [] });

    my ($rd, $wr);
    if ($o{pipe}) {
        pipe($rd, $wr) or die "pipe: $!";
    }
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        if ($o{pipe}) {
            close $wr;
            open STDIN, '<&', $rd or _exit(126);
        } else {
            open STDIN, '<', $o{stdin_path} // $in or _exit(126);
        }
        open STDOUT, '>', $out or _exit(126);
        open STDERR, '>', $err or _exit(126);
        chdir '/' or _exit(126);
        %ENV = %{ $o{env} // {} };
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        _exit(127);
    }
    if ($o{pipe}) {
        close $rd;
        local $SIG{PIPE} = 'IGNORE';    # the hook may fail before reading
        binmode $wr;
        my $data = $o{input} // '';
        my $off = 0;
        while ($off < length $data) {
            my $w = syswrite $wr, $data, 65536, $off;
            last unless defined $w;      # EPIPE: hook gave up, fine
            $off += $w;
        }
        close $wr;
    }
    waitpid($pid, 0) == $pid or die "waitpid: $!";
    my $st = $?;
    return {
        status => ($st & 127) ? -1 : $st >> 8,
        stdout => slurp($out),
        stderr => slurp($err),
    };
}

sub new_maildir {
    my $d = "$tmp/md" . ++$serial;
    return $d;
}

sub same_bytes {
    my ($got, $want, $name) = @_;
    if ($have_sha) {
        is(Digest::SHA::sha256_hex($got), Digest::SHA::sha256_hex($want),
            "$name (sha256)");
    } else {
        ok($got eq $want, "$name (byte compare)");
    }
}

# Check that a failed run looks like a temporary failure to Postern.
sub is_tempfail {
    my ($r, $name) = @_;
    is($r->{status}, EX_TEMPFAIL, "$name: exit 75");
    my ($first) = split /\n/, $r->{stdout};
    like($first // '', qr/^451 4\.3\.0 \S/, "$name: stdout says 451 4.3.0");
}

# ---------------------------------------------------------------- delivery

my $msg = "Received: from client.example (client.example [192.0.2.1])\n"
    . "\tby mx.example with ESMTP; Mon, 1 Jan 2024 00:00:00 +0000\n"
    . "Subject: test\n"
    . "\n"
    . "8-bit: \xc3\xa9\xff\x80 and a NUL \x00 in the middle\n"
    . ".a line starting with a dot\n"
    . "..two dots\n"
    . "a CRLF line\r\n"
    . "an LF line\n"
    . "last line without newline";

{
    my $md = new_maildir();
    my $r = run_hook(args => [$md], input => $msg);
    is($r->{status}, 0, 'delivery: exit 0') or diag($r->{stderr});
    is($r->{stderr}, '', 'delivery: nothing on stderr');
    my @new = entries("$md/new");
    is(scalar @new, 1, 'delivery: exactly one file in new/');
    is_deeply([entries("$md/tmp")], [], 'delivery: tmp/ is empty');
    is_deeply([entries("$md/cur")], [], 'delivery: cur/ exists and is empty');
    ok(-d "$md/cur", 'delivery: cur/ created');
    my $got = @new ? slurp("$md/new/$new[0]") : '';
    ok($got eq $msg, 'delivery: content is byte-identical');
    my $len = length $msg;
    like($new[0] // '', qr/,S=\Q$len\E\z/, "delivery: name ends with ,S=$len");
    like($new[0] // '', qr/^\d+\.M\d+P\d+Q\d+\.[^\/:]+,S=\d+\z/,
        'delivery: name has the maildir unique-name form');
    my $mode = (stat "$md/new/$new[0]")[2];
    is(($mode // 0) & 07777 & ~0600, 0, 'delivery: file not group/world accessible');
    is((stat $md)[2] & 0777 & ~0700, 0, 'delivery: Maildir mode at most 0700');
}

{
    my $md = new_maildir();
    my $r = run_hook(args => [$md], input => '');
    is($r->{status}, 0, 'empty message: exit 0');
    my @new = entries("$md/new");
    is(scalar @new, 1, 'empty message: one file in new/');
    like($new[0] // '', qr/,S=0\z/, 'empty message: ,S=0');
}

{
    my $md = new_maildir();
    my $fails = 0;
    my %want;
    for my $i (1 .. 50) {
        my $body = "Subject: message $i\n\nbody $i\n";
        $want{$body} = 1;
        my $r = run_hook(args => [$md], input => $body);
        $fails++ if $r->{status} != 0;
    }
    is($fails, 0, '50 deliveries: all exit 0');
    my @new = entries("$md/new");
    is(scalar @new, 50, '50 deliveries: 50 files in new/');
    my %seen = map { slurp("$md/new/$_") => 1 } @new;
    is_deeply(\%seen, \%want, '50 deliveries: 50 distinct messages, all intact');
    is_deeply([entries("$md/tmp")], [], '50 deliveries: tmp/ is empty');
}

# ---------------------------------------------------------------- creation

{
    my $md = new_maildir();
    mkdir $md or die "mkdir $md: $!";
    my $r = run_hook(args => [$md], input => $msg);
    is($r->{status}, 0, 'empty DIR: exit 0') or diag($r->{stderr});
    ok(-d "$md/$_", "empty DIR: $_/ created") for qw(tmp new cur);
    is(count_entries("$md/new"), 1, 'empty DIR: message in new/');
}

{
    my $md = new_maildir();
    ok(!-e $md, 'missing DIR: does not exist before');
    my $r = run_hook(args => [$md], input => $msg);
    is($r->{status}, 0, 'missing DIR: exit 0') or diag($r->{stderr});
    ok(-d "$md/$_", "missing DIR: $_/ created") for qw(tmp new cur);
    is(count_entries("$md/new"), 1, 'missing DIR: message in new/');
}

{
    my $parent = "$tmp/no-such-parent" . ++$serial;
    my $md = "$parent/Maildir";
    my $r = run_hook(args => [$md], input => $msg);
    is_tempfail($r, 'missing parent');
    like($r->{stderr}, qr/\Q$md\E/, 'missing parent: stderr names the path');
    like($r->{stderr}, qr/No such file or directory/,
        'missing parent: stderr gives the reason');
    ok(!-e $parent, 'missing parent: parent not created');
}

{
    my $md = new_maildir();
    spew($md, "not a directory\n");
    my $r = run_hook(args => [$md], input => $msg);
    is_tempfail($r, 'DIR is a file');
    like($r->{stderr}, qr/\Q$md\E/, 'DIR is a file: stderr names the path');
}

{
    my $md = new_maildir();
    my $r = run_hook(args => ['/' . ('x' x 5000)], input => $msg);
    is_tempfail($r, 'path longer than PATH_MAX');
}

# ---------------------------------------------------------------- usage

{
    my $md = new_maildir();
    my $r = run_hook(args => [], input => $msg);
    is_tempfail($r, 'no argument');
    like($r->{stderr}, qr/usage/i, 'no argument: usage on stderr');

    # a second argument is the quarantine Maildir (postern-milter(7))
    $r = run_hook(args => [$md, "$md-q", 'extra'], input => $msg);
    is_tempfail($r, 'three arguments');
    like($r->{stderr}, qr/usage/i, 'three arguments: usage on stderr');
    ok(!-e $md, 'three arguments: nothing created');
}

# ---------------------------------------------------------------- stdin errors

{
    my $md = new_maildir();
    # read(2) on a directory fails with EISDIR: a stand-in for an I/O error.
    my $r = run_hook(args => [$md], stdin_path => $tmp);
    is_tempfail($r, 'stdin read error');
    like($r->{stderr}, qr/standard input/, 'stdin read error: stderr says so');
    is_deeply([entries("$md/tmp")], [], 'stdin read error: tmp/ is empty');
    is_deeply([entries("$md/new")], [], 'stdin read error: new/ is empty');
}

# ---------------------------------------------------------------- big message

{
    my $md = new_maildir();
    my $big = '';
    my $line = 0;
    while (length $big < 5 * 1024 * 1024) {
        $big .= sprintf "line %08d \x00\xff\xe9 %s\n", $line++, 'x' x ($line % 97);
    }
    substr($big, 5 * 1024 * 1024) = '';
    my $r = run_hook(args => [$md], input => $big, pipe => 1);
    is($r->{status}, 0, '5 MiB from a pipe: exit 0') or diag($r->{stderr});
    my @new = entries("$md/new");
    is(scalar @new, 1, '5 MiB from a pipe: one file in new/');
    my $path = "$md/new/" . ($new[0] // 'missing');
    is(-s $path, length $big, '5 MiB from a pipe: size matches');
    like($new[0] // '', qr/,S=5242880\z/, '5 MiB from a pipe: ,S=5242880');
    same_bytes(slurp($path), $big, '5 MiB from a pipe: content intact');
}

# ---------------------------------------------------------------- permissions

# How to run the hook so that permissions apply: directly when not root,
# otherwise as "nobody" via setpriv or runuser.  Returns (prefix, uid, gid,
# hook path) or an empty list with a reason in $perm_skip.
my $perm_skip;
sub unprivileged {
    return ([], $<, $(, $hook) if $> != 0;
    my @pw = getpwnam('nobody');
    unless (@pw) {
        $perm_skip = 'running as root and there is no "nobody" user';
        return;
    }
    my ($uid, $gid) = @pw[2, 3];
    # Give nobody a copy of the binary it can certainly reach.
    my $bindir = "$tmp/bin";
    mkdir $bindir;
    my $copy = "$bindir/postern-maildir";
    copy($hook, $copy) or die "copy $hook: $!";
    chmod 0755, $bindir, $copy;
    chmod 0711, $tmp;
    my @tries = (
        ['setpriv', "--reuid=$uid", "--regid=$gid", '--clear-groups'],
        ['runuser', '-u', 'nobody', '--'],
    );
    for my $t (@tries) {
        my ($tool) = grep { -x } map { "$_/$t->[0]" } qw(/usr/bin /bin /usr/sbin /sbin);
        next unless $tool;
        my @prefix = ($tool, @$t[1 .. $#$t]);
        my $probe = new_maildir();
        mkdir $probe or die "mkdir $probe: $!";
        chown $uid, $gid, $probe;
        my $r = run_hook(as => \@prefix, hook => $copy, args => [$probe],
            input => "probe\n");
        my @files = entries("$probe/new");
        return (\@prefix, $uid, $gid, $copy)
            if $r->{status} == 0 && @files == 1
            && (stat "$probe/new/$files[0]")[4] == $uid;
    }
    $perm_skip = 'running as root and cannot run the hook as "nobody" '
        . '(need setpriv or runuser)';
    return;
}

SKIP: {
    my ($prefix, $uid, $gid, $phook) = unprivileged();
    skip $perm_skip, 12 unless $prefix;

    for my $sub (qw(tmp new)) {
        my $md = new_maildir();
        for my $d ($md, map { "$md/$_" } qw(tmp new cur)) {
            mkdir $d, 0700 or die "mkdir $d: $!";
            chown $uid, $gid, $d;
        }
        chmod 0500, "$md/$sub" or die "chmod: $!";
        my $r = run_hook(as => $prefix, hook => $phook, args => [$md],
            input => $msg);
        is_tempfail($r, "read-only $sub/");
        like($r->{stderr}, qr/\Q$md\/$sub\E/, "read-only $sub/: stderr names the path");
        like($r->{stderr}, qr/Permission denied/, "read-only $sub/: stderr gives the reason");
        is_deeply([entries("$md/tmp")], [], "read-only $sub/: tmp/ is empty");
        is_deeply([entries("$md/new")], [], "read-only $sub/: new/ is empty");
        chmod 0700, "$md/$sub";
    }
}

# ---------------------------------------------------------------- fsync failure

# An LD_PRELOAD shim makes fsync(2) and fdatasync(2) fail with EIO on
# regular files ("file"), fsync(2) only on regular files ("inode": where
# the file is anonymous, that is its last sync, after it got its name in
# new/) or on directories ("dir"), to check that nothing is left behind
# when the data, the file's link count or the new/ directory entry cannot
# be made durable.
SKIP: {
    my $cc = (grep { -x } map { "$_/cc" } split /:/, $ENV{PATH} // '')[0];
    skip 'fsync fault injection needs a C compiler (cc)', 19 unless $cc;
    my $src = "$tmp/failsync.c";
    my $so = "$tmp/failsync.so";
    spew($src, <<'C');
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
static int fail(int fd, int data)
{
	const char *what = getenv("FAIL_FSYNC");
	struct stat st;

	if (what == NULL || fstat(fd, &st) < 0)
		return 0;
	if ((strcmp(what, "dir") == 0 && S_ISDIR(st.st_mode))
	    || (strcmp(what, "file") == 0 && S_ISREG(st.st_mode))
	    || (strcmp(what, "inode") == 0 && !data && S_ISREG(st.st_mode))) {
		errno = EIO;
		return -1;
	}
	return 0;
}
int fsync(int fd) { return fail(fd, 0); }
int fdatasync(int fd) { return fail(fd, 1); }
/* FAIL_LINKAT: a file system that cannot link an unnamed file */
#include <dlfcn.h>
int linkat(int ofd, const char *o, int nfd, const char *n, int flags)
{
	int (*real)(int, const char *, int, const char *, int);

	if (getenv("FAIL_LINKAT") != NULL) {
		errno = EPERM;
		return -1;
	}
	real = (int (*)(int, const char *, int, const char *, int))
	    dlsym(RTLD_NEXT, "linkat");
	return real(ofd, o, nfd, n, flags);
}
C
    system("'$cc' -shared -fPIC -o '$so' '$src' -ldl >/dev/null 2>&1") == 0
        or skip 'cannot build the LD_PRELOAD fsync shim', 19;
    chmod 0755, $so;

    for my $what (qw(file inode dir)) {
        my $md = new_maildir();
        mkdir "$md" and mkdir "$md/tmp" and mkdir "$md/new" and mkdir "$md/cur"
            or die "mkdir $md: $!";
        my $r = run_hook(args => [$md], input => $msg,
            env => { LD_PRELOAD => $so, FAIL_FSYNC => $what,
                     ASAN_OPTIONS => 'verify_asan_link_order=0' });
        is_tempfail($r, "fsync of $what fails");
        like($r->{stderr}, qr/f(?:data)?sync.*Input\/output error/,
            "fsync of $what fails: stderr gives the reason");
        is_deeply([entries("$md/tmp")], [], "fsync of $what fails: tmp/ is empty");
        is_deeply([entries("$md/new")], [], "fsync of $what fails: new/ is empty");
    }

    # A file system that makes unnamed (O_TMPFILE) files but cannot link
    # them: the message is copied to a named tmp/ file and delivered.
    my $md = new_maildir();
    my $r = run_hook(args => [$md], input => $msg,
        env => { LD_PRELOAD => $so, FAIL_LINKAT => 1,
                 ASAN_OPTIONS => 'verify_asan_link_order=0' });
    is($r->{status}, 0, 'linkat refused: exit 0') or diag($r->{stderr});
    my @new = entries("$md/new");
    ok(@new == 1 && slurp("$md/new/$new[0]") eq $msg,
        'linkat refused: one whole message in new/');
    is_deeply([entries("$md/tmp")], [], 'linkat refused: tmp/ is empty');
    like($r->{stderr}, qr/using named files in tmp/,
        'linkat refused: a warning says so');
}

# ---------------------------------------------------------------- disk full

my $mounted;
END {
    system('umount', $mounted) if $mounted;
}

SKIP: {
    skip 'disk-full test needs root (for a tmpfs mount)', 7 if $> != 0;
    my $mnt = "$tmp/full";
    mkdir $mnt or die "mkdir $mnt: $!";
    system("mount -t tmpfs -o size=64k,mode=0755 tmpfs '$mnt' >/dev/null 2>&1") == 0
        or skip 'cannot mount a 64k tmpfs (not permitted here?)', 7;
    $mounted = $mnt;

    my $md = "$mnt/Maildir";
    my $big = join '', map { sprintf "%07d %s\n", $_, 'y' x 119 } 1 .. 8192;
    my $r = run_hook(args => [$md], input => $big, pipe => 1);
    is_tempfail($r, 'disk full');
    like($r->{stderr}, qr/No space left on device/, 'disk full: stderr gives the reason');
    like($r->{stdout}, qr/No space left on device/, 'disk full: SMTP reply gives the reason');
    is_deeply([entries("$md/new")], [], 'disk full: nothing in new/');
    is_deeply([entries("$md/tmp")], [], 'disk full: nothing left in tmp/');

    system('umount', $mnt) == 0 and undef $mounted;
    ok(!$mounted, 'disk full: tmpfs unmounted');
}

done_testing();
