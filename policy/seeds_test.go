package policy

import (
	"testing"
)

// The expected deadlines below were worked out by hand on a calendar; the
// comments show the count. Business-day convention: see Calendar.

// 000 Caspar Health: Berlin (DE-BE), internal targets acknowledge 3bd,
// triage 10bd (pauses), disclosure 90 days.
func TestSeed000CasparHealth(t *testing.T) {
	p := seedPolicy(t, "000_caspar_health.toml")

	t.Run("Friday evening before Frauentag", func(t *testing.T) {
		// Fri 5 Mar 2027 19:00; Mon 8 Mar is Frauentag in Berlin; count from
		// Tue 9 Mar 09:00. 3bd: Wed 10, Thu 11, Fri 12 09:00 = Thu 11 17:00.
		// 10bd: Wed 10 .. Tue 23 09:00 = Mon 22 17:00.
		drive(t, p, []step{
			{EventReportReceived, "2027-03-05T19:00:00+01:00", map[string]want{
				"acknowledge": {StateRunning, "2027-03-11T17:00:00+01:00"},
				"triage":      {StateRunning, "2027-03-22T17:00:00+01:00"},
			}, 2},
			{EventTeamReplied, "2027-03-11T16:59:00+01:00", map[string]want{
				"acknowledge": {StateMet, "2027-03-11T17:00:00+01:00"},
				"triage":      {StateRunning, ""},
			}, 2},
		})
	})

	t.Run("before Easter", func(t *testing.T) {
		// Thu 2 Apr 2026 19:00; Good Friday and Easter Monday: count from
		// Tue 7 Apr 09:00. 3bd: Wed 8, Thu 9, Fri 10 09:00 = Thu 9 17:00.
		drive(t, p, []step{
			{EventReportReceived, "2026-04-02T19:00:00+02:00", map[string]want{
				"acknowledge": {StateRunning, "2026-04-09T17:00:00+02:00"},
			}, 2},
		})
	})

	t.Run("DST week with pause", func(t *testing.T) {
		// Fri 27 Mar 2026 16:00 CET; DST starts Sun 29 Mar.
		// acknowledge 3bd: Mon 30, Tue 31, Wed 1 Apr at 16:00 CEST.
		// triage 10bd: Mon 30, Tue 31, Wed 1, Thu 2, (Good Friday, Easter
		// Monday), Tue 7, Wed 8, Thu 9, Fri 10, Mon 13, Tue 14 at 16:00.
		// Paused Mon 30 10:00 to Wed 1 13:00: 7h + 8h + 4h = 19 working
		// hours. Tue 14 16:00 + 19h: 1h Tue, 8h Wed 15, 8h Thu 16, 2h Fri 17
		// = Fri 17 Apr 11:00.
		drive(t, p, []step{
			{EventReportReceived, "2026-03-27T16:00:00+01:00", map[string]want{
				"acknowledge": {StateRunning, "2026-04-01T16:00:00+02:00"},
				"triage":      {StateRunning, "2026-04-14T16:00:00+02:00"},
			}, 2},
			{EventWaitingReporter, "2026-03-30T10:00:00+02:00", map[string]want{
				"acknowledge": {StateRunning, "2026-04-01T16:00:00+02:00"}, // does not pause
				"triage":      {StatePaused, "2026-04-14T16:00:00+02:00"},
			}, 2},
			{EventReporterReplied, "2026-04-01T13:00:00+02:00", map[string]want{
				"triage": {StateRunning, "2026-04-17T11:00:00+02:00"},
			}, 2},
			{"", "2026-04-01T16:00:00+02:00", map[string]want{
				"acknowledge": {StateRunning, ""}, // due is inclusive
			}, 2},
			{"", "2026-04-01T16:01:00+02:00", map[string]want{
				"acknowledge": {StateBreached, "2026-04-01T16:00:00+02:00"},
				"triage":      {StateRunning, ""},
			}, 2},
			{EventTeamReplied, "2026-04-02T10:00:00+02:00", map[string]want{
				"acknowledge": {StateBreached, "2026-04-01T16:00:00+02:00"},
			}, 2},
			{EventConfirmed, "2026-04-16T10:00:00+02:00", map[string]want{
				"triage": {StateMet, "2026-04-17T11:00:00+02:00"},
			}, 2},
		})
		// 27 Mar + 90 days: 4 (to 31 Mar) + 30 + 31 + 25 = 25 Jun, same clock time.
		if got, want := p.DisclosureDate(ts(t, "2026-03-27T16:00:00+01:00")), ts(t, "2026-06-25T16:00:00+02:00"); !got.Equal(want) {
			t.Errorf("DisclosureDate() = %v, want %v", got, want)
		}
	})
}

