package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestNewCaseDefaults(t *testing.T) {
	s := openTest(t)
	c := &Case{
		Subject:      "SQLi",
		Reporter:     " Alice@Example.ORG ",
		ReporterName: "Alice",
		Participants: []string{"Alice@Example.org", "BOB@example.org"},
		Fields:       map[string]string{"severity": "high"},
		Clocks:       []Clock{{Name: "ack", State: "running", Started: t0, Due: t0.Add(72 * time.Hour)}},
	}
	orig := c.Participants
	update(t, s, func(tx *Tx) error { return tx.NewCase(c) })
	if c.ID != 1 || c.Ref != "SEC-2026-0001" || c.Status != "new" || !c.Created.Equal(t0) || !c.Updated.Equal(t0) {
		t.Errorf("NewCase() set id %d ref %s status %s created %v updated %v, want 1 SEC-2026-0001 new %v %v",
			c.ID, c.Ref, c.Status, c.Created, c.Updated, t0, t0)
	}
	if c.Reporter != "alice@example.org" {
		t.Errorf("Reporter = %q, want alice@example.org", c.Reporter)
	}
	if want := []string{"alice@example.org", "bob@example.org"}; !slices.Equal(c.Participants, want) {
		t.Errorf("Participants = %v, want %v", c.Participants, want)
	}
	if orig[0] != "Alice@Example.org" {
		t.Errorf("NewCase() modified the caller's Participants array: %v", orig)
	}
	view(t, s, func(tx *Tx) error {
		got, err := tx.Case(c.ID)
		if err != nil {
			t.Fatalf("Case() = %v", err)
		}
		if got.Subject != "SQLi" || got.ReporterName != "Alice" || got.Fields["severity"] != "high" ||
			len(got.Clocks) != 1 || !got.Clocks[0].Due.Equal(t0.Add(72*time.Hour)) || got.Clocks[0].State != "running" {
			t.Errorf("Case() = %+v, want the stored case", got)
		}
		if _, err := tx.Case(99); !errors.Is(err, ErrCaseNotFound) {
			t.Errorf("Case(99) = %v, want ErrCaseNotFound", err)
		}
		return nil
	})

	// An explicit status and creation time are kept.
	c2 := &Case{Reporter: "x@example.org", Status: "triage", Created: t0.Add(-time.Hour)}
	update(t, s, func(tx *Tx) error { return tx.NewCase(c2) })
	if c2.Status != "triage" || !c2.Created.Equal(t0.Add(-time.Hour)) || c2.ID != 2 {
		t.Errorf("NewCase() = status %s created %v id %d, want triage %v 2", c2.Status, c2.Created, c2.ID, t0.Add(-time.Hour))
	}
}

func TestCaseRefNumbering(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "mailbot.db"), Options{NoSync: true, CasePrefix: "PSIRT"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		created time.Time
		want    string
	}{
		{time.Date(2025, 12, 31, 22, 0, 0, 0, time.UTC), "PSIRT-2025-0001"},
		{time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC), "PSIRT-2025-0002"},
		// 00:30 in Berlin on Jan 1 is still 2025 in UTC.
		{time.Date(2026, 1, 1, 0, 30, 0, 0, berlin), "PSIRT-2025-0003"},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "PSIRT-2026-0001"},
		{time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), "PSIRT-2026-0002"},
		// A late case for the old year continues that year's counter.
		{time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), "PSIRT-2025-0004"},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "PSIRT-2027-0001"},
	}
	for i, tc := range tests {
		c := &Case{Reporter: "r@example.org", Created: tc.created}
		update(t, s, func(tx *Tx) error { return tx.NewCase(c) })
		if c.Ref != tc.want || c.ID != uint64(i+1) {
			t.Errorf("NewCase(created %v) = ref %s id %d, want %s %d", tc.created, c.Ref, c.ID, tc.want, i+1)
		}
	}

	// Beyond 9999 the number grows to five digits.
	err = s.db.Update(func(btx *bbolt.Tx) error { return btx.Bucket(bRefSeq).Put([]byte("2026"), itob(9999)) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PSIRT-2026-10000", "PSIRT-2026-10001"} {
		c := &Case{Created: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)}
		update(t, s, func(tx *Tx) error { return tx.NewCase(c) })
		if c.Ref != want {
			t.Errorf("NewCase() ref = %s, want %s", c.Ref, want)
		}
	}
}

