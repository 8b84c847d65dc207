package store

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAddMessage(t *testing.T) {
	s := openTest(t)
	c := newCase(t, s, "a@example.org")
	m := &Message{
		CaseID:      c.ID,
		Direction:   "in",
		Hash:        sum("mail 1"),
		Size:        6,
		MessageID:   " <abc@example.org> ",
		InReplyTo:   []string{"p@x"},
		References:  []string{"r@x", "p@x"},
		From:        "a@example.org",
		To:          []string{"security@example.com"},
		Subject:     "hi",
		Date:        t0.Add(-time.Minute),
		Class:       "report",
		Source:      "imap:INBOX:7:1",
		Attachments: []Attachment{{Name: "poc.py", ContentType: "text/x-python", Size: 10, Hash: sum("poc")}},
		Encrypted:   true, Signed: true, SignatureValid: true, SignerFingerprint: "ABCD",
	}
	update(t, s, func(tx *Tx) error { return tx.AddMessage(m) })
	if m.ID != 1 || m.MessageID != "abc@example.org" || !m.Received.Equal(t0) {
		t.Errorf("AddMessage() set id %d msgid %q received %v, want 1 abc@example.org %v", m.ID, m.MessageID, m.Received, t0)
	}
	view(t, s, func(tx *Tx) error {
		got, err := tx.Message(m.ID)
		if err != nil {
			t.Fatalf("Message() = %v", err)
		}
		if got.Hash != m.Hash || got.From != m.From || !slices.Equal(got.References, m.References) || !got.Date.Equal(m.Date) ||
			len(got.Attachments) != 1 || got.Attachments[0] != m.Attachments[0] || !got.Encrypted || !got.SignatureValid || got.SignerFingerprint != "ABCD" {
			t.Errorf("Message() = %+v, want %+v", got, m)
		}
		if id, ok := tx.SeenHash(m.Hash); !ok || id != m.ID {
			t.Errorf("SeenHash() = %d, %v, want %d, true", id, ok, m.ID)
		}
		if _, ok := tx.SeenHash(sum("other")); ok {
			t.Errorf("SeenHash(other) = true")
		}
		if got, err := tx.MessageByHash(m.Hash); err != nil || got.ID != m.ID {
			t.Errorf("MessageByHash() = %v, %v, want id %d", got, err, m.ID)
		}
		for _, id := range []string{"abc@example.org", "<abc@example.org>", " <abc@example.org>"} {
			if cid, ok := tx.CaseByMessageID(id); !ok || cid != c.ID {
				t.Errorf("CaseByMessageID(%q) = %d, %v, want %d", id, cid, ok, c.ID)
			}
		}
		// Message-IDs are compared exactly.
		if _, ok := tx.CaseByMessageID("ABC@example.org"); ok {
			t.Errorf("CaseByMessageID(ABC@example.org) = true, want exact match only")
		}
		return nil
	})

	tests := []struct {
		name string
		m    Message
		want error
	}{
		{"duplicate hash", Message{Hash: m.Hash}, ErrDuplicate},
		{"bad hash", Message{Hash: strings.ToUpper(sum("x"))}, nil},
		{"short hash", Message{Hash: "abc"}, nil},
		{"missing case", Message{CaseID: 99, Hash: sum("y")}, ErrCaseNotFound},
	}
	for _, tc := range tests {
		err := s.Update(func(tx *Tx) error { return tx.AddMessage(&tc.m) })
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: AddMessage() = %v, want an error (%v)", tc.name, err, tc.want)
		}
	}
}

func TestMessageLookupsNotFound(t *testing.T) {
	s := openTest(t)
	update(t, s, func(tx *Tx) error { return tx.Quarantine(&Quarantined{Hash: sum("q")}) })
	view(t, s, func(tx *Tx) error {
		for _, h := range []string{sum("none"), sum("q"), "../etc/passwd", ""} {
			if _, err := tx.MessageByHash(h); !errors.Is(err, ErrMessageNotFound) {
				t.Errorf("MessageByHash(%q) = %v, want ErrMessageNotFound", h, err)
			}
		}
		if _, err := tx.Message(1); !errors.Is(err, ErrMessageNotFound) {
			t.Errorf("Message(1) = %v, want ErrMessageNotFound", err)
		}
		for _, id := range []string{"", "<>", "x@y"} {
			if _, ok := tx.CaseByMessageID(id); ok {
				t.Errorf("CaseByMessageID(%q) = true", id)
			}
		}
		return nil
	})
}

