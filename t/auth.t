#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# auth.t - SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN through the
# auth hook: the dialogues (initial response, 334 challenges, "*" cancel),
# the error replies (501 5.5.2, 503, 504, 500 5.5.6, 535 5.7.8, 538 5.7.11),
# the hook's verdicts (0, 1, 75, timeout, signal), max_auth_attempts, the
# endpoint policies (auth = none, optional, required; insecure_auth), what the
# hook is given (stdin only, never argv or the environment), that no password
# reaches the log, POSTERN_AUTH_USER in the data hook and ESMTPA/ESMTPSA in
# the Received header, `posternd -t` without an auth hook, and
# postern-passwd on its own.  The smtplib login() checks are in
# t/auth-python.py.
use strict;
use warnings;
use Test::More;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use IO::Socket::SSL;
use Postern::Test qw(run_bounded);

my $BUILD = Postern::Test::builddir();
my $T0 = time;
$SIG{PIPE} = 'IGNORE';      # writing to a session the server closed

# ---------------------------------------------------------------------------
# A Postern::Test::Client that can switch to TLS in place (its line() reads
# what IO::Socket::SSL already decrypted).
package AuthClient;
our @ISA = ('Postern::Test::Client');

# Start TLS on the connected socket (after 220 to STARTTLS, or at once for
# implicit TLS); 1 on success.
sub start_tls {
	my ($self) = @_;
	return 0 if length $self->{buf};        # nothing may precede the handshake
	return IO::Socket::SSL->start_SSL($self->{sock}, SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
	    SSL_hostname => 'localhost', Timeout => 10) ? 1 : 0;
}

sub is_tls { ref($_[0]{sock}) =~ /SSL/ ? 1 : 0 }

package main;

sub b64 { encode_base64($_[0], '') }
sub plain { my ($user, $pw, $authzid) = @_; b64(($authzid // '') . "\0$user\0$pw") }
sub file_text { Postern::Test::read_file($_[0]) // '' }

# Run BODY; a die inside it is one failed test instead of the end of the file.
sub block {
	my ($name, $body) = @_;
	my $ok = eval { $body->(); 1 };
	fail("$name: $@") unless $ok;
}

sub mkpasswd {
	my ($method, $pw) = @_;
	open my $p, '-|', 'mkpasswd', '-m', $method, $pw or die "mkpasswd: $!";
	my $h = <$p>;
	close $p;
	die "mkpasswd -m $method failed (is the whois package installed?)" unless $h && $h =~ /^\$/;
	chomp $h;
	return $h;
}

# ---------------------------------------------------------------------------
# Users: bob (yescrypt) and carol (SHA-512), whose password has spaces, a
# UTF-8 e-acute and a colon.
my $PW = 'Tr0ub4dor&3-zq9Vx';
my $PW_CAROL = "p\xc3\xa9 s:w0rd with spaces";
my $PW_LONG = 'L' x 254 . '!';         # the longest a SASL field may be: 255 octets
my @WRONG = ('wrong-Pw-0001', 'wrong-Pw-0002', 'wrong-Pw-0003');

my $dir = Postern::Test::workdir();
my $passwd_bin = Postern::Test::install_program($dir, "$BUILD/hooks/postern-passwd");
{
	open my $f, '>', "$dir/passwd" or die $!;
	print $f "# users\n\nbob:" . mkpasswd('yescrypt', $PW) . "\ncarol:" . mkpasswd('sha-512', $PW_CAROL) .
	    "\nlongpw:" . mkpasswd('yescrypt', $PW_LONG) . "\n";
	close $f;
	chmod 0644, "$dir/passwd";
}
# The auth hook: counts its runs, keeps its stdin, environment and argv,
# answers as told by some user names, else runs postern-passwd.
my $authhook = Postern::Test::write_script($dir, 'authhook', <<"EOS");
#!/bin/sh
d='$dir'
echo run >> "\$d/auth-count"
cat > "\$d/auth-stdin"
env > "\$d/auth-env"
printf '%s\\n' "\$0" "\$@" > "\$d/auth-argv"
IFS= read -r user < "\$d/auth-stdin"
case "\$user" in
tempfail) exit 75 ;;
sleepy) sleep 20; exit 0 ;;
killed) kill -KILL \$\$ ;;
rejectme) exit 1 ;;
oddstatus) exit 3 ;;
esac
exec "\$d/postern-passwd" "\$@" < "\$d/auth-stdin"
EOS
my $datahook = Postern::Test::write_script($dir, 'datahook', <<"EOS");
#!/bin/sh
env > '$dir/data-env'
exec '$dir/postern-maildir' '$dir/Maildir'
EOS

sub auth_runs { my $t = file_text("$dir/auth-count"); my $n = () = $t =~ /^run$/mg; $n }
sub hook_stdin { file_text("$dir/auth-stdin") }
sub hook_env { file_text("$dir/auth-env") }
sub hook_argv { file_text("$dir/auth-argv") }

my $srv = Postern::Test->start(tls => 1, dir => $dir,
    endpoints => [qw(submission submissions smtp noauth clear)],
    config => {
	hooks => { auth => "$authhook $dir/passwd", data => $datahook, timeout => 2 },
	limits => { max_auth_attempts => 3 },
	submission => { tls => 'starttls', auth => 'required' },
	submissions => { tls => 'implicit', auth => 'required' },
	smtp => { tls => 'starttls', auth => 'optional' },
	noauth => { auth => 'none' },
	clear => { tls => 'none', auth => 'required', insecure_auth => 'yes' },
    });

