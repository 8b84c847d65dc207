package templates

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkStageRender is the render stage of issue 9: one acknowledgement
// with two deadlines.
func BenchmarkStageRender(b *testing.B) {
	s, err := Load("")
	if err != nil {
		b.Fatalf("Load() = %v", err)
	}
	recv := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	d := Data{Organisation: "Example", Address: "security@example.org", CaseRef: "SEC-2026-0042",
		Subject: "SQL injection in login", ReporterName: "Ada", Received: recv,
		Deadlines: []Deadline{{Name: "confirm", Title: "confirm the issue", Due: recv.Add(48 * time.Hour)},
			{Name: "fix", Title: "fix it", Due: recv.Add(90 * 24 * time.Hour)}},
		Disclosure: recv.Add(90 * 24 * time.Hour), Missing: []string{"impact"}}
	b.ReportAllocs()
	for b.Loop() {
		subj, body, err := s.Render("ack", []string{"en"}, d)
		if err != nil || !strings.Contains(subj, "SEC-2026-0042") || body == "" {
			b.Fatalf("Render() = %q, %d bytes, %v", subj, len(body), err)
		}
	}
}
