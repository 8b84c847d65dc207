package intake

import (
	"errors"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"mailbot/mailbot/flood"
	"mailbot/mailbot/pgp"
	"mailbot/mailbot/probe"
	"mailbot/mailbot/triage"
	"mailbot/store"
)

// state is what decide needs to know from the store about one message,
// read by readState in the message's transaction before anything of the
// message is written. A batch's earlier messages are written by then, so
// their cases, marks and keys count.
type state struct {
	now time.Time
	caseState
	robotCase *store.Case  // the case a robot's mail refers to
	probe     probe.Record // the newest self-test probe (probeOK: there is one)
	probeOK   bool
	// A new report.
	diskLow    string      // why no new case can be taken now ("" when it can)
	next       nextCase    // the ID and reference its case gets
	caseCap    capState    // the case caps
	newestOpen *store.Case // over a case cap: the sender's newest open case, nil if none
	ack        ackState
	// A reporter's mail on a case.
	notifyCap      capState  // the caps on team notifications
	key            *keyState // the first key offered for the sender's address, nil if none
	newCiphertexts []string  // the message's ciphertexts no case holds yet
	team           teamState // team mail
}

// nextCase is the ID and reference a new case gets (store.Tx.NextCase).
type nextCase struct {
	ID  uint64
	Ref string
}

// capState is a flood cap as it stands for one more of its kind.
type capState struct {
	reason, burst string     // over the cap: why, and whose burst (flood.Caps.Over)
	first         bool       // over it: the team is still to be told of the burst
	marks         []sendMark // the marks that say the team is told now
}

// sendMark is one entry of the store's send log (flood.Sends), decided.
type sendMark struct {
	key string
	at  time.Time
}

// sendMarks is a flood.Sends that reads the store's send log (none when tx
// is nil) and keeps the marks instead of writing them: a decision carries
// its marks and apply writes them.
type sendMarks struct {
	tx    *store.Tx
	marks []sendMark
}

func (s *sendMarks) RecentSends(key string, since time.Time) (int, error) {
	if s.tx == nil {
		return 0, nil
	}
	return s.tx.RecentSends(key, since)
}

func (s *sendMarks) NewestSends(key string, n int) ([]time.Time, error) {
	if s.tx == nil {
		return nil, nil
	}
	return s.tx.NewestSends(key, n)
}

func (s *sendMarks) RecordSend(key string, t time.Time) error {
	s.marks = append(s.marks, sendMark{key: key, at: t})
	return nil
}

// readState reads what decide needs for in: the case state route looks at,
// then what the rule it falls under looks at.
func (l *Line) readState(tx *txn, in *incoming) (*state, error) {
	st := &state{now: l.now(), diskLow: tx.diskLow}
	var err error
	if st.caseState, err = l.readCaseState(tx, in); err != nil {
		return nil, err
	}
	r, c, _ := route(in, st.caseState)
	switch r {
	case ruleOwn:
		st.probe, st.probeOK, err = probe.Latest(tx.Tx)
	case ruleAutomated:
		st.robotCase, err = readRobotCase(tx, in)
	case ruleTeam, ruleTeamRefused:
		st.team, err = l.readTeam(tx, in, st.now)
	case ruleFollowUp:
		if in.from == c.Reporter {
			st.notifyCap, err = l.readNotifyCap(tx, in.from, st.now)
		}
		if err == nil {
			err = l.readCrypto(tx, in, st)
		}
	case ruleNewCase, ruleSuspectedSpam:
		err = l.readReport(tx, in, r == ruleSuspectedSpam, st)
	}
	return st, err
}

// readCaseState reads what route needs to know from the store, for a message that
// may be a report or a follow-up (robots, our own mail and team mail need
// nothing): the case holding one of its ciphertexts, then the case its
// references name, else the case its subject's tag names.
func (l *Line) readCaseState(tx *txn, in *incoming) (caseState, error) {
	var k caseState
	if in.parseErr != nil || in.team != nil {
		return k, nil
	}
	switch in.verdict.Class {
	case triage.ClassOwn, triage.ClassBounce, triage.ClassAutomated:
		return k, nil
	}
	var err error
	if k.replayOf, err = l.replayedCase(tx, in); err != nil {
		return k, err
	}
	if cid, ok := threadCase(tx.Tx, triage.ThreadIDs(in.msg)); ok {
		k.byRefs, err = tx.Case(cid)
		return k, err
	}
	k.byTag, err = l.caseByTag(tx, in)
	return k, err
}

// caseByTag is the case in's subject tag names, nil if none.
func (l *Line) caseByTag(tx *txn, in *incoming) (*store.Case, error) {
	ref, ok := triage.SubjectTag(in.msg.Subject, l.cfg.CasePrefix)
	if !ok {
		return nil, nil
	}
	c, err := tx.CaseByRef(ref)
	if errors.Is(err, store.ErrCaseNotFound) {
		return nil, nil
	}
	return c, err
}