func TestMessagesOfCase(t *testing.T) {
	s := openTest(t)
	c1 := newCase(t, s, "a@example.org")
	c2 := newCase(t, s, "b@example.org")
	// Interleave messages of two cases and of no case.
	update(t, s, func(tx *Tx) error {
		for i, cid := range []uint64{c1.ID, c2.ID, 0, c1.ID, c2.ID, c1.ID} {
			m := &Message{CaseID: cid, Direction: "in", Hash: sum(string(rune('a' + i)))}
			if err := tx.AddMessage(m); err != nil {
				return err
			}
		}
		// Outgoing messages have no hash; several may be stored.
		for range 2 {
			if err := tx.AddMessage(&Message{CaseID: c2.ID, Direction: "out"}); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		caseID uint64
		want   []uint64
	}{
		{c1.ID, []uint64{1, 4, 6}},
		{c2.ID, []uint64{2, 5, 7, 8}},
		{0, []uint64{3}},
		{99, nil},
	}
	view(t, s, func(tx *Tx) error {
		for _, tc := range tests {
			ms, err := tx.Messages(tc.caseID)
			var ids []uint64
			for _, m := range ms {
				ids = append(ids, m.ID)
				if m.CaseID != tc.caseID {
					t.Errorf("Messages(%d) returned message %d of case %d", tc.caseID, m.ID, m.CaseID)
				}
			}
			if err != nil || !slices.Equal(ids, tc.want) {
				t.Errorf("Messages(%d) = %v, %v, want %v", tc.caseID, ids, err, tc.want)
			}
		}
		return nil
	})
}

// The first case to claim a Message-ID keeps it; a later message reusing the
// id cannot pull the thread to its own case.
func TestMessageIDFirstClaimWins(t *testing.T) {
	s := openTest(t)
	victim := newCase(t, s, "victim@example.org")
	attacker := newCase(t, s, "attacker@example.org")
	update(t, s, func(tx *Tx) error {
		if err := tx.AddMessage(&Message{CaseID: victim.ID, Hash: sum("1"), MessageID: "id@x"}); err != nil {
			return err
		}
		return tx.AddMessage(&Message{CaseID: attacker.ID, Hash: sum("2"), MessageID: "id@x"})
	})
	view(t, s, func(tx *Tx) error {
		if cid, ok := tx.CaseByMessageID("id@x"); !ok || cid != victim.ID {
			t.Errorf("CaseByMessageID() = %d, %v, want %d", cid, ok, victim.ID)
		}
		return nil
	})
}

func TestLongMessageIDNotIndexed(t *testing.T) {
	s := openTest(t)
	c := newCase(t, s, "a@example.org")
	long := strings.Repeat("x", 40000) + "@example.org"
	update(t, s, func(tx *Tx) error {
		return tx.AddMessage(&Message{CaseID: c.ID, Hash: sum("1"), MessageID: long})
	})
	view(t, s, func(tx *Tx) error {
		if _, ok := tx.CaseByMessageID(long); ok {
			t.Errorf("CaseByMessageID(40 KB id) = true, want not indexed")
		}
		return nil
	})
	if err := s.Update(func(tx *Tx) error { return tx.LinkMessageID(long, c.ID) }); err == nil {
		t.Errorf("LinkMessageID(40 KB id) = nil error")
	}
}

func TestSetMessageCase(t *testing.T) {
	s := openTest(t)
	c1 := newCase(t, s, "a@example.org")
	c2 := newCase(t, s, "b@example.org")
	c3 := newCase(t, s, "c@example.org")
	var m1, m2, m3 Message
	update(t, s, func(tx *Tx) error {
		m1 = Message{CaseID: c1.ID, Hash: sum("1"), MessageID: "one@x"}
		m2 = Message{CaseID: 0, Hash: sum("2"), MessageID: "two@x"}
		m3 = Message{CaseID: c1.ID, Hash: sum("3"), MessageID: "three@x"}
		for _, m := range []*Message{&m1, &m2, &m3} {
			if err := tx.AddMessage(m); err != nil {
				return err
			}
		}
		// three@x is claimed by c3 explicitly: moving m3 must not steal it.
		return tx.LinkMessageID("three@x", c3.ID)
	})
	update(t, s, func(tx *Tx) error {
		for _, mv := range []struct{ msg, to uint64 }{{m1.ID, c2.ID}, {m2.ID, c2.ID}, {m3.ID, 0}} {
			if err := tx.SetMessageCase(mv.msg, mv.to); err != nil {
				return err
			}
		}
		return tx.SetMessageCase(m1.ID, c2.ID) // no-op
	})
	view(t, s, func(tx *Tx) error {
		checkIDs := func(caseID uint64, want []uint64) {
			t.Helper()
			ms, err := tx.Messages(caseID)
			var ids []uint64
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			if err != nil || !slices.Equal(ids, want) {
				t.Errorf("Messages(%d) = %v, %v, want %v", caseID, ids, err, want)
			}
		}
		checkIDs(c1.ID, nil)
		checkIDs(c2.ID, []uint64{m1.ID, m2.ID})
		checkIDs(0, []uint64{m3.ID})
		if m, _ := tx.Message(m1.ID); m.CaseID != c2.ID {
			t.Errorf("Message(m1).CaseID = %d, want %d", m.CaseID, c2.ID)
		}
		for _, tc := range []struct {
			id     string
			want   uint64
			wantOK bool
		}{{"one@x", c2.ID, true}, {"two@x", c2.ID, true}, {"three@x", c3.ID, true}} {
			if cid, ok := tx.CaseByMessageID(tc.id); cid != tc.want || ok != tc.wantOK {
				t.Errorf("CaseByMessageID(%q) = %d, %v, want %d, %v", tc.id, cid, ok, tc.want, tc.wantOK)
			}
		}
		return nil
	})
	// Moving to no case drops a link that pointed at the old case.
	update(t, s, func(tx *Tx) error { return tx.SetMessageCase(m1.ID, 0) })
	view(t, s, func(tx *Tx) error {
		if cid, ok := tx.CaseByMessageID("one@x"); ok {
			t.Errorf("CaseByMessageID(one@x) = %d, true after moving to no case", cid)
		}
		return nil
	})
	for _, tc := range []struct {
		name    string
		msg, to uint64
		want    error
	}{{"no message", 99, c1.ID, ErrMessageNotFound}, {"no case", m1.ID, 99, ErrCaseNotFound}} {
		if err := s.Update(func(tx *Tx) error { return tx.SetMessageCase(tc.msg, tc.to) }); !errors.Is(err, tc.want) {
			t.Errorf("%s: SetMessageCase() = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestLinkMessageID(t *testing.T) {
	s := openTest(t)
	c1 := newCase(t, s, "a@example.org")
	c2 := newCase(t, s, "b@example.org")
	update(t, s, func(tx *Tx) error {
		if err := tx.LinkMessageID("<ref@x>", c1.ID); err != nil {
			return err
		}
		return tx.LinkMessageID("ref@x", c2.ID) // an explicit link replaces
	})
	view(t, s, func(tx *Tx) error {
		if cid, ok := tx.CaseByMessageID("ref@x"); !ok || cid != c2.ID {
			t.Errorf("CaseByMessageID() = %d, %v, want %d", cid, ok, c2.ID)
		}
		return nil
	})
	for _, tc := range []struct {
		name string
		id   string
		c    uint64
		want error
	}{{"empty", "<>", c1.ID, nil}, {"no case", "x@y", 99, ErrCaseNotFound}, {"case 0", "x@y", 0, ErrCaseNotFound}} {
		err := s.Update(func(tx *Tx) error { return tx.LinkMessageID(tc.id, tc.c) })
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: LinkMessageID() = %v, want an error (%v)", tc.name, err, tc.want)
		}
	}
}
