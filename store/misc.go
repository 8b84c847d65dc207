package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// MailboxState is the IMAP watermark of one mailbox (RFC 9051 section 2.3.1.1:
// UIDs are only meaningful together with UIDVALIDITY).
type MailboxState struct {
	UIDValidity uint32
	LastUID     uint32
	// Held are UIDs at or below LastUID that were left on the server
	// unprocessed (new reports while the disk was low): the intake fetches
	// them again when they can be taken. Ascending, no repeats.
	Held []uint32 `json:",omitempty"`
}

// MailboxState returns the stored state of a mailbox; the zero value if none.
func (tx *Tx) MailboxState(mailbox string) (MailboxState, error) {
	b, err := tx.bucket(bMailbox)
	if err != nil {
		return MailboxState{}, err
	}
	var st MailboxState
	if _, err := getRecord(b, []byte(mailbox), &st); err != nil {
		return MailboxState{}, fmt.Errorf("store: mailbox state %q: %w", mailbox, err)
	}
	return st, nil
}

// SetMailboxState stores the state of a mailbox. Write it in the same Update
// as the messages it accounts for.
func (tx *Tx) SetMailboxState(mailbox string, st MailboxState) error {
	if mailbox == "" {
		return errors.New("store: set mailbox state: empty mailbox name")
	}
	b, err := tx.bucket(bMailbox)
	if err != nil {
		return err
	}
	if err := putRecord(b, []byte(mailbox), st); err != nil {
		return fmt.Errorf("store: set mailbox state %q: %w", mailbox, err)
	}
	return nil
}

// Quarantined is a raw message kept aside, unprocessed, with the reason.
type Quarantined struct {
	ID     uint64
	Hash   string    `json:",omitzero"`
	Size   int64     `json:",omitzero"`
	Source string    `json:",omitzero"`
	Reason string    `json:",omitzero"`
	Time   time.Time `json:",omitzero"`
}

// Quarantine records a quarantined message and sets q.ID (and q.Time if
// zero). Its Hash then counts as seen: SeenHash returns (0, true).
func (tx *Tx) Quarantine(q *Quarantined) error {
	hk, ok := hashKey(q.Hash)
	if !ok {
		return fmt.Errorf("store: quarantine: invalid hash %q", q.Hash)
	}
	b, err := tx.bucket(bQuarantine)
	if err != nil {
		return err
	}
	if q.Time.IsZero() {
		q.Time = tx.s.now()
	}
	id, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("store: quarantine: %w", err)
	}
	q.ID = id
	if err := putRecord(b, itob(id), q); err != nil {
		return fmt.Errorf("store: quarantine: %w", err)
	}
	if err := tx.mustBucket(bQHash).Put(hk, itob(id)); err != nil {
		return fmt.Errorf("store: quarantine: %w", err)
	}
	return nil
}

// QuarantineList calls fn for every quarantined message in id order until fn
// returns false.
func (tx *Tx) QuarantineList(fn func(*Quarantined) bool) error {
	b, err := tx.bucket(bQuarantine)
	if err != nil {
		return err
	}
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		q := new(Quarantined)
		if err := decodeRecord(v, q); err != nil {
			return fmt.Errorf("store: quarantine %d: %w", btoi(k), err)
		}
		if !fn(q) {
			break
		}
	}
	return nil
}

// failure is the value of the failures bucket.
type failure struct {
	Count  int
	Reason string    `json:",omitzero"`
	Last   time.Time `json:",omitzero"`
}

// Failures returns the number of failed processing attempts recorded for a
// source key (0 if none).
func (tx *Tx) Failures(source string) int {
	b := tx.mustBucket(bFailures)
	if b == nil || source == "" {
		return 0
	}
	var f failure
	if _, err := getRecord(b, []byte(source), &f); err != nil {
		return 0
	}
	return f.Count
}

// RecordFailure counts one more failed attempt for source, keeping the latest
// reason, and returns the new count. Record it in its own Update: the
// transaction that failed was rolled back.
func (tx *Tx) RecordFailure(source string, reason string) (int, error) {
	if source == "" {
		return 0, errors.New("store: record failure: empty source")
	}
	b, err := tx.bucket(bFailures)
	if err != nil {
		return 0, err
	}
	var f failure
	if _, err := getRecord(b, []byte(source), &f); err != nil {
		f = failure{} // a corrupt counter restarts rather than blocking intake
	}
	f.Count++
	f.Reason = reason
	f.Last = tx.s.now()
	if err := putRecord(b, []byte(source), f); err != nil {
		return 0, fmt.Errorf("store: record failure: %w", err)
	}
	return f.Count, nil
}

// ClearFailures forgets the failures of source.
func (tx *Tx) ClearFailures(source string) error {
	b, err := tx.bucket(bFailures)
	if err != nil {
		return err
	}
	if source == "" {
		return nil
	}
	if err := b.Delete([]byte(source)); err != nil {
		return fmt.Errorf("store: clear failures: %w", err)
	}
	return nil
}

// sendWindow is how long RecordSend keeps entries.
const sendWindow = 24 * time.Hour

// sendKeyLen is the fixed part after "key 0x00" in the sends bucket.
const sendKeyLen = timeKeyLen + 8

