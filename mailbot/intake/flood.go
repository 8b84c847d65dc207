package intake

// Floods (issue 15, attack 5): what one sender, one domain or a full disk
// can make the bot do is bounded. mailbot/flood decides and counts; this
// file applies its answers inside the message's transaction.
//
//   - New cases: at most flood.cases_per_sender per address and
//     flood.cases_per_domain per domain within flood.window. A report over a
//     cap is stored, never lost, and never acknowledged: folded onto the
//     sender's newest open case (a message with a "flood.folded" event), or,
//     when the sender has none, held on no case (class "held"). The on-duty
//     pair gets ONE notice per burst; the daily digest lists every folded or
//     held report.
//   - Team notifications about a reporter's mail: the same kind of caps
//     (flood.notify_per_*); over them the notification is left out, the
//     case's log says so, and one notice per burst goes out.
//   - The disk: below limits.min_free_bytes free, or with the store over
//     limits.max_store_bytes, a message that would open a case is not
//     committed. From IMAP it stays on the server, untouched, its UID held
//     in the mailbox state while the watermark moves on, so follow-ups to
//     open cases behind it still flow; once the disk is fine the intake
//     fetches the held UIDs again. `mailbot ingest` exits 75 and the MTA
//     retries. Health shows the "disk" problem meanwhile.

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"mailbot/mailbot/flood"
	"mailbot/policy"
	"mailbot/store"
)

// Actions of reports the flood caps kept from opening a case.
const (
	ActionFolded = "folded" // stored on the sender's newest open case
	ActionHeld   = "held"   // stored on no case
)

// storeSizeEvery is how long, in wall time, a measured store size is
// trusted: measuring walks the raw mail directory.
const storeSizeEvery = time.Minute

// MaxHeld bounds the UIDs held on the server per mailbox (the mailbox
// state is rewritten with each): beyond it the intake stops and retries,
// as it does on a full disk, until space is freed. A variable so that
// tests can lower it.
var MaxHeld = 10000

var errTooManyHeld = errors.New("mailbot: too many new reports held on the server for a low disk")

// heldError says a message that would open a case was not taken because
// the disk is low.
type heldError struct{ reason string }

func (e *heldError) Error() string { return e.reason }
func (e *heldError) Unwrap() error { return flood.ErrDiskLow }

// DeferredError says a message was left on the IMAP server unprocessed,
// to be fetched again later (inbox.Deferrer).
type DeferredError struct{ Err error }

func (e *DeferredError) Error() string  { return "deferred: " + e.Err.Error() }
func (e *DeferredError) Unwrap() error  { return e.Err }
func (e *DeferredError) Deferred() bool { return true }

func (l *Line) caseCaps() flood.Caps {
	f := l.cfg.Flood
	return flood.Caps{Window: f.Window.Duration, PerSender: f.CasesPerSender, PerDomain: f.CasesPerDomain}
}

func (l *Line) notifyCaps() flood.Caps {
	f := l.cfg.Flood
	return flood.Caps{Window: f.Window.Duration, PerSender: f.NotifyPerSender, PerDomain: f.NotifyPerDomain}
}

// decideReport opens a case for a report, unless the disk is low (the
// message waits, nothing is written) or the sender is over a case cap
// (folded or held).
func (l *Line) decideReport(d *decision, in *incoming, how threadHow, held bool, st *state) {
	if st.diskLow != "" {
		d.held = st.diskLow
		return
	}
	if st.caseCap.reason != "" {
		l.decideFold(d, in, st)
		return
	}
	d.sends = append(d.sends, capMarks(l.caseCaps(), flood.Cases, in.from, d.now)...)
	l.decideOpen(d, in, how, held, st)
}

// capMarks are the send log's marks that count one more of kind for addr.
func capMarks(caps flood.Caps, kind, addr string, now time.Time) []sendMark {
	var marks sendMarks
	caps.Count(&marks, kind, addr, now) // only records: never fails
	return marks.marks
}

