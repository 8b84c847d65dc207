package soak

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// GenOptions says what Generate makes. Zero fields take the short mode's
// values (ShortOptions); zero Reports and Faults scale with Span.
type GenOptions struct {
	Seed    int64
	Start   time.Time     // simulated start
	Span    time.Duration // simulated length
	Reports int           // new reports, all instances together
	Faults  int           // faults, at least one of each kind when there is room
}

// ShortOptions is SOAK=short: a simulated week from Wednesday 2027-03-24,
// with Good Friday (03-26), the EU DST change (03-28) and Easter Monday
// (03-29) inside it.
func ShortOptions(seed int64) GenOptions {
	return GenOptions{
		Seed:    seed,
		Start:   time.Date(2027, 3, 24, 0, 0, 0, 0, time.UTC),
		Span:    7 * 24 * time.Hour,
		Reports: 60,
		Faults:  8,
	}
}

// MonthOptions is `make soak`: 30 simulated days from Monday 2027-03-08,
// with the US DST change (03-14), the EU one (03-28) and Easter inside it.
func MonthOptions(seed int64) GenOptions {
	return GenOptions{
		Seed:    seed,
		Start:   time.Date(2027, 3, 8, 0, 0, 0, 0, time.UTC),
		Span:    30 * 24 * time.Hour,
		Reports: 520,
		Faults:  32,
	}
}

func (o GenOptions) withDefaults() GenOptions {
	short := ShortOptions(o.Seed)
	if o.Start.IsZero() {
		o.Start = short.Start
	}
	if o.Span <= 0 {
		o.Span = short.Span
	}
	weeks := float64(o.Span) / float64(short.Span)
	if o.Reports <= 0 {
		o.Reports = max(1, int(float64(short.Reports)*weeks))
	}
	if o.Faults <= 0 {
		o.Faults = max(1, int(float64(short.Faults)*weeks))
	}
	return o
}

// seedInstances are the five bots, one per seed policy in testdata/policies,
// with the time zone of that policy's [calendar] (the generator shapes
// arrivals and team hours with it; the oracle reads the policy itself).
var seedInstances = []struct{ name, policy, zone string }{
	{"caspar", "000_caspar_health.toml", "Europe/Berlin"},
	{"coosto", "001_coosto.toml", "Europe/Amsterdam"},
	{"imis", "002_imis_innovation.toml", "Europe/Berlin"},
	{"unnamed", "003_unnamed_it.toml", "Europe/Rome"},
	{"centuran", "004_centuran.toml", "Europe/Warsaw"},
}

var memberNames = []string{"ann", "bob", "cem", "dora"}

// Formats of reports and follow-ups.
var Formats = []string{"plain", "pgp-mime", "inline", "attachment"}

// RobotSamples are the testdata mail files robots are made from (paths from
// the repository root): RFC 3834 auto-replies, bounces of several MTAs, an
// abuse report (ARF) and list mail. None may ever be answered.
var RobotSamples = []string{
	"testdata/mail/automated/autoreplies/sisimai/rfc3834-01.eml",
	"testdata/mail/automated/autoreplies/sisimai/rfc3834-02.eml",
	"testdata/mail/automated/autoreplies/sisimai/rfc3834-03.eml",
	"testdata/mail/automated/bounces/flanker/mailbox-full.eml",
	"testdata/mail/automated/bounces/flanker/no-mx.eml",
	"testdata/mail/automated/bounces/flanker/office365.eml",
	"testdata/mail/automated/bounces/sisimai/lhost-postfix-01.eml",
	"testdata/mail/automated/bounces/sisimai/lhost-exim-01.eml",
	"testdata/mail/automated/bots-and-reports/sisimai-arf/arf-01.eml",
	"testdata/mail/automated/mailing-lists/spamassassin-issue18/002.eml",
}

// SpamSamples are the testdata spam files; the driver adds the trusted
// verdict header and sets From to the action's From (a soak.test address,
// so that nothing can reach the sample's real sender).
var SpamSamples = []string{
	"testdata/mail/automated/spam-ham/spamassassin-t-data/spam/001.eml",
	"testdata/mail/automated/spam-ham/spamassassin-t-data/spam/002.eml",
	"testdata/mail/automated/spam-ham/spamassassin-t-data/spam/010.eml",
	"testdata/mail/automated/spam-ham/spamassassin-t-data/spam/018.eml",
	"testdata/mail/automated/spam-ham/spamassassin-t-data/spam/gtube.eml",
}

