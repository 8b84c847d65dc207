package mailbot_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailbot/mailbot"
	"mailbot/mailbot/flood"
	"mailbot/mailbot/health"
	"mailbot/mailbot/metrics"
	"mailbot/store"
)

// TestFloodPerDomainCap: 25 reports from 25 addresses of one domain open
// the per-domain cap of cases; the rest are held on no case (their senders
// have no case to fold onto), stored and unanswered; the team gets one
// notice, another domain is not affected, and the next digest lists the
// held reports.
func TestFloodPerDomainCap(t *testing.T) {
	h := newTeamHarness(t, "")
	domainCap := h.cfg.Flood.CasesPerDomain
	const n = 25
	var held []mailbot.Result
	for i := range n {
		res := h.ingest(report(fmt.Sprintf("bot%d@flood.example", i), fmt.Sprintf("Finding %d", i)))
		if res.Action == mailbot.ActionHeld {
			held = append(held, res)
		}
		h.clock.Advance(time.Second)
	}
	if got := len(h.cases()); got != domainCap {
		t.Errorf("cases = %d, want the per-domain cap %d", got, domainCap)
	}
	if len(held) != n-domainCap {
		t.Fatalf("held = %d, want %d", len(held), n-domainCap)
	}
	if r := held[0]; r.Case != "" || r.Acks != 0 || r.Message == 0 || !strings.Contains(r.Reason, "domain flood.example") {
		t.Errorf("held report = %+v, want stored on no case, no acknowledgement, the domain cap as reason", r)
	}
	if got := storedMessages(t, h); got != n {
		t.Errorf("stored messages = %d, want %d", got, n)
	}
	if _, notices := teamMailTo(t, h, bob); notices != 1 {
		t.Errorf("flood notices = %d, want 1", notices)
	}
	if res := h.ingest(report(ada, "Unrelated finding")); res.Action != mailbot.ActionOpened {
		t.Errorf("a report from another domain = %+v, want opened", res)
	}

	// The digest (09:00 on working days; after a day without a scheduler
	// run it comes within the catch-up summary) lists them.
	for range 24 * 4 {
		h.clock.Advance(time.Hour)
		if acts, _ := h.d.Plan(h.clock.Now()); len(acts) > 0 {
			break
		}
	}
	if _, err := h.d.RemindNow(h.clock.Now()); err != nil {
		t.Fatalf("RemindNow() = %v", err)
	}
	var digest string
	for _, o := range outboxTo(h, bob) {
		if o.Kind == "digest" || o.Kind == "summary" {
			digest += decodedBody(t, o.Raw)
		}
	}
	if !strings.Contains(digest, "bot20@flood.example: 1 over the flood caps") || !strings.Contains(digest, "1 held on no case") {
		t.Errorf("digest =\n%s\nwant a line per held sender", digest)
	}
}

// TestFloodFoldsOntoNewestOpenCase: over the per-sender cap a report goes
// onto the sender's newest open case with an event, unacknowledged, and
// the digest says so.
func TestFloodFoldsOntoNewestOpenCase(t *testing.T) {
	h := newTeamHarness(t, "[flood]\ncases_per_sender = 2\n")
	h.ingest(report(eve, "one"))
	second := h.ingest(report(eve, "two"))
	third := h.ingest(report(eve, "three"))
	if third.Action != mailbot.ActionFolded || third.Case != second.Case || third.Acks != 0 {
		t.Fatalf("third report = %+v, want folded onto %s without acknowledgement", third, second.Case)
	}
	c := h.caseByRef(second.Case)
	if !hasEvent(h.events_(c), "flood.folded", "cap 2 per sender") {
		t.Errorf("events of %s = %+v, want flood.folded", c.Ref, h.events_(c))
	}
	// A new window: the sender may open cases again.
	h.clock.Advance(h.cfg.Flood.Window.Duration + time.Second)
	if res := h.ingest(report(eve, "four")); res.Action != mailbot.ActionOpened {
		t.Errorf("a report after the window = %+v, want opened", res)
	}
}

