package policy

import (
	"strings"
	"testing"
	"time"
)

func newCal(t *testing.T, c CalendarConfig) *Calendar {
	t.Helper()
	if c.WorkDays == nil {
		c.WorkDays = []string{"mon", "tue", "wed", "thu", "fri"}
	}
	if c.WorkingHours == "" {
		c.WorkingHours = "09:00-17:00"
	}
	k, err := NewCalendar(c)
	if err != nil {
		t.Fatalf("NewCalendar(%+v) = %v", c, err)
	}
	return k
}

func TestCalendarWorkdayAndHoliday(t *testing.T) {
	berlin := newCal(t, CalendarConfig{TimeZone: "Europe/Berlin", Country: "DE", Region: "BE"})
	germany := newCal(t, CalendarConfig{TimeZone: "Europe/Berlin", Country: "de"})
	nl := newCal(t, CalendarConfig{TimeZone: "Europe/Amsterdam", Country: "NL", Closed: []string{"2026-12-31"}})
	tests := []struct {
		name    string
		c       *Calendar
		at      string
		workday bool
		holiday string
	}{
		{"plain Monday", germany, "2026-03-02T10:00:00+01:00", true, ""},
		{"Saturday", germany, "2026-03-07T10:00:00+01:00", false, ""},
		{"Sunday", germany, "2026-03-08T10:00:00+01:00", false, ""},
		{"Good Friday", germany, "2026-04-03T10:00:00+02:00", false, "Karfreitag"},
		{"Easter Monday", germany, "2026-04-06T10:00:00+02:00", false, "Ostermontag"},
		// 22:30 UTC on Sunday is already Easter Monday in Berlin.
		{"Easter Monday by local date", germany, "2026-04-05T22:30:00Z", false, "Ostermontag"},
		{"Christmas Eve is a work day", germany, "2026-12-24T10:00:00+01:00", true, ""},
		{"Christmas", germany, "2026-12-25T10:00:00+01:00", false, "Weihnachtstag"},
		{"New Year", germany, "2027-01-01T10:00:00+01:00", false, "Neujahrstag"},
		{"Frauentag only in Berlin", germany, "2027-03-08T10:00:00+01:00", true, ""},
		{"Frauentag in Berlin", berlin, "2027-03-08T10:00:00+01:00", false, "Frauentag"},
		{"King's Day", nl, "2026-04-27T10:00:00+02:00", false, "Koningsdag"},
		{"King's Day on Sunday observed Saturday", nl, "2025-04-26T10:00:00+02:00", false, "Koningsdag"},
		{"extra closure", nl, "2026-12-31T10:00:00+01:00", false, "closure"},
	}
	for _, tt := range tests {
		at := ts(t, tt.at)
		if got := tt.c.IsWorkday(at); got != tt.workday {
			t.Errorf("%s: IsWorkday(%s) = %v, want %v", tt.name, tt.at, got, tt.workday)
		}
		name, ok := tt.c.Holiday(at)
		if ok != (tt.holiday != "") || name != tt.holiday {
			t.Errorf("%s: Holiday(%s) = %q, %v, want %q", tt.name, tt.at, name, ok, tt.holiday)
		}
	}
}

func TestCalendarWorkingHours(t *testing.T) {
	c := newCal(t, CalendarConfig{TimeZone: "Europe/Berlin", Country: "DE"})
	tests := []struct {
		at     string
		inside bool
		next   string
	}{
		{"2026-03-02T08:59:59+01:00", false, "2026-03-02T09:00:00+01:00"},
		{"2026-03-02T09:00:00+01:00", true, "2026-03-02T09:00:00+01:00"},
		{"2026-03-02T16:59:00+01:00", true, "2026-03-02T16:59:00+01:00"},
		{"2026-03-02T17:00:00+01:00", false, "2026-03-03T09:00:00+01:00"},
		{"2026-03-06T19:00:00+01:00", false, "2026-03-09T09:00:00+01:00"}, // Friday evening
		{"2026-04-02T19:00:00+02:00", false, "2026-04-07T09:00:00+02:00"}, // before Easter
		{"2026-03-28T12:00:00+01:00", false, "2026-03-30T09:00:00+02:00"}, // over the DST change
		{"2026-12-31T18:00:00+01:00", false, "2027-01-04T09:00:00+01:00"}, // over the new year
	}
	for _, tt := range tests {
		at := ts(t, tt.at)
		if got := c.InWorkingHours(at); got != tt.inside {
			t.Errorf("InWorkingHours(%s) = %v, want %v", tt.at, got, tt.inside)
		}
		if got := c.NextWorkingMoment(at); !got.Equal(ts(t, tt.next)) {
			t.Errorf("NextWorkingMoment(%s) = %s, want %s", tt.at, got.Format(time.RFC3339), tt.next)
		}
	}
}