// FaultKinds is every kind of fault, in a fixed order.
var FaultKinds = []FaultKind{FaultKill, FaultDovecot, FaultSMTP, FaultPassword, FaultDiskFull, FaultUIDValidity, FaultSuspend}

// ActionKinds is every kind of action, in a fixed order.
var ActionKinds = []ActionKind{ActReport, ActFollowUp, ActRobot, ActSpam, ActTeamReply, ActTeamCommand, ActWithdraw}

// gen holds the state of one Generate call.
type gen struct {
	opt     GenOptions
	r       *rand.Rand
	end     time.Time
	plan    Plan
	locs    map[string]*time.Location
	counter map[string]int
	// lastReport is the last report of a researcher per instance, to keep
	// every sender far below the flood caps ([flood] cases_per_sender).
	lastReport map[string]time.Time
}

// Generate makes the plan of a run, the same for the same options: five
// instances with their teams, the workload and the faults.
func Generate(opt GenOptions) Plan {
	opt = opt.withDefaults()
	seed := uint64(opt.Seed)
	g := &gen{
		opt:        opt,
		r:          rand.New(rand.NewPCG(seed, seed^0x5eed50a6)),
		end:        opt.Start.Add(opt.Span),
		locs:       map[string]*time.Location{},
		counter:    map[string]int{},
		lastReport: map[string]time.Time{},
	}
	g.plan = Plan{Seed: opt.Seed, Start: opt.Start, Span: opt.Span}
	g.instances()
	g.workload()
	g.faults()
	slices.SortStableFunc(g.plan.Actions, func(a, b Action) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID))
	})
	slices.SortStableFunc(g.plan.Faults, func(a, b Fault) int { return a.At.Compare(b.At) })
	return g.plan
}

func (g *gen) id(prefix string) string {
	g.counter[prefix]++
	return fmt.Sprintf("%s-%04d", prefix, g.counter[prefix])
}

// between is a uniform time in [a, b).
func (g *gen) between(a, b time.Time) time.Time {
	if !a.Before(b) {
		return a
	}
	return a.Add(time.Duration(g.r.Int64N(int64(b.Sub(a)))))
}

// minutes is a uniform duration of lo to hi minutes.
func (g *gen) minutes(lo, hi int) time.Duration {
	return time.Duration(lo+g.r.IntN(hi-lo+1)) * time.Minute
}

func (g *gen) instances() {
	startDay := g.opt.Start.Format(time.DateOnly)
	for _, s := range seedInstances {
		loc, err := time.LoadLocation(s.zone)
		if err != nil {
			panic("soak: time zone " + s.zone + ": " + err.Error()) // tzdata is embedded by policy
		}
		g.locs[s.name] = loc
		in := Instance{
			Name:      s.name,
			Policy:    s.policy,
			Address:   "security@" + s.name + ".soak.test",
			Lead:      "lead." + s.name + "@team.soak.test",
			Zone:      s.zone,
			DutyMode:  "weekly",
			DutyStart: startDay,
		}
		for _, n := range memberNames[:3+g.r.IntN(2)] {
			in.Team = append(in.Team, Member{Name: n, Address: n + "." + s.name + "@team.soak.test"})
		}
		g.plan.Instances = append(g.plan.Instances, in)
	}
	// A few duty swaps: an on-duty member trades places with one who is
	// off duty, for one to three days, on work days inside the span.
	swaps := max(2, int(g.opt.Span/(7*24*time.Hour)))
	for range swaps {
		i := g.r.IntN(len(g.plan.Instances))
		in := &g.plan.Instances[i]
		day := g.nextOffice(g.between(g.opt.Start.Add(24*time.Hour), g.end.Add(-48*time.Hour)), g.locs[in.Name])
		pair := in.OnDuty(day, g.locs[in.Name], weekday)
		var off []string
		for _, m := range in.Team {
			if m.Address != pair[0].Address && m.Address != pair[1].Address {
				off = append(off, m.Name)
			}
		}
		to := day.AddDate(0, 0, g.r.IntN(3))
		in.DutySwaps = append(in.DutySwaps, DutySwap{
			From: day.Format(time.DateOnly),
			To:   to.Format(time.DateOnly),
			Pair: [2]string{pair[g.r.IntN(2)].Name, off[g.r.IntN(len(off))]},
		})
	}
}

