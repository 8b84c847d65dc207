package policy

import (
	"path/filepath"
	"testing"
	"time"
)

// ts parses an RFC 3339 literal; tests write expected deadlines by hand in
// this form, with the local offset, so a reader can check them on a calendar.
func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad time literal %q: %v", s, err)
	}
	return v
}

func seedPolicy(t *testing.T, file string) *Policy {
	t.Helper()
	p, err := Load(filepath.Join("..", "testdata", "policies", file))
	if err != nil {
		t.Fatalf("Load(%s) = %v", file, err)
	}
	return p
}

var seedFiles = []string{
	"000_caspar_health.toml",
	"001_coosto.toml",
	"002_imis_innovation.toml",
	"003_unnamed_it.toml",
	"004_centuran.toml",
}

// want is the expected state of one clock; due "" is not checked.
type want struct {
	state, due string
}

// step is one event of a case and the clocks expected after it.
type step struct {
	ev      Event  // "" for Refresh at at
	at      string // RFC 3339
	clocks  map[string]want
	nClocks int // expected number of clocks; -1 not checked
}

// drive runs the steps through p and checks each expectation.
func drive(t *testing.T, p *Policy, steps []step) []Clock {
	t.Helper()
	var clocks []Clock
	for i, s := range steps {
		at := ts(t, s.at)
		if s.ev == "" {
			clocks = p.Refresh(clocks, at)
		} else {
			clocks = p.Apply(clocks, s.ev, at)
		}
		if s.nClocks >= 0 && len(clocks) != s.nClocks {
			t.Errorf("step %d (%s at %s): %d clocks %+v, want %d", i, s.ev, s.at, len(clocks), clocks, s.nClocks)
		}
		for name, w := range s.clocks {
			var c *Clock
			for j := range clocks {
				if clocks[j].Name == name {
					c = &clocks[j]
				}
			}
			if c == nil {
				t.Errorf("step %d (%s at %s): no clock %q in %+v", i, s.ev, s.at, name, clocks)
				continue
			}
			if c.State != w.state {
				t.Errorf("step %d (%s at %s): clock %q state = %q, want %q", i, s.ev, s.at, name, c.State, w.state)
			}
			if w.due != "" && !c.Due.Equal(ts(t, w.due)) {
				t.Errorf("step %d (%s at %s): clock %q Due = %s, want %s", i, s.ev, s.at, name,
					c.Due.In(p.Calendar.Location()).Format(time.RFC3339), w.due)
			}
		}
	}
	return clocks
}