// TestFloodCapsTeamNotificationsOfFollowUps: a reporter who writes again
// and again on their own case notifies the team at most the per-sender
// notification cap, then once more with the flood notice; the case's log
// shows every left-out notification.
func TestFloodCapsTeamNotificationsOfFollowUps(t *testing.T) {
	h := newTeamHarness(t, "[flood]\nnotify_per_sender = 3\n")
	first := h.ingest(report(eve, "the report"))
	c := h.caseByRef(first.Case)
	var firstID string
	h.store.View(func(tx *store.Tx) error {
		msgs, _ := tx.Messages(c.ID)
		firstID = msgs[0].MessageID
		return nil
	})
	for i := range 6 {
		res := h.ingest(report(eve, "Re: the report", "In-Reply-To", "<"+firstID+">"))
		if res.Action != mailbot.ActionFollowUp {
			t.Fatalf("follow-up %d = %+v, want follow-up", i, res)
		}
	}
	notifications, notices := teamMailTo(t, h, bob)
	if notifications != 3 || notices != 1 {
		t.Errorf("mail to one member = %d notifications and %d notices, want 3 (the cap) and 1", notifications, notices)
	}
	n := 0
	for _, e := range h.events_(c) {
		if e.Kind == "team.notify.folded" {
			n++
		}
	}
	if n != 4 {
		t.Errorf("team.notify.folded events = %d, want 4 (the 7 mails less the cap of 3)", n)
	}
}

// TestGlobalAckRateDelaysAcknowledgements: over ack.global_per_hour the
// acknowledgements wait in the outbox (never dropped) and go out as the
// rate allows; the case says when.
func TestGlobalAckRateDelaysAcknowledgements(t *testing.T) {
	h := newHarness(t, "[ack]\nglobal_per_hour = 2\n")
	start := h.clock.Now()
	for i := range 5 {
		h.ingest(report(fmt.Sprintf("r%d@site%d.example", i, i), "finding"))
	}
	acks := h.outbox()
	if len(acks) != 5 {
		t.Fatalf("acknowledgements queued = %d, want 5: none is dropped", len(acks))
	}
	var due []time.Duration
	for _, o := range acks {
		due = append(due, o.NextAttempt.Sub(start))
	}
	if want := []time.Duration{0, 0, time.Hour, time.Hour, 2 * time.Hour}; !slices.Equal(due, want) {
		t.Errorf("acknowledgements due after %v, want %v", due, want)
	}
	waiting := 0
	for _, c := range h.cases() {
		if hasEvent(h.events_(c), "ack.queued", "over the global rate of 2") {
			waiting++
		}
	}
	if waiting != 3 {
		t.Errorf("cases saying their acknowledgement waits = %d, want 3", waiting)
	}
	for _, step := range []struct {
		after time.Duration
		sent  int
	}{{0, 2}, {time.Hour, 4}, {2 * time.Hour, 5}} {
		h.clock.Advance(start.Add(step.after).Sub(h.clock.Now()))
		h.send()
		if got := len(h.srv.Sent()); got != step.sent {
			t.Errorf("sent after %v = %d, want %d", step.after, got, step.sent)
		}
	}
}

// diskGauge is an injected disk measure: free bytes set by the test.
type diskGauge struct{ free atomic.Int64 }

func (g *diskGauge) measure() (flood.Disk, error) { return flood.Disk{Free: g.free.Load()}, nil }

func withDisk(g *diskGauge, m *metrics.Metrics) option {
	return func(_ *harness, o *mailbot.Options) {
		o.Disk = g.measure
		o.Metrics = m
	}
}

// waitKinds waits for the given numbers of intake events of each kind.
func (h *harness) waitKinds(want map[string]int) {
	h.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		done := true
		for _, n := range want {
			done = done && n <= 0
		}
		if done {
			return
		}
		select {
		case e := <-h.events:
			want[e.Kind]--
		case <-timeout:
			h.t.Fatalf("timed out waiting for intake events %v", want)
		}
	}
}

// drainEvents drops the intake events seen so far.
func (h *harness) drainEvents() {
	for {
		select {
		case <-h.events:
		default:
			return
		}
	}
}

// firstSQLi is ada's report that the disk tests' follow-ups answer.
func firstSQLi() []byte {
	return msg("First finding.\n", "From", ada, "To", botAddr, "Subject", "SQLi",
		"Date", "Tue, 03 Mar 2026 10:00:00 +0000", "Message-ID", "<first@research.example>")
}

// sqliFollowUp is ada's follow-up i to firstSQLi.
func sqliFollowUp(i int) []byte {
	return msg(fmt.Sprintf("More details %d.\n", i), "From", ada, "To", botAddr, "Subject", "Re: SQLi",
		"Date", "Tue, 03 Mar 2026 10:05:00 +0000", "Message-ID", fmt.Sprintf("<more%d@research.example>", i),
		"In-Reply-To", "<first@research.example>")
}

