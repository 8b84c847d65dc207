package store

import (
	"bytes"
	"fmt"
	"time"
)

// SentMark records that a reminder (or digest, or note) with this key was
// sent, so a restart neither repeats nor skips it.
type SentMark struct {
	Key string
	At  time.Time
}

// MarkSent records key as sent for caseID at. Case 0 holds marks that
// belong to no case (digests, summaries).
func (tx *Tx) MarkSent(caseID uint64, key string, at time.Time) error {
	b, err := tx.bucket(bReminders)
	if err != nil {
		return err
	}
	if key == "" || len(key) > 1000 {
		return fmt.Errorf("store: reminder key of %d bytes", len(key))
	}
	return b.Put(append(itob(caseID), key...), []byte(at.UTC().Format(time.RFC3339Nano)))
}

// SentMarks lists the marks of caseID in key order.
func (tx *Tx) SentMarks(caseID uint64) ([]SentMark, error) {
	b, err := tx.bucket(bReminders)
	if err != nil {
		return nil, err
	}
	prefix := itob(caseID)
	var out []SentMark
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		at, _ := time.Parse(time.RFC3339Nano, string(v))
		out = append(out, SentMark{Key: string(k[len(prefix):]), At: at})
	}
	return out, nil
}

// SeenReplay reports whether a team mail's replay key was seen before.
func (tx *Tx) SeenReplay(key string) bool {
	b, err := tx.bucket(bReplays)
	if err != nil {
		return false
	}
	return b.Get([]byte(key)) != nil
}

// RecordReplay remembers a replay key. Keys older than keep are pruned
// opportunistically (a few per call), so the bucket stays bounded.
func (tx *Tx) RecordReplay(key string, at time.Time, keep time.Duration) error {
	b, err := tx.bucket(bReplays)
	if err != nil {
		return err
	}
	if key == "" || len(key) > 1000 {
		return fmt.Errorf("store: replay key of %d bytes", len(key))
	}
	c := b.Cursor()
	n := 0
	for k, v := c.First(); k != nil && n < 8; k, v = c.Next() {
		if t, err := time.Parse(time.RFC3339Nano, string(v)); err == nil && at.Sub(t) > keep {
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
	}
	return b.Put([]byte(key), []byte(at.UTC().Format(time.RFC3339Nano)))
}
