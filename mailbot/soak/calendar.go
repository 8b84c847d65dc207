package soak

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"mailbot/policy"
)

// businessCalendar is the oracle's own reading of a policy's [calendar]:
// the same data (zone, work days, working hours, holidays), its own
// arithmetic. It asks the policy only whether a date is a holiday
// (policy.Calendar.Holiday, the holiday data), so that a mistake in the
// product's deadline arithmetic shows up as a difference here.
type businessCalendar struct {
	loc         *time.Location
	workdays    [7]bool
	open, close time.Duration // since local midnight
	holiday     func(time.Time) bool
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func newBusinessCalendar(p *policy.Policy) (*businessCalendar, error) {
	c := p.CalendarConfig
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("soak: time zone: %w", err)
	}
	k := &businessCalendar{loc: loc, holiday: func(t time.Time) bool {
		_, ok := p.Calendar.Holiday(t)
		return ok
	}}
	for _, d := range c.WorkDays {
		wd, ok := dayNames[strings.ToLower(d)]
		if !ok {
			return nil, fmt.Errorf("soak: work day %q", d)
		}
		k.workdays[wd] = true
	}
	var h1, m1, h2, m2 int
	if _, err := fmt.Sscanf(c.WorkingHours, "%d:%d-%d:%d", &h1, &m1, &h2, &m2); err != nil {
		return nil, fmt.Errorf("soak: working hours %q: %w", c.WorkingHours, err)
	}
	k.open = time.Duration(h1)*time.Hour + time.Duration(m1)*time.Minute
	k.close = time.Duration(h2)*time.Hour + time.Duration(m2)*time.Minute
	return k, nil
}

// midnight is the local midnight of t's day plus days.
func (c *businessCalendar) midnight(t time.Time, days int) time.Time {
	y, m, d := t.In(c.loc).Date()
	return time.Date(y, m, d+days, 0, 0, 0, 0, c.loc)
}

// clock is the local time of day d after midnight of t's day plus days.
// On a DST day the wall clock is what counts: 09:00 is 09:00.
func (c *businessCalendar) clock(t time.Time, days int, d time.Duration) time.Time {
	y, m, day := t.In(c.loc).Date()
	return time.Date(y, m, day+days, int(d/time.Hour), int(d%time.Hour/time.Minute), 0, 0, c.loc)
}

func (c *businessCalendar) isWorkday(t time.Time) bool {
	t = t.In(c.loc)
	return c.workdays[t.Weekday()] && !c.holiday(t)
}

func (c *businessCalendar) inWorkingHours(t time.Time) bool {
	return c.isWorkday(t) && !t.Before(c.clock(t, 0, c.open)) && t.Before(c.clock(t, 0, c.close))
}

// nextWorking is t inside working hours, else the next opening.
func (c *businessCalendar) nextWorking(t time.Time) time.Time {
	if c.inWorkingHours(t) {
		return t
	}
	for i := 0; i < 400; i++ {
		open := c.clock(t, i, c.open)
		if c.isWorkday(open) && !open.Before(t) {
			return open
		}
	}
	return t
}

// addWorking is the moment w of working time after t: the walk goes from
// opening to closing, day by day; an amount that fills a day exactly ends at
// its closing time.
func (c *businessCalendar) addWorking(t time.Time, w time.Duration) time.Time {
	s := c.nextWorking(t)
	for i := 0; i < 400; i++ {
		end := c.clock(s, 0, c.close)
		if left := end.Sub(s); w <= left {
			return s.Add(w)
		} else {
			w -= left
		}
		s = c.nextWorking(end)
	}
	return s
}

// deadline is start plus d: business days as that many working days' worth
// of working time, hours exactly, days and weeks at the same local clock.
func (c *businessCalendar) deadline(start time.Time, d policy.Duration) time.Time {
	switch d.Unit {
	case policy.BusinessDays:
		return c.addWorking(start, time.Duration(d.N)*(c.close-c.open))
	case policy.Hours:
		return start.Add(time.Duration(d.N) * time.Hour)
	case policy.Days:
		return start.In(c.loc).AddDate(0, 0, d.N)
	case policy.Weeks:
		return start.In(c.loc).AddDate(0, 0, 7*d.N)
	}
	return start
}

// loadPolicy reads one seed policy.
func loadPolicy(dir, name string) (*policy.Policy, *businessCalendar, error) {
	p, err := policy.Load(filepath.Join(dir, name))
	if err != nil {
		return nil, nil, fmt.Errorf("soak: policy %s: %w", name, err)
	}
	k, err := newBusinessCalendar(p)
	if err != nil {
		return nil, nil, fmt.Errorf("soak: policy %s: %w", name, err)
	}
	return p, k, nil
}
