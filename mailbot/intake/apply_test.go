package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/config"
	"mailbot/mailbot/flood"
	"mailbot/mailbot/inbox"
	"mailbot/mailbot/outmail"
	"mailbot/store"
	"mailbot/templates"
)

// testLine is a line on a real store in a temporary folder, without the
// daemon around it; faults is Options.Faults.
func testLine(t *testing.T, faults func(string) error) (*Line, *store.Store) {
	t.Helper()
	cfg := config.Defaults()
	cfg.Address, cfg.MsgIDDomain = "security@example.com", "example.com"
	cfg.Store = filepath.Join(t.TempDir(), "bot.db")
	st, err := store.Open(cfg.Store, store.Options{Timeout: time.Second, CasePrefix: cfg.CasePrefix})
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatalf("templates.Load() = %v", err)
	}
	now := func() time.Time { return time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC) }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	out := &outmail.Composer{Config: &cfg, Templates: tmpl, Now: now, Log: log}
	return New(Options{Config: &cfg, Store: st, Out: out, Now: now, Logger: log, Faults: faults,
		Disk: func() (flood.Disk, error) { return flood.Disk{Free: 1 << 40}, nil }}), st
}

// TestApplyOneTransaction: a single message is a batch of one, and its
// case, its acknowledgement (sealed at the end of the transaction) and the
// watermark past it commit together or not at all.
// sqlReport is a plain report from a researcher.
const sqlReport = "From: Alice <alice@research.example>\r\nTo: security@example.com\r\nSubject: SQL injection\r\n" +
	"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <r1@research.example>\r\n\r\nThe login form has an SQL injection.\r\n"

// spool writes raw to st's raw mail directory, as the intake does.
func spool(t *testing.T, st *store.Store, raw string) store.Blob {
	t.Helper()
	blob, err := st.SpoolRaw(strings.NewReader(raw), 1<<20)
	if err != nil {
		t.Fatalf("SpoolRaw() = %v", err)
	}
	return blob
}

func TestApplyOneTransaction(t *testing.T) {
	crash := true
	l, st := testLine(t, func(point string) error {
		if point == "before-commit" && crash {
			return errors.New("crash")
		}
		return nil
	})
	blob := spool(t, st, sqlReport)
	src := Source{Mailbox: "INBOX", UIDValidity: 1, UID: 5}
	stored := func() (cases, outbox int, raws []int, last uint32) {
		t.Helper()
		err := st.View(func(tx *store.Tx) error {
			if err := tx.Cases(func(*store.Case) bool { cases++; return true }); err != nil {
				return err
			}
			if err := tx.Outbox(func(o *store.OutboxItem) bool { outbox++; raws = append(raws, len(o.Raw)); return true }); err != nil {
				return err
			}
			ms, err := tx.MailboxState("INBOX")
			last = ms.LastUID
			return err
		})
		if err != nil {
			t.Fatalf("View() = %v", err)
		}
		return cases, outbox, raws, last
	}

	if _, err := l.Process(context.Background(), src, blob); !inbox.IsTemporary(err) {
		t.Fatalf("Process() with a crash before the commit = %v, want a temporary error", err)
	}
	if cases, outbox, _, last := stored(); cases != 0 || outbox != 0 || last != 0 {
		t.Fatalf("after a crash before the commit: %d cases, %d outbox items, watermark %d; want nothing", cases, outbox, last)
	}

	crash = false
	res, err := l.Process(context.Background(), src, blob)
	if err != nil || res.Action != ActionOpened || res.Acks != 1 {
		t.Fatalf("Process() = %+v, %v; want a case opened with one acknowledgement", res, err)
	}
	cases, outbox, raws, last := stored()
	if cases != 1 || outbox != 1 || raws[0] == 0 || last != 5 {
		t.Fatalf("after the commit: %d cases, %d outbox items (bytes %v), watermark %d; want 1, 1 sealed, 5", cases, outbox, raws, last)
	}

	src.UID = 6 // the same bytes again
	if res, err := l.Process(context.Background(), src, blob); err != nil || res.Action != ActionDuplicate {
		t.Fatalf("Process() of the same bytes = %+v, %v; want a duplicate", res, err)
	}
	if cases, outbox, _, last := stored(); cases != 1 || outbox != 1 || last != 6 {
		t.Fatalf("after a duplicate: %d cases, %d outbox items, watermark %d; want 1, 1, 6", cases, outbox, last)
	}
}

