package intake

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/ProtonMail/go-crypto/openpgp"

	"mailbot/mailbot/pgp"
	"mailbot/policy"
	"mailbot/store"
)

// maxPendingKeys bounds the keys waiting for one address: a forger sending
// key after key is refused from then on, and the team not told again.
const maxPendingKeys = 5

// learnKeys applies trust on first use to a key the sender offers (the
// first one that carries the sender's address) in a message on c. From is
// not authenticated for reporters, so only the first key of an address is
// learned as it comes. A different key replaces it only when it came inside
// data signed by the known key; else it waits as a pending key, mail keeps
// going to the known key, and the on-duty team is told once per key (a
// member may answer "key accept FINGERPRINT"). Every outcome is an event on
// every open case of the address.
func (l *Line) learnKeys(tx *txn, c *store.Case, in *incoming, sm *store.Message) error {
	if in.from == "" {
		return nil
	}
	signed := len(in.crypto.signedKeys)
	for i, armored := range append(append([][]byte{}, in.crypto.signedKeys...), in.crypto.keys...) {
		keys, err := pgp.ParseKeys(armored)
		if err != nil {
			continue
		}
		e := pgp.KeyForAddress(keys, in.from)
		if e == nil {
			continue
		}
		return l.offerKey(tx, c, in, sm, e, i < signed)
	}
	return nil
}

// offerKey decides about key e offered for in.from; signed says it came
// inside data validly signed by in.crypto.signer.
func (l *Line) offerKey(tx *txn, c *store.Case, in *incoming, sm *store.Message, e *openpgp.Entity, signed bool) error {
	addr := in.from
	pub, err := pgp.Armor(openpgp.EntityList{e})
	if err != nil {
		return nil
	}
	fp := fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
	old, ok := tx.Key(addr)
	if !ok {
		if err := tx.PutKey(addr, pub); err != nil {
			return err
		}
		return l.keyEvent(tx, c, addr, sm.ID, "key.learned",
			fmt.Sprintf("OpenPGP key %s for %s learned: the first key of this address", fp, addr))
	}
	if bytes.Equal(old, pub) {
		return nil
	}
	oldFP := armoredFingerprint(old)
	if signed && oldFP != "" && in.crypto.signer == oldFP {
		// The known key vouches for its successor (or for its own update).
		if err := tx.PutKey(addr, pub); err != nil {
			return err
		}
		if err := tx.DeletePendingKey(addr, fp); err != nil {
			return err
		}
		return l.keyEvent(tx, c, addr, sm.ID, "key.replaced",
			fmt.Sprintf("OpenPGP key %s for %s replaced by %s: the mail carrying it was signed by the known key", oldFP, addr, fp))
	}
	pending, err := tx.PendingKeys(addr)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(pending, func(p *store.PendingKey) bool { return p.Fingerprint == fp }) {
		return nil // waiting already; the team was told
	}
	if len(pending) >= maxPendingKeys {
		return l.keyEvent(tx, c, addr, sm.ID, "key.refused",
			fmt.Sprintf("OpenPGP key %s offered for %s not kept: %d keys wait already; mail stays encrypted to the known key %s", fp, addr, len(pending), oldFP))
	}
	if err := tx.PutPendingKey(&store.PendingKey{Address: addr, Fingerprint: fp, Armored: pub, Time: l.now(), MessageID: sm.ID, CaseID: c.ID}); err != nil {
		return err
	}
	err = l.keyEvent(tx, c, addr, sm.ID, "key.pending",
		fmt.Sprintf("OpenPGP key %s offered for %s in a mail on %s waits: mail stays encrypted to the known key %s until a team member sends \"key accept %s\" or a mail signed by the known key brings it", fp, addr, c.Ref, oldFP, fp))
	if err != nil {
		return err
	}
	return l.tellTeamKeyPending(tx, c, addr, oldFP, fp)
}

// acceptKey applies "key accept FINGERPRINT" on c: the pending key with
// that fingerprint of the reporter (or of another participant of c)
// becomes the key mail to that address is encrypted to.
func (l *Line) acceptKey(tx *txn, c *store.Case, fp string, out *teamOutcome) error {
	var found *store.PendingKey
	for _, addr := range append([]string{c.Reporter}, c.Participants...) {
		pending, err := tx.PendingKeys(addr)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(pending, func(p *store.PendingKey) bool { return p.Fingerprint == fp }); i >= 0 {
			found = pending[i]
			break
		}
	}
	addr := c.Reporter
	if found != nil {
		addr = found.Address
	}
	oldFP := ""
	if old, ok := tx.Key(addr); ok {
		oldFP = armoredFingerprint(old)
	}
	if found == nil {
		out.errors = append(out.errors, fmt.Sprintf("key accept %s: no key with that fingerprint waits for %s (the key stays %s)", fp, addr, oldFP))
		return l.keyEvent(tx, c, addr, 0, "key.refused",
			fmt.Sprintf("%s asked to accept OpenPGP key %s for %s, which does not wait: the key stays %s", out.member.Address, fp, addr, oldFP))
	}
	if err := tx.PutKey(addr, found.Armored); err != nil {
		return err
	}
	if err := tx.DeletePendingKey(addr, fp); err != nil {
		return err
	}
	out.lines = append(out.lines, fmt.Sprintf("OpenPGP key of %s: now %s (was %s)", addr, fp, oldFP))
	return l.keyEvent(tx, c, addr, 0, "key.accepted",
		fmt.Sprintf("%s accepted OpenPGP key %s for %s, replacing %s", out.member.Address, fp, addr, oldFP))
}

// keyEvent records a key decision about addr on c (with the message that
// brought the key, if any) and on every other open case of addr.
func (l *Line) keyEvent(tx *txn, c *store.Case, addr string, msgID uint64, kind, detail string) error {
	ids, err := tx.CasesByAddress(addr)
	if err != nil {
		return err
	}
	now := l.now()
	if err := tx.AppendEvent(c.ID, store.Event{Time: now, Kind: kind, Actor: "bot", Detail: detail, MessageID: msgID}); err != nil {
		return err
	}
	for _, id := range ids {
		if id == c.ID {
			continue
		}
		other, err := tx.Case(id)
		if err != nil {
			return err
		}
		if store.Closed(other.Status) {
			continue
		}
		if err := tx.AppendEvent(id, store.Event{Time: now, Kind: kind, Actor: "bot", Detail: detail + " (on " + c.Ref + ")"}); err != nil {
			return err
		}
	}
	return nil
}

// tellTeamKeyPending tells the on-duty pair, once per pending key, that a
// new key for addr waits for their word. The mail holds the fingerprints,
// never the report.
func (l *Line) tellTeamKeyPending(tx *txn, c *store.Case, addr, oldFP, newFP string) error {
	if l.roster == nil {
		return nil
	}
	data := l.out.TemplateData(c)
	data.Reporter, data.OldKey, data.NewKey = addr, oldFP, newFP
	return l.toTeam(tx, policy.RemindOnDuty, c, "keychange", data)
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