# A plaintext session after EHLO: (client, EHLO reply).
sub open_clear {
	my ($ep) = @_;
	my $c = AuthClient->new($srv->port($ep), timeout => 10);
	my $ehlo = $c->cmd('EHLO client.test');
	return ($c, $ehlo);
}

# A TLS session (STARTTLS, or implicit on submissions), after the EHLO that
# follows the handshake unless no_ehlo: (client, EHLO reply).
sub open_tls {
	my ($ep, %o) = @_;
	my $c;
	if ($ep eq 'submissions') {
		$c = AuthClient->new($srv->port($ep), timeout => 10, no_greeting => 1);
		$c->start_tls or die "TLS handshake on $ep failed: $IO::Socket::SSL::SSL_ERROR\n";
		$c->{greeting} = $c->reply;
		die "no greeting inside TLS on $ep\n" unless ($c->{greeting} // '') =~ /^220 /;
	} else {
		$c = AuthClient->new($srv->port($ep), timeout => 10);
		$c->cmd('EHLO client.test');
		my $r = $c->cmd('STARTTLS') // '';
		die "STARTTLS on $ep: $r\n" unless $r =~ /^220 /;
		$c->start_tls or die "TLS handshake on $ep failed: $IO::Socket::SSL::SSL_ERROR\n";
	}
	return ($c, undef) if $o{no_ehlo};
	return ($c, scalar $c->cmd('EHLO client.test'));
}

# The Maildir message whose Subject is SUBJECT.
sub message_with_subject {
	my ($subject) = @_;
	for my $m ($srv->messages) {
		my $t = Postern::Test::slurp($m);
		return $t if $t =~ /^Subject: \Q$subject\E$/m;
	}
	return '';
}

sub deliver {
	my ($c, $subject) = @_;
	return scalar $c->send_message(no_ehlo => 1, from => 'bob@example.org', to => ['dest@example.org'],
	    data => "Subject: $subject\r\n\r\nbody\r\n");
}

my $AUTH_RE = qr/^250[- ]AUTH PLAIN LOGIN\r$/m;

# ---------------------------------------------------------------------------
# 6, 5: AUTH is offered only where credentials are protected; endpoint policy.

block('clear text on a starttls endpoint', sub {
	my $runs = auth_runs();
	my ($c, $ehlo) = open_clear('submission');
	like($ehlo, qr/^250[- ]STARTTLS\r$/m, 'submission before STARTTLS: EHLO offers STARTTLS');
	unlike($ehlo, qr/AUTH/, 'submission before STARTTLS: EHLO does not list AUTH (insecure_auth = no)');
	like($c->cmd('MAIL FROM:<bob@example.org>'), qr/^530 5\.7\.0 /, 'required: MAIL before AUTH gets 530 5.7.0');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^538 5\.7\.11 /,
	    'AUTH PLAIN with valid credentials in clear text gets 538 5.7.11');
	like($c->cmd('AUTH LOGIN'), qr/^538 5\.7\.11 /, 'AUTH LOGIN in clear text gets 538 5.7.11 (no 334)');
	like($c->quit, qr/^221 /, 'the session goes on after 538');
	($c, $ehlo) = open_clear('smtp');
	unlike($ehlo, qr/AUTH/, 'optional endpoint before STARTTLS: EHLO does not list AUTH');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^538 5\.7\.11 /, 'optional endpoint in clear: AUTH gets 538');
	like($c->cmd('MAIL FROM:<x@example.org>'), qr/^250 /, 'optional: MAIL without AUTH gets 250');
	$c->quit;
	is(auth_runs(), $runs, 'the auth hook did not run for AUTH in clear text');
});

block('EHLO after TLS lists AUTH', sub {
	my ($c, $ehlo) = open_tls('submission');
	like($ehlo, $AUTH_RE, 'submission after STARTTLS: EHLO lists AUTH PLAIN LOGIN');
	unlike($ehlo, qr/STARTTLS/, 'and no longer STARTTLS');
	like($c->cmd('MAIL FROM:<bob@example.org>'), qr/^530 5\.7\.0 /, 'required, under TLS: MAIL before AUTH gets 530 5.7.0');
	$c->quit;
	($c, $ehlo) = open_tls('submissions');
	like($ehlo, $AUTH_RE, 'submissions (implicit TLS): EHLO lists AUTH PLAIN LOGIN');
	$c->quit;
	($c, $ehlo) = open_tls('smtp');
	like($ehlo, $AUTH_RE, 'optional endpoint after STARTTLS: EHLO lists AUTH');
	like($c->cmd('MAIL FROM:<x@example.org>'), qr/^250 /, 'optional, under TLS: MAIL without AUTH gets 250');
	like($c->cmd('RCPT TO:<dest@example.org>'), qr/^250 /, 'RCPT');
	like($c->cmd('DATA'), qr/^354 /, 'DATA');
	$c->send("Subject: anonymous over tls\r\n\r\nx\r\n.\r\n");
	like($c->reply, qr/^250 /, 'unauthenticated message accepted on the optional endpoint');
	$c->quit;
	my $m = message_with_subject('anonymous over tls');
	like($m, qr/^\tby mx\.test \(Postern\) with ESMTPS /m, 'Received says ESMTPS without AUTH');
	unlike(file_text("$dir/data-env"), qr/^POSTERN_AUTH_USER=/m, 'no POSTERN_AUTH_USER for an unauthenticated message');
});