// 001 Coosto: Netherlands, assessment within 3 business days (pauses),
// keep informed every 14 days.
func TestSeed001Coosto(t *testing.T) {
	p := seedPolicy(t, "001_coosto.toml")

	t.Run("Friday evening before King's Day", func(t *testing.T) {
		// Fri 24 Apr 2026 19:00; Mon 27 Apr is Koningsdag: count from Tue 28
		// 09:00. 3bd: Wed 29, Thu 30, Fri 1 May 09:00 = Thu 30 Apr 17:00.
		drive(t, p, []step{
			{EventReportReceived, "2026-04-24T19:00:00+02:00", map[string]want{
				"assessment": {StateRunning, "2026-04-30T17:00:00+02:00"},
			}, 1},
			{EventTeamReplied, "2026-04-28T10:00:00+02:00", map[string]want{
				"assessment":     {StateRunning, "2026-04-30T17:00:00+02:00"},
				KeepInformedName: {StateRunning, "2026-05-12T10:00:00+02:00"},
			}, 2},
			{EventAssessmentSent, "2026-04-30T17:00:00+02:00", map[string]want{
				"assessment": {StateMet, ""}, // exactly at the deadline
			}, 2},
			{EventTeamReplied, "2026-05-05T10:00:00+02:00", map[string]want{
				KeepInformedName: {StateRunning, "2026-05-19T10:00:00+02:00"}, // restarted
			}, 2},
			{EventFixed, "2026-05-10T10:00:00+02:00", map[string]want{
				KeepInformedName: {StateMet, "2026-05-19T10:00:00+02:00"},
			}, 2},
			{EventTeamReplied, "2026-05-11T10:00:00+02:00", map[string]want{
				KeepInformedName: {StateMet, "2026-05-19T10:00:00+02:00"}, // ended for good
			}, 2},
		})
	})

	t.Run("DST week", func(t *testing.T) {
		// Thu 22 Oct 2026 11:30 CEST; DST ends Sun 25 Oct. 3bd: Fri 23,
		// Mon 26, Tue 27 at 11:30 CET.
		drive(t, p, []step{
			{EventReportReceived, "2026-10-22T11:30:00+02:00", map[string]want{
				"assessment": {StateRunning, "2026-10-27T11:30:00+01:00"},
			}, 1},
		})
	})

	t.Run("pause", func(t *testing.T) {
		// Mon 1 Jun 2026 10:00, due Thu 4 Jun 10:00. Paused Tue 2 15:00:
		// left 2h Tue + 8h Wed + 1h Thu = 11h. Resumed Mon 8 16:00: 1h Mon,
		// 8h Tue 9, 2h Wed 10 = Wed 10 Jun 11:00.
		drive(t, p, []step{
			{EventReportReceived, "2026-06-01T10:00:00+02:00", map[string]want{
				"assessment": {StateRunning, "2026-06-04T10:00:00+02:00"},
			}, 1},
			{EventWaitingReporter, "2026-06-02T15:00:00+02:00", map[string]want{
				"assessment": {StatePaused, ""},
			}, 1},
			{"", "2026-06-05T10:00:00+02:00", map[string]want{
				"assessment": {StatePaused, ""}, // Refresh leaves paused clocks alone
			}, 1},
			{EventReporterReplied, "2026-06-08T16:00:00+02:00", map[string]want{
				"assessment": {StateRunning, "2026-06-10T11:00:00+02:00"},
			}, 1},
			{EventAssessmentSent, "2026-06-10T10:59:00+02:00", map[string]want{
				"assessment": {StateMet, ""},
			}, 1},
		})
	})
}

