package mailbot_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/devmail"
	"mailbot/store"
)

// quiet watches a running bot whose mailbox has no other traffic: each
// commit that queued mail, and when it happened.
type quiet struct {
	h       *harness
	commits chan queuedAt
	sent    int    // mails the sink has accepted so far
	lastID  uint64 // newest outbox item seen so far
}

type queuedAt struct {
	at time.Time
	n  int
}

// delivery is one outgoing mail that reached the sink, delay after the
// commit that queued it.
type delivery struct {
	item  *store.OutboxItem
	delay time.Duration
}

// startQuiet runs the daemon and waits until every mail queued before it
// has left, so that from then on nothing else moves. The commit watcher is
// added before the daemon's own, so it sees each commit first.
func startQuiet(h *harness) *quiet {
	h.t.Helper()
	q := &quiet{h: h, commits: make(chan queuedAt, 64)}
	remove := h.store.OnCommit(func(c store.Commit) {
		if c.Enqueued > 0 {
			q.commits <- queuedAt{time.Now(), c.Enqueued}
		}
	})
	h.t.Cleanup(remove)
	for _, o := range h.outbox() {
		q.sent++
		q.lastID = max(q.lastID, o.ID)
	}
	h.run()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := h.srv.WaitSent(ctx, q.sent); err != nil {
		h.t.Fatalf("mail queued before the start: WaitSent() = %v", err)
	}
	return q
}

// next waits for the next commit that queues mail and for all its mail at
// the SMTP sink, at most one second after the commit.
func (q *quiet) next() []delivery {
	q.h.t.Helper()
	var c queuedAt
	select {
	case c = <-q.commits:
	case <-time.After(20 * time.Second):
		q.h.t.Fatalf("no commit queued mail")
	}
	ctx, cancel := context.WithDeadline(context.Background(), c.at.Add(time.Second))
	defer cancel()
	mails, err := q.h.srv.WaitSent(ctx, q.sent+c.n)
	if err != nil {
		q.h.t.Fatalf("%d mails queued by a commit are not at the SMTP sink 1s later: %v", c.n, err)
	}
	byID := map[string]devmail.Mail{}
	for _, m := range mails {
		byID[strings.Trim(header(q.h.t, m.Data, "Message-ID"), "<>")] = m
	}
	q.sent += c.n
	// The commit's items are the next c.n in the outbox (a later commit
	// may have added more already).
	var out []delivery
	for _, o := range q.h.outbox() {
		if o.ID <= q.lastID || len(out) == c.n {
			continue
		}
		m, ok := byID[o.MessageID]
		if !ok {
			q.h.t.Fatalf("outbox item %d (%s <%s>) is not among the mails sent", o.ID, o.Kind, o.MessageID)
		}
		out = append(out, delivery{o, m.At.Sub(c.at)})
	}
	if len(out) > 0 {
		q.lastID = out[len(out)-1].item.ID
	}
	return out
}

