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

// ackRaw stands for a real acknowledgement: the ack template rendered
// (about 1 KB of quoted-printable text), our headers, and a PGP/MIME
// signature (RFC 3156 section 5) around it: about 2.5 KB.
var ackRaw = bytes.Repeat([]byte("Thank you for your report. We will get back to you.\r\n"), 48)

// benchMsgID is a Message-ID shaped like a real one: random-looking, so it
// lands anywhere in the index as real ids do.
func benchMsgID(seed string) string {
	return sum(seed)[:40] + "@mail.example.org"
}

func benchMessage(caseID uint64, n int) *Message {
	return &Message{
		CaseID:     caseID,
		Direction:  "in",
		Hash:       sum(fmt.Sprintf("raw %d %d", caseID, n)),
		Size:       20_000,
		MessageID:  benchMsgID(fmt.Sprintf("%d.%d", caseID, n)),
		InReplyTo:  []string{benchMsgID(fmt.Sprintf("%d.%d", caseID, n-1))},
		References: []string{benchMsgID(fmt.Sprintf("%d.0", caseID))},
		From:       fmt.Sprintf("researcher%d@example.org", caseID),
		To:         []string{"security@example.com"},
		Subject:    "Re: [SEC-2026-0001] Stored XSS in the admin panel",
		Date:       t0,
		Class:      "follow-up",
		Source:     fmt.Sprintf("imap:INBOX:1700000000:%d", caseID*100+uint64(n)),
	}
}

// benchReport is what mailbot/pipeline.go (openCase, queueAck) writes in ONE
// Update for a new report: the case with its clock, the message, the
// case.opened event, the acknowledgement with its bytes (which links its
// Message-ID), the rate-limit entry, the ack.queued event, and the IMAP
// watermark. It returns the case, the message and the ack.
func benchReport(tx *Tx, i int, now time.Time) (*Case, *Message, *OutboxItem, error) {
	from := fmt.Sprintf("researcher%d@example.org", i)
	m := benchMessage(0, 0)
	m.Hash = sum(fmt.Sprintf("report %d", i))
	m.MessageID = benchMsgID(fmt.Sprintf("report %d", i))
	m.InReplyTo, m.References = nil, nil
	m.From, m.Subject, m.Class, m.Received = from, "Stored XSS in the admin panel", "report", now
	if _, ok := tx.SeenHash(m.Hash); ok {
		return nil, nil, nil, fmt.Errorf("SeenHash(%s) = true", m.Hash)
	}
	c := &Case{Subject: m.Subject, Reporter: from, ReporterName: "A Researcher", Participants: []string{from},
		Language: "en", Created: now, Updated: now,
		Clocks: []Clock{{Name: "ack", State: "running", Started: now, Due: now.Add(72 * time.Hour)}}}
	if err := tx.NewCase(c); err != nil {
		return nil, nil, nil, err
	}
	m.CaseID = c.ID
	if err := tx.AddMessage(m); err != nil {
		return nil, nil, nil, err
	}
	if err := tx.AppendEvent(c.ID, Event{Time: now, Kind: "case.opened", Actor: from, Detail: "report received", MessageID: m.ID}); err != nil {
		return nil, nil, nil, err
	}
	key := "ack:" + from
	if _, err := tx.RecentSends(key, now.Add(-time.Hour)); err != nil {
		return nil, nil, nil, err
	}
	o := &OutboxItem{CaseID: c.ID, Kind: "ack", MessageID: fmt.Sprintf("%s.%.24s@bot.example.com", normRef(c.Ref), sum(c.Ref)),
		From: "security@example.com", To: []string{from}, Raw: ackRaw, Created: now, NextAttempt: now}
	if err := tx.Enqueue(o); err != nil {
		return nil, nil, nil, err
	}
	if err := tx.RecordSend(key, now); err != nil {
		return nil, nil, nil, err
	}
	if err := tx.AppendEvent(c.ID, Event{Time: now, Kind: "ack.queued", Actor: "bot", Detail: "<" + o.MessageID + "> to " + from}); err != nil {
		return nil, nil, nil, err
	}
	if err := tx.ClearFailures(m.Source); err != nil {
		return nil, nil, nil, err
	}
	if _, err := tx.MailboxState("INBOX"); err != nil {
		return nil, nil, nil, err
	}
	return c, m, o, tx.SetMailboxState("INBOX", MailboxState{UIDValidity: 1, LastUID: uint32(i)})
}

// benchSent is the outbox sender's Update after a successful send.
func benchSent(tx *Tx, o *OutboxItem, now time.Time) error {
	o.Raw = nil
	o.State, o.SentAt, o.Attempts = OutboxSent, now, 1
	if err := tx.PutOutbox(o); err != nil {
		return err
	}
	return tx.AppendEvent(o.CaseID, Event{Time: now, Kind: "outbox.sent", Actor: "bot", Detail: fmt.Sprintf("ack <%s> to %v", o.MessageID, o.To)})
}

