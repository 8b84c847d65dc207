package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// spool stores raw bytes and returns their hash.
func spool(t *testing.T, s *Store, raw string) string {
	t.Helper()
	b, err := s.SpoolRaw(strings.NewReader(raw), 0)
	if err != nil {
		t.Fatalf("SpoolRaw() = %v", err)
	}
	return b.Hash
}

// addMsg stores a message and returns it.
func addMsg(t *testing.T, s *Store, m *Message) *Message {
	t.Helper()
	update(t, s, func(tx *Tx) error { return tx.AddMessage(m) })
	return m
}

func closedStatus(c *Case) bool { return c.Status == "disclosed" || c.Status == "rejected" }

func TestPurgeRaw(t *testing.T) {
	s := openTest(t)
	old, recent := t0.Add(-400*24*time.Hour), t0.Add(-24*time.Hour)
	cutoff := t0.Add(-365 * 24 * time.Hour)

	closed := &Case{Subject: "closed", Reporter: "a@example.org", Status: "disclosed"}
	open := &Case{Subject: "open", Reporter: "b@example.org", Status: "fixing"}
	update(t, s, func(tx *Tx) error {
		if err := tx.NewCase(closed); err != nil {
			return err
		}
		return tx.NewCase(open)
	})
	type msg struct {
		name   string
		m      *Message
		purged bool // hash returned and marked
		marked bool // marked but not returned (quarantined too)
	}
	quarHash := spool(t, s, "quarantined too")
	update(t, s, func(tx *Tx) error { return tx.Quarantine(&Quarantined{Hash: quarHash, Reason: "test"}) })
	msgs := []msg{
		{name: "closed old in", m: &Message{CaseID: closed.ID, Direction: "in", Hash: spool(t, s, "m1"), Received: old}, purged: true},
		{name: "closed recent in", m: &Message{CaseID: closed.ID, Direction: "in", Hash: spool(t, s, "m2"), Received: recent}},
		{name: "closed old out", m: &Message{CaseID: closed.ID, Direction: "out", Received: old}},
		{name: "closed old quarantined hash", m: &Message{CaseID: closed.ID, Direction: "in", Hash: quarHash, Received: old}, marked: true},
		{name: "open old in", m: &Message{CaseID: open.ID, Direction: "in", Hash: spool(t, s, "m3"), Received: old}},
		{name: "no case old in", m: &Message{Direction: "in", Hash: spool(t, s, "m4"), Received: old}},
	}
	for _, tc := range msgs {
		addMsg(t, s, tc.m)
	}

	var got []string
	update(t, s, func(tx *Tx) error {
		var err error
		got, _, err = tx.PurgeRaw(cutoff, closedStatus, 0, 0)
		return err
	})
	var want []string
	for _, tc := range msgs {
		if tc.purged {
			want = append(want, tc.m.Hash)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("PurgeRaw() = %v, want %v", got, want)
	}
	for _, h := range got {
		if err := s.RemoveRaw(h); err != nil {
			t.Fatalf("RemoveRaw() = %v", err)
		}
	}
	view(t, s, func(tx *Tx) error {
		for _, tc := range msgs {
			p, err := tx.RawPurged(tc.m.CaseID, tc.m.ID)
			if err != nil {
				t.Fatalf("RawPurged() = %v", err)
			}
			if wantP := tc.purged || tc.marked; p != wantP {
				t.Errorf("%s: RawPurged() = %v, want %v", tc.name, p, wantP)
			}
			if tc.m.Hash == "" {
				continue
			}
			// The record and the hash index stay: the mail is still "seen".
			if id, ok := tx.SeenHash(tc.m.Hash); !ok || id != tc.m.ID {
				t.Errorf("%s: SeenHash() = %d, %v, want %d, true", tc.name, id, ok, tc.m.ID)
			}
			r, err := s.OpenRaw(tc.m.Hash)
			if tc.purged {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: OpenRaw() = %v, want fs.ErrNotExist", tc.name, err)
				}
			} else if err != nil {
				t.Errorf("%s: OpenRaw() = %v, want the file kept", tc.name, err)
			} else {
				r.Close()
			}
		}
		evs, err := tx.Events(closed.ID)
		if err != nil {
			return err
		}
		if len(evs) != 2 || evs[0].Kind != EventRawPurged || evs[0].MessageID != msgs[0].m.ID || !evs[0].Time.Equal(t0) {
			t.Errorf("Events() = %+v, want 2 %s events, the first for message %d", evs, EventRawPurged, msgs[0].m.ID)
		}
		return nil
	})

	// A second run finds nothing new.
	update(t, s, func(tx *Tx) error {
		again, _, err := tx.PurgeRaw(cutoff, closedStatus, 0, 0)
		if len(again) != 0 {
			t.Errorf("PurgeRaw() again = %v, want none", again)
		}
		return err
	})
	// Moving the cutoff takes the recent message too.
	update(t, s, func(tx *Tx) error {
		more, _, err := tx.PurgeRaw(t0, closedStatus, 0, 0)
		if !slices.Equal(more, []string{msgs[1].m.Hash}) {
			t.Errorf("PurgeRaw(now) = %v, want [%s]", more, msgs[1].m.Hash)
		}
		return err
	})
}

