package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// OutboxItem is one outgoing mail and its delivery state. While the item is
// queued its bytes are in their own bucket (so state updates do not rewrite
// them); once it leaves the queue (sent or failed) PutOutbox moves them to
// the raw directory, content-addressed like incoming mail, and RawHash names
// the file: the database keeps only what is small.
type OutboxItem struct {
	ID          uint64
	CaseID      uint64    `json:",omitzero"`
	Kind        string    `json:",omitzero"` // "ack", "notice", ...
	MessageID   string    `json:",omitzero"` // of the outgoing mail, without <>
	From        string    `json:",omitzero"` // envelope sender
	To          []string  `json:",omitzero"` // envelope recipients
	Raw         []byte    `json:"-"`         // the exact bytes sent on every try (outgoing mail is small)
	RawHash     string    `json:",omitzero"` // set by the store: the bytes are in the raw directory (OpenRaw), not in the database
	State       string    `json:",omitzero"` // "queued", "sent", "failed"
	Attempts    int       `json:",omitzero"`
	NextAttempt time.Time `json:",omitzero"`
	LastError   string    `json:",omitzero"`
	Created     time.Time `json:",omitzero"`
	SentAt      time.Time `json:",omitzero"`
}

// Outbox states.
const (
	OutboxQueued = "queued"
	OutboxSent   = "sent"
	OutboxFailed = "failed"
)

// Enqueue stores a new outgoing mail: it sets o.ID, State "queued", Created if
// zero (now) and NextAttempt if zero (Created), normalizes MessageID and links
// MessageID -> CaseID so replies thread. To and Raw are required; a non-zero
// CaseID must exist.
func (tx *Tx) Enqueue(o *OutboxItem) error {
	if len(o.To) == 0 || len(o.Raw) == 0 {
		return errors.New("store: enqueue: recipients and raw message are required")
	}
	ob, err := tx.bucket(bOutbox)
	if err != nil {
		return err
	}
	if o.CaseID != 0 {
		ok, err := tx.caseExists(o.CaseID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: enqueue: %w: id %d", ErrCaseNotFound, o.CaseID)
		}
	}
	o.MessageID = NormalizeMessageID(o.MessageID)
	o.State = OutboxQueued
	o.RawHash = ""
	if o.Created.IsZero() {
		o.Created = tx.s.now()
	}
	if o.NextAttempt.IsZero() {
		o.NextAttempt = o.Created
	}
	id, err := ob.NextSequence()
	if err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	o.ID = id
	if err := putRecord(ob, itob(id), o); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	if err := tx.mustBucket(bOutRaw).Put(itob(id), o.Raw); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	if err := tx.mustBucket(bOutDue).Put(dueKey(o.NextAttempt, id), nil); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	if o.CaseID != 0 {
		if err := tx.mustBucket(bCaseOut).Put(pair(o.CaseID, id), nil); err != nil {
			return fmt.Errorf("store: enqueue: %w", err)
		}
		if err := tx.clearRawDone(o.CaseID); err != nil {
			return fmt.Errorf("store: enqueue: %w", err)
		}
	}
	if err := tx.linkMessageIDIfNew(o.MessageID, o.CaseID); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	tx.changed.Enqueued++
	return nil
}

// outboxMeta loads an item without its Raw.
func (tx *Tx) outboxMeta(id uint64) (*OutboxItem, error) {
	ob, err := tx.bucket(bOutbox)
	if err != nil {
		return nil, err
	}
	o := new(OutboxItem)
	ok, err := getRecord(ob, itob(id), o)
	if err != nil {
		return nil, fmt.Errorf("store: outbox item %d: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: id %d", ErrOutboxNotFound, id)
	}
	return o, nil
}

// OutboxItem returns the item with the given id, Raw included, or
// ErrOutboxNotFound.
func (tx *Tx) OutboxItem(id uint64) (*OutboxItem, error) {
	o, err := tx.outboxMeta(id)
	if err != nil {
		return nil, err
	}
	if err := tx.loadOutRaw(o); err != nil {
		return nil, err
	}
	return o, nil
}