// 002 IMIS Innovation: Germany, confirm within 1 business day, follow up
// 48 hours after the confirmation (pauses), keep informed every 7 days.
func TestSeed002IMIS(t *testing.T) {
	p := seedPolicy(t, "002_imis_innovation.toml")

	t.Run("Friday evening before Whit Monday", func(t *testing.T) {
		// Fri 22 May 2026 19:00; Mon 25 May is Pfingstmontag: count from
		// Tue 26 09:00; 1bd = Tue 26 17:00. Confirmed Tue 16:30: follow-up
		// 48h later, Thu 28 16:30; keep-informed 7 days, Tue 2 Jun 16:30.
		drive(t, p, []step{
			{EventReportReceived, "2026-05-22T19:00:00+02:00", map[string]want{
				"confirm": {StateRunning, "2026-05-26T17:00:00+02:00"},
			}, 1},
			{EventTeamReplied, "2026-05-26T16:30:00+02:00", map[string]want{
				"confirm":        {StateMet, "2026-05-26T17:00:00+02:00"},
				"follow-up":      {StateRunning, "2026-05-28T16:30:00+02:00"},
				KeepInformedName: {StateRunning, "2026-06-02T16:30:00+02:00"},
			}, 3},
			{EventAssessmentSent, "2026-05-28T16:31:00+02:00", map[string]want{
				"follow-up": {StateBreached, ""},
			}, 3},
		})
	})

	t.Run("Christmas and new year", func(t *testing.T) {
		// Wed 23 Dec 2026 19:00: count from Thu 24 09:00 (Christmas Eve is
		// a work day); 1bd = Thu 24 17:00.
		// Thu 31 Dec 19:00: New Year, weekend; from Mon 4 Jan 09:00 = 17:00.
		drive(t, p, []step{
			{EventReportReceived, "2026-12-23T19:00:00+01:00", map[string]want{
				"confirm": {StateRunning, "2026-12-24T17:00:00+01:00"},
			}, 1},
		})
		drive(t, p, []step{
			{EventReportReceived, "2026-12-31T19:00:00+01:00", map[string]want{
				"confirm": {StateRunning, "2027-01-04T17:00:00+01:00"},
			}, 1},
		})
	})

	t.Run("DST week", func(t *testing.T) {
		// Fri 23 Oct 2026 16:00 CEST; 1bd = Mon 26 16:00 CET. Confirmed Fri
		// 16:30 CEST (14:30 UTC): 48 exact hours = Sun 25 15:30 CET (14:30
		// UTC), one wall-clock hour earlier. Keep-informed 7 calendar days:
		// Fri 30 Oct 16:30 CET, same wall clock.
		drive(t, p, []step{
			{EventReportReceived, "2026-10-23T16:00:00+02:00", map[string]want{
				"confirm": {StateRunning, "2026-10-26T16:00:00+01:00"},
			}, 1},
			{EventTeamReplied, "2026-10-23T16:30:00+02:00", map[string]want{
				"confirm":        {StateMet, ""},
				"follow-up":      {StateRunning, "2026-10-25T15:30:00+01:00"},
				KeepInformedName: {StateRunning, "2026-10-30T16:30:00+01:00"},
			}, 3},
			{"", "2026-10-25T15:31:00+01:00", map[string]want{
				"follow-up":      {StateBreached, "2026-10-25T15:30:00+01:00"},
				KeepInformedName: {StateRunning, ""},
			}, 3},
		})
	})

	t.Run("pause", func(t *testing.T) {
		// Confirmed Mon 1 Jun 2026 10:00: follow-up due Wed 3 10:00.
		// Paused Mon 12:00 (46h left), resumed Wed 3 09:00: due Fri 5 07:00.
		// Keep-informed due Mon 8 10:00 moves by the 45h paused: Wed 10 07:00.
		drive(t, p, []step{
			{EventReportReceived, "2026-06-01T09:30:00+02:00", nil, 1},
			{EventTeamReplied, "2026-06-01T10:00:00+02:00", map[string]want{
				"follow-up":      {StateRunning, "2026-06-03T10:00:00+02:00"},
				KeepInformedName: {StateRunning, "2026-06-08T10:00:00+02:00"},
			}, 3},
			{EventWaitingReporter, "2026-06-01T12:00:00+02:00", map[string]want{
				"follow-up":      {StatePaused, ""},
				KeepInformedName: {StatePaused, ""},
			}, 3},
			{EventReporterReplied, "2026-06-03T09:00:00+02:00", map[string]want{
				"follow-up":      {StateRunning, "2026-06-05T07:00:00+02:00"},
				KeepInformedName: {StateRunning, "2026-06-10T07:00:00+02:00"},
			}, 3},
			{EventAssessmentSent, "2026-06-04T12:00:00+02:00", map[string]want{
				"follow-up": {StateMet, ""},
			}, 3},
		})
	})
}

