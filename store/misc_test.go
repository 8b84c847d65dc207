package store

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestMailboxState(t *testing.T) {
	s := openTest(t)
	update(t, s, func(tx *Tx) error {
		if st, err := tx.MailboxState("INBOX"); !reflect.DeepEqual(st, MailboxState{}) || err != nil {
			t.Errorf("MailboxState() = %+v, %v, want zero", st, err)
		}
		if err := tx.SetMailboxState("INBOX", MailboxState{UIDValidity: 7, LastUID: 41}); err != nil {
			return err
		}
		if err := tx.SetMailboxState("INBOX", MailboxState{UIDValidity: 7, LastUID: 42, Held: []uint32{3, 40}}); err != nil {
			return err
		}
		return tx.SetMailboxState("Other", MailboxState{UIDValidity: 1, LastUID: 1})
	})
	view(t, s, func(tx *Tx) error {
		for _, tc := range []struct {
			mailbox string
			want    MailboxState
		}{{"INBOX", MailboxState{UIDValidity: 7, LastUID: 42, Held: []uint32{3, 40}}}, {"Other", MailboxState{UIDValidity: 1, LastUID: 1}}, {"inbox", MailboxState{}}} {
			if st, err := tx.MailboxState(tc.mailbox); !reflect.DeepEqual(st, tc.want) || err != nil {
				t.Errorf("MailboxState(%q) = %+v, %v, want %+v", tc.mailbox, st, err, tc.want)
			}
		}
		return nil
	})
	if err := s.Update(func(tx *Tx) error { return tx.SetMailboxState("", MailboxState{}) }); err == nil {
		t.Errorf("SetMailboxState(\"\") = nil error")
	}
}

func TestQuarantine(t *testing.T) {
	s := openTest(t)
	q1 := &Quarantined{Hash: sum("bad 1"), Size: 5, Source: "imap:INBOX:7:3", Reason: "parse: multipart: NextPart: EOF"}
	q2 := &Quarantined{Hash: sum("bad 2"), Source: "ingest", Reason: "too many failures", Time: t0.Add(time.Hour)}
	update(t, s, func(tx *Tx) error {
		if err := tx.Quarantine(q1); err != nil {
			return err
		}
		return tx.Quarantine(q2)
	})
	if q1.ID != 1 || q2.ID != 2 || !q1.Time.Equal(t0) || !q2.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("Quarantine() set ids %d %d times %v %v", q1.ID, q2.ID, q1.Time, q2.Time)
	}
	view(t, s, func(tx *Tx) error {
		if id, ok := tx.SeenHash(q1.Hash); !ok || id != 0 {
			t.Errorf("SeenHash(quarantined) = %d, %v, want 0, true", id, ok)
		}
		var got []Quarantined
		if err := tx.QuarantineList(func(q *Quarantined) bool { got = append(got, *q); return true }); err != nil {
			t.Fatalf("QuarantineList() = %v", err)
		}
		if len(got) != 2 || got[0].Reason != q1.Reason || got[0].Source != q1.Source || got[0].Size != 5 || got[1].Hash != q2.Hash {
			t.Errorf("QuarantineList() = %+v", got)
		}
		got = nil
		tx.QuarantineList(func(q *Quarantined) bool { got = append(got, *q); return false })
		if len(got) != 1 {
			t.Errorf("QuarantineList() called fn %d times after false", len(got))
		}
		return nil
	})
	if err := s.Update(func(tx *Tx) error { return tx.Quarantine(&Quarantined{Hash: "../x"}) }); err == nil {
		t.Errorf("Quarantine(bad hash) = nil error")
	}
}

func TestFailures(t *testing.T) {
	s := openTest(t)
	const src = "imap:INBOX:7:42"
	for want := 1; want <= 3; want++ {
		update(t, s, func(tx *Tx) error {
			n, err := tx.RecordFailure(src, fmt.Sprintf("attempt %d", want))
			if n != want || err != nil {
				t.Errorf("RecordFailure() = %d, %v, want %d", n, err, want)
			}
			return err
		})
	}
	view(t, s, func(tx *Tx) error {
		if n := tx.Failures(src); n != 3 {
			t.Errorf("Failures() = %d, want 3", n)
		}
		if n := tx.Failures("imap:INBOX:7:43"); n != 0 {
			t.Errorf("Failures(other) = %d, want 0", n)
		}
		return nil
	})
	update(t, s, func(tx *Tx) error { return tx.ClearFailures(src) })
	update(t, s, func(tx *Tx) error {
		if n := tx.Failures(src); n != 0 {
			t.Errorf("Failures() after ClearFailures = %d, want 0", n)
		}
		n, err := tx.RecordFailure(src, "again")
		if n != 1 {
			t.Errorf("RecordFailure() after clear = %d, want 1", n)
		}
		return err
	})
	if err := s.Update(func(tx *Tx) error { _, err := tx.RecordFailure("", "x"); return err }); err == nil {
		t.Errorf("RecordFailure(\"\") = nil error")
	}
}