// RecentSends returns how many sends were recorded for key at or after since.
// Only the last 24 hours (before the latest RecordSend of key) are kept.
func (tx *Tx) RecentSends(key string, since time.Time) (int, error) {
	b, err := tx.bucket(bSends)
	if err != nil {
		return 0, err
	}
	prefix := strPrefix(key, 0)
	start := make([]byte, len(prefix)+timeKeyLen)
	copy(start, prefix)
	putTime(start[len(prefix):], since)
	n := 0
	cur := b.Cursor()
	for k, _ := cur.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		if len(k) == len(prefix)+sendKeyLen {
			n++
		}
	}
	return n, nil
}

// NewestSends returns the times of key's n newest send entries, newest
// first (fewer when key has fewer). Its cost is n, however many entries key
// holds.
func (tx *Tx) NewestSends(key string, n int) ([]time.Time, error) {
	b, err := tx.bucket(bSends)
	if err != nil {
		return nil, err
	}
	prefix := strPrefix(key, 0)
	end := bytes.Clone(prefix)
	end[len(end)-1] = 1 // just past every "key 0x00 ..." entry
	cur := b.Cursor()
	k, _ := cur.Seek(end)
	if k == nil {
		k, _ = cur.Last()
	} else {
		k, _ = cur.Prev()
	}
	var out []time.Time
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < n; k, _ = cur.Prev() {
		if len(k) == len(prefix)+sendKeyLen {
			out = append(out, getTime(k[len(prefix):]))
		}
	}
	return out, nil
}

// RecordSend records one send for key at t and drops the entries of key older
// than t minus 24 hours.
func (tx *Tx) RecordSend(key string, t time.Time) error {
	if key == "" || len(key) > maxIndexKey {
		return fmt.Errorf("store: record send: invalid key %q", key)
	}
	b, err := tx.bucket(bSends)
	if err != nil {
		return err
	}
	prefix := strPrefix(key, 0)
	cutoff := make([]byte, timeKeyLen)
	putTime(cutoff, t.Add(-sendWindow))
	// Collect first: deleting while iterating makes a bbolt cursor skip keys.
	var old [][]byte
	cur := b.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		if len(k) != len(prefix)+sendKeyLen {
			continue
		}
		if bytes.Compare(k[len(prefix):len(prefix)+timeKeyLen], cutoff) >= 0 {
			break
		}
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("store: record send: %w", err)
		}
	}
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("store: record send: %w", err)
	}
	k := strPrefix(key, sendKeyLen)
	k = k[:len(k)+sendKeyLen]
	putTime(k[len(prefix):], t)
	copy(k[len(prefix)+timeKeyLen:], itob(seq))
	if err := b.Put(k, nil); err != nil {
		return fmt.Errorf("store: record send: %w", err)
	}
	return nil
}

// PruneSends drops the send entries of every key older than now minus 24
// hours and returns how many it dropped. RecordSend prunes only the key it
// writes; run this now and then (a full scan of the sends bucket) so keys
// that stop sending do not linger.
func (tx *Tx) PruneSends(now time.Time) (int, error) {
	b, err := tx.bucket(bSends)
	if err != nil {
		return 0, err
	}
	cutoff := make([]byte, timeKeyLen)
	putTime(cutoff, now.Add(-sendWindow))
	var old [][]byte
	cur := b.Cursor()
	for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
		if len(k) < sendKeyLen+1 {
			continue
		}
		ts := k[len(k)-sendKeyLen : len(k)-8]
		if bytes.Compare(ts, cutoff) < 0 {
			old = append(old, bytes.Clone(k))
		}
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return 0, fmt.Errorf("store: prune sends: %w", err)
		}
	}
	return len(old), nil
}

// PutKey stores a researcher's armored OpenPGP public key under the
// lowercase address.
func (tx *Tx) PutKey(addr string, armored []byte) error {
	addr = normAddr(addr)
	if !validKeyAddr(addr) {
		return fmt.Errorf("store: put key: invalid address %q", addr)
	}
	b, err := tx.bucket(bPGPKeys)
	if err != nil {
		return err
	}
	if err := b.Put([]byte(addr), armored); err != nil {
		return fmt.Errorf("store: put key: %w", err)
	}
	return nil
}

// Key returns a copy of the armored public key stored for addr.
func (tx *Tx) Key(addr string) ([]byte, bool) {
	addr = normAddr(addr)
	b := tx.mustBucket(bPGPKeys)
	if b == nil || !validKeyAddr(addr) {
		return nil, false
	}
	v := b.Get([]byte(addr))
	if v == nil {
		return nil, false
	}
	return bytes.Clone(v), true
}

// Meta returns a small setting.
func (tx *Tx) Meta(key string) (string, bool) {
	b := tx.mustBucket(bSettings)
	if b == nil || key == "" {
		return "", false
	}
	v := b.Get([]byte(key))
	if v == nil {
		return "", false
	}
	return string(v), true
}

// SetMeta stores a small setting.
func (tx *Tx) SetMeta(key, val string) error {
	if key == "" {
		return errors.New("store: set meta: empty key")
	}
	b, err := tx.bucket(bSettings)
	if err != nil {
		return err
	}
	if err := b.Put([]byte(key), []byte(val)); err != nil {
		return fmt.Errorf("store: set meta: %w", err)
	}
	return nil
}
