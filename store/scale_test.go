package store

import (
	"bytes"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// openIDs lists OpenCases.
func openIDs(t *testing.T, s *Store) []uint64 {
	t.Helper()
	var ids []uint64
	view(t, s, func(tx *Tx) error {
		return tx.OpenCases(func(c *Case) bool { ids = append(ids, c.ID); return true })
	})
	return ids
}

func TestClosed(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   bool
	}{
		{"new", false}, {"triaged", false}, {"confirmed", false}, {"fixing", false}, {"fixed", false}, {"", false},
		{"disclosed", true}, {"rejected", true}, {"duplicate", true}, {"spam", true},
	} {
		if got := Closed(tc.status); got != tc.want {
			t.Errorf("Closed(%q) = %v, want %v", tc.status, got, tc.want)
		}
	}
}

// The open index follows NewCase and every status change through PutCase,
// and OpenCases reads only it.
func TestOpenCases(t *testing.T) {
	s := openTest(t)
	var cs []*Case
	for _, st := range []string{"", "fixed", "spam", "triaged"} {
		c := &Case{Reporter: "a@example.org", Status: st}
		update(t, s, func(tx *Tx) error { return tx.NewCase(c) })
		cs = append(cs, c)
	}
	if got, want := openIDs(t, s), []uint64{cs[0].ID, cs[1].ID, cs[3].ID}; !slices.Equal(got, want) {
		t.Fatalf("OpenCases() after NewCase = %v, want %v", got, want)
	}
	for _, step := range []struct {
		c      int
		status string
		want   []int
	}{
		{0, "duplicate", []int{1, 3}}, // merged
		{1, "disclosed", []int{3}},
		{2, "new", []int{2, 3}},       // spam reopened
		{3, "confirmed", []int{2, 3}}, // open to open
		{3, "rejected", []int{2}},
		{3, "rejected", []int{2}}, // closed to closed
	} {
		c := cs[step.c]
		c.Status = step.status
		update(t, s, func(tx *Tx) error { return tx.PutCase(c) })
		var want []uint64
		for _, i := range step.want {
			want = append(want, cs[i].ID)
		}
		if got := openIDs(t, s); !slices.Equal(got, want) {
			t.Errorf("OpenCases() after case %d -> %s = %v, want %v", c.ID, step.status, got, want)
		}
	}
	// A rolled-back status change leaves the index alone.
	cs[2].Status = "spam"
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutCase(cs[2]); err != nil {
			return err
		}
		return io.EOF
	}); err != io.EOF {
		t.Fatalf("Update() = %v, want io.EOF", err)
	}
	if got := openIDs(t, s); !slices.Equal(got, []uint64{cs[2].ID}) {
		t.Errorf("OpenCases() after rollback = %v, want [%d]", got, cs[2].ID)
	}
	n := 0
	update(t, s, func(tx *Tx) error {
		if err := tx.NewCase(&Case{Reporter: "b@example.org"}); err != nil {
			return err
		}
		return tx.OpenCases(func(*Case) bool { n++; return false })
	})
	if n != 1 {
		t.Errorf("OpenCases() called fn %d times after it returned false", n)
	}
}

