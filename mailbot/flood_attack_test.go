package mailbot_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mailbot/store"
)

// Issue 15, attack 5: one outsider floods the team. On d4429e3, 20 reports
// from one address opened 20 cases and sent 40 team notifications. This
// test uses only what d4429e3 has, so that it can be run there.

// floodCap is the default per-sender cap on new cases (flood.cases_per_sender).
const floodCap = 5

// storedMessages counts the incoming messages in the store, on a case or
// on none.
func storedMessages(t *testing.T, h *harness) int {
	t.Helper()
	n := 0
	err := h.store.View(func(tx *store.Tx) error {
		ids := []uint64{0}
		for _, c := range h.cases() {
			ids = append(ids, c.ID)
		}
		for _, id := range ids {
			msgs, err := tx.Messages(id)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				if m.Direction == "in" {
					n++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// teamMailTo sorts the mail queued to a member (without a key: readable
// subjects) into notifications of reports and flood notices.
func teamMailTo(t *testing.T, h *harness, member string) (notifications, notices int) {
	t.Helper()
	for _, o := range outboxTo(h, member) {
		subj := header(t, o.Raw, "Subject")
		switch {
		case strings.Contains(subj, "New report"), strings.Contains(subj, "Follow-up"):
			notifications++
		case strings.HasPrefix(subj, "Flood"):
			notices++
		}
	}
	return notifications, notices
}

// TestAttackOneSenderFlood: 20 reports from one address within the hour
// open at most the per-sender cap of cases and send at most that many team
// notifications plus ONE folded notice per member; every report is stored.
func TestAttackOneSenderFlood(t *testing.T) {
	h := newTeamHarness(t, "")
	const n = 20
	for i := range n {
		h.ingest(report(eve, fmt.Sprintf("Finding %d: IDOR on /invoices/%d", i, i)))
		h.clock.Advance(time.Minute)
	}
	if got := len(h.cases()); got > floodCap {
		t.Errorf("cases = %d, want at most the per-sender cap %d", got, floodCap)
	}
	if got := storedMessages(t, h); got != n {
		t.Errorf("stored messages = %d, want all %d: a cap must never lose a report", got, n)
	}
	// Bob has no key: his mail says plainly what it is.
	notifications, notices := teamMailTo(t, h, bob)
	if notifications > floodCap || notices != 1 {
		t.Errorf("mail to one member = %d notifications and %d flood notices, want at most %d and exactly 1", notifications, notices, floodCap)
	}
	team := len(outboxTo(h, ann)) + len(outboxTo(h, bob))
	if want := 2 * (floodCap + 1); team > want {
		t.Errorf("team mail = %d, want at most %d (two members, the cap and one notice each)", team, want)
	}
}
