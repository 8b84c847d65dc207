package store

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Scale of the pre-populated database of the benchmarks. The target sizing is
// -store.cases=100000 -store.msgs=10 (1M messages); the defaults keep a
// plain `go test -bench .` quick.
var (
	benchCases = flag.Int("store.cases", 2000, "cases in the benchmark database")
	benchMsgs  = flag.Int("store.msgs", 10, "messages per case in the benchmark database")
)

var ackRaw = bytes.Repeat([]byte("Thank you for your report. We will get back to you.\r\n"), 20) // ~1 KB

func benchMessage(caseID uint64, n int) *Message {
	return &Message{
		CaseID:     caseID,
		Direction:  "in",
		Hash:       sum(fmt.Sprintf("raw %d %d", caseID, n)),
		Size:       20_000,
		MessageID:  fmt.Sprintf("%d.%d.1763900000@mail.example.org", caseID, n),
		InReplyTo:  []string{fmt.Sprintf("%d.%d.1763800000@mail.example.org", caseID, n-1)},
		References: []string{fmt.Sprintf("%d.0.1763800000@mail.example.org", caseID)},
		From:       fmt.Sprintf("researcher%d@example.org", caseID),
		To:         []string{"security@example.com"},
		Subject:    "Re: [SEC-2026-0001] Stored XSS in the admin panel",
		Date:       t0,
		Class:      "follow-up",
		Source:     fmt.Sprintf("imap:INBOX:1700000000:%d", caseID*100+uint64(n)),
	}
}

// populate fills s with *benchCases cases of *benchMsgs messages each, plus
// events and a sent acknowledgement, in large unsynced transactions. It
// returns the Message-IDs stored.
func populate(b *testing.B, s *Store) []string {
	b.Helper()
	s.db.NoSync = true
	defer func() { s.db.NoSync = false }()
	var ids []string
	const chunk = 500
	for done := 0; done < *benchCases; done += chunk {
		err := s.Update(func(tx *Tx) error {
			for i := done; i < min(done+chunk, *benchCases); i++ {
				c := &Case{Subject: "Stored XSS in the admin panel", Reporter: fmt.Sprintf("researcher%d@example.org", i),
					ReporterName: "A Researcher", Participants: []string{fmt.Sprintf("researcher%d@example.org", i)},
					Language: "en", Clocks: []Clock{{Name: "ack", State: "met", Started: t0, Due: t0.Add(72 * time.Hour), Stopped: t0}}}
				if err := tx.NewCase(c); err != nil {
					return err
				}
				for n := range *benchMsgs {
					m := benchMessage(c.ID, n)
					if err := tx.AddMessage(m); err != nil {
						return err
					}
					ids = append(ids, m.MessageID)
					if err := tx.AppendEvent(c.ID, Event{Time: t0, Kind: "message.received", Actor: m.From, MessageID: m.ID}); err != nil {
						return err
					}
				}
				o := &OutboxItem{CaseID: c.ID, Kind: "ack", MessageID: fmt.Sprintf("ack.%d@bot.example.com", c.ID),
					From: "security@example.com", To: []string{c.Reporter}, Raw: ackRaw}
				if err := tx.Enqueue(o); err != nil {
					return err
				}
				o.State, o.SentAt, o.Attempts = OutboxSent, t0, 1
				if err := tx.PutOutbox(o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("populate: %v", err)
		}
	}
	return ids
}

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "mailbot.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// reportLatency adds p50 and p99 of per-op durations.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkAddMessage is the daemon's per-message commit: one fsynced Update
// with a new case, its message, an event, the acknowledgement and the IMAP
// watermark.
func BenchmarkAddMessage(b *testing.B) {
	s := openBench(b)
	populate(b, s)
	var popSize int64
	if fi, err := os.Stat(s.Path()); err == nil {
		popSize = fi.Size()
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		err := s.Update(func(tx *Tx) error {
			c := &Case{Subject: "New report", Reporter: fmt.Sprintf("new%d@example.org", i)}
			if err := tx.NewCase(c); err != nil {
				return err
			}
			m := benchMessage(c.ID, 0)
			m.Hash = sum(fmt.Sprintf("bench %d", i))
			if err := tx.AddMessage(m); err != nil {
				return err
			}
			if err := tx.AppendEvent(c.ID, Event{Time: t0, Kind: "case.opened", Actor: "bot", MessageID: m.ID}); err != nil {
				return err
			}
			if err := tx.Enqueue(&OutboxItem{CaseID: c.ID, Kind: "ack", MessageID: fmt.Sprintf("ack.b%d@bot", i),
				To: []string{c.Reporter}, Raw: ackRaw}); err != nil {
				return err
			}
			return tx.SetMailboxState("INBOX", MailboxState{UIDValidity: 1, LastUID: uint32(i)})
		})
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	reportLatency(b, lat)
	if *benchCases > 0 {
		b.ReportMetric(float64(popSize)/float64(*benchCases), "file-B/case")
	}
}

// BenchmarkEmptyCommit is the floor under BenchmarkAddMessage: one fsynced
// Update that writes one small key.
func BenchmarkEmptyCommit(b *testing.B) {
	s := openBench(b)
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if err := s.Update(func(tx *Tx) error { return tx.SetMeta("bench", fmt.Sprint(i)) }); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

// BenchmarkCaseByMessageID is a threading lookup in its own read transaction.
func BenchmarkCaseByMessageID(b *testing.B) {
	s := openBench(b)
	ids := populate(b, s)
	if len(ids) == 0 {
		b.Skip("no messages: -store.cases or -store.msgs is 0")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := ids[(i*7919)%len(ids)]
		err := s.View(func(tx *Tx) error {
			if _, ok := tx.CaseByMessageID(id); !ok {
				return fmt.Errorf("CaseByMessageID(%q) = false", id)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpoolRaw spools a 20 KB message with fsync.
func BenchmarkSpoolRaw(b *testing.B) {
	s := openBench(b)
	data := make([]byte, 20<<10)
	rand.Read(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	lat := make([]time.Duration, 0, b.N)
	r := bytes.NewReader(nil)
	for i := 0; b.Loop(); i++ {
		data[0], data[1], data[2], data[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24) // a new file each time
		r.Reset(data)
		start := time.Now()
		if _, err := s.SpoolRaw(r, 1<<20); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}
