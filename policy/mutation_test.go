package policy

// Tests that make `make mutate` (gremlins) notice when the calendar or the
// clock rules are changed: times given in another zone than the calendar's,
// working hours and times off the full hour, holidays observed on a
// substitute day, several clocks of which only a later one reacts, and
// calendars that must be refused.

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCalendarOtherZones passes each instant in UTC and in New York time:
// every answer must be the one for Berlin's wall clock, so dropping a
// conversion to the calendar's zone fails here.
func TestCalendarOtherZones(t *testing.T) {
	c := newCal(t, CalendarConfig{TimeZone: "Europe/Berlin", Country: "DE"})
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	zones := []*time.Location{time.UTC, newYork}

	hours := []struct {
		name    string
		at      string // UTC
		workday bool
		holiday string
		inside  bool
		next    string
	}{
		// Berlin 09:30 Monday; 08:30 in UTC would be before opening.
		{"inside in Berlin only", "2026-03-02T08:30:00Z", true, "", true, "2026-03-02T09:30:00+01:00"},
		// Berlin 17:30 Monday; 16:30 in UTC would be inside.
		{"after closing in Berlin only", "2026-03-02T16:30:00Z", true, "", false, "2026-03-03T09:00:00+01:00"},
		// Berlin 00:30 on Saturday; still Friday in UTC and New York.
		{"Saturday in Berlin only", "2026-03-06T23:30:00Z", false, "", false, "2026-03-09T09:00:00+01:00"},
		// Berlin 00:30 on Tuesday; Monday 23:30 in UTC.
		{"Tuesday night in Berlin", "2026-03-02T23:30:00Z", true, "", false, "2026-03-03T09:00:00+01:00"},
		// Berlin 07:30 Monday: opens the same day.
		{"before opening", "2026-03-02T06:30:00Z", true, "", false, "2026-03-02T09:00:00+01:00"},
		// Berlin 00:30 on Easter Monday; Easter Sunday in UTC.
		{"Easter Monday in Berlin only", "2026-04-05T22:30:00Z", false, "Ostermontag", false, "2026-04-07T09:00:00+02:00"},
	}
	for _, tt := range hours {
		for _, z := range zones {
			at := ts(t, tt.at).In(z)
			if got := c.IsWorkday(at); got != tt.workday {
				t.Errorf("%s: IsWorkday(%s) = %v, want %v", tt.name, at, got, tt.workday)
			}
			if name, ok := c.Holiday(at); name != tt.holiday || ok != (tt.holiday != "") {
				t.Errorf("%s: Holiday(%s) = %q, %v, want %q", tt.name, at, name, ok, tt.holiday)
			}
			if got := c.InWorkingHours(at); got != tt.inside {
				t.Errorf("%s: InWorkingHours(%s) = %v, want %v", tt.name, at, got, tt.inside)
			}
			if got := c.NextWorkingMoment(at); !got.Equal(ts(t, tt.next)) {
				t.Errorf("%s: NextWorkingMoment(%s) = %s, want %s", tt.name, at, got.In(c.Location()).Format(time.RFC3339), tt.next)
			}
		}
	}

	adds := []struct {
		name, start, d, want string // start in UTC, want in Berlin time
	}{
		{"business day inside hours", "2026-03-02T09:00:00Z", "1bd", "2026-03-03T10:00:00+01:00"},
		// Berlin 09:00 exactly: the day's close, not the next opening.
		{"business day from the opening", "2026-03-02T08:00:00Z", "1bd", "2026-03-02T17:00:00+01:00"},
		{"business days over Easter", "2026-04-02T13:00:00Z", "2bd", "2026-04-08T15:00:00+02:00"},
		// Wall clock in Berlin across the spring DST change: 23h later.
		{"calendar day over DST", "2026-03-28T11:00:00Z", "1d", "2026-03-29T12:00:00+02:00"},
		{"week over DST", "2026-10-20T07:30:00Z", "1w", "2026-10-27T09:30:00+01:00"},
		{"hours are exact", "2026-03-28T11:00:00Z", "24h", "2026-03-29T13:00:00+02:00"},
	}
	for _, tt := range adds {
		d, err := ParseDuration(tt.d)
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range zones {
			start := ts(t, tt.start).In(z)
			if got := c.Add(start, d); !got.Equal(ts(t, tt.want)) {
				t.Errorf("%s: Add(%s, %s) = %s, want %s", tt.name, start, tt.d, got.In(c.Location()).Format(time.RFC3339), tt.want)
			}
		}
	}

	p := &Policy{Calendar: c, Disclosure: Disclosure{Days: 90}}
	for _, z := range zones {
		// 16:00 in Berlin in March; 90 days later is summer time.
		received := ts(t, "2026-03-27T15:00:00Z").In(z)
		if got, want := p.DisclosureDate(received), ts(t, "2026-06-25T16:00:00+02:00"); !got.Equal(want) {
			t.Errorf("DisclosureDate(%s) = %s, want %s", received, got.In(c.Location()).Format(time.RFC3339), want.Format(time.RFC3339))
		}
	}

	// Auckland's working day (+13:00 in March) starts on the day before in
	// UTC: 2h of Monday and 2h of Tuesday were left; resumed Wednesday
	// 10:00, that is Tuesday 21:00 in UTC.
	nz := newCal(t, CalendarConfig{TimeZone: "Pacific/Auckland", Country: "NZ"})
	for _, z := range zones {
		due := ts(t, "2026-03-03T11:00:00+13:00").In(z)
		pausedAt := ts(t, "2026-03-02T15:00:00+13:00").In(z)
		at := ts(t, "2026-03-04T10:00:00+13:00").In(z)
		if got, want := nz.resume(due, pausedAt, at, BusinessDays), ts(t, "2026-03-04T14:00:00+13:00"); !got.Equal(want) {
			t.Errorf("resume(%s, %s, %s) = %s, want %s", due, pausedAt, at, got.In(nz.Location()).Format(time.RFC3339), want.Format(time.RFC3339))
		}
	}
	for _, z := range zones {
		// 2h of Friday and 2h of Monday were left; resumed Tuesday 10:00.
		due := ts(t, "2026-03-09T10:00:00Z").In(z)
		pausedAt := ts(t, "2026-03-06T14:00:00Z").In(z)
		at := ts(t, "2026-03-10T09:00:00Z").In(z)
		if got, want := c.resume(due, pausedAt, at, BusinessDays), ts(t, "2026-03-10T14:00:00+01:00"); !got.Equal(want) {
			t.Errorf("resume(%s, %s, %s) = %s, want %s", due, pausedAt, at, got.In(c.Location()).Format(time.RFC3339), want.Format(time.RFC3339))
		}
	}
}

