package intake

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/parse"
	"mailbot/mailbot/pgp"
	"mailbot/mailbot/remind"
	"mailbot/mailbot/team"
	"mailbot/mailbot/triage"
	"mailbot/policy"
	"mailbot/store"
	"mailbot/templates"
)

// teamFacts is what examine learned about a mail from a team member.
type teamFacts struct {
	member   team.Member
	verdict  team.Verdict
	internal bool // sent to the internal address: a team-only note
}

// examineTeam authenticates a mail whose From is a team member, outside any
// transaction (DKIM needs DNS). team.Authenticate decides; an encrypted
// mail is decrypted there with the bot's key and counts only as one unit
// signed inside by the member's own key for that address.
func (l *Line) examineTeam(in *incoming, raw func() (io.ReadCloser, error)) error {
	m, ok := l.out.IsTeam(in.from)
	if !ok && in.msg.FromCount > 1 {
		// Any From field naming a member makes it team mail, to be refused
		// for its extra From fields: never a reporter's follow-up.
		for _, v := range in.msg.Header.Values("From") {
			if as, err := mail.ParseAddressList(v); err == nil {
				for _, a := range as {
					if m, ok = l.out.IsTeam(a.Address); ok {
						break
					}
				}
			}
			if ok {
				break
			}
		}
	}
	if !ok {
		return nil
	}
	tf := &teamFacts{member: m}
	in.team = tf
	if l.cfg.TeamMail.Internal != "" {
		for _, a := range append(append([]parse.Address{}, in.msg.To...), in.msg.Cc...) {
			if strings.EqualFold(a.Address, l.cfg.TeamMail.Internal) {
				tf.internal = true
			}
		}
	}
	opts := team.Options{
		TrustedAuthServID: l.cfg.TeamMail.TrustedAuthServID,
		LookupTXT:         l.lookup,
		MaxAge:            l.cfg.TeamMail.MaxAge.Duration,
		Now:               l.now,
		MaxSize:           l.cfg.Limits.MaxMessageBytes,
		Seen: func(key string) (seen bool) {
			l.store.View(func(tx *store.Tx) error { seen = tx.SeenReplay(key); return nil })
			return seen
		},
	}
	if l.keys != nil {
		opts.Decrypt = func(block []byte, verify openpgp.EntityList) (*pgp.Result, error) {
			return l.keys.Decrypt(block, verify, pgp.Options{MaxSize: l.parseLimits().MaxPGPBytes, Now: l.now})
		}
	}
	tf.verdict = team.Authenticate(in.msg, raw, l.roster, opts)
	if tf.verdict.Temporary {
		return &TemporaryError{Err: fmt.Errorf("team mail from %s: %s", in.from, tf.verdict.Reason)}
	}
	return nil
}

// teamState is what the store knows about a mail from a team member, read
// in its transaction (readTeam).
type teamState struct {
	c        *store.Case // the case an authenticated mail acts on (teamCase)
	conflict string      // why its outer Subject does not agree
	replayed bool        // its replay key is remembered already
	named    *store.Case // refused: the case it names (references, else the subject tag)
	warnings int         // refused-mail warnings within the last hour
	// What an accepted mail's commands need (readCommands).
	thread mailThread             // of a mail to the case's reporter
	merge  map[string]*store.Case // the cases merge commands name, by their argument
	keys   map[string]keyAccept   // what "key accept" finds, by fingerprint
	held   *incoming              // not-spam: the held report, examined again
	ack    ackState               // not-spam: its acknowledgement's rate limits
}

// teamWarningKey counts the warnings about refused team mail.
const teamWarningKey = "team-warning"

