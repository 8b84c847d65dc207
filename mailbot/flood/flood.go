// Package flood owns the limits that keep one sender, one domain or a full
// disk from overwhelming the security team and the bot (issue 15, attack 5):
// caps on new cases and on team notifications per sender and per domain over
// a sliding window, the global acknowledgement rate, the log of what was
// folded or held (for the team's one notice per burst and the daily digest),
// and the free-disk and store-size check. It decides and remembers; the
// daemon acts on its answers inside its own store transaction.
//
// Counting uses the store's send log (RecentSends, NewestSends,
// RecordSend), so every count commits or rolls back with the message that
// caused it: a crash never counts a report twice or not at all.
package flood

import (
	"fmt"
	"strings"
	"time"
)

// Sends is the store's send log (a *store.Tx): entries kept for 24 hours.
type Sends interface {
	RecentSends(key string, since time.Time) (int, error)
	NewestSends(key string, n int) ([]time.Time, error)
	RecordSend(key string, t time.Time) error
}

// MaxWindow is the longest window a cap can count over: the store keeps
// send entries for 24 hours.
const MaxWindow = 24 * time.Hour

// What a cap counts.
const (
	Cases  = "cases"  // new cases opened
	Notify = "notify" // team notifications about a reporter's mail
)

// Caps bound one kind of work per sender address and per sender domain
// within a sliding Window.
type Caps struct {
	Window    time.Duration
	PerSender int
	PerDomain int
}

// Domain is the part of addr after the last @, lowercase ("" without one).
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

func senderKey(kind, addr string) string { return "flood:" + kind + ":" + strings.ToLower(addr) }
func domainKey(kind, addr string) string { return "flood:" + kind + "@" + Domain(addr) }

// Over reports whether one more of kind for addr would go over c. Over a
// cap, reason says which one, and burst is the key the burst is known by
// (the sender, or "@domain" for the domain cap).
func (c Caps) Over(s Sends, kind, addr string, now time.Time) (reason, burst string, err error) {
	since := now.Add(-c.Window)
	n, err := s.RecentSends(senderKey(kind, addr), since)
	if err != nil {
		return "", "", err
	}
	if n >= c.PerSender {
		return fmt.Sprintf("%s has %d %s in %s (cap %d per sender)", addr, n, noun(kind), c.Window, c.PerSender), strings.ToLower(addr), nil
	}
	dom := Domain(addr)
	n, err = s.RecentSends(domainKey(kind, addr), since)
	if err != nil {
		return "", "", err
	}
	if n >= c.PerDomain {
		return fmt.Sprintf("domain %s has %d %s in %s (cap %d per domain)", dom, n, noun(kind), c.Window, c.PerDomain), "@" + dom, nil
	}
	return "", "", nil
}

// Count records one of kind for addr and its domain at now.
func (c Caps) Count(s Sends, kind, addr string, now time.Time) error {
	if err := s.RecordSend(senderKey(kind, addr), now); err != nil {
		return err
	}
	return s.RecordSend(domainKey(kind, addr), now)
}

// FirstOfBurst reports whether the team is still to be told about the burst
// (a sender or "@domain" over the cap of kind) in this window, and if so
// records that it is being told now: one notice per burst and window.
func (c Caps) FirstOfBurst(s Sends, kind, burst string, now time.Time) (bool, error) {
	key := "flood:notice:" + kind + ":" + burst
	n, err := s.RecentSends(key, now.Add(-c.Window))
	if err != nil || n > 0 {
		return false, err
	}
	return true, s.RecordSend(key, now)
}

func noun(kind string) string {
	if kind == Cases {
		return "new cases"
	}
	return "team notifications"
}

// ackKey counts every acknowledgement, whoever it goes to.
const ackKey = "flood:ack"

// AckSlot returns when the next acknowledgement may be sent so that at
// most perHour go out in any hour, and books that slot: now while the last
// hour (counting slots already booked ahead) has room, else an hour after
// the perHour-th newest booked slot. An acknowledgement over the rate
// waits; it is never dropped: a reporter is owed one. It reads perHour
// entries at most, however long a flood has been booking ahead.
func AckSlot(s Sends, perHour int, now time.Time) (time.Time, error) {
	newest, err := s.NewestSends(ackKey, perHour)
	if err != nil {
		return time.Time{}, err
	}
	at := now
	if len(newest) == perHour && !newest[perHour-1].Before(now.Add(-time.Hour)) {
		at = later(now, newest[perHour-1].Add(time.Hour))
	}
	return at, s.RecordSend(ackKey, at)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
