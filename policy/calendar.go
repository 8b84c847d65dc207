package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // deadlines must not depend on the host's zoneinfo

	"github.com/rickar/cal/v2"
)

// CalendarConfig is the [calendar] table of a policy file.
type CalendarConfig struct {
	TimeZone     string   `toml:"time_zone"`     // IANA name, "Europe/Berlin"
	WorkDays     []string `toml:"work_days"`     // "mon" .. "sun"
	WorkingHours string   `toml:"working_hours"` // "09:00-17:00", local wall clock
	Country      string   `toml:"country"`       // ISO 3166-1 alpha-2, "DE"
	Region       string   `toml:"region"`        // optional subdivision, "BY"
	Closed       []string `toml:"closed"`        // extra closure dates, "2026-12-24"
}

// Calendar is a business calendar: the days and hours a team works, in one
// time zone, minus public holidays and extra closures.
//
// Deadline conventions (Add):
//
//   - Hours: an exact duration; weekends, nights and DST do not matter.
//   - Days, Weeks: the same local wall-clock time N (7N) days later, so a DST
//     change in between does not move the deadline by an hour.
//   - BusinessDays: the count starts at the next working moment (the arrival
//     itself when it is inside working hours, else the next opening). The
//     deadline is the same working clock time N working days later: Mon 10:00
//   - 1bd = Tue 10:00. A deadline that would fall exactly on an opening is
//     the closing time of the working day before it, which is the same amount
//     of working time: Fri 19:00 before an Easter Monday + 1bd = Tue 17:00
//     (not Wed 09:00).
//
// A Calendar is safe for concurrent use.
type Calendar struct {
	loc         *time.Location
	workdays    [7]bool
	open, close int // minutes after local midnight; close may be 24*60
	holidays    *cal.Calendar
	closed      map[string]bool // "2006-01-02"
}

// maxCalendarDays bounds every day-by-day walk, so that a calendar with no
// working day in reach cannot loop forever.
const maxCalendarDays = 20 * 366

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

var hoursRE = regexp.MustCompile(`^([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})$`)

// NewCalendar checks c and builds its Calendar. The error joins every
// problem found, each starting with the key it is about.
func NewCalendar(c CalendarConfig) (*Calendar, error) {
	var errs []error
	cal := buildCalendar(c, func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	})
	return cal, errors.Join(errs...)
}

// buildCalendar reports each problem with a key relative to [calendar] and
// returns a usable Calendar only when there was none.
func buildCalendar(c CalendarConfig, errorf func(key, format string, args ...any)) *Calendar {
	ok := true
	bad := func(key, format string, args ...any) {
		ok = false
		errorf(key, format, args...)
	}
	k := &Calendar{closed: map[string]bool{}}

	switch {
	case c.TimeZone == "":
		bad("time_zone", "missing time zone, want an IANA name such as \"Europe/Berlin\"")
	case c.TimeZone == "Local":
		bad("time_zone", "\"Local\" depends on the host, want an IANA name such as \"Europe/Berlin\"")
	default:
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			bad("time_zone", "unknown time zone %q", c.TimeZone)
		}
		k.loc = loc
	}

	if len(c.WorkDays) == 0 {
		bad("work_days", "no work days")
	}
	for _, d := range c.WorkDays {
		wd, found := weekdayNames[strings.ToLower(d)]
		if !found {
			bad("work_days", "unknown day %q, want mon, tue, wed, thu, fri, sat or sun", d)
			continue
		}
		if k.workdays[wd] {
			bad("work_days", "day %q listed twice", d)
		}
		k.workdays[wd] = true
	}

	if m := hoursRE.FindStringSubmatch(c.WorkingHours); m == nil {
		bad("working_hours", "invalid working hours %q, want \"09:00-17:00\"", c.WorkingHours)
	} else {
		h1, _ := strconv.Atoi(m[1])
		m1, _ := strconv.Atoi(m[2])
		h2, _ := strconv.Atoi(m[3])
		m2, _ := strconv.Atoi(m[4])
		k.open, k.close = h1*60+m1, h2*60+m2
		switch {
		case h1 > 23 || m1 > 59 || m2 > 59 || k.close > 24*60:
			bad("working_hours", "invalid working hours %q", c.WorkingHours)
		case k.open >= k.close:
			bad("working_hours", "working hours %q end before they begin", c.WorkingHours)
		}
	}

	country := strings.ToUpper(c.Country)
	regions, found := holidayTable[country]
	switch {
	case c.Country == "":
		bad("country", "missing country for public holidays, want e.g. \"DE\" (known: %s)", knownCountries())
	case !found:
		bad("country", "unknown country %q (known: %s)", c.Country, knownCountries())
	default:
		list, found := regions[strings.ToUpper(c.Region)]
		switch {
		case !found && c.Region == "":
			bad("region", "country %q needs a region (known: %s)", c.Country, knownRegions(country))
		case !found:
			key := "region"
			bad(key, "unknown region %q for country %q (known: %s)", c.Region, c.Country, knownRegions(country))
		default:
			// Not Cacheable: the cache is a map written on reads, which
			// would make the Calendar unsafe for concurrent use.
			k.holidays = &cal.Calendar{Holidays: list}
		}
	}

	for i, d := range c.Closed {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			bad(fmt.Sprintf("closed[%d]", i), "invalid date %q, want \"2006-01-02\"", d)
			continue
		}
		k.closed[t.Format("2006-01-02")] = true
	}
	if !ok {
		return nil
	}
	return k
}

