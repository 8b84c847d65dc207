package clock

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const example = "start=2027-03-24T00:00:00Z,epoch=2026-12-06T07:30:00.123456789Z,scale=720"

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time.Parse(%q) = %v", s, err)
	}
	return v
}

// TestParseAccepts: the documented format, in any key order, with spaces
// around items; String gives it back.
func TestParseAccepts(t *testing.T) {
	for _, s := range []string{
		example,
		"scale=720, epoch=2026-12-06T07:30:00.123456789Z , start=2027-03-24T00:00:00Z",
	} {
		c, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) = %v, want nil", s, err)
		}
		if !c.Scaled() {
			t.Errorf("Parse(%q).Scaled() = false, want true", s)
		}
		if got := c.String(); got != example {
			t.Errorf("Parse(%q).String() = %q, want %q", s, got, example)
		}
	}
	c, err := Parse("start=2027-03-24T00:00:00+01:00,epoch=2026-12-06T07:30:00Z,scale=0.5")
	if err != nil {
		t.Fatalf("Parse() with an offset and a fraction = %v, want nil", err)
	}
	if c.scale != 0.5 || !c.start.Equal(mustTime(t, "2027-03-23T23:00:00Z")) {
		t.Errorf("Parse() = start %v scale %v, want 2027-03-23T23:00:00Z and 0.5", c.start, c.scale)
	}
}

// TestParseRefuses: anything but the documented format is an error that
// names what is wrong, never a wall clock by mistake.
func TestParseRefuses(t *testing.T) {
	const s, e = "start=2027-03-24T00:00:00Z", "epoch=2026-12-06T07:30:00Z"
	tests := []struct{ in, why string }{
		{"garbage", "garbage"},
		{"720", "720"},
		{s + "," + e, "scale missing"},
		{e + ",scale=720", "start missing"},
		{s + ",scale=720", "epoch missing"},
		{s + "," + e + ",scale=0", "scale 0"},
		{s + "," + e + ",scale=-720", "scale -720"},
		{s + "," + e + ",scale=NaN", "scale NaN"},
		{s + "," + e + ",scale=+Inf", "scale +Inf"},
		{s + "," + e + ",scale=fast", "scale: strconv"},
		{s + "," + e + ",scale=720,scale=1", "each once"},
		{s + "," + e + ",scale=720,speed=2", "speed: unknown key"},
		{s + "," + e + ",scale=720,", "each once"},
		{"start=2027-03-24," + e + ",scale=720", "start: parsing time"},
		{s + ",epoch=yesterday,scale=720", "epoch: parsing time"},
	}
	for _, tt := range tests {
		c, err := Parse(tt.in)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("Parse(%q) = %v, %v, want ErrInvalid saying %q", tt.in, c, err, tt.why)
		}
	}
}

// TestNowFollowsTheMapping: Now = Start + (wall - Epoch) * Scale, also
// before the epoch and after a jump of the wall clock (a suspend).
func TestNowFollowsTheMapping(t *testing.T) {
	c, err := Parse(example)
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	epoch := mustTime(t, "2026-12-06T07:30:00.123456789Z")
	var wall time.Time
	c.wall = func() time.Time { return wall }
	tests := []struct {
		wall time.Time
		want string
	}{
		{epoch, "2027-03-24T00:00:00Z"},
		{epoch.Add(time.Second), "2027-03-24T00:12:00Z"},
		{epoch.Add(time.Hour), "2027-04-23T00:00:00Z"}, // 720 hours: a month in an hour
		{epoch.Add(-5 * time.Second), "2027-03-23T23:00:00Z"},
		{epoch.Add(2*time.Hour + 500*time.Millisecond), "2027-05-23T00:06:00Z"},
	}
	for _, tt := range tests {
		wall = tt.wall
		if got := c.Now(); !got.Equal(mustTime(t, tt.want)) {
			t.Errorf("Now() at wall %v = %v, want %s", tt.wall, got, tt.want)
		}
	}
}

// TestWaitAndSim: a simulated duration is Scale times the wall one.
func TestWaitAndSim(t *testing.T) {
	c, err := New(time.Time{}, time.Time{}, 3600)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	tests := []struct{ sim, wall time.Duration }{
		{time.Hour, time.Second},
		{time.Minute, time.Second / 60},
		{24 * time.Hour, 24 * time.Second},
		{0, 0},
		{-time.Hour, -time.Hour}, // already due: no wait, as with the wall clock
	}
	for _, tt := range tests {
		if got := c.Wait(tt.sim); got != tt.wall {
			t.Errorf("Wait(%v) = %v, want %v", tt.sim, got, tt.wall)
		}
	}
	if got := c.Sim(5 * time.Second); got != 5*time.Hour {
		t.Errorf("Sim(5s) = %v, want 5h", got)
	}
	if got := c.Wait(time.Nanosecond); got != time.Nanosecond {
		t.Errorf("Wait(1ns) = %v, want 1ns (never 0: a ticker panics on 0)", got)
	}
}

// TestTimersFireAfterTheScaledWait: a simulated hour at a scale of 3.6e6
// is a wall millisecond; with the wall clock these would wait an hour and
// the test would hit its bound.
func TestTimersFireAfterTheScaledWait(t *testing.T) {
	c, err := New(time.Time{}, time.Time{}, 3.6e6)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	bound := time.NewTimer(10 * time.Second)
	defer bound.Stop()
	timer := c.NewTimer(time.Hour)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-bound.C:
		t.Fatalf("NewTimer(1h) at scale 3.6e6 did not fire within 10s")
	}
	tick := c.NewTicker(time.Hour)
	defer tick.Stop()
	for i := range 3 {
		select {
		case <-tick.C:
		case <-bound.C:
			t.Fatalf("NewTicker(1h) at scale 3.6e6 ticked %d times within 10s, want 3", i)
		}
	}
}

// TestWallIsTheDefault: unset, empty, the zero Clock and a nil *Clock are
// the wall clock: production keeps time.Now and real waits.
func TestWallIsTheDefault(t *testing.T) {
	empty, err := Parse("")
	if err != nil {
		t.Fatalf(`Parse("") = %v, want nil`, err)
	}
	var nilClock *Clock
	for name, c := range map[string]*Clock{"Parse(\"\")": empty, "Wall()": Wall(), "&Clock{}": {}, "nil": nilClock} {
		before := time.Now()
		got := c.Now()
		after := time.Now()
		if got.Before(before) || got.After(after) {
			t.Errorf("%s.Now() = %v, want between %v and %v", name, got, before, after)
		}
		if c.Scaled() || c.Wait(time.Hour) != time.Hour || c.Sim(time.Hour) != time.Hour || c.String() != "wall" {
			t.Errorf("%s = %s scaled %v, Wait(1h) = %v, Sim(1h) = %v, want the wall clock", name, c, c.Scaled(), c.Wait(time.Hour), c.Sim(time.Hour))
		}
	}
}
