package outmail

import (
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"mailbot/mailbot/pgp"
	"mailbot/mailbot/team"
	"mailbot/policy"
	"mailbot/store"
	"mailbot/templates"
)

// DisplayName is the name the bot's mail comes from.
func (c *Composer) DisplayName() string {
	if c.Config.Name != "" {
		return c.Config.Name
	}
	return "Security Team"
}

// Fingerprint is the bot's key fingerprint, "" without a key.
func (c *Composer) Fingerprint() string {
	if c.Keys == nil {
		return ""
	}
	return c.Keys.Fingerprint()
}

// TemplateData fills what every template about case cs may show.
func (c *Composer) TemplateData(cs *store.Case) templates.Data {
	data := templates.Data{
		Organisation: c.DisplayName(),
		Address:      c.Config.Address,
		CaseRef:      cs.Ref,
		Subject:      cs.Subject,
		ReporterName: cs.ReporterName,
		Received:     c.InZone(cs.Created),
		Fingerprint:  c.Fingerprint(),
	}
	c.addPromises(&data, cs)
	return data
}

// InZone shows t in the policy's time zone, so promised dates read as the
// team's local time.
func (c *Composer) InZone(t time.Time) time.Time {
	if c.Policy != nil && c.Policy.Calendar != nil {
		return t.In(c.Policy.Calendar.Location())
	}
	return t
}

// Pick is the entry of m in lang, the policy's default language, English,
// or else def.
func (c *Composer) Pick(m map[string]string, lang, def string) string {
	langs := []string{lang, "en"}
	if c.Policy != nil {
		langs = []string{lang, c.Policy.DefaultLanguage(), "en"}
	}
	for _, l := range langs {
		if s := m[l]; s != "" {
			return s
		}
	}
	return def
}

// addPromises puts the running, published clocks of cs and the planned
// disclosure date into data.
func (c *Composer) addPromises(data *templates.Data, cs *store.Case) {
	if c.Policy == nil {
		return
	}
	for _, cl := range cs.Clocks {
		cm, ok := c.Policy.Commitment(cl.Name)
		if !ok || cm.Internal || cl.State != "running" {
			continue
		}
		data.Deadlines = append(data.Deadlines, templates.Deadline{
			Name:  cl.Name,
			Title: c.Pick(cm.Title, cs.Language, cl.Name),
			Due:   c.InZone(cl.Due),
		})
	}
	if t := c.Policy.DisclosureDate(cs.Created); !t.IsZero() {
		data.Disclosure = c.InZone(t)
	}
	data.PolicyURL = c.Policy.PolicyURL
	if c.Policy.Organisation != "" {
		data.Organisation = c.Policy.Organisation
	}
}

// DisclosureDate is the planned disclosure date of cs: Fields["disclosure"]
// (YYYY-MM-DD, at the local clock time the report came in, so that setting
// the policy's own date is no move) when set, else the policy's window.
func (c *Composer) DisclosureDate(cs *store.Case) time.Time {
	if c.Policy == nil {
		return time.Time{}
	}
	if v := cs.Fields["disclosure"]; v != "" {
		loc := c.Policy.Calendar.Location()
		day, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(v), loc)
		if err == nil {
			cr := cs.Created.In(loc)
			return time.Date(day.Year(), day.Month(), day.Day(), cr.Hour(), cr.Minute(), cr.Second(), 0, loc)
		}
		// QUIRK: an unreadable date set by hand falls back to the policy's.
		c.Log.Warn("unreadable disclosure date", "case", cs.Ref, "err", err)
	}
	return c.Policy.DisclosureDate(cs.Created)
}

// TeamRecipients resolves who a mail about case cs is for at time at:
// policy.RemindOnDuty (the on-duty pair), policy.RemindAssignee (the case's
// assignee, else the on-duty pair), policy.RemindTeam (everyone) or
// policy.RemindLead (team_mail.lead, else everyone). Without a team it is
// nobody.
func (c *Composer) TeamRecipients(target string, cs *store.Case, at time.Time) []team.Member {
	if c.Roster == nil {
		return nil
	}
	switch target {
	case policy.RemindAssignee:
		if cs != nil {
			if m, ok := c.Roster.ByAddress(cs.Fields["assignee"]); ok {
				return []team.Member{m}
			}
		}
	case policy.RemindTeam:
		return c.Roster.Members()
	case policy.RemindLead:
		lead := c.Config.TeamMail.Lead
		if lead == "" {
			return c.Roster.Members()
		}
		if m, ok := c.Roster.ByAddress(lead); ok {
			return []team.Member{m}
		}
		return []team.Member{{Name: "Security lead", Address: lead}}
	}
	pair := c.Roster.OnDuty(at)
	return pair[:]
}

// IsTeam reports whether addr is a team member's address.
func (c *Composer) IsTeam(addr string) (team.Member, bool) {
	if c.Roster == nil || addr == "" {
		return team.Member{}, false
	}
	return c.Roster.ByAddress(strings.ToLower(addr))
}

// ReporterKey is the key of addr to encrypt to, if we hold one and the bot
// has a key to sign with.
func (c *Composer) ReporterKey(tx *store.Tx, addr string) openpgp.EntityList {
	if c.Keys == nil {
		return nil
	}
	armored, ok := tx.Key(addr)
	if !ok {
		return nil
	}
	keys, err := pgp.ParseKeys(armored)
	if err != nil {
		return nil
	}
	if e := pgp.KeyForAddress(keys, addr); e != nil {
		return openpgp.EntityList{e}
	}
	return nil
}
