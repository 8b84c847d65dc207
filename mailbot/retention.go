package mailbot

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"mailbot/mailbot/remind"
	"mailbot/store"
)

// PurgeRaw removes the raw mail of cases closed and untouched for
// retention_days, recording it on each case (store.PurgeRaw); the files go
// after the commit. It returns how many were removed.
func (d *Daemon) PurgeRaw(now time.Time) (int, error) {
	if d.cfg.RetentionDays <= 0 {
		return 0, nil
	}
	before := now.AddDate(0, 0, -d.cfg.RetentionDays)
	var hashes []string
	err := d.store.Update(func(tx *store.Tx) error {
		var err error
		hashes, err = tx.PurgeRaw(before, func(c *store.Case) bool { return !remind.Open(c.Status) && c.Updated.Before(before) })
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	for _, h := range hashes {
		if err := d.store.RemoveRaw(h); err != nil {
			d.log.Warn("retention: remove raw", "err", err)
		}
	}
	if len(hashes) > 0 {
		d.log.Info("retention: purged raw mail of closed cases", "messages", len(hashes))
	}
	return len(hashes), nil
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
			if _, err := d.PurgeRaw(d.now()); err != nil {
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