func TestRateWindow(t *testing.T) {
	s := openTest(t)
	const key = "ack:a@example.org"
	// Sends at -30h, -25h, -23h, -1h, -1h (twice at the same instant), 0.
	at := []time.Duration{-30 * time.Hour, -25 * time.Hour, -23 * time.Hour, -time.Hour, -time.Hour, 0}
	for _, d := range at {
		update(t, s, func(tx *Tx) error { return tx.RecordSend(key, t0.Add(d)) })
	}
	update(t, s, func(tx *Tx) error { return tx.RecordSend(key+"x", t0.Add(-40*time.Hour)) })
	update(t, s, func(tx *Tx) error { return tx.RecordSend("ack:a", t0) })

	tests := []struct {
		key   string
		since time.Time
		want  int
	}{
		{key, t0.Add(-time.Hour), 3},
		{key, t0.Add(-time.Hour + time.Nanosecond), 1},
		{key, t0.Add(-24 * time.Hour), 4},
		{key, t0.Add(time.Nanosecond), 0},
		// The -25h and -30h entries were pruned when the later sends were recorded.
		{key, t0.Add(-48 * time.Hour), 4},
		{key + "x", t0.Add(-48 * time.Hour), 1},
		{"ack:a", t0.Add(-48 * time.Hour), 1},
		{"nobody", time.Time{}, 0},
	}
	view(t, s, func(tx *Tx) error {
		for _, tc := range tests {
			if n, err := tx.RecentSends(tc.key, tc.since); n != tc.want || err != nil {
				t.Errorf("RecentSends(%q, %v) = %d, %v, want %d", tc.key, tc.since, n, err, tc.want)
			}
		}
		return nil
	})
	// NewestSends walks back from key's newest entry, past neither
	// neighbour ("ack:a" sorts before key, key+"x" after it).
	view(t, s, func(tx *Tx) error {
		for _, tc := range []struct {
			key  string
			n    int
			want []time.Duration
		}{
			{key, 2, []time.Duration{0, -time.Hour}},
			{key, 10, []time.Duration{0, -time.Hour, -time.Hour, -23 * time.Hour}},
			{key + "x", 10, []time.Duration{-40 * time.Hour}},
			{"ack:a", 10, []time.Duration{0}},
			{"nobody", 10, nil},
			{"zzz", 10, nil}, // after every key: the cursor starts from the last entry
		} {
			got, err := tx.NewestSends(tc.key, tc.n)
			var d []time.Duration
			for _, g := range got {
				d = append(d, g.Sub(t0))
			}
			if err != nil || !slices.Equal(d, tc.want) {
				t.Errorf("NewestSends(%q, %d) = %v, %v, want %v", tc.key, tc.n, d, err, tc.want)
			}
		}
		return nil
	})
	// PruneSends drops stale entries of every key.
	update(t, s, func(tx *Tx) error {
		n, err := tx.PruneSends(t0.Add(90 * time.Minute))
		if n != 2 || err != nil { // key+"x" at -40h and key at -23h
			t.Errorf("PruneSends() = %d, %v, want 2", n, err)
		}
		return err
	})
	view(t, s, func(tx *Tx) error {
		for _, tc := range []struct {
			key  string
			want int
		}{{key, 3}, {key + "x", 0}, {"ack:a", 1}} {
			if n, _ := tx.RecentSends(tc.key, time.Time{}); n != tc.want {
				t.Errorf("RecentSends(%q) after prune = %d, want %d", tc.key, n, tc.want)
			}
		}
		return nil
	})
	if err := s.Update(func(tx *Tx) error { return tx.RecordSend("", t0) }); err == nil {
		t.Errorf("RecordSend(\"\") = nil error")
	}
}

func TestKeys(t *testing.T) {
	s := openTest(t)
	armored := []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n...\n")
	update(t, s, func(tx *Tx) error { return tx.PutKey("Alice@Example.org", armored) })
	var got []byte
	view(t, s, func(tx *Tx) error {
		var ok bool
		if got, ok = tx.Key("alice@example.ORG"); !ok || string(got) != string(armored) {
			t.Errorf("Key() = %q, %v, want %q", got, ok, armored)
		}
		if k, ok := tx.Key("bob@example.org"); ok {
			t.Errorf("Key(bob) = %q, true", k)
		}
		return nil
	})
	// The returned bytes are a copy that outlives the transaction, even after
	// later writes grow and remap the file.
	update(t, s, func(tx *Tx) error {
		big := make([]byte, 1<<20)
		for i := range 8 {
			if err := tx.PutKey(fmt.Sprintf("k%d@x", i), big); err != nil {
				return err
			}
		}
		return nil
	})
	if string(got) != string(armored) {
		t.Errorf("Key() result changed after the tx: %q", got)
	}
	if err := s.Update(func(tx *Tx) error { return tx.PutKey(" ", armored) }); err == nil {
		t.Errorf("PutKey(\" \") = nil error")
	}
}

func TestMeta(t *testing.T) {
	s := openTest(t)
	update(t, s, func(tx *Tx) error {
		if _, ok := tx.Meta("k"); ok {
			t.Errorf("Meta(k) = true before SetMeta")
		}
		if err := tx.SetMeta("k", "v1"); err != nil {
			return err
		}
		return tx.SetMeta("k", "v2")
	})
	view(t, s, func(tx *Tx) error {
		if v, ok := tx.Meta("k"); !ok || v != "v2" {
			t.Errorf("Meta(k) = %q, %v, want v2", v, ok)
		}
		// Settings do not collide with the schema version.
		if _, ok := tx.Meta("schema"); ok {
			t.Errorf("Meta(schema) = true, want settings separate from the schema")
		}
		return nil
	})
	if err := s.Update(func(tx *Tx) error { return tx.SetMeta("", "v") }); err == nil {
		t.Errorf("SetMeta(\"\") = nil error")
	}
}
