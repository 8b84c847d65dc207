// Package store owns all persistent state of mailbot: one bbolt database file
// plus a directory of raw messages beside it. Nothing outside this package
// imports bbolt; callers use the typed methods on Store and Tx.
//
// # Files
//
//	<path>           the bbolt database (0600), flock'ed while open
//	<path>.raw/      raw mail (0700), content-addressed by SHA-256:
//	                 <path>.raw/<first 2 hex>/<64 hex>, written through a
//	                 temp file (.spool-*) that is fsynced and renamed, so a
//	                 file under its hash name is always complete. Big
//	                 messages are streamed, never buffered, and never sit in bbolt.
//	                 Outgoing mail that left the queue (sent or failed) is
//	                 moved here too (OutboxItem.RawHash).
//
// # Bucket layout
//
// Values are records: JSON-encoded structs (new fields can be added freely),
// compressed as Zstandard frames against a fixed dictionary since schema 4
// (codec.go; older plain JSON records are read as they are). Integers in
// keys are 8-byte big-endian (written id8 below), so bbolt's byte order is
// numeric order. Times in keys are 12 bytes (time12): the Unix seconds with the
// sign bit flipped, big-endian, then 4 bytes of nanoseconds; they sort by time.
//
//	meta        "schema" -> decimal schema version (see SchemaVersion, migrations)
//	settings    key -> value                              Meta, SetMeta
//	cases       id8 -> Case                               sequence: case ids
//	caseref     lowercase Ref -> id8                      CaseByRef
//	refseq      decimal year ("2026") -> uint64 (8 bytes)  per-year Ref counter
//	reporter    lowercase address 0x00 id8 -> ""          CasesByAddress
//	msgs        id8 -> Message                            sequence: message ids
//	msghash     sha256 (32 raw bytes) -> message id8      SeenHash, MessageByHash
//	msgid       sha256(Message-ID, no <>)[:16] -> case id8  CaseByMessageID (schema 4; the id itself before)
//	casemsgs    case id8 message id8 -> ""                Messages
//	events      case id8 seq id8 -> Event                 sequence: event seq
//	outbox      id8 -> OutboxItem (without Raw)           sequence: outbox ids
//	outraw      id8 -> raw bytes of the outgoing mail     queued items; PutOutbox moves the rest to <path>.raw/
//	outdue      time12(NextAttempt) id8 -> ""             queued items only: DueOutbox, NextDue
//	mailbox     mailbox name -> MailboxState              IMAP UID watermark (and UIDs held on the server)
//	quarantine  id8 -> Quarantined                        sequence: quarantine ids
//	qhash       sha256 (32 raw bytes) -> quarantine id8   SeenHash
//	failures    source key -> {Count, Reason, Last}       Failures, RecordFailure
//	sends       key 0x00 time12 seq8 -> ""                RecentSends, RecordSend
//	pgpkeys     lowercase address -> armored public key   PutKey, Key
//	            0x00 "pending" 0x00 address 0x00 fingerprint -> PendingKey   PutPendingKey, PendingKeys
//	reminders   case id8 key -> time (RFC 3339)           MarkSent, SentMarks (schema 2; case 0: digests)
//	replays     key -> time (RFC 3339)                    SeenReplay, RecordReplay (schema 2)
//	open        case id8 -> ""                            cases not Closed: OpenCases (schema 3)
//	caseout     case id8 outbox id8 -> ""                 CaseOutbox (schema 5)
//	rawdone     case id8 -> ""                            closed cases with no raw mail left: PurgeRaw skips them (schema 5)
//
// Buckets whose keys arrive in (nearly) increasing order are packed to 95%
// (bbolt's FillPercent; see packed), the others split at bbolt's default
// half. bbolt runs with NoFreelistSync: a commit does not rewrite the list of
// free pages (it grows with the file and was a large part of every commit);
// a read-write Open rebuilds it by walking the file instead.
//
// Composite keys that start with a variable-length string (reporter, sends)
// are matched by prefix and by exact length, so a string that contains 0x00
// cannot alias another one.
//
// # Exactly once
//
// All writes happen in Update, one serialized bbolt read-write transaction
// that either commits as a whole (two fdatasyncs) or leaves nothing behind.
// The daemon processes a message by spooling the raw bytes first (SpoolRaw,
// idempotent, content-addressed) and then, in ONE Update, writes the Message,
// the new or updated Case, its Events, the Outbox items to send and the
// mailbox UID watermark. A crash before the commit leaves the watermark where
// it was, so the message is fetched again; SeenHash then tells a message that
// did get committed from one that did not. Outgoing mail is sent from the
// outbox after the commit, and its state is updated in a later Update.
//
// # Schema
//
// The "meta" bucket records the schema version. migrations is append-only:
// migrations[i] upgrades version i to i+1, and Open runs the missing ones in a
// single transaction. A file written by a newer mailbot is refused with
// ErrNewerSchema.
package store