// TestNextCase: NextCase names the ID and reference NewCase then gives, in
// the same transaction, across a year boundary too, and takes neither.
func TestNextCase(t *testing.T) {
	s := openTest(t)
	next := t0.AddDate(1, 0, 0)
	update(t, s, func(tx *Tx) error {
		for _, created := range []time.Time{t0, t0, next, t0} {
			id, ref, err := tx.NextCase(created)
			if err != nil {
				return err
			}
			if id2, ref2, _ := tx.NextCase(created); id2 != id || ref2 != ref {
				t.Errorf("NextCase() again = %d, %s, want %d, %s: it must take nothing", id2, ref2, id, ref)
			}
			c := &Case{Subject: "x", Reporter: "a@example.org", Created: created}
			if err := tx.NewCase(c); err != nil {
				return err
			}
			if c.ID != id || c.Ref != ref {
				t.Errorf("NewCase() = %d, %s, want %d, %s as NextCase() said", c.ID, c.Ref, id, ref)
			}
		}
		return nil
	})
}

func TestCaseByRef(t *testing.T) {
	s := openTest(t)
	c := newCase(t, s, "a@example.org")
	newCase(t, s, "b@example.org")
	tests := []struct {
		ref    string
		wantID uint64
	}{
		{"SEC-2026-0001", c.ID},
		{"sec-2026-0001", c.ID},
		{" Sec-2026-0001 ", c.ID},
		{"SEC-2026-0002", 2},
		{"SEC-2026-0003", 0},
		{"SEC-2026-1", 0},
		{"", 0},
	}
	view(t, s, func(tx *Tx) error {
		for _, tc := range tests {
			got, err := tx.CaseByRef(tc.ref)
			if tc.wantID == 0 {
				if !errors.Is(err, ErrCaseNotFound) {
					t.Errorf("CaseByRef(%q) = %v, want ErrCaseNotFound", tc.ref, err)
				}
				continue
			}
			if err != nil || got.ID != tc.wantID {
				t.Errorf("CaseByRef(%q) = %+v, %v, want id %d", tc.ref, got, err, tc.wantID)
			}
		}
		return nil
	})
}

func TestPutCase(t *testing.T) {
	s := openTest(t)
	c := newCase(t, s, "old@example.org")
	c.Status = "triaged"
	c.Reporter = "New@Example.org"
	c.Fields = map[string]string{"cve": "CVE-2026-0001"}
	c.Updated = t0.Add(time.Hour)
	update(t, s, func(tx *Tx) error { return tx.PutCase(c) })
	view(t, s, func(tx *Tx) error {
		got, err := tx.Case(c.ID)
		if err != nil || got.Status != "triaged" || got.Reporter != "new@example.org" || got.Fields["cve"] != "CVE-2026-0001" || !got.Updated.Equal(t0.Add(time.Hour)) {
			t.Errorf("Case() = %+v, %v, want the update", got, err)
		}
		if ids, _ := tx.CasesByAddress("old@example.org"); len(ids) != 0 {
			t.Errorf("CasesByAddress(old) = %v, want none", ids)
		}
		if ids, _ := tx.CasesByAddress("new@example.org"); !slices.Equal(ids, []uint64{c.ID}) {
			t.Errorf("CasesByAddress(new) = %v, want [%d]", ids, c.ID)
		}
		return nil
	})

	tests := []struct {
		name string
		c    Case
		want error
	}{
		{"missing", Case{ID: 42}, ErrCaseNotFound},
		{"ref change", Case{ID: c.ID, Ref: "SEC-2026-0099"}, nil},
	}
	for _, tc := range tests {
		err := s.Update(func(tx *Tx) error { return tx.PutCase(&tc.c) })
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: PutCase() = %v, want an error (%v)", tc.name, err, tc.want)
		}
	}
	// Empty Ref keeps the stored one.
	c2 := &Case{ID: c.ID, Reporter: "new@example.org", Status: "closed"}
	update(t, s, func(tx *Tx) error { return tx.PutCase(c2) })
	if c2.Ref != c.Ref {
		t.Errorf("PutCase() with empty Ref set Ref %q, want %q", c2.Ref, c.Ref)
	}
}