func TestCalendarAdd(t *testing.T) {
	c := newCal(t, CalendarConfig{TimeZone: "Europe/Berlin", Country: "DE"})
	tests := []struct {
		name, start, d, want string
	}{
		{"inside hours", "2026-03-02T10:00:00+01:00", "1bd", "2026-03-03T10:00:00+01:00"},
		{"before opening", "2026-03-02T08:00:00+01:00", "1bd", "2026-03-02T17:00:00+01:00"},
		{"at closing", "2026-03-02T17:00:00+01:00", "1bd", "2026-03-03T17:00:00+01:00"},
		{"over a weekend", "2026-03-06T10:00:00+01:00", "1bd", "2026-03-09T10:00:00+01:00"},
		{"from a Saturday", "2026-03-07T12:00:00+01:00", "5bd", "2026-03-13T17:00:00+01:00"},
		{"Friday evening before Whit Monday", "2026-05-22T19:00:00+02:00", "1bd", "2026-05-26T17:00:00+02:00"},
		{"Thursday evening before Easter", "2026-04-02T19:00:00+02:00", "1bd", "2026-04-07T17:00:00+02:00"},
		{"Christmas", "2026-12-23T12:00:00+01:00", "3bd", "2026-12-29T12:00:00+01:00"},
		{"year boundary", "2026-12-31T15:00:00+01:00", "2bd", "2027-01-05T15:00:00+01:00"},
		{"DST spring, business days", "2026-03-27T10:00:00+01:00", "1bd", "2026-03-30T10:00:00+02:00"},
		{"DST autumn, business days", "2026-10-23T10:00:00+02:00", "1bd", "2026-10-26T10:00:00+01:00"},
		{"DST spring, calendar day", "2026-03-28T12:00:00+01:00", "1d", "2026-03-29T12:00:00+02:00"},
		{"DST autumn, calendar days", "2026-10-24T12:00:00+02:00", "2d", "2026-10-26T12:00:00+01:00"},
		{"DST spring, hours are exact", "2026-03-28T12:00:00+01:00", "24h", "2026-03-29T13:00:00+02:00"},
		{"DST autumn, hours are exact", "2026-10-24T12:00:00+02:00", "24h", "2026-10-25T11:00:00+01:00"},
		{"DST autumn, a week", "2026-10-20T09:30:00+02:00", "1w", "2026-10-27T09:30:00+01:00"},
		{"weeks ignore holidays", "2026-12-18T19:00:00+01:00", "2w", "2027-01-01T19:00:00+01:00"},
		{"90 days", "2026-03-27T16:00:00+01:00", "90d", "2026-06-25T16:00:00+02:00"},
	}
	for _, tt := range tests {
		d, err := ParseDuration(tt.d)
		if err != nil {
			t.Fatalf("ParseDuration(%q) = %v", tt.d, err)
		}
		got := c.Add(ts(t, tt.start), d)
		if !got.Equal(ts(t, tt.want)) {
			t.Errorf("%s: Add(%s, %s) = %s, want %s", tt.name, tt.start, tt.d, got.In(c.Location()).Format(time.RFC3339), tt.want)
		}
	}
}