func knownCountries() string {
	var l []string
	for c := range holidayTable {
		l = append(l, c)
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}

func knownRegions(country string) string {
	var l []string
	for r := range holidayTable[country] {
		if r != "" {
			l = append(l, r)
		}
	}
	if len(l) == 0 {
		return "none"
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// Holiday reports whether the local day of t is a public holiday (actual or
// observed) or an extra closure, and its name.
func (c *Calendar) Holiday(t time.Time) (name string, ok bool) {
	t = t.In(c.loc)
	if c.closed[t.Format("2006-01-02")] {
		return "closure", true
	}
	act, obs, h := c.holidays.IsHoliday(t)
	if (act || obs) && h != nil {
		return h.Name, true
	}
	return "", false
}

// IsWorkday reports whether the local day of t is a work day that is neither
// a holiday nor a closure.
func (c *Calendar) IsWorkday(t time.Time) bool {
	t = t.In(c.loc)
	if !c.workdays[t.Weekday()] {
		return false
	}
	_, hol := c.Holiday(t)
	return !hol
}

// sinceMidnight is the local wall-clock time of day of t.
func sinceMidnight(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}

// at is the local day of t, shifted by days, at minutes after midnight.
func (c *Calendar) at(t time.Time, days, minutes int) time.Time {
	y, m, d := t.In(c.loc).Date()
	return time.Date(y, m, d+days, minutes/60, minutes%60, 0, 0, c.loc)
}

// InWorkingHours reports whether t is on a work day, at or after opening and
// before closing time.
func (c *Calendar) InWorkingHours(t time.Time) bool {
	t = t.In(c.loc)
	s := sinceMidnight(t)
	return c.IsWorkday(t) && s >= time.Duration(c.open)*time.Minute && s < time.Duration(c.close)*time.Minute
}

// NextWorkingMoment is t itself when it is inside working hours, else the
// next opening time.
func (c *Calendar) NextWorkingMoment(t time.Time) time.Time {
	if c.InWorkingHours(t) {
		return t
	}
	lt := t.In(c.loc)
	if c.IsWorkday(lt) && sinceMidnight(lt) < time.Duration(c.open)*time.Minute {
		return c.at(lt, 0, c.open)
	}
	for i := 1; i <= maxCalendarDays; i++ {
		if c.IsWorkday(c.at(lt, i, 12*60)) {
			return c.at(lt, i, c.open)
		}
	}
	return t // no working day in reach: nothing better to say
}

// Add is the deadline d after start; see Calendar for the conventions.
func (c *Calendar) Add(start time.Time, d Duration) time.Time {
	switch d.Unit {
	case Hours:
		return start.Add(time.Duration(d.N) * time.Hour)
	case Days:
		return start.In(c.loc).AddDate(0, 0, d.N)
	case Weeks:
		return start.In(c.loc).AddDate(0, 0, 7*d.N)
	case BusinessDays:
		return c.addBusinessDays(start, d.N)
	}
	return start
}

func (c *Calendar) addBusinessDays(start time.Time, n int) time.Time {
	s := c.NextWorkingMoment(start).In(c.loc)
	i, count := 0, 0
	for count < n && i < maxCalendarDays {
		i++
		if c.IsWorkday(c.at(s, i, 12*60)) {
			count++
		}
	}
	y, m, d := s.Date()
	due := time.Date(y, m, d+i, s.Hour(), s.Minute(), s.Second(), s.Nanosecond(), c.loc)
	if n > 0 && sinceMidnight(s) == time.Duration(c.open)*time.Minute {
		// Same working time, earlier wall clock: the close of the working
		// day before. Day 0 (the start's own day) is a working day.
		for j := i - 1; j >= 0; j-- {
			if c.IsWorkday(c.at(s, j, 12*60)) {
				return c.at(s, j, c.close)
			}
		}
	}
	return due
}

// workingBetween is the working time in [a, b).
func (c *Calendar) workingBetween(a, b time.Time) time.Duration {
	var sum time.Duration
	a = c.NextWorkingMoment(a)
	for i := 0; a.Before(b) && i < maxCalendarDays; i++ {
		end := c.at(a, 0, c.close)
		if b.Before(end) {
			end = b
		}
		sum += end.Sub(a)
		a = c.NextWorkingMoment(c.at(a, 0, c.close))
	}
	return sum
}

// addWorking is the moment w of working time after start; a result that
// fills a day up exactly is that day's closing time.
func (c *Calendar) addWorking(start time.Time, w time.Duration) time.Time {
	s := c.NextWorkingMoment(start)
	for i := 0; i < maxCalendarDays; i++ {
		end := c.at(s, 0, c.close)
		if left := end.Sub(s); w <= left {
			return s.Add(w)
		} else {
			w -= left
		}
		s = c.NextWorkingMoment(end)
	}
	return s
}

// resume is the new deadline of a clock with deadline due that was paused at
// pausedAt and resumes at at: the time that was left when it paused, counted
// in the clock's unit, is left again after at.
func (c *Calendar) resume(due, pausedAt, at time.Time, u Unit) time.Time {
	if !pausedAt.Before(due) || at.Before(pausedAt) {
		return due
	}
	if u == BusinessDays {
		return c.addWorking(at, c.workingBetween(pausedAt, due))
	}
	return due.Add(at.Sub(pausedAt))
}

// WorkDays is the configured work days, Monday first.
func (c *Calendar) WorkDays() []time.Weekday {
	var l []time.Weekday
	for _, d := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
		if c.workdays[d] {
			l = append(l, d)
		}
	}
	return slices.Clip(l)
}

// WorkingHours is the opening and closing time as "15:04".
func (c *Calendar) WorkingHours() (open, close string) {
	f := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
	return f(c.open), f(c.close)
}