// TestQuarantineReasonAfterMaxTries: a message that fails Limits.MaxTries
// times is quarantined with the failure that kept it out in its reason.
func TestQuarantineReasonAfterMaxTries(t *testing.T) {
	l, st := testLine(t, func(point string) error {
		if point == "before-commit" {
			panic("tickled")
		}
		return nil
	})
	blob := spool(t, st, sqlReport)
	src := Source{Mailbox: "INBOX", UIDValidity: 1, UID: 5}
	var (
		res Result
		err error
	)
	for i := range l.cfg.Limits.MaxTries {
		if res, err = l.Process(context.Background(), src, blob); err != nil && i == l.cfg.Limits.MaxTries-1 {
			t.Fatalf("Process() #%d = %v, want quarantined", i, err)
		}
	}
	if res.Action != ActionQuarantined {
		t.Fatalf("Process() after %d tries = %+v, want quarantined", l.cfg.Limits.MaxTries, res)
	}
	var reasons []string
	st.View(func(tx *store.Tx) error {
		return tx.QuarantineList(func(q *store.Quarantined) bool { reasons = append(reasons, q.Reason); return true })
	})
	if len(reasons) != 1 || !strings.Contains(reasons[0], "tickled") {
		t.Errorf("quarantine reasons = %q, want one naming the panic", reasons)
	}
}

// TestFloodLogInOneBatch: every report one batch folds or holds over the
// flood caps is in the flood log the digest reads, in arrival order.
func TestFloodLogInOneBatch(t *testing.T) {
	l, st := testLine(t, nil)
	l.cfg.Flood.CasesPerSender = 1
	var rs []io.Reader
	for i := range 3 {
		rs = append(rs, strings.NewReader(fmt.Sprintf("From: Alice <alice@research.example>\r\nTo: security@example.com\r\nSubject: finding %d\r\n"+
			"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <f%d@research.example>\r\n\r\nFinding %d.\r\n", i, i, i)))
	}
	if n, err := l.IngestBatch(context.Background(), rs); n != 3 || err != nil {
		t.Fatalf("IngestBatch() = %d, %v; want 3 committed", n, err)
	}
	var log flood.Log
	st.View(func(tx *store.Tx) (err error) {
		v, _ := tx.Meta(flood.MetaLog)
		log, err = flood.ParseLog(v)
		return err
	})
	if len(log.Entries) != 2 || log.Entries[0].Message >= log.Entries[1].Message || log.Entries[0].Case == "" {
		t.Errorf("flood log = %+v, want the 2 reports over the cap, in order, folded on the first case", log.Entries)
	}
}

