package store

import (
	"testing"
	"time"
)

func TestSentMarks(t *testing.T) {
	s := openTest(t)
	at := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	err := s.Update(func(tx *Tx) error {
		for _, m := range []struct {
			id  uint64
			key string
		}{{1, "remind:b"}, {1, "remind:a"}, {2, "remind:c"}, {0, "digest:2026-03-03"}} {
			if err := tx.MarkSent(m.id, m.key, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		got, _ := tx.SentMarks(1)
		if len(got) != 2 || got[0].Key != "remind:a" || got[1].Key != "remind:b" || !got[0].At.Equal(at) {
			t.Errorf("SentMarks(1) = %+v, want remind:a, remind:b at %v", got, at)
		}
		if got, _ := tx.SentMarks(0); len(got) != 1 {
			t.Errorf("SentMarks(0) = %+v, want the digest mark", got)
		}
		return nil
	})
}

func TestReplays(t *testing.T) {
	s := openTest(t)
	at := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	s.Update(func(tx *Tx) error {
		if tx.SeenReplay("k1") {
			t.Errorf("SeenReplay(k1) = true before RecordReplay")
		}
		tx.RecordReplay("k1", at, time.Hour)
		if !tx.SeenReplay("k1") {
			t.Errorf("SeenReplay(k1) = false after RecordReplay")
		}
		tx.RecordReplay("k2", at.Add(2*time.Hour), time.Hour) // prunes k1
		if tx.SeenReplay("k1") {
			t.Errorf("k1 older than keep was not pruned")
		}
		return nil
	})
}
