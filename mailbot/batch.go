package mailbot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"mailbot/mailbot/internal/workers"
	"mailbot/mailbot/outmail"
	"mailbot/store"
)

// item is one message of a batch: spooled (blob), or left on the server
// because it is over the size limit (tooLarge, with size).
type item struct {
	src      Source
	blob     store.Blob
	tooLarge bool
}

// bigMessage is the size above which a message is examined alone, so that
// two large messages never sit in memory side by side.
const bigMessage = 1 << 20

// processBatch handles items (one FETCH batch, in UID order) with a group
// commit: the messages are examined in parallel, then recorded in ONE
// transaction together with the watermark, which costs two disk flushes for
// the batch instead of two per message. It returns how many items from the
// first are committed; fewer than all with a nil error means "call again with
// the rest" (the batch was cut). A non-nil error is about items[n], as
// inbox.Handler.Process says.
//
// The exactly-once argument is the single-message one: every item's case,
// acknowledgement, events and the watermark past it commit together or not
// at all, and a crash before the commit leaves every item unprocessed.
func (d *Daemon) processBatch(ctx context.Context, items []item) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	if len(items) == 1 {
		return d.processItem(ctx, items[0])
	}
	if err := ctx.Err(); err != nil {
		return 0, &TemporaryError{Err: err}
	}
	start := d.now()

	// Which messages are new: a duplicate needs no parsing.
	seen := make([]bool, len(items))
	if err := d.store.View(func(tx *store.Tx) error {
		for i, it := range items {
			if !it.tooLarge {
				_, seen[i] = tx.SeenHash(it.blob.Hash)
			}
		}
		return nil
	}); err != nil {
		return 0, &TemporaryError{Err: err}
	}

	// Examine in parallel: parse, classify, decrypt, authenticate team mail.
	ins := make([]*incoming, len(items))
	errs := make([]error, len(items))
	examine := func(i int) {
		defer func() {
			if p := recover(); p != nil {
				d.log.Error("panic while processing", "hash", items[i].blob.Hash[:12], "err", p, "stack", string(debug.Stack()))
				errs[i] = fmt.Errorf("mailbot: panic: %v", p)
			}
		}()
		ins[i], errs[i] = d.examine(items[i].blob)
	}
	var small, big []int
	for i, it := range items {
		switch {
		case it.tooLarge || seen[i]:
		case it.blob.Size > bigMessage:
			big = append(big, i)
		default:
			small = append(small, i)
		}
	}
	workers.Each(len(small), func(k int) { examine(small[k]) })
	for _, i := range big {
		examine(i)
	}

	// The batch ends before the first message that could not be examined
	// (it goes alone, through the failure counting of Process), and before
	// a signed message whose sender offered a key earlier in the batch: its
	// signature is checked against keys known before the batch, so it must
	// wait until that key is committed.
	cut := len(items)
	offered := map[string]bool{}
	for i := range items {
		if errs[i] != nil {
			cut = i
			break
		}
		in := ins[i]
		if in == nil {
			continue
		}
		if in.from != "" && offered[in.from] && in.crypto.signed {
			cut = i
			break
		}
		if len(in.crypto.keys) > 0 && in.from != "" {
			offered[in.from] = true
		}
	}
	if cut == 0 {
		return d.processItem(ctx, items[0])
	}
	items, ins = items[:cut], ins[:cut]

	results := make([]Result, len(items))
	failedAt := -1
	err := d.store.Update(func(tx *store.Tx) error {
		q := d.out.NewQueue()
		d.seals.Store(tx, q)
		defer d.seals.Delete(tx)
		for i, it := range items {
			results[i] = Result{}
			q.SetOwner(i)
			if err := d.recordSafely(tx, it, ins[i], &results[i]); err != nil {
				var fe *faultError
				if !errors.As(err, &fe) {
					failedAt = i
				}
				return err
			}
		}
		if i, err := q.Flush(tx); err != nil {
			failedAt = i
			return err
		}
		return nil
	})
	if err != nil {
		switch {
		case failedAt < 0:
			// A simulated crash (tests), or the commit itself failed
			// (disk full): nothing of the batch was written.
			return 0, &TemporaryError{Err: fmt.Errorf("commit: %w", err)}
		case failedAt > 0:
			// Everything before the failing message is fine: commit it
			// and let the failing one go alone.
			return d.processBatch(ctx, items[:failedAt])
		default:
			return d.processItem(ctx, items[0])
		}
	}
	took := d.now().Sub(start)
	for i, res := range results {
		it := items[i]
		if it.tooLarge {
			continue
		}
		d.log.Info("processed", "hash", it.blob.Hash[:12], "mailbox", it.src.Mailbox, "uid", it.src.UID,
			"action", res.Action, "case", res.Case, "class", res.Class, "took", took, "batch", len(items))
		d.count(res, took)
	}
	return len(items), nil
}