// TestFullDiskRedWithoutMail (issue 19): with limits.min_free_bytes = 0
// (no limit) a disk with no space left is still red on the health checks'
// tick, before any mail fails on it, and green once space is back.
func TestFullDiskRedWithoutMail(t *testing.T) {
	g := &diskGauge{}
	m := metrics.New(metrics.Options{})
	h := newHarness(t, "[limits]\nmin_free_bytes = 0\n", withDisk(g, m))
	h.d.CheckHealth(t.Context())
	if reason, _, ok := m.Problem(health.CheckStore); !ok || !strings.Contains(reason, "disk full") {
		t.Errorf("Problem(store) with no space = %q, %v, want the disk full", reason, ok)
	}
	g.free.Store(100 << 30)
	h.d.CheckHealth(t.Context())
	if reason, _, ok := m.Problem(health.CheckStore); ok {
		t.Errorf("Problem(store) with space = %q, want none", reason)
	}
}

// TestDiskLowKeepsNewMailOnServer: with less free space than
// limits.min_free_bytes a new report stays on the IMAP server, unflagged
// and uncommitted, while a follow-up behind it reaches its open case; health
// is red. When space is back the held report is fetched again and opens
// its case, and health is green.
func TestDiskLowKeepsNewMailOnServer(t *testing.T) {
	g := &diskGauge{}
	g.free.Store(100 << 30)
	m := metrics.New(metrics.Options{})
	h := newHarness(t, "", withDisk(g, m))
	h.run()
	h.deliver(firstSQLi())
	h.waitProcessed(1)

	g.free.Store(h.cfg.Limits.MinFreeBytes - 1)
	newUID := h.deliver(report(eve, "A new finding while the disk is low"))
	followUID := h.deliver(sqliFollowUp(1))
	h.waitKinds(map[string]int{"deferred": 1, "processed": 1})

	cs := h.cases()
	if len(cs) != 1 {
		t.Fatalf("cases while the disk is low = %d, want 1", len(cs))
	}
	if got := storedMessages(t, h); got != 2 {
		t.Errorf("stored messages = %d, want 2 (the report and its follow-up)", got)
	}
	if reason, _, ok := m.Problem("disk"); !ok || !strings.Contains(reason, "min_free_bytes") {
		t.Errorf("health problem disk = %q, %v, want the free-space reason", reason, ok)
	}
	h.store.View(func(tx *store.Tx) error {
		st, _ := tx.MailboxState("INBOX")
		if st.LastUID != followUID || !slices.Equal(st.Held, []uint32{newUID}) {
			t.Errorf("mailbox state = %+v, want the watermark at %d past the held uid %d", st, followUID, newUID)
		}
		return nil
	})
	// A full round (resync) re-applies the after-commit action to the
	// UIDs below the watermark: never to the held one.
	h.drainEvents()
	h.d.Poke()
	h.waitKinds(map[string]int{"poll": 2})
	onServer, err := h.srv.Mailbox(botAddr, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range onServer {
		if seen := slices.Contains(s.Flags, `\Seen`); seen != (s.UID != newUID) {
			t.Errorf("uid %d flags %v: want only the held uid %d unseen", s.UID, s.Flags, newUID)
		}
	}

	g.free.Store(100 << 30)
	h.d.Poke()
	h.waitProcessed(1)
	if got := len(h.cases()); got != 2 {
		t.Errorf("cases after the disk recovered = %d, want 2", got)
	}
	if _, _, ok := m.Problem("disk"); ok {
		t.Errorf("health problem disk still set after recovery")
	}
	if err := h.store.View(func(tx *store.Tx) error {
		st, err := tx.MailboxState("INBOX")
		if len(st.Held) != 0 {
			t.Errorf("held uids after recovery = %v, want none", st.Held)
		}
		return err
	}); err != nil {
		t.Fatalf("MailboxState() = %v", err)
	}
}

// TestDiskLowIngestIsTemporary: `mailbot ingest` of a new report on a low
// disk is a temporary failure (the MTA keeps the mail and retries), nothing
// is stored, and a follow-up to an open case is still taken.
func TestDiskLowIngestIsTemporary(t *testing.T) {
	g := &diskGauge{}
	g.free.Store(100 << 30)
	h := newHarness(t, "[limits]\nmax_store_bytes = 0\n", withDisk(g, nil))
	h.ingest(firstSQLi())
	g.free.Store(1)
	raw := report(eve, "new while low")
	_, err := h.d.Ingest(context.Background(), bytes.NewReader(raw))
	if !mailbot.IsTemporary(err) {
		t.Fatalf("Ingest() on a low disk = %v, want a temporary error", err)
	}
	if got := storedMessages(t, h); got != 1 {
		t.Errorf("stored messages = %d, want 1", got)
	}
	res := h.ingest(sqliFollowUp(1))
	if res.Action != mailbot.ActionFollowUp {
		t.Errorf("follow-up on a low disk = %+v, want follow-up", res)
	}
	g.free.Store(100 << 30)
	if res := h.ingest(raw); res.Action != mailbot.ActionOpened {
		t.Errorf("the same report once the disk is fine = %+v, want opened", res)
	}
}

// TestDiskLowHoldIsNoFailure: a report held again and again for a low disk
// is never counted as a failing message (max_tries would quarantine it,
// without its bytes, which were left on the server).
func TestDiskLowHoldIsNoFailure(t *testing.T) {
	g := &diskGauge{}
	g.free.Store(1)
	h := newHarness(t, "", withDisk(g, nil))
	raw := report(eve, "held again and again")
	var blob store.Blob
	src := mailbot.Source{Mailbox: "INBOX", UIDValidity: 7, UID: 3}
	for i := range h.cfg.Limits.MaxTries + 2 {
		// Fetched again each time: a held message's spooled copy is removed.
		var err error
		if blob, err = h.store.SpoolRaw(bytes.NewReader(raw), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := h.d.Process(context.Background(), src, blob); !mailbot.IsDeferred(err) {
			t.Fatalf("Process() #%d on a low disk = %v, want deferred", i, err)
		}
	}
	h.store.View(func(tx *store.Tx) error {
		if n := tx.Failures("imap:INBOX:7:3"); n != 0 {
			t.Errorf("failures recorded = %d, want 0", n)
		}
		if _, seen := tx.SeenHash(blob.Hash); seen {
			t.Errorf("the held report counts as seen (quarantined?)")
		}
		return nil
	})
}

// TestDiskLowInOneBatch: held reports and follow-ups interleaved in one
// FETCH batch: each follow-up is committed, each new report left on the
// server, and all of it comes right once the disk is fine.
func TestDiskLowInOneBatch(t *testing.T) {
	g := &diskGauge{}
	g.free.Store(100 << 30)
	h := newHarness(t, "", withDisk(g, nil))
	h.run()
	h.deliver(firstSQLi())
	h.waitProcessed(1)
	h.stop()
	h.stop = nil

	g.free.Store(1)
	held1 := h.deliver(report(eve, "new one"))
	h.deliver(sqliFollowUp(1))
	held2 := h.deliver(report("mallory@else.example", "new two"))
	last := h.deliver(sqliFollowUp(2))
	h.restart(withDisk(g, nil))
	h.run()
	h.waitKinds(map[string]int{"deferred": 2, "processed": 2})
	if got := len(h.cases()); got != 1 {
		t.Errorf("cases while the disk is low = %d, want 1", got)
	}
	if got := storedMessages(t, h); got != 3 {
		t.Errorf("stored messages = %d, want 3 (the report and both follow-ups)", got)
	}
	h.store.View(func(tx *store.Tx) error {
		st, _ := tx.MailboxState("INBOX")
		if st.LastUID != last || !slices.Equal(st.Held, []uint32{held1, held2}) {
			t.Errorf("mailbox state = %+v, want watermark %d and held %v", st, last, []uint32{held1, held2})
		}
		return nil
	})

	g.free.Store(100 << 30)
	h.d.Poke()
	h.waitProcessed(2)
	if got := len(h.cases()); got != 3 {
		t.Errorf("cases after the disk recovered = %d, want 3", got)
	}
}

// TestDiskLowHeldIsBounded: beyond the bound on held UIDs a new report on a
// low disk stops the round (temporary) instead of growing the mailbox state.
func TestDiskLowHeldIsBounded(t *testing.T) {
	defer mailbot.SetMaxHeld(1)()
	g := &diskGauge{}
	g.free.Store(1)
	h := newHarness(t, "", withDisk(g, nil))
	stopped := func(err error) bool { return mailbot.IsTemporary(err) && !mailbot.IsDeferred(err) }
	for _, tc := range []struct {
		uid  uint32
		want func(error) bool
	}{{3, mailbot.IsDeferred}, {4, stopped}} {
		uid, want := tc.uid, tc.want
		blob, err := h.store.SpoolRaw(bytes.NewReader(report(eve, fmt.Sprint("report ", uid))), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.d.Process(context.Background(), mailbot.Source{Mailbox: "INBOX", UIDValidity: 7, UID: uid}, blob); !want(err) {
			t.Errorf("Process(uid %d) = %v", uid, err)
		}
	}
}
