package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"
)

// commitAck is the daemon's per-message commit as BenchmarkAddMessage does
// it: a new case, its message, an event, the queued acknowledgement and the
// IMAP watermark, in one fsynced transaction.
func commitAck(s *Store, i int) error {
	return s.Update(func(tx *Tx) error {
		c := &Case{Subject: "New report", Reporter: fmt.Sprintf("growth%d@example.org", i)}
		if err := tx.NewCase(c); err != nil {
			return err
		}
		m := benchMessage(c.ID, 0)
		m.Hash = sum(fmt.Sprintf("growth %d", i))
		m.MessageID = fmt.Sprintf("growth.%d@mail.example.org", i)
		if err := tx.AddMessage(m); err != nil {
			return err
		}
		if err := tx.AppendEvent(c.ID, Event{Time: t0, Kind: "case.opened", Actor: "bot", MessageID: m.ID}); err != nil {
			return err
		}
		if err := tx.Enqueue(&OutboxItem{CaseID: c.ID, Kind: "ack", MessageID: fmt.Sprintf("ack.g%d@bot", i),
			To: []string{c.Reporter}, Raw: ackRaw}); err != nil {
			return err
		}
		return tx.SetMailboxState("INBOX", MailboxState{UIDValidity: 1, LastUID: uint32(i)})
	})
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// BenchmarkTargetStoreGrowth is target 4 of issue 9: how the store behaves
// at -store.cases x -store.msgs (the target sizing is 100,000 cases, 10
// messages each) against an empty one. It measures once; run it with
// -benchtime=1x. Populating is unsynced (NoSync); every measured commit is
// fsynced. Targets: commit p99 <= 2 ms and <= 1.5x empty; Message-ID and
// case lookups <= 10 µs; listing the open cases <= 100 ms.
func BenchmarkTargetStoreGrowth(b *testing.B) {
	commits := 400
	if testing.Short() {
		commits = 100
	}
	s := openBench(b)
	next := 0
	measure := func() []time.Duration {
		lat := make([]time.Duration, 0, commits)
		for range commits {
			next++
			start := time.Now()
			if err := commitAck(s, next); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		return lat
	}
	measure() // warm up: the file grows from nothing
	empty := measure()

	start := time.Now()
	ids := populate(b, s)
	populated := time.Since(start)
	fi, err := os.Stat(s.Path())
	if err != nil {
		b.Fatal(err)
	}
	full := measure()

	// Lookups, each in its own read transaction as the daemon does them.
	rng := rand.New(rand.NewPCG(1, 2))
	const lookups = 20000
	var refs []string
	var caseIDs []uint64
	err = s.View(func(tx *Tx) error {
		for range 1000 {
			id := uint64(rng.IntN(*benchCases) + 1)
			c, err := tx.Case(id)
			if err != nil {
				return err
			}
			refs = append(refs, c.Ref)
			caseIDs = append(caseIDs, id)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	timeLookups := func(fn func(i int) error) time.Duration {
		start := time.Now()
		for i := range lookups {
			if err := fn(i); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / lookups
	}
	byMsgID := timeLookups(func(i int) error {
		id := ids[rng.IntN(len(ids))]
		return s.View(func(tx *Tx) error {
			if _, ok := tx.CaseByMessageID(id); !ok {
				return fmt.Errorf("CaseByMessageID(%q) = false", id)
			}
			return nil
		})
	})
	byRef := timeLookups(func(i int) error {
		return s.View(func(tx *Tx) error {
			_, err := tx.CaseByRef(refs[i%len(refs)])
			return err
		})
	})
	byID := timeLookups(func(i int) error {
		return s.View(func(tx *Tx) error {
			_, err := tx.Case(caseIDs[i%len(caseIDs)])
			return err
		})
	})

	// Listing the open cases: what `mailbot cases` does, a full scan.
	var listing time.Duration
	var open int
	for range 3 {
		open = 0
		start := time.Now()
		err := s.View(func(tx *Tx) error {
			return tx.Cases(func(c *Case) bool {
				if c.Status != "closed" {
					open++
				}
				return true
			})
		})
		if err != nil {
			b.Fatal(err)
		}
		if d := time.Since(start); listing == 0 || d < listing {
			listing = d
		}
	}
	if want := *benchCases + 3*commits; open != want {
		b.Fatalf("open cases = %d, want %d", open, want)
	}

	e99, f99 := pct(empty, 99), pct(full, 99)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	b.ReportMetric(us(pct(empty, 50))/1000, "empty-p50-ms")
	b.ReportMetric(us(e99)/1000, "empty-p99-ms")
	b.ReportMetric(us(pct(full, 50))/1000, "commit-p50-ms")
	b.ReportMetric(us(f99)/1000, "commit-p99-ms")
	b.ReportMetric(float64(f99)/float64(e99), "p99-vs-empty")
	b.ReportMetric(us(byMsgID), "msgid-lookup-µs")
	b.ReportMetric(us(byRef), "ref-lookup-µs")
	b.ReportMetric(us(byID), "case-lookup-µs")
	b.ReportMetric(float64(listing.Microseconds())/1000, "list-open-ms")
	b.ReportMetric(float64(fi.Size())/float64(*benchCases), "B/case")
	b.ReportMetric(float64(len(ids)), "msgs")
	b.ReportMetric(populated.Seconds(), "populate-s")
	b.ReportMetric(0, "ns/op")
}