// oldSchemaFile writes a database as schema version v left it (the first v
// migrations), lets fill add records in that version's format, and opens it
// with Open, which migrates it.
func oldSchemaFile(t *testing.T, v int, fill func(tx *bbolt.Tx) error) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mailbot.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, m := range migrations[:v] {
			if err := m(tx); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bMeta).Put(keySchema, []byte(strconv.Itoa(v))); err != nil {
			return err
		}
		return fill(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(path, Options{NoSync: true, Now: fixedClock(t0)})
	if err != nil {
		t.Fatalf("Open() of a schema %d file = %v", v, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A schema 2 file (no open index) gets one built from its cases on Open.
func TestMigrateV2OpenIndex(t *testing.T) {
	s := oldSchemaFile(t, 2, func(tx *bbolt.Tx) error {
		// Cases as schema 2 wrote them.
		if err := tx.Bucket(bCases).SetSequence(5); err != nil {
			return err
		}
		for id, st := range []string{"new", "disclosed", "fixed", "spam", "triaged"} {
			v := `{"ID":` + strconv.Itoa(id+1) + `,"Ref":"SEC-2026-000` + strconv.Itoa(id+1) + `","Status":"` + st + `"}`
			if err := tx.Bucket(bCases).Put(itob(uint64(id+1)), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx *Tx) error {
		if v, err := schemaVersion(tx.tx); v != SchemaVersion || err != nil {
			t.Errorf("schemaVersion() = %d, %v, want %d", v, err, SchemaVersion)
		}
		return nil
	})
	if got, want := openIDs(t, s), []uint64{1, 3, 5}; !slices.Equal(got, want) {
		t.Errorf("OpenCases() after migration = %v, want %v", got, want)
	}
	c := newCase(t, s, "new@example.org")
	if got, want := openIDs(t, s), []uint64{1, 3, 5, c.ID}; !slices.Equal(got, want) {
		t.Errorf("OpenCases() after NewCase = %v, want %v", got, want)
	}
}

// outRawInDB reports whether the outraw bucket holds the bytes of item id.
func outRawInDB(t *testing.T, s *Store, id uint64) bool {
	t.Helper()
	var in bool
	view(t, s, func(tx *Tx) error { in = tx.mustBucket(bOutRaw).Get(itob(id)) != nil; return nil })
	return in
}

// Sent mail leaves the database: PutOutbox moves the bytes of an item that
// left the queue to the raw directory, and every reader still gets them.
func TestOutboxRawMoves(t *testing.T) {
	s := openTest(t)
	c := newCase(t, s, "a@example.org")
	raw := []byte("To: a@example.org\r\nSubject: ack\r\n\r\nthanks\r\n")
	o := &OutboxItem{CaseID: c.ID, Kind: "ack", To: []string{"a@example.org"}, Raw: raw, RawHash: sum("ignored")}
	update(t, s, func(tx *Tx) error { return tx.Enqueue(o) })
	if o.RawHash != "" || !outRawInDB(t, s, o.ID) {
		t.Fatalf("Enqueue() RawHash = %q, bytes in database %v, want none and true", o.RawHash, outRawInDB(t, s, o.ID))
	}

	// Sent, as the sender does it (Raw still set).
	o.State, o.SentAt, o.Attempts = OutboxSent, t0, 1
	update(t, s, func(tx *Tx) error { return tx.PutOutbox(o) })
	if want := sum(string(raw)); o.RawHash != want {
		t.Errorf("PutOutbox(sent) RawHash = %q, want %q", o.RawHash, want)
	}
	if outRawInDB(t, s, o.ID) {
		t.Errorf("outraw still holds item %d after it was sent", o.ID)
	}
	r, err := s.OpenRaw(o.RawHash)
	if err != nil {
		t.Fatalf("OpenRaw(%s) = %v", o.RawHash, err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != string(raw) {
		t.Errorf("raw file = %q, want %q", got, raw)
	}

	check := func(name string) {
		t.Helper()
		view(t, s, func(tx *Tx) error {
			it, err := tx.OutboxItem(o.ID)
			if err != nil || string(it.Raw) != string(raw) || it.RawHash != o.RawHash {
				t.Errorf("%s: OutboxItem() = %+v, %v, want the bytes from the raw file", name, it, err)
			}
			var all, meta []*OutboxItem
			tx.Outbox(func(it *OutboxItem) bool { all = append(all, it); return true })
			tx.OutboxMeta(func(it *OutboxItem) bool { meta = append(meta, it); return true })
			if len(all) != 1 || string(all[0].Raw) != string(raw) {
				t.Errorf("%s: Outbox() = %+v, want one item with its bytes", name, all)
			}
			if len(meta) != 1 || meta[0].Raw != nil || meta[0].RawHash != o.RawHash {
				t.Errorf("%s: OutboxMeta() = %+v, want one item without bytes", name, meta)
			}
			return nil
		})
	}
	check("sent")

	// A state update with a nil Raw keeps the file; a stale RawHash from the
	// caller is ignored.
	o.Raw, o.RawHash, o.LastError = nil, "", "note"
	update(t, s, func(tx *Tx) error { return tx.PutOutbox(o) })
	check("updated")

	// Requeued (an admin retry): DueOutbox reads the bytes from the file.
	o.State, o.NextAttempt = OutboxQueued, t0
	update(t, s, func(tx *Tx) error { return tx.PutOutbox(o) })
	view(t, s, func(tx *Tx) error {
		due, err := tx.DueOutbox(t0, 0)
		if err != nil || len(due) != 1 || string(due[0].Raw) != string(raw) {
			t.Errorf("DueOutbox() after requeue = %+v, %v, want the item with its bytes", due, err)
		}
		return nil
	})
}

// A store written before the move keeps sent bytes in outraw; they are
// still read, and move on the item's next update.
func TestOutboxRawLegacy(t *testing.T) {
	s := openTest(t)
	raw := []byte("legacy bytes")
	o := &OutboxItem{Kind: "notice", To: []string{"a@example.org"}, Raw: raw}
	update(t, s, func(tx *Tx) error {
		if err := tx.Enqueue(o); err != nil {
			return err
		}
		o.State = OutboxSent // as the old PutOutbox left it: bytes in outraw
		return putRecord(tx.mustBucket(bOutbox), itob(o.ID), o)
	})
	view(t, s, func(tx *Tx) error {
		if it, err := tx.OutboxItem(o.ID); err != nil || string(it.Raw) != string(raw) || it.RawHash != "" {
			t.Errorf("OutboxItem() = %+v, %v, want the bytes from the database", it, err)
		}
		return nil
	})
	o.Raw = nil
	update(t, s, func(tx *Tx) error { return tx.PutOutbox(o) })
	if o.RawHash != sum(string(raw)) || outRawInDB(t, s, o.ID) {
		t.Errorf("PutOutbox() RawHash = %q, in database %v, want the bytes moved", o.RawHash, outRawInDB(t, s, o.ID))
	}
}

// A schema 3 file (plain JSON records, Message-IDs as index keys) opens as
// schema 4: its records read as they are, its Message-ID index is re-keyed,
// and what is written from then on is compressed.
func TestMigrateV3Records(t *testing.T) {
	s := oldSchemaFile(t, 3, func(tx *bbolt.Tx) error {
		// A case, its report and an event, as schema 3 wrote them.
		put := func(bucket, k []byte, v string) error { return tx.Bucket(bucket).Put(k, []byte(v)) }
		for _, err := range []error{
			tx.Bucket(bCases).SetSequence(1),
			tx.Bucket(bMsgs).SetSequence(1),
			tx.Bucket(bEvents).SetSequence(1),
			put(bCases, itob(1), `{"ID":1,"Ref":"SEC-2026-0001","Subject":"XSS","Reporter":"alice@example.org","Status":"new"}`),
			put(bOpen, itob(1), ""),
			put(bCaseRef, []byte("sec-2026-0001"), string(itob(1))),
			put(bMsgs, itob(1), `{"ID":1,"CaseID":1,"Direction":"in","MessageID":"r1@example.org","From":"alice@example.org","Subject":"XSS"}`),
			put(bCaseMsgs, pair(1, 1), ""),
			put(bMsgID, []byte("r1@example.org"), string(itob(1))),
			put(bEvents, pair(1, 1), `{"Time":"2026-03-14T09:26:53Z","Kind":"case.opened","Actor":"alice@example.org","MessageID":1}`),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx *Tx) error {
		if id, ok := tx.CaseByMessageID("<r1@example.org>"); !ok || id != 1 {
			t.Errorf("CaseByMessageID(r1) = %d, %v, want 1, true", id, ok)
		}
		if n := tx.mustBucket(bMsgID).Stats().KeyN; n != 1 {
			t.Errorf("msgid index has %d keys, want 1 (the old key replaced)", n)
		}
		c, err := tx.Case(1)
		if err != nil || c.Subject != "XSS" || c.Reporter != "alice@example.org" {
			t.Errorf("Case(1) = %+v, %v, want the schema 3 case", c, err)
		}
		m, err := tx.Message(1)
		if err != nil || m.MessageID != "r1@example.org" {
			t.Errorf("Message(1) = %+v, %v, want the schema 3 message", m, err)
		}
		evs, err := tx.Events(1)
		if err != nil || len(evs) != 1 || evs[0].Kind != "case.opened" {
			t.Errorf("Events(1) = %+v, %v, want case.opened", evs, err)
		}
		return nil
	})
	// New records are written compressed (cases stay plain JSON) and read
	// back beside the old ones.
	update(t, s, func(tx *Tx) error {
		c, err := tx.Case(1)
		if err != nil {
			return err
		}
		c.Status = "triaged"
		if err := tx.PutCase(c); err != nil {
			return err
		}
		return tx.AppendEvent(1, Event{Time: t0, Kind: "status", Actor: "ann@example.com", Detail: "triaged"})
	})
	view(t, s, func(tx *Tx) error {
		if v := tx.mustBucket(bEvents).Get(pair(1, 2)); !bytes.HasPrefix(v, zstdMagic) {
			t.Errorf("new event = %q, want a compressed record", v)
		}
		if c, err := tx.Case(1); err != nil || c.Status != "triaged" || c.Subject != "XSS" {
			t.Errorf("Case(1) = %+v, %v, want triaged", c, err)
		}
		evs, err := tx.Events(1)
		if err != nil || len(evs) != 2 || evs[0].Kind != "case.opened" || evs[1].Detail != "triaged" {
			t.Errorf("Events(1) = %+v, %v, want the old and the new event", evs, err)
		}
		return nil
	})
}

// TestMigrateV4CaseOutbox: a schema 4 file gets its outbox indexed by case
// (plain and compressed records alike), and new mail joins the index.
func TestMigrateV4CaseOutbox(t *testing.T) {
	s := oldSchemaFile(t, 4, func(tx *bbolt.Tx) error {
		put := func(bucket, k []byte, v []byte) error { return tx.Bucket(bucket).Put(k, v) }
		compressed, err := encodeRecord(&OutboxItem{ID: 3, CaseID: 1, Kind: "relay", To: []string{"alice@example.org"}, State: OutboxSent})
		if err != nil {
			return err
		}
		for _, err := range []error{
			tx.Bucket(bCases).SetSequence(2),
			tx.Bucket(bOutbox).SetSequence(3),
			put(bCases, itob(1), []byte(`{"ID":1,"Ref":"SEC-2026-0001","Reporter":"alice@example.org","Status":"new"}`)),
			put(bCases, itob(2), []byte(`{"ID":2,"Ref":"SEC-2026-0002","Reporter":"bob@example.org","Status":"new"}`)),
			put(bOpen, itob(1), nil),
			put(bOpen, itob(2), nil),
			put(bOutbox, itob(1), []byte(`{"ID":1,"CaseID":1,"Kind":"ack","To":["alice@example.org"],"State":"sent"}`)),
			put(bOutbox, itob(2), []byte(`{"ID":2,"Kind":"digest","To":["team@example.org"],"State":"sent"}`)),
			put(bOutbox, itob(3), compressed),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if got, want := caseOutboxIDs(t, s, 1), []uint64{1, 3}; !slices.Equal(got, want) {
		t.Errorf("CaseOutbox(1) after migration = %v, want %v", got, want)
	}
	if got := caseOutboxIDs(t, s, 2); got != nil {
		t.Errorf("CaseOutbox(2) after migration = %v, want none", got)
	}
	o := &OutboxItem{CaseID: 2, Kind: "ack", To: []string{"bob@example.org"}, Raw: []byte("x")}
	update(t, s, func(tx *Tx) error { return tx.Enqueue(o) })
	if got, want := caseOutboxIDs(t, s, 2), []uint64{4}; !slices.Equal(got, want) {
		t.Errorf("CaseOutbox(2) after Enqueue = %v, want %v", got, want)
	}
}