// The mail we sent on a closed case (acks, relays quoting the team and the
// report) goes with its incoming mail; queued mail and open cases keep theirs.
func TestPurgeRawSentMail(t *testing.T) {
	s := openTest(t)
	old := t0.Add(-400 * 24 * time.Hour)
	cutoff := t0.Add(-365 * 24 * time.Hour)
	closed := &Case{Reporter: "a@example.org", Status: "disclosed"}
	open := &Case{Reporter: "b@example.org", Status: "fixing"}
	update(t, s, func(tx *Tx) error {
		if err := tx.NewCase(closed); err != nil {
			return err
		}
		return tx.NewCase(open)
	})
	enqueue := func(c *Case, kind, raw string, state string) *OutboxItem {
		t.Helper()
		o := &OutboxItem{CaseID: c.ID, Kind: kind, MessageID: kind + raw + "@bot.example.com", From: "security@example.com",
			To: []string{c.Reporter}, Raw: []byte(raw), Created: old}
		update(t, s, func(tx *Tx) error {
			if err := tx.Enqueue(o); err != nil {
				return err
			}
			if state == OutboxQueued {
				return nil
			}
			o.State, o.SentAt = state, old
			return tx.PutOutbox(o)
		})
		return o
	}
	ack := enqueue(closed, "ack", "ack bytes", OutboxSent)
	relay := enqueue(closed, "relay", "relay quoting the report", OutboxFailed)
	queued := enqueue(closed, "relay", "still to send", OutboxQueued)
	openAck := enqueue(open, "ack", "open case ack", OutboxSent)
	var sentHashes []string
	view(t, s, func(tx *Tx) error {
		for _, o := range []*OutboxItem{ack, relay, openAck} {
			got, err := tx.OutboxItem(o.ID)
			if err != nil || got.RawHash == "" {
				t.Fatalf("OutboxItem(%d) = %+v, %v, want its bytes in the raw directory", o.ID, got, err)
			}
			sentHashes = append(sentHashes, got.RawHash)
		}
		return nil
	})

	var got []string
	update(t, s, func(tx *Tx) error {
		var err error
		got, _, err = tx.PurgeRaw(cutoff, closedStatus, 0, 0)
		return err
	})
	if want := sentHashes[:2]; !slices.Equal(got, want) {
		t.Fatalf("PurgeRaw() = %v, want the ack's and the relay's %v", got, want)
	}
	view(t, s, func(tx *Tx) error {
		for _, tc := range []struct {
			o    *OutboxItem
			kept bool
		}{{ack, false}, {relay, false}, {queued, true}, {openAck, true}} {
			o, err := tx.OutboxItem(tc.o.ID)
			if err != nil {
				t.Fatalf("OutboxItem(%d) = %v", tc.o.ID, err)
			}
			if has := o.RawHash != "" || len(o.Raw) > 0; has != tc.kept {
				t.Errorf("%s %d after PurgeRaw: has bytes = %v, want %v", o.Kind, o.ID, has, tc.kept)
			}
		}
		evs, err := tx.Events(closed.ID)
		if err != nil {
			return err
		}
		var purged []string
		for _, e := range evs {
			if e.Kind == EventRawPurged {
				purged = append(purged, e.Detail)
			}
		}
		if len(purged) != 2 || !strings.Contains(purged[0], ack.MessageID) || !strings.Contains(purged[1], relay.MessageID) {
			t.Errorf("%s events = %q, want one for the ack and one for the relay", EventRawPurged, purged)
		}
		return nil
	})
	update(t, s, func(tx *Tx) error {
		again, _, err := tx.PurgeRaw(cutoff, closedStatus, 0, 0)
		if len(again) != 0 {
			t.Errorf("PurgeRaw() again = %v, want none", again)
		}
		return err
	})
}

func TestPurgeRawRollsBack(t *testing.T) {
	s := openTest(t)
	c := &Case{Reporter: "a@example.org", Status: "rejected"}
	update(t, s, func(tx *Tx) error { return tx.NewCase(c) })
	m := addMsg(t, s, &Message{CaseID: c.ID, Direction: "in", Hash: sum("x"), Received: t0.Add(-time.Hour)})
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if _, _, err := tx.PurgeRaw(t0, closedStatus, 0, 0); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update() = %v, want boom", err)
	}
	update(t, s, func(tx *Tx) error {
		got, _, err := tx.PurgeRaw(t0, closedStatus, 0, 0)
		if !slices.Equal(got, []string{m.Hash}) {
			t.Errorf("PurgeRaw() after rollback = %v, want [%s]", got, m.Hash)
		}
		return err
	})
}