// TestBatchReadsItsOwnWrites: in one batch (one transaction) each message
// is read, decided and written before the next one is read, so a later
// message sees what an earlier one wrote: the case its reply names, the
// acknowledgement that counts against the sender's rate limit, and the
// reference the next new case gets.
func TestBatchReadsItsOwnWrites(t *testing.T) {
	l, st := testLine(t, nil)
	l.cfg.Ack.RateLimit = 1
	mail := func(from, subject, id, inReplyTo string) io.Reader {
		s := "From: " + from + "\r\nTo: security@example.com\r\nSubject: " + subject + "\r\n" +
			"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <" + id + ">\r\n"
		if inReplyTo != "" {
			s += "In-Reply-To: <" + inReplyTo + ">\r\n"
		}
		return strings.NewReader(s + "\r\nThe login form has an SQL injection.\r\n")
	}
	rs := []io.Reader{
		mail("alice@research.example", "SQL injection", "b1@research.example", ""),
		mail("alice@research.example", "Re: SQL injection", "b2@research.example", "b1@research.example"),
		mail("alice@research.example", "Another finding", "b3@research.example", ""),
		mail("mallory@evil.example", "Re: [SEC-2026-0001] SQL injection", "b4@evil.example", ""),
	}
	if n, err := l.IngestBatch(context.Background(), rs); n != 4 || err != nil {
		t.Fatalf("IngestBatch() = %d, %v; want 4 committed", n, err)
	}
	kinds := func(evs []store.Event) (out []string) {
		for _, e := range evs {
			out = append(out, e.Kind+": "+e.Detail)
		}
		return out
	}
	err := st.View(func(tx *store.Tx) error {
		var refs []string
		tx.Cases(func(c *store.Case) bool { refs = append(refs, c.Ref); return true })
		if !slices.Equal(refs, []string{"SEC-2026-0001", "SEC-2026-0002", "SEC-2026-0003"}) {
			t.Errorf("cases %q, want three: the report, the second report, the stranger's", refs)
		}
		first, err := tx.CaseByRef("SEC-2026-0001")
		if err != nil {
			return err
		}
		if msgs, _ := tx.Messages(first.ID); len(msgs) != 2 {
			t.Errorf("SEC-2026-0001 has %d messages, want the report and its reply", len(msgs))
		}
		evs, _ := tx.Events(first.ID)
		if !slices.ContainsFunc(kinds(evs), func(s string) bool {
			return strings.HasPrefix(s, "note: ") && strings.HasSuffix(s, "it went to SEC-2026-0003")
		}) {
			t.Errorf("SEC-2026-0001 events %q, want a note that the stranger's mail went to SEC-2026-0003", kinds(evs))
		}
		second, err := tx.CaseByRef("SEC-2026-0002")
		if err != nil {
			return err
		}
		evs, _ = tx.Events(second.ID)
		if !slices.ContainsFunc(kinds(evs), func(s string) bool { return strings.HasPrefix(s, "ack.suppressed: ") }) {
			t.Errorf("SEC-2026-0002 events %q, want the acknowledgement suppressed by the first one's mark", kinds(evs))
		}
		acks := 0
		tx.Outbox(func(o *store.OutboxItem) bool { acks++; return true })
		if acks != 2 {
			t.Errorf("outbox: %d mails, want 2 acknowledgements (Alice once, Mallory once)", acks)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View() = %v", err)
	}
}

// TestProcessingTimeIsWall: how long a batch took is measured on the wall
// clock, not the daemon's (a scaled clock in the soak would make a
// millisecond look like minutes in the log and mailbot_processing_seconds).
func TestProcessingTimeIsWall(t *testing.T) {
	l, st := testLine(t, nil)
	var logged strings.Builder
	l.log = slog.New(slog.NewJSONHandler(&logged, nil))
	sim := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	l.now = func() time.Time { sim = sim.Add(time.Hour); return sim } // an hour a call
	raw := "From: alice@research.example\r\nTo: security@example.com\r\nSubject: SQL injection\r\n" +
		"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <w1@research.example>\r\n\r\nThe login form has an SQL injection.\r\n"
	blob := spool(t, st, raw)
	if _, err := l.Process(context.Background(), Source{}, blob); err != nil {
		t.Fatalf("Process() = %v", err)
	}
	var line struct {
		Msg  string
		Took time.Duration
	}
	for _, s := range strings.Split(strings.TrimSpace(logged.String()), "\n") {
		if err := json.Unmarshal([]byte(s), &line); err == nil && line.Msg == "processed" {
			break
		}
	}
	if line.Msg != "processed" || line.Took >= time.Hour {
		t.Errorf("log %q: processed took %v, want the wall time (under the daemon's hour a call)", logged.String(), line.Took)
	}
}

// TestStoreSizeCacheIsWall: the store's measured size is trusted for a
// wall minute (a walk of the raw mail costs I/O, not policy time): on a
// scaled clock, where a simulated minute is a blink, it is not walked
// again for every batch.
func TestStoreSizeCacheIsWall(t *testing.T) {
	l, st := testLine(t, nil)
	sim := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	l.now = func() time.Time { sim = sim.Add(time.Hour); return sim } // an hour a call
	first, err := l.measureDisk()
	if err != nil {
		t.Fatalf("measureDisk() = %v", err)
	}
	if _, err := st.SpoolRaw(strings.NewReader(strings.Repeat("x", 100<<10)), 1<<20); err != nil {
		t.Fatalf("SpoolRaw() = %v", err)
	}
	again, err := l.measureDisk()
	if err != nil {
		t.Fatalf("measureDisk() = %v", err)
	}
	if again.Store != first.Store {
		t.Errorf("measureDisk() store size %d then %d within a wall minute, want the measure reused", first.Store, again.Store)
	}
}