// weekday is the generator's work-day test: Monday to Friday. The oracle
// uses the policy calendar (with holidays); for weekly shifts both give the
// same pair, since every week of the spans has a work day.
func weekday(t time.Time) bool {
	return t.Weekday() != time.Saturday && t.Weekday() != time.Sunday
}

// nextOffice is t when it is Monday to Friday 09:00-17:00 local, else the
// next 09:00 of such a day (holidays are ignored: a team that answers on
// Good Friday only answers earlier than the policy needs).
func (g *gen) nextOffice(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	for range 8 {
		if weekday(l) {
			open := time.Date(l.Year(), l.Month(), l.Day(), 9, 0, 0, 0, loc)
			closing := time.Date(l.Year(), l.Month(), l.Day(), 17, 0, 0, 0, loc)
			if l.Before(open) {
				return open
			}
			if l.Before(closing) {
				return l
			}
		}
		l = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
	}
	return l
}

// arrivalWeight shapes when researchers write: office hours on work days
// most, evenings less, nights and weekends little.
func arrivalWeight(t time.Time) float64 {
	w := 0.1
	switch h := t.Hour(); {
	case h >= 9 && h < 17:
		w = 1
	case h >= 7 && h < 22:
		w = 0.4
	}
	if !weekday(t) {
		w *= 0.25
	}
	return w
}

// arrival is a random moment in [a, b) drawn with arrivalWeight in loc.
func (g *gen) arrival(a, b time.Time, loc *time.Location) time.Time {
	for {
		t := g.between(a, b).Truncate(time.Minute)
		if g.r.Float64() < arrivalWeight(t.In(loc)) {
			return t
		}
	}
}

func (g *gen) add(a Action) Action {
	if a.At.Before(g.end) {
		g.plan.Actions = append(g.plan.Actions, a)
	}
	return a
}

// researcher picks a reporter address that has not reported to instance in
// the two hours before at.
func (g *gen) researcher(instance string, at time.Time) string {
	pool := max(40, g.opt.Reports/3)
	for {
		addr := fmt.Sprintf("r%03d@research.soak.test", 1+g.r.IntN(pool))
		last, ok := g.lastReport[instance+" "+addr]
		if !ok || at.Sub(last) > 2*time.Hour || last.Sub(at) > 2*time.Hour {
			g.lastReport[instance+" "+addr] = at
			return addr
		}
	}
}

// member is the address of a member on duty at at.
func (g *gen) member(in Instance, at time.Time) string {
	pair := in.OnDuty(at, g.locs[in.Name], weekday)
	return pair[g.r.IntN(2)].Address
}

func (g *gen) workload() {
	n := g.opt.Reports
	forget := make([]bool, n)
	for i := range n / 5 { // a fifth are forgotten
		forget[i] = true
	}
	g.r.Shuffle(n, func(i, j int) { forget[i], forget[j] = forget[j], forget[i] })
	withdrawn := max(1, n/150)
	moved := max(1, n/40)
	lastArrival := g.end.Add(-6 * time.Hour)
	for i := range n {
		in := g.plan.Instances[i%len(g.plan.Instances)]
		loc := g.locs[in.Name]
		at := g.arrival(g.opt.Start.Add(time.Hour), lastArrival, loc)
		rep := g.add(Action{
			At:       at,
			Instance: in.Name,
			Kind:     ActReport,
			ID:       g.id("rep"),
			From:     g.researcher(in.Name, at),
			Format:   Formats[i%len(Formats)],
			Forget:   forget[i],
		})
		switch {
		case rep.Forget:
		case withdrawn > 0:
			withdrawn--
			g.withdraw(in, rep)
			continue // no follow-up on a withdrawn report
		default:
			g.answer(in, rep, moved > 0)
			moved--
		}
		if g.r.IntN(6) == 0 {
			g.add(Action{
				At: at.Add(g.minutes(60, 3*24*60)), Instance: in.Name, Kind: ActFollowUp,
				ID: g.id("fu"), From: rep.From, Report: rep.ID, Format: Formats[g.r.IntN(len(Formats))],
			})
		}
	}
	for range max(2, n/8) {
		in := g.plan.Instances[g.r.IntN(len(g.plan.Instances))]
		g.add(Action{
			At: g.between(g.opt.Start, lastArrival).Truncate(time.Minute), Instance: in.Name, Kind: ActRobot,
			ID: g.id("robot"), Sample: RobotSamples[g.r.IntN(len(RobotSamples))],
		})
	}
	for k := range max(3, n/10) {
		in := g.plan.Instances[g.r.IntN(len(g.plan.Instances))]
		at := g.between(g.opt.Start, lastArrival).Truncate(time.Minute)
		spam := g.add(Action{
			At: at, Instance: in.Name, Kind: ActSpam, ID: g.id("spam"),
			From:   fmt.Sprintf("promo%03d@spam.soak.test", k+1),
			Sample: SpamSamples[g.r.IntN(len(SpamSamples))],
		})
		if k%3 == 0 { // a report the filter took for spam: a member releases it
			g.release(in, spam)
		}
	}
}

