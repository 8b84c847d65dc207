package remind

import (
	"fmt"
	"testing"
	"time"

	"mailbot/policy"
)

// BenchmarkPlan plans one tick for 1000 open cases of Caspar Health, each
// with a running acknowledge clock and a triage clock, a third of them
// breached, with a sent mark each.
func BenchmarkPlan(b *testing.B) {
	p := seedPolicy(b, "000_caspar_health.toml")
	s := DefaultSettings()
	now := mt("2026-01-14T10:00:00+01:00")
	cases := make([]CaseState, 1000)
	for i := range cases {
		recv := now.Add(-time.Duration(i%200) * time.Hour)
		c := CaseState{ID: uint64(i + 1), Ref: fmt.Sprintf("SEC-2026-%04d", i+1), Status: "new", LastToReporter: recv,
			Disclosure: p.DisclosureDate(recv), DisclosureTold: p.DisclosureDate(recv)}
		c.Clocks = p.Apply(nil, policy.EventReportReceived, recv)
		c.Sent = []SentMark{{Key: fmt.Sprintf("remind:%s:acknowledge:x:24h", c.Ref), At: recv}}
		cases[i] = c
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = len(Plan(p, s, cases, now.Add(-time.Minute), now))
	}
	b.ReportMetric(float64(n), "actions")
}