block('auth = none', sub {
	my $runs = auth_runs();
	my ($c, $ehlo) = open_clear('noauth');
	like($ehlo, qr/^250 ENHANCEDSTATUSCODES\r$/m, 'noauth: EHLO reply complete');
	unlike($ehlo, qr/AUTH/, 'auth = none: EHLO does not list AUTH');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^503 5\.5\.1 /, 'auth = none: AUTH gets 503 5.5.1');
	like($c->cmd('MAIL FROM:<x@example.org>'), qr/^250 /, 'auth = none: MAIL gets 250');
	$c->quit;
	is(auth_runs(), $runs, 'the auth hook did not run on the auth = none endpoint');
});

block('insecure_auth = yes', sub {
	my ($c, $ehlo) = open_clear('clear');
	like($ehlo, $AUTH_RE, 'insecure_auth = yes, tls = none: EHLO lists AUTH');
	like($c->cmd('MAIL FROM:<bob@example.org>'), qr/^530 5\.7\.0 /, 'required in clear: MAIL before AUTH gets 530');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'AUTH PLAIN in clear text works there');
	like(deliver($c, 'insecure clear'), qr/^250 2\.0\.0 /, 'message accepted after AUTH in clear');
	$c->quit;
	my $m = message_with_subject('insecure clear');
	like($m, qr/^\tby mx\.test \(Postern\) with ESMTPA id /m, 'Received says "with ESMTPA" (AUTH without TLS)');
	like(file_text("$dir/data-env"), qr/^POSTERN_AUTH_USER=bob$/m, 'data hook sees POSTERN_AUTH_USER=bob');
});

# ---------------------------------------------------------------------------
# 1, 8, 10, 12: successful dialogues, what the hook gets, MAIL AUTH=.

block('PLAIN with an initial response', sub {
	my $runs = auth_runs();
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'PLAIN with an initial response: 235 2.7.0');
	is(auth_runs(), $runs + 1, 'the hook ran once');
	is(hook_stdin(), "bob\n$PW\n", 'hook stdin is exactly "user\\npassword\\n"');
	my ($env, $argv) = (hook_env(), hook_argv());
	like($env, qr/^POSTERN_AUTH_MECHANISM=PLAIN$/m, 'POSTERN_AUTH_MECHANISM=PLAIN');
	like($env, qr/^POSTERN_HOOK=auth$/m, 'POSTERN_HOOK=auth');
	is($argv, "$authhook\n$dir/passwd\n", 'hook argv is the configured command line');
	unlike($env, qr/\Q$PW\E|\Q${\ b64($PW)}\E|\Q${\ plain('bob', $PW)}\E/, 'the password is not in the environment');
	unlike($argv, qr/\Q$PW\E/, 'the password is not in argv');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^503 5\.5\.1 /, 'AUTH after a successful AUTH: 503 5.5.1');
	like($c->cmd('AUTH LOGIN'), qr/^503 5\.5\.1 /, 'AUTH LOGIN after a successful AUTH: 503 5.5.1');
	like($c->cmd('MAIL FROM:<bob@example.org> AUTH=<>'), qr/^250 /, 'required, after AUTH: MAIL with AUTH=<> gets 250');
	like($c->cmd('RSET'), qr/^250 /, 'RSET');
	like($c->cmd('MAIL FROM:<bob@example.org> AUTH=bob@example.org'), qr/^250 /, 'MAIL with AUTH=bob@example.org gets 250');
	like($c->cmd('RSET'), qr/^250 /, 'RSET');
	like($c->cmd('MAIL FROM:<bob@example.org> AUTH=<> AUTH=bob@example.org'), qr/^501 /, 'AUTH= twice gets 501');
	like($c->cmd('RSET'), qr/^250 /, 'RSET');
	# RFC 4954 section 3: the AUTH parameter "extends the maximum line length
	# of the MAIL FROM command by 500 characters" (512 + 500).
	my $path = ('l' x 64) . '@' . join('.', ('d' x 60) x 3) . '.org';
	my $mail = "MAIL FROM:<$path> AUTH=$path";
	cmp_ok(length($mail) + 2, '>', 512, sprintf('a MAIL FROM line with AUTH= of %d octets', length($mail) + 2));
	like($c->cmd($mail), qr/^250 /, 'MAIL FROM with AUTH= longer than 512 octets (within 512 + 500): 250 (RFC 4954 3)');
	like($c->cmd('RSET'), qr/^250 /, 'RSET');
	like(deliver($c, 'plain starttls'), qr/^250 2\.0\.0 /, 'message accepted after AUTH over STARTTLS');
	$c->quit;
	like(message_with_subject('plain starttls'), qr/^\tby mx\.test \(Postern\) with ESMTPSA \(/m,
	    'Received says "with ESMTPSA" (STARTTLS + AUTH)');
	like(file_text("$dir/data-env"), qr/^POSTERN_AUTH_USER=bob$/m, 'POSTERN_AUTH_USER=bob reaches the data hook');
});

