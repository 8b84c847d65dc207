// Package probe owns the records of the delivery self-test: a probe mail
// from the bot to its own public address, through the configured SMTP
// submission server (the path a researcher's mail takes), that must show up
// in the watched mailbox within a bound.
//
// A probe is recognised by the random token in its X-Mailbot-Probe header,
// and only when that token is the one the bot recorded in its store before
// sending: anyone can write the header, nobody can guess the token (128
// random bits). Only the newest probe is recognised; a header naming any
// other token is ordinary mail.
package probe

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"mailbot/store"
)

// Header carries the probe's token.
const Header = "X-Mailbot-Probe"

// metaLatest is the store Meta key of the newest probe's Record (JSON).
const metaLatest = "probe.latest"

// Record is one probe, as the store keeps it.
type Record struct {
	Token   string
	Queued  time.Time // recorded and queued (or submitted) for sending
	Arrived time.Time `json:",omitzero"` // seen in the watched mailbox
	Removed bool      `json:",omitzero"` // deleted from the mailbox after it was seen
	Lost    bool      `json:",omitzero"` // not seen within the bound
}

// Pending reports whether r still waits for its mail.
func (r Record) Pending() bool { return r.Token != "" && r.Arrived.IsZero() && !r.Lost }

// RoundTrip is the time from queueing to arrival; 0 while it has not arrived.
func (r Record) RoundTrip() time.Duration {
	if r.Arrived.IsZero() {
		return 0
	}
	return r.Arrived.Sub(r.Queued)
}

// Latest returns the newest probe (ok false: none yet).
func Latest(tx *store.Tx) (r Record, ok bool, err error) {
	v, ok := tx.Meta(metaLatest)
	if !ok || v == "" {
		return Record{}, false, nil
	}
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return Record{}, false, fmt.Errorf("probe: record: %w", err)
	}
	return r, true, nil
}

// Save stores r as the newest probe.
func Save(tx *store.Tx, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.SetMeta(metaLatest, string(b))
}

// Start records a new probe with a fresh random token, queued at now. It
// replaces the previous one, which is no longer recognised.
func Start(tx *store.Tx, now time.Time) (Record, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Record{}, err
	}
	r := Record{Token: hex.EncodeToString(b[:]), Queued: now}
	return r, Save(tx, r)
}

// Arrive is called for a message carrying the probe header with value: it
// reports whether that is the recorded probe and, the first time, records
// its arrival at now. A value that is not the recorded token is not a probe.
func Arrive(tx *store.Tx, value string, now time.Time) (bool, error) {
	r, ok, err := Latest(tx)
	if err != nil {
		return false, err
	}
	probe, arrived := Arrival(r, ok, value, now)
	if arrived == nil {
		return probe, nil
	}
	return true, Save(tx, *arrived)
}

// Arrival is Arrive without the store: whether a message carrying the probe
// header with value is r, the newest probe (ok: there is one), and the
// record to save when it arrives the first time (nil: nothing to save).
func Arrival(r Record, ok bool, value string, now time.Time) (bool, *Record) {
	value = strings.TrimSpace(value)
	if !ok || len(value) != len(r.Token) || subtle.ConstantTimeCompare([]byte(value), []byte(r.Token)) != 1 {
		return false, nil
	}
	if !r.Arrived.IsZero() {
		return true, nil // the same probe again (a redelivery)
	}
	r.Arrived = now
	r.Lost = false // late, but it came
	return true, &r
}
