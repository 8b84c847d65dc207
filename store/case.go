package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Case is one report and everything that follows from it.
type Case struct {
	ID           uint64
	Ref          string            `json:",omitzero"` // human id: Prefix-YYYY-NNNN, NNNN restarting at 0001 each year (year of Created, UTC), 4+ digits
	Subject      string            `json:",omitzero"`
	Reporter     string            `json:",omitzero"` // lowercase address of the first sender
	ReporterName string            `json:",omitzero"`
	Participants []string          `json:",omitzero"` // lowercase addresses allowed to use the case tag (reporter, later others)
	Status       string            `json:",omitzero"` // "new" at creation unless set
	Language     string            `json:",omitzero"`
	Created      time.Time         `json:",omitzero"`
	Updated      time.Time         `json:",omitzero"`
	Clocks       []Clock           `json:",omitzero"`
	Fields       map[string]string `json:",omitzero"` // free-form case attributes set by later features (severity, cve, assignee, ...)
}

// Clock is a disclosure-policy deadline on a case.
type Clock struct {
	Name     string
	State    string    `json:",omitzero"` // "running", "met", "breached", "paused"
	Started  time.Time `json:",omitzero"`
	Due      time.Time `json:",omitzero"`
	Stopped  time.Time `json:",omitzero"` // zero while running
	PausedAt time.Time `json:",omitzero"`
}

func (c Clock) equal(o Clock) bool {
	return c.Name == o.Name && c.State == o.State && c.Started.Equal(o.Started) && c.Due.Equal(o.Due) &&
		c.Stopped.Equal(o.Stopped) && c.PausedAt.Equal(o.PausedAt)
}

// normalizeCase lowercases the addresses of c (without touching the
// caller's Participants backing array).
func normalizeCase(c *Case) {
	c.Reporter = normAddr(c.Reporter)
	if len(c.Participants) > 0 {
		ps := make([]string, len(c.Participants))
		for i, p := range c.Participants {
			ps[i] = normAddr(p)
		}
		c.Participants = ps
	}
}

// NewCase stores a new case. It sets c.ID (the next case sequence number),
// c.Ref (always; from the per-year counter of Created's UTC year), Created if
// zero (now), Updated if zero (Created) and Status "new" if empty, lowercases
// Reporter and Participants, and indexes the reporter for CasesByAddress.
func (tx *Tx) NewCase(c *Case) error {
	cases, err := tx.bucket(bCases)
	if err != nil {
		return err
	}
	normalizeCase(c)
	if c.Created.IsZero() {
		c.Created = tx.s.now()
	}
	if c.Updated.IsZero() {
		c.Updated = c.Created
	}
	if c.Status == "" {
		c.Status = "new"
	}
	id, err := cases.NextSequence()
	if err != nil {
		return fmt.Errorf("store: new case: %w", err)
	}
	ref, err := tx.nextRef(c.Created)
	if err != nil {
		return fmt.Errorf("store: new case: %w", err)
	}
	refs := tx.mustBucket(bCaseRef)
	if refs.Get([]byte(normRef(ref))) != nil {
		// Only possible if the refseq counter was tampered with.
		return fmt.Errorf("store: new case: ref %s already taken", ref)
	}
	c.ID, c.Ref = id, ref
	if err := putPlainRecord(cases, itob(id), c); err != nil {
		return fmt.Errorf("store: new case: %w", err)
	}
	if err := refs.Put([]byte(normRef(ref)), itob(id)); err != nil {
		return fmt.Errorf("store: new case: %w", err)
	}
	if err := tx.indexReporter(c.Reporter, id, true); err != nil {
		return fmt.Errorf("store: new case: %w", err)
	}
	if err := tx.indexOpen(id, c.Status); err != nil {
		return fmt.Errorf("store: new case: %w", err)
	}
	return nil
}

// closedStatuses end a case: nothing is planned for it any more. The open
// index (and a migration) depends on this list: changing it needs a new
// migration that rebuilds the index.
var closedStatuses = []string{"disclosed", "rejected", "duplicate", "spam"}

// Closed reports whether a case in status is closed: disclosed, rejected,
// duplicate or spam. OpenCases leaves such cases out; every other status
// (including "fixed", which may still wait for its disclosure date) is open.
func Closed(status string) bool {
	return slices.Contains(closedStatuses, status)
}

// indexOpen puts case id in the open index, or takes it out, as status
// says. Idempotent.
func (tx *Tx) indexOpen(id uint64, status string) error {
	b, err := tx.bucket(bOpen)
	if err != nil {
		return err
	}
	if Closed(status) {
		return b.Delete(itob(id))
	}
	if b.Get(itob(id)) != nil {
		return nil // unchanged: do not dirty the page
	}
	return b.Put(itob(id), nil)
}