// readTeam reads what decideTeam needs about a mail from a member.
func (l *Line) readTeam(tx *txn, in *incoming, now time.Time) (teamState, error) {
	var ts teamState
	var err error
	if v := in.team.verdict; v.OK {
		if ts.c, ts.conflict, err = l.teamCase(tx, in, v); err != nil {
			return ts, err
		}
		// Checked again inside the transaction: examine looked before an
		// earlier mail of the same batch recorded the key.
		ts.replayed = v.ReplayKey != "" && tx.SeenReplay(v.ReplayKey)
		if ts.conflict == "" && !ts.replayed {
			if ts.c != nil {
				err = l.readCommands(tx, in, &ts, now)
			}
			return ts, err
		}
	}
	if cid, ok := threadCase(tx.Tx, triage.ThreadIDs(in.msg)); ok {
		ts.named, err = tx.Case(cid)
	} else {
		ts.named, err = l.caseByTag(tx, in)
	}
	if err != nil {
		return ts, err
	}
	ts.warnings, err = tx.RecentSends(teamWarningKey, now.Add(-time.Hour))
	return ts, err
}

// readCommands reads what an accepted team mail's commands on ts.c need:
// the reporter's thread, the cases merges name, the keys "key accept"
// names, and the held report not-spam releases.
func (l *Line) readCommands(tx *txn, in *incoming, ts *teamState, now time.Time) error {
	c := ts.c
	ts.thread = reporterThread(tx, c)
	cmds, _ := team.Parse(in.team.verdict.Text)
	for _, cmd := range cmds {
		switch cmd.Name {
		case team.CmdMerge:
			into, err := tx.CaseByRef(cmd.Arg)
			if errors.Is(err, store.ErrCaseNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			for _, other := range ts.merge {
				if other.ID == into.ID {
					into = other // one case, however it is named
				}
			}
			if ts.merge == nil {
				ts.merge = map[string]*store.Case{}
			}
			ts.merge[cmd.Arg] = into
		case team.CmdKey:
			k, err := readKeyAccept(tx, c, cmd.Arg)
			if err != nil {
				return err
			}
			if ts.keys == nil {
				ts.keys = map[string]keyAccept{}
			}
			ts.keys[cmd.Arg] = k
		case team.CmdNotSpam:
			if c.Status != remind.StatusSuspectedSpam || ts.held != nil {
				continue
			}
			var err error
			if ts.held, err = l.reexamineReport(tx, c); err != nil {
				return err
			}
			if ts.ack, err = l.readAck(tx, ts.held.from, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// decideTeam is the team's decider beside the reporter's: an
// authenticated mail from a member goes on its case with what its commands
// do (decideCommands); a refused one is recorded, leaves an event on the
// case it names and nothing else there, and the team is warned.
func (l *Line) decideTeam(d *decision, in *incoming, st *state) {
	ts := st.team
	v := in.team.verdict
	if ts.conflict != "" {
		v = team.Verdict{Member: v.Member, Reason: ts.conflict}
	}
	if v.OK && ts.replayed {
		v = team.Verdict{Member: v.Member, Reason: "a command mail seen before (replay)"}
	}
	if !v.OK {
		// Refused: nothing relayed, no command, the case's participants
		// as they were; only its log says so.
		d.message.Class, d.message.Reason = "team-refused", v.Reason
		d.res = Result{Action: ActionRecorded, Class: d.message.Class, Reason: v.Reason}
		if ts.named != nil {
			d.event(ts.named, "team.refused", in.from, triage.Sanitize(v.Reason, 300), true)
		}
		label := ts.c
		if label == nil {
			label = ts.named
		}
		l.decideWarning(d, label, in, v.Reason, ts.warnings)
		return
	}
	d.replayKey = v.ReplayKey
	d.message.Class, d.message.Reason = "team", "from "+v.Member.Address+" ("+v.Method+")"
	d.res = Result{Action: ActionRecorded, Class: d.message.Class, Reason: d.message.Reason}
	if ts.c != nil {
		d.onCase, d.message.CaseID, d.res.Case = ts.c, ts.c.ID, ts.c.Ref
		d.event(ts.c, "team.mail", v.Member.Address, d.message.Reason, true)
	}
	l.decideCommands(d, ts.c, in, ts)
}

// decideWarning tells the on-duty pair that a mail claiming to be a
// member's was refused (c: the case it names, nil if none). At most ten
// warnings an hour (sent: those of the last hour), so a forger cannot flood
// the team.
func (l *Line) decideWarning(d *decision, c *store.Case, in *incoming, reason string, sent int) {
	if sent >= 10 {
		return
	}
	d.sends = append(d.sends, sendMark{key: teamWarningKey, at: d.now})
	for _, m := range l.out.TeamRecipients(policy.RemindOnDuty, nil, d.now) {
		d.mails = append(d.mails, mailOut{name: "refused", c: c, to: &m, who: in.from, text: reason})
	}
}

// decideCommands decides what an accepted team mail does (the message
// recorded on its case c, nil if none was found): its commands, then its
// text relayed to the reporter or kept as an internal note, and the
// confirmation to the member.
func (l *Line) decideCommands(d *decision, c *store.Case, in *incoming, ts teamState) {
	tf, v := in.team, in.team.verdict
	cmds, perrs := team.Parse(v.Text)
	out := &teamOutcome{member: v.Member}
	for _, e := range perrs {
		out.errors = append(out.errors, e.Error())
	}
	if c == nil {
		help := slices.ContainsFunc(cmds, func(c team.Command) bool { return c.Name == team.CmdHelp })
		if !help {
			out.errors = append(out.errors, "no case found: reply to a case mail sent to you, or put [REF] in the signed text or the signed (protected) subject")
		}
		l.decideConfirm(d, nil, in, out, help)
		return
	}
	// Status changes go last: their notices show what the other commands of
	// the same mail set (the expected resolution date).
	slices.SortStableFunc(cmds, func(a, b team.Command) int {
		return boolInt(a.Name == team.CmdStatus) - boolInt(b.Name == team.CmdStatus)
	})
	help := false
	for _, cmd := range cmds {
		if cmd.Name == team.CmdHelp {
			help = true
			continue
		}
		l.decideCommand(d, c, cmd, in, out, ts)
	}
	body := team.Body(v.Text)
	switch {
	case tf.internal || team.TeamOnly(cmds):
		note := body
		for _, cmd := range cmds {
			if cmd.Name == team.CmdNote {
				note = strings.TrimSpace(cmd.Arg + "\n" + body)
			}
		}
		if note != "" {
			d.event(c, "note", v.Member.Address, triage.Sanitize(note, 4000), true)
			out.lines = append(out.lines, "recorded as an internal note (not sent to the reporter)")
		}
	case strings.TrimSpace(body) != "" && !out.bodySent:
		l.decideRelay(d, c, body, v.Member, ts.thread)
		out.lines = append(out.lines, "your reply was relayed to the reporter from "+l.cfg.Address)
		d.res.Acks++
	}
	c.Updated = d.now
	d.put = true
	if len(cmds) > 0 || len(out.errors) > 0 {
		l.decideConfirm(d, c, in, out, help)
	}
}

// teamCase finds the case an authenticated team mail acts on, from signed
// data only (team.ChooseCase): a case tag the signature covers, or a reply
// to mail the bot sent to this very member. The outer Subject only has to
// agree; conflict says why it does not.
func (l *Line) teamCase(tx *txn, in *incoming, v team.Verdict) (c *store.Case, conflict string, err error) {
	var thread string
	for _, id := range v.Thread {
		if cid, ok := tx.CaseSentTo(id, v.Member.Address); ok {
			tc, err := tx.Case(cid)
			if err != nil {
				return nil, "", err
			}
			thread = tc.Ref
			break
		}
	}
	outer, _ := triage.SubjectTag(in.msg.Subject, l.cfg.CasePrefix)
	ref, conflict := team.ChooseCase(v.SignedRef(l.cfg.CasePrefix), thread, outer)
	if conflict != "" || ref == "" {
		return nil, conflict, nil
	}
	c, err = tx.CaseByRef(ref)
	if errors.Is(err, store.ErrCaseNotFound) {
		return nil, "", nil
	}
	return c, "", err
}

// teamOutcome collects what a team mail did, for the confirmation.
type teamOutcome struct {
	member   team.Member
	lines    []string
	errors   []string
	bodySent bool // the member's text went to the reporter inside a command's mail (out-of-scope)
}

// decideCommand applies one command to c and decides what the seeds'
// process asks for: a claim tells the other on-duty member, high or
// critical severity alerts the whole team, a status change tells the
// reporter.
func (l *Line) decideCommand(d *decision, c *store.Case, cmd team.Command, in *incoming, out *teamOutcome, ts teamState) {
	now := d.now
	if c.Fields == nil {
		c.Fields = map[string]string{}
	}
	first := len(out.lines)
	set := func(field, value, line string) {
		c.Fields[field] = value
		out.lines = append(out.lines, line)
	}
	event := func() {
		d.event(c, "command", out.member.Address, strings.Join(out.lines[first:], "; "), false)
	}
	switch cmd.Name {
	case team.CmdClaim:
		set("assignee", out.member.Address, "claimed: you are the assignee")
		l.decideClaimed(d, c, out.member)
	case team.CmdAssign:
		m, ok := l.roster.Lookup(cmd.Arg)
		if !ok {
			out.errors = append(out.errors, fmt.Sprintf("assign %s: not a team member", cmd.Arg))
			return
		}
		set("assignee", m.Address, "assigned to "+m.Name)
	case team.CmdStatus:
		if c.Status == remind.StatusSuspectedSpam && !slices.Contains([]string{"spam", "rejected", "duplicate"}, cmd.Arg) {
			// Opening a held case any other way would leave its reporter
			// without the acknowledgement the policy promises.
			out.errors = append(out.errors, fmt.Sprintf("line %d: status %s: %s is held as suspected spam; send not-spam to release it (that sends the acknowledgement)", cmd.Line, cmd.Arg, c.Ref))
			return
		}
		old := c.Status
		c.Status = cmd.Arg
		c.Clocks = l.applyClocks(c.Clocks, policy.Event("status."+cmd.Arg), now)
		out.lines = append(out.lines, fmt.Sprintf("status: %s (was %s)", cmd.Arg, old))
		switch cmd.Arg {
		case "triaged", "confirmed", "fixed", "disclosed":
			l.decideStatusNotice(d, c, cmd.Arg, ts.thread)
			out.lines = append(out.lines, "the reporter was told")
		}
	case team.CmdSeverity:
		s := cmd.Severity
		level := s.Level
		if s.Vector != "" {
			c.Fields["cvss"] = s.Vector
			level = fmt.Sprintf("%s (CVSS %.1f)", s.Level, s.Score)
		}
		set("severity", s.Level, "severity: "+level)
		if s.Level == "high" || s.Level == "critical" {
			l.decideAlert(d, c, out.member, level)
			out.lines = append(out.lines, "the whole team was alerted")
		}
	case team.CmdExpected:
		set("expected", cmd.Date.Format(time.DateOnly), "expected resolution: "+cmd.Date.Format(time.DateOnly))
		c.Clocks = l.applyClocks(c.Clocks, policy.EventAssessmentSent, now)
	case team.CmdDisclose:
		set("disclosure", cmd.Date.Format(time.DateOnly), "disclosure date: "+cmd.Date.Format(time.DateOnly))
	case team.CmdExtend:
		if l.policy != nil && !l.policy.Disclosure.Extendable {
			out.errors = append(out.errors, "extend: the policy does not allow extending the disclosure date")
			return
		}
		base := l.out.DisclosureDate(c)
		if base.IsZero() {
			out.errors = append(out.errors, "extend: the case has no disclosure date")
			return
		}
		if l.policy != nil && l.policy.Disclosure.MaxExtensionDays > 0 {
			orig := l.policy.DisclosureDate(c.Created)
			if base.AddDate(0, 0, cmd.Days).Sub(orig) > time.Duration(l.policy.Disclosure.MaxExtensionDays)*24*time.Hour {
				out.errors = append(out.errors, fmt.Sprintf("extend %d: more than the policy's %d days of extension", cmd.Days, l.policy.Disclosure.MaxExtensionDays))
				return
			}
		}
		t := base.AddDate(0, 0, cmd.Days)
		set("disclosure", t.Format(time.DateOnly), "disclosure date: "+t.Format(time.DateOnly))
	case team.CmdCVE:
		set("cve", cmd.Arg, "CVE: "+cmd.Arg)
	case team.CmdCredit:
		v := cmd.Arg
		if cmd.Anonymous {
			v = "anonymous"
		}
		set("credit", v, "credit: "+v)
	case team.CmdReward:
		set("reward", cmd.Arg, "reward: "+cmd.Arg)
	case team.CmdLanguage:
		c.Language = cmd.Arg
		out.lines = append(out.lines, "language of mail to the reporter: "+cmd.Arg)
	case team.CmdMerge:
		l.decideMerge(d, c, ts.merge[cmd.Arg], cmd.Arg, out)
		return
	case team.CmdKey:
		l.decideAcceptKey(d, c, cmd.Arg, ts.keys[cmd.Arg], out)
		return
	case team.CmdNotSpam:
		l.decideNotSpam(d, c, ts, out)
		return
	case team.CmdOutOfScope:
		l.decideOutOfScope(d, c, cmd, team.Body(in.team.verdict.Text), ts.thread, out)
		return
	case team.CmdNote, team.CmdInternal:
		return
	default:
		out.errors = append(out.errors, fmt.Sprintf("line %d: %s: not supported", cmd.Line, cmd.Name))
		return
	}
	event()
}

// decideMerge folds c into the case ref names (into, nil if none): c
// becomes a duplicate pointing at it, the reporter is added to its
// participants, and each keeps its credit.
func (l *Line) decideMerge(d *decision, c, into *store.Case, ref string, out *teamOutcome) {
	if into == nil || into.ID == c.ID {
		out.errors = append(out.errors, fmt.Sprintf("merge %s: no such other case", ref))
		return
	}
	now := d.now
	c.Status = "duplicate"
	c.Fields["merged_into"] = into.Ref
	c.Clocks = l.applyClocks(c.Clocks, policy.EventDuplicate, now)
	if !slices.Contains(into.Participants, c.Reporter) {
		into.Participants = append(into.Participants, c.Reporter)
	}
	if into.Fields == nil {
		into.Fields = map[string]string{}
	}
	credits := into.Fields["credits"]
	credit := c.Fields["credit"] // the reporter's credit, else their name, else their address
	if credit == "" {
		credit = c.ReporterName
	}
	if credit == "" {
		credit = c.Reporter
	}
	into.Fields["credits"] = strings.TrimPrefix(credits+"; "+c.Ref+": "+credit, "; ")
	into.Updated = now
	if !slices.Contains(d.changed, into) {
		d.changed = append(d.changed, into)
	}
	out.lines = append(out.lines, fmt.Sprintf("merged into %s as a duplicate (the reporter keeps their credit)", into.Ref))
	d.event(into, "merged", out.member.Address, c.Ref+" merged into this case", false)
}

// notifyData is what a team notification about a reporter's mail on c
// shows (kind: what happened). Members with a key get the content
// encrypted; the others a notice without it (decideNotify).
func (l *Line) notifyData(c *store.Case, in *incoming, kind string) templates.Data {
	data := l.out.TemplateData(c)
	data.Kind, data.Reporter = kind, c.Reporter
	if kind == "new report" {
		data.ScopeHints, data.RewardWords = l.scopeData(in.hints), in.hints.Reward
	}
	if kind == notifyHeld {
		data.SpamReason = in.spam.Source + ": " + in.spam.Reason
	}
	data.Received = l.out.InZone(l.now())
	data.Subject = c.Subject
	if in.crypto.unreadable() {
		data.Text = "(the message could not be decrypted: " + in.crypto.reason + ")"
	} else {
		data.Text = in.body()
	}
	for _, a := range in.msg.Attachments {
		data.Attachments = append(data.Attachments, fmt.Sprintf("%s (%s, %d bytes, sha256 %.12s)", triage.Sanitize(a.Name, 100), a.ContentType, a.Size, a.Hash))
	}
	return data
}

// decideRelay sends a member's reply to the reporter from the security
// address: threaded to the reporter's last message, encrypted when their key
// is known, never showing the member's address.
func (l *Line) decideRelay(d *decision, c *store.Case, body string, m team.Member, thread mailThread) {
	data := l.out.TemplateData(c)
	data.Text = strings.TrimSpace(body)
	n := d.toReporter(c, "relay", data, thread)
	c.Clocks = l.applyClocks(c.Clocks, policy.EventTeamReplied, d.now)
	d.events = append(d.events, caseEvent{c: c, ev: store.Event{Time: d.now, Kind: "relay.queued", Actor: m.Address, Detail: " to the reporter"}, mail: n})
}

// mailThread is the Message-ID a mail to a case's reporter answers and its
// References: the reporter's newest message on the case.
type mailThread struct {
	inReplyTo string
	refs      []string
}

// toReporter decides template name (also the outbox kind) with data, in
// the case's language, to c's reporter, threaded; apply encrypts it when
// their key is known. It returns the mail's number (caseEvent.mail).
func (d *decision) toReporter(c *store.Case, name string, data templates.Data, thread mailThread) int {
	d.mails = append(d.mails, mailOut{name: name, c: c, data: &data, lang: c.Language, thread: thread})
	return len(d.mails)
}

// toMembers decides template name with data to each of members about c
// (nil: no case).
func (d *decision) toMembers(members []team.Member, c *store.Case, name string, data templates.Data, inReplyTo string) {
	for _, m := range members {
		d.mails = append(d.mails, mailOut{name: name, c: c, to: &m, data: &data, thread: mailThread{inReplyTo: inReplyTo}})
	}
}

// reporterThread reads the thread of a mail to c's reporter.
func reporterThread(tx *txn, c *store.Case) mailThread {
	msgs, err := tx.Messages(c.ID)
	if err != nil {
		return mailThread{}
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := msgs[i]; m.Direction == "in" && m.From == c.Reporter && m.MessageID != "" {
			return mailThread{inReplyTo: m.MessageID, refs: m.References}
		}
	}
	return mailThread{}
}

// decideStatusNotice tells the reporter about a status change, in the
// case's language.
func (l *Line) decideStatusNotice(d *decision, c *store.Case, status string, thread mailThread) {
	data := l.out.TemplateData(c)
	data.Kind = status
	if s := c.Fields["expected"]; s != "" {
		data.Expected, _ = time.Parse(time.DateOnly, s)
	}
	if t := l.out.DisclosureDate(c); !t.IsZero() {
		data.Disclosure = t
	}
	d.toReporter(c, "status", data, thread)
}

// decideAlert tells everyone at once about a high or critical case.
func (l *Line) decideAlert(d *decision, c *store.Case, by team.Member, severity string) {
	data := l.out.TemplateData(c)
	data.Member, data.Severity = by.Name, severity
	d.toMembers(l.out.TeamRecipients(policy.RemindTeam, c, d.now), c, "alert", data, "")
}

// decideClaimed tells the other on-duty member that by took c.
func (l *Line) decideClaimed(d *decision, c *store.Case, by team.Member) {
	data := l.out.TemplateData(c)
	data.Member = by.Name
	others := slices.DeleteFunc(l.out.TeamRecipients(policy.RemindOnDuty, c, d.now), func(m team.Member) bool { return m.Address == by.Address })
	d.toMembers(others, c, "claimed", data, "")
}

// decideConfirm answers a member's command mail with what was applied and
// what was wrong (and the command reference for help).
func (l *Line) decideConfirm(d *decision, c *store.Case, in *incoming, out *teamOutcome, help bool) {
	data := templates.Data{Organisation: l.out.DisplayName(), Address: l.cfg.Address, Lines: out.lines, Errors: out.errors}
	if c != nil {
		data = l.out.TemplateData(c)
		data.Lines, data.Errors = out.lines, out.errors
	}
	if help {
		data.Help = team.Help("en")
	}
	d.toMembers([]team.Member{out.member}, c, "confirm", data, in.msg.MessageID)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
