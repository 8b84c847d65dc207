package remind

import (
	"slices"
	"strings"
	"testing"
	"time"

	"mailbot/policy"
)

// mt parses an RFC 3339 literal in a table; a bad literal is a bug in the
// test.
func mt(s string) time.Time {
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return v
}

func assign(who string) func(*CaseState) { return func(c *CaseState) { c.Assignee = who } }

// simWeek is a simulated stretch of a scheduler's life with one seed
// policy: the cases and what happens to them, when the bot is down or
// restarts, and every mail it must send, worked out by hand.
//
// Settings (testSettings): reminders 24h and 2h before each deadline,
// escalations every 4h, disclosure reminders 168h and 24h ahead; ticks every
// 15 minutes. Expected lines: tick, key (times local as MMDD-hhmm),
// recipient, @Due, " *" for a catch-up; "+" marks a part of the summary
// above it. January 2026: Thu 1 New Year; Tue 6 Epiphany is a public
// holiday in Italy and Poland, not in Berlin, the Netherlands or nationwide
// in Germany. All zones are UTC+1 in January.
type simWeek struct {
	name, file string
	from, to   string
	digest     string
	cases      func() []CaseState
	events     []simEvent
	down       [][2]string
	restarts   []string
	want       []string
}

var simWeeks = []simWeek{
	{
		// 000 Caspar Health, Berlin: acknowledge 3bd (on-duty; escalates to the
		// team), triage 10bd (assignee or on-duty; escalates to the lead),
		// pauses on the reporter; 90-day disclosure. Daily digest at 09:00.
		name: "000 Caspar Health", file: "000_caspar_health.toml",
		from: "2026-01-05T00:00:00+01:00", to: "2026-01-16T18:00:00+01:00",
		digest: "09:00",
		cases: func() []CaseState {
			// C: reported Sat 11 Oct 2025 15:00 CEST; +90 days: 20 (Oct) + 30
			// + 31 + 9 = Fri 9 Jan 2026 15:00 CET.
			disc := mt("2026-01-09T15:00:00+01:00")
			return []CaseState{
				{ID: 1, Ref: "SEC-2026-0001", Status: "new"},
				{ID: 2, Ref: "SEC-2025-0107", Status: "new"},
				{ID: 3, Ref: "SEC-2025-0042", Status: "fixed", Disclosure: disc, DisclosureTold: disc},
			}
		},
		events: []simEvent{
			// B: Mon 29 Dec 10:00. acknowledge 3bd: Tue 30, Wed 31, (New Year)
			// Fri 2. triage 10bd: Tue 30, Wed 31, Fri 2, Mon 5 .. Fri 9, Mon 12,
			// Tue 13 Jan 10:00.
			{at: "2025-12-29T10:00:00+01:00", ref: "SEC-2025-0107", ev: policy.EventReportReceived, due: map[string]string{
				"acknowledge": "2026-01-02T10:00:00+01:00", "triage": "2026-01-13T10:00:00+01:00"}},
			{at: "2025-12-29T11:00:00+01:00", ref: "SEC-2025-0107", ev: policy.EventTeamReplied, do: assign("alice")},
			// A: Mon 5 Jan 10:10. acknowledge 3bd: Thu 8 10:10. triage 10bd:
			// Mon 19 10:10 (its 24h reminder, Sun 18 -> Mon 19 09:00, is after
			// the end).
			{at: "2026-01-05T10:10:00+01:00", ref: "SEC-2026-0001", ev: policy.EventReportReceived, due: map[string]string{
				"acknowledge": "2026-01-08T10:10:00+01:00", "triage": "2026-01-19T10:10:00+01:00"}},
			// B waits on the reporter Fri 9 12:00 .. Mon 12 12:00: 14 working
			// hours were left (Fri 5h, Mon 8h, Tue 1h); from Mon 12:00: Mon 5h,
			// Tue 8h, Wed 1h = Wed 14 10:00.
			{at: "2026-01-09T12:00:00+01:00", ref: "SEC-2025-0107", ev: policy.EventWaitingReporter},
			{at: "2026-01-09T15:00:00+01:00", ref: "SEC-2026-0001", ev: policy.EventTeamReplied},
			{at: "2026-01-09T15:30:00+01:00", ref: "SEC-2025-0042", ev: policy.EventDisclosed},
			{at: "2026-01-12T12:00:00+01:00", ref: "SEC-2025-0107", ev: policy.EventReporterReplied, due: map[string]string{
				"triage": "2026-01-14T10:00:00+01:00"}},
			{at: "2026-01-15T11:00:00+01:00", ref: "SEC-2025-0107", ev: policy.EventConfirmed},
			{at: "2026-01-16T11:00:00+01:00", ref: "SEC-2026-0001", ev: policy.EventConfirmed},
		},
		down:     [][2]string{{"2026-01-08T10:05:00+01:00", "2026-01-08T15:05:00+01:00"}},
		restarts: []string{"2026-01-13T10:00:00+01:00"},
		want: []string{
			"01-05 Mon 09:00 digest:2026-01-05 -> on-duty @0105-0900",
			"01-06 Tue 09:00 digest:2026-01-06 -> on-duty @0106-0900",
			"01-07 Wed 09:00 digest:2026-01-07 -> on-duty @0107-0900",
			"01-08 Thu 09:00 digest:2026-01-08 -> on-duty @0108-0900",
			"01-09 Fri 09:00 digest:2026-01-09 -> on-duty @0109-0900",
			"01-12 Mon 09:00 digest:2026-01-12 -> on-duty @0112-0900",
			"01-13 Tue 09:00 digest:2026-01-13 -> on-duty @0113-0900",
			"01-14 Wed 09:00 digest:2026-01-14 -> on-duty @0114-0900",
			"01-15 Thu 09:00 digest:2026-01-15 -> on-duty @0115-0900",
			"01-16 Fri 09:00 digest:2026-01-16 -> on-duty @0116-0900",
			// C: 168h before Fri 9 15:00 is Fri 2 15:00, before the start.
			"01-05 Mon 09:00 disclosure-soon:SEC-2025-0042:0109-1500:168h -> team @0102-1500",
			// A: 24h before is Wed 7 10:10, first tick 10:15; 2h before is
			// Thu 08:10, deferred to 09:00.
			"01-07 Wed 10:15 remind:SEC-2026-0001:acknowledge:0108-1010:24h -> on-duty @0107-1010",
			"01-08 Thu 09:00 remind:SEC-2026-0001:acknowledge:0108-1010:2h -> on-duty @0108-0900",
			// Down Thu 10:05 .. 15:05: escalation 0 (10:15) is never sent;
			// at 15:15 (5h05 late) repetition 1 and C's 24h reminder (Thu
			// 15:00) are due, to the team, folded into one.
			"01-08 Thu 15:15 summary(2) -> team @0108-1500 *",
			"01-08 Thu 15:15 + escalate:SEC-2026-0001:acknowledge:0108-1010:1 -> team @0108-1410 *",
			"01-08 Thu 15:15 + disclosure-soon:SEC-2025-0042:0109-1500:24h -> team @0108-1500 *",
			// Fri 09:00 is 22h50 late: repetition 5 (20h, Fri 06:10 -> 09:00);
			// 6 (grid 10:10) waits 4h from 09:00 to 13:00, 7 (grid 14:10)
			// 4h from 13:00, past closing; the team replies at 15:00.
			"01-09 Fri 09:00 escalate:SEC-2026-0001:acknowledge:0108-1010:5 -> team @0109-0900",
			"01-09 Fri 13:00 escalate:SEC-2026-0001:acknowledge:0108-1010:6 -> team @0109-1300",
			// B, assigned: paused before its 24h reminder (Mon 12 10:00) was
			// due; after the resume 24h before is Tue 13 10:00 (right after a
			// restart: catch-up), 2h before is Wed 08:00 -> 09:00; escalations
			// to the lead at 10:00 (first tick after: 10:15), 14:00, Thu 09:00
			// (23h late: 5); 6 (grid 10:00) waits until 13:00; confirmed at
			// 11:00.
			"01-13 Tue 10:00 remind:SEC-2025-0107:triage:0114-1000:24h -> assignee @0113-1000 *",
			"01-14 Wed 09:00 remind:SEC-2025-0107:triage:0114-1000:2h -> assignee @0114-0900",
			"01-14 Wed 10:15 escalate:SEC-2025-0107:triage:0114-1000:0 -> lead @0114-1000",
			"01-14 Wed 14:00 escalate:SEC-2025-0107:triage:0114-1000:1 -> lead @0114-1400",
			"01-15 Thu 09:00 escalate:SEC-2025-0107:triage:0114-1000:5 -> lead @0115-0900",
		},
	},
	{
		// 001 Coosto, Amsterdam: assessment 3bd (on-duty or assignee),
		// pauses on the reporter; keep informed every 14 days.
		name: "001 Coosto", file: "001_coosto.toml",
		from: "2026-01-05T00:00:00+01:00", to: "2026-01-16T18:00:00+01:00",
		cases: func() []CaseState {
			return []CaseState{
				{ID: 11, Ref: "SEC-2025-0099", Status: "new"},
				{ID: 12, Ref: "SEC-2026-0003", Status: "new"},
			}
		},
		events: []simEvent{
			{at: "2025-12-15T10:00:00+01:00", ref: "SEC-2025-0099", ev: policy.EventReportReceived, due: map[string]string{
				"assessment": "2025-12-18T10:00:00+01:00"}},
			{at: "2025-12-15T14:00:00+01:00", ref: "SEC-2025-0099", ev: policy.EventTeamReplied, do: assign("carol"), due: map[string]string{
				"keep-informed": "2025-12-29T14:00:00+01:00"}},
			{at: "2025-12-17T10:00:00+01:00", ref: "SEC-2025-0099", ev: policy.EventAssessmentSent},
			{at: "2025-12-17T10:00:00+01:00", ref: "SEC-2025-0099", ev: policy.EventTriaged},
			// keep-informed restarts: 14 days later, Tue 6 Jan 10:00.
			{at: "2025-12-23T10:00:00+01:00", ref: "SEC-2025-0099", ev: policy.EventTeamReplied, due: map[string]string{
				"keep-informed": "2026-01-06T10:00:00+01:00"}},
			{at: "2026-01-08T11:00:00+01:00", ref: "SEC-2025-0099", ev: policy.EventTeamReplied, due: map[string]string{
				"keep-informed": "2026-01-22T11:00:00+01:00"}},
			// E: Fri 9 16:30; 3bd: Mon 12, Tue 13, Wed 14 16:30.
			{at: "2026-01-09T16:30:00+01:00", ref: "SEC-2026-0003", ev: policy.EventReportReceived, due: map[string]string{
				"assessment": "2026-01-14T16:30:00+01:00"}},
			{at: "2026-01-12T11:00:00+01:00", ref: "SEC-2026-0003", ev: policy.EventTeamReplied, due: map[string]string{
				"keep-informed": "2026-01-26T11:00:00+01:00"}},
			// Waiting Tue 13 10:00 .. Wed 14 10:00: 14h30 of working time was
			// left (Tue 7h, Wed 7h30); from Wed 10:00: Wed 7h, Thu 7h30 =
			// Thu 15 16:30. keep-informed (calendar days) moves by 24h.
			{at: "2026-01-13T10:00:00+01:00", ref: "SEC-2026-0003", ev: policy.EventWaitingReporter},
			{at: "2026-01-14T09:30:00+01:00", ref: "SEC-2026-0003", do: assign("bob")},
			{at: "2026-01-14T10:00:00+01:00", ref: "SEC-2026-0003", ev: policy.EventReporterReplied, due: map[string]string{
				"assessment": "2026-01-15T16:30:00+01:00", "keep-informed": "2026-01-27T11:00:00+01:00"}},
			{at: "2026-01-16T10:00:00+01:00", ref: "SEC-2026-0003", ev: policy.EventAssessmentSent},
		},
		down: [][2]string{{"2026-01-05T09:50:00+01:00", "2026-01-06T09:40:00+01:00"}},
		want: []string{
			// D's keep-informed clock (due Tue 6 10:00): 24h before (Mon 10:00)
			// fell in the downtime, 2h before (Tue 08:00 -> 09:00) too; at the
			// restart only the 2h one is sent, the 24h one is superseded.
			"01-06 Tue 09:45 remind:SEC-2025-0099:keep-informed:0106-1000:2h -> assignee @0106-0900 *",
			// Nobody wrote to D since Tue 23 Dec 10:00: a progress note 14
			// days later. The breached keep-informed clock is not escalated.
			"01-06 Tue 10:00 keep-informed:SEC-2025-0099:1223-1000 -> reporter @0106-1000",
			// E after the pause: 24h before Thu 15 16:30 (assigned since Wed
			// 09:30), 2h before; breached, escalations to the team at 16:45 and
			// Fri 09:00 (16h30 late: 4); the assessment is sent at 10:00.
			"01-14 Wed 16:30 remind:SEC-2026-0003:assessment:0115-1630:24h -> assignee @0114-1630",
			"01-15 Thu 14:30 remind:SEC-2026-0003:assessment:0115-1630:2h -> assignee @0115-1430",
			"01-15 Thu 16:45 escalate:SEC-2026-0003:assessment:0115-1630:0 -> team @0115-1630",
			"01-16 Fri 09:00 escalate:SEC-2026-0003:assessment:0115-1630:4 -> team @0116-0900",
		},
	},
	{
		// 002 IMIS Innovation, Berlin (national holidays): confirm 1bd
		// (on-duty), follow-up 48h from the first reply (on-duty or
		// assignee, pauses), keep informed every 7 days.
		name: "002 IMIS Innovation", file: "002_imis_innovation.toml",
		from: "2026-01-05T00:00:00+01:00", to: "2026-01-16T18:00:00+01:00",
		cases: func() []CaseState {
			return []CaseState{
				{ID: 21, Ref: "SEC-2025-0311", Status: "new"},
				{ID: 22, Ref: "SEC-2026-0004", Status: "new"},
			}
		},
		events: []simEvent{
			{at: "2025-12-29T09:30:00+01:00", ref: "SEC-2025-0311", ev: policy.EventReportReceived, due: map[string]string{
				"confirm": "2025-12-30T09:30:00+01:00"}},
			{at: "2025-12-29T10:00:00+01:00", ref: "SEC-2025-0311", ev: policy.EventTeamReplied, due: map[string]string{
				"follow-up": "2025-12-31T10:00:00+01:00", "keep-informed": "2026-01-05T10:00:00+01:00"}},
			{at: "2025-12-30T10:00:00+01:00", ref: "SEC-2025-0311", ev: policy.EventAssessmentSent},
			{at: "2025-12-30T10:00:00+01:00", ref: "SEC-2025-0311", ev: policy.EventConfirmed},
			// G: Fri 9 18:30, after hours; 1bd counts from Mon 09:00 and ends
			// on an opening, so at the close before: Mon 12 17:00.
			{at: "2026-01-09T18:30:00+01:00", ref: "SEC-2026-0004", ev: policy.EventReportReceived, due: map[string]string{
				"confirm": "2026-01-12T17:00:00+01:00"}},
			{at: "2026-01-12T16:00:00+01:00", ref: "SEC-2026-0004", ev: policy.EventTeamReplied, due: map[string]string{
				"follow-up": "2026-01-14T16:00:00+01:00", "keep-informed": "2026-01-19T16:00:00+01:00"}},
			{at: "2026-01-16T09:30:00+01:00", ref: "SEC-2026-0004", ev: policy.EventAssessmentSent},
		},
		restarts: []string{"2026-01-15T12:00:00+01:00"},
		want: []string{
			// F's keep-informed clock, due Mon 5 10:00: 24h before (Sun) and
			// 2h before (08:00) both defer to Mon 09:00: one reminder, to the
			// on-duty pair as nobody is assigned.
			"01-05 Mon 09:00 remind:SEC-2025-0311:keep-informed:0105-1000:2h -> on-duty @0105-0900",
			// Last written to F: the assessment, Tue 30 Dec 10:00; notes 7
			// days later, then 7 days after the bot's own note.
			"01-06 Tue 10:00 keep-informed:SEC-2025-0311:1230-1000 -> reporter @0106-1000",
			"01-13 Tue 10:00 keep-informed:SEC-2025-0311:0106-1000 -> reporter @0113-1000",
			// G: confirm 24h before is Sun 11 17:00 -> Mon 09:00; 2h before Mon
			// 15:00; the team replies at 16:00.
			"01-12 Mon 09:00 remind:SEC-2026-0004:confirm:0112-1700:24h -> on-duty @0112-0900",
			"01-12 Mon 15:00 remind:SEC-2026-0004:confirm:0112-1700:2h -> on-duty @0112-1500",
			// follow-up due Wed 14 16:00: reminders Tue 16:00 and Wed 14:00;
			// escalations 16:15 (0), Thu 09:00 (17h: 4), 13:00 (5: grid 12:00,
			// but 4h after 09:00), 6 (grid 16:00) 4h after 13:00 is closing,
			// Fri 09:00 (41h: 10); done 09:30.
			"01-13 Tue 16:00 remind:SEC-2026-0004:follow-up:0114-1600:24h -> on-duty @0113-1600",
			"01-14 Wed 14:00 remind:SEC-2026-0004:follow-up:0114-1600:2h -> on-duty @0114-1400",
			"01-14 Wed 16:15 escalate:SEC-2026-0004:follow-up:0114-1600:0 -> team @0114-1600",
			"01-15 Thu 09:00 escalate:SEC-2026-0004:follow-up:0114-1600:4 -> team @0115-0900",
			"01-15 Thu 13:00 escalate:SEC-2026-0004:follow-up:0114-1600:5 -> team @0115-1300",
			"01-16 Fri 09:00 escalate:SEC-2026-0004:follow-up:0114-1600:10 -> team @0116-0900",
		},
	},
	{
		// 003 unnamed, Rome: evaluation 7bd (on-duty or assignee), pauses;
		// keep informed every 14 days. Tue 6 Jan is a holiday.
		name: "003 unnamed IT", file: "003_unnamed_it.toml",
		from: "2026-01-05T00:00:00+01:00", to: "2026-01-16T18:00:00+01:00",
		cases: func() []CaseState {
			return []CaseState{
				{ID: 31, Ref: "SEC-2025-0313", Status: "new"},
				{ID: 32, Ref: "SEC-2026-0005", Status: "new"},
			}
		},
		events: []simEvent{
			// H: Tue 23 Dec 14:00; 7bd: Wed 24, (Christmas, St Stephen) Mon 29,
			// Tue 30, Wed 31, (New Year) Fri 2, Mon 5, (Epiphany) Wed 7 14:00.
			{at: "2025-12-23T14:00:00+01:00", ref: "SEC-2025-0313", ev: policy.EventReportReceived, due: map[string]string{
				"evaluation": "2026-01-07T14:00:00+01:00"}},
			{at: "2025-12-23T16:00:00+01:00", ref: "SEC-2025-0313", ev: policy.EventTeamReplied, due: map[string]string{
				"keep-informed": "2026-01-06T16:00:00+01:00"}},
			{at: "2026-01-07T13:00:00+01:00", ref: "SEC-2025-0313", ev: policy.EventAssessmentSent},
			// I: Mon 5 11:20; 7bd: (Epiphany) Wed 7 .. Thu 15 11:20.
			{at: "2026-01-05T11:20:00+01:00", ref: "SEC-2026-0005", ev: policy.EventReportReceived, due: map[string]string{
				"evaluation": "2026-01-15T11:20:00+01:00"}},
			{at: "2026-01-05T12:00:00+01:00", ref: "SEC-2026-0005", do: assign("dave")},
			{at: "2026-01-05T15:00:00+01:00", ref: "SEC-2026-0005", ev: policy.EventTeamReplied, due: map[string]string{
				"keep-informed": "2026-01-19T15:00:00+01:00"}},
		},
		restarts: []string{"2026-01-07T08:00:00+01:00"},
		want: []string{
			// H's keep-informed clock is due on the holiday, Tue 6 16:00: 24h
			// before is Mon 16:00; 2h before (Tue 14:00) has no working moment
			// left before the deadline, so it moves back to the last working
			// day, but never before the longer lead: both at Mon 16:00, one
			// reminder.
			"01-05 Mon 16:00 remind:SEC-2025-0313:keep-informed:0106-1600:2h -> on-duty @0105-1600",
			// Evaluation due Wed 7 14:00: 24h before is the holiday -> Wed
			// 09:00; 2h before 12:00.
			"01-07 Wed 09:00 remind:SEC-2025-0313:evaluation:0107-1400:24h -> on-duty @0107-0900",
			"01-07 Wed 12:00 remind:SEC-2025-0313:evaluation:0107-1400:2h -> on-duty @0107-1200",
			// Last written Tue 23 Dec 16:00 + 14 days = the holiday -> Wed 09:00.
			"01-07 Wed 09:00 keep-informed:SEC-2025-0313:1223-1600 -> reporter @0107-0900",
			// I, assigned: reminders Wed 14 11:20 and Thu 09:20 (ticks 11:30,
			// 09:30), escalations from Thu 11:20 every 4h within working
			// hours: 0 (11:30), 1 (15:20), Fri 09:00 (21h40: 5), 6 (grid
			// 11:20, 4h after 09:00: 13:00), 7 (4h after 13:00: closing).
			"01-14 Wed 11:30 remind:SEC-2026-0005:evaluation:0115-1120:24h -> assignee @0114-1120",
			"01-15 Thu 09:30 remind:SEC-2026-0005:evaluation:0115-1120:2h -> assignee @0115-0920",
			"01-15 Thu 11:30 escalate:SEC-2026-0005:evaluation:0115-1120:0 -> team @0115-1120",
			"01-15 Thu 15:30 escalate:SEC-2026-0005:evaluation:0115-1120:1 -> team @0115-1520",
			"01-16 Fri 09:00 escalate:SEC-2026-0005:evaluation:0115-1120:5 -> team @0116-0900",
			"01-16 Fri 13:00 escalate:SEC-2026-0005:evaluation:0115-1120:6 -> team @0116-1300",
		},
	},
	{
		// 004 Centuran, Warsaw: confirmation within 1 week (calendar days,
		// on-duty), 50-day disclosure, extendable. Tue 6 Jan is a holiday.
		name: "004 Centuran", file: "004_centuran.toml",
		from: "2026-01-05T00:00:00+01:00", to: "2026-01-16T18:00:00+01:00",
		cases: func() []CaseState {
			// J: reported Mon 17 Nov 2025 14:00; +50 days: 13 (Nov) + 31 + 6 =
			// Tue 6 Jan 2026 14:00.
			disc := mt("2026-01-06T14:00:00+01:00")
			return []CaseState{
				{ID: 41, Ref: "SEC-2025-0190", Status: "fixing", Disclosure: disc, DisclosureTold: disc},
				{ID: 42, Ref: "SEC-2025-0201", Status: "new"},
				{ID: 43, Ref: "SEC-2026-0007", Status: "new"},
			}
		},
		events: []simEvent{
			{at: "2025-12-30T10:00:00+01:00", ref: "SEC-2025-0201", ev: policy.EventReportReceived, due: map[string]string{
				"confirmation": "2026-01-06T10:00:00+01:00"}},
			{at: "2026-01-03T20:00:00+01:00", ref: "SEC-2026-0007", ev: policy.EventReportReceived, due: map[string]string{
				"confirmation": "2026-01-10T20:00:00+01:00"}},
			{at: "2026-01-05T15:10:00+01:00", ref: "SEC-2025-0190", do: func(c *CaseState) {
				c.Disclosure = mt("2026-01-20T14:00:00+01:00") // extended by two weeks
			}},
			{at: "2026-01-07T10:30:00+01:00", ref: "SEC-2025-0201", ev: policy.EventTeamReplied},
			{at: "2026-01-13T09:10:00+01:00", ref: "SEC-2026-0007", ev: policy.EventTeamReplied},
		},
		down: [][2]string{{"2026-01-08T16:00:00+01:00", "2026-01-09T10:20:00+01:00"}},
		want: []string{
			// J: 168h before Tue 6 14:00 is Tue 30 Dec 14:00, 24h before Mon
			// 14:00; then the date moves to Tue 20 Jan: a notice to the
			// reporter, and the 168h reminder for the new date (Tue 13 14:00).
			"01-05 Mon 09:00 disclosure-soon:SEC-2025-0190:0106-1400:168h -> team @1230-1400",
			"01-05 Mon 14:00 disclosure-soon:SEC-2025-0190:0106-1400:24h -> team @0105-1400",
			"01-05 Mon 15:15 disclosure-moved:SEC-2025-0190:0106-1400>0120-1400 -> reporter @0105-1515",
			"01-13 Tue 14:00 disclosure-soon:SEC-2025-0190:0120-1400:168h -> team @0113-1400",
			// K due on the holiday, Tue 6 10:00: 24h before Mon 10:00; 2h
			// before (Tue 08:00) moves back to Mon 09:00, not before the 24h
			// one: one reminder at 10:00. Escalations Wed 09:00 (23h: 5); 6
			// (grid 10:00) would wait until 13:00: the team replies at 10:30.
			"01-05 Mon 10:00 remind:SEC-2025-0201:confirmation:0106-1000:2h -> on-duty @0105-1000",
			"01-07 Wed 09:00 escalate:SEC-2025-0201:confirmation:0106-1000:5 -> team @0107-0900",
			// L due Sat 10 20:00: both reminders move back to Fri 9 09:00,
			// sent at the restart after the downtime. Escalations Mon 09:00
			// (37h: 9, from Mon 08:00), 13:00 (10: grid 12:00, 4h after 09:00),
			// 11 (grid 16:00) 4h after 13:00 is closing, Tue 09:00 (61h: 15);
			// the team replies at 09:10.
			"01-09 Fri 10:30 remind:SEC-2026-0007:confirmation:0110-2000:2h -> on-duty @0109-0900 *",
			"01-12 Mon 09:00 escalate:SEC-2026-0007:confirmation:0110-2000:9 -> team @0112-0900",
			"01-12 Mon 13:00 escalate:SEC-2026-0007:confirmation:0110-2000:10 -> team @0112-1300",
			"01-13 Tue 09:00 escalate:SEC-2026-0007:confirmation:0110-2000:15 -> team @0113-0900",
		},
	},
	{
		// Two days of downtime (Tue 6 08:00 .. Thu 8 11:00) with Caspar
		// Health: one mail per recipient when the bot comes back.
		name: "000 two days down", file: "000_caspar_health.toml",
		from: "2026-01-05T00:00:00+01:00", to: "2026-01-08T11:30:00+01:00",
		digest: "09:00",
		cases: func() []CaseState {
			return []CaseState{
				{ID: 1, Ref: "SEC-2026-0001", Status: "new"},
				{ID: 2, Ref: "SEC-2026-0002", Status: "new"},
				{ID: 3, Ref: "SEC-2026-0003", Status: "new"},
			}
		},
		events: []simEvent{
			// 3bd each: Fri 2 10:00 -> Wed 7 10:00; Mon 5 14:00 -> Thu 8
			// 14:00; Mon 5 16:00 -> Thu 8 16:00.
			{at: "2026-01-02T10:00:00+01:00", ref: "SEC-2026-0001", ev: policy.EventReportReceived, due: map[string]string{
				"acknowledge": "2026-01-07T10:00:00+01:00"}},
			{at: "2026-01-05T14:00:00+01:00", ref: "SEC-2026-0002", ev: policy.EventReportReceived, due: map[string]string{
				"acknowledge": "2026-01-08T14:00:00+01:00"}},
			{at: "2026-01-05T16:00:00+01:00", ref: "SEC-2026-0003", ev: policy.EventReportReceived, due: map[string]string{
				"acknowledge": "2026-01-08T16:00:00+01:00"}},
		},
		down: [][2]string{{"2026-01-06T08:00:00+01:00", "2026-01-08T11:00:00+01:00"}},
		want: []string{
			"01-05 Mon 09:00 digest:2026-01-05 -> on-duty @0105-0900",
			// Case 1's reminders (Tue 10:00, Wed 09:00) fell in the downtime
			// and its deadline passed: only the escalation, 25h late (6, from
			// Thu 10:00). Cases 2 and 3: the 24h reminders (Wed 14:00, 16:00)
			// are due, the 2h ones not yet; with today's digest they are one
			// mail to the on-duty pair.
			"01-08 Thu 11:00 summary(3) -> on-duty @0108-0900 *",
			"01-08 Thu 11:00 + digest:2026-01-08 -> on-duty @0108-0900 *",
			"01-08 Thu 11:00 + remind:SEC-2026-0002:acknowledge:0108-1400:24h -> on-duty @0107-1400 *",
			"01-08 Thu 11:00 + remind:SEC-2026-0003:acknowledge:0108-1600:24h -> on-duty @0107-1600 *",
			"01-08 Thu 11:00 escalate:SEC-2026-0001:acknowledge:0107-1000:6 -> team @0108-1000 *",
		},
	},
}

func (w simWeek) sim(t *testing.T) *sim {
	t.Helper()
	s := newSim(t, w.file, w.cases()...)
	s.s.DigestAt = w.digest
	s.down = w.down
	s.restarts = w.restarts
	return s
}

// TestSimulatedWeeks runs each seed policy for one or two weeks of 15-minute
// ticks, with downtime and restarts, and checks every mail sent and when.
// The same run with a restart before every tick (lastRun always lost) must
// plan exactly the same actions.
func TestSimulatedWeeks(t *testing.T) {
	for _, w := range simWeeks {
		t.Run(w.name, func(t *testing.T) {
			s := w.sim(t)
			s.run(w.from, w.to, slices.Clone(w.events))
			s.check(w.want)

			r := w.sim(t)
			r.every = true
			r.run(w.from, w.to, slices.Clone(w.events))
			if !slices.Equal(r.flat, s.flat) {
				t.Errorf("restarting every tick planned\n\t%s\nwant\n\t%s",
					strings.Join(r.flat, "\n\t"), strings.Join(s.flat, "\n\t"))
			}
		})
	}
}