// NextCase is the ID and reference NewCase gives the next case created at
// created, without taking them: the intake decides a new case's events and
// mail before it writes the case.
func (tx *Tx) NextCase(created time.Time) (id uint64, ref string, err error) {
	cases, err := tx.bucket(bCases)
	if err != nil {
		return 0, "", err
	}
	seq, err := tx.bucket(bRefSeq)
	if err != nil {
		return 0, "", err
	}
	year := created.UTC().Year()
	n := btoi(seq.Get([]byte(strconv.Itoa(year)))) + 1
	return cases.Sequence() + 1, tx.caseRef(year, n), nil
}

// nextRef takes the next number of the year of created (UTC).
func (tx *Tx) nextRef(created time.Time) (string, error) {
	seq, err := tx.bucket(bRefSeq)
	if err != nil {
		return "", err
	}
	year := created.UTC().Year()
	key := []byte(strconv.Itoa(year))
	n := btoi(seq.Get(key)) + 1
	if err := seq.Put(key, itob(n)); err != nil {
		return "", err
	}
	return tx.caseRef(year, n), nil
}

// caseRef is the reference of the n-th case of year.
func (tx *Tx) caseRef(year int, n uint64) string {
	return fmt.Sprintf("%s-%04d-%04d", tx.s.prefix, year, n)
}

// indexReporter adds or removes addr -> id in the reporter index.
func (tx *Tx) indexReporter(addr string, id uint64, add bool) error {
	// QUIRK: an empty or absurdly long address is not indexed.
	if addr == "" || len(addr) > maxIndexKey {
		return nil
	}
	b, err := tx.bucket(bReporter)
	if err != nil {
		return err
	}
	k := append(strPrefix(addr, 8), itob(id)...)
	if add {
		return b.Put(k, nil)
	}
	return b.Delete(k)
}

// PutCase stores an updated case. The case must exist (ErrCaseNotFound) and
// its Ref cannot change (an empty Ref keeps the stored one). Reporter and
// Participants are lowercased and the reporter index follows a change of
// Reporter. Updated is stored as given.
func (tx *Tx) PutCase(c *Case) error {
	cases, err := tx.bucket(bCases)
	if err != nil {
		return err
	}
	var old Case
	ok, err := getRecord(cases, itob(c.ID), &old)
	if err != nil {
		return fmt.Errorf("store: put case %d: %w", c.ID, err)
	}
	if !ok {
		return fmt.Errorf("%w: id %d", ErrCaseNotFound, c.ID)
	}
	if c.Ref == "" {
		c.Ref = old.Ref
	}
	if c.Ref != old.Ref {
		return fmt.Errorf("store: put case %d: ref cannot change from %s to %s", c.ID, old.Ref, c.Ref)
	}
	normalizeCase(c)
	if err := putPlainRecord(cases, itob(c.ID), c); err != nil {
		return fmt.Errorf("store: put case %d: %w", c.ID, err)
	}
	if c.Status != old.Status || !slices.EqualFunc(c.Clocks, old.Clocks, Clock.equal) || !maps.Equal(c.Fields, old.Fields) {
		tx.changed.Schedule = true
	}
	if Closed(old.Status) != Closed(c.Status) {
		if err := tx.indexOpen(c.ID, c.Status); err != nil {
			return fmt.Errorf("store: put case %d: %w", c.ID, err)
		}
	}
	if old.Reporter != c.Reporter {
		if err := tx.indexReporter(old.Reporter, c.ID, false); err != nil {
			return fmt.Errorf("store: put case %d: %w", c.ID, err)
		}
		if err := tx.indexReporter(c.Reporter, c.ID, true); err != nil {
			return fmt.Errorf("store: put case %d: %w", c.ID, err)
		}
	}
	return nil
}

// Case returns the case with the given id or ErrCaseNotFound.
func (tx *Tx) Case(id uint64) (*Case, error) {
	cases, err := tx.bucket(bCases)
	if err != nil {
		return nil, err
	}
	c := new(Case)
	ok, err := getRecord(cases, itob(id), c)
	if err != nil {
		return nil, fmt.Errorf("store: case %d: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: id %d", ErrCaseNotFound, id)
	}
	return c, nil
}

// caseExists reports whether a case id is stored.
func (tx *Tx) caseExists(id uint64) (bool, error) {
	cases, err := tx.bucket(bCases)
	if err != nil {
		return false, err
	}
	return cases.Get(itob(id)) != nil, nil
}

// CaseByRef returns the case with the given Ref, compared case-insensitively,
// or ErrCaseNotFound.
func (tx *Tx) CaseByRef(ref string) (*Case, error) {
	refs, err := tx.bucket(bCaseRef)
	if err != nil {
		return nil, err
	}
	v := refs.Get([]byte(normRef(ref)))
	if v == nil {
		return nil, fmt.Errorf("%w: ref %q", ErrCaseNotFound, ref)
	}
	return tx.Case(btoi(v))
}

