// Package team owns the security team's side of the mailbox: who is on the
// team and who is on duty (Roster, RotationConfig), what a team member's mail
// asks the bot to do (Parse, Help, Body, TrimQuoted), and whether a mail
// that claims to come from a team member really does (Authenticate).
//
// The package is pure: no network (DNS lookups are injected), no store, no
// clock of its own. The lead wires it into the daemon: the daemon keeps the
// replay keys Authenticate hands out and applies the parsed commands.
//
// A team command is authenticated as one signed unit: one OpenPGP message
// (signed, or signed and encrypted to the bot, decrypted by an injected
// function) that is the whole mail, else a DKIM signature that oversigns
// the fields picking the case, else the trusted Authentication-Results.
// Which case it acts on comes from signed data only (Verdict.SignedRef,
// ChooseCase).
//
// Standards: OpenPGP signatures on mail (RFC 3156 sections 5 and 6, RFC
// 9580 section 7 for cleartext signatures) through mailbot/pgp; protected
// headers (RFC 9788); DKIM (RFC 6376, oversigning as in sections 5.4.2 and
// 8.15, no l= as in section 8.2) through github.com/emersion/go-msgauth/dkim
// with relaxed identifier alignment as in DMARC (RFC 7489 section 3.1.1); Authentication-Results
// (RFC 8601) through github.com/emersion/go-msgauth/authres behind a
// CFWS-aware scanner (parseAuthres: comments, RFC 5322 section 3.2.2); CVSS v3.1 and
// v4.0 vectors through github.com/pandatix/go-cvss.
package team
