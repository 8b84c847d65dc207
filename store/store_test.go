package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestOpenCreatesFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbot.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	for _, tc := range []struct {
		path string
		dir  bool
		perm fs.FileMode
	}{
		{path, false, 0o600},
		{path + ".raw", true, 0o700},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatalf("Stat(%s) = %v", tc.path, err)
		}
		if fi.IsDir() != tc.dir || fi.Mode().Perm() != tc.perm {
			t.Errorf("%s: dir %v mode %v, want dir %v mode %v", tc.path, fi.IsDir(), fi.Mode().Perm(), tc.dir, tc.perm)
		}
	}
	view(t, s, func(tx *Tx) error {
		v, err := schemaVersion(tx.tx)
		if v != SchemaVersion || err != nil {
			t.Errorf("schemaVersion() = %d, %v, want %d", v, err, SchemaVersion)
		}
		return nil
	})
}

// bbolt's flock is per open file description, so a second Open in the same
// process blocks just like a second process would.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbot.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	for _, ro := range []bool{false, true} {
		start := time.Now()
		s2, err := Open(path, Options{Timeout: 100 * time.Millisecond, ReadOnly: ro})
		if err == nil {
			s2.Close()
			t.Fatalf("second Open(ReadOnly=%v) = nil error, want ErrLocked", ro)
		}
		if !errors.Is(err, ErrLocked) {
			t.Errorf("second Open(ReadOnly=%v) = %v, want ErrLocked", ro, err)
		}
		if !strings.Contains(err.Error(), "another mailbot") {
			t.Errorf("ErrLocked message %q does not tell the admin who holds the file", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("second Open took %v with a 100ms timeout", d)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	s2, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open() after Close = %v", err)
	}
	s2.Close()
}

func TestSchemaNewer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbot.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchema, []byte("99"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, ro := range []bool{false, true} {
		s, err := Open(path, Options{ReadOnly: ro})
		if err == nil {
			s.Close()
			t.Fatalf("Open(ReadOnly=%v) = nil error, want ErrNewerSchema", ro)
		}
		if !errors.Is(err, ErrNewerSchema) {
			t.Errorf("Open(ReadOnly=%v) = %v, want ErrNewerSchema", ro, err)
		}
		if !strings.Contains(err.Error(), "99") || !strings.Contains(err.Error(), strconv.Itoa(SchemaVersion)) {
			t.Errorf("Open() error %q does not name both versions", err)
		}
	}
	// The refusal must not have touched the file.
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bbolt.Tx) error {
		if v, _ := schemaVersion(tx); v != 99 {
			t.Errorf("schema after refused Open = %d, want 99", v)
		}
		if tx.Bucket(bCases) != nil {
			t.Errorf("refused Open created buckets")
		}
		return nil
	})
}

func TestSchemaV0Migrates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbot.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Read-only cannot migrate and says so.
	if s, err := Open(path, Options{ReadOnly: true}); err == nil {
		s.Close()
		t.Fatalf("Open(ReadOnly) of a v0 file = nil error, want a migration error")
	}

	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open() of a v0 file = %v", err)
	}
	defer s.Close()
	view(t, s, func(tx *Tx) error {
		if v, err := schemaVersion(tx.tx); v != SchemaVersion || err != nil {
			t.Errorf("schemaVersion() = %d, %v, want %d", v, err, SchemaVersion)
		}
		return nil
	})
	newCase(t, s, "a@example.org") // all buckets exist
}

func TestSchemaCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbot.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error {
		b, _ := tx.CreateBucket(bMeta)
		return b.Put(keySchema, []byte("one"))
	})
	db.Close()
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatalf("Open() with a corrupt schema version = nil error")
	}
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbot.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	c := newCase(t, s, "a@example.org")
	s.Close()

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open(ReadOnly) = %v", err)
	}
	defer ro.Close()
	view(t, ro, func(tx *Tx) error {
		got, err := tx.Case(c.ID)
		if err != nil || got.Ref != c.Ref {
			t.Errorf("Case() = %+v, %v, want ref %s", got, err, c.Ref)
		}
		return nil
	})
	if err := ro.Update(func(tx *Tx) error { return tx.SetMeta("k", "v") }); err == nil {
		t.Errorf("Update() on a read-only store = nil error")
	}
	if _, err := ro.SpoolRaw(strings.NewReader("x"), 0); err == nil {
		t.Errorf("SpoolRaw() on a read-only store = nil error")
	}
	// A read-only store can share the file with another read-only one.
	ro2, err := Open(path, Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("second Open(ReadOnly) = %v", err)
	}
	ro2.Close()
}

