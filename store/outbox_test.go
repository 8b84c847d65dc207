package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestEnqueue(t *testing.T) {
	s := openTest(t)
	c := newCase(t, s, "a@example.org")
	o := &OutboxItem{
		CaseID: c.ID, Kind: "ack", MessageID: "<ack-1@bot.example.com>",
		From: "security@example.com", To: []string{"a@example.org"},
		Raw: []byte("Subject: ack\r\n\r\nthanks\r\n"), State: "sent", // State is forced to queued
	}
	update(t, s, func(tx *Tx) error { return tx.Enqueue(o) })
	if o.ID != 1 || o.State != OutboxQueued || !o.Created.Equal(t0) || !o.NextAttempt.Equal(t0) || o.MessageID != "ack-1@bot.example.com" {
		t.Errorf("Enqueue() = %+v, want id 1, queued, created and next attempt %v", o, t0)
	}
	view(t, s, func(tx *Tx) error {
		got, err := tx.OutboxItem(o.ID)
		if err != nil {
			t.Fatalf("OutboxItem() = %v", err)
		}
		if string(got.Raw) != string(o.Raw) || got.Kind != "ack" || got.From != o.From || !slices.Equal(got.To, o.To) || got.CaseID != c.ID {
			t.Errorf("OutboxItem() = %+v, want %+v", got, o)
		}
		// Replies to the ack thread to the case.
		if cid, ok := tx.CaseByMessageID("ack-1@bot.example.com"); !ok || cid != c.ID {
			t.Errorf("CaseByMessageID(ack) = %d, %v, want %d", cid, ok, c.ID)
		}
		if _, err := tx.OutboxItem(99); !errors.Is(err, ErrOutboxNotFound) {
			t.Errorf("OutboxItem(99) = %v, want ErrOutboxNotFound", err)
		}
		return nil
	})
	for _, tc := range []struct {
		name string
		o    OutboxItem
		want error
	}{
		{"no recipients", OutboxItem{Raw: []byte("x")}, nil},
		{"no raw", OutboxItem{To: []string{"a@x"}}, nil},
		{"no case", OutboxItem{CaseID: 99, To: []string{"a@x"}, Raw: []byte("x")}, ErrCaseNotFound},
	} {
		err := s.Update(func(tx *Tx) error { return tx.Enqueue(&tc.o) })
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: Enqueue() = %v, want an error (%v)", tc.name, err, tc.want)
		}
	}
}

func dueIDs(t *testing.T, s *Store, now time.Time, limit int) []uint64 {
	t.Helper()
	var ids []uint64
	view(t, s, func(tx *Tx) error {
		items, err := tx.DueOutbox(now, limit)
		if err != nil {
			return err
		}
		for _, o := range items {
			if o.State != OutboxQueued || o.NextAttempt.After(now) || len(o.Raw) == 0 {
				t.Errorf("DueOutbox() returned %+v", o)
			}
			ids = append(ids, o.ID)
		}
		return nil
	})
	return ids
}