// forgetFixture builds a store where alice reported case 1, wrote on bob's
// case 2, and got mail; carol's case 3 is unrelated.
type forgetFixture struct {
	s                   *Store
	c1, c2, c3          *Case
	in1, out1, in2, in3 *Message
	queued, sent, other *OutboxItem
	aliceRaw, carolRaw  string
}

func newForgetFixture(t *testing.T) *forgetFixture {
	t.Helper()
	f := &forgetFixture{s: openTest(t)}
	s := f.s
	f.c1 = &Case{Subject: "RCE in alice's router", Reporter: "Alice@Example.org", ReporterName: "Alice Liddell", Status: "fixing", Language: "en"}
	f.c2 = &Case{Subject: "bob's report", Reporter: "bob@example.net", ReporterName: "Bob", Participants: []string{"bob@example.net", "alice@example.org"}}
	f.c3 = &Case{Subject: "carol's report", Reporter: "carol@example.com", ReporterName: "Carol"}
	update(t, s, func(tx *Tx) error {
		for _, c := range []*Case{f.c1, f.c2, f.c3} {
			if err := tx.NewCase(c); err != nil {
				return err
			}
		}
		return nil
	})
	f.aliceRaw = spool(t, s, "From: Alice <alice@example.org>\r\n\r\nsecret exploit\r\n")
	f.carolRaw = spool(t, s, "From: Carol <carol@example.com>\r\n\r\nother\r\n")
	f.in1 = addMsg(t, s, &Message{CaseID: f.c1.ID, Direction: "in", Hash: f.aliceRaw, From: "alice@example.org", To: []string{"security@example.com"},
		Subject: "RCE in alice's router", MessageID: "a1@example.org", Class: "report", SignerFingerprint: "ABCD", Signed: true, SignatureValid: true,
		Attachments: []Attachment{{Name: "alice-poc.py", ContentType: "text/x-python", Size: 10, Hash: sum("poc")}}, Size: 44})
	f.out1 = addMsg(t, s, &Message{CaseID: f.c1.ID, Direction: "out", From: "security@example.com", To: []string{"ALICE@example.org"},
		Subject: "Re: RCE in alice's router", MessageID: "ack1@example.com", Class: "own"})
	f.in2 = addMsg(t, s, &Message{CaseID: f.c2.ID, Direction: "in", Hash: sum("alice on bob's case"), From: "alice@example.org",
		To: []string{"security@example.com", "bob@example.net"}, Subject: "me too", Class: "follow-up"})
	f.in3 = addMsg(t, s, &Message{CaseID: f.c3.ID, Direction: "in", Hash: f.carolRaw, From: "carol@example.com", Subject: "carol's report"})
	f.queued = &OutboxItem{CaseID: f.c1.ID, Kind: "notice", To: []string{"alice@example.org"}, Raw: []byte("To: alice@example.org\r\n\r\nhi\r\n")}
	f.sent = &OutboxItem{CaseID: f.c1.ID, Kind: "ack", To: []string{"alice@example.org"}, Raw: []byte("To: Alice Liddell <alice@example.org>\r\n\r\nack\r\n")}
	f.other = &OutboxItem{CaseID: f.c3.ID, Kind: "ack", To: []string{"carol@example.com"}, Raw: []byte("To: carol@example.com\r\n\r\nack\r\n")}
	update(t, s, func(tx *Tx) error {
		for _, o := range []*OutboxItem{f.queued, f.sent, f.other} {
			if err := tx.Enqueue(o); err != nil {
				return err
			}
		}
		f.sent.State, f.sent.SentAt = OutboxSent, t0
		if err := tx.PutOutbox(f.sent); err != nil {
			return err
		}
		for _, e := range []struct {
			c uint64
			e Event
		}{
			{f.c1.ID, Event{Time: t0, Kind: "ack.queued", Actor: "bot", Detail: "<ack1@example.com> to Alice@example.org"}},
			{f.c1.ID, Event{Time: t0, Kind: "note", Actor: "alice@example.org", Detail: "reply"}},
			{f.c3.ID, Event{Time: t0, Kind: "note", Actor: "ann@example.com", Detail: "same bug as alice@example.org found"}},
			{f.c3.ID, Event{Time: t0, Kind: "ack.queued", Actor: "bot", Detail: "<x@example.com> to carol@example.com"}},
		} {
			if err := tx.AppendEvent(e.c, e.e); err != nil {
				return err
			}
		}
		if err := tx.PutKey("alice@example.org", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")); err != nil {
			return err
		}
		if err := tx.PutKey("carol@example.com", []byte("carol's key")); err != nil {
			return err
		}
		if err := tx.RecordSend("ack:alice@example.org", t0); err != nil {
			return err
		}
		return tx.RecordSend("ack:carol@example.com", t0)
	})
	return f
}

