// Package intake is the message line: what happens to one incoming message,
// read top to bottom in one package, from the raw bytes the IMAP intake
// (mailbot/inbox, through Handler) or `mailbot ingest` spooled to the
// committed transaction.
//
//	run       one path for a batch and for a single message (a batch of one)
//	examine   raw bytes -> facts: parse (limits), classify (triage),
//	          authenticate team mail (team.Authenticate, DKIM needs DNS),
//	          decrypt and verify (OpenPGP); reads the store, never writes it
//	read      in the transaction, before anything of the message is
//	          written: the case state route needs, then what its rule
//	          needs (flood caps, the sender's acknowledgements and the
//	          global slot, keys, the team's case and what its commands
//	          name) into one state (readState)
//	decide    facts + that state -> a decision: the message record, the
//	          case to open or the case change, its events, the outgoing
//	          mail and the send log's marks; a plain function, no store;
//	          the reporter's rules and the team's (decideTeam) side by
//	          side; which rule applies is the plain function route
//	apply     writes the decision in ONE transaction with the IMAP
//	          watermark (mailbox, UIDVALIDITY, UID), the failure count
//	          cleared; the outgoing mail waits in the transaction's
//	          outmail.Queue and is sealed in parallel at its end (txn)
//	committed what a commit causes afterwards: the log line and the metrics
//
// The commit itself wakes the sender and pokes the scheduler
// (store.Store.OnCommit, wired by the root package), and the IMAP intake
// marks the committed messages \Seen or moves them (inbox.Options.AfterCommit).
//
// Exactly once: a crash before the commit leaves every message of the batch
// unprocessed and the watermark where it was, so they are fetched and
// processed again from scratch; after it, the hash says "done". A message
// that fails goes alone; a failure that is not the store's counts against it
// and after Limits.MaxTries it is quarantined, so the next one flows.
//
// It owns the reporter's and the team's rules, the researchers' keys (trust
// on first use), the flood caps and the disk limits as they apply to one
// message. It must not send mail (the outbox does), run periodic work
// (mailbot/jobs), or import the root package mailbot.
package intake
