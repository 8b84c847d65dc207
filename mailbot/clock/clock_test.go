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

// exampleClock is the clock of example, its epoch, and what sets the wall
// time it reads.
func exampleClock(t *testing.T) (c *Clock, epoch time.Time, setWall func(time.Time)) {
	t.Helper()
	c, err := Parse(example)
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	var wall time.Time
	c.wall = func() time.Time { return wall }
	return c, mustTime(t, "2026-12-06T07:30:00.123456789Z"), func(w time.Time) { wall = w }
}

// TestNowFollowsTheMapping: Now = Start + (wall - Epoch) * Scale, also
// before the epoch and after a jump of the wall clock (a suspend).
func TestNowFollowsTheMapping(t *testing.T) {
	c, epoch, setWall := exampleClock(t)
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
		setWall(tt.wall)
		if got := c.Now(); !got.Equal(mustTime(t, tt.want)) {
			t.Errorf("Now() at wall %v = %v, want %s", tt.wall, got, tt.want)
		}
	}
}

// TestBeyondTheDurationRange: a product past time.Duration's 292 years
// saturates instead of wrapping around: far from the epoch simulated time
// still never runs backwards, and a very slow clock waits long, never a
// nanosecond (a ticker that spins).
func TestBeyondTheDurationRange(t *testing.T) {
	c, epoch, setWall := exampleClock(t)
	setWall(epoch)
	last := c.Now()
	for _, days := range []int{100, 200, 400, -200} {
		setWall(epoch.AddDate(0, 0, days))
		got := c.Now()
		if days > 0 && got.Before(last) || days < 0 && !got.Before(mustTime(t, "2027-03-24T00:00:00Z")) {
			t.Errorf("Now() at %d wall days from the epoch = %v, want time to keep its direction (before: %v)", days, got, last)
		}
		last = got
	}
	slow, err := New(time.Time{}, time.Time{}, 1e-9)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	if got := slow.Wait(time.Hour); got < time.Hour {
		t.Errorf("Wait(1h) at scale 1e-9 = %v, want at least an hour", got)
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

// FuzzParse: Parse never panics, and what it accepts it writes back
// (String) in a form it reads as the same clock.
func FuzzParse(f *testing.F) {
	f.Add("start=2027-03-24T00:00:00Z,epoch=2026-12-06T07:30:00.123456789Z,scale=720")
	f.Add(" scale=1e-9 , epoch=2026-12-06T07:30:00+01:00,start=0001-01-01T00:00:00Z")
	f.Add("start=2027-03-24T00:00:00Z,start=2027-03-24T00:00:00Z")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil || !c.Scaled() {
			return // the wall clock is written "wall" (for logs), set by leaving Env empty
		}
		again, err := Parse(c.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %v, want the clock %q read back", c.String(), err, c)
		}
		if again.String() != c.String() {
			t.Fatalf("Parse(%q).String() = %q, want %q", c.String(), again.String(), c.String())
		}
		if c.Wait(time.Hour) <= 0 {
			t.Fatalf("Parse(%q).Wait(1h) = %v, want a positive wait", s, c.Wait(time.Hour))
		}
	})
}
