// Package clock owns the daemon's time: the wall clock in production, or a
// scaled clock for the accelerated soak of issue 19 (mailbot/soak), where a
// simulated month passes in about an hour:
//
//	Sim = Start + (wall - Epoch) * Scale
//
// The mapping is anchored at a fixed wall Epoch, so the simulated time goes
// on across a kill -9 and a restart, and a process that was stopped
// (SIGSTOP, a suspend) finds it moved on. The binary takes it from the
// environment variable MAILBOT_CLOCK (Env, Parse); unset, it is the wall
// clock, exactly as without this package.
//
// The rule for which times follow it: business time, what the policy's
// promises are judged by, is simulated: every Now the daemon passes down
// (intake, team authentication's max_age and OpenPGP signature times,
// outgoing mail, the scheduler, the health checks and /healthz), the jobs'
// tickers, the outbox sender's wait until the next attempt and its retry
// backoff. Network-level waits stay on the wall clock: they are about the
// servers, not the policy (IMAP reconnect backoff, resync and poll
// intervals, SMTP and IMAP command timeouts, socket deadlines, the stop
// grace). Where a wall bound is compared with simulated times (the health
// check's IMAP resync bound, the intake's liveness), it is converted with
// Sim. Still on the wall clock: the validity of OpenPGP keys where
// mailbot/pgp reads time.Now itself (loading the team, encrypting), the
// store's own defaults, and the admin queries.
package clock

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Env is the environment variable the binary reads the clock from, e.g.
//
//	MAILBOT_CLOCK=start=2027-03-24T00:00:00Z,epoch=2026-12-06T07:30:00.123456789Z,scale=720
//
// start and epoch in RFC 3339 (fractions allowed), scale a positive number
// of simulated seconds per wall second. For the soak only.
const Env = "MAILBOT_CLOCK"

// ErrInvalid is the error of a value of Env that is not a clock.
var ErrInvalid = errors.New("clock: invalid " + Env)

// Clock is the daemon's time. The zero Clock and a nil *Clock are the wall
// clock.
type Clock struct {
	start, epoch time.Time
	scale        float64          // 0: the wall clock
	wall         func() time.Time // the wall source; nil: time.Now (tests replace it)
}

// Wall is the wall clock.
func Wall() *Clock { return &Clock{} }

// New is the scaled clock that reads start at wall time epoch and runs
// scale times faster than the wall clock.
func New(start, epoch time.Time, scale float64) (*Clock, error) {
	if math.IsNaN(scale) || math.IsInf(scale, 0) || scale <= 0 {
		return nil, fmt.Errorf("%w: scale %v: want a positive number", ErrInvalid, scale)
	}
	return &Clock{start: start, epoch: epoch, scale: scale}, nil
}

// Parse reads a value of Env: "start=T,epoch=T,scale=N", each key once, T
// in RFC 3339. Empty is the wall clock.
func Parse(s string) (*Clock, error) {
	if strings.TrimSpace(s) == "" {
		return Wall(), nil
	}
	var start, epoch time.Time
	scale := math.NaN()
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || seen[key] {
			return nil, fmt.Errorf("%w: %q: want start=RFC3339,epoch=RFC3339,scale=N, each once", ErrInvalid, item)
		}
		seen[key] = true
		var err error
		switch key {
		case "start":
			start, err = time.Parse(time.RFC3339Nano, val)
		case "epoch":
			epoch, err = time.Parse(time.RFC3339Nano, val)
		case "scale":
			scale, err = strconv.ParseFloat(val, 64)
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, key, err)
		}
	}
	for _, key := range []string{"start", "epoch", "scale"} {
		if !seen[key] {
			return nil, fmt.Errorf("%w: %s missing", ErrInvalid, key)
		}
	}
	return New(start, epoch, scale)
}

// Scaled reports whether c is not the wall clock.
func (c *Clock) Scaled() bool { return c != nil && c.scale != 0 }

// Now is the current time of c.
func (c *Clock) Now() time.Time {
	if !c.Scaled() {
		return time.Now()
	}
	wall := time.Now
	if c.wall != nil {
		wall = c.wall
	}
	return c.start.Add(c.Sim(wall().Sub(c.epoch)))
}

// Wait is the wall duration of the simulated duration d: d/Scale, at least
// a nanosecond when d is positive.
func (c *Clock) Wait(d time.Duration) time.Duration {
	if !c.Scaled() || d <= 0 {
		return d
	}
	return max(time.Duration(float64(d)/c.scale), 1)
}

// Sim is the simulated duration of the wall duration d: d*Scale.
func (c *Clock) Sim(d time.Duration) time.Duration {
	if !c.Scaled() {
		return d
	}
	return time.Duration(float64(d) * c.scale)
}

// NewTimer is a timer that fires when the simulated duration d has passed.
func (c *Clock) NewTimer(d time.Duration) *time.Timer { return time.NewTimer(c.Wait(d)) }

// NewTicker is a ticker that ticks every simulated d (d > 0).
func (c *Clock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(c.Wait(d)) }

// String is "wall", or the value of Env that makes c.
func (c *Clock) String() string {
	if !c.Scaled() {
		return "wall"
	}
	return fmt.Sprintf("start=%s,epoch=%s,scale=%s", c.start.Format(time.RFC3339Nano), c.epoch.Format(time.RFC3339Nano),
		strconv.FormatFloat(c.scale, 'g', -1, 64))
}
