package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// OutboxItem is one outgoing mail and its delivery state. Raw is kept in its
// own bucket so state updates do not rewrite it.
type OutboxItem struct {
	ID          uint64
	CaseID      uint64    `json:",omitzero"`
	Kind        string    `json:",omitzero"` // "ack", "notice", ...
	MessageID   string    `json:",omitzero"` // of the outgoing mail, without <>
	From        string    `json:",omitzero"` // envelope sender
	To          []string  `json:",omitzero"` // envelope recipients
	Raw         []byte    `json:"-"`         // the exact bytes sent on every try (outgoing mail is small)
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
	ob.FillPercent = 0.9 // ids only grow
	if err := putJSON(ob, itob(id), o); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	raw := tx.mustBucket(bOutRaw)
	raw.FillPercent = 0.9
	if err := raw.Put(itob(id), o.Raw); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	if err := tx.mustBucket(bOutDue).Put(dueKey(o.NextAttempt, id), nil); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	if err := tx.linkMessageIDIfNew(o.MessageID, o.CaseID); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	return nil
}

// outboxMeta loads an item without its Raw.
func (tx *Tx) outboxMeta(id uint64) (*OutboxItem, error) {
	ob, err := tx.bucket(bOutbox)
	if err != nil {
		return nil, err
	}
	o := new(OutboxItem)
	ok, err := getJSON(ob, itob(id), o)
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
	o.Raw = bytes.Clone(tx.mustBucket(bOutRaw).Get(itob(id)))
	return o, nil
}

// PutOutbox stores the new state of an item (State, Attempts, NextAttempt,
// LastError, SentAt, ...). A nil Raw keeps the stored bytes. Only "queued"
// items are in the due index, at their NextAttempt.
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
	if err := putJSON(tx.mustBucket(bOutbox), itob(o.ID), o); err != nil {
		return fmt.Errorf("store: put outbox: %w", err)
	}
	if o.Raw != nil {
		if err := tx.mustBucket(bOutRaw).Put(itob(o.ID), o.Raw); err != nil {
			return fmt.Errorf("store: put outbox: %w", err)
		}
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

// Outbox calls fn for every item in id order (Raw included) until fn returns
// false. A full scan, for admin listings.
func (tx *Tx) Outbox(fn func(*OutboxItem) bool) error {
	ob, err := tx.bucket(bOutbox)
	if err != nil {
		return err
	}
	raw := tx.mustBucket(bOutRaw)
	cur := ob.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		o := new(OutboxItem)
		if err := jsonUnmarshal(v, o); err != nil {
			return fmt.Errorf("store: outbox item %d: %w", btoi(k), err)
		}
		o.Raw = bytes.Clone(raw.Get(k))
		if !fn(o) {
			break
		}
	}
	return nil
}
