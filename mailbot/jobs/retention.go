package jobs

import (
	"context"
	"fmt"
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
func (j *Jobs) PurgeRaw(ctx context.Context, now time.Time) (int, error) {
	if j.Config.RetentionDays <= 0 {
		return 0, nil
	}
	before := now.AddDate(0, 0, -j.Config.RetentionDays)
	closed := func(c *store.Case) bool { return !remind.Open(c.Status) && c.Updated.Before(before) }
	removed := 0
	for from := uint64(0); ; {
		var hashes []string
		var next uint64
		err := j.Store.Update(func(tx *store.Tx) error {
			var err error
			hashes, next, err = tx.PurgeRaw(before, closed, from, purgeChunk)
			return err
		})
		if err != nil {
			return removed, fmt.Errorf("retention: %w", err)
		}
		for _, h := range hashes {
			if err := j.Store.RemoveRaw(h); err != nil {
				j.Log.Warn("retention: remove raw", "err", err)
			}
		}
		removed += len(hashes)
		if next == 0 || ctx.Err() != nil {
			break
		}
		from = next
	}
	if removed > 0 {
		j.Log.Info("retention: purged raw mail of closed cases", "messages", removed)
	}
	return removed, nil
}

// PruneSends drops rate-limit entries past their window (store.PruneSends):
// a reporter who wrote once must not leave an entry behind for ever.
func (j *Jobs) PruneSends(now time.Time) (int, error) {
	var n int
	err := j.Store.Update(func(tx *store.Tx) (err error) {
		n, err = tx.PruneSends(now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	return n, nil
}
