package store

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// PendingKey is a researcher's OpenPGP key offered for an address that
// already has another one. It waits beside the known key, which stays the
// one mail is encrypted to, until the team accepts it (trust on first use:
// a new key from unauthenticated mail is only a claim).
type PendingKey struct {
	Address     string    // lowercase
	Fingerprint string    // uppercase hex of the primary key
	Armored     []byte    `json:",omitzero"`
	Time        time.Time `json:",omitzero"` // when it arrived
	MessageID   uint64    `json:",omitzero"` // the stored message that carried it
	CaseID      uint64    `json:",omitzero"` // the case that message went to
}

// pendingKeyPrefix starts the keys of pending keys in the pgpkeys bucket:
// 0x00 "pending" 0x00 address 0x00 fingerprint. An address never holds
// 0x00 (PutKey and Key refuse it), so no address aliases a pending key.
const pendingKeyPrefix = "\x00pending\x00"

// validKeyAddr reports whether addr (normalized) may name a key.
func validKeyAddr(addr string) bool {
	return addr != "" && len(addr) <= maxIndexKey && !strings.ContainsRune(addr, 0)
}

func pendingPrefix(addr string) []byte {
	return []byte(pendingKeyPrefix + addr + "\x00")
}

// PutPendingKey stores p (Address lowercased, Time set to now if zero),
// replacing a pending key of the same address and fingerprint.
func (tx *Tx) PutPendingKey(p *PendingKey) error {
	p.Address = normAddr(p.Address)
	p.Fingerprint = strings.ToUpper(p.Fingerprint)
	if !validKeyAddr(p.Address) || p.Fingerprint == "" || strings.ContainsRune(p.Fingerprint, 0) || len(p.Fingerprint) > 128 {
		return fmt.Errorf("store: put pending key: invalid address %q or fingerprint %q", p.Address, p.Fingerprint)
	}
	if p.Time.IsZero() {
		p.Time = tx.s.now()
	}
	b, err := tx.bucket(bPGPKeys)
	if err != nil {
		return err
	}
	if err := putRecord(b, append(pendingPrefix(p.Address), p.Fingerprint...), p); err != nil {
		return fmt.Errorf("store: put pending key: %w", err)
	}
	return nil
}

// PendingKeys returns the pending keys of addr, by fingerprint.
func (tx *Tx) PendingKeys(addr string) ([]*PendingKey, error) {
	addr = normAddr(addr)
	b := tx.mustBucket(bPGPKeys)
	if b == nil || !validKeyAddr(addr) {
		return nil, nil
	}
	prefix := pendingPrefix(addr)
	var out []*PendingKey
	cur := b.Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		p := new(PendingKey)
		if err := decodeRecord(v, p); err != nil {
			return nil, fmt.Errorf("store: pending key %q: %w", k[len(prefix):], err)
		}
		out = append(out, p)
	}
	return out, nil
}

// DeletePendingKey forgets one pending key of addr; absent is no error.
func (tx *Tx) DeletePendingKey(addr, fingerprint string) error {
	addr = normAddr(addr)
	if !validKeyAddr(addr) {
		return nil
	}
	b, err := tx.bucket(bPGPKeys)
	if err != nil {
		return err
	}
	if err := b.Delete(append(pendingPrefix(addr), strings.ToUpper(fingerprint)...)); err != nil {
		return fmt.Errorf("store: delete pending key: %w", err)
	}
	return nil
}

// deletePendingKeys forgets every pending key of addr and reports how many.
func (tx *Tx) deletePendingKeys(addr string) (int, error) {
	ps, err := tx.PendingKeys(addr)
	if err != nil {
		return 0, err
	}
	for _, p := range ps {
		if err := tx.DeletePendingKey(addr, p.Fingerprint); err != nil {
			return 0, err
		}
	}
	return len(ps), nil
}
