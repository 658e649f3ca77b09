#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# data-filter.pl - a data hook: refuse messages whose Subject or body matches
# a rule, hand the others to a delivery program.
#
#   [hooks]
#   data = /usr/share/doc/postern/examples/data-filter.pl /etc/postern/filter-rules /usr/libexec/postern/postern-maildir /var/mail/postern
#
# $ARGV[0] is the rules file: one Perl regular expression per line, blank
# lines and lines starting with "#" ignored; write (?i) for any case.  A rule
# that does not compile is skipped with a warning (stderr goes to Postern's
# log).  Rules are plain patterns: code blocks such as (?{ ... }) are refused
# by Perl in an interpolated pattern, so the file cannot run code.
#
# The message comes on stdin (with Postern's Received header, LF line ends).
# When the Subject header (unfolded) or the body matches a rule, the hook
# exits 1 with "550 5.7.1 message refused by content filter".  Otherwise it
# runs the rest of its arguments, $ARGV[1] .., as the delivery program with
# the message on its stdin, and exits with that program's status (so 0 is
# accepted, 75 is "try later"); a program that cannot be run, or dies of a
# signal, gives 75: a filter must never lose a message.  fd 3 (the
# recipients) is passed on to the delivery program untouched.
use strict;
use warnings;

use constant EX_TEMPFAIL => 75;

$SIG{PIPE} = 'IGNORE';          # a delivery program that stops reading: see its status

sub tempfail {
	my ($why) = @_;
	print STDERR "data-filter: $why\n";
	print "451 4.3.0 content filter unavailable, try again later\n";
	exit EX_TEMPFAIL;
}

my ($rules_file, @deliver) = @ARGV;
tempfail('usage: data-filter.pl RULES-FILE DELIVERY-PROGRAM [ARGS...]')
    unless defined $rules_file && @deliver;

my @rules;
{
	open my $rf, '<', $rules_file or tempfail("cannot read the rules file $rules_file: $!");
	while (my $r = <$rf>) {
		chomp $r;
		$r =~ s/\r\z//;
		next if $r =~ /^\s*(?:#|\z)/;
		my $re = eval { qr/$r/ };
		if (!defined $re) {
			(my $why = $@ // 'invalid') =~ s/\s+/ /g;
			$why =~ s/ at \S+ line \d+.*\z//;
			print STDERR "data-filter: $rules_file line $.: skipped, not a valid regex: $why\n";
			next;
		}
		push @rules, $re;
	}
	close $rf;
}

my $message = do {
	binmode STDIN;
	local $/;
	my $m = <STDIN>;
	tempfail("cannot read the message: $!") unless defined $m;
	$m;
};

# Header and body: the first empty line separates them.
my ($header, $body) = split /\r?\n\r?\n/, $message, 2;
$body //= '';
my $subject = '';
if ($header =~ /^Subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/mi) {
	($subject = $1) =~ s/\r?\n([ \t])/$1/g;        # unfold
}

for my $re (@rules) {
	if ($subject =~ $re || $body =~ $re) {
		print STDERR "data-filter: refused, matched $re\n";
		print "550 5.7.1 message refused by content filter\n";
		exit 1;
	}
}

# Deliver: the message to the program through a pipe, its status as ours.
STDOUT->flush;
my $pid = open(my $to, '|-', @deliver);
tempfail("cannot run $deliver[0]: $!") unless $pid;
binmode $to;
my $wrote = print {$to} $message;
my $closed = close $to;
my $status = $?;
if ($status == -1) {
	tempfail("cannot run $deliver[0]: $!");
} elsif ($status & 127) {
	tempfail("$deliver[0] killed by signal " . ($status & 127));
}
my $code = $status >> 8;
tempfail("could not hand the whole message to $deliver[0]") if $code == 0 && !$wrote;
exit $code;