// TestEveryOutgoingMailLeavesAtOnce: in a quiet mailbox, each kind of
// outgoing mail reaches the SMTP sink within a second of the commit that
// queued it, whoever queued it (intake, team commands, scheduler). Without
// the wake on commit (Daemon.committed) each of them waits for traffic that
// never comes; without its poke of the scheduler, a moved disclosure date
// is told a minute later.
func TestEveryOutgoingMailLeavesAtOnce(t *testing.T) {
	const severe = "severity CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n"
	opened := func(h *harness) { h.ingest(report(ada, "XSS")) }
	fromBob := func(body string, trusted bool) func(h *harness, q *quiet) []delivery {
		return func(h *harness, q *quiet) []delivery {
			h.deliver(teamReply(h, bob, outboxTo(h, bob)[0].MessageID, "Re: [SEC-2026-0001] XSS", body, trusted))
			return q.next()
		}
	}
	to := func(addr string) func(o *store.OutboxItem) bool {
		return func(o *store.OutboxItem) bool { return o.Kind == "team" && slices.Equal(o.To, []string{addr}) }
	}
	kind := func(kinds ...string) func(o *store.OutboxItem) bool {
		return func(o *store.OutboxItem) bool { return slices.Contains(kinds, o.Kind) }
	}
	tests := []struct {
		name    string
		setup   func(h *harness) // before the daemon runs
		trigger func(h *harness, q *quiet) []delivery
		want    func(o *store.OutboxItem) bool
	}{
		{"acknowledgement", nil, reportArrives, kind("ack")},
		{"notification of a new report", nil, reportArrives, to(bob)},
		{"notification of a follow-up", opened, func(h *harness, q *quiet) []delivery {
			h.deliver(msg("One more detail: it also works on /admin.", "From", ada, "To", botAddr,
				"Subject", "Re: [SEC-2026-0001] XSS", "Message-ID", fmt.Sprintf("<more%d@research.example>", time.Now().UnixNano())))
			return q.next()
		}, to(bob)},
		{"relay", opened, fromBob("Thanks, we reproduced it.\n", true), kind("relay")},
		{"command confirmation", opened, fromBob("status triaged\n", true), to(bob)},
		{"refused-mail warning", opened, fromBob("status fixed\n", false), to(ann)},
		{"status notice", opened, fromBob("status fixed\n", true), kind("status")},
		{"claim notice", opened, fromBob("claim\n", true), to(ann)},
		{"alert", opened, fromBob(severe, true), to(ann)},
		{"reminder", opened, schedulerQueues("remind", "escalate"), kind("remind", "escalate")},
		{"digest", opened, schedulerQueues("digest"), kind("digest")},
		// The command's commit moves the date; the scheduler, poked by
		// that commit, queues the notice in its own.
		{"disclosure-moved notice", opened, func(h *harness, q *quiet) []delivery {
			workingHours(h, q)
			ds := fromBob("disclose 2099-07-02\n", true)(h, q)
			return append(ds, q.next()...)
		}, kind("disclosure-moved")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A policy with a disclosure date (and the real clock: the
			// OpenPGP keys are made now).
			h := newTeamHarness(t, schedPolicy(t, "000_caspar_health.toml"))
			if tc.setup != nil {
				tc.setup(h)
			}
			// The scheduler's catch-up at start is sent before the quiet.
			if _, err := h.d.RemindNow(h.clock.Now()); err != nil {
				t.Fatalf("RemindNow() = %v", err)
			}
			q := startQuiet(h)
			var found []time.Duration
			for _, dl := range tc.trigger(h, q) {
				if tc.want(dl.item) {
					found = append(found, dl.delay)
				}
			}
			if len(found) == 0 {
				t.Fatalf("the trigger queued no %s", tc.name)
			}
			t.Logf("%s: delivered %v after the commit", tc.name, slices.Max(found))
		})
	}
}

// reportArrives delivers a new report to the quiet mailbox.
func reportArrives(h *harness, q *quiet) []delivery {
	h.deliver(report(ada, "SQL injection"))
	return q.next()
}

// schedulerQueues moves the clock on in 15-minute ticks, running the
// scheduler at each as the daemon's loop does, until it queues a mail of
// one of kinds (at most a week). Every mail queued on the way must leave
// as promptly.
func schedulerQueues(kinds ...string) func(h *harness, q *quiet) []delivery {
	return func(h *harness, q *quiet) []delivery {
		var all []delivery
		for range 7 * 24 * 4 {
			h.clock.Advance(15 * time.Minute)
			n, err := h.d.RemindNow(h.clock.Now())
			if err != nil {
				h.t.Fatalf("RemindNow() = %v", err)
			}
			if n == 0 {
				continue
			}
			ds := q.next()
			all = append(all, ds...)
			if slices.ContainsFunc(ds, func(d delivery) bool { return slices.Contains(kinds, d.item.Kind) }) {
				return all
			}
		}
		return all
	}
}

// workingHours moves the clock to the policy's next working moment (the
// scheduler plans nothing outside them) and runs the scheduler there, so
// what falls due on the way is sent before the trigger.
func workingHours(h *harness, q *quiet) {
	h.t.Helper()
	schedSetClock(h.clock, h.pol.Calendar.NextWorkingMoment(h.clock.Now()).Add(time.Minute))
	n, err := h.d.RemindNow(h.clock.Now())
	if err != nil {
		h.t.Fatalf("RemindNow() = %v", err)
	}
	if n > 0 {
		q.next()
	}
}