func TestCalendarResume(t *testing.T) {
	c := newCal(t, CalendarConfig{TimeZone: "Europe/Berlin", Country: "DE"})
	tests := []struct {
		name              string
		due, pausedAt, at string
		unit              Unit
		want              string
	}{
		// 2h Fri + 2h Mon left; resumed Tue 10:00 -> Tue 14:00.
		{"business days", "2026-03-09T11:00:00+01:00", "2026-03-06T15:00:00+01:00", "2026-03-10T10:00:00+01:00", BusinessDays, "2026-03-10T14:00:00+01:00"},
		// Paused in the evening: the 2h of Monday are left; resumed on a Saturday.
		{"paused outside hours", "2026-03-09T11:00:00+01:00", "2026-03-06T20:00:00+01:00", "2026-03-14T10:00:00+01:00", BusinessDays, "2026-03-16T11:00:00+01:00"},
		// A full day left ends at a closing time, not the next opening.
		{"full day left", "2026-03-10T10:00:00+01:00", "2026-03-09T10:00:00+01:00", "2026-03-11T09:00:00+01:00", BusinessDays, "2026-03-11T17:00:00+01:00"},
		{"hours", "2026-03-09T11:00:00+01:00", "2026-03-09T10:00:00+01:00", "2026-03-09T12:30:00+01:00", Hours, "2026-03-09T13:30:00+01:00"},
		{"paused after due", "2026-03-09T11:00:00+01:00", "2026-03-09T12:00:00+01:00", "2026-03-10T12:00:00+01:00", BusinessDays, "2026-03-09T11:00:00+01:00"},
	}
	for _, tt := range tests {
		got := c.resume(ts(t, tt.due), ts(t, tt.pausedAt), ts(t, tt.at), tt.unit)
		if !got.Equal(ts(t, tt.want)) {
			t.Errorf("%s: resume() = %s, want %s", tt.name, got.In(c.Location()).Format(time.RFC3339), tt.want)
		}
	}
}

func TestNewCalendarErrors(t *testing.T) {
	tests := []struct {
		c    CalendarConfig
		want string
	}{
		{CalendarConfig{TimeZone: "Mars/Olympus", WorkDays: []string{"mon"}, WorkingHours: "09:00-17:00", Country: "DE"}, `time_zone: unknown time zone "Mars/Olympus"`},
		{CalendarConfig{TimeZone: "UTC", WorkDays: []string{"monday"}, WorkingHours: "09:00-17:00", Country: "DE"}, `work_days: unknown day "monday"`},
		{CalendarConfig{TimeZone: "UTC", WorkDays: []string{"mon"}, WorkingHours: "17:00-09:00", Country: "DE"}, `working_hours: working hours "17:00-09:00" end before they begin`},
		{CalendarConfig{TimeZone: "UTC", WorkDays: []string{"mon"}, WorkingHours: "9-17", Country: "DE"}, `working_hours: invalid working hours "9-17"`},
		{CalendarConfig{TimeZone: "UTC", WorkDays: []string{"mon"}, WorkingHours: "09:00-17:00", Country: "AU"}, `region: country "AU" needs a region`},
		{CalendarConfig{TimeZone: "UTC", WorkDays: []string{"mon"}, WorkingHours: "09:00-17:00", Country: "DE", Closed: []string{"24.12.2026"}}, `closed[0]: invalid date "24.12.2026"`},
	}
	for _, tt := range tests {
		_, err := NewCalendar(tt.c)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewCalendar(%+v) = %v, want %q", tt.c, err, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want Duration
		err  string
	}{
		{"3bd", Duration{3, BusinessDays}, ""},
		{"48h", Duration{48, Hours}, ""},
		{"7d", Duration{7, Days}, ""},
		{"1w", Duration{1, Weeks}, ""},
		{" 90 d ", Duration{90, Days}, ""},
		{"-3bd", Duration{}, "negative duration"},
		{"0d", Duration{}, "zero duration"},
		{"3 business days", Duration{}, "invalid duration"},
		{"1001d", Duration{}, "too long"},
		{"99999999999999999999d", Duration{}, "too long"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDuration(%q) = %v, %v, want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
		if got.String() != strings.ReplaceAll(strings.TrimSpace(tt.in), " ", "") {
			t.Errorf("Duration.String() = %q, want %q", got.String(), tt.in)
		}
	}
}