// TestCalendarMinutes: working hours and times off the full hour, down to
// seconds and nanoseconds.
func TestCalendarMinutes(t *testing.T) {
	nine := newCal(t, CalendarConfig{TimeZone: "Europe/Berlin", Country: "DE"})
	half := newCal(t, CalendarConfig{TimeZone: "Europe/Berlin", Country: "DE", WorkingHours: "09:30-17:30"})
	tests := []struct {
		name   string
		c      *Calendar
		at     string
		inside bool
		next   string
	}{
		{"17:30 after a 17:00 close", nine, "2026-03-02T17:30:00+01:00", false, "2026-03-03T09:00:00+01:00"},
		{"16:59:59 before a 17:00 close", nine, "2026-03-02T16:59:59+01:00", true, "2026-03-02T16:59:59+01:00"},
		{"09:00:30 after a 09:00 opening", nine, "2026-03-02T09:00:30+01:00", true, "2026-03-02T09:00:30+01:00"},
		{"09:00:00.5 after a 09:00 opening", nine, "2026-03-02T09:00:00.5+01:00", true, "2026-03-02T09:00:00.5+01:00"},
		{"09:15 before a 09:30 opening", half, "2026-03-02T09:15:00+01:00", false, "2026-03-02T09:30:00+01:00"},
		{"09:29:59 before a 09:30 opening", half, "2026-03-02T09:29:59+01:00", false, "2026-03-02T09:30:00+01:00"},
		{"09:30 opening", half, "2026-03-02T09:30:00+01:00", true, "2026-03-02T09:30:00+01:00"},
		{"17:15 before a 17:30 close", half, "2026-03-02T17:15:00+01:00", true, "2026-03-02T17:15:00+01:00"},
		{"17:30 close", half, "2026-03-02T17:30:00+01:00", false, "2026-03-03T09:30:00+01:00"},
		{"Friday 17:45", half, "2026-03-06T17:45:00+01:00", false, "2026-03-09T09:30:00+01:00"},
	}
	for _, tt := range tests {
		at := ts(t, tt.at)
		if got := tt.c.InWorkingHours(at); got != tt.inside {
			t.Errorf("%s: InWorkingHours(%s) = %v, want %v", tt.name, tt.at, got, tt.inside)
		}
		if got := tt.c.NextWorkingMoment(at); !got.Equal(ts(t, tt.next)) {
			t.Errorf("%s: NextWorkingMoment(%s) = %s, want %s", tt.name, tt.at, got.Format(time.RFC3339Nano), tt.next)
		}
	}

	adds := []struct {
		name           string
		c              *Calendar
		start, d, want string
	}{
		// Only exactly the opening counts as the opening.
		{"a second after the opening", nine, "2026-03-02T09:00:01+01:00", "1bd", "2026-03-03T09:00:01+01:00"},
		{"half a second after the opening", nine, "2026-03-02T09:00:00.5+01:00", "1bd", "2026-03-03T09:00:00.5+01:00"},
		{"at a 09:30 opening", half, "2026-03-02T09:30:00+01:00", "1bd", "2026-03-02T17:30:00+01:00"},
		{"before a 09:30 opening", half, "2026-03-03T08:00:00+01:00", "2bd", "2026-03-04T17:30:00+01:00"},
		{"after a 17:30 close", half, "2026-03-02T17:40:00+01:00", "1bd", "2026-03-03T17:30:00+01:00"},
		{"inside 09:30-17:30", half, "2026-03-02T17:20:00+01:00", "1bd", "2026-03-03T17:20:00+01:00"},
	}
	for _, tt := range adds {
		d, err := ParseDuration(tt.d)
		if err != nil {
			t.Fatal(err)
		}
		if got := tt.c.Add(ts(t, tt.start), d); !got.Equal(ts(t, tt.want)) {
			t.Errorf("%s: Add(%s, %s) = %s, want %s", tt.name, tt.start, tt.d, got.In(tt.c.Location()).Format(time.RFC3339Nano), tt.want)
		}
	}

	// Paused Monday 17:00 with 30 minutes of Monday and all of Tuesday
	// left; resumed Wednesday 10:00: 8h30 of working time.
	got := half.resume(ts(t, "2026-03-04T09:30:00+01:00"), ts(t, "2026-03-02T17:00:00+01:00"), ts(t, "2026-03-04T10:00:00+01:00"), BusinessDays)
	if want := ts(t, "2026-03-05T10:30:00+01:00"); !got.Equal(want) {
		t.Errorf("resume() with 09:30-17:30 = %s, want %s", got.Format(time.RFC3339), want.Format(time.RFC3339))
	}

	if open, close := half.WorkingHours(); open != "09:30" || close != "17:30" {
		t.Errorf("WorkingHours() = %s, %s, want 09:30, 17:30", open, close)
	}
	late := newCal(t, CalendarConfig{TimeZone: "UTC", Country: "DE", WorkingHours: "13:45-24:00", WorkDays: []string{"sun", "Sat", "mon"}})
	if open, close := late.WorkingHours(); open != "13:45" || close != "24:00" {
		t.Errorf("WorkingHours() = %s, %s, want 13:45, 24:00", open, close)
	}
	if got, want := late.WorkDays(), []time.Weekday{time.Monday, time.Saturday, time.Sunday}; !slices.Equal(got, want) {
		t.Errorf("WorkDays() = %v, want %v", got, want)
	}
	if !late.InWorkingHours(ts(t, "2026-03-02T23:59:59Z")) {
		t.Errorf("InWorkingHours(23:59:59) = false with hours 13:45-24:00, want true")
	}
}

