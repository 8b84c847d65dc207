package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Retention and erasure. Both keep the skeleton of every case (id, Ref,
// status, dates, clocks, fields, the number and classes of its messages) so
// statistics stay true; they remove what identifies a person or what the
// organisation no longer needs: raw mail of closed cases (PurgeRaw) and a
// reporter's personal data on request (Forget, GDPR Art. 17).

// Event kinds written by this file.
const (
	// EventRawPurged marks one message whose raw bytes were (or are about to
	// be) removed from the raw directory; Event.MessageID names it.
	EventRawPurged = "raw.purged"
	// EventForgotten records that a person's data was erased from the case.
	// Its Detail never names the person.
	EventForgotten = "reporter.forgotten"
)

// Forgotten replaces erased addresses in event actors and details.
const Forgotten = "[forgotten]"

// ErrRestoreExists: Restore was given a path that already exists; it never
// overwrites a file (least of all the open database). Permanent.
var ErrRestoreExists = errors.New("store: restore target exists")

// ErrBadBackup: the bytes given to Restore are not a usable mailbot database.
// Permanent for that backup.
var ErrBadBackup = errors.New("store: backup is not a valid database")

// PurgeRaw selects the raw messages to delete: every incoming message on a
// case for which closed returns true, received before before, whose raw
// bytes were not purged yet, and the mail we sent on such a case before
// before (purgeSent). It appends an EventRawPurged event per message to its
// case and returns the hashes. The Message records (and their Hash,
// so SeenHash still recognises the mail if the server offers it again) stay.
//
// The caller deletes the files with RemoveRaw after the transaction commits:
// a crash in between leaves files that the next PurgeRaw no longer returns,
// which wastes space but loses nothing that was still wanted. A hash that is
// also kept in quarantine is marked but not returned.
//
// closed decides the case-level policy (for example: status disclosed,
// rejected, duplicate or spam, and Updated before a cutoff).
//
// It looks at the cases from id from on, and stops after limit of them
// needed a look (limit <= 0: no limit): next is the id to go on from, 0 when
// every case was seen. Each run in its own transaction keeps the write lock
// short. A case left with no raw mail at all (every message and every sent
// mail purged, nothing queued) is marked done and skipped from then on,
// until mail is added to it or queued on it (rawdone): a daily run over years
// of closed cases reads only the new ones.
func (tx *Tx) PurgeRaw(before time.Time, closed func(*Case) bool, from uint64, limit int) (hashes []string, next uint64, err error) {
	cb, err := tx.bucket(bCases)
	if err != nil {
		return nil, 0, err
	}
	done, err := tx.bucket(bRawDone)
	if err != nil {
		return nil, 0, err
	}
	now := tx.s.now()
	looked := 0
	cur := cb.Cursor()
	for k, v := cur.Seek(itob(from)); k != nil; k, v = cur.Next() {
		if done.Get(k) != nil {
			continue
		}
		if limit > 0 && looked == limit {
			return hashes, btoi(k), nil
		}
		looked++
		c := new(Case)
		if err := decodeRecord(v, c); err != nil {
			return nil, 0, fmt.Errorf("store: purge raw: case %d: %w", btoi(k), err)
		}
		if !closed(c) {
			continue
		}
		h, left, err := tx.purgeCase(c, before, now)
		if err != nil {
			return nil, 0, fmt.Errorf("store: purge raw: case %d: %w", c.ID, err)
		}
		hashes = append(hashes, h...)
		if !left {
			if err := done.Put(itob(c.ID), nil); err != nil {
				return nil, 0, fmt.Errorf("store: purge raw: %w", err)
			}
		}
	}
	return hashes, 0, nil
}

// purgeCase is PurgeRaw for one closed case. left says whether raw mail
// stays on it: received or sent at or after before, or still queued.
func (tx *Tx) purgeCase(c *Case, before, now time.Time) (hashes []string, left bool, err error) {
	purged, err := tx.purgedMessages(c.ID)
	if err != nil {
		return nil, false, err
	}
	msgs, err := tx.Messages(c.ID)
	if err != nil {
		return nil, false, err
	}
	for _, m := range msgs {
		if m.Direction != "in" || m.Hash == "" || purged[m.ID] {
			continue
		}
		if !m.Received.Before(before) {
			left = true
			continue
		}
		if err := tx.AppendEvent(c.ID, Event{Time: now, Kind: EventRawPurged, Actor: "bot",
			Detail: "raw message removed by the retention policy", MessageID: m.ID}); err != nil {
			return nil, false, err
		}
		if !tx.quarantined(m.Hash) {
			hashes = append(hashes, m.Hash)
		}
	}
	sent, sentLeft, err := tx.purgeSent(c, before, now)
	if err != nil {
		return nil, false, err
	}
	return append(hashes, sent...), left || sentLeft, nil
}

// clearRawDone puts a case back among those PurgeRaw looks at: mail was
// added to it or queued on it.
func (tx *Tx) clearRawDone(caseID uint64) error {
	if caseID == 0 {
		return nil
	}
	if err := tx.mustBucket(bRawDone).Delete(itob(caseID)); err != nil {
		return fmt.Errorf("rawdone: %w", err)
	}
	return nil
}

// purgeSent is PurgeRaw for the mail we sent on a case: acknowledgements,
// and relays that quote the team's answers and often the report. Items that
// left the queue (sent or failed) before before lose their bytes (RawHash is
// cleared; an old store may still hold them in outraw), with an
// EventRawPurged on the case naming the mail. Queued mail is kept; left says
// whether any mail keeps its bytes.
func (tx *Tx) purgeSent(c *Case, before, now time.Time) (hashes []string, left bool, err error) {
	raw, err := tx.bucket(bOutRaw)
	if err != nil {
		return nil, false, err
	}
	ob, err := tx.bucket(bOutbox)
	if err != nil {
		return nil, false, err
	}
	var hit []*OutboxItem
	err = tx.CaseOutbox(c.ID, func(o *OutboxItem) bool {
		hasRaw := o.RawHash != "" || raw.Get(itob(o.ID)) != nil
		switch {
		case o.State == OutboxQueued:
			left = true
		case !hasRaw:
			// purged before
		case o.Created.Before(before):
			hit = append(hit, o)
		default:
			left = true
		}
		return true
	})
	if err != nil {
		return nil, false, err
	}
	for _, o := range hit {
		if err := raw.Delete(itob(o.ID)); err != nil {
			return nil, false, fmt.Errorf("outbox item %d: %w", o.ID, err)
		}
		if o.RawHash != "" {
			hashes = append(hashes, o.RawHash)
			o.RawHash = ""
		}
		if err := putRecord(ob, itob(o.ID), o); err != nil {
			return nil, false, fmt.Errorf("outbox item %d: %w", o.ID, err)
		}
		if err := tx.AppendEvent(o.CaseID, Event{Time: now, Kind: EventRawPurged, Actor: "bot",
			Detail: fmt.Sprintf("sent %s <%s> removed by the retention policy", o.Kind, o.MessageID)}); err != nil {
			return nil, false, err
		}
	}
	return hashes, left, nil
}

// RawPurged reports whether the raw bytes of a message on caseID were
// purged (by PurgeRaw or Forget), for listings that offer the raw mail.
func (tx *Tx) RawPurged(caseID, msgID uint64) (bool, error) {
	p, err := tx.purgedMessages(caseID)
	return p[msgID], err
}

// purgedMessages returns the ids of the messages of a case marked with
// EventRawPurged.
func (tx *Tx) purgedMessages(caseID uint64) (map[uint64]bool, error) {
	evs, err := tx.Events(caseID)
	if err != nil {
		return nil, err
	}
	p := make(map[uint64]bool)
	for _, e := range evs {
		if e.Kind == EventRawPurged && e.MessageID != 0 {
			p[e.MessageID] = true
		}
	}
	return p, nil
}

func (tx *Tx) quarantined(hash string) bool {
	k, ok := hashKey(hash)
	if !ok {
		return false
	}
	b := tx.mustBucket(bQHash)
	return b != nil && b.Get(k) != nil
}

// ForgetReport says what Forget erased.
type ForgetReport struct {
	Cases    []uint64 // cases that held the person's data, ascending; each got an EventForgotten
	Messages int      // messages from or to the address whose metadata was erased
	Events   int      // case events rewritten (actor or detail named the address)
	Outbox   int      // outgoing mails to the address whose bytes were dropped
	Canceled int      // of those, mails still queued, now failed and never sent
	Key      bool     // a stored OpenPGP key (known or pending) was removed
	Sends    int      // rate-limit entries removed
	// Raw lists the raw files of the person's incoming mail and of mail
	// sent to them: remove them with RemoveRaw after the transaction
	// commits (as for PurgeRaw).
	Raw []string
}

// Forget erases the personal data of the person with address addr, at now
// (GDPR Art. 17). In every message from or to addr it clears From (or the
// address in To), Subject, the signer fingerprint and attachment names; the
// raw bytes of their incoming mail are marked purged and listed in
// ForgetReport.Raw. In every case they reported it clears Reporter,
// ReporterName and Subject (the report's subject is their text); they are
// removed from Participants everywhere. Event actors equal to addr and
// details that mention it become Forgotten. Outgoing mail to them loses its
// stored bytes and recipients (queued mail is failed, not sent). Their
// OpenPGP key and rate-limit entries are deleted. Each affected case gets one
// EventForgotten event, which does not name them.
//
// Kept for statistics: case ids, Refs, status, dates, clocks, Fields, and the
// number, direction, class, size and dates of messages. Message-IDs are kept
// too (they thread later mail and rarely identify a person). Case Fields
// (free-form, set by the team) and quarantined mail are not searched: review
// them by hand. A full scan: an admin command, not per-message work.
func (tx *Tx) Forget(addr string, now time.Time) (ForgetReport, error) {
	var rep ForgetReport
	addr = normAddr(addr)
	if addr == "" || !strings.Contains(addr, "@") {
		return rep, fmt.Errorf("store: forget: invalid address %q", addr)
	}
	touched := make(map[uint64]bool)
	if err := tx.forgetCases(addr, touched); err != nil {
		return rep, fmt.Errorf("store: forget: %w", err)
	}
	if err := tx.forgetMessages(addr, touched, now, &rep); err != nil {
		return rep, fmt.Errorf("store: forget: %w", err)
	}
	if err := tx.forgetOutbox(addr, touched, now, &rep); err != nil {
		return rep, fmt.Errorf("store: forget: %w", err)
	}
	// Events last: the cases touched so far are where the address can be.
	// Cases not touched are scanned too, for events naming the address (an
	// ack detail quoting it, a team note).
	if err := tx.forgetEvents(addr, touched, &rep); err != nil {
		return rep, fmt.Errorf("store: forget: %w", err)
	}
	if keys := tx.mustBucket(bPGPKeys); keys != nil && len(addr) <= maxIndexKey && keys.Get([]byte(addr)) != nil {
		if err := keys.Delete([]byte(addr)); err != nil {
			return rep, fmt.Errorf("store: forget: key: %w", err)
		}
		rep.Key = true
	}
	pending, err := tx.deletePendingKeys(addr)
	if err != nil {
		return rep, fmt.Errorf("store: forget: %w", err)
	}
	rep.Key = rep.Key || pending > 0
	n, err := tx.deleteSends("ack:" + addr)
	if err != nil {
		return rep, fmt.Errorf("store: forget: %w", err)
	}
	rep.Sends = n
	for id := range touched {
		if id == 0 {
			continue
		}
		rep.Cases = append(rep.Cases, id)
	}
	slices.Sort(rep.Cases)
	for _, id := range rep.Cases {
		if err := tx.AppendEvent(id, Event{Time: now, Kind: EventForgotten, Actor: "admin",
			Detail: "personal data of a correspondent erased on request"}); err != nil {
			return rep, fmt.Errorf("store: forget: %w", err)
		}
	}
	return rep, nil
}

// forgetCases clears addr as reporter and participant.
func (tx *Tx) forgetCases(addr string, touched map[uint64]bool) error {
	var hit []*Case
	err := tx.Cases(func(c *Case) bool {
		if c.Reporter == addr || slices.Contains(c.Participants, addr) {
			hit = append(hit, c)
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, c := range hit {
		if c.Reporter == addr {
			c.Reporter, c.ReporterName, c.Subject = "", "", ""
		}
		c.Participants = slices.DeleteFunc(c.Participants, func(p string) bool { return p == addr })
		if err := tx.PutCase(c); err != nil { // also drops the reporter index entry
			return err
		}
		touched[c.ID] = true
	}
	return nil
}

// forgetMessages erases addr from message metadata and marks their raw
// bytes purged.
func (tx *Tx) forgetMessages(addr string, touched map[uint64]bool, now time.Time, rep *ForgetReport) error {
	msgs, err := tx.bucket(bMsgs)
	if err != nil {
		return err
	}
	var hit []*Message
	cur := msgs.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		m := new(Message)
		if err := decodeRecord(v, m); err != nil {
			return fmt.Errorf("message %d: %w", btoi(k), err)
		}
		if normAddr(m.From) == addr || slices.ContainsFunc(m.To, func(a string) bool { return normAddr(a) == addr }) {
			hit = append(hit, m)
		}
	}
	purged := make(map[uint64]map[uint64]bool)
	for _, m := range hit {
		from := normAddr(m.From) == addr
		if from {
			m.From = ""
		}
		m.To = slices.DeleteFunc(m.To, func(a string) bool { return normAddr(a) == addr })
		m.Subject, m.SignerFingerprint = "", ""
		for i := range m.Attachments {
			m.Attachments[i].Name = ""
		}
		if err := putRecord(msgs, itob(m.ID), m); err != nil {
			return fmt.Errorf("message %d: %w", m.ID, err)
		}
		rep.Messages++
		touched[m.CaseID] = true
		if !from || m.Direction != "in" || m.Hash == "" {
			continue
		}
		if m.CaseID != 0 {
			if purged[m.CaseID] == nil {
				if purged[m.CaseID], err = tx.purgedMessages(m.CaseID); err != nil {
					return err
				}
			}
			if !purged[m.CaseID][m.ID] {
				if err := tx.AppendEvent(m.CaseID, Event{Time: now, Kind: EventRawPurged, Actor: "admin",
					Detail: "raw message removed: sender's data erased", MessageID: m.ID}); err != nil {
					return err
				}
			}
		}
		if !tx.quarantined(m.Hash) {
			rep.Raw = append(rep.Raw, m.Hash)
		}
	}
	return nil
}

// forgetOutbox drops the bytes and the recipient of outgoing mail to addr;
// queued mail is failed so it is never sent. Bytes already moved to the raw
// directory are listed in rep.Raw for RemoveRaw.
func (tx *Tx) forgetOutbox(addr string, touched map[uint64]bool, now time.Time, rep *ForgetReport) error {
	var hit []*OutboxItem
	err := tx.OutboxMeta(func(o *OutboxItem) bool {
		if slices.ContainsFunc(o.To, func(a string) bool { return normAddr(a) == addr }) {
			hit = append(hit, o)
		}
		return true
	})
	if err != nil {
		return err
	}
	raw, err := tx.bucket(bOutRaw)
	if err != nil {
		return err
	}
	ob, err := tx.bucket(bOutbox)
	if err != nil {
		return err
	}
	for _, o := range hit {
		// Bytes first, so PutOutbox has nothing to move to the raw directory.
		if err := raw.Delete(itob(o.ID)); err != nil {
			return fmt.Errorf("outbox item %d: %w", o.ID, err)
		}
		if o.RawHash != "" {
			rep.Raw = append(rep.Raw, o.RawHash)
		}
		o.To = slices.DeleteFunc(o.To, func(a string) bool { return normAddr(a) == addr })
		if o.State == OutboxQueued {
			o.State = OutboxFailed
			o.LastError = "canceled: recipient's data erased"
			o.NextAttempt = time.Time{}
			rep.Canceled++
		}
		if err := tx.PutOutbox(o); err != nil {
			return err
		}
		o.RawHash = ""
		if err := putRecord(ob, itob(o.ID), o); err != nil {
			return fmt.Errorf("outbox item %d: %w", o.ID, err)
		}
		rep.Outbox++
		touched[o.CaseID] = true
	}
	return nil
}

// forgetEvents rewrites events whose actor is addr or whose detail mentions
// it, on every case.
func (tx *Tx) forgetEvents(addr string, touched map[uint64]bool, rep *ForgetReport) error {
	b, err := tx.bucket(bEvents)
	if err != nil {
		return err
	}
	type upd struct {
		k []byte
		e Event
	}
	var ups []upd
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		plain, err := recordJSON(v)
		if err != nil {
			return fmt.Errorf("event %x: %w", k, err)
		}
		if !bytes.Contains(bytes.ToLower(plain), []byte(addr)) {
			continue // cheap filter before decoding the JSON
		}
		var e Event
		if err := decodeRecord(plain, &e); err != nil {
			return fmt.Errorf("event %x: %w", k, err)
		}
		changed := false
		if normAddr(e.Actor) == addr {
			e.Actor, changed = Forgotten, true
		}
		if d := replaceFold(e.Detail, addr, Forgotten); d != e.Detail {
			e.Detail, changed = d, true
		}
		if changed {
			ups = append(ups, upd{bytes.Clone(k), e})
		}
	}
	for _, u := range ups {
		if err := putRecord(b, u.k, u.e); err != nil {
			return fmt.Errorf("event %x: %w", u.k, err)
		}
		rep.Events++
		touched[btoi(u.k[:8])] = true
	}
	return nil
}

// replaceFold replaces every case-insensitive occurrence of lower (already
// lowercase ASCII-folded by normAddr) in s.
func replaceFold(s, lower, with string) string {
	ls := strings.ToLower(s)
	if len(ls) != len(s) || !strings.Contains(ls, lower) {
		// QUIRK: a detail whose lowercase form changes length (some
		// non-ASCII letters) cannot be cut by index; replace exact matches.
		return strings.ReplaceAll(s, lower, with)
	}
	var sb strings.Builder
	for {
		i := strings.Index(ls, lower)
		if i < 0 {
			sb.WriteString(s)
			return sb.String()
		}
		sb.WriteString(s[:i])
		sb.WriteString(with)
		s, ls = s[i+len(lower):], ls[i+len(lower):]
	}
}

// deleteSends removes all rate-limit entries of key.
func (tx *Tx) deleteSends(key string) (int, error) {
	b, err := tx.bucket(bSends)
	if err != nil {
		return 0, err
	}
	prefix := strPrefix(key, 0)
	var old [][]byte
	cur := b.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		if len(k) == len(prefix)+sendKeyLen {
			old = append(old, bytes.Clone(k))
		}
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return 0, fmt.Errorf("sends: %w", err)
		}
	}
	return len(old), nil
}

