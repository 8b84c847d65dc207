package soak

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestGenerateDeterministic(t *testing.T) {
	for _, mode := range []struct {
		name string
		opt  func(int64) GenOptions
	}{{"short", ShortOptions}, {"month", MonthOptions}} {
		t.Run(mode.name, func(t *testing.T) {
			a, b := Generate(mode.opt(1)), Generate(mode.opt(1))
			if !reflect.DeepEqual(a, b) {
				t.Errorf("Generate(seed 1) twice differs")
			}
			if c := Generate(mode.opt(2)); reflect.DeepEqual(a.Actions, c.Actions) || reflect.DeepEqual(a.Faults, c.Faults) {
				t.Errorf("Generate(seed 2) = Generate(seed 1), want a different plan")
			}
		})
	}
}

func TestGenerateCounts(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		opt                  GenOptions
		minReports, maxRep   int
		minFaults, maxFaults int
	}{
		{"short", ShortOptions(1), 55, 65, 8, 8},
		{"month", MonthOptions(1), 500, 600, 30, 40},
		{"month seed 7", MonthOptions(7), 500, 600, 30, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Generate(tc.opt)
			count := map[ActionKind]int{}
			formats := map[string]bool{}
			instances := map[string]int{}
			forgotten := 0
			ids := map[string]bool{}
			for i, a := range p.Actions {
				count[a.Kind]++
				if ids[a.ID] {
					t.Errorf("action id %s twice", a.ID)
				}
				ids[a.ID] = true
				if i > 0 && a.At.Before(p.Actions[i-1].At) {
					t.Errorf("action %s at %v before the one before it", a.ID, a.At)
				}
				if a.At.Before(p.Start) || !a.At.Before(p.Start.Add(p.Span)) {
					t.Errorf("action %s at %v outside the span", a.ID, a.At)
				}
				if a.Kind == ActReport {
					formats[a.Format] = true
					instances[a.Instance]++
					if a.Forget {
						forgotten++
					}
				}
			}
			if n := count[ActReport]; n < tc.minReports || n > tc.maxRep {
				t.Errorf("reports = %d, want %d..%d", n, tc.minReports, tc.maxRep)
			}
			for _, k := range ActionKinds {
				if count[k] == 0 {
					t.Errorf("no action of kind %s", k)
				}
			}
			for _, f := range Formats {
				if !formats[f] {
					t.Errorf("no report in format %s", f)
				}
			}
			if len(p.Instances) != 5 {
				t.Fatalf("instances = %d, want 5", len(p.Instances))
			}
			for _, in := range p.Instances {
				if instances[in.Name] == 0 {
					t.Errorf("no report to %s", in.Name)
				}
				if len(in.Team) < 3 || len(in.Team) > 4 || in.Lead == "" {
					t.Errorf("%s: team %v lead %q, want 3-4 members and a lead", in.Name, in.Team, in.Lead)
				}
				if _, err := os.Stat(filepath.Join(policyDir, in.Policy)); err != nil {
					t.Errorf("%s: policy: %v", in.Name, err)
				}
			}
			if share := float64(forgotten) / float64(count[ActReport]); share < 0.15 || share > 0.25 {
				t.Errorf("forgotten share = %.2f, want about 0.2", share)
			}
			if n := len(p.Faults); n < tc.minFaults || n > tc.maxFaults {
				t.Errorf("faults = %d, want %d..%d", n, tc.minFaults, tc.maxFaults)
			}
			kinds := map[FaultKind]bool{}
			for i, f := range p.Faults {
				kinds[f.Kind] = true
				if f.At.Before(p.Start.Add(24*time.Hour)) || f.At.Add(f.For).After(p.Start.Add(p.Span-24*time.Hour)) {
					t.Errorf("fault %d (%s) at %v for %v: in the first or last day", i, f.Kind, f.At, f.For)
				}
				if i > 0 && f.At.Before(p.Faults[i-1].At.Add(p.Faults[i-1].For)) {
					t.Errorf("fault %d (%s) at %v overlaps the one before", i, f.Kind, f.At)
				}
			}
			for _, k := range FaultKinds {
				if !kinds[k] {
					t.Errorf("no fault of kind %s", k)
				}
			}
			for _, s := range append(RobotSamples, SpamSamples...) {
				if _, err := os.Stat(filepath.Join("../..", s)); err != nil {
					t.Errorf("sample: %v", err)
				}
			}
			t.Logf("%s: %d actions %v, %d faults", tc.name, len(p.Actions), count, len(p.Faults))
		})
	}
}

// TestGenerateTeamOnDuty: every team action comes from a member on duty at
// its time, and the swaps change who that is.
func TestGenerateTeamOnDuty(t *testing.T) {
	p := Generate(MonthOptions(1))
	byName := map[string]Instance{}
	for _, in := range p.Instances {
		byName[in.Name] = in
	}
	for _, a := range p.Actions {
		if a.Kind != ActTeamCommand && a.Kind != ActTeamReply {
			continue
		}
		in := byName[a.Instance]
		loc, _ := time.LoadLocation(in.Zone)
		pair := in.OnDuty(a.At, loc, weekday)
		if a.From != pair[0].Address && a.From != pair[1].Address {
			t.Errorf("%s from %s at %v, on duty %v", a.ID, a.From, a.At, pair)
		}
	}
	swapped := 0
	for _, in := range p.Instances {
		loc, _ := time.LoadLocation(in.Zone)
		for _, s := range in.DutySwaps {
			day, _ := time.ParseInLocation(time.DateOnly, s.From, loc)
			plain := in
			plain.DutySwaps = nil
			if in.OnDuty(day.Add(12*time.Hour), loc, weekday) != plain.OnDuty(day.Add(12*time.Hour), loc, weekday) {
				swapped++
			}
		}
	}
	if swapped == 0 {
		t.Errorf("no duty swap changes who is on duty")
	}
}