// TestCalendarObservedHoliday: a holiday on a weekend is observed on a
// substitute work day, which is then no work day. In Britain in 2022
// Christmas (Sunday) and Boxing Day (Monday) were observed on Monday 26 and
// Tuesday 27 December.
func TestCalendarObservedHoliday(t *testing.T) {
	gb := newCal(t, CalendarConfig{TimeZone: "Europe/London", Country: "GB"})
	for _, tt := range []struct {
		at      string
		workday bool
		holiday string
	}{
		{"2022-12-23T10:00:00Z", true, ""},
		{"2022-12-26T10:00:00Z", false, "Christmas Day"},
		{"2022-12-27T10:00:00Z", false, "Boxing Day"}, // only observed
		{"2022-12-28T10:00:00Z", true, ""},
	} {
		at := ts(t, tt.at)
		if got := gb.IsWorkday(at); got != tt.workday {
			t.Errorf("IsWorkday(%s) = %v, want %v", tt.at, got, tt.workday)
		}
		if name, ok := gb.Holiday(at); name != tt.holiday || ok != (tt.holiday != "") {
			t.Errorf("Holiday(%s) = %q, %v, want %q", tt.at, name, ok, tt.holiday)
		}
	}
	if got, want := gb.Add(ts(t, "2022-12-23T10:00:00Z"), Duration{1, BusinessDays}), ts(t, "2022-12-28T10:00:00Z"); !got.Equal(want) {
		t.Errorf("Add(Fri 23 Dec 2022 10:00, 1bd) = %s, want %s", got.Format(time.RFC3339), want.Format(time.RFC3339))
	}
}