// decideFold stores a report over a case cap on the sender's newest open
// case, or on no case, tells the team once per burst and logs it for the
// digest. Nothing answers the sender.
func (l *Line) decideFold(d *decision, in *incoming, st *state) {
	c, reason := st.newestOpen, st.caseCap.reason
	sm := d.message
	sm.Reason = "over the flood caps: " + reason
	sm.Class, d.res.Action = ActionHeld, ActionHeld
	if c != nil {
		d.onCase = c
		sm.CaseID, sm.Class, d.res.Action, d.res.Case = c.ID, ActionFolded, ActionFolded, c.Ref
	}
	d.res.Class, d.res.Reason = sm.Class, sm.Reason
	d.folded = &flood.Entry{Time: d.now, From: in.from}
	if c != nil {
		d.folded.Case = c.Ref
		d.event(c, "flood.folded", "bot", "a new report folded onto this case, not acknowledged: "+reason, true)
	}
	l.decideFloodNotice(d, c, flood.Cases, st.caseCap)
}

// logFolded adds the batch's folded and held reports to the flood log the
// digest reads, at the end of the transaction: the log (up to
// flood.MaxEntries) is parsed and rewritten once a batch, not once a report.
func (l *Line) logFolded(tx *txn) error {
	if len(tx.folded) == 0 {
		return nil
	}
	v, _ := tx.Meta(flood.MetaLog)
	log, err := flood.ParseLog(v)
	if err != nil {
		// QUIRK: an unreadable log (hand-edited) starts again rather than
		// stopping the intake.
		l.log.Warn("flood log unreadable: started afresh", "err", err)
		log = flood.Log{}
	}
	for _, e := range tx.folded {
		log.Add(e)
	}
	return tx.SetMeta(flood.MetaLog, log.String())
}

// newestOpenCase is the newest case addr reported that is not closed, or nil.
func (l *Line) newestOpenCase(tx *txn, addr string) (*store.Case, error) {
	ids, err := tx.CasesByAddress(addr)
	if err != nil {
		return nil, err
	}
	for _, id := range slices.Backward(ids) {
		c, err := tx.Case(id)
		if err != nil {
			return nil, err
		}
		if !store.Closed(c.Status) {
			return c, nil
		}
	}
	return nil, nil
}

// decideNotify tells the on-duty pair (or, for a follow-up, the assignee)
// about a reporter's mail on c (kind: what happened), within the
// notification caps: over them the notification is left out, the case's
// log says so, and the team gets one notice per burst.
func (l *Line) decideNotify(d *decision, c *store.Case, in *incoming, kind string, st *state) {
	if l.roster == nil {
		return
	}
	if st.notifyCap.reason != "" {
		d.event(c, "team.notify.folded", "bot", kind+": no notification: "+st.notifyCap.reason, false)
		l.decideFloodNotice(d, c, flood.Notify, st.notifyCap)
		return
	}
	d.sends = append(d.sends, capMarks(l.notifyCaps(), flood.Notify, in.from, d.now)...)
	target := policy.RemindOnDuty
	if kind == "follow-up" {
		target = policy.RemindAssignee
	}
	for _, m := range l.out.TeamRecipients(target, c, d.now) {
		name := "notify"
		if (len(m.Keys) == 0 || l.keys == nil) && !l.cfg.TeamMail.Plaintext {
			name = "notice"
		}
		d.mails = append(d.mails, mailOut{name: name, c: c, to: &m, kind: kind})
	}
	d.event(c, "team.notified", "bot", kind+" to "+target, false)
}

// decideFloodNotice tells the on-duty pair, once per burst and window,
// that mail from a burst (an address, or "@domain") went over a cap of
// kind (cs) while deciding about case c (nil: none).
func (l *Line) decideFloodNotice(d *decision, c *store.Case, kind string, cs capState) {
	if !cs.first {
		return
	}
	d.sends = append(d.sends, cs.marks...)
	for _, m := range l.out.TeamRecipients(policy.RemindOnDuty, nil, d.now) {
		d.mails = append(d.mails, mailOut{name: "flood", c: c, to: &m, kind: kind, who: cs.burst, text: cs.reason})
	}
	if c != nil {
		d.event(c, "team.notified", "bot", "flood notice: "+cs.reason, false)
	}
}