func TestForget(t *testing.T) {
	f := newForgetFixture(t)
	s := f.s
	now := t0.Add(time.Hour)
	var rep ForgetReport
	update(t, s, func(tx *Tx) error {
		var err error
		rep, err = tx.Forget(" ALICE@example.org ", now)
		return err
	})
	if !slices.Equal(rep.Cases, []uint64{f.c1.ID, f.c2.ID, f.c3.ID}) {
		t.Errorf("Forget().Cases = %v, want [%d %d %d]", rep.Cases, f.c1.ID, f.c2.ID, f.c3.ID)
	}
	if rep.Messages != 3 || rep.Events != 3 || rep.Outbox != 2 || rep.Canceled != 1 || !rep.Key || rep.Sends != 1 {
		t.Errorf("Forget() = %+v, want 3 messages, 3 events, 2 outbox, 1 canceled, key, 1 send", rep)
	}
	// The sent ack's bytes left the database for the raw directory when it
	// was sent; Forget lists that file too.
	sentRaw := sum(string(f.sent.Raw))
	if _, err := s.OpenRaw(sentRaw); err != nil {
		t.Fatalf("OpenRaw(sent ack) = %v, want the moved bytes", err)
	}
	if want := []string{f.aliceRaw, f.in2.Hash, sentRaw}; !slices.Equal(rep.Raw, want) {
		t.Errorf("Forget().Raw = %v, want %v", rep.Raw, want)
	}
	for _, h := range rep.Raw {
		if err := s.RemoveRaw(h); err != nil {
			t.Fatalf("RemoveRaw() = %v", err)
		}
	}
	if _, err := s.OpenRaw(f.carolRaw); err != nil {
		t.Errorf("OpenRaw(carol) = %v, want it kept", err)
	}

	// Read back through a fresh Open: the erasure is on disk.
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	s, err := Open(path, Options{NoSync: true, Now: fixedClock(t0)})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer s.Close()
	view(t, s, func(tx *Tx) error {
		c1, err := tx.Case(f.c1.ID)
		if err != nil {
			return err
		}
		if c1.Reporter != "" || c1.ReporterName != "" || c1.Subject != "" || c1.Ref != f.c1.Ref || c1.Status != "fixing" || c1.Language != "en" || !c1.Created.Equal(f.c1.Created) {
			t.Errorf("Case(1) = %+v, want reporter, name and subject erased, the rest kept", c1)
		}
		c2, _ := tx.Case(f.c2.ID)
		if c2.Reporter != "bob@example.net" || c2.Subject != "bob's report" || !slices.Equal(c2.Participants, []string{"bob@example.net"}) {
			t.Errorf("Case(2) = %+v, want bob's data kept and alice removed from participants", c2)
		}
		if ids, _ := tx.CasesByAddress("alice@example.org"); len(ids) != 0 {
			t.Errorf("CasesByAddress(alice) = %v, want none", ids)
		}
		if ids, _ := tx.CasesByAddress("bob@example.net"); !slices.Equal(ids, []uint64{f.c2.ID}) {
			t.Errorf("CasesByAddress(bob) = %v, want [%d]", ids, f.c2.ID)
		}
		ms, err := tx.Messages(f.c1.ID)
		if err != nil {
			return err
		}
		if len(ms) != 2 {
			t.Fatalf("Messages(1) = %d messages, want 2 (counts kept)", len(ms))
		}
		in := ms[0]
		if in.From != "" || in.Subject != "" || in.SignerFingerprint != "" || in.Attachments[0].Name != "" ||
			in.Class != "report" || in.Size != 44 || !in.Signed || in.Hash != f.aliceRaw || in.Attachments[0].Size != 10 {
			t.Errorf("Messages(1)[0] = %+v, want personal fields erased, the rest kept", in)
		}
		if out := ms[1]; len(out.To) != 0 || out.Subject != "" || out.From != "security@example.com" {
			t.Errorf("Messages(1)[1] = %+v, want recipient and subject erased", out)
		}
		if m2, _ := tx.Message(f.in2.ID); m2.From != "" || !slices.Equal(m2.To, []string{"security@example.com", "bob@example.net"}) {
			t.Errorf("Message(in2) = %+v, want alice erased, bob kept", m2)
		}
		if m3, _ := tx.Message(f.in3.ID); m3.From != "carol@example.com" || m3.Subject != "carol's report" {
			t.Errorf("Message(in3) = %+v, want carol's message untouched", m3)
		}
		q, err := tx.OutboxItem(f.queued.ID)
		if err != nil {
			return err
		}
		if q.State != OutboxFailed || len(q.To) != 0 || len(q.Raw) != 0 || q.LastError == "" {
			t.Errorf("OutboxItem(queued) = %+v, want failed with no recipient and no bytes", q)
		}
		if due, _ := tx.DueOutbox(t0.Add(100*time.Hour), 0); len(due) != 1 || due[0].ID != f.other.ID {
			t.Errorf("DueOutbox() = %d items, want only carol's", len(due))
		}
		if sent, _ := tx.OutboxItem(f.sent.ID); sent.State != OutboxSent || len(sent.Raw) != 0 || sent.RawHash != "" || len(sent.To) != 0 {
			t.Errorf("OutboxItem(sent) = %+v, want sent, no bytes, no recipient", sent)
		}
		if other, _ := tx.OutboxItem(f.other.ID); len(other.Raw) == 0 {
			t.Errorf("OutboxItem(other) lost its bytes")
		}
		if _, ok := tx.Key("alice@example.org"); ok {
			t.Errorf("Key(alice) still stored")
		}
		if _, ok := tx.Key("carol@example.com"); !ok {
			t.Errorf("Key(carol) removed")
		}
		if n, _ := tx.RecentSends("ack:alice@example.org", t0.Add(-time.Hour)); n != 0 {
			t.Errorf("RecentSends(alice) = %d, want 0", n)
		}
		if n, _ := tx.RecentSends("ack:carol@example.com", t0.Add(-time.Hour)); n != 1 {
			t.Errorf("RecentSends(carol) = %d, want 1", n)
		}
		for _, id := range []uint64{f.c1.ID, f.c2.ID, f.c3.ID} {
			evs, err := tx.Events(id)
			if err != nil {
				return err
			}
			forgot := 0
			for _, e := range evs {
				if strings.Contains(strings.ToLower(e.Actor+e.Detail), "alice") {
					t.Errorf("case %d: event %+v still names alice", id, e)
				}
				if e.Kind == EventForgotten {
					forgot++
					if !e.Time.Equal(now) {
						t.Errorf("case %d: %s at %v, want %v", id, e.Kind, e.Time, now)
					}
				}
			}
			if forgot != 1 {
				t.Errorf("case %d: %d %s events, want 1", id, forgot, EventForgotten)
			}
		}
		evs, _ := tx.Events(f.c3.ID)
		if evs[0].Detail != "same bug as "+Forgotten+" found" || evs[1].Detail != "<x@example.com> to carol@example.com" {
			t.Errorf("Events(3) = %+v, want alice replaced, carol kept", evs)
		}
		for _, id := range []uint64{f.in1.ID} {
			if p, _ := tx.RawPurged(f.c1.ID, id); !p {
				t.Errorf("RawPurged(in1) = false, want true")
			}
		}
		return nil
	})

	// Forgetting again finds nothing (and touches no case).
	update(t, s, func(tx *Tx) error {
		again, err := tx.Forget("alice@example.org", now)
		if len(again.Cases) != 0 || again.Messages != 0 || again.Events != 0 || again.Key || len(again.Raw) != 0 {
			t.Errorf("Forget() again = %+v, want nothing", again)
		}
		return err
	})
}