// TestCalendarNoWorkdayInReach: a calendar whose next working day is
// exactly as far as the walk goes finds it; one a day further is out of
// reach and the time itself is the answer.
func TestCalendarNoWorkdayInReach(t *testing.T) {
	start := ts(t, "2026-03-04T12:00:00Z") // a Wednesday
	reach := func(extra int) (*Calendar, time.Time) {
		// Only Mondays work, and every Monday up to the last one is closed.
		last := start.AddDate(0, 0, maxCalendarDays+extra)
		var closed []string
		for d := start.AddDate(0, 0, 1); d.Before(last); d = d.AddDate(0, 0, 1) {
			if d.Weekday() == time.Monday {
				closed = append(closed, d.Format("2006-01-02"))
			}
		}
		c := newCal(t, CalendarConfig{TimeZone: "UTC", Country: "NL", WorkDays: []string{"mon"}, Closed: closed})
		return c, last
	}
	// maxCalendarDays (7320) days after a Wednesday is a Monday.
	c, last := reach(0)
	if got, want := c.NextWorkingMoment(start), time.Date(last.Year(), last.Month(), last.Day(), 9, 0, 0, 0, time.UTC); last.Weekday() != time.Monday || !got.Equal(want) {
		t.Errorf("NextWorkingMoment(%s) = %s, want %s (%s)", start, got, want, last.Weekday())
	}
	c, last = reach(7)
	if got := c.NextWorkingMoment(start); !got.Equal(start) || last.Weekday() != time.Monday {
		t.Errorf("NextWorkingMoment(%s) = %s with no work day in reach, want the time itself", start, got)
	}
	// Counting business days stops at the same bound.
	if got, want := c.Add(start, Duration{1, BusinessDays}), start.AddDate(0, 0, maxCalendarDays); !got.Equal(want) {
		t.Errorf("Add(%s, 1bd) = %s with no work day in reach, want %s", start, got, want)
	}
}