// benchFollowUp is recordFollowUp: the reporter's n-th mail on c, threaded
// by Message-ID, with its event and the case's new Updated.
func benchFollowUp(tx *Tx, c *Case, n int, now time.Time) (*Message, error) {
	m := benchMessage(c.ID, n)
	m.Received = now
	if id, ok := tx.CaseByMessageID(m.InReplyTo[0]); ok && id != c.ID {
		return nil, fmt.Errorf("CaseByMessageID(%s) = %d, want %d", m.InReplyTo[0], id, c.ID)
	}
	if err := tx.AddMessage(m); err != nil {
		return nil, err
	}
	if err := tx.AppendEvent(c.ID, Event{Time: now, Kind: "message.received", Actor: m.From, Detail: "matched by message-id", MessageID: m.ID}); err != nil {
		return nil, err
	}
	c.Updated = now
	return m, tx.PutCase(c)
}

// closedShare is the share of the populated cases that are closed: an old
// store is mostly history.
const closedShare = 0.95

// populate fills s with *benchCases cases of *benchMsgs messages each (one
// report and its follow-ups, each written as the daemon writes it, the
// follow-ups of 500 cases interleaved as mail arrives), their sent
// acknowledgements, and closes closedShare of them, in large unsynced
// transactions. It returns the Message-IDs stored and the number of cases
// left open.
func populate(b *testing.B, s *Store) ([]string, int) {
	b.Helper()
	s.db.NoSync = true
	defer func() { s.db.NoSync = false }()
	var ids []string
	open := 0
	const chunk = 500
	now := t0.Add(-time.Duration(*benchCases) * time.Hour)
	for done := 0; done < *benchCases; done += chunk {
		err := s.Update(func(tx *Tx) error {
			var cases []*Case
			for i := done; i < min(done+chunk, *benchCases); i++ {
				now = now.Add(time.Minute)
				c, m, o, err := benchReport(tx, i, now)
				if err != nil {
					return err
				}
				ids = append(ids, m.MessageID)
				if err := benchSent(tx, o, now); err != nil {
					return err
				}
				cases = append(cases, c)
			}
			for n := 1; n < *benchMsgs; n++ {
				for _, c := range cases {
					now = now.Add(time.Second)
					m, err := benchFollowUp(tx, c, n, now)
					if err != nil {
						return err
					}
					ids = append(ids, m.MessageID)
				}
			}
			for i, c := range cases {
				if float64((done+i)%100) >= 100*closedShare {
					open++
					continue
				}
				c.Status = "disclosed"
				if err := tx.PutCase(c); err != nil {
					return err
				}
				if err := tx.AppendEvent(c.ID, Event{Time: now, Kind: "status", Actor: "ann@example.com", Detail: "disclosed"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("populate: %v", err)
		}
	}
	return ids, open
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
// with what a new report writes (benchReport).
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
			_, _, _, err := benchReport(tx, *benchCases+i, t0)
			return err
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
	ids, _ := populate(b, s)
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

// BenchmarkPurgeRawDaily is the daily retention run over a store of
// -store.cases closed cases of -store.msgs messages each, all purged by an
// earlier run: what it costs every day once years of closed cases pile up.
// first-ms is that earlier run (every message purged, 500 cases a
// transaction).
func BenchmarkPurgeRawDaily(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "mailbot.db"), Options{NoSync: true, Now: fixedClock(t0)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	old := t0.Add(-400 * 24 * time.Hour)
	for i := 0; i < *benchCases; i += 500 {
		err := s.Update(func(tx *Tx) error {
			for j := i; j < min(*benchCases, i+500); j++ {
				c := &Case{Subject: "closed", Reporter: fmt.Sprintf("researcher%d@example.org", j), Status: "disclosed", Created: old}
				if err := tx.NewCase(c); err != nil {
					return err
				}
				for n := range *benchMsgs {
					m := benchMessage(c.ID, n)
					m.Received = old
					if err := tx.AddMessage(m); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	if h, _ := purgeAll(b, s, t0, 500); len(h) != *benchCases**benchMsgs {
		b.Fatalf("first PurgeRaw() = %d hashes, want %d", len(h), *benchCases**benchMsgs)
	}
	first := time.Since(start)
	for b.Loop() {
		if h, _ := purgeAll(b, s, t0, 500); len(h) != 0 {
			b.Fatalf("PurgeRaw() again = %d hashes, want 0", len(h))
		}
	}
	b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
}
