package mailbot_test

import (
	"fmt"
	"testing"
	"time"
)

// TestThousandReportsFromOneAddress: 1,000 reports from one address in a
// minute are all stored (nothing is lost), but open only the per-sender
// case cap's worth of cases (the rest are folded onto the newest) and send
// only the rate limit's worth of acknowledgements.
func TestThousandReportsFromOneAddress(t *testing.T) {
	h := newHarness(t, "")
	n := 1000
	if testing.Short() {
		n = 200
	}
	for i := 0; i < n; i++ {
		h.ingest(report(ada, fmt.Sprintf("report %d", i)))
		h.clock.Advance(time.Minute / time.Duration(n))
	}
	if got := len(h.cases()); got != h.cfg.Flood.CasesPerSender {
		t.Errorf("cases = %d, want the per-sender cap %d", got, h.cfg.Flood.CasesPerSender)
	}
	if got := storedMessages(t, h); got != n {
		t.Errorf("stored messages = %d, want %d: a cap must not drop reports", got, n)
	}
	if got := len(h.outbox()); got != h.cfg.Ack.RateLimit {
		t.Errorf("acknowledgements = %d, want the rate limit %d", got, h.cfg.Ack.RateLimit)
	}
}

// TestAutoResponderIgnoringRFC3834StopsWithinTheRateLimit: a responder
// that answers every mail without any robot markers, as a fresh message (no
// In-Reply-To, so it is not a follow-up), would loop forever with a naive
// bot. Here the loop dies out within the rate limit.
func TestAutoResponderIgnoringRFC3834StopsWithinTheRateLimit(t *testing.T) {
	h := newHarness(t, "")
	h.ingest(report(ada, "first"))
	for round := 0; round < 100; round++ {
		ob := h.outbox()
		if round >= len(ob) {
			break // the bot stopped answering: the loop is over
		}
		// The responder answers the bot's newest mail with a new message.
		h.ingest(report(ada, "I am away: "+header(t, ob[len(ob)-1].Raw, "Subject")))
		h.clock.Advance(time.Second)
	}
	if got := len(h.outbox()); got > h.cfg.Ack.RateLimit {
		t.Errorf("the loop produced %d mails from the bot, want at most the rate limit %d", got, h.cfg.Ack.RateLimit)
	}
}