// TestNewCalendarRefuses: every problem of a calendar is reported, each with
// its key, and no calendar is returned.
func TestNewCalendarRefuses(t *testing.T) {
	good := CalendarConfig{TimeZone: "Europe/Berlin", WorkDays: []string{"mon"}, WorkingHours: "09:00-17:00", Country: "DE"}
	tests := []struct {
		name string
		edit func(c *CalendarConfig)
		want []string
	}{
		{"empty zone", func(c *CalendarConfig) { c.TimeZone = "" }, []string{`time_zone: missing time zone`}},
		{"Local zone", func(c *CalendarConfig) { c.TimeZone = "Local" }, []string{`time_zone: "Local" depends on the host`}},
		{"no work days", func(c *CalendarConfig) { c.WorkDays = nil }, []string{`work_days: no work days`}},
		{"every bad day", func(c *CalendarConfig) { c.WorkDays = []string{"monday", "tue", "Tue", "funday"} },
			[]string{`work_days: unknown day "monday"`, `work_days: day "Tue" listed twice`, `work_days: unknown day "funday"`}},
		{"hour 24 opens", func(c *CalendarConfig) { c.WorkingHours = "24:00-24:00" }, []string{`working_hours: invalid working hours "24:00-24:00"`}},
		{"minute 60 opens", func(c *CalendarConfig) { c.WorkingHours = "09:60-17:00" }, []string{`working_hours: invalid working hours "09:60-17:00"`}},
		{"minute 60 closes", func(c *CalendarConfig) { c.WorkingHours = "09:00-17:60" }, []string{`working_hours: invalid working hours "09:00-17:60"`}},
		{"after midnight", func(c *CalendarConfig) { c.WorkingHours = "09:00-24:01" }, []string{`working_hours: invalid working hours "09:00-24:01"`}},
		{"hour 25 closes", func(c *CalendarConfig) { c.WorkingHours = "09:00-25:00" }, []string{`working_hours: invalid working hours "09:00-25:00"`}},
		{"no time", func(c *CalendarConfig) { c.WorkingHours = "09:30-09:30" }, []string{`working_hours: working hours "09:30-09:30" end before they begin`}},
		{"a minute backwards", func(c *CalendarConfig) { c.WorkingHours = "09:31-09:30" }, []string{`working_hours: working hours "09:31-09:30" end before they begin`}},
		{"no country", func(c *CalendarConfig) { c.Country = "" }, []string{`country: missing country for public holidays, want e.g. "DE" (known: AR, AT, AU, `}},
		{"unknown country", func(c *CalendarConfig) { c.Country = "XX" }, []string{`country: unknown country "XX" (known: AR, AT, AU, `}},
		{"unknown region", func(c *CalendarConfig) { c.Region = "XX" },
			[]string{`region: unknown region "XX" for country "DE" (known: BB, BE, BW, BY, HB, HE, HH, MV, NI, NW, RP, SH, SL, SN, ST, TH)`}},
		{"a region where there are none", func(c *CalendarConfig) { c.Country, c.Region = "NL", "NH" },
			[]string{`region: unknown region "NH" for country "NL" (known: none)`}},
		{"every bad date", func(c *CalendarConfig) { c.Closed = []string{"24.12.2026", "2026-12-31", "2026-02-30"} },
			[]string{`closed[0]: invalid date "24.12.2026"`, `closed[2]: invalid date "2026-02-30"`}},
	}
	for _, tt := range tests {
		c := good
		tt.edit(&c)
		k, err := NewCalendar(c)
		if err == nil || k != nil {
			t.Errorf("%s: NewCalendar(%+v) = %v, %v, want no calendar and an error", tt.name, c, k, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: NewCalendar() = %v, want %q", tt.name, err, w)
			}
		}
		if n := strings.Count(err.Error(), "\n") + 1; n != len(tt.want) {
			t.Errorf("%s: NewCalendar() = %d problems %v, want %d", tt.name, n, err, len(tt.want))
		}
	}

	for _, hours := range []string{"00:00-24:00", "23:59-24:00", "09:00-09:01", "08:59-16:59"} {
		c := good
		c.WorkingHours = hours
		if _, err := NewCalendar(c); err != nil {
			t.Errorf("NewCalendar(working_hours %q) = %v, want nil", hours, err)
		}
	}
	c := good
	c.Region = "by"
	c.Closed = []string{"2026-12-31"}
	k, err := NewCalendar(c)
	if err != nil {
		t.Fatalf("NewCalendar(%+v) = %v", c, err)
	}
	if name, _ := k.Holiday(ts(t, "2026-01-06T10:00:00+01:00")); name != "Heilige Drei Könige" {
		t.Errorf("Holiday(6 January) in region \"by\" = %q, want Epiphany", name)
	}
	if name, _ := k.Holiday(ts(t, "2026-12-31T10:00:00+01:00")); name != "closure" {
		t.Errorf("Holiday(31 December) = %q, want the closure", name)
	}
}