// loadOutRaw sets o.Raw from the outraw bucket or, once moved, from the raw
// directory. Bytes that are gone (erased by Forget) leave Raw nil.
func (tx *Tx) loadOutRaw(o *OutboxItem) error {
	if v := tx.mustBucket(bOutRaw).Get(itob(o.ID)); v != nil {
		o.Raw = bytes.Clone(v)
		return nil
	}
	if o.RawHash == "" {
		return nil
	}
	r, err := tx.s.OpenRaw(o.RawHash)
	if err != nil {
		return fmt.Errorf("store: outbox item %d: %w", o.ID, err)
	}
	defer r.Close()
	if o.Raw, err = io.ReadAll(r); err != nil {
		return fmt.Errorf("store: outbox item %d: %w", o.ID, err)
	}
	return nil
}

// moveOutRaw moves the bytes of an item that left the queue from the
// outraw bucket to the raw directory and sets o.RawHash. SpoolRaw has
// fsynced the file before the transaction that forgets the bucket's copy
// commits, so a crash keeps one of the two. raw is the item's bytes if the
// caller has them (nil: read them from the bucket).
func (tx *Tx) moveOutRaw(o *OutboxItem, raw []byte) error {
	b := tx.mustBucket(bOutRaw)
	if raw == nil {
		raw = b.Get(itob(o.ID))
	}
	if raw == nil {
		return nil // nothing in the bucket: moved before, or erased
	}
	blob, err := tx.s.SpoolRaw(bytes.NewReader(raw), 0)
	if err != nil {
		return err // temporary: the transaction fails and is retried
	}
	o.RawHash = blob.Hash
	return b.Delete(itob(o.ID))
}

// PutOutbox stores the new state of an item (State, Attempts, NextAttempt,
// LastError, SentAt, ...). A nil Raw keeps the stored bytes; RawHash is the
// store's and is ignored, and so is CaseID: an item stays on the case it was
// enqueued for (the caseout index). Only "queued" items are in the due index, at their
// NextAttempt. When the item leaves the queue its bytes move to the raw
// directory (see OutboxItem): that writes and fsyncs a file inside the
// transaction; a caller that wants it outside can SpoolRaw the same bytes
// before, which makes this step cheap (the file exists).
func (tx *Tx) PutOutbox(o *OutboxItem) error {
	old, err := tx.outboxMeta(o.ID)
	if err != nil {
		return err
	}
	due := tx.mustBucket(bOutDue)
	if old.State == OutboxQueued {
		if err := due.Delete(dueKey(old.NextAttempt, o.ID)); err != nil {
			return fmt.Errorf("store: put outbox: %w", err)
		}
	}
	o.RawHash, o.CaseID = old.RawHash, old.CaseID
	switch {
	case o.State != OutboxQueued:
		if err := tx.moveOutRaw(o, o.Raw); err != nil {
			return fmt.Errorf("store: put outbox: %w", err)
		}
	case o.Raw != nil:
		o.RawHash = ""
		if err := tx.mustBucket(bOutRaw).Put(itob(o.ID), o.Raw); err != nil {
			return fmt.Errorf("store: put outbox: %w", err)
		}
	}
	if err := putRecord(tx.mustBucket(bOutbox), itob(o.ID), o); err != nil {
		return fmt.Errorf("store: put outbox: %w", err)
	}
	if o.State == OutboxQueued {
		if err := due.Put(dueKey(o.NextAttempt, o.ID), nil); err != nil {
			return fmt.Errorf("store: put outbox: %w", err)
		}
	}
	return nil
}