// TestForgetThenRestoreErases: bbolt keeps erased values in freed pages
// until they are reused, so the live file and a Backup of it may still hold
// them; a restored file is a compacted copy and holds none.
func TestForgetThenRestoreErases(t *testing.T) {
	f := newForgetFixture(t)
	update(t, f.s, func(tx *Tx) error { _, err := tx.Forget("alice@example.org", t0); return err })
	var buf bytes.Buffer
	if _, err := f.s.Backup(&buf); err != nil {
		t.Fatalf("Backup() = %v", err)
	}
	restored := filepath.Join(t.TempDir(), "restored.db")
	if err := RestoreFile(bytes.NewReader(buf.Bytes()), restored); err != nil {
		t.Fatalf("RestoreFile() = %v", err)
	}
	data, err := os.ReadFile(restored)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(bytes.ToLower(data), []byte("alice")); n != 0 {
		t.Errorf("restored file names alice %d times, want 0", n)
	}
	// Records are compressed: look into every decoded value too.
	if n := mentions(t, restored, "alice"); n != 0 {
		t.Errorf("restored records name alice %d times, want 0", n)
	}
	if n := mentions(t, restored, "carol@example.com"); n == 0 {
		t.Errorf("restored file lost carol's data")
	}
	t.Logf("backup after Forget: %d bytes, %d occurrences of \"alice\" in free pages; restored: %d bytes",
		buf.Len(), bytes.Count(bytes.ToLower(buf.Bytes()), []byte("alice")), len(data))
}

