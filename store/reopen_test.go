package store

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Everything written survives Close and Open, with fsync on.
func TestReopenPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbot.db")
	s, err := Open(path, Options{Now: fixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := s.SpoolRaw(stringsReader("From: a@example.org\r\n\r\nhi\r\n"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var c Case
	var m Message
	var o OutboxItem
	update(t, s, func(tx *Tx) error {
		c = Case{Reporter: "a@example.org", Subject: "bug", Fields: map[string]string{"severity": "low"}}
		if err := tx.NewCase(&c); err != nil {
			return err
		}
		m = Message{CaseID: c.ID, Direction: "in", Hash: blob.Hash, Size: blob.Size, MessageID: "m1@example.org"}
		if err := tx.AddMessage(&m); err != nil {
			return err
		}
		if err := tx.AppendEvent(c.ID, Event{Time: t0, Kind: "case.opened", Actor: "bot"}); err != nil {
			return err
		}
		o = OutboxItem{CaseID: c.ID, Kind: "ack", MessageID: "ack@bot", To: []string{"a@example.org"}, Raw: []byte("ack bytes")}
		if err := tx.Enqueue(&o); err != nil {
			return err
		}
		if err := tx.SetMailboxState("INBOX", MailboxState{UIDValidity: 3, LastUID: 9}); err != nil {
			return err
		}
		if err := tx.Quarantine(&Quarantined{Hash: sum("q"), Reason: "r"}); err != nil {
			return err
		}
		if _, err := tx.RecordFailure("src", "why"); err != nil {
			return err
		}
		if err := tx.RecordSend("k", t0); err != nil {
			return err
		}
		if err := tx.PutKey("a@example.org", []byte("KEY")); err != nil {
			return err
		}
		if err := tx.LinkMessageID("extra@x", c.ID); err != nil {
			return err
		}
		return tx.SetMeta("setting", "on")
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{Now: fixedClock(t0.Add(time.Hour))})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	view(t, s, func(tx *Tx) error {
		got, err := tx.CaseByRef(c.Ref)
		if err != nil || got.ID != c.ID || got.Subject != "bug" || got.Fields["severity"] != "low" || !got.Created.Equal(t0) {
			t.Errorf("CaseByRef() = %+v, %v", got, err)
		}
		if ids, _ := tx.CasesByAddress("a@example.org"); !slices.Equal(ids, []uint64{c.ID}) {
			t.Errorf("CasesByAddress() = %v", ids)
		}
		if id, ok := tx.SeenHash(blob.Hash); !ok || id != m.ID {
			t.Errorf("SeenHash() = %d, %v", id, ok)
		}
		if ms, _ := tx.Messages(c.ID); len(ms) != 1 || ms[0].Hash != blob.Hash {
			t.Errorf("Messages() = %v", ms)
		}
		for _, id := range []string{"m1@example.org", "ack@bot", "extra@x"} {
			if cid, ok := tx.CaseByMessageID(id); !ok || cid != c.ID {
				t.Errorf("CaseByMessageID(%q) = %d, %v", id, cid, ok)
			}
		}
		if evs, _ := tx.Events(c.ID); len(evs) != 1 || evs[0].Kind != "case.opened" {
			t.Errorf("Events() = %v", evs)
		}
		if due, _ := tx.DueOutbox(t0, 10); len(due) != 1 || string(due[0].Raw) != "ack bytes" {
			t.Errorf("DueOutbox() = %v", due)
		}
		if st, _ := tx.MailboxState("INBOX"); st.UIDValidity != 3 || st.LastUID != 9 || st.Held != nil {
			t.Errorf("MailboxState() = %+v", st)
		}
		if _, ok := tx.SeenHash(sum("q")); !ok {
			t.Errorf("SeenHash(quarantined) = false")
		}
		if n := tx.Failures("src"); n != 1 {
			t.Errorf("Failures() = %d", n)
		}
		if n, _ := tx.RecentSends("k", t0); n != 1 {
			t.Errorf("RecentSends() = %d", n)
		}
		if k, ok := tx.Key("a@example.org"); !ok || string(k) != "KEY" {
			t.Errorf("Key() = %q, %v", k, ok)
		}
		if v, ok := tx.Meta("setting"); !ok || v != "on" {
			t.Errorf("Meta() = %q, %v", v, ok)
		}
		return nil
	})
	rc, err := s.OpenRaw(blob.Hash)
	if err != nil {
		t.Fatalf("OpenRaw() = %v", err)
	}
	rc.Close()
	// Sequences continue after reopen.
	c2 := newCase(t, s, "b@example.org")
	if c2.ID != 2 || c2.Ref != "SEC-2026-0002" {
		t.Errorf("NewCase() after reopen = %d %s, want 2 SEC-2026-0002", c2.ID, c2.Ref)
	}
}
