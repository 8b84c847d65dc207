package store

import (
	"bytes"
	"fmt"
	"time"
)

// Attachment describes one attachment of a stored message.
type Attachment struct {
	Name        string `json:",omitzero"`
	ContentType string `json:",omitzero"`
	Size        int64  `json:",omitzero"`
	Hash        string `json:",omitzero"`
}

// Message is the metadata of one mail received or sent. The bytes of an
// incoming message are in the raw directory under Hash.
type Message struct {
	ID                uint64
	CaseID            uint64       `json:",omitzero"` // 0: not on any case (robot mail without a case, quarantine, ...)
	Direction         string       `json:",omitzero"` // "in" or "out"
	Hash              string       `json:",omitzero"` // raw blob hash (for "in"); "" for "out" (the outbox holds the bytes)
	Size              int64        `json:",omitzero"`
	MessageID         string       `json:",omitzero"` // without <>
	InReplyTo         []string     `json:",omitzero"`
	References        []string     `json:",omitzero"`
	From              string       `json:",omitzero"`
	To                []string     `json:",omitzero"`
	Subject           string       `json:",omitzero"`
	Date              time.Time    `json:",omitzero"` // the Date header
	Received          time.Time    `json:",omitzero"` // when we stored it
	Class             string       `json:",omitzero"` // "report", "follow-up", "automated", "bounce", "own", "team", "quarantine", ...
	Reason            string       `json:",omitzero"` // why it was classified so / why quarantined
	Source            string       `json:",omitzero"` // "imap:INBOX:<uidvalidity>:<uid>" or "ingest"
	Attachments       []Attachment `json:",omitzero"`
	Encrypted         bool         `json:",omitzero"`
	Signed            bool         `json:",omitzero"`
	SignatureValid    bool         `json:",omitzero"`
	SignerFingerprint string       `json:",omitzero"`
}

// SeenHash reports whether a raw message with this hash was stored, either as
// a Message (msgID is its id) or in quarantine (msgID is 0, ok is true).
func (tx *Tx) SeenHash(hash string) (msgID uint64, ok bool) {
	k, valid := hashKey(hash)
	if !valid {
		return 0, false
	}
	if b := tx.mustBucket(bMsgHash); b != nil {
		if v := b.Get(k); v != nil {
			return btoi(v), true
		}
	}
	if b := tx.mustBucket(bQHash); b != nil {
		if b.Get(k) != nil {
			return 0, true
		}
	}
	return 0, false
}

// AddMessage stores a new message and sets m.ID. It normalizes m.MessageID
// (no <>), sets Received if zero, indexes Hash -> id (a hash already stored
// as a Message gives ErrDuplicate), files the message under its case, and
// links MessageID -> CaseID if both are set and the id is not linked yet.
// A non-zero CaseID must exist (ErrCaseNotFound).
func (tx *Tx) AddMessage(m *Message) error {
	msgs, err := tx.bucket(bMsgs)
	if err != nil {
		return err
	}
	var hk []byte
	if m.Hash != "" {
		var ok bool
		if hk, ok = hashKey(m.Hash); !ok {
			return fmt.Errorf("store: add message: invalid hash %q", m.Hash)
		}
		if tx.mustBucket(bMsgHash).Get(hk) != nil {
			return fmt.Errorf("%w: hash %s", ErrDuplicate, m.Hash)
		}
	}
	if m.CaseID != 0 {
		ok, err := tx.caseExists(m.CaseID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: add message: %w: id %d", ErrCaseNotFound, m.CaseID)
		}
	}
	m.MessageID = NormalizeMessageID(m.MessageID)
	if m.Received.IsZero() {
		m.Received = tx.s.now()
	}
	id, err := msgs.NextSequence()
	if err != nil {
		return fmt.Errorf("store: add message: %w", err)
	}
	m.ID = id
	if err := putRecord(msgs, itob(id), m); err != nil {
		return fmt.Errorf("store: add message: %w", err)
	}
	if hk != nil {
		if err := tx.mustBucket(bMsgHash).Put(hk, itob(id)); err != nil {
			return fmt.Errorf("store: add message: %w", err)
		}
	}
	if err := tx.clearRawDone(m.CaseID); err != nil {
		return fmt.Errorf("store: add message: %w", err)
	}
	if err := tx.mustBucket(bCaseMsgs).Put(pair(m.CaseID, id), nil); err != nil {
		return fmt.Errorf("store: add message: %w", err)
	}
	if err := tx.linkMessageIDIfNew(m.MessageID, m.CaseID); err != nil {
		return fmt.Errorf("store: add message: %w", err)
	}
	return nil
}

