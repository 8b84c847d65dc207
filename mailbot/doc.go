// Package mailbot is the daemon: it wires the parts around one store and
// owns their lifecycle. It keeps Options, New and Run, the two contexts
// ("stop taking new work", "abort now") and the goroutines of the parts,
// each of which recovers its panics:
//
//	intake   mailbot/inbox's IMAP session, feeding the message line (mailbot/intake)
//	sender   mailbot/outbox, delivering what the outbox holds
//	jobs     mailbot/jobs: reminders, digests, health, alarms, self-test, housekeeping
//	health   the intake's events to the health monitor (mailbot/health)
//
// and the one place where a commit causes what follows it: the store's
// commit hook (store.Store.OnCommit) wakes the sender when mail was queued
// and pokes the scheduler when what it plans from changed, whoever
// committed (the line, a team command, the jobs, an admin command). The
// rest of its exported API delegates to the parts. It holds no rule about
// mail: those live in the parts and the leaves below them.
//
// Every message follows one straight line, read top to bottom in
// mailbot/intake:
//
//	spool raw bytes (size cap, SHA-256) -> already seen? -> parse (limits)
//	-> decrypt/verify (OpenPGP) -> classify -> thread -> decide
//	-> ONE store transaction: message, case change, events, outbox items and
//	   the IMAP watermark (mailbox, UIDVALIDITY, UID)
//	-> after the commit, best effort: \Seen or a move.
//
// Exactly once falls out of that transaction: a crash before the commit
// means the message is fetched again and processed from scratch, a crash
// after it finds the hash already stored. The acknowledgement is written to
// the outbox in the same transaction, so it is never lost and never invented;
// the sender may send it twice only if it dies between the SMTP 250 and
// marking the item sent, and then with the same Message-ID. A batch of
// messages is one transaction by the same argument, and a single message is
// a batch of one.
//
// Mail is untrusted input: parsing is bounded (mailbot/parse), anything that
// cannot be parsed is quarantined with its reason and its raw bytes kept,
// a panic while handling one message is recovered and counted, and after
// Limits.MaxTries failures the message is quarantined so the next one flows.
// Robots (RFC 3834 and friends, see mailbot/triage) are never answered, and
// nothing from incoming mail reaches an outgoing header unsanitised
// (mailbot/outmail).
package mailbot