func TestOutboxDueOrder(t *testing.T) {
	s := openTest(t)
	// Items enqueued in one order, due in another; ties by id.
	offsets := []time.Duration{5 * time.Minute, -time.Hour, 0, time.Hour, 0, -time.Second}
	update(t, s, func(tx *Tx) error {
		for _, off := range offsets {
			o := &OutboxItem{To: []string{"a@x"}, Raw: []byte("m"), NextAttempt: t0.Add(off)}
			if err := tx.Enqueue(o); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		now   time.Time
		limit int
		want  []uint64
	}{
		{t0, 0, []uint64{2, 6, 3, 5}},
		{t0, 2, []uint64{2, 6}},
		{t0.Add(-2 * time.Hour), 0, nil},
		{t0.Add(5 * time.Minute), 0, []uint64{2, 6, 3, 5, 1}},
		{t0.Add(24 * time.Hour), -1, []uint64{2, 6, 3, 5, 1, 4}},
	}
	for _, tc := range tests {
		if got := dueIDs(t, s, tc.now, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("DueOutbox(%v, %d) = %v, want %v", tc.now, tc.limit, got, tc.want)
		}
	}
	view(t, s, func(tx *Tx) error {
		if next, ok := tx.NextDue(); !ok || !next.Equal(t0.Add(-time.Hour)) {
			t.Errorf("NextDue() = %v, %v, want %v", next, ok, t0.Add(-time.Hour))
		}
		return nil
	})
}

// PutOutbox keeps the due index right: a retry moves the item, a sent or
// failed item leaves the index.
func TestPutOutboxIndex(t *testing.T) {
	s := openTest(t)
	var items []*OutboxItem
	update(t, s, func(tx *Tx) error {
		for i := range 3 {
			o := &OutboxItem{To: []string{"a@x"}, Raw: []byte{'m', byte('0' + i)}, NextAttempt: t0.Add(time.Duration(i) * time.Minute)}
			if err := tx.Enqueue(o); err != nil {
				return err
			}
			items = append(items, o)
		}
		return nil
	})
	// Item 1 failed temporarily: retry in an hour. Item 2 was sent.
	update(t, s, func(tx *Tx) error {
		o, err := tx.OutboxItem(items[0].ID)
		if err != nil {
			return err
		}
		o.Attempts++
		o.LastError = "421 try later"
		o.NextAttempt = t0.Add(time.Hour)
		o.Raw = nil // nil keeps the stored bytes
		if err := tx.PutOutbox(o); err != nil {
			return err
		}
		o2, err := tx.OutboxItem(items[1].ID)
		if err != nil {
			return err
		}
		o2.State, o2.SentAt = OutboxSent, t0
		return tx.PutOutbox(o2)
	})
	if got, want := dueIDs(t, s, t0.Add(30*time.Minute), 0), []uint64{3}; !slices.Equal(got, want) {
		t.Errorf("DueOutbox(+30m) = %v, want %v", got, want)
	}
	if got, want := dueIDs(t, s, t0.Add(2*time.Hour), 0), []uint64{3, 1}; !slices.Equal(got, want) {
		t.Errorf("DueOutbox(+2h) = %v, want %v", got, want)
	}
	view(t, s, func(tx *Tx) error {
		o, _ := tx.OutboxItem(items[0].ID)
		if o.Attempts != 1 || o.LastError != "421 try later" || string(o.Raw) != "m0" {
			t.Errorf("OutboxItem(1) = %+v, want 1 attempt, the error and raw m0", o)
		}
		if next, ok := tx.NextDue(); !ok || !next.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("NextDue() = %v, %v, want %v", next, ok, t0.Add(2*time.Minute))
		}
		return nil
	})
	// Everything done: nothing due.
	update(t, s, func(tx *Tx) error {
		for _, id := range []uint64{1, 3} {
			o, err := tx.OutboxItem(id)
			if err != nil {
				return err
			}
			o.State = OutboxFailed
			if err := tx.PutOutbox(o); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx *Tx) error {
		if next, ok := tx.NextDue(); ok {
			t.Errorf("NextDue() = %v, true, want nothing queued", next)
		}
		var states []string
		tx.Outbox(func(o *OutboxItem) bool { states = append(states, o.State); return true })
		if want := []string{OutboxFailed, OutboxSent, OutboxFailed}; !slices.Equal(states, want) {
			t.Errorf("Outbox() states = %v, want %v", states, want)
		}
		var n int
		tx.Outbox(func(o *OutboxItem) bool { n++; return false })
		if n != 1 {
			t.Errorf("Outbox() called fn %d times after it returned false", n)
		}
		return nil
	})
	if got := dueIDs(t, s, t0.Add(48*time.Hour), 0); len(got) != 0 {
		t.Errorf("DueOutbox() = %v, want none", got)
	}
	// Requeue a failed item by hand (admin "retry").
	update(t, s, func(tx *Tx) error {
		o, _ := tx.OutboxItem(3)
		o.State, o.NextAttempt = OutboxQueued, t0
		return tx.PutOutbox(o)
	})
	if got, want := dueIDs(t, s, t0, 0), []uint64{3}; !slices.Equal(got, want) {
		t.Errorf("DueOutbox() after requeue = %v, want %v", got, want)
	}
	if err := s.Update(func(tx *Tx) error { return tx.PutOutbox(&OutboxItem{ID: 42}) }); !errors.Is(err, ErrOutboxNotFound) {
		t.Errorf("PutOutbox(42) = %v, want ErrOutboxNotFound", err)
	}
}

// TestQueued: Queued counts the items in state queued, whatever happened
// to the others.
func TestQueued(t *testing.T) {
	s := openTest(t)
	queued := func() (n int) {
		view(t, s, func(tx *Tx) error { n = tx.Queued(); return nil })
		return n
	}
	if n := queued(); n != 0 {
		t.Errorf("Queued() = %d on an empty store, want 0", n)
	}
	update(t, s, func(tx *Tx) error {
		for i := range 3 {
			if err := tx.Enqueue(&OutboxItem{To: []string{"a@x"}, Raw: []byte{'m', byte('0' + i)}, NextAttempt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	// One retried later (still queued), one sent, one failed.
	update(t, s, func(tx *Tx) error {
		for id, state := range map[uint64]string{1: OutboxQueued, 2: OutboxSent, 3: OutboxFailed} {
			o, err := tx.OutboxItem(id)
			if err != nil {
				return err
			}
			o.State, o.NextAttempt = state, t0.Add(time.Hour)
			if err := tx.PutOutbox(o); err != nil {
				return err
			}
		}
		return nil
	})
	var want int
	view(t, s, func(tx *Tx) error {
		return tx.OutboxMeta(func(o *OutboxItem) bool {
			if o.State == OutboxQueued {
				want++
			}
			return true
		})
	})
	if n := queued(); n != 1 || n != want {
		t.Errorf("Queued() = %d, want 1 (%d items are queued)", n, want)
	}
}

// caseOutboxIDs lists CaseOutbox(caseID) by id.
func caseOutboxIDs(t *testing.T, s *Store, caseID uint64) []uint64 {
	t.Helper()
	var ids []uint64
	view(t, s, func(tx *Tx) error {
		return tx.CaseOutbox(caseID, func(o *OutboxItem) bool {
			if o.CaseID != caseID || o.Raw != nil {
				t.Errorf("CaseOutbox(%d) gave %+v, want an item of that case without Raw", caseID, o)
			}
			ids = append(ids, o.ID)
			return true
		})
	})
	return ids
}

// TestCaseOutbox: a case's outgoing mail is found by its case, in queue
// order, whatever happens to its state, and an item stays on its case.
func TestCaseOutbox(t *testing.T) {
	s := openTest(t)
	a := newCase(t, s, "a@example.org")
	b := newCase(t, s, "b@example.org")
	enqueue := func(caseID uint64) *OutboxItem {
		t.Helper()
		o := &OutboxItem{CaseID: caseID, Kind: "ack", To: []string{"x@example.org"}, Raw: []byte("Subject: x\r\n\r\nx\r\n")}
		update(t, s, func(tx *Tx) error { return tx.Enqueue(o) })
		return o
	}
	a1, b1, _, a2 := enqueue(a.ID), enqueue(b.ID), enqueue(0), enqueue(a.ID)
	a2.State, a2.SentAt, a2.CaseID = OutboxSent, t0, b.ID // the new case id is ignored
	update(t, s, func(tx *Tx) error { return tx.PutOutbox(a2) })
	if got, want := caseOutboxIDs(t, s, a.ID), []uint64{a1.ID, a2.ID}; !slices.Equal(got, want) {
		t.Errorf("CaseOutbox(a) = %v, want %v", got, want)
	}
	if got, want := caseOutboxIDs(t, s, b.ID), []uint64{b1.ID}; !slices.Equal(got, want) {
		t.Errorf("CaseOutbox(b) = %v, want %v", got, want)
	}
	if got := caseOutboxIDs(t, s, 99); got != nil {
		t.Errorf("CaseOutbox(99) = %v, want none", got)
	}
	view(t, s, func(tx *Tx) error {
		o, err := tx.OutboxItem(a2.ID)
		if err != nil || o.CaseID != a.ID || o.State != OutboxSent {
			t.Errorf("OutboxItem(a2) = %+v, %v; want sent, still on case %d", o, err, a.ID)
		}
		n := 0
		tx.CaseOutbox(a.ID, func(*OutboxItem) bool { n++; return false })
		if n != 1 {
			t.Errorf("CaseOutbox(a) went on after fn returned false: %d calls", n)
		}
		return nil
	})
}

func TestCaseSentTo(t *testing.T) {
	s := openTest(t)
	c := newCase(t, s, "ada@research.example")
	update(t, s, func(tx *Tx) error {
		if err := tx.Enqueue(&OutboxItem{CaseID: c.ID, Kind: "team", MessageID: "<n1@bot.example>", To: []string{"Ann@Example.org"}, Raw: []byte("x")}); err != nil {
			return err
		}
		// The reporter's own mail is on the case too, and its id is no secret.
		return tx.AddMessage(&Message{CaseID: c.ID, Direction: "in", MessageID: "r1@research.example", From: "ada@research.example"})
	})
	view(t, s, func(tx *Tx) error {
		for _, tc := range []struct {
			msgid, addr string
			want        bool
		}{
			{"n1@bot.example", "ann@example.org", true},
			{"<n1@bot.example>", "ANN@example.org", true},
			{"n1@bot.example", "bob@example.org", false},
			{"r1@research.example", "ann@example.org", false},
			{"unknown@bot.example", "ann@example.org", false},
		} {
			id, ok := tx.CaseSentTo(tc.msgid, tc.addr)
			if ok != tc.want || (ok && id != c.ID) {
				t.Errorf("CaseSentTo(%q, %q) = %d, %v, want %v", tc.msgid, tc.addr, id, ok, tc.want)
			}
		}
		return nil
	})
}