block('PLAIN with an empty initial response', sub {
	my $runs = auth_runs();
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ='), qr/^(?:501 5\.5\.2|535 5\.7\.8) /, 'AUTH PLAIN = (empty initial response): 501 or 535');
	like($c->cmd('NOOP'), qr/^250 /, 'the session is alive afterwards');
	is(auth_runs(), $runs, 'no hook run for an empty response');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'a valid AUTH PLAIN still works in that session');
	$c->quit;
});

block('PLAIN as a 334 dialogue, mechanism in lower case', sub {
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN'), qr/^334 ?\r\n\z/, 'AUTH PLAIN without a response: an empty 334 challenge');
	like($c->cmd(plain('bob', $PW)), qr/^235 2\.7\.0 /, 'the base64 answer: 235 2.7.0');
	$c->quit;
	($c) = open_tls('submission');
	like($c->cmd('auth plain ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'mechanism names are case-insensitive');
	$c->quit;
});

block('PLAIN with an authzid', sub {
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW, 'bob')), qr/^235 2\.7\.0 /, 'authzid equal to the user: 235');
	is(hook_stdin(), "bob\n$PW\nbob\n", 'hook stdin has the authzid as a third line');
	$c->quit;
	($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW, 'alice')), qr/^535 5\.7\.8 /, 'authzid of another user: 535 5.7.8');
	is(hook_stdin(), "bob\n$PW\nalice\n", 'hook stdin: user, password, authzid');
	$c->quit;
});

block('LOGIN', sub {
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH LOGIN ' . b64('bob')), qr/^334 UGFzc3dvcmQ6\r\n\z/, 'LOGIN with the user as initial response: 334 Password:');
	like($c->cmd(b64($PW)), qr/^235 2\.7\.0 /, 'then the password: 235 2.7.0');
	is(hook_stdin(), "bob\n$PW\n", 'LOGIN: hook stdin is "user\\npassword\\n"');
	like(hook_env(), qr/^POSTERN_AUTH_MECHANISM=LOGIN$/m, 'POSTERN_AUTH_MECHANISM=LOGIN');
	unlike(hook_env() . hook_argv(), qr/\Q$PW\E|\Q${\ b64($PW)}\E/, 'LOGIN: the password is in neither argv nor the environment');
	$c->quit;
	($c) = open_tls('submission');
	like($c->cmd('AUTH LOGIN'), qr/^334 VXNlcm5hbWU6\r\n\z/, 'LOGIN dialogue: 334 Username:');
	like($c->cmd(b64('bob')), qr/^334 UGFzc3dvcmQ6\r\n\z/, 'LOGIN dialogue: 334 Password:');
	like($c->cmd(b64($PW)), qr/^235 2\.7\.0 /, 'LOGIN dialogue: 235 2.7.0');
	$c->quit;
});

block('implicit TLS and SHA-512 hash, password with spaces, UTF-8 and a colon', sub {
	my ($c) = open_tls('submissions');
	like($c->cmd('AUTH PLAIN ' . plain('carol', $PW_CAROL)), qr/^235 2\.7\.0 /, 'carol (SHA-512, "p\\xc3\\xa9 s:w0rd with spaces") over implicit TLS: 235');
	is(hook_stdin(), "carol\n$PW_CAROL\n", 'the UTF-8 password reaches the hook byte for byte');
	like(deliver($c, 'implicit tls'), qr/^250 2\.0\.0 /, 'message accepted');
	$c->quit;
	like(message_with_subject('implicit tls'), qr/^\tby mx\.test \(Postern\) with ESMTPSA \(/m, 'implicit TLS + AUTH: ESMTPSA');
	like(file_text("$dir/data-env"), qr/^POSTERN_AUTH_USER=carol$/m, 'POSTERN_AUTH_USER=carol');
});

# ---------------------------------------------------------------------------
# 2: errors.

block('cancel with *', sub {
	my $runs = auth_runs();
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN'), qr/^334 /, 'AUTH PLAIN: 334');
	like($c->cmd('*'), qr/^501 5\.\d+\.\d+ /, '"*" at the PLAIN challenge: 501');
	like($c->cmd('AUTH LOGIN'), qr/^334 VXNlcm5hbWU6/, 'AUTH LOGIN: 334 Username:');
	like($c->cmd('*'), qr/^501 5\.\d+\.\d+ /, '"*" at the LOGIN user challenge: 501');
	like($c->cmd('AUTH LOGIN'), qr/^334 VXNlcm5hbWU6/, 'AUTH LOGIN again');
	like($c->cmd(b64('bob')), qr/^334 UGFzc3dvcmQ6/, '334 Password:');
	like($c->cmd('*'), qr/^501 5\.\d+\.\d+ /, '"*" at the LOGIN password challenge: 501');
	like($c->cmd('AUTH LOGIN ' . b64('bob')), qr/^334 UGFzc3dvcmQ6/, 'AUTH LOGIN with initial response: 334 Password:');
	like($c->cmd('*'), qr/^501 5\.\d+\.\d+ /, '"*" after a LOGIN initial response: 501');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'after the cancels, AUTH still works');
	is(auth_runs(), $runs + 1, 'the hook ran only for the completed exchange');
	$c->quit;
});