// Message returns the message with the given id or ErrMessageNotFound.
func (tx *Tx) Message(id uint64) (*Message, error) {
	msgs, err := tx.bucket(bMsgs)
	if err != nil {
		return nil, err
	}
	m := new(Message)
	ok, err := getRecord(msgs, itob(id), m)
	if err != nil {
		return nil, fmt.Errorf("store: message %d: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: id %d", ErrMessageNotFound, id)
	}
	return m, nil
}

// MessageByHash returns the message stored with this raw hash, or
// ErrMessageNotFound (also for a hash that is only in quarantine).
func (tx *Tx) MessageByHash(hash string) (*Message, error) {
	k, ok := hashKey(hash)
	if !ok {
		return nil, fmt.Errorf("%w: invalid hash %q", ErrMessageNotFound, hash)
	}
	b, err := tx.bucket(bMsgHash)
	if err != nil {
		return nil, err
	}
	v := b.Get(k)
	if v == nil {
		return nil, fmt.Errorf("%w: hash %s", ErrMessageNotFound, hash)
	}
	return tx.Message(btoi(v))
}

// Messages returns the messages of a case in id order (caseID 0: the messages
// on no case), through the case index.
func (tx *Tx) Messages(caseID uint64) ([]*Message, error) {
	b, err := tx.bucket(bCaseMsgs)
	if err != nil {
		return nil, err
	}
	prefix := itob(caseID)
	var ms []*Message
	cur := b.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		m, err := tx.Message(btoi(k[8:]))
		if err != nil {
			return nil, fmt.Errorf("store: messages of case %d: %w", caseID, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// SetMessageCase moves a message to another case (0: to no case), for bounces
// and merges. The case index follows, and so does the Message-ID link if it
// pointed at the old case or was absent.
func (tx *Tx) SetMessageCase(msgID, caseID uint64) error {
	m, err := tx.Message(msgID)
	if err != nil {
		return err
	}
	if m.CaseID == caseID {
		return nil
	}
	if caseID != 0 {
		ok, err := tx.caseExists(caseID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: set message case: %w: id %d", ErrCaseNotFound, caseID)
		}
	}
	old := m.CaseID
	m.CaseID = caseID
	if err := putRecord(tx.mustBucket(bMsgs), itob(msgID), m); err != nil {
		return fmt.Errorf("store: set message case: %w", err)
	}
	cm := tx.mustBucket(bCaseMsgs)
	if err := cm.Delete(pair(old, msgID)); err != nil {
		return fmt.Errorf("store: set message case: %w", err)
	}
	if err := cm.Put(pair(caseID, msgID), nil); err != nil {
		return fmt.Errorf("store: set message case: %w", err)
	}
	if err := tx.clearRawDone(caseID); err != nil {
		return fmt.Errorf("store: set message case: %w", err)
	}
	if k, ok := msgIDKey(m.MessageID); ok {
		ids := tx.mustBucket(bMsgID)
		v := ids.Get(k)
		switch {
		case v != nil && btoi(v) != old:
			// Linked to a third case: leave it.
		case caseID == 0:
			err = ids.Delete(k)
		default:
			err = ids.Put(k, itob(caseID))
		}
		if err != nil {
			return fmt.Errorf("store: set message case: %w", err)
		}
	}
	return nil
}
