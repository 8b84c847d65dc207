package store

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"
)

// t0 is the fixed clock of the tests.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// openTest opens a store in a fresh temp dir with a fixed clock and closes it
// at the end of the test.
func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "mailbot.db"), Options{NoSync: true, Now: fixedClock(t0)})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func update(t *testing.T, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update() = %v", err)
	}
}

func view(t *testing.T, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View() = %v", err)
	}
}

// sum returns the lowercase hex SHA-256 of s.
func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// newCase creates a case with the given reporter and returns it.
func newCase(t *testing.T, s *Store, reporter string) *Case {
	t.Helper()
	c := &Case{Subject: "XSS in " + reporter, Reporter: reporter}
	update(t, s, func(tx *Tx) error { return tx.NewCase(c) })
	return c
}