// TestApplySeveralClocks: each rule of Apply must reach every clock, not
// only the first: here the clock listed first ignores the event and a later
// one reacts to it, at each step.
func TestApplySeveralClocks(t *testing.T) {
	p, err := Parse("several.toml", []byte(`organisation = "Example"
security_address = "security@example.org"

[calendar]
time_zone = "Europe/Berlin"
country = "DE"

[[commitments]]
name = "assessment"
start = "report.received"
stop = ["assessment.sent"]
duration = "1bd"
pause_on_reporter = true

[[commitments]]
name = "ack"
start = "report.received"
stop = ["team.replied"]
duration = "1w"
pause_on_reporter = true

# Runs once per case: the second reply of the reporter stops it and does
# not start it again.
[[commitments]]
name = "answer"
start = "reporter.replied"
stop = ["reporter.replied", "team.replied"]
duration = "2bd"
`))
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	drive(t, p, []step{
		{EventReportReceived, "2026-03-02T10:00:00+01:00", map[string]want{
			"assessment": {StateRunning, "2026-03-03T10:00:00+01:00"},
			"ack":        {StateRunning, "2026-03-09T10:00:00+01:00"},
		}, 2},
		// The overdue assessment is breached; ack, listed after it, pauses.
		{EventWaitingReporter, "2026-03-04T10:00:00+01:00", map[string]want{
			"assessment": {StateBreached, ""},
			"ack":        {StatePaused, ""},
		}, 2},
		// The breached assessment is not paused; ack is, and resumes with
		// the 5 days it had left.
		{EventReporterReplied, "2026-03-05T10:00:00+01:00", map[string]want{
			"assessment": {StateBreached, ""},
			"ack":        {StateRunning, "2026-03-10T10:00:00+01:00"},
			"answer":     {StateRunning, "2026-03-09T10:00:00+01:00"},
		}, 3},
		{EventReporterReplied, "2026-03-06T10:00:00+01:00", map[string]want{
			"ack":    {StateRunning, "2026-03-10T10:00:00+01:00"},
			"answer": {StateMet, "2026-03-09T10:00:00+01:00"},
		}, 3},
		// The assessment ignores team.replied; ack, listed after it, stops.
		{EventTeamReplied, "2026-03-09T09:30:00+01:00", map[string]want{
			"assessment": {StateBreached, ""},
			"ack":        {StateMet, "2026-03-10T10:00:00+01:00"},
			"answer":     {StateMet, "2026-03-09T10:00:00+01:00"},
		}, 3},
	})
}

func TestParseDurationBound(t *testing.T) {
	if got, err := ParseDuration("1000d"); err != nil || got != (Duration{1000, Days}) {
		t.Errorf("ParseDuration(%q) = %v, %v, want %v", "1000d", got, err, Duration{1000, Days})
	}
}

// TestValidateSecurityTxtEveryProblem: every line is checked, each problem
// reported once with its line number, also after an earlier bad line.
func TestValidateSecurityTxtEveryProblem(t *testing.T) {
	now := ts(t, "2026-05-01T12:00:00Z")
	tests := []struct {
		name, in string
		want     []string // the joined error's lines
	}{
		{"one after another", "Contact: mailto:security@example.org\n" +
			"just text\n" +
			": no name\n" +
			"Bad Name: x\n" +
			"Empty:\n" +
			"Expires: 2027-01-01T00:00:00Z\n" +
			"Expires: 2027-01-02T00:00:00Z\n" +
			"!~: 33 and 126 are field name characters\n" +
			"Policy: http://example.org/policy\n",
			[]string{
				`policy: invalid security.txt: line 2: not a field: "just text"`,
				`policy: invalid security.txt: line 3: not a field: ": no name"`,
				`policy: invalid security.txt: line 4: invalid field name "Bad Name"`,
				`policy: invalid security.txt: line 5: Empty: empty value`,
				`policy: invalid security.txt: line 7: Expires: must appear exactly once`,
				`policy: invalid security.txt: line 9: Policy: "http://example.org/policy" is not an https URI`,
			}},
		{"a bad date, then more", "Contact: mailto:security@example.org\nExpires: tomorrow\nHiring: ftp://example.org/jobs\n",
			[]string{
				`policy: invalid security.txt: line 2: Expires: "tomorrow" is not an RFC 3339 date-time`,
				`policy: invalid security.txt: line 3: Hiring: "ftp://example.org/jobs" is not an https URI`,
			}},
		{"control character in a name", "Contact: mailto:security@example.org\nExpires: 2027-01-01T00:00:00Z\nA\x7fB: x\n",
			[]string{`policy: invalid security.txt: line 3: invalid field name "A\x7fB"`}},
		{"signed, dash-escaped", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" +
			"Contact: mailto:security@example.org\nExpires: 2027-01-01T00:00:00Z\n- Policy: http://example.org/policy\n" +
			"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n",
			[]string{`policy: invalid security.txt: line 6: Policy: "http://example.org/policy" is not an https URI`}},
		{"empty", "", []string{
			`policy: invalid security.txt: line 0: Contact: missing, RFC 9116 section 2.5.3 requires at least one`,
			`policy: invalid security.txt: line 0: Expires: missing, RFC 9116 section 2.5.5 requires it exactly once`,
		}},
		{"no final newline", "Contact: mailto:security@example.org\nExpires: 2026-04-01T00:00:00Z", []string{
			`policy: invalid security.txt: line 2: Expires: 2026-04-01T00:00:00Z has passed`,
		}},
	}
	for _, tt := range tests {
		err := ValidateSecurityTxt([]byte(tt.in), now)
		if err == nil {
			t.Errorf("%s: ValidateSecurityTxt() = nil, want %q", tt.name, tt.want)
			continue
		}
		if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
			t.Errorf("%s: ValidateSecurityTxt() = %q, want %q", tt.name, got, tt.want)
		}
	}

	for _, tt := range []struct {
		in   time.Duration
		soon bool
	}{{ExpiresSoon - time.Second, true}, {ExpiresSoon, false}} {
		in := "Contact: mailto:a@example.org\nExpires: " + now.Add(tt.in).Format(time.RFC3339) + "\n"
		if err := ValidateSecurityTxt([]byte(in), now); errors.Is(err, ErrExpiresSoon) != tt.soon || errors.Is(err, ErrSecurityTxt) {
			t.Errorf("ValidateSecurityTxt(expires in %v) = %v, want ErrExpiresSoon %v", tt.in, err, tt.soon)
		}
	}
}