block('malformed base64', sub {
	my $runs = auth_runs();
	my ($c) = open_tls('submission');
	for my $bad ('!!!!', 'AGJvYg=', 'AGJ=vYg', 'AGJvYgB=Zm9v') {
		like($c->cmd("AUTH PLAIN $bad"), qr/^501 5\.5\.2 /, "AUTH PLAIN $bad: 501 5.5.2");
	}
	like($c->cmd('NOOP'), qr/^250 /, 'session alive');
	$c->quit;
	($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN'), qr/^334 /, 'AUTH PLAIN: 334');
	like($c->cmd('!!!!'), qr/^501 5\.5\.2 /, '"!!!!" at the PLAIN challenge: 501 5.5.2');
	like($c->cmd('AUTH LOGIN AGJ=vYg'), qr/^501 5\.5\.2 /, 'AUTH LOGIN AGJ=vYg: 501 5.5.2');
	like($c->cmd('AUTH LOGIN ' . b64('bob')), qr/^334 /, '334 Password:');
	like($c->cmd('AGJvYg='), qr/^501 5\.5\.2 /, 'wrong padding as the LOGIN password: 501 5.5.2');
	like($c->cmd('NOOP'), qr/^250 /, 'session alive');
	$c->quit;
	is(auth_runs(), $runs, 'the hook never ran for malformed base64');
});

block('unknown mechanism, missing mechanism', sub {
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH CRAM-MD5'), qr/^504 5\.5\.4 /, 'AUTH CRAM-MD5: 504 5.5.4');
	like($c->cmd('AUTH DIGEST-MD5 ' . b64('x')), qr/^504 5\.5\.4 /, 'unknown mechanism with an initial response: 504 5.5.4');
	like($c->cmd('AUTH'), qr/^501 /, 'AUTH without a mechanism: 501');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'then a valid AUTH: 235');
	$c->quit;
});

block('AUTH before EHLO', sub {
	my $runs = auth_runs();
	my ($c) = open_tls('submission', no_ehlo => 1);
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^503 5\.5\.1 /, 'AUTH after STARTTLS but before the new EHLO: 503 5.5.1');
	like($c->cmd('EHLO client.test'), $AUTH_RE, 'EHLO');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'AUTH after EHLO: 235');
	$c->quit;
	$c = AuthClient->new($srv->port('clear'), timeout => 10);
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^503 5\.5\.1 /, 'AUTH before any EHLO (insecure_auth endpoint): 503 5.5.1');
	like($c->cmd('HELO client.test'), qr/^250 /, 'HELO');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^503 5\.5\.1 /, 'AUTH after HELO (not EHLO): 503 5.5.1');
	$c->quit;
	is(auth_runs(), $runs + 1, 'the hook ran only for the AUTH after EHLO');
});

block('AUTH during a transaction', sub {
	my $runs = auth_runs();
	my ($c) = open_tls('smtp');
	like($c->cmd('MAIL FROM:<x@example.org>'), qr/^250 /, 'optional endpoint: MAIL without AUTH');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^503 5\.5\.1 /, 'AUTH during a transaction: 503 5.5.1');
	is(auth_runs(), $runs, 'the hook did not run');
	like($c->cmd('RSET'), qr/^250 /, 'RSET');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'after RSET: 235');
	$c->quit;
});

block('bad credentials', sub {
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $WRONG[0])), qr/^535 5\.7\.8 /, 'wrong password: 535 5.7.8');
	like($c->cmd('AUTH PLAIN ' . plain('nosuchuser', $PW)), qr/^535 5\.7\.8 /, 'unknown user: 535 5.7.8');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'then the right password: 235');
	$c->quit;
});

block('20 KB base64 lines', sub {
	my $big = 'QUFB' x 5120;        # 20480 octets of valid base64
	my ($c) = open_tls('submission');
	$c->send("AUTH PLAIN $big\r\n");
	like($c->reply, qr/^500 5\.5\.[26] /, '20 KB AUTH PLAIN line: 500 5.5.6 or 5.5.2');
	like($c->cmd('NOOP'), qr/^250 /, 'the session still works');
	like($c->cmd('AUTH PLAIN'), qr/^334 /, 'AUTH PLAIN: 334');
	$c->send("$big\r\n");
	like($c->reply, qr/^500 5\.5\.[26] /, '20 KB answer to the 334: 500 5.5.6 or 5.5.2');
	like($c->cmd('NOOP'), qr/^250 /, 'the session still works (the rest of the line was not read as commands)');
	like($c->cmd('AUTH LOGIN ' . b64('bob')), qr/^334 /, 'AUTH LOGIN: 334 Password:');
	$c->send(('QUJD' x 5120) . "\r\n");
	like($c->reply, qr/^500 5\.5\.[26] /, '20 KB LOGIN password: 500');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'a valid AUTH still works');
	$c->quit;
});

