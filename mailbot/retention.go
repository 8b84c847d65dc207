package mailbot

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"mailbot/mailbot/remind"
	"mailbot/store"
)

// purgeChunk is how many cases one retention transaction looks at: the
// write lock is held for tens of milliseconds, not for a scan of every case.
const purgeChunk = 500

// PurgeRaw removes the raw mail of cases closed and untouched for
// retention_days, recording it on each case (store.PurgeRaw); the files go
// after each commit. It works through the cases purgeChunk at a time, each
// chunk its own transaction, and stops between chunks when ctx is done. It
// returns how many files were removed.
func (d *Daemon) PurgeRaw(ctx context.Context, now time.Time) (int, error) {
	if d.cfg.RetentionDays <= 0 {
		return 0, nil
	}
	before := now.AddDate(0, 0, -d.cfg.RetentionDays)
	closed := func(c *store.Case) bool { return !remind.Open(c.Status) && c.Updated.Before(before) }
	removed := 0
	for from := uint64(0); ; {
		var hashes []string
		var next uint64
		err := d.store.Update(func(tx *store.Tx) error {
			var err error
			hashes, next, err = tx.PurgeRaw(before, closed, from, purgeChunk)
			return err
		})
		if err != nil {
			return removed, fmt.Errorf("retention: %w", err)
		}
		for _, h := range hashes {
			if err := d.store.RemoveRaw(h); err != nil {
				d.log.Warn("retention: remove raw", "err", err)
			}
		}
		removed += len(hashes)
		if next == 0 || ctx.Err() != nil {
			break
		}
		from = next
	}
	if removed > 0 {
		d.log.Info("retention: purged raw mail of closed cases", "messages", removed)
	}
	return removed, nil
}

// PruneSends drops rate-limit entries past their window (store.PruneSends):
// a reporter who wrote once must not leave an entry behind for ever.
func (d *Daemon) PruneSends(now time.Time) (int, error) {
	var n int
	err := d.store.Update(func(tx *store.Tx) (err error) {
		n, err = tx.PruneSends(now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	return n, nil
}

// runRetention does the housekeeping once at start and then daily: old
// rate-limit entries always, raw mail of closed cases when retention_days
// is set.
func (d *Daemon) runRetention(ctx context.Context) error {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		func() {
			defer func() {
				if p := recover(); p != nil {
					d.log.Error("panic in retention", "err", p, "stack", string(debug.Stack()))
				}
			}()
			if _, err := d.PruneSends(d.now()); err != nil {
				d.log.Error("retention", "err", err)
			}
			if _, err := d.PurgeRaw(ctx, d.now()); err != nil {
				d.log.Error("retention", "err", err)
			}
		}()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
