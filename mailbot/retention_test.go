package mailbot_test

import (
	"testing"
	"time"

	"mailbot/store"
)

func TestRetentionPurgesRawMailOfClosedCasesOnly(t *testing.T) {
	h := newHarness(t, "retention_days = 30\n")
	h.ingest(report(ada, "closed long ago"))
	h.ingest(report(eve, "still open"))
	h.send() // the acks leave the queue: their bytes move to the raw directory
	cs := h.cases()
	closed, open := cs[0], cs[1]
	closed.Status = "fixed"
	if err := h.store.Update(func(tx *store.Tx) error { return tx.PutCase(closed) }); err != nil {
		t.Fatal(err)
	}
	hashOf := func(c *store.Case) string {
		var hsh string
		h.store.View(func(tx *store.Tx) error { ms, _ := tx.Messages(c.ID); hsh = ms[0].Hash; return nil })
		return hsh
	}
	hc, ho := hashOf(closed), hashOf(open)
	ackOf := func(c *store.Case) string {
		for _, o := range h.outbox() {
			if o.CaseID == c.ID && o.Kind == "ack" {
				return o.RawHash
			}
		}
		t.Fatalf("no ack on %s", c.Ref)
		return ""
	}
	ac, ao := ackOf(closed), ackOf(open)
	if ac == "" || ao == "" {
		t.Fatalf("ack raw hashes = %q, %q; want both acks sent", ac, ao)
	}

	// Not yet: the case was closed just now.
	if n, err := h.d.PurgeRaw(t.Context(), h.clock.Now()); err != nil || n != 0 {
		t.Fatalf("PurgeRaw(now) = %d, %v; want nothing before the retention time", n, err)
	}
	n, err := h.d.PurgeRaw(t.Context(), h.clock.Now().Add(31*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PurgeRaw(+31 days) = %d, %v; want the closed case's report and ack", n, err)
	}
	for _, hsh := range []string{hc, ac} {
		if _, err := h.store.OpenRaw(hsh); err == nil {
			t.Errorf("the closed case's raw mail %.12s is still there", hsh)
		}
	}
	for _, hsh := range []string{ho, ao} {
		if rc, err := h.store.OpenRaw(hsh); err != nil {
			t.Errorf("the open case's raw mail %.12s is gone: %v", hsh, err)
		} else {
			rc.Close()
		}
	}
	if !hasEvent(h.events_(closed), store.EventRawPurged, "") {
		t.Errorf("the purge is not on the case log")
	}
	h.store.View(func(tx *store.Tx) error {
		if _, ok := tx.SeenHash(hc); !ok {
			t.Errorf("after the purge the message would be processed again if offered (SeenHash false)")
		}
		return nil
	})
}

func TestPruneSendsDropsOldRateEntries(t *testing.T) {
	h := newHarness(t, "")
	h.ingest(report(ada, "one"))
	h.ingest(report(eve, "two"))
	if n, err := h.d.PruneSends(h.clock.Now()); err != nil || n != 0 {
		t.Fatalf("PruneSends(now) = %d, %v; want 0 (still inside the window)", n, err)
	}
	// Per sender: its acknowledgement, its new case for the flood caps
	// (sender and domain), the global acknowledgement slot.
	if n, err := h.d.PruneSends(h.clock.Now().Add(25 * time.Hour)); err != nil || n != 8 {
		t.Fatalf("PruneSends(+25h) = %d, %v; want 8 (four entries per acknowledged sender)", n, err)
	}
	h.store.View(func(tx *store.Tx) error {
		if n, _ := tx.RecentSends("ack:"+ada, h.clock.Now().Add(-time.Hour)); n != 0 {
			t.Errorf("RecentSends(ada) after the prune = %d, want 0", n)
		}
		return nil
	})
}