// diskProblem checks the free space and the store size against the limits,
// sets or clears the "disk" health problem, and returns "" when new reports
// may be taken, else why not. A check that fails counts as a problem: the
// mail waits on the server rather than risk the store.
func (l *Line) diskProblem() string {
	lim := flood.DiskLimits{MinFree: l.cfg.Limits.MinFreeBytes, MaxStore: l.cfg.Limits.MaxStoreBytes}
	var reason string
	if lim.MinFree > 0 || lim.MaxStore > 0 {
		u, err := l.disk()
		if err != nil {
			reason = "disk check failed: " + err.Error() + ": new reports are left on the server"
		} else {
			reason = lim.Problem(u)
		}
	}
	if m := l.metrics; m != nil {
		if reason != "" {
			m.SetProblem("disk", reason)
		} else {
			m.ClearProblem("disk")
		}
	}
	return reason
}

// FreeBytes is the free space on the store's file system, by the measure
// the disk limits use (Options.Disk, or statfs): for health's periodic disk
// check, which works whatever the limits.
func (l *Line) FreeBytes() (int64, error) {
	u, err := l.disk()
	return u.Free, err
}

// measureDisk is the default disk measure: statfs of the store's directory
// every time, the store's size at most every storeSizeEvery.
func (l *Line) measureDisk() (flood.Disk, error) {
	path := l.store.Path()
	free, err := flood.FreeBytes(filepath.Dir(path))
	if err != nil {
		return flood.Disk{}, err
	}
	u := flood.Disk{Free: free}
	if l.cfg.Limits.MaxStoreBytes <= 0 {
		return u, nil
	}
	l.diskMu.Lock()
	defer l.diskMu.Unlock()
	now := time.Now() // the walk's cost is wall time, whatever l.now says
	if l.storeSizeAt.IsZero() || now.Sub(l.storeSizeAt) >= storeSizeEvery || now.Before(l.storeSizeAt) {
		size, err := flood.StoreBytes(path)
		if err != nil {
			return flood.Disk{}, err
		}
		l.storeSize, l.storeSizeAt = size, now
	}
	u.Store = l.storeSize
	return u, nil
}

// holdOnServer leaves a report the disk cannot take where it came from:
// from IMAP its UID is held in the mailbox state (the watermark moves past
// it, so mail behind it flows) and the intake is told it was deferred; from
// `mailbot ingest` it is a temporary error (exit 75: the MTA retries). Its
// spooled bytes are removed unless something else refers to them.
func (l *Line) holdOnServer(src Source, blob store.Blob, held *heldError) error {
	var seen bool
	hold := func(tx *store.Tx) error {
		_, seen = tx.SeenHash(blob.Hash)
		if !src.imap() {
			return nil
		}
		if err := l.advance(tx, src); err != nil {
			return err
		}
		st, err := tx.MailboxState(src.Mailbox)
		if err != nil {
			return err
		}
		i, found := slices.BinarySearch(st.Held, src.UID)
		if found {
			return nil
		}
		if len(st.Held) >= MaxHeld {
			return errTooManyHeld
		}
		st.Held = slices.Insert(st.Held, i, src.UID)
		return tx.SetMailboxState(src.Mailbox, st)
	}
	var err error
	if src.imap() {
		err = l.store.Update(hold)
	} else {
		err = l.store.View(hold)
	}
	if err != nil {
		return &TemporaryError{Err: fmt.Errorf("hold: %w", err)}
	}
	if !seen {
		if err := l.store.RemoveRaw(blob.Hash); err != nil {
			l.log.Warn("spooled copy of a held message not removed", "hash", blob.Hash[:12], "err", err)
		}
	}
	l.log.Warn("new report left on the server", "mailbox", src.Mailbox, "uid", src.UID, "hash", blob.Hash[:12], "err", held)
	if src.imap() {
		return &DeferredError{held}
	}
	return &TemporaryError{Err: held}
}

// Deferred tells the intake which UIDs of mailbox are held on the server,
// and to fetch them again when the disk is fine (inbox.Deferrer). It runs
// every intake round, so it also keeps the disk health check current.
func (h *handler) Deferred(mailbox string, uidValidity uint32) ([]uint32, bool, error) {
	problem := h.l.diskProblem()
	var st store.MailboxState
	err := h.l.store.View(func(tx *store.Tx) (err error) {
		st, err = tx.MailboxState(mailbox)
		return err
	})
	if err != nil || st.UIDValidity != uidValidity {
		// Another UIDVALIDITY: every message is fetched again anyway.
		return nil, false, err
	}
	return st.Held, problem == "", nil
}

// isHeld reports whether err says the disk kept a new report out.
func isHeld(err error) (*heldError, bool) {
	var h *heldError
	return h, errors.As(err, &h)
}
