package mailbot_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailbot/store"
)

// A backlog is committed a FETCH batch at a time: a crash before the commit
// of a batch leaves none of its messages processed (not a prefix of them),
// and the restart processes each exactly once.
func TestBatchCrashLeavesNoneOfIt(t *testing.T) {
	var calls atomic.Int32
	crashOnTwentieth := func(p string) error {
		if p == "before-commit" && calls.Add(1) == 20 {
			return errCrash
		}
		return nil
	}
	// 30 reporters of one domain: over the default per-domain case cap.
	h := newHarness(t, "[flood]\ncases_per_domain = 100\n", withFaults(crashOnTwentieth))
	const n = 30
	for i := range n {
		h.deliver(report(fmt.Sprintf("r%d@research.example", i), fmt.Sprintf("backlog %d", i)))
	}
	dup := report(ada, "the same bytes twice")
	h.deliver(dup)
	h.deliver(dup)
	h.run()
	h.waitEvent("error")
	h.stop()
	h.stop = nil
	if got := len(h.cases()); got != 0 {
		t.Fatalf("cases after a crash before the first batch's commit = %d, want 0 (all or nothing)", got)
	}

	h.restart()
	h.run()
	h.waitProcessed(n + 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := h.srv.WaitSent(ctx, n+1); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.stop = nil
	if got := len(h.cases()); got != n+1 {
		t.Errorf("cases = %d, want %d (one per report, the duplicate once)", got, n+1)
	}
	if got := len(h.outbox()); got != n+1 {
		t.Errorf("acknowledgements = %d, want %d", got, n+1)
	}
	if got := len(h.srv.Sent()); got != n+1 {
		t.Errorf("sent = %d, want %d", got, n+1)
	}
	h.store.View(func(tx *store.Tx) error {
		st, _ := tx.MailboxState("INBOX")
		if st.LastUID != n+2 {
			t.Errorf("watermark = %d, want %d", st.LastUID, n+2)
		}
		return nil
	})
}

// A message that fails inside a batch does not hold back the ones before
// it, and it is retried alone.
func TestBatchFailureInTheMiddle(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, "", withFaults(func(p string) error {
		if p == "after-case" && calls.Add(1) == 5 {
			panic("boom")
		}
		return nil
	}))
	const n = 10
	for i := range n {
		h.deliver(report(fmt.Sprintf("r%d@research.example", i), fmt.Sprintf("report %d", i)))
	}
	h.run()
	h.waitProcessed(n)
	h.stop()
	h.stop = nil
	if got := len(h.cases()); got != n {
		t.Errorf("cases = %d, want %d", got, n)
	}
	if got := len(h.outbox()); got != n {
		t.Errorf("acknowledgements = %d, want %d", got, n)
	}
}

// A reporter's key offered in one message makes the signature of the next
// one valid even when both arrive in the same batch.
func TestBatchKeyThenSignature(t *testing.T) {
	f := keysFixture(t)
	h := newHarness(t, "", withKeys(f.bot))
	h.deliver(encryptedReport(t, f, f.bot, "First issue"))
	h.deliver(encryptedReport(t, f, f.bot, "Second issue"))
	h.run()
	h.waitProcessed(2)
	h.stop()
	h.stop = nil
	cs := h.cases()
	if len(cs) != 2 {
		t.Fatalf("cases = %d, want 2", len(cs))
	}
	var valid []bool
	h.store.View(func(tx *store.Tx) error {
		for _, c := range cs {
			ms, _ := tx.Messages(c.ID)
			valid = append(valid, ms[0].SignatureValid)
		}
		return nil
	})
	if fmt.Sprint(valid) != "[false true]" {
		t.Errorf("signature valid = %v, want [false true] (unknown signer first, then the key it offered)", valid)
	}
}

// The acknowledgements and team notices of a batch are sealed together at
// the end of its transaction: each gets its own signed (and, for Ann,
// encrypted) bytes, under the Message-ID the case events name.
func TestBatchSealsEveryMail(t *testing.T) {
	h := newTeamHarness(t, "")
	const n = 4
	for i := range n {
		h.deliver(report(fmt.Sprintf("r%d@research.example", i), fmt.Sprintf("sealed %d", i)))
	}
	h.run()
	h.waitProcessed(n)
	h.stop()
	h.stop = nil
	kinds := map[string]int{}
	for _, o := range h.outbox() {
		kinds[o.Kind]++
		if got := header(t, o.Raw, "Message-Id"); got != "<"+o.MessageID+">" {
			t.Errorf("outbox %d (%s): Message-Id %q, want <%s>", o.ID, o.Kind, got, o.MessageID)
		}
		ct := header(t, o.Raw, "Content-Type")
		switch {
		case o.To[0] == ann && !strings.HasPrefix(ct, "multipart/encrypted"):
			t.Errorf("outbox %d to Ann: Content-Type %q, want multipart/encrypted", o.ID, ct)
		case o.To[0] != ann && !strings.HasPrefix(ct, "multipart/signed"):
			t.Errorf("outbox %d to %s: Content-Type %q, want multipart/signed", o.ID, o.To[0], ct)
		}
	}
	if kinds["ack"] != n || kinds["team"] != 2*n {
		t.Errorf("outbox kinds = %v, want %d acks and %d team notices", kinds, n, 2*n)
	}
	for _, c := range h.cases() {
		var ackID string
		for _, e := range h.events_(c) {
			if e.Kind == "ack.queued" {
				ackID = e.Detail
			}
		}
		found := false
		for _, o := range h.outbox() {
			if o.Kind == "ack" && o.CaseID == c.ID && strings.HasPrefix(ackID, "<"+o.MessageID+">") {
				found = true
			}
		}
		if !found {
			t.Errorf("case %s: ack.queued %q names no acknowledgement in the outbox", c.Ref, ackID)
		}
	}
}
