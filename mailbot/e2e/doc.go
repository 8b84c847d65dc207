// Package e2e is mailbot's end-to-end suite against real servers: it starts
// its own Dovecot (IMAP4rev1 with IDLE, RFC 3501 and RFC 2177; LMTP, RFC
// 2033) and Postfix (SMTP, RFC 5321, with SASL AUTH through Dovecot, RFC
// 4954) on 127.0.0.1, runs the mailbot binary against them as a separate
// process that can be killed with SIGKILL, and talks to the researcher's
// side with go-imap, go-smtp and GnuPG (OpenPGP, RFC 4880; PGP/MIME, RFC
// 3156).
//
// The tests carry the build tag e2e and run with `make e2e`, which installs
// Dovecot, Postfix and GnuPG from Debian's packages and must run as root.
// They print their results on lines starting "e2e: ".
package e2e