// A transaction that returns an error leaves nothing behind: the basis of
// exactly-once processing.
func TestUpdateErrorRollsBack(t *testing.T) {
	s := openTest(t)
	hash := sum("raw mail")
	errBoom := errors.New("boom")
	var c Case
	var m Message
	var o OutboxItem
	err := s.Update(func(tx *Tx) error {
		c = Case{Reporter: "a@example.org"}
		if err := tx.NewCase(&c); err != nil {
			return err
		}
		m = Message{CaseID: c.ID, Hash: hash, MessageID: "<x@example.org>"}
		if err := tx.AddMessage(&m); err != nil {
			return err
		}
		if err := tx.AppendEvent(c.ID, Event{Time: t0, Kind: "case.opened"}); err != nil {
			return err
		}
		o = OutboxItem{CaseID: c.ID, To: []string{"a@example.org"}, Raw: []byte("ack"), MessageID: "ack@bot"}
		if err := tx.Enqueue(&o); err != nil {
			return err
		}
		if err := tx.SetMailboxState("INBOX", MailboxState{UIDValidity: 7, LastUID: 42}); err != nil {
			return err
		}
		if err := tx.Quarantine(&Quarantined{Hash: sum("q")}); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update() = %v, want %v", err, errBoom)
	}
	view(t, s, func(tx *Tx) error {
		if _, err := tx.Case(c.ID); !errors.Is(err, ErrCaseNotFound) {
			t.Errorf("Case() = %v, want ErrCaseNotFound", err)
		}
		if _, err := tx.CaseByRef(c.Ref); !errors.Is(err, ErrCaseNotFound) {
			t.Errorf("CaseByRef() = %v, want ErrCaseNotFound", err)
		}
		if _, err := tx.Message(m.ID); !errors.Is(err, ErrMessageNotFound) {
			t.Errorf("Message() = %v, want ErrMessageNotFound", err)
		}
		if _, ok := tx.SeenHash(hash); ok {
			t.Errorf("SeenHash() = true after rollback")
		}
		if _, ok := tx.SeenHash(sum("q")); ok {
			t.Errorf("SeenHash(quarantined) = true after rollback")
		}
		if _, ok := tx.CaseByMessageID("x@example.org"); ok {
			t.Errorf("CaseByMessageID() = true after rollback")
		}
		if _, err := tx.OutboxItem(o.ID); !errors.Is(err, ErrOutboxNotFound) {
			t.Errorf("OutboxItem() = %v, want ErrOutboxNotFound", err)
		}
		if _, ok := tx.NextDue(); ok {
			t.Errorf("NextDue() = true after rollback")
		}
		if st, err := tx.MailboxState("INBOX"); !reflect.DeepEqual(st, MailboxState{}) || err != nil {
			t.Errorf("MailboxState() = %+v, %v, want zero", st, err)
		}
		if ids, _ := tx.CasesByAddress("a@example.org"); len(ids) != 0 {
			t.Errorf("CasesByAddress() = %v, want none", ids)
		}
		return nil
	})
	// Sequences rolled back too: the next case is again number 1.
	c2 := newCase(t, s, "b@example.org")
	if c2.ID != 1 || c2.Ref != "SEC-2026-0001" {
		t.Errorf("NewCase() after rollback = id %d ref %s, want 1 SEC-2026-0001", c2.ID, c2.Ref)
	}
}

func TestUpdatePanicRollsBack(t *testing.T) {
	s := openTest(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("Update() did not propagate the panic")
			}
		}()
		s.Update(func(tx *Tx) error {
			if err := tx.SetMeta("k", "v"); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	view(t, s, func(tx *Tx) error {
		if v, ok := tx.Meta("k"); ok {
			t.Errorf("Meta() = %q after a panicking Update", v)
		}
		return nil
	})
}

func TestTxClosed(t *testing.T) {
	s := openTest(t)
	var leaked *Tx
	view(t, s, func(tx *Tx) error { leaked = tx; return nil })
	if _, err := leaked.Case(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Case() on a finished tx = %v, want ErrClosed", err)
	}
	if _, ok := leaked.Meta("x"); ok {
		t.Errorf("Meta() on a finished tx = true")
	}
}

func TestViewRefusesWrites(t *testing.T) {
	s := openTest(t)
	err := s.View(func(tx *Tx) error { return tx.NewCase(&Case{Reporter: "a@example.org"}) })
	if err == nil {
		t.Errorf("NewCase() in View = nil error")
	}
}

func TestBackup(t *testing.T) {
	s := openTest(t)
	var refs []string
	for _, r := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		refs = append(refs, newCase(t, s, r).Ref)
	}
	var buf bytes.Buffer
	n, err := s.Backup(&buf)
	if err != nil {
		t.Fatalf("Backup() = %v", err)
	}
	if n != int64(buf.Len()) || n == 0 {
		t.Errorf("Backup() = %d bytes, wrote %d", n, buf.Len())
	}
	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open(backup) = %v", err)
	}
	defer r.Close()
	var got []string
	view(t, r, func(tx *Tx) error {
		for err := range tx.tx.Check() {
			t.Errorf("backup Check() = %v", err)
		}
		return tx.Cases(func(c *Case) bool { got = append(got, c.Ref); return true })
	})
	if strings.Join(got, ",") != strings.Join(refs, ",") {
		t.Errorf("cases in backup = %v, want %v", got, refs)
	}
}