func TestSecurityTxtRefuses(t *testing.T) {
	p := seedPolicy(t, "000_caspar_health.toml")
	now := ts(t, "2026-05-01T12:00:00Z")
	for _, opt := range []SecurityTxtOptions{
		{Now: now, Expires: now.Add(-time.Hour)},
		{Now: now, Expires: now},
		{Now: now, Expires: now.AddDate(1, 0, 0).Add(time.Second)},
	} {
		if _, err := p.SecurityTxt(opt); err == nil || !strings.Contains(err.Error(), "want within a year after") {
			t.Errorf("SecurityTxt(expires %v) = %v, want an error about the expiry", opt.Expires, err)
		}
	}
	if _, err := p.SecurityTxt(SecurityTxtOptions{Now: now, Expires: now.AddDate(1, 0, 0)}); err != nil {
		t.Errorf("SecurityTxt(expires in a year) = %v, want nil", err)
	}
	for _, fpr := range []string{strings.Repeat("G", 40), strings.Repeat("0", 39) + "g", strings.Repeat("a", 41), ""} {
		_, err := p.SecurityTxt(SecurityTxtOptions{Now: now, KeyFingerprint: fpr})
		if fpr == "" {
			if err != nil {
				t.Errorf("SecurityTxt(no fingerprint) = %v, want nil", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "is not 40 or 64 hex digits") {
			t.Errorf("SecurityTxt(fingerprint %q) = %v, want an error", fpr, err)
		}
	}
	for _, fpr := range []string{strings.Repeat("9", 40), strings.Repeat("F", 64)} {
		if _, err := p.SecurityTxt(SecurityTxtOptions{Now: now, KeyFingerprint: fpr}); err != nil {
			t.Errorf("SecurityTxt(fingerprint %q) = %v, want nil", fpr, err)
		}
	}

	const line = "# Generated by mailbot from disclosure policy revision "
	with, without := *p, *p
	with.Revision, without.Revision = "r 7", ""
	for _, tt := range []struct {
		p    *Policy
		want string
	}{{&without, ""}, {&with, line + "r 7.\n"}} {
		out, err := tt.p.SecurityTxt(SecurityTxtOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(out), line); got != (tt.want != "") || !strings.Contains(string(out), tt.want) {
			t.Errorf("SecurityTxt(revision %q) = %q, want the revision line only when set", tt.p.Revision, out)
		}
	}
}

// TestValidateURLsAndAddress: URLs are https, or dns:/openpgp4fpr: for the
// encryption key only; the address is bare.
func TestValidateURLsAndAddress(t *testing.T) {
	tests := []struct {
		line, want string // want "" for valid
	}{
		{`encryption_url = "dns:5d2d37ab76d47547b4d0e3b3._openpgpkey.example.org?type=OPENPGPKEY"`, ""},
		{`encryption_url = "openpgp4fpr:0123456789ABCDEF0123456789ABCDEF01234567"`, ""},
		{`encryption_url = "https://example.org/key.asc"`, ""},
		{`encryption_url = "dns://example.org/x"`, `encryption_url: invalid URL`},
		{`encryption_url = "mailto:key@example.org"`, `encryption_url: invalid URL`},
		{`policy_url = "dns:example.org"`, `policy_url: invalid URL`},
		{`policy_url = "mailto:security@example.org"`, `policy_url: invalid URL`},
		{`security_address = "<security@example.org>"`, `security_address: invalid address`},
		{`security_address = "security@example.org (Security)"`, `security_address: invalid address`},
	}
	for _, tt := range tests {
		in := variant(map[int]string{3: tt.line})
		if strings.HasPrefix(tt.line, "security_address") {
			in = variant(map[int]string{2: tt.line})
		}
		_, err := Parse("x.toml", in)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Parse(%s) = %v, want nil", tt.line, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Parse(%s) = %v, want %q", tt.line, err, tt.want)
		}
	}
}