func TestForgetInvalid(t *testing.T) {
	s := openTest(t)
	for _, addr := range []string{"", "   ", "not-an-address"} {
		err := s.Update(func(tx *Tx) error { _, err := tx.Forget(addr, t0); return err })
		if err == nil {
			t.Errorf("Forget(%q) = nil error", addr)
		}
	}
}

func TestReplaceFold(t *testing.T) {
	for _, tc := range []struct{ s, want string }{
		{"to a@b.org", "to X"},
		{"A@B.ORG and a@b.org", "X and X"},
		{"a@b.orgx", "Xx"},
		{"nothing", "nothing"},
		{"İ a@b.org", "İ X"}, // lowercase changes length: exact match only
		{"", ""},
	} {
		if got := replaceFold(tc.s, "a@b.org", "X"); got != tc.want {
			t.Errorf("replaceFold(%q) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestRestore(t *testing.T) {
	s := openTest(t)
	c := newCase(t, s, "r@example.org")
	var backup bytes.Buffer
	if _, err := s.Backup(&backup); err != nil {
		t.Fatalf("Backup() = %v", err)
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "restored.db")
	if err := s.Restore(bytes.NewReader(backup.Bytes()), target); err != nil {
		t.Fatalf("Restore() = %v", err)
	}
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatalf("Stat() = %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("restored mode = %v, want 0600", fi.Mode().Perm())
	}
	r, err := Open(target, Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open(restored) = %v", err)
	}
	view(t, r, func(tx *Tx) error {
		got, err := tx.CaseByRef(c.Ref)
		if err != nil || got.Reporter != "r@example.org" {
			t.Errorf("CaseByRef() = %+v, %v, want the backed-up case", got, err)
		}
		return nil
	})
	r.Close()

	// Refusals, each leaving no temp file behind.
	empty := filepath.Join(t.TempDir(), "empty.db")
	ebolt, err := bbolt.Open(empty, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	ebolt.Close()
	emptyBytes, _ := os.ReadFile(empty)
	newer := filepath.Join(t.TempDir(), "newer.db")
	nb, err := bbolt.Open(newer, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	nb.Update(func(tx *bbolt.Tx) error {
		b, _ := tx.CreateBucket(bMeta)
		return b.Put(keySchema, []byte("99"))
	})
	nb.Close()
	newerBytes, _ := os.ReadFile(newer)
	corrupt := bytes.Clone(backup.Bytes())
	// Overwrite the root's page header with garbage. The root page is named
	// by the newer of the two meta pages (page header 16 bytes, then magic,
	// version, page size, flags, root pgid at 32, ..., txid at 64).
	pageSize := os.Getpagesize()
	meta := func(i int) []byte { return corrupt[i*pageSize : (i+1)*pageSize] }
	m := meta(0)
	if binary.LittleEndian.Uint64(meta(1)[64:]) > binary.LittleEndian.Uint64(m[64:]) {
		m = meta(1)
	}
	root := int(binary.LittleEndian.Uint64(m[32:]))
	for i := root * pageSize; i < root*pageSize+64 && i < len(corrupt); i++ {
		corrupt[i] = 0xff
	}

	for _, tc := range []struct {
		name string
		data []byte
		path string
		want error
	}{
		{"existing file", backup.Bytes(), target, ErrRestoreExists},
		{"own database", backup.Bytes(), s.Path(), ErrRestoreExists},
		{"garbage", []byte("this is not a database"), filepath.Join(dir, "g.db"), ErrBadBackup},
		{"empty", nil, filepath.Join(dir, "e.db"), ErrBadBackup},
		{"truncated", backup.Bytes()[:backup.Len()/2], filepath.Join(dir, "t.db"), ErrBadBackup},
		{"corrupt page", corrupt, filepath.Join(dir, "c.db"), ErrBadBackup},
		{"bbolt without schema", emptyBytes, filepath.Join(dir, "n.db"), ErrBadBackup},
		{"newer schema", newerBytes, filepath.Join(dir, "v.db"), ErrNewerSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadDir(filepath.Dir(tc.path))
			err := s.Restore(bytes.NewReader(tc.data), tc.path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Restore() = %v, want %v", err, tc.want)
			}
			after, _ := os.ReadDir(filepath.Dir(tc.path))
			if len(after) != len(before) {
				t.Errorf("Restore() left %d files, had %d", len(after), len(before))
			}
		})
	}
	// The open store still works after a refused restore onto it.
	view(t, s, func(tx *Tx) error {
		if _, err := tx.Case(c.ID); err != nil {
			t.Errorf("Case() after refused restore = %v", err)
		}
		return nil
	})
}

// smallBackup returns the backup of a store with a few cases and messages.
func smallBackup(t testing.TB) []byte {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "mailbot.db"), Options{NoSync: true, Now: fixedClock(t0)})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer s.Close()
	err = s.Update(func(tx *Tx) error {
		for i := range 20 {
			c := &Case{Subject: strings.Repeat("s", i*50), Reporter: "r@example.org"}
			if err := tx.NewCase(c); err != nil {
				return err
			}
			if err := tx.AddMessage(&Message{CaseID: c.ID, Direction: "in", Hash: sum(c.Subject), Subject: c.Subject}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update() = %v", err)
	}
	var buf bytes.Buffer
	if _, err := s.Backup(&buf); err != nil {
		t.Fatalf("Backup() = %v", err)
	}
	return buf.Bytes()
}

// TestRestoreCorruptPages damages every page of a backup in turn: Restore
// must refuse (or accept a still consistent file), never crash the process.
func TestRestoreCorruptPages(t *testing.T) {
	good := smallBackup(t)
	ps := os.Getpagesize()
	dir := t.TempDir()
	refused := 0
	for page := 0; page*ps < len(good); page++ {
		for _, off := range []int{0, 8, 16, 40} {
			for _, fill := range []byte{0x00, 0xff, 0x7f} {
				bad := bytes.Clone(good)
				for i := page*ps + off; i < page*ps+off+16 && i < len(bad); i++ {
					bad[i] = fill
				}
				p := filepath.Join(dir, "r.db")
				err := RestoreFile(bytes.NewReader(bad), p)
				switch {
				case err == nil:
					os.Remove(p)
				case errors.Is(err, ErrBadBackup):
					refused++
				default:
					t.Errorf("RestoreFile(page %d+%d = %#x) = %v, want nil or ErrBadBackup", page, off, fill, err)
				}
			}
		}
	}
	if refused == 0 {
		t.Errorf("RestoreFile() refused no corrupted backup")
	}
	t.Logf("%d pages, %d corrupted copies refused", len(good)/ps, refused)
}

func FuzzRestoreFile(f *testing.F) {
	good := smallBackup(f)
	f.Add(good, 0, byte(0))
	f.Add(good, 4096*3, byte(0xff))
	f.Add(good, 4096*2+16, byte(0x10))
	f.Add([]byte("garbage"), 0, byte(0))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, off int, fill byte) {
		data = bytes.Clone(data)
		if len(data) > 0 {
			if off < 0 {
				off = -off
			}
			off %= len(data)
			for i := off; i < off+8 && i < len(data); i++ {
				data[i] = fill
			}
		}
		p := filepath.Join(dir, "f.db")
		err := RestoreFile(bytes.NewReader(data), p)
		os.Remove(p)
		if err != nil && !errors.Is(err, ErrBadBackup) {
			t.Fatalf("RestoreFile() = %v, want nil or ErrBadBackup", err)
		}
	})
}

// mentions counts the occurrences of word (any case) in the keys and the
// decoded values of every bucket of the database file at path.
func mentions(t *testing.T, path, word string) int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := []byte(strings.ToLower(word))
	n := 0
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				plain, err := recordJSON(v)
				if err != nil {
					plain = v // not a record (an index value)
				}
				n += bytes.Count(bytes.ToLower(k), w) + bytes.Count(bytes.ToLower(plain), w)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rawDone reports whether PurgeRaw marked the case done.
func rawDone(t *testing.T, s *Store, caseID uint64) bool {
	t.Helper()
	var done bool
	view(t, s, func(tx *Tx) error { done = tx.mustBucket(bRawDone).Get(itob(caseID)) != nil; return nil })
	return done
}

// purgeAll runs PurgeRaw (closedStatus) to the end, limit cases at a time,
// one transaction each, the way the daemon does, and returns the hashes and
// how many runs it took.
func purgeAll(tb testing.TB, s *Store, before time.Time, limit int) (hashes []string, runs int) {
	tb.Helper()
	for from := uint64(0); ; runs++ {
		var h []string
		var next uint64
		err := s.Update(func(tx *Tx) (err error) {
			h, next, err = tx.PurgeRaw(before, closedStatus, from, limit)
			return err
		})
		if err != nil {
			tb.Fatalf("PurgeRaw(from %d) = %v", from, err)
		}
		hashes = append(hashes, h...)
		if next == 0 {
			return hashes, runs + 1
		}
		if next <= from {
			tb.Fatalf("PurgeRaw(from %d) = next %d, want more than %d", from, next, from)
		}
		from = next
	}
}

// TestPurgeRawSkipsDoneCases: a closed case whose raw mail is all gone is
// not read again by later runs, until mail is added to it, moved to it or
// queued on it.
func TestPurgeRawSkipsDoneCases(t *testing.T) {
	s := openTest(t)
	old := t0.Add(-400 * 24 * time.Hour)
	cutoff := t0.Add(-365 * 24 * time.Hour)
	var cases []*Case
	for i := range 3 {
		c := &Case{Subject: "closed", Reporter: "a@example.org", Status: "disclosed"}
		update(t, s, func(tx *Tx) error { return tx.NewCase(c) })
		addMsg(t, s, &Message{CaseID: c.ID, Direction: "in", Hash: spool(t, s, "report "+string(rune('a'+i))), Received: old})
		cases = append(cases, c)
	}
	// The third case also has mail too recent to purge: it is not done.
	addMsg(t, s, &Message{CaseID: cases[2].ID, Direction: "in", Hash: spool(t, s, "recent"), Received: t0})
	hashes, _ := purgeAll(t, s, cutoff, 0)
	if len(hashes) != 3 {
		t.Fatalf("PurgeRaw() = %d hashes, want 3", len(hashes))
	}
	for i, want := range []bool{true, true, false} {
		if got := rawDone(t, s, cases[i].ID); got != want {
			t.Errorf("case %d done = %v, want %v", i, got, want)
		}
	}

	// Each way mail reaches a done case puts it back.
	moved := addMsg(t, s, &Message{Direction: "in", Hash: spool(t, s, "loose"), Received: old})
	addMsg(t, s, &Message{CaseID: cases[0].ID, Direction: "in", Hash: spool(t, s, "late follow-up"), Received: old})
	update(t, s, func(tx *Tx) error { return tx.SetMessageCase(moved.ID, cases[1].ID) })
	if rawDone(t, s, cases[0].ID) || rawDone(t, s, cases[1].ID) {
		t.Fatalf("cases still done after a message was added to one and moved to the other")
	}
	hashes, _ = purgeAll(t, s, cutoff, 0)
	if len(hashes) != 2 {
		t.Errorf("PurgeRaw() after new mail = %d hashes, want the 2 new messages", len(hashes))
	}
	o := &OutboxItem{CaseID: cases[0].ID, Kind: "notice", To: []string{"a@example.org"}, Raw: []byte("x"), Created: old}
	update(t, s, func(tx *Tx) error { return tx.Enqueue(o) })
	if rawDone(t, s, cases[0].ID) {
		t.Fatalf("case done with mail queued on it")
	}
	if hashes, _ = purgeAll(t, s, cutoff, 0); len(hashes) != 0 || rawDone(t, s, cases[0].ID) {
		t.Errorf("PurgeRaw() with mail queued = %v, done %v; want nothing, not done", hashes, rawDone(t, s, cases[0].ID))
	}
	o.State, o.SentAt = OutboxSent, old
	update(t, s, func(tx *Tx) error { return tx.PutOutbox(o) })
	if hashes, _ = purgeAll(t, s, cutoff, 0); len(hashes) != 1 || !rawDone(t, s, cases[0].ID) {
		t.Errorf("PurgeRaw() once sent = %v, done %v; want the sent mail, done", hashes, rawDone(t, s, cases[0].ID))
	}

	// A done case is skipped: it does not even count against the limit.
	update(t, s, func(tx *Tx) error {
		h, next, err := tx.PurgeRaw(cutoff, func(c *Case) bool {
			if c.ID != cases[2].ID {
				t.Errorf("PurgeRaw() looked at done case %d", c.ID)
			}
			return true
		}, 0, 1)
		if len(h) != 0 || next != 0 {
			t.Errorf("PurgeRaw(limit 1) = %v, next %d; want nothing left to look at", h, next)
		}
		return err
	})
}

// TestPurgeRawInChunks: limit cases per transaction, resumed from next,
// purge what one pass does.
func TestPurgeRawInChunks(t *testing.T) {
	s := openTest(t)
	old := t0.Add(-400 * 24 * time.Hour)
	for i := range 7 {
		c := &Case{Subject: "closed", Reporter: "a@example.org", Status: "disclosed"}
		if i == 3 {
			c.Status = "fixing"
		}
		update(t, s, func(tx *Tx) error { return tx.NewCase(c) })
		addMsg(t, s, &Message{CaseID: c.ID, Direction: "in", Hash: spool(t, s, "r"+string(rune('a'+i))), Received: old})
	}
	hashes, runs := purgeAll(t, s, t0, 2)
	if len(hashes) != 6 || runs != 4 {
		t.Errorf("PurgeRaw(limit 2) = %d hashes in %d runs, want 6 in 4", len(hashes), runs)
	}
	// Only the open case is left to look at.
	if hashes, runs = purgeAll(t, s, t0, 2); len(hashes) != 0 || runs != 1 {
		t.Errorf("PurgeRaw(limit 2) again = %d hashes in %d runs, want 0 in 1", len(hashes), runs)
	}
}