// Restore writes the backup read from r (the output of Backup) to a new
// database file at path, which must not exist, and is never the store's own
// file. See RestoreFile.
func (s *Store) Restore(r io.Reader, path string) error {
	if abs, err := filepath.Abs(path); err == nil {
		if own, err := filepath.Abs(s.path); err == nil && abs == own {
			return fmt.Errorf("%w: %s is the open database", ErrRestoreExists, path)
		}
	}
	return RestoreFile(r, path)
}

// RestoreFile writes the backup read from r to a new database file at path
// (0600), which must not exist (ErrRestoreExists).
//
// The bytes are spooled to a temp file in the same folder and checked (both
// bbolt meta pages valid, the file as long as they say, every key of every
// bucket readable, in order and found again by seek, a mailbot schema this
// binary can open); then every bucket is copied into a second, fresh file
// (bbolt compaction), which is fsynced and linked to path. The copy has a
// new freelist and no free pages: whatever Forget erased before the backup
// was taken is gone from the restored file, and freelist damage in the
// backup cannot carry over. A backup that fails gives an error matching
// ErrBadBackup and leaves nothing behind. The raw directory is not part of
// a backup: restore it separately.
//
// It needs no open Store, so the CLI can restore while no daemon runs.
func RestoreFile(r io.Reader, path string) (err error) {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %s", ErrRestoreExists, path)
	}
	dir := filepath.Dir(path)
	tmp, err := spoolTemp(r, dir, "."+filepath.Base(path)+".backup-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	out, err := os.CreateTemp(dir, "."+filepath.Base(path)+".restore-*")
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	out.Close()
	defer os.Remove(out.Name())
	if err := compactBackup(tmp, out.Name()); err != nil {
		return err
	}
	// os.Link fails when path exists, so a file created since the Lstat
	// above is never replaced (rename would replace it).
	if err := os.Link(out.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s", ErrRestoreExists, path)
		}
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

// spoolTemp copies r to a new 0600 temp file in dir and returns its name.
func spoolTemp(r io.Reader, dir, pattern string) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("store: restore: %w", err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("store: restore: %w", err)
	}
	return f.Name(), nil
}

