package flood_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/flood"
	"mailbot/store"
)

var t0 = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

// withTx runs fn in one transaction of a real store in a temp dir.
func withTx(t *testing.T, fn func(tx *store.Tx)) {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "bot.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	defer s.Close()
	if err := s.Update(func(tx *store.Tx) error { fn(tx); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestCapsOverSenderThenDomain(t *testing.T) {
	c := flood.Caps{Window: time.Hour, PerSender: 2, PerDomain: 3}
	withTx(t, func(tx *store.Tx) {
		over := func(addr string, at time.Time) string {
			t.Helper()
			reason, burst, err := c.Over(tx, flood.Cases, addr, at)
			if err != nil {
				t.Fatalf("Over() = %v", err)
			}
			if reason == "" {
				if err := c.Count(tx, flood.Cases, addr, at); err != nil {
					t.Fatal(err)
				}
			}
			return burst
		}
		for i, tc := range []struct {
			addr  string
			at    time.Duration
			burst string
		}{
			{"a@x.example", 0, ""},
			{"A@X.example", time.Minute, ""}, // the same sender, any case
			{"a@x.example", 2 * time.Minute, "a@x.example"},
			{"b@x.example", 3 * time.Minute, ""},
			{"c@x.example", 4 * time.Minute, "@x.example"},
			{"d@y.example", 5 * time.Minute, ""},
			{"a@x.example", 61 * time.Minute, ""}, // the first one left the window
		} {
			if got := over(tc.addr, t0.Add(tc.at)); got != tc.burst {
				t.Errorf("%d: Over(%s) burst = %q, want %q", i, tc.addr, got, tc.burst)
			}
		}
	})
}

func TestFirstOfBurstOncePerWindow(t *testing.T) {
	c := flood.Caps{Window: time.Hour, PerSender: 1, PerDomain: 1}
	withTx(t, func(tx *store.Tx) {
		var got []bool
		for _, at := range []time.Duration{0, time.Minute, 59 * time.Minute, 61 * time.Minute} {
			first, err := c.FirstOfBurst(tx, flood.Cases, "eve@x.example", t0.Add(at))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, first)
		}
		if want := []bool{true, false, false, true}; !slices.Equal(got, want) {
			t.Errorf("FirstOfBurst() = %v, want %v", got, want)
		}
		if first, _ := c.FirstOfBurst(tx, flood.Notify, "eve@x.example", t0.Add(62*time.Minute)); !first {
			t.Errorf("FirstOfBurst(notify) = false, want true: its own burst")
		}
	})
}

func TestAckSlotWaitsNeverDrops(t *testing.T) {
	withTx(t, func(tx *store.Tx) {
		var got []time.Duration
		for range 7 {
			at, err := flood.AckSlot(tx, 3, t0)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, at.Sub(t0))
		}
		want := []time.Duration{0, 0, 0, time.Hour, time.Hour, time.Hour, 2 * time.Hour}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("AckSlot() delays = %v, want %v", got, want)
			}
		}
		// Three hours on, the hour behind holds one booked slot: room again.
		if at, _ := flood.AckSlot(tx, 3, t0.Add(3*time.Hour)); !at.Equal(t0.Add(3 * time.Hour)) {
			t.Errorf("AckSlot(+3h) = %v, want now", at.Sub(t0))
		}
	})
}

// A long flood books ahead an hour at a time, and slots booked at other
// times keep every sliding hour at perHour or fewer.
func TestAckSlotSlidingHour(t *testing.T) {
	withTx(t, func(tx *store.Tx) {
		var slots []time.Time
		book := func(now time.Time) {
			t.Helper()
			at, err := flood.AckSlot(tx, 2, now)
			if err != nil {
				t.Fatal(err)
			}
			if at.Before(now) {
				t.Fatalf("AckSlot(%v) = %v, before now", now.Sub(t0), at.Sub(t0))
			}
			slots = append(slots, at)
		}
		for i := range 9 {
			book(t0.Add(time.Duration(i) * 10 * time.Minute))
		}
		for _, s := range slots {
			n := 0
			for _, o := range slots {
				if !o.Before(s) && o.Before(s.Add(time.Hour)) {
					n++
				}
			}
			if n > 2 {
				t.Fatalf("AckSlot() slots %v: %d in the hour from %v, want at most 2", slots, n, s.Sub(t0))
			}
		}
		if last := slots[len(slots)-1].Sub(t0); last != 4*time.Hour {
			t.Errorf("AckSlot() 9th slot at +%v, want +4h (two an hour from t0)", last)
		}
	})
}

