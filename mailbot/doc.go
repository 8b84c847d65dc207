// Package mailbot is the daemon: it wires the IMAP intake (inbox), the
// message pipeline, the outbox sender and the admin commands around one store.
//
// Every message follows one straight line:
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
// marking the item sent, and then with the same Message-ID.
//
// Mail is untrusted input: parsing is bounded (mailbot/parse), anything that
// cannot be parsed is quarantined with its reason and its raw bytes kept,
// a panic while handling one message is recovered and counted, and after
// Limits.MaxTries failures the message is quarantined so the next one flows.
// Robots (RFC 3834 and friends, see mailbot/triage) are never answered, and
// nothing from incoming mail reaches an outgoing header unsanitised.
package mailbot
