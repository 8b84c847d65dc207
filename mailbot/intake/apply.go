package intake

import (
	"slices"

	"mailbot/mailbot/flood"
	"mailbot/mailbot/outmail"
	"mailbot/store"
)

// txn is the one transaction a batch is decided and applied in, with the
// outgoing mail it decided to send: the mail waits in q and is sealed and
// written to the outbox at the end of the transaction (run), every mail
// of the batch in parallel.
type txn struct {
	*store.Tx
	q      *outmail.Queue
	folded []flood.Entry // reports kept from a case by the flood caps, for the flood log (logFolded)
	// diskLow is why new reports cannot be taken now ("" when they can),
	// measured once per batch before the transaction (diskProblem): the
	// measure may walk the raw mail directory, never under the write lock.
	diskLow string
}

// advance moves the watermark of src's mailbox to src.UID. A UIDVALIDITY
// change replaces the old state: the rescan that follows is de-duplicated
// by hash.
func (l *Line) advance(tx *store.Tx, src Source) error {
	if !src.imap() {
		return nil
	}
	st, err := tx.MailboxState(src.Mailbox)
	if err != nil {
		return err
	}
	if st.UIDValidity != src.UIDValidity {
		// Held UIDs of another UIDVALIDITY mean nothing any more.
		return tx.SetMailboxState(src.Mailbox, store.MailboxState{UIDValidity: src.UIDValidity, LastUID: src.UID})
	}
	// A held message (disk low) that is taken now is held no more.
	held := slices.DeleteFunc(slices.Clone(st.Held), func(uid uint32) bool { return uid == src.UID })
	if st.LastUID >= src.UID && len(held) == len(st.Held) {
		return nil
	}
	st.LastUID, st.Held = max(st.LastUID, src.UID), held
	return tx.SetMailboxState(src.Mailbox, st)
}

// apply writes one message inside tx, with the watermark past it: a
// duplicate or a message left on the server for its size only moves the
// watermark; anything else is what decide makes of it, its failure count
// cleared.
func (l *Line) apply(tx *txn, it item, in *incoming, res *Result) error {
	if it.tooLarge {
		return l.recordTooLarge(tx.Tx, it.src, it.blob.Size)
	}
	if id, ok := tx.SeenHash(it.blob.Hash); ok || in == nil {
		*res = Result{Action: ActionDuplicate, Message: id}
		return l.advance(tx.Tx, it.src)
	}
	if err := l.decide(tx, it.src, it.blob, in, res); err != nil {
		return err
	}
	if err := tx.ClearFailures(it.src.key(it.blob.Hash)); err != nil {
		return err
	}
	if err := l.advance(tx.Tx, it.src); err != nil {
		return err
	}
	// The last point before the commit: a crash here must leave nothing.
	return l.Fault("before-commit")
}

// applySafely is apply with a panic turned into an error, so that a bad
// message fails only itself within a batch.
func (l *Line) applySafely(tx *txn, it item, in *incoming, res *Result) (err error) {
	defer l.recovered(it.blob.Hash, &err)
	return l.apply(tx, it, in, res)
}