func TestCasesIteration(t *testing.T) {
	s := openTest(t)
	for i := range 5 {
		newCase(t, s, fmt.Sprintf("r%d@example.org", i))
	}
	view(t, s, func(tx *Tx) error {
		var ids []uint64
		if err := tx.Cases(func(c *Case) bool { ids = append(ids, c.ID); return true }); err != nil {
			t.Fatalf("Cases() = %v", err)
		}
		if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(ids, want) {
			t.Errorf("Cases() = %v, want %v", ids, want)
		}
		ids = nil
		tx.Cases(func(c *Case) bool { ids = append(ids, c.ID); return len(ids) < 2 })
		if want := []uint64{1, 2}; !slices.Equal(ids, want) {
			t.Errorf("Cases() stopping after 2 = %v, want %v", ids, want)
		}
		return nil
	})
}

func TestCasesByAddress(t *testing.T) {
	s := openTest(t)
	a1 := newCase(t, s, "a@x.org")
	newCase(t, s, "a@x.org.evil")
	a2 := newCase(t, s, "A@X.ORG")
	nul := newCase(t, s, "a@x.org\x00\x00\x00\x00\x00\x00\x00\x01")
	newCase(t, s, "")
	tests := []struct {
		addr string
		want []uint64
	}{
		{"a@x.org", []uint64{a1.ID, a2.ID}},
		{" A@x.Org ", []uint64{a1.ID, a2.ID}},
		{"a@x.or", nil},
		{"a@x.org.evil", []uint64{2}},
		{"a@x.org\x00\x00\x00\x00\x00\x00\x00\x01", []uint64{nul.ID}},
		{"", nil},
		{"nobody@x.org", nil},
	}
	view(t, s, func(tx *Tx) error {
		for _, tc := range tests {
			got, err := tx.CasesByAddress(tc.addr)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("CasesByAddress(%q) = %v, %v, want %v", tc.addr, got, err, tc.want)
			}
		}
		return nil
	})
}

func TestEvents(t *testing.T) {
	s := openTest(t)
	c1 := newCase(t, s, "a@example.org")
	c2 := newCase(t, s, "b@example.org")
	update(t, s, func(tx *Tx) error {
		for i, kind := range []string{"case.opened", "message.received", "ack.queued"} {
			if err := tx.AppendEvent(c1.ID, Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: kind, Actor: "bot", MessageID: uint64(i)}); err != nil {
				return err
			}
			if err := tx.AppendEvent(c2.ID, Event{Time: t0, Kind: "note", Detail: kind}); err != nil {
				return err
			}
		}
		return nil
	})
	// Appending in a later transaction keeps the order; equal times too.
	update(t, s, func(tx *Tx) error { return tx.AppendEvent(c1.ID, Event{Time: t0, Kind: "outbox.sent", Actor: "bot"}) })

	view(t, s, func(tx *Tx) error {
		evs, err := tx.Events(c1.ID)
		if err != nil {
			t.Fatalf("Events() = %v", err)
		}
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind)
		}
		if want := []string{"case.opened", "message.received", "ack.queued", "outbox.sent"}; !slices.Equal(kinds, want) {
			t.Errorf("Events(c1) kinds = %v, want %v", kinds, want)
		}
		if evs[1].MessageID != 1 || evs[1].Actor != "bot" || !evs[1].Time.Equal(t0.Add(time.Second)) {
			t.Errorf("Events(c1)[1] = %+v", evs[1])
		}
		evs2, _ := tx.Events(c2.ID)
		if len(evs2) != 3 || evs2[2].Detail != "ack.queued" {
			t.Errorf("Events(c2) = %+v, want 3 notes", evs2)
		}
		if evs, _ := tx.Events(99); len(evs) != 0 {
			t.Errorf("Events(99) = %v, want none", evs)
		}
		return nil
	})

	tests := []struct {
		name   string
		caseID uint64
		e      Event
		want   error
	}{
		{"no time", c1.ID, Event{Kind: "note"}, nil},
		{"no case", 99, Event{Time: t0, Kind: "note"}, ErrCaseNotFound},
	}
	for _, tc := range tests {
		err := s.Update(func(tx *Tx) error { return tx.AppendEvent(tc.caseID, tc.e) })
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: AppendEvent() = %v, want an error (%v)", tc.name, err, tc.want)
		}
	}
}