// recordItem writes one message inside tx, with the watermark past it:
// what the single-message path and each message of a batch commit.
func (d *Daemon) recordItem(tx *store.Tx, it item, in *incoming, res *Result) error {
	if it.tooLarge {
		return d.recordTooLarge(tx, it.src, it.blob.Size)
	}
	if id, ok := tx.SeenHash(it.blob.Hash); ok || in == nil {
		*res = Result{Action: ActionDuplicate, Message: id}
		return d.advance(tx, it.src)
	}
	if err := d.record(tx, it.src, it.blob, in, res); err != nil {
		return err
	}
	if err := tx.ClearFailures(it.src.key(it.blob.Hash)); err != nil {
		return err
	}
	if err := d.advance(tx, it.src); err != nil {
		return err
	}
	// The last point before the commit: a crash here must leave nothing.
	return d.fault("before-commit")
}

// recordSafely is recordItem with a panic turned into an error, so that a
// bad message fails only itself within a batch.
func (d *Daemon) recordSafely(tx *store.Tx, it item, in *incoming, res *Result) (err error) {
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("panic while processing", "hash", it.blob.Hash[:12], "err", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("mailbot: panic: %v", p)
		}
	}()
	return d.recordItem(tx, it, in, res)
}

// processItem handles a single item the way Process always has.
func (d *Daemon) processItem(ctx context.Context, it item) (int, error) {
	if it.tooLarge {
		if err := d.tooLarge(it.src, it.blob.Size); err != nil {
			return 0, err
		}
		return 1, nil
	}
	if _, err := d.Process(ctx, it.src, it.blob); err != nil {
		return 0, err
	}
	return 1, nil
}

// IngestBatch spools rs and processes them as one intake batch, the way the
// IMAP intake handles a FETCH batch: one flush for the spooled bytes, then
// the group commit. It returns how many were committed, from the first.
func (d *Daemon) IngestBatch(ctx context.Context, rs []io.Reader) (int, error) {
	sp := d.store.NewSpool()
	defer sp.Discard()
	items := make([]item, 0, len(rs))
	for _, r := range rs {
		blob, err := sp.Add(r, d.cfg.Limits.MaxMessageBytes)
		if errors.Is(err, store.ErrTooLarge) {
			return 0, err
		}
		if err != nil {
			return 0, &TemporaryError{Err: fmt.Errorf("spool: %w", err)}
		}
		items = append(items, item{blob: blob})
	}
	if err := sp.Commit(); err != nil {
		return 0, &TemporaryError{Err: fmt.Errorf("spool: %w", err)}
	}
	done := 0
	for done < len(items) {
		n, err := d.processBatch(ctx, items[done:])
		done += n
		if err != nil {
			if IsTemporary(err) {
				return done, err
			}
			done++ // recorded (quarantined) by Process
		}
	}
	return done, nil
}

// sealQueue is the outgoing mail queue of the batch transaction tx, nil
// outside a batch.
func (d *Daemon) sealQueue(tx *store.Tx) *outmail.Queue {
	if q, ok := d.seals.Load(tx); ok {
		return q.(*outmail.Queue)
	}
	return nil
}