// 003 unnamed (Italy): evaluation within 7 business days (pauses).
func TestSeed003Unnamed(t *testing.T) {
	p := seedPolicy(t, "003_unnamed_it.toml")
	for _, tt := range []struct{ name, at, due string }{
		// Good Friday is a work day in Italy; Easter Monday is not. Fri 3 Apr
		// 19:00: from Tue 7 09:00, 7bd: 8, 9, 10, 13, 14, 15, 16 09:00 =
		// Wed 15 Apr 17:00.
		{"Friday evening before Easter Monday", "2026-04-03T19:00:00+02:00", "2026-04-15T17:00:00+02:00"},
		// Fri 29 May 19:00; Tue 2 Jun is Festa della Repubblica. From Mon 1
		// Jun 09:00: 3, 4, 5, 8, 9, 10, 11 09:00 = Wed 10 Jun 17:00.
		{"Friday evening before Festa della Repubblica", "2026-05-29T19:00:00+02:00", "2026-06-10T17:00:00+02:00"},
		// Wed 25 Mar 14:00 CET: 26, 27, 30, 31, 1, 2, 3 Apr at 14:00 CEST.
		{"DST week", "2026-03-25T14:00:00+01:00", "2026-04-03T14:00:00+02:00"},
		// Wed 23 Dec 10:00: 24, (25, 26), 28, 29, 30, 31, (1 Jan), 4, 5
		// (6 Jan Epifania not reached) = Tue 5 Jan 10:00.
		{"year boundary", "2026-12-23T10:00:00+01:00", "2027-01-05T10:00:00+01:00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			drive(t, p, []step{{EventReportReceived, tt.at, map[string]want{"evaluation": {StateRunning, tt.due}}, 1}})
		})
	}

	t.Run("pause", func(t *testing.T) {
		// Mon 7 Sep 2026 10:00: due Wed 16 Sep 10:00. Paused Wed 9 10:00:
		// left 7h Wed + 4 x 8h + 1h Wed 16 = 40h. Resumed Sat 12: from Mon
		// 14 09:00, five full days = Fri 18 Sep 17:00.
		drive(t, p, []step{
			{EventReportReceived, "2026-09-07T10:00:00+02:00", map[string]want{
				"evaluation": {StateRunning, "2026-09-16T10:00:00+02:00"},
			}, 1},
			{EventWaitingReporter, "2026-09-09T10:00:00+02:00", map[string]want{
				"evaluation": {StatePaused, ""},
			}, 1},
			{EventReporterReplied, "2026-09-12T11:00:00+02:00", map[string]want{
				"evaluation": {StateRunning, "2026-09-18T17:00:00+02:00"},
			}, 1},
			{EventTeamReplied, "2026-09-14T09:30:00+02:00", map[string]want{
				KeepInformedName: {StateRunning, "2026-09-28T09:30:00+02:00"},
			}, 2},
			{EventAssessmentSent, "2026-09-18T17:00:00+02:00", map[string]want{
				"evaluation": {StateMet, ""},
			}, 2},
		})
	})
	if !p.DisclosureDate(ts(t, "2026-09-07T10:00:00+02:00")).IsZero() {
		t.Errorf("DisclosureDate() is set, want zero: the policy has no window")
	}
}