// answer plans the team's work on a report: a claim at the next office
// moment, a reply to the reporter, triage, then the confirmation with an
// expected date (assessment.sent) within a day, later a fix. With move, a
// disclosure date is set and then moved.
func (g *gen) answer(in Instance, rep Action, move bool) {
	t := g.nextOffice(rep.At.Add(g.minutes(5, 30)), g.locs[in.Name]).Add(g.minutes(5, 90))
	cmd := func(at time.Time, command string) time.Time {
		g.add(Action{At: at, Instance: in.Name, Kind: ActTeamCommand, ID: g.id("cmd"),
			From: g.member(in, at), Report: rep.ID, Command: command})
		return at
	}
	t = cmd(t, "claim")
	t = t.Add(g.minutes(5, 30))
	g.add(Action{At: t, Instance: in.Name, Kind: ActTeamReply, ID: g.id("reply"), From: g.member(in, t), Report: rep.ID})
	t = cmd(t.Add(g.minutes(30, 120)), "status triaged")
	expected := rep.At.AddDate(0, 0, 30+g.r.IntN(30)).Format(time.DateOnly)
	t = cmd(t.Add(g.minutes(120, 20*60)), "status confirmed\nexpected "+expected)
	if move {
		disclose := rep.At.AddDate(0, 0, 60)
		t = cmd(t.Add(g.minutes(30, 240)), "disclose "+disclose.Format(time.DateOnly))
		t = cmd(t.Add(g.minutes(60, 24*60)), "disclose "+disclose.AddDate(0, 0, 14).Format(time.DateOnly))
	}
	if g.r.IntN(2) == 0 {
		cmd(t.Add(g.minutes(24*60, 7*24*60)), "status fixed")
	}
}

// withdraw plans a reporter taking a report back, and an on-duty member
// closing the case with "status rejected" (its own team-command action).
func (g *gen) withdraw(in Instance, rep Action) {
	w := g.add(Action{At: rep.At.Add(g.minutes(20, 120)), Instance: in.Name, Kind: ActWithdraw,
		ID: g.id("wd"), From: rep.From, Report: rep.ID})
	t := g.nextOffice(w.At, g.locs[in.Name]).Add(g.minutes(10, 60))
	g.add(Action{At: t, Instance: in.Name, Kind: ActTeamCommand, ID: g.id("cmd"),
		From: g.member(in, t), Report: rep.ID, Command: "status rejected"})
}

// release plans a member's not-spam for a held spam action, then the same
// work as on a report.
func (g *gen) release(in Instance, spam Action) {
	t := g.nextOffice(spam.At.Add(g.minutes(5, 30)), g.locs[in.Name]).Add(g.minutes(5, 60))
	g.add(Action{At: t, Instance: in.Name, Kind: ActTeamCommand, ID: g.id("cmd"),
		From: g.member(in, t), Report: spam.ID, Command: "not-spam"})
	t = t.Add(g.minutes(5, 30))
	g.add(Action{At: t, Instance: in.Name, Kind: ActTeamReply, ID: g.id("reply"), From: g.member(in, t), Report: spam.ID})
	g.add(Action{At: t.Add(g.minutes(30, 120)), Instance: in.Name, Kind: ActTeamCommand, ID: g.id("cmd"),
		From: g.member(in, t), Report: spam.ID, Command: "status confirmed\nexpected " + spam.At.AddDate(0, 0, 45).Format(time.DateOnly)})
}