// Cases calls fn for every case in id order until fn returns false. This is a
// full scan: for admin listings, not for per-message work.
func (tx *Tx) Cases(fn func(*Case) bool) error {
	cases, err := tx.bucket(bCases)
	if err != nil {
		return err
	}
	cur := cases.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		c := new(Case)
		if err := decodeRecord(v, c); err != nil {
			return fmt.Errorf("store: case %d: %w", btoi(k), err)
		}
		if !fn(c) {
			break
		}
	}
	return nil
}

// OpenCases calls fn for every case that is not Closed, in id order, until
// fn returns false. It walks the open-case index, so closed cases cost
// nothing: this is the listing for the scheduler and `mailbot cases`.
func (tx *Tx) OpenCases(fn func(*Case) bool) error {
	open, err := tx.bucket(bOpen)
	if err != nil {
		return err
	}
	cur := open.Cursor()
	for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
		c, err := tx.Case(btoi(k))
		if err != nil {
			return fmt.Errorf("store: open cases: %w", err)
		}
		if !fn(c) {
			break
		}
	}
	return nil
}

// CasesByAddress returns the ids, ascending, of the cases whose Reporter is
// addr (compared lowercase). Participants are not indexed.
func (tx *Tx) CasesByAddress(addr string) ([]uint64, error) {
	b, err := tx.bucket(bReporter)
	if err != nil {
		return nil, err
	}
	addr = normAddr(addr)
	if addr == "" {
		return nil, nil
	}
	prefix := strPrefix(addr, 0)
	var ids []uint64
	cur := b.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		if len(k) == len(prefix)+8 {
			ids = append(ids, btoi(k[len(prefix):]))
		}
	}
	return ids, nil
}

// CaseByMessageID returns the case of any Message-ID we received or sent on a
// case (or linked with LinkMessageID). msgid may carry <>.
func (tx *Tx) CaseByMessageID(msgid string) (uint64, bool) {
	k, ok := msgIDKey(msgid)
	if !ok {
		return 0, false
	}
	b := tx.mustBucket(bMsgID)
	if b == nil {
		return 0, false
	}
	v := b.Get(k)
	if v == nil {
		return 0, false
	}
	return btoi(v), true
}

// LinkMessageID indexes an extra Message-ID for a case (for example one quoted
// in References that we never saw), replacing any earlier link of that id.
func (tx *Tx) LinkMessageID(msgid string, caseID uint64) error {
	k, ok := msgIDKey(msgid)
	if !ok {
		return fmt.Errorf("store: link message-id: invalid id %q", msgid)
	}
	ok, err := tx.caseExists(caseID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("store: link message-id: %w: id %d", ErrCaseNotFound, caseID)
	}
	b, err := tx.bucket(bMsgID)
	if err != nil {
		return err
	}
	if err := b.Put(k, itob(caseID)); err != nil {
		return fmt.Errorf("store: link message-id: %w", err)
	}
	return nil
}

// linkMessageIDIfNew indexes msgid -> caseID unless the id is already linked.
// QUIRK: Message-IDs are not unique in practice (broken clients, or a sender
// reusing an id on purpose); the first case to claim an id keeps it, so a
// later message cannot pull another case's thread over to itself.
func (tx *Tx) linkMessageIDIfNew(msgid string, caseID uint64) error {
	k, ok := msgIDKey(msgid)
	if !ok || caseID == 0 {
		return nil
	}
	b, err := tx.bucket(bMsgID)
	if err != nil {
		return err
	}
	if b.Get(k) != nil {
		return nil
	}
	return b.Put(k, itob(caseID))
}

// AppendEvent appends e to the case's event log. e.Time is required.
func (tx *Tx) AppendEvent(caseID uint64, e Event) error {
	if e.Time.IsZero() {
		return errors.New("store: append event: time is required")
	}
	ok, err := tx.caseExists(caseID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("store: append event: %w: id %d", ErrCaseNotFound, caseID)
	}
	b, err := tx.bucket(bEvents)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("store: append event: %w", err)
	}
	if err := putRecord(b, pair(caseID, seq), e); err != nil {
		return fmt.Errorf("store: append event: %w", err)
	}
	return nil
}

// Events returns the case's events in the order they were appended.
func (tx *Tx) Events(caseID uint64) ([]Event, error) {
	b, err := tx.bucket(bEvents)
	if err != nil {
		return nil, err
	}
	prefix := itob(caseID)
	var evs []Event
	cur := b.Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		var e Event
		if err := decodeRecord(v, &e); err != nil {
			return nil, fmt.Errorf("store: events of case %d: %w", caseID, err)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// Event is one entry of a case's append-only log.
type Event struct {
	Time      time.Time
	Kind      string `json:",omitzero"` // "case.opened", "message.received", "ack.queued", "outbox.sent", "outbox.failed", "note", ...
	Actor     string `json:",omitzero"` // "bot", an address, "admin"
	Detail    string `json:",omitzero"`
	MessageID uint64 `json:",omitzero"` // optional link to a stored Message
}