func TestParseEveryBadPattern(t *testing.T) {
	in := string(variant(nil)) + "\n[[fields]]\nname = \"version\"\npatterns = [\"(\", \"ok\", \"[\"]\n"
	_, err := Parse("x.toml", []byte(in))
	if err == nil || !strings.Contains(err.Error(), "pattern 0: ") || !strings.Contains(err.Error(), "pattern 2: ") {
		t.Errorf("Parse(two bad patterns) = %v, want both reported", err)
	}
}

// TestMarkdownOptionalSections: each optional part of the published policy
// appears exactly when the policy has it.
func TestMarkdownOptionalSections(t *testing.T) {
	bare, err := Parse("bare.toml", variant(map[int]string{9: `name = "hidden"`, 11: `stop = ["team.replied"]` + "\ninternal = true"}))
	if err != nil {
		t.Fatal(err)
	}
	full, err := Parse("full.toml", []byte(`organisation = "Example"
security_address = "security@example.org"
revision = "2026-1"
encryption_url = "https://example.org/key.asc"
acknowledgments_url = "https://example.org/thanks"
policy_url = "https://example.org/policy"

[calendar]
time_zone = "Europe/Berlin"
country = "DE"

[[commitments]]
name = "hidden"
start = "report.received"
stop = ["team.replied"]
duration = "1bd"
internal = true

[[commitments]]
name = "ack"
start = "report.received"
stop = ["team.replied"]
duration = "2bd"

[disclosure]
days = 90

[[fields]]
name = "description"

[scope]
in = ["www.example.org"]
out = ["Social engineering"]
`))
	if err != nil {
		t.Fatal(err)
	}
	optional := []string{
		"Revision 2026-1.",
		"Please encrypt it with our OpenPGP key: <https://example.org/key.asc>.",
		"Please include:",
		"**ack**: within 2 business days",
		"we aim to disclose it publicly 90 days after your report",
		"we aim to disclose it publicly", // not "0 days" without a window
		"## In scope",                    // no heading without items
		"## In scope\n\n- www.example.org\n",
		"## Out of scope",
		"## Out of scope\n\n- Social engineering\n",
		"<https://example.org/thanks>",
		"<https://example.org/policy>",
	}
	for _, tt := range []struct {
		p    *Policy
		want bool
	}{{bare, false}, {full, true}} {
		out, err := tt.p.Markdown("en")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range optional {
			if strings.Contains(string(out), w) != tt.want {
				t.Errorf("Markdown(%s) contains %q = %v, want %v:\n%s", tt.p.Organisation, w, !tt.want, tt.want, out)
			}
		}
		if strings.Contains(string(out), "hidden") {
			t.Errorf("Markdown() publishes the internal commitment:\n%s", out)
		}
	}
	full.EncryptionURL = "dns:5d2d37ab76d47547b4d0e3b3._openpgpkey.example.org?type=OPENPGPKEY"
	if out, _ := full.Markdown("en"); strings.Contains(string(out), "encrypt it with") {
		t.Errorf("Markdown() links a dns: key as a web page:\n%s", out)
	}
}