// 004 Centuran Consulting: Poland, confirmation within 1 week (calendar,
// no pause), disclosure typically within 50 days.
func TestSeed004Centuran(t *testing.T) {
	p := seedPolicy(t, "004_centuran.toml")

	t.Run("Friday evening before holidays", func(t *testing.T) {
		// A week is 7 calendar days: holidays do not move it. Fri 3 Apr
		// 2026 19:00 (Easter Monday follows) = Fri 10 Apr 19:00; Fri 18 Dec
		// 19:00 (Wigilia, Christmas follow) = Fri 25 Dec 19:00.
		drive(t, p, []step{{EventReportReceived, "2026-04-03T19:00:00+02:00", map[string]want{
			"confirmation": {StateRunning, "2026-04-10T19:00:00+02:00"}}, 1}})
		drive(t, p, []step{{EventReportReceived, "2026-12-18T19:00:00+01:00", map[string]want{
			"confirmation": {StateRunning, "2026-12-25T19:00:00+01:00"}}, 1}})
		// 18 Dec + 50 days: 13 (to 31 Dec) + 31 + 6 = 6 Feb 2027.
		if got, want := p.DisclosureDate(ts(t, "2026-12-18T19:00:00+01:00")), ts(t, "2027-02-06T19:00:00+01:00"); !got.Equal(want) {
			t.Errorf("DisclosureDate() = %v, want %v", got, want)
		}
		for _, tt := range []struct {
			at      string
			workday bool
		}{
			{"2026-12-24T10:00:00+01:00", false}, // Wigilia, a closure in the file
			{"2026-11-11T10:00:00+01:00", false}, // Independence Day
			{"2026-04-06T10:00:00+02:00", false}, // Easter Monday
			{"2026-12-23T10:00:00+01:00", true},
		} {
			if got := p.Calendar.IsWorkday(ts(t, tt.at)); got != tt.workday {
				t.Errorf("IsWorkday(%s) = %v, want %v", tt.at, got, tt.workday)
			}
		}
	})

	t.Run("DST week, pause does not apply", func(t *testing.T) {
		// Fri 23 Oct 2026 19:00 CEST: a week later, Fri 30 Oct 19:00 CET.
		// The confirmation needs nothing from the reporter, so waiting on
		// them changes nothing.
		drive(t, p, []step{
			{EventReportReceived, "2026-10-23T19:00:00+02:00", map[string]want{
				"confirmation": {StateRunning, "2026-10-30T19:00:00+01:00"},
			}, 1},
			{EventWaitingReporter, "2026-10-26T10:00:00+01:00", map[string]want{
				"confirmation": {StateRunning, "2026-10-30T19:00:00+01:00"},
			}, 1},
			{EventReporterReplied, "2026-10-28T10:00:00+01:00", map[string]want{
				"confirmation": {StateRunning, "2026-10-30T19:00:00+01:00"},
			}, 1},
			{EventTeamReplied, "2026-10-28T10:05:00+01:00", map[string]want{
				"confirmation": {StateMet, ""},
			}, 1},
		})
		// 23 Oct + 50 days: 8 (to 31 Oct) + 30 + 12 = 12 Dec, 19:00 CET.
		if got, want := p.DisclosureDate(ts(t, "2026-10-23T19:00:00+02:00")), ts(t, "2026-12-12T19:00:00+01:00"); !got.Equal(want) {
			t.Errorf("DisclosureDate() = %v, want %v", got, want)
		}
	})
}