// faultLength is how long a fault of kind lasts: zero for an instant one.
// The SMTP outage is about a simulated day in a month, shorter in a week.
func (g *gen) faultLength(k FaultKind) time.Duration {
	month := g.opt.Span >= 20*24*time.Hour
	switch k {
	case FaultSMTP:
		if month {
			return g.minutes(20*60, 28*60)
		}
		return g.minutes(3*60, 6*60)
	case FaultDovecot, FaultPassword:
		return g.minutes(30, 180)
	case FaultDiskFull:
		return g.minutes(60, 240)
	case FaultSuspend:
		return g.minutes(60, 360)
	}
	return 0
}

// faultGap is the least time between the end of one fault and the start of
// the next, so that each recovery is seen on its own.
const faultGap = 3 * time.Hour

func (g *gen) faults() {
	lo, hi := g.opt.Start.Add(24*time.Hour), g.end.Add(-24*time.Hour)
	for i := range g.opt.Faults {
		kind := FaultKinds[i%len(FaultKinds)]
		if i >= len(FaultKinds) && g.r.IntN(2) == 0 {
			kind = FaultKinds[g.r.IntN(len(FaultKinds))]
		}
		f := Fault{Kind: kind, For: g.faultLength(kind)}
		loc := g.locs[g.plan.Instances[0].Name] // shared servers: the first zone
		switch kind {
		case FaultDovecot, FaultSMTP: // the shared servers
		default:
			f.Instance = g.plan.Instances[g.r.IntN(len(g.plan.Instances))].Name
			loc = g.locs[f.Instance]
		}
		for try := 0; ; try++ {
			if try == 1000 {
				return // no room left: fewer faults rather than overlapping ones
			}
			// Shaped like the arrivals: a fault while mail flows tests more.
			f.At = g.arrival(lo, hi.Add(-f.For), loc)
			if !g.overlaps(f) {
				break
			}
		}
		g.plan.Faults = append(g.plan.Faults, f)
	}
}

func (g *gen) overlaps(f Fault) bool {
	for _, o := range g.plan.Faults {
		if f.At.Before(o.At.Add(o.For+faultGap)) && o.At.Before(f.At.Add(f.For+faultGap)) {
			return true
		}
	}
	return false
}

// OnDuty is the pair on duty at t, the way the [duty] table with mode
// weekly, start DutyStart, order Team and DutySwaps as swap overrides says
// (mailbot/team's rules, computed here on their own): the days from
// DutyStart are cut into weeks; a week with a work day starts the next
// shift, one without belongs to the shift before; shift k is Team[k] and
// Team[k+1] (mod the team size), after the swaps of that day traded places.
func (in Instance) OnDuty(t time.Time, loc *time.Location, isWorkday func(time.Time) bool) [2]Member {
	n := len(in.Team)
	if n == 0 {
		return [2]Member{}
	}
	day := localDate(t, loc)
	start, err := time.Parse(time.DateOnly, in.DutyStart)
	if err != nil {
		start = day
	}
	days := int(day.Sub(start).Hours()) / 24
	period := days / 7
	if days < 0 {
		period = -((-days + 6) / 7)
	}
	shift := -1
	for p := 0; p <= period; p++ {
		for i := range 7 {
			d := start.AddDate(0, 0, 7*p+i)
			if isWorkday(time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, loc)) {
				shift++
				break
			}
		}
	}
	shift = max(shift, 0)
	order := slices.Clone(in.Team)
	date := day.Format(time.DateOnly)
	for _, s := range in.DutySwaps {
		if date < s.From || date > s.To {
			continue
		}
		for i, m := range order {
			switch m.Name {
			case s.Pair[0]:
				order[i] = in.member(s.Pair[1])
			case s.Pair[1]:
				order[i] = in.member(s.Pair[0])
			}
		}
	}
	return [2]Member{order[shift%n], order[(shift+1)%n]}
}

func (in Instance) member(name string) Member {
	for _, m := range in.Team {
		if m.Name == name {
			return m
		}
	}
	return Member{Name: name}
}

// localDate is the local calendar day of t, as a UTC midnight (so that day
// differences are whole days whatever the DST changes).
func localDate(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