block('PLAIN structure and field lengths', sub {
	my $runs = auth_runs();
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . b64("bob$PW")), qr/^501 5\.5\.2 /, 'PLAIN without NULs: 501 5.5.2');
	like($c->cmd('AUTH PLAIN ' . b64("bob\0$PW")), qr/^501 5\.5\.2 /, 'PLAIN with one NUL: 501 5.5.2');
	like($c->cmd('AUTH PLAIN ' . b64("\0bob\0$PW\0x")), qr/^501 5\.5\.2 /, 'PLAIN with three NULs: 501 5.5.2');
	like($c->cmd('AUTH PLAIN ' . b64("\0\0$PW")), qr/^501 5\.5\.2 /, 'PLAIN with an empty user: 501 5.5.2');
	$c->quit;
	($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . plain('bob', 'x' x 256)), qr/^501 /, 'PLAIN password of 256 octets: 501');
	like($c->cmd('AUTH PLAIN ' . plain('b' x 300, $PW)), qr/^501 /, 'PLAIN user of 300 octets: 501');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW, 'z' x 300)), qr/^501 /, 'PLAIN authzid of 300 octets: 501');
	like($c->cmd('AUTH LOGIN ' . b64('u' x 300)), qr/^50[01] 5\.5\.[26] /, 'LOGIN user of 300 octets: 501 5.5.2 or 500 5.5.6');
	$c->quit;
	is(auth_runs(), $runs, 'the hook never ran for malformed PLAIN or fields over 255 octets');
	($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . plain('bob', 'y' x 255)), qr/^535 5\.7\.8 /, 'PLAIN password of exactly 255 octets goes to the hook: 535');
	is(auth_runs(), $runs + 1, 'the hook ran for it');
	$c->quit;
	($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . plain('longpw', $PW_LONG)), qr/^235 2\.7\.0 /, 'the right 255-octet password: 235 (server and postern-passwd limits agree)');
	$c->quit;
});

block('CR or LF inside credentials', sub {
	my $runs = auth_runs();
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . b64("\0bob\0pa\nss")), qr/^(?:535|501) /, 'PLAIN password with LF: refused (535 or 501)');
	like($c->cmd('AUTH PLAIN ' . b64("\0bob\0pa\r\nss")), qr/^(?:535|501) /, 'PLAIN password with CRLF: refused');
	$c->quit;
	($c) = open_tls('submission');      # at most 2 refusals a session: max_auth_attempts is 3
	like($c->cmd('AUTH PLAIN ' . b64("\0bo\nb\0$PW")), qr/^(?:535|501) /, 'PLAIN user with LF: refused');
	like($c->cmd('AUTH PLAIN ' . b64("bob\nx\0bob\0$PW")), qr/^(?:535|501) /, 'PLAIN authzid with LF: refused');
	like($c->cmd('AUTH LOGIN ' . b64("bo\nb")), qr/^(?:535|501) /, 'LOGIN user with LF: refused');
	like($c->cmd('AUTH LOGIN ' . b64('bob')), qr/^334 /, '334 Password:');
	like($c->cmd(b64("pa\r\nss")), qr/^(?:535|501) /, 'LOGIN password with CRLF: refused');
	$c->quit;
	is(auth_runs(), $runs, 'the hook never ran for credentials with CR or LF');
});

# ---------------------------------------------------------------------------
# 3: the hook's verdicts.

block('hook verdicts', sub {
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . plain('tempfail', 'x')), qr/^454 4\.7\.0 /, 'hook exit 75: 454 4.7.0');
	my $t = time;
	my $r = $c->cmd('AUTH PLAIN ' . plain('sleepy', 'x'), 8);
	my $dt = time - $t;
	like($r, qr/^454 4\.7\.0 /, 'hook past [hooks] timeout = 2: 454 4.7.0');
	ok($dt >= 1.5 && $dt <= 5, sprintf('and within 2-5 s (%.1f s)', $dt));
	like($c->cmd('AUTH PLAIN ' . plain('killed', 'x')), qr/^454 4\.7\.0 /, 'hook killed by a signal: 454 4.7.0');
	like($c->cmd('AUTH PLAIN ' . plain('oddstatus', 'x')), qr/^454 4\.7\.0 /, 'hook exit 3: 454 4.7.0');
	like($c->cmd('AUTH PLAIN ' . plain('rejectme', 'x')), qr/^535 5\.7\.8 /, 'hook exit 1: 535 5.7.8');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $PW)), qr/^235 2\.7\.0 /, 'temporary failures do not count as attempts: 235');
	$c->quit;
	ok($srv->wait_log(qr/hook auth: .*authhook did not answer within 2 s/, 2), 'the timeout is logged');
});

# ---------------------------------------------------------------------------
# 4: max_auth_attempts.