// TestOnCommitReportsWhatTheCommitChanged: watchers learn of queued mail and
// of changes to what reminders are planned from, from the transaction
// itself, and only after it committed.
func TestOnCommitReportsWhatTheCommitChanged(t *testing.T) {
	s := openTest(t)
	c := newCase(t, s, "ada@research.example")
	var got []Commit
	remove := s.OnCommit(func(cm Commit) { got = append(got, cm) })
	item := func() *OutboxItem {
		return &OutboxItem{CaseID: c.ID, Kind: "ack", To: []string{"ada@research.example"}, Raw: []byte("x")}
	}
	steps := []struct {
		name string
		fn   func(tx *Tx) error
		want []Commit
	}{
		{"two mails queued", func(tx *Tx) error {
			if err := tx.Enqueue(item()); err != nil {
				return err
			}
			return tx.Enqueue(item())
		}, []Commit{{Enqueued: 2}}},
		{"rolled back", func(tx *Tx) error {
			if err := tx.Enqueue(item()); err != nil {
				return err
			}
			return errors.New("no")
		}, nil},
		{"subject changed", func(tx *Tx) error { c.Subject = "other"; return tx.PutCase(c) }, nil},
		{"status changed", func(tx *Tx) error { c.Status = "triaged"; return tx.PutCase(c) }, []Commit{{Schedule: true}}},
		{"clock moved", func(tx *Tx) error {
			c.Clocks = []Clock{{Name: "triage", State: "running", Started: t0, Due: t0.Add(time.Hour)}}
			return tx.PutCase(c)
		}, []Commit{{Schedule: true}}},
		{"same clock again", func(tx *Tx) error {
			c.Clocks = []Clock{{Name: "triage", State: "running", Started: t0.Local(), Due: t0.Add(time.Hour)}}
			return tx.PutCase(c)
		}, nil},
		{"field set", func(tx *Tx) error { c.Fields = map[string]string{"assignee": "bob@example.org"}; return tx.PutCase(c) }, []Commit{{Schedule: true}}},
	}
	for _, st := range steps {
		got = nil
		// Only the rolled-back step fails: another step's error would
		// leave got empty and pass its "nothing seen" for the wrong reason.
		if err := s.Update(st.fn); (err != nil) != (st.name == "rolled back") {
			t.Errorf("%s: Update() = %v", st.name, err)
		}
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: OnCommit saw %v, want %v", st.name, got, st.want)
		}
	}
	remove()
	got = nil
	update(t, s, func(tx *Tx) error { return tx.Enqueue(item()) })
	if got != nil {
		t.Errorf("after remove: OnCommit saw %v, want nothing", got)
	}
}
