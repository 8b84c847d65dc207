package store

import (
	"testing"
)

func TestPendingKeys(t *testing.T) {
	s := openTest(t)
	update(t, s, func(tx *Tx) error {
		if err := tx.PutKey("ada@example.org", []byte("known key")); err != nil {
			return err
		}
		for _, fp := range []string{"bbbb", "AAAA"} {
			if err := tx.PutPendingKey(&PendingKey{Address: "Ada@Example.org", Fingerprint: fp, Armored: []byte("key " + fp), MessageID: 7, CaseID: 3}); err != nil {
				return err
			}
		}
		return tx.PutPendingKey(&PendingKey{Address: "ada@example.org.evil", Fingerprint: "CCCC"})
	})
	view(t, s, func(tx *Tx) error {
		if k, ok := tx.Key("ada@example.org"); !ok || string(k) != "known key" {
			t.Errorf("Key() = %q, %v, want the known key: a pending key never replaces it", k, ok)
		}
		ps, err := tx.PendingKeys("ADA@example.org")
		if err != nil || len(ps) != 2 {
			t.Fatalf("PendingKeys() = %v, %v, want 2", ps, err)
		}
		p := ps[0]
		if p.Fingerprint != "AAAA" || string(p.Armored) != "key AAAA" || p.Address != "ada@example.org" || p.MessageID != 7 || p.CaseID != 3 || !p.Time.Equal(t0) {
			t.Errorf("PendingKeys()[0] = %+v, want AAAA from message 7 at %v", p, t0)
		}
		if ps[1].Fingerprint != "BBBB" {
			t.Errorf("PendingKeys()[1].Fingerprint = %q, want BBBB (uppercased)", ps[1].Fingerprint)
		}
		return nil
	})
	update(t, s, func(tx *Tx) error { return tx.DeletePendingKey("ada@example.org", "aaaa") })
	view(t, s, func(tx *Tx) error {
		if ps, _ := tx.PendingKeys("ada@example.org"); len(ps) != 1 || ps[0].Fingerprint != "BBBB" {
			t.Errorf("PendingKeys() after delete = %+v, want only BBBB", ps)
		}
		if ps, _ := tx.PendingKeys("ada@example.org.evil"); len(ps) != 1 {
			t.Errorf("PendingKeys(other address) = %+v, want its own one", ps)
		}
		return nil
	})
	// An address holding 0x00 could alias a pending key's record.
	for _, addr := range []string{"\x00pending\x00ada@example.org\x00BBBB", "a\x00b@example.org"} {
		if err := s.Update(func(tx *Tx) error { return tx.PutKey(addr, []byte("x")) }); err == nil {
			t.Errorf("PutKey(%q) = nil, want an error", addr)
		}
		view(t, s, func(tx *Tx) error {
			if k, ok := tx.Key(addr); ok {
				t.Errorf("Key(%q) = %q, want none", addr, k)
			}
			return nil
		})
	}
	rep := ForgetReport{}
	update(t, s, func(tx *Tx) (err error) { rep, err = tx.Forget("ada@example.org", t0); return err })
	view(t, s, func(tx *Tx) error {
		ps, err := tx.PendingKeys("ada@example.org")
		if len(ps) != 0 || !rep.Key {
			t.Errorf("after Forget: PendingKeys() = %+v, report Key %v; want none and true", ps, rep.Key)
		}
		return err
	})
}