block('max_auth_attempts', sub {
	my ($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $WRONG[0])), qr/^535 5\.7\.8 /, 'failure 1: 535');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $WRONG[1])), qr/^535 5\.7\.8 /, 'failure 2: 535');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $WRONG[2])), qr/^535 5\.7\.8 /, 'failure 3: 535');
	like($c->reply(5) // '', qr/^421 4\.7\.0 /, 'then 421 4.7.0');
	ok($c->closed(5), 'and the connection is closed');
	$c->close;
	($c) = open_tls('submission');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $WRONG[0])), qr/^535 /, 'failure 1');
	like($c->cmd('EHLO client.test'), qr/^250/, 'EHLO');
	like($c->cmd('AUTH LOGIN ' . b64('bob')), qr/^334 /, 'AUTH LOGIN: 334 Password:');
	like($c->cmd(b64($WRONG[1])), qr/^535 /, 'failure 2');
	like($c->cmd('RSET'), qr/^250/, 'RSET');
	like($c->cmd('AUTH PLAIN ' . plain('bob', $WRONG[2])), qr/^535 /, 'failure 3');
	like($c->reply(5) // '', qr/^421 4\.7\.0 /, 'EHLO and RSET do not reset the count of failures: 421 after the third');
	ok($c->closed(5), 'and the connection is closed');
	$c->close;
	for my $i (1 .. 3) {
		($c) = open_tls('submission');
		my @r = map { $c->cmd($_) // '' } ('AUTH PLAIN ' . plain('bob', $WRONG[0]),
		    'AUTH LOGIN ' . b64('bob'), b64($WRONG[1]), 'AUTH PLAIN ' . plain('carol', $WRONG[2]));
		my $r4 = $c->reply(5) // '';
		my $more = $c->cmd('AUTH PLAIN ' . plain('bob', $PW), 3);
		ok($r[0] =~ /^535 / && $r[1] =~ /^334 / && $r[2] =~ /^535 / && $r[3] =~ /^535 / &&
		    $r4 =~ /^421 4\.7\.0 / && !defined $more,
		    "brute force connection $i: cut after 3 failures (PLAIN, LOGIN, PLAIN)")
		    or diag(join '', @r, $r4, $more // '<closed>');
		$c->close;
	}
	ok($srv->wait_log(qr/too many failures \(3\)/, 2), 'the disconnection is logged');
});

# ---------------------------------------------------------------------------
# 1, 11: swaks end to end.

SKIP: {
	skip 'swaks is not installed', 8 unless -x '/usr/bin/swaks';
	my @common = ('swaks', '--server', '127.0.0.1', '--timeout', '10', '--from', 'bob@example.org', '--to', 'dest@example.org');
	my ($st, $out) = run_bounded(20, @common, '--port', $srv->port('submission'), '--tls',
	    '--auth', 'PLAIN', '--auth-user', 'bob', '--auth-password', $PW, '--h-Subject', 'swaks plain');
	is($st, 0, 'swaks --tls --auth PLAIN exits 0') or diag($out);
	like($out, qr/<~  235 2\.7\.0 /, 'swaks --auth PLAIN: 235 2.7.0');
	($st, $out) = run_bounded(20, @common, '--port', $srv->port('submissions'), '--tlsc',
	    '--auth', 'LOGIN', '--auth-user', 'carol', '--auth-password', $PW_CAROL, '--h-Subject', 'swaks login');
	is($st, 0, 'swaks --tlsc --auth LOGIN (password with spaces, UTF-8, colon) exits 0') or diag($out);
	like($out, qr/<~  235 2\.7\.0 /, 'swaks --auth LOGIN: 235 2.7.0');
	($st, $out) = run_bounded(20, @common, '--port', $srv->port('submission'), '--tls',
	    '--auth', 'PLAIN', '--auth-user', 'carol', '--auth-password', $PW_CAROL, '--quit-after', 'AUTH');
	like($out, qr/<~  235 2\.7\.0 /, 'swaks --auth PLAIN with the UTF-8/space/colon password: 235');
	($st, $out) = run_bounded(20, @common, '--port', $srv->port('submission'), '--tls',
	    '--auth', 'LOGIN', '--auth-user', 'bob', '--auth-password', $WRONG[0], '--quit-after', 'AUTH');
	like($out, qr/<~\*? +535 5\.7\.8 /, 'swaks with a wrong password: 535 5.7.8');
	like(message_with_subject('swaks plain'), qr/with ESMTPSA/, 'swaks PLAIN message stored');
	like(message_with_subject('swaks login'), qr/with ESMTPSA/, 'swaks LOGIN message stored');
}

# ---------------------------------------------------------------------------
# 9: nothing of a password in the log (the server runs with -d).