// readRobotCase is the case a robot's mail refers to (a bounce by the
// Message-ID of the mail it reports on, first), nil if none.
func readRobotCase(tx *txn, in *incoming) (*store.Case, error) {
	ids := triage.ThreadIDs(in.msg)
	if r := in.msg.Report; r != nil && r.OriginalMessageID != "" {
		ids = append([]string{r.OriginalMessageID}, ids...)
	}
	cid, ok := threadCase(tx.Tx, ids)
	if !ok || cid == 0 {
		return nil, nil
	}
	return tx.Case(cid)
}

// readReport reads what a new report depends on: the disk, the case caps
// (over them, the sender's newest open case), the notification caps, the
// acknowledgement's rate limits (not for a held report) and its keys.
func (l *Line) readReport(tx *txn, in *incoming, held bool, st *state) error {
	if st.diskLow != "" {
		return nil
	}
	var err error
	st.caseCap, err = l.readCap(tx, l.caseCaps(), flood.Cases, in.from, st.now)
	if err != nil {
		return err
	}
	if st.caseCap.reason != "" {
		st.newestOpen, err = l.newestOpenCase(tx, in.from)
		return err
	}
	if st.next.ID, st.next.Ref, err = tx.NextCase(st.now); err != nil {
		return err
	}
	if st.notifyCap, err = l.readNotifyCap(tx, in.from, st.now); err != nil {
		return err
	}
	if !held {
		if st.ack, err = l.readAck(tx, in.from, st.now); err != nil {
			return err
		}
	}
	return l.readCrypto(tx, in, st)
}

// readCap reads where addr stands against caps of kind.
func (l *Line) readCap(tx *txn, caps flood.Caps, kind, addr string, now time.Time) (capState, error) {
	var cs capState
	var err error
	cs.reason, cs.burst, err = caps.Over(tx, kind, addr, now)
	if err != nil || cs.reason == "" {
		return cs, err
	}
	marks := &sendMarks{tx: tx.Tx}
	cs.first, err = caps.FirstOfBurst(marks, kind, cs.burst, now)
	cs.marks = marks.marks
	return cs, err
}

// readNotifyCap reads the notification caps for a team notification
// about addr's mail (none without a team).
func (l *Line) readNotifyCap(tx *txn, addr string, now time.Time) (capState, error) {
	if l.roster == nil {
		return capState{}, nil
	}
	return l.readCap(tx, l.notifyCaps(), flood.Notify, addr, now)
}

// readAck reads the acknowledgements to from within ack.rate_window and,
// under that limit, the slot the next one gets under the global rate.
func (l *Line) readAck(tx *txn, from string, now time.Time) (ackState, error) {
	var a ackState
	if from == "" {
		return a, nil
	}
	var err error
	a.recent, err = tx.RecentSends(ackRateKey(from), now.Add(-l.cfg.Ack.RateWindow.Duration))
	if err != nil || a.recent >= l.cfg.Ack.RateLimit {
		return a, err
	}
	marks := &sendMarks{tx: tx.Tx}
	a.slot, err = flood.AckSlot(marks, l.cfg.Ack.GlobalPerHour, now)
	a.marks = marks.marks
	return a, err
}

// readCrypto reads what a reporter's mail on a case brings to OpenPGP: the
// state of the key it offers, and which of its ciphertexts are new.
func (l *Line) readCrypto(tx *txn, in *incoming, st *state) error {
	var err error
	if st.key, err = l.readKey(tx, in); err != nil {
		return err
	}
	for _, h := range in.crypto.cipherHashes {
		if _, ok := tx.Meta("ciphertext:" + h); !ok {
			st.newCiphertexts = append(st.newCiphertexts, h)
		}
	}
	return nil
}

// keyState is the first key a message offers for its sender's address
// (signed: inside data validly signed by in.crypto.signer) and what the
// store knows of that address's keys.
type keyState struct {
	pub       []byte // the offered key, armored
	fp        string // its fingerprint
	signed    bool
	old       []byte // the known key (known: there is one)
	known     bool
	pending   []*store.PendingKey
	openCases []*store.Case // the address's open cases (each gets the key's events)
}

// readKey reads the key state of the first key in offers for its sender's
// address (the keys inside signed data first), nil if none.
func (l *Line) readKey(tx *txn, in *incoming) (*keyState, error) {
	if in.from == "" {
		return nil, nil
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
		pub, err := pgp.Armor(openpgp.EntityList{e})
		if err != nil {
			return nil, nil
		}
		k := &keyState{pub: pub, fp: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), signed: i < signed}
		k.old, k.known = tx.Key(in.from)
		if k.pending, err = tx.PendingKeys(in.from); err != nil {
			return nil, err
		}
		k.openCases, err = openCasesOf(tx, in.from)
		return k, err
	}
	return nil, nil
}

// openCasesOf is the cases addr is on that are not closed.
func openCasesOf(tx *txn, addr string) ([]*store.Case, error) {
	ids, err := tx.CasesByAddress(addr)
	if err != nil {
		return nil, err
	}
	var open []*store.Case
	for _, id := range ids {
		c, err := tx.Case(id)
		if err != nil {
			return nil, err
		}
		if !store.Closed(c.Status) {
			open = append(open, c)
		}
	}
	return open, nil
}
