package remind

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"mailbot/policy"
)

// bytesIn hands out the fuzzer's bytes, zeros when they run out.
type bytesIn struct{ b []byte }

func (r *bytesIn) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *bytesIn) pick(n int) int { return int(r.byte()) % n }

func (r *bytesIn) int16() int16 { return int16(uint16(r.byte())<<8 | uint16(r.byte())) }

// around is a time within about ten days of base, on a 15-minute grid
// with some odd minutes; zero when the first byte is a multiple of 4.
func (r *bytesIn) around(base time.Time) time.Time {
	if r.byte()%4 == 0 {
		return time.Time{}
	}
	return base.Add(time.Duration(int8(r.byte()))*2*time.Hour + time.Duration(r.pick(8))*15*time.Minute + time.Duration(r.pick(3))*time.Minute)
}

func (r *bytesIn) durations() []time.Duration {
	l := make([]time.Duration, r.pick(4))
	for i := range l {
		l[i] = time.Duration(int8(r.byte())) * 30 * time.Minute
	}
	return l
}

// FuzzPlan plans for random cases, clocks and times with every seed policy:
// no panic, no key twice or again after it was recorded, nothing outside
// working hours, and Summarize keeps every key.
func FuzzPlan(f *testing.F) {
	var policies []*policy.Policy
	for _, file := range seedFiles {
		policies = append(policies, seedPolicy(f, file))
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte("\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"))
	f.Add([]byte("remind escalate digest keep-informed disclosure-soon disclosure-moved"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, s, cases, lastRun, now := fuzzInput(policies, data)

		got := Plan(p, s, cases, lastRun, now)
		if len(got) > 0 && !p.Calendar.InWorkingHours(now) {
			t.Fatalf("Plan(%s) outside working hours = %v", now, got)
		}
		if !slices.IsSortedFunc(got, func(a, b Action) int {
			return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.Key, b.Key))
		}) {
			t.Errorf("Plan() not sorted: %v", got)
		}
		keys := map[string]bool{}
		for _, a := range got {
			if keys[a.Key] {
				t.Errorf("Plan(): key %s twice", a.Key)
			}
			keys[a.Key] = true
			if a.Due.After(now) || !p.Calendar.InWorkingHours(a.Due) {
				t.Errorf("Plan(%s): %s Due = %s, want a working moment not after now", now, a.Key, a.Due)
			}
		}

		var out []string
		for _, a := range Summarize(got) {
			ks := a.Keys()
			if a.Kind == KindSummary {
				ks = ks[1:]
			}
			out = append(out, ks...)
		}
		if len(out) != len(got) {
			t.Errorf("Summarize() sends %d keys, want %d", len(out), len(got))
		}
		for _, k := range out {
			if !keys[k] {
				t.Errorf("Summarize() sends key %s that Plan did not plan", k)
			}
		}

		// Recorded, nothing is planned again at the same time.
		g := Global(nil)
		for _, a := range got {
			g.Sent = append(g.Sent, SentMark{Key: a.Key, At: now})
		}
		if again := Plan(p, s, append(slices.Clone(cases), g), lastRun, now); len(again) != 0 {
			t.Errorf("Plan() after recording = %v, want nothing", again)
		}
	})
}

// fuzzInput makes the arguments of Plan from the fuzzer's bytes.
func fuzzInput(policies []*policy.Policy, data []byte) (*policy.Policy, Settings, []CaseState, time.Time, time.Time) {
	r := &bytesIn{data}
	// now: within about a year of January 2026.
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.int16()) * 15 * time.Minute)
	p := policies[r.pick(len(policies))]
	s := Settings{
		LeadTimes:      r.durations(),
		EscalateEvery:  time.Duration(int8(r.byte())) * 15 * time.Minute,
		DigestAt:       []string{"", "09:00", "07:30", "16:59", "23:59", "nine"}[r.pick(6)],
		DisclosureLead: r.durations(),
		CatchUpAfter:   time.Duration(int8(r.byte())) * time.Minute,
	}
	var names []string
	for _, c := range p.Commitments {
		names = append(names, c.Name)
	}
	names = append(names, "unknown")
	states := []string{policy.StateRunning, policy.StateBreached, policy.StatePaused, policy.StateMet, ""}
	statuses := []string{"new", "triaged", "fixed", "disclosed", "spam", ""}
	cases := make([]CaseState, r.pick(6))
	for i := range cases {
		c := &cases[i]
		c.ID = uint64(r.pick(4)) // duplicates and the Global id on purpose
		c.Ref = []string{"", "A", "B", "SEC-2026-0001"}[r.pick(4)]
		c.Status = statuses[r.pick(len(statuses))]
		c.Assignee = []string{"", "alice"}[r.pick(2)]
		c.Disclosure, c.DisclosureTold, c.LastToReporter = r.around(now), r.around(now), r.around(now)
		c.WaitingOnReporter = r.pick(2) == 1
		for range r.pick(4) {
			c.Clocks = append(c.Clocks, policy.Clock{
				Name: names[r.pick(len(names))], State: states[r.pick(len(states))],
				Started: r.around(now), Due: r.around(now), Stopped: r.around(now), PausedAt: r.around(now),
			})
		}
		for range r.pick(3) {
			c.Sent = append(c.Sent, SentMark{Key: "keep-informed:" + c.Ref + ":x", At: r.around(now)})
		}
	}
	lastRun := r.around(now)
	return p, s, cases, lastRun, now
}
