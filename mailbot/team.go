package mailbot

import (
	"strings"
	"time"

	"mailbot/mailbot/team"
	"mailbot/policy"
	"mailbot/store"
)

// teamRecipients resolves who a mail about case c is for at time at:
// policy.RemindOnDuty (the on-duty pair), policy.RemindAssignee (the case's
// assignee, else the on-duty pair), policy.RemindTeam (everyone) or
// policy.RemindLead (team_mail.lead, else everyone). Without a team it is
// nobody.
func (d *Daemon) teamRecipients(target string, c *store.Case, at time.Time) []team.Member {
	if d.roster == nil {
		return nil
	}
	switch target {
	case policy.RemindAssignee:
		if c != nil {
			if m, ok := d.roster.ByAddress(c.Fields["assignee"]); ok {
				return []team.Member{m}
			}
		}
	case policy.RemindTeam:
		return d.roster.Members()
	case policy.RemindLead:
		lead := d.cfg.TeamMail.Lead
		if lead == "" {
			return d.roster.Members()
		}
		if m, ok := d.roster.ByAddress(lead); ok {
			return []team.Member{m}
		}
		return []team.Member{{Name: "Security lead", Address: lead}}
	}
	pair := d.roster.OnDuty(at)
	return pair[:]
}

// isTeam reports whether addr is a team member's address.
func (d *Daemon) isTeam(addr string) (team.Member, bool) {
	if d.roster == nil || addr == "" {
		return team.Member{}, false
	}
	return d.roster.ByAddress(strings.ToLower(addr))
}
