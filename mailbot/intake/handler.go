package intake

import (
	"context"
	"fmt"
	"io"

	"mailbot/mailbot/inbox"
	"mailbot/store"
)

// handler adapts the line to inbox.Handler. It is used by the intake
// session's goroutine only.
type handler struct {
	l     *Line
	spool *store.Spool // this FETCH batch, written but not yet flushed
}

func (h *handler) Watermark(mailbox string) (uidValidity, lastUID uint32, err error) {
	err = h.l.store.View(func(tx *store.Tx) error {
		st, err := tx.MailboxState(mailbox)
		uidValidity, lastUID = st.UIDValidity, st.LastUID
		return err
	})
	return uidValidity, lastUID, err
}

// Spool writes the message without waiting for the disk: Process flushes
// the whole batch at once before it commits anything that refers to it.
func (h *handler) Spool(r io.Reader, size int64) (string, error) {
	if h.spool == nil {
		h.spool = h.l.store.NewSpool()
	}
	blob, err := h.spool.Add(r, h.l.cfg.Limits.MaxMessageBytes)
	if err != nil {
		return "", &TemporaryError{Err: err}
	}
	return blob.Hash, nil
}

func (h *handler) Process(ctx context.Context, ds []inbox.Delivery) (int, error) {
	if h.spool != nil && h.spool.Len() > 0 {
		// Durable before anything refers to it; on failure (disk full)
		// the batch is fetched again later.
		if err := h.spool.Commit(); err != nil {
			h.spool.Discard()
			return 0, &TemporaryError{Err: err}
		}
	}
	items := make([]item, len(ds))
	for i, del := range ds {
		items[i] = item{
			src:      Source{Mailbox: del.Mailbox, UIDValidity: del.UIDValidity, UID: del.UID},
			blob:     store.Blob{Hash: del.Token, Size: del.Size},
			tooLarge: del.TooLarge,
		}
	}
	n, _, err := h.l.run(ctx, items)
	if n > 0 {
		// Committed: a crash from here on must neither lose nor repeat
		// anything (the after-commit action is re-applied at resync).
		if ferr := h.l.Fault("after-commit"); ferr != nil {
			return 0, ferr
		}
	}
	return n, err
}

// recordTooLarge records a message that was not downloaded: it stays on
// the server, and the quarantine says where.
func (l *Line) recordTooLarge(tx *store.Tx, src Source, size int64) error {
	if err := tx.Quarantine(&store.Quarantined{Size: size, Source: src.key(""), Time: l.now(),
		Reason: fmt.Sprintf("%d bytes is over the %d byte limit: left on the server", size, l.cfg.Limits.MaxMessageBytes)}); err != nil {
		return err
	}
	return l.advance(tx, src)
}