// DueOutbox returns up to limit queued items (limit <= 0: all) whose
// NextAttempt is at or before now, earliest first (ties by id), Raw included.
// It walks the due index only.
func (tx *Tx) DueOutbox(now time.Time, limit int) ([]*OutboxItem, error) {
	due, err := tx.bucket(bOutDue)
	if err != nil {
		return nil, err
	}
	end := make([]byte, timeKeyLen)
	putTime(end, now)
	var items []*OutboxItem
	cur := due.Cursor()
	for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
		if limit > 0 && len(items) >= limit {
			break
		}
		if len(k) != timeKeyLen+8 || bytes.Compare(k[:timeKeyLen], end) > 0 {
			break
		}
		o, err := tx.OutboxItem(btoi(k[timeKeyLen:]))
		if err != nil {
			return nil, fmt.Errorf("store: due outbox: %w", err)
		}
		items = append(items, o)
	}
	return items, nil
}

// NextDue returns the earliest NextAttempt of a queued item, for the sender's
// timer; false if nothing is queued.
func (tx *Tx) NextDue() (time.Time, bool) {
	due := tx.mustBucket(bOutDue)
	if due == nil {
		return time.Time{}, false
	}
	k, _ := due.Cursor().First()
	if len(k) != timeKeyLen+8 {
		return time.Time{}, false
	}
	return getTime(k), true
}

// Queued counts the queued items. It walks the due index only (which holds
// exactly those), not every mail ever sent.
func (tx *Tx) Queued() int {
	due := tx.mustBucket(bOutDue)
	if due == nil {
		return 0
	}
	n := 0
	cur := due.Cursor()
	for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
		n++
	}
	return n
}

// Outbox calls fn for every item in id order (Raw included, read from the
// raw directory for items that left the queue) until fn returns false. A
// full scan, for admin listings; OutboxMeta is the same without the bytes.
func (tx *Tx) Outbox(fn func(*OutboxItem) bool) error {
	var err error
	scanErr := tx.OutboxMeta(func(o *OutboxItem) bool {
		if err = tx.loadOutRaw(o); err != nil {
			return false
		}
		return fn(o)
	})
	if scanErr != nil {
		return scanErr
	}
	return err
}

// CaseOutbox calls fn for the outgoing mail of a case in id order (the
// order it was queued), without Raw, until fn returns false. It reads the
// case's items only (the caseout index).
func (tx *Tx) CaseOutbox(caseID uint64, fn func(*OutboxItem) bool) error {
	idx, err := tx.bucket(bCaseOut)
	if err != nil {
		return err
	}
	prefix := itob(caseID)
	cur := idx.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		if len(k) != 16 {
			continue
		}
		o, err := tx.outboxMeta(btoi(k[8:]))
		if err != nil {
			return fmt.Errorf("store: outbox of case %d: %w", caseID, err)
		}
		if !fn(o) {
			break
		}
	}
	return nil
}

// OutboxMeta calls fn for every item in id order, without Raw, until fn
// returns false. A full scan of the outbox bucket only: no raw bytes are
// read or copied.
func (tx *Tx) OutboxMeta(fn func(*OutboxItem) bool) error {
	ob, err := tx.bucket(bOutbox)
	if err != nil {
		return err
	}
	cur := ob.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		o := new(OutboxItem)
		if err := decodeRecord(v, o); err != nil {
			return fmt.Errorf("store: outbox item %d: %w", btoi(k), err)
		}
		if !fn(o) {
			break
		}
	}
	return nil
}

// CaseSentTo returns the case of the outgoing mail with Message-ID msgid
// when that mail went to addr (compared case-insensitively): a reply to it
// from addr is about that case. Mail received, or sent to someone else,
// does not count: its Message-ID may be known to anyone.
func (tx *Tx) CaseSentTo(msgid, addr string) (caseID uint64, ok bool) {
	id, ok := tx.CaseByMessageID(msgid)
	if !ok || id == 0 {
		return 0, false
	}
	msgid = NormalizeMessageID(msgid)
	found := false
	err := tx.CaseOutbox(id, func(o *OutboxItem) bool {
		if o.MessageID == msgid {
			for _, to := range o.To {
				if strings.EqualFold(to, addr) {
					found = true
				}
			}
		}
		return !found
	})
	if err != nil || !found {
		return 0, false
	}
	return id, true
}