is($srv->stop, 0, 'posternd exits 0 on SIGTERM');
{
	my $log = $srv->log_text;
	ok(length $log > 1000, 'the debug log has text');
	like($log, qr/< AUTH \(credentials not logged\)/, 'AUTH commands are logged without their argument');
	my %secret = (
	    'bob\'s password' => $PW,
	    'carol\'s password' => $PW_CAROL,
	    'carol\'s password as the log would escape it' => join('', map { /[\x20-\x7e]/ && $_ ne '\\' ? $_ : sprintf('\\x%02x', ord) } split //, $PW_CAROL),
	    'base64 of bob\'s password' => b64($PW),
	    'base64 of carol\'s password' => b64($PW_CAROL),
	    'base64 of the PLAIN string' => plain('bob', $PW),
	    'base64 of the PLAIN string with authzid' => plain('bob', $PW, 'bob'),
	    'base64 of carol\'s PLAIN string' => plain('carol', $PW_CAROL),
	    (map { ("wrong password $_" => $WRONG[$_], "base64 of wrong password $_" => b64($WRONG[$_]),
		    "base64 of PLAIN with wrong password $_" => plain('bob', $WRONG[$_])) } 0 .. 2),
	);
	for my $what (sort keys %secret) {
		ok(index($log, $secret{$what}) < 0, "the log does not contain $what");
	}
	like($log, qr/authentication failed for user=bob from \[127\.0\.0\.1\]/,
	    'a failure is logged as "authentication failed for user=bob from [127.0.0.1]"');
}

# ---------------------------------------------------------------------------
# 7: auth = required without an auth hook.

{
	my $d = Postern::Test::workdir();
	my $maildir = Postern::Test::install_program($d, "$BUILD/hooks/postern-maildir");
	my $port = Postern::Test::free_port();
	my $base = "[server]\nhostname = mx.test\npidfile = $d/pid\nspool_directory = $d\n" .
	    (Postern::Test::is_root() ? "user = nobody\ngroup = nogroup\n" : '') .
	    "[hooks]\ndata = $maildir $d/Maildir\n";
	for my $mode ('required', 'optional') {
		open my $f, '>', "$d/$mode.conf" or die $!;
		print $f "$base\[submission]\nlisten = 127.0.0.1:$port\nauth = $mode\ninsecure_auth = yes\n";
		close $f;
		my ($st, $out) = run_bounded(10, "$BUILD/posternd", '-t', '-c', "$d/$mode.conf");
		is(defined $st ? $st >> 8 : 'killed', 1, "posternd -t: auth = $mode without an auth hook exits 1");
		like($out, qr/\[hooks\] auth/, "the message names [hooks] auth") or diag($out);
	}
	open my $f, '>', "$d/ok.conf" or die $!;
	print $f "$base" . "auth = $passwd_bin $dir/passwd\n[submission]\nlisten = 127.0.0.1:$port\nauth = required\ninsecure_auth = yes\n";
	close $f;
	open $f, '>', "$d/never.conf" or die $!;
	print $f "$base" . "auth = $passwd_bin $dir/passwd\n[submission]\nlisten = 127.0.0.1:$port\nauth = required\n";
	close $f;
	my ($st0, $out0) = run_bounded(10, "$BUILD/posternd", '-t', '-c', "$d/never.conf");
	is(defined $st0 ? $st0 >> 8 : 'killed', 1, 'posternd -t: auth = required with neither TLS nor insecure_auth exits 1');
	like($out0, qr/AUTH is never offered/, 'the message says AUTH could never be offered') or diag($out0);
	open $f, '>', "$d/ok.conf" or die $!;
	print $f "$base" . "auth = $passwd_bin $dir/passwd\n[submission]\nlisten = 127.0.0.1:$port\nauth = required\ninsecure_auth = yes\n";
	close $f;
	my ($st, $out) = run_bounded(10, "$BUILD/posternd", '-t', '-c', "$d/ok.conf");
	is(defined $st ? $st >> 8 : 'killed', 0, 'posternd -t: the same with [hooks] auth exits 0') or diag($out);
}

# ---------------------------------------------------------------------------
# 11: postern-passwd on its own.

{
	my $d = Postern::Test::workdir();
	my $pw = "$d/passwd";
	open my $f, '>', $pw or die $!;
	print $f "# comment\n\nalice:" . mkpasswd('yescrypt', 'alice pw') . "\nbob:" . mkpasswd('sha-512', $PW_CAROL) .
	    "\ndave:" . mkpasswd('yescrypt', 'dave-pw') . ":extra:fields\n";
	close $f;
	my $run = sub { my ($file, $in) = @_; my ($st) = run_bounded(10, { stdin => $in }, $passwd_bin, $file); defined $st ? $st >> 8 : -1 };
	is($run->($pw, "alice\nalice pw\n"), 0, 'postern-passwd: yescrypt, right password: 0');
	is($run->($pw, "bob\n$PW_CAROL\n"), 0, 'postern-passwd: sha-512, right password (spaces, UTF-8, colon): 0');
	is($run->($pw, "alice\nalice pX\n"), 1, 'postern-passwd: wrong password: 1');
	is($run->($pw, "bob\n$PW\n"), 1, 'postern-passwd: sha-512, wrong password: 1');
	is($run->($pw, "mallory\nalice pw\n"), 1, 'postern-passwd: unknown user: 1');
	is($run->($pw, "alice\nalice pw\nbob\n"), 1, 'postern-passwd: authzid other than the user: 1');
	is($run->($pw, "alice\nalice pw\nalice\n"), 0, 'postern-passwd: authzid equal to the user: 0');
	is($run->($pw, "alice\nalice pw\n" . ('b' x 300) . "\n"), 1, 'postern-passwd: authzid of 300 octets (not the user): 1');
	is($run->($pw, "alice\nalice pw\nbob\r\n"), 1, 'postern-passwd: authzid "bob\r" (not the user): 1');
	is($run->($pw, "alice\nalice pw\nbo\0b\n"), 1, 'postern-passwd: authzid with a NUL (not the user): 1');
	is($run->($pw, "dave\ndave-pw\n"), 0, 'postern-passwd: trailing fields after the hash are allowed');
	is($run->($pw, "alice\n"), 1, 'postern-passwd: no password line: 1');
	is($run->("$d/missing", "alice\nalice pw\n"), 75, 'postern-passwd: missing file: 75');
	open $f, '>', "$d/bad" or die $!;
	print $f "alice:" . mkpasswd('yescrypt', 'alice pw') . "\nthis line has no colon\n";
	close $f;
	is($run->("$d/bad", "alice\nalice pw\n"), 75, 'postern-passwd: malformed line (no colon): 75');
	open $f, '>', "$d/bad2" or die $!;
	print $f "no colon first\nalice:" . mkpasswd('yescrypt', 'alice pw') . "\n";
	close $f;
	is($run->("$d/bad2", "alice\nalice pw\n"), 75, 'postern-passwd: malformed line before the user: 75');
}

note(sprintf('auth.t ran in %.1f s', time - $T0));
done_testing;