// compactBackup checks the bbolt file src and copies its buckets into the
// (empty) file dst.
//
// bbolt mmaps a file and trusts its page ids: a truncated file makes it read
// past the end of the mapping (SIGBUS), and a corrupt page makes it panic.
// So checkMeta refuses short files first, and the rest runs in this
// goroutine with faults turned into panics (debug.SetPanicOnFault) and
// recovered. bbolt's own Tx.Check is not used: it runs in a goroutine of its
// own, where a corrupt page crashes the process, and on random damage it
// was seen to spin for minutes.
func compactBackup(src, dst string) (err error) {
	if err := checkMeta(src); err != nil {
		return err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: corrupt: %v", ErrBadBackup, p)
		}
	}()
	in, err := bbolt.Open(src, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	defer in.Close()
	err = in.View(func(tx *bbolt.Tx) error {
		if err := checkBackupSchema(tx); err != nil {
			return err
		}
		if err := tx.ForEach(func(name []byte, b *bbolt.Bucket) error { return walkBucket(b) }); err != nil {
			return fmt.Errorf("%w: %w", ErrBadBackup, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	out, err := bbolt.Open(dst, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer out.Close()
	if err := bbolt.Compact(out, in, 64<<20); err != nil {
		// The output is a fresh file: its errors are the input's (or a
		// full disk, which the message says).
		return fmt.Errorf("%w: copy: %w", ErrBadBackup, err)
	}
	if err := out.View(checkBackupSchema); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("store: restore: sync: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

// checkBackupSchema refuses a file without a mailbot schema this binary can
// open (older ones are migrated by Open).
func checkBackupSchema(tx *bbolt.Tx) error {
	v, err := schemaVersion(tx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadBackup, err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("%w: %w: schema version %d, this mailbot supports up to %d", ErrBadBackup, ErrNewerSchema, v, SchemaVersion)
	}
	if v == 0 {
		return fmt.Errorf("%w: no mailbot schema version", ErrBadBackup)
	}
	for _, name := range [][]byte{bMeta, bCases, bMsgs, bEvents, bOutbox} {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("%w: bucket %s missing", ErrBadBackup, name)
		}
	}
	return nil
}

// walkBucket reads every key and value of b and its nested buckets in
// order and seeks each key back from the root: every reachable leaf and
// branch page, and every key Tx.Check compares, is read once here.
func walkBucket(b *bbolt.Bucket) error {
	cur, seek := b.Cursor(), b.Cursor()
	var prev []byte
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("key %x: out of order", k)
		}
		if len(k) == 0 {
			return errors.New("empty key")
		}
		prev = k
		if sk, _ := seek.Seek(k); !bytes.Equal(sk, k) {
			return fmt.Errorf("key %x: not found by seek", k)
		}
		if v != nil {
			continue
		}
		nb := b.Bucket(k)
		if nb == nil {
			return fmt.Errorf("key %x: nil value but no bucket", k)
		}
		if err := walkBucket(nb); err != nil {
			return err
		}
	}
	return nil
}

// bbolt's file format (go.etcd.io/bbolt/internal/common): each page starts
// with a 16-byte header; pages 0 and 1 hold a meta, in native byte order:
// magic u32, version u32, page size u32, flags u32, root pgid u64, root
// sequence u64, freelist pgid u64, pgid (high water mark) u64, txid u64,
// checksum u64 (FNV-64a of the bytes before it).
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltPageHeader = 16
	boltMetaSize   = 64

	boltMetaFlag     = 0x04
	boltFreelistFlag = 0x10
)

// checkMeta verifies that both meta pages are valid (Backup always writes
// both), that the file is as long as they say and that the freelist page is
// one: Tx.Check asserts on these pages in a goroutine of its own.
func checkMeta(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	size := uint64(fi.Size())
	ne := binary.NativeEndian
	header := func(off uint64) (id uint64, flags uint16, ok bool) {
		buf := make([]byte, boltPageHeader)
		if _, err := f.ReadAt(buf, int64(off)); err != nil {
			return 0, 0, false
		}
		return ne.Uint64(buf), ne.Uint16(buf[8:]), true
	}
	pageSize := uint64(0)
	var root, txid, hwm uint64
	for i := range uint64(2) {
		buf := make([]byte, boltPageHeader+boltMetaSize)
		if _, err := f.ReadAt(buf, int64(i*pageSize)); err != nil {
			return fmt.Errorf("%w: meta page %d: %v (%d bytes)", ErrBadBackup, i, err, size)
		}
		m := buf[boltPageHeader:]
		h := fnv.New64a()
		h.Write(m[:56])
		if ne.Uint64(buf) != i || ne.Uint16(buf[8:]) != boltMetaFlag ||
			ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[56:]) != h.Sum64() {
			return fmt.Errorf("%w: meta page %d invalid", ErrBadBackup, i)
		}
		ps, freelist, hw := uint64(ne.Uint32(m[8:])), ne.Uint64(m[32:]), ne.Uint64(m[40:])
		if i == 0 {
			pageSize = ps
		}
		if tx := ne.Uint64(m[48:]); i == 0 || tx > txid { // bbolt uses the newer meta
			root, txid, hwm = ne.Uint64(m[16:]), tx, hw
		}
		if ps != pageSize || ps < 512 || ps > 1<<20 || hw < 2 || hw > size/ps {
			return fmt.Errorf("%w: truncated: %d bytes, meta page %d needs %d pages of %d", ErrBadBackup, size, i, hw, ps)
		}
		if freelist == 1<<64-1 { // not synced: rebuilt by scanning
			continue
		}
		if freelist < 2 || freelist >= hw {
			return fmt.Errorf("%w: freelist page %d out of range", ErrBadBackup, freelist)
		}
		if id, flags, ok := header(freelist * ps); !ok || id != freelist || flags != boltFreelistFlag {
			return fmt.Errorf("%w: freelist page %d invalid", ErrBadBackup, freelist)
		}
	}
	w := pageWalker{f: f, ps: pageSize, hw: hwm, seen: make(map[uint64]bool)}
	if err := w.page(root); err != nil {
		return fmt.Errorf("%w: %w", ErrBadBackup, err)
	}
	return nil
}

// pageWalker checks the tree of pages under a root before bbolt reads it:
// every page id in range and met once (no cycles, no sharing), headers that
// match, element keys and values inside their page. bbolt itself would loop
// on a cycle and fault on an element pointing outside the mapping.
type pageWalker struct {
	f    *os.File
	ps   uint64
	hw   uint64
	seen map[uint64]bool
}

const (
	boltBranchFlag     = 0x01
	boltLeafFlag       = 0x02
	boltBucketLeafFlag = 0x01 // on a leaf element: the value is a bucket
	boltElementSize    = 16
	boltBucketHeader   = 16 // root pgid, sequence
)

func (w *pageWalker) page(id uint64) error {
	if id < 2 || id >= w.hw || w.seen[id] {
		return fmt.Errorf("page %d: out of range or reached twice", id)
	}
	hdr := make([]byte, boltPageHeader)
	if _, err := w.f.ReadAt(hdr, int64(id*w.ps)); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	ne := binary.NativeEndian
	overflow := uint64(ne.Uint32(hdr[12:]))
	if ne.Uint64(hdr) != id || id+overflow >= w.hw {
		return fmt.Errorf("page %d: bad header", id)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return fmt.Errorf("page %d: overlaps another page", i)
		}
		w.seen[i] = true
	}
	buf := make([]byte, (overflow+1)*w.ps)
	if _, err := w.f.ReadAt(buf, int64(id*w.ps)); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	return w.elements(id, buf)
}

// elements checks the elements of a page (or of an inline bucket's page)
// held in buf and walks the pages they point to.
func (w *pageWalker) elements(id uint64, buf []byte) error {
	ne := binary.NativeEndian
	if len(buf) < boltPageHeader {
		return fmt.Errorf("page %d: short", id)
	}
	flags, count := ne.Uint16(buf[8:]), int(ne.Uint16(buf[10:]))
	if flags != boltBranchFlag && flags != boltLeafFlag {
		return fmt.Errorf("page %d: flags %#x, want branch or leaf", id, flags)
	}
	if boltPageHeader+count*boltElementSize > len(buf) {
		return fmt.Errorf("page %d: %d elements do not fit", id, count)
	}
	for i := range count {
		at := boltPageHeader + i*boltElementSize
		e := buf[at : at+boltElementSize]
		if flags == boltBranchFlag {
			pos, ksize := uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:]))
			if uint64(at)+pos+ksize > uint64(len(buf)) {
				return fmt.Errorf("page %d: element %d outside the page", id, i)
			}
			if err := w.page(ne.Uint64(e[8:])); err != nil {
				return err
			}
			continue
		}
		eflags, pos, ksize, vsize := ne.Uint32(e[0:]), uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		end := uint64(at) + pos + ksize + vsize
		if end > uint64(len(buf)) {
			return fmt.Errorf("page %d: element %d outside the page", id, i)
		}
		if eflags&boltBucketLeafFlag == 0 {
			continue
		}
		v := buf[end-vsize : end]
		if len(v) < boltBucketHeader {
			return fmt.Errorf("page %d: element %d: short bucket header", id, i)
		}
		if root := ne.Uint64(v); root != 0 {
			if err := w.page(root); err != nil {
				return err
			}
		} else if err := w.elements(id, v[boltBucketHeader:]); err != nil { // inline bucket
			return err
		}
	}
	return nil
}
