package soak

import (
	"testing"
	"time"

	"mailbot/policy"
)

func seedCalendar(t *testing.T, name string) (*policy.Policy, *businessCalendar) {
	t.Helper()
	p, k, err := loadPolicy(policyDir, name)
	if err != nil {
		t.Fatal(err)
	}
	return p, k
}

func at(t *testing.T, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCalendarEaster: Good Friday (2027-03-26) and Easter Monday (03-29) as
// the holiday data of each seed policy's country says.
func TestCalendarEaster(t *testing.T) {
	for _, tc := range []struct {
		policy                string
		goodFriday, easterMon bool
	}{
		{"000_caspar_health.toml", true, true}, // DE-BE
		{"001_coosto.toml", true, true},        // NL: Goede Vrijdag is in the NL list
		{"002_imis_innovation.toml", true, true},
		{"003_unnamed_it.toml", false, true}, // IT: Pasquetta only
		{"004_centuran.toml", false, true},   // PL: Poniedziałek Wielkanocny only
	} {
		_, k := seedCalendar(t, tc.policy)
		z := k.loc.String()
		if got := !k.isWorkday(at(t, z, "2027-03-26 12:00")); got != tc.goodFriday {
			t.Errorf("%s: Good Friday a holiday = %v, want %v", tc.policy, got, tc.goodFriday)
		}
		if got := !k.isWorkday(at(t, z, "2027-03-29 12:00")); got != tc.easterMon {
			t.Errorf("%s: Easter Monday a holiday = %v, want %v", tc.policy, got, tc.easterMon)
		}
		if k.isWorkday(at(t, z, "2027-03-27 12:00")) || !k.isWorkday(at(t, z, "2027-03-25 12:00")) {
			t.Errorf("%s: Saturday or Thursday wrong", tc.policy)
		}
	}
}

// TestCalendarDeadlines: deadlines worked out by hand over Easter and the
// EU DST change (2027-03-28 02:00 CET -> 03:00 CEST), 09:00-17:00.
func TestCalendarDeadlines(t *testing.T) {
	for _, tc := range []struct {
		name, policy, from, dur, want string
	}{
		{"3bd over Good Friday, Easter Monday and DST", "000_caspar_health.toml", "2027-03-25 10:00", "3bd", "2027-04-01 10:00"},
		{"17:30 arrival: 1bd from the next opening is its closing", "002_imis_innovation.toml", "2027-03-24 17:30", "1bd", "2027-03-25 17:00"},
		{"08:00 arrival: the same", "002_imis_innovation.toml", "2027-03-24 08:00", "1bd", "2027-03-24 17:00"},
		{"1bd from Thursday 16:30 before Easter", "002_imis_innovation.toml", "2027-03-25 16:30", "1bd", "2027-03-30 16:30"},
		{"1w keeps the local clock over DST", "004_centuran.toml", "2027-03-26 10:00", "1w", "2027-04-02 10:00"},
		{"48h is exact over DST", "002_imis_innovation.toml", "2027-03-27 12:00", "48h", "2027-03-29 13:00"},
		{"7bd in Italy: Good Friday works, Easter Monday not", "003_unnamed_it.toml", "2027-03-24 09:00", "7bd", "2027-04-02 17:00"},
		{"3bd from Thursday 16:00 in NL: Good Friday and Easter Monday off", "001_coosto.toml", "2027-03-25 16:00", "3bd", "2027-04-01 16:00"},
		{"10bd over Easter", "000_caspar_health.toml", "2027-03-22 14:45", "10bd", "2027-04-07 14:45"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, k := seedCalendar(t, tc.policy)
			d, err := policy.ParseDuration(tc.dur)
			if err != nil {
				t.Fatal(err)
			}
			z := k.loc.String()
			if got, want := k.deadline(at(t, z, tc.from), d), at(t, z, tc.want); !got.Equal(want) {
				t.Errorf("deadline(%s, %s) = %v, want %v", tc.from, tc.dur, got.In(k.loc), want)
			}
		})
	}
}

// TestCalendarAgreesWithPolicy: over the month's span, every 37 minutes,
// the oracle's arithmetic gives the policy package's deadline for each
// commitment of each seed policy. Two implementations that agree make the
// oracle's verdicts about the product's timing trustworthy.
func TestCalendarAgreesWithPolicy(t *testing.T) {
	for _, s := range seedInstances {
		p, k := seedCalendar(t, s.policy)
		start := MonthOptions(1).Start
		for from := start; from.Before(start.Add(30 * 24 * time.Hour)); from = from.Add(37 * time.Minute) {
			for _, cm := range p.Commitments {
				if got, want := k.deadline(from, cm.Duration), p.Calendar.Add(from, cm.Duration); !got.Equal(want) {
					t.Fatalf("%s %s from %v: deadline = %v, want %v (policy)", s.policy, cm.Name, from.In(k.loc), got.In(k.loc), want.In(k.loc))
				}
			}
			if got, want := k.nextWorking(from), p.Calendar.NextWorkingMoment(from); !got.Equal(want) {
				t.Fatalf("%s: nextWorking(%v) = %v, want %v", s.policy, from.In(k.loc), got, want)
			}
		}
	}
}