func TestLogSinceAndBounds(t *testing.T) {
	var l flood.Log
	l.Add(flood.Entry{Time: t0.Add(-9 * 24 * time.Hour), From: "old@x.example", Message: 1})
	l.Add(flood.Entry{Time: t0, From: "eve@x.example", Case: "SEC-2026-0005", Message: 2})
	l.Add(flood.Entry{Time: t0.Add(time.Minute), From: "eve@x.example", Case: "SEC-2026-0005", Message: 3})
	l.Add(flood.Entry{Time: t0.Add(2 * time.Minute), From: "eve@x.example", Message: 4})
	back, err := flood.ParseLog(l.String())
	if err != nil {
		t.Fatalf("ParseLog() = %v", err)
	}
	lines := back.Since(t0.Add(-time.Hour))
	want := "eve@x.example: 3 over the flood caps since 2026-03-03 10:00 UTC (2 folded onto SEC-2026-0005 and 1 held on no case)"
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("Since() = %q, want [%q]", lines, want)
	}
	if len(back.Entries) != 3 {
		t.Errorf("entries = %d, want 3: the one older than Keep dropped", len(back.Entries))
	}
	if strings.Contains(lines[0], "; ") {
		t.Errorf("Since() line holds the digest separator: %q", lines[0])
	}
	for i := range flood.MaxEntries + 5 {
		l.Add(flood.Entry{Time: t0.Add(time.Duration(i) * time.Second), From: "f@x.example"})
	}
	if len(l.Entries) != flood.MaxEntries || l.Dropped != 8 {
		t.Errorf("after overflow: %d entries, %d dropped, want %d and 8", len(l.Entries), l.Dropped, flood.MaxEntries)
	}
	if _, err := flood.ParseLog("{"); err == nil {
		t.Errorf("ParseLog(garbage) = nil error")
	}
}

func TestDiskProblem(t *testing.T) {
	l := flood.DiskLimits{MinFree: 1 << 30, MaxStore: 20 << 30}
	for _, tc := range []struct {
		u    flood.Disk
		want string
	}{
		{flood.Disk{Free: 2 << 30, Store: 1 << 30}, ""},
		{flood.Disk{Free: 512 << 20, Store: 1 << 30}, "512.0 MiB free on the store's file system, below limits.min_free_bytes (1.0 GiB)"},
		{flood.Disk{Free: 2 << 30, Store: 21 << 30}, "the store holds 21.0 GiB, over limits.max_store_bytes (20.0 GiB)"},
	} {
		if got := l.Problem(tc.u); !strings.HasPrefix(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("Problem(%+v) = %q, want %q...", tc.u, got, tc.want)
		}
	}
	if got := (flood.DiskLimits{}).Problem(flood.Disk{}); got != "" {
		t.Errorf("Problem() with both checks off = %q, want none", got)
	}
}

// TestMeasureRealDisk checks statfs and the store walk on the temp dir
// (nothing is filled).
func TestMeasureRealDisk(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, "bot.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.SpoolRaw(strings.NewReader(strings.Repeat("x", 10000)), 0); err != nil {
		t.Fatal(err)
	}
	free, err := flood.FreeBytes(dir)
	if err != nil || free <= 0 {
		t.Errorf("FreeBytes() = %d, %v, want some space", free, err)
	}
	size, err := flood.StoreBytes(s.Path())
	if err != nil || size < 10000 {
		t.Errorf("StoreBytes() = %d, %v, want at least the 10000 spooled bytes", size, err)
	}
}
