package triage

import (
	"bytes"
	"testing"

	"mailbot/mailbot/parse"
)

func benchMessage(b *testing.B) *parse.Message {
	b.Helper()
	raw := "From: Ada Lovelace <ada@research.example>\r\nTo: security@example.org\r\n" +
		"Subject: Re: [SEC-2026-0042] SQL injection in login\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n" +
		"Message-ID: <r2@research.example>\r\nIn-Reply-To: <sec-2026-0042.abc@mailbot.example.org>\r\n" +
		"References: <r1@research.example> <sec-2026-0042.abc@mailbot.example.org>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nThanks, here is more detail.\r\n"
	m, err := parse.Parse(bytes.NewReader([]byte(raw)), parse.Limits{})
	if err != nil {
		b.Fatalf("Parse() = %v", err)
	}
	return m
}

// BenchmarkStageClassify is the classify stage of issue 9.
func BenchmarkStageClassify(b *testing.B) {
	m := benchMessage(b)
	b.ReportAllocs()
	for b.Loop() {
		if v := Classify(m, self); v.Class != ClassReport {
			b.Fatalf("Classify() = %v, want %v", v.Class, ClassReport)
		}
	}
}

// BenchmarkStageThread is the pure part of the thread stage of issue 9:
// the ids to look up and the case tag in the subject (the lookups
// themselves are store benchmarks).
func BenchmarkStageThread(b *testing.B) {
	m := benchMessage(b)
	b.ReportAllocs()
	for b.Loop() {
		ids := ThreadIDs(m)
		ref, ok := SubjectTag(m.Subject, "SEC")
		if len(ids) < 2 || !ok || ref != "SEC-2026-0042" {
			b.Fatalf("ThreadIDs() = %v, SubjectTag() = %q, %v", ids, ref, ok)
		}
	}
}
