package intake

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"mailbot/mailbot/pgp"
	"mailbot/policy"
	"mailbot/store"
)

// maxPendingKeys bounds the keys waiting for one address: a forger sending
// key after key is refused from then on, and the team not told again.
const maxPendingKeys = 5

// keyWrite is a decided change to the keys of addr: put is the key mail
// to addr is encrypted to from now on, unpend a pending key's fingerprint
// taken out, pending a key to keep waiting (its message and case: apply).
type keyWrite struct {
	addr    string
	put     []byte
	unpend  string
	pending *store.PendingKey
}

// decideKey applies trust on first use to a key the sender offers (the
// first one that carries the sender's address, k) in a message on c. From
// is not authenticated for reporters, so only the first key of an address
// is learned as it comes. A different key replaces it only when it came
// inside data signed by the known key; else it waits as a pending key, mail
// keeps going to the known key, and the on-duty team is told once per key
// (a member may answer "key accept FINGERPRINT"). Every outcome is an event
// on every open case of the address.
func (l *Line) decideKey(d *decision, c *store.Case, in *incoming, k *keyState) {
	if k == nil {
		return
	}
	addr, fp := in.from, k.fp
	event := func(kind, detail string) {
		d.events = append(d.events, keyEvents(c, k.openCases, d.now, true, kind, detail)...)
	}
	if !k.known {
		d.keys = append(d.keys, keyWrite{addr: addr, put: k.pub})
		event("key.learned", fmt.Sprintf("OpenPGP key %s for %s learned: the first key of this address", fp, addr))
		return
	}
	if bytes.Equal(k.old, k.pub) {
		return
	}
	oldFP := armoredFingerprint(k.old)
	if k.signed && oldFP != "" && in.crypto.signer == oldFP {
		// The known key vouches for its successor (or for its own update).
		d.keys = append(d.keys, keyWrite{addr: addr, put: k.pub, unpend: fp})
		event("key.replaced", fmt.Sprintf("OpenPGP key %s for %s replaced by %s: the mail carrying it was signed by the known key", oldFP, addr, fp))
		return
	}
	if slices.ContainsFunc(k.pending, func(p *store.PendingKey) bool { return p.Fingerprint == fp }) {
		return // waiting already; the team was told
	}
	if len(k.pending) >= maxPendingKeys {
		event("key.refused", fmt.Sprintf("OpenPGP key %s offered for %s not kept: %d keys wait already; mail stays encrypted to the known key %s", fp, addr, len(k.pending), oldFP))
		return
	}
	d.keys = append(d.keys, keyWrite{addr: addr, pending: &store.PendingKey{Address: addr, Fingerprint: fp, Armored: k.pub, Time: d.now}})
	event("key.pending", fmt.Sprintf("OpenPGP key %s offered for %s in a mail on %s waits: mail stays encrypted to the known key %s until a team member sends \"key accept %s\" or a mail signed by the known key brings it", fp, addr, c.Ref, oldFP, fp))
	// The on-duty pair is told once per pending key: the mail holds the
	// fingerprints, never the report.
	if l.roster != nil {
		for _, m := range l.out.TeamRecipients(policy.RemindOnDuty, c, d.now) {
			d.mails = append(d.mails, mailOut{name: "keychange", c: c, to: &m, who: addr, oldKey: oldFP, newKey: fp})
		}
	}
}

// keyAccept is what "key accept FINGERPRINT" finds on a case: the pending
// key with that fingerprint of the reporter or of another participant
// (found, nil if none), the address it is for (else the reporter's), the
// key known for that address and its open cases.
type keyAccept struct {
	found *store.PendingKey
	addr  string
	old   []byte
	open  []*store.Case
}

// readKeyAccept reads what "key accept fp" on c finds.
func readKeyAccept(tx *txn, c *store.Case, fp string) (keyAccept, error) {
	k := keyAccept{addr: c.Reporter}
	for _, addr := range append([]string{c.Reporter}, c.Participants...) {
		pending, err := tx.PendingKeys(addr)
		if err != nil {
			return k, err
		}
		if i := slices.IndexFunc(pending, func(p *store.PendingKey) bool { return p.Fingerprint == fp }); i >= 0 {
			k.found, k.addr = pending[i], addr
			break
		}
	}
	k.old, _ = tx.Key(k.addr)
	var err error
	k.open, err = openCasesOf(tx, k.addr)
	return k, err
}

// decideAcceptKey applies "key accept FINGERPRINT" on c (k: what it
// found): the pending key with that fingerprint becomes the key mail to its
// address is encrypted to.
func (l *Line) decideAcceptKey(d *decision, c *store.Case, fp string, k keyAccept, out *teamOutcome) {
	oldFP := armoredFingerprint(k.old)
	for _, w := range d.keys {
		if w.addr == k.addr && w.unpend == fp {
			// Accepted by an earlier line of the same mail: it waits no more.
			k.found, oldFP = nil, fp
		}
	}
	event := func(kind, detail string) {
		d.events = append(d.events, keyEvents(c, k.open, d.now, false, kind, detail)...)
	}
	if k.found == nil {
		out.errors = append(out.errors, fmt.Sprintf("key accept %s: no key with that fingerprint waits for %s (the key stays %s)", fp, k.addr, oldFP))
		event("key.refused", fmt.Sprintf("%s asked to accept OpenPGP key %s for %s, which does not wait: the key stays %s", out.member.Address, fp, k.addr, oldFP))
		return
	}
	d.keys = append(d.keys, keyWrite{addr: k.addr, put: k.found.Armored, unpend: fp})
	out.lines = append(out.lines, fmt.Sprintf("OpenPGP key of %s: now %s (was %s)", k.addr, fp, oldFP))
	event("key.accepted", fmt.Sprintf("%s accepted OpenPGP key %s for %s, replacing %s", out.member.Address, fp, k.addr, oldFP))
}

// keyEvents are the events of a key decision: on c, and on each of the
// address's other open cases saying it was on c. ofMessage: the one on c
// names the message that brought the key.
func keyEvents(c *store.Case, open []*store.Case, now time.Time, ofMessage bool, kind, detail string) []caseEvent {
	evs := []caseEvent{{c: c, ev: store.Event{Time: now, Kind: kind, Actor: "bot", Detail: detail}, ofMessage: ofMessage}}
	for _, other := range open {
		if other.ID != c.ID {
			evs = append(evs, caseEvent{c: other, ev: store.Event{Time: now, Kind: kind, Actor: "bot", Detail: detail + " (on " + c.Ref + ")"}})
		}
	}
	return evs
}

// armoredFingerprint is the primary key fingerprint of a stored key, "" if
// it does not parse.
func armoredFingerprint(armored []byte) string {
	keys, err := pgp.ParseKeys(armored)
	if err != nil || len(keys) == 0 {
		return ""
	}
	return fmt.Sprintf("%X", keys[0].PrimaryKey.Fingerprint)
}
