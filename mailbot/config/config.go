// Package config owns mailbot's configuration file: one TOML file naming the
// mailbox, the IMAP and SMTP servers with their TLS and SASL settings, where
// secrets come from (files, systemd credentials, token commands), the store,
// the policy, the templates, the bot's key and the team.
//
// Loading follows Defaults() -> Parse -> Validate: every problem is collected
// and reported as "file:line: key: what" (see policy/tomlfile). Relative
// paths are resolved against the directory of the configuration file, so a
// folder written by `mailbot init` can be moved as a whole.
package config

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailbot/mailbot/spam"
	"mailbot/mailbot/team"
	"mailbot/policy/tomlfile"
)

// Duration is a time.Duration written as a Go duration string ("90s", "5m").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration like \"90s\" or \"5m\": %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Secret says where a secret is read from; exactly one field is set.
type Secret struct {
	File       string   `toml:"file"`       // a file readable only by the bot (mode 0600 or stricter)
	Credential string   `toml:"credential"` // a name in $CREDENTIALS_DIRECTORY (systemd LoadCredential=)
	Command    []string `toml:"command"`    // a program printing the secret, e.g. an OAuth2 token helper
}

// IsSet reports whether any source is configured.
func (s Secret) IsSet() bool { return s.File != "" || s.Credential != "" || len(s.Command) > 0 }

// Server holds the settings shared by the IMAP and SMTP connections.
type Server struct {
	Host       string `toml:"host"`
	Port       int    `toml:"port"`
	TLS        string `toml:"tls"`        // "implicit", "starttls" or "none" (loopback only)
	ServerName string `toml:"servername"` // TLS server name when it differs from host
	Username   string `toml:"username"`
	Auth       string `toml:"auth"` // "plain", "login" or "xoauth2"
	Password   Secret `toml:"password"`
}

// Addr is host:port.
func (s Server) Addr() string { return net.JoinHostPort(s.Host, fmt.Sprint(s.Port)) }

// IMAP is the intake mailbox.
type IMAP struct {
	Server
	Mailbox        string   `toml:"mailbox"`
	Mode           string   `toml:"mode"` // "idle", "poll" or "fast"
	PollInterval   Duration `toml:"poll_interval"`
	FastInterval   Duration `toml:"fast_interval"`
	ResyncInterval Duration `toml:"resync_interval"`
	CommandTimeout Duration `toml:"command_timeout"`
	After          string   `toml:"after"` // "", "seen" or "move:Folder"
}

// SMTP is the submission server for everything the bot sends.
type SMTP struct {
	Server
	Helo    string   `toml:"helo"`
	Timeout Duration `toml:"timeout"`
}

// Keys is the bot's own OpenPGP key.
type Keys struct {
	Private    string `toml:"private"` // armored private key file
	Passphrase Secret `toml:"passphrase"`
}

// Limits bound the work one message may cause.
type Limits struct {
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	MaxParts        int   `toml:"max_parts"`
	MaxDepth        int   `toml:"max_depth"`
	MaxTries        int   `toml:"max_tries"` // failed attempts before a message is quarantined
	// MaxDecryptBytes bounds the OpenPGP data of one message that is
	// decrypted (it streams from disk); 0 means max_message_bytes.
	MaxDecryptBytes int64 `toml:"max_decrypt_bytes"`
	// MinFreeBytes and MaxStoreBytes protect the disk (issue 15): with less
	// free space on the store's file system, or a store (database and raw
	// mail) larger than MaxStoreBytes, mail that would open a new case is
	// left on the IMAP server (`mailbot ingest` exits 75) while follow-ups
	// to open cases still flow, and health turns red. 0 switches a check off.
	MinFreeBytes  int64 `toml:"min_free_bytes"`
	MaxStoreBytes int64 `toml:"max_store_bytes"`
}

// Ack limits acknowledgements so that no storm can be started through the bot.
type Ack struct {
	RateLimit  int      `toml:"rate_limit"`  // acknowledgements per sender per window
	RateWindow Duration `toml:"rate_window"` // default one hour
	// GlobalPerHour bounds the acknowledgements to everyone together; beyond
	// it an acknowledgement waits in the outbox for a free slot (never dropped).
	GlobalPerHour int `toml:"global_per_hour"`
}

// Flood caps what one sender or one domain can make the bot do within a
// sliding Window (issue 15): new cases, and team notifications about their
// mail. A report over a case cap is still stored: folded onto the sender's
// newest open case, or held on no case; the team is told once per burst.
type Flood struct {
	Window          Duration `toml:"window"`
	CasesPerSender  int      `toml:"cases_per_sender"`
	CasesPerDomain  int      `toml:"cases_per_domain"`
	NotifyPerSender int      `toml:"notify_per_sender"`
	NotifyPerDomain int      `toml:"notify_per_domain"`
}

// Member is one person of the security team.
type Member struct {
	Name    string `toml:"name"`
	Address string `toml:"address"`
	Key     string `toml:"key"` // armored public key file
}

// TeamMail says how team members' mail is trusted and what they receive.
type TeamMail struct {
	// TrustedAuthServID is the authserv-id of the receiving MTA whose topmost
	// Authentication-Results header may vouch for a member's mail (RFC 8601).
	TrustedAuthServID string `toml:"trusted_authserv_id"`
	// Lead gets escalations when a deadline is breached; "" means the whole team.
	Lead string `toml:"lead"`
	// Plaintext sends report content to members without a key in clear;
	// default false: they get a notice without the content.
	Plaintext bool `toml:"plaintext"`
	// Internal is an extra address (e.g. security-internal@) whose mail is
	// recorded as a team-only note on its case.
	Internal string `toml:"internal_address"`
	// MaxAge refuses team commands older than this (replays); default 7 days.
	MaxAge Duration `toml:"max_age"`
}

// Remind configures reminders, escalations and digests.
type Remind struct {
	LeadTimes      []Duration `toml:"lead_times"`      // before a deadline: ["24h", "2h"]
	EscalateEvery  Duration   `toml:"escalate_every"`  // repeat escalations of a breach
	DigestAt       string     `toml:"digest_at"`       // "09:00" policy time; "" for no digest
	DisclosureLead []Duration `toml:"disclosure_lead"` // before the disclosure date: ["168h", "24h"]
	CatchUpAfter   Duration   `toml:"catch_up_after"`  // a longer gap is downtime: one summary
}

// Health configures what /healthz calls unhealthy, the alarm mail and the
// delivery self-test.
type Health struct {
	// OutboxStale: an outbox item due this long and unsent, or SMTP failing
	// this long, is unhealthy.
	OutboxStale Duration `toml:"outbox_stale"`
	// AlarmAfter: the intake failing this long mails both on-duty members.
	AlarmAfter Duration `toml:"alarm_after"`
	// SelftestInterval is how often a probe mail goes round; 0 for never.
	SelftestInterval Duration `toml:"selftest_interval"`
	// SelftestTimeout: a probe not in the inbox this long after it was
	// queued is lost.
	SelftestTimeout Duration `toml:"selftest_timeout"`
}

// Spam says which spam verdicts hold an acknowledgement (issue 18).
type Spam struct {
	// Trust names the verdicts the receiving MTA writes into every message
	// after removing any incoming copy: "spamassassin", "rspamd", "m365",
	// "dmarc" (spam.Sources). A verdict the MTA does not strip is written by
	// the sender: never list it.
	Trust  []string   `toml:"trust"`
	Filter SpamFilter `toml:"filter"`
}

// SpamFilter is a real filter asked before acknowledging; Kind "" for none.
type SpamFilter struct {
	Kind     string   `toml:"kind"`      // "", "rspamd" or "spamd"
	Address  string   `toml:"address"`   // host:port; default the daemon's own (127.0.0.1:11333, 127.0.0.1:783)
	Timeout  Duration `toml:"timeout"`   // per message; past it the message counts as not spam
	MaxBytes int64    `toml:"max_bytes"` // larger messages are not sent (not spam)
	MinScore float64  `toml:"min_score"` // spam at this score or more; 0: rspamd's reject action, spamd's 8.0 (spam.Filter)
}

// SpamTrust is what spam.FromHeaders believes: the verdicts in spam.trust,
// DMARC from the MTA of team_mail.trusted_authserv_id.
func (c *Config) SpamTrust() spam.Trust {
	return spam.Trust{Sources: c.Spam.Trust, AuthServID: c.TeamMail.TrustedAuthServID}
}

// SpamFilter is the filter to ask before acknowledging, nil for none.
func (c *Config) SpamFilter() *spam.Filter {
	fl := c.Spam.Filter
	if fl.Kind == "" {
		return nil
	}
	return &spam.Filter{Kind: fl.Kind, Address: fl.Address, Timeout: fl.Timeout.Duration, MaxBytes: fl.MaxBytes, MinScore: fl.MinScore}
}

// Config is the whole file.
type Config struct {
	Address     string `toml:"address"` // the security@ mailbox
	Name        string `toml:"name"`    // display name on outgoing mail
	Store       string `toml:"store"`
	Policy      string `toml:"policy"`
	Templates   string `toml:"templates"` // folder overriding the embedded templates
	CasePrefix  string `toml:"case_prefix"`
	MsgIDDomain string `toml:"msgid_domain"`
	LogLevel    string `toml:"log_level"`
	Control     string `toml:"control"` // admin unix socket
	SecurityTxt string `toml:"security_txt"`
	// Metrics is a local listen address for /metrics and /healthz; "" for none.
	Metrics string `toml:"metrics"`
	// RetentionDays purges the raw mail of closed cases this many days after
	// their last change; 0 keeps it.
	RetentionDays int `toml:"retention_days"`
	// TrustSpamFlag holds reports flagged X-Spam-Flag: YES as suspected spam: only when the
	// receiving MTA sets (and strips any incoming) X-Spam-Flag.
	// Deprecated: spam.trust = ["spamassassin"]; true adds that entry.
	TrustSpamFlag bool                `toml:"trust_spam_flag"` // where the published security.txt lives; `mailbot check` warns before it expires
	IMAP          IMAP                `toml:"imap"`
	SMTP          SMTP                `toml:"smtp"`
	Keys          Keys                `toml:"keys"`
	Limits        Limits              `toml:"limits"`
	Ack           Ack                 `toml:"ack"`
	Flood         Flood               `toml:"flood"`
	Team          []Member            `toml:"team"`
	Duty          team.RotationConfig `toml:"duty"`
	TeamMail      TeamMail            `toml:"team_mail"`
	Remind        Remind              `toml:"remind"`
	Health        Health              `toml:"health"`
	Spam          Spam                `toml:"spam"`

	// File is the path the configuration was read from.
	File string `toml:"-"`
}

// Defaults is the configuration before any file is read.
func Defaults() Config {
	return Config{
		Name:       "Security Team",
		Store:      "mailbot.db",
		Policy:     "policy.toml",
		CasePrefix: "SEC",
		LogLevel:   "info",
		IMAP: IMAP{
			Server:         Server{Port: 993, TLS: "implicit", Auth: "plain"},
			Mailbox:        "INBOX",
			Mode:           "idle",
			PollInterval:   Duration{60 * time.Second},
			FastInterval:   Duration{50 * time.Millisecond},
			ResyncInterval: Duration{5 * time.Minute},
			CommandTimeout: Duration{60 * time.Second},
			After:          "seen",
		},
		SMTP: SMTP{
			Server:  Server{Port: 587, TLS: "starttls", Auth: "plain"},
			Timeout: Duration{2 * time.Minute},
		},
		Limits: Limits{MaxMessageBytes: 64 << 20, MaxParts: 500, MaxDepth: 20, MaxTries: 3,
			MinFreeBytes: 1 << 30, MaxStoreBytes: 20 << 30},
		Ack: Ack{RateLimit: 5, RateWindow: Duration{time.Hour}, GlobalPerHour: 60},
		Flood: Flood{Window: Duration{time.Hour}, CasesPerSender: 5, CasesPerDomain: 20,
			NotifyPerSender: 10, NotifyPerDomain: 30},
		TeamMail: TeamMail{MaxAge: Duration{7 * 24 * time.Hour}},
		Remind: Remind{LeadTimes: []Duration{{24 * time.Hour}, {2 * time.Hour}}, EscalateEvery: Duration{4 * time.Hour},
			DigestAt: "09:00", DisclosureLead: []Duration{{7 * 24 * time.Hour}, {24 * time.Hour}}, CatchUpAfter: Duration{time.Hour}},
		Health: Health{OutboxStale: Duration{10 * time.Minute}, AlarmAfter: Duration{15 * time.Minute},
			SelftestInterval: Duration{6 * time.Hour}, SelftestTimeout: Duration{30 * time.Minute}},
		Spam: Spam{Filter: SpamFilter{Timeout: Duration{spam.DefaultTimeout}, MaxBytes: spam.DefaultMaxBytes}},
	}
}

// Load reads, parses and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data (read from the file called name) over Defaults and
// validates it. The error lists every problem, one per line.
func Parse(name string, data []byte) (*Config, error) {
	c := Defaults()
	f, _ := tomlfile.Decode(name, bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &c)
	c.File = name
	c.validate(f)
	if err := f.Err(); err != nil {
		return nil, err
	}
	c.resolve()
	return &c, nil
}

// Validate checks a configuration built in code (tests, demo).
func (c *Config) Validate() error {
	f := &tomlfile.File{Name: c.File}
	if f.Name == "" {
		f.Name = "config"
	}
	c.validate(f)
	return f.Err()
}

func (c *Config) validate(f *tomlfile.File) {
	if c.Address == "" {
		f.Errorf("address", "required: the security mailbox address")
	} else if !isAddress(c.Address) {
		f.Errorf("address", "not an email address: %q", c.Address)
	}
	if c.Store == "" {
		f.Errorf("store", "required")
	}
	if c.Policy == "" {
		f.Errorf("policy", "required")
	}
	if !validPrefix(c.CasePrefix) {
		f.Errorf("case_prefix", "must be 1 to 10 letters or digits, got %q", c.CasePrefix)
	}
	if c.MsgIDDomain != "" && strings.ContainsAny(c.MsgIDDomain, "@<> \t\r\n") {
		f.Errorf("msgid_domain", "not a domain: %q", c.MsgIDDomain)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		f.Errorf("log_level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	validateServer(f, "imap", c.IMAP.Server)
	validateServer(f, "smtp", c.SMTP.Server)
	switch c.IMAP.Mode {
	case "idle", "poll", "fast":
	default:
		f.Errorf("imap.mode", "must be idle, poll or fast, got %q", c.IMAP.Mode)
	}
	if c.IMAP.Mailbox == "" {
		f.Errorf("imap.mailbox", "required")
	}
	if a := c.IMAP.After; a != "" && a != "seen" && (!strings.HasPrefix(a, "move:") || len(a) == len("move:")) {
		f.Errorf("imap.after", "must be \"\", \"seen\" or \"move:Folder\", got %q", a)
	}
	positive := func(key string, d Duration) {
		if d.Duration <= 0 {
			f.Errorf(key, "must be positive, got %s", d)
		}
	}
	positive("imap.poll_interval", c.IMAP.PollInterval)
	positive("imap.fast_interval", c.IMAP.FastInterval)
	positive("imap.resync_interval", c.IMAP.ResyncInterval)
	positive("imap.command_timeout", c.IMAP.CommandTimeout)
	positive("smtp.timeout", c.SMTP.Timeout)
	positive("ack.rate_window", c.Ack.RateWindow)
	if c.IMAP.ResyncInterval.Duration > 29*time.Minute {
		f.Errorf("imap.resync_interval", "must be at most 29m (RFC 2177 section 3: servers may drop IDLE after 30 minutes)")
	}
	if c.RetentionDays < 0 {
		f.Errorf("retention_days", "must be 0 (keep) or more, got %d", c.RetentionDays)
	}
	if c.Metrics != "" {
		if host, _, err := net.SplitHostPort(c.Metrics); err != nil {
			f.Errorf("metrics", "must be a loopback IP and port such as 127.0.0.1:9120, got %q", c.Metrics)
		} else if !isLoopback(host) {
			f.Errorf("metrics", "must be a loopback IP and port such as 127.0.0.1:9120: %s", notLoopback(host))
		}
	}
	if c.Ack.RateLimit < 1 {
		f.Errorf("ack.rate_limit", "must be at least 1, got %d", c.Ack.RateLimit)
	}
	if c.Limits.MaxMessageBytes < 1<<10 {
		f.Errorf("limits.max_message_bytes", "must be at least 1024, got %d", c.Limits.MaxMessageBytes)
	}
	if c.Limits.MaxParts < 1 {
		f.Errorf("limits.max_parts", "must be at least 1, got %d", c.Limits.MaxParts)
	}
	if c.Limits.MaxDepth < 1 {
		f.Errorf("limits.max_depth", "must be at least 1, got %d", c.Limits.MaxDepth)
	}
	if c.Limits.MaxTries < 1 {
		f.Errorf("limits.max_tries", "must be at least 1, got %d", c.Limits.MaxTries)
	}
	if c.Limits.MaxDecryptBytes < 0 {
		f.Errorf("limits.max_decrypt_bytes", "must not be negative, got %d", c.Limits.MaxDecryptBytes)
	}
	if c.Limits.MinFreeBytes < 0 {
		f.Errorf("limits.min_free_bytes", "must be 0 (no check) or more, got %d", c.Limits.MinFreeBytes)
	}
	if n := c.Limits.MaxStoreBytes; n != 0 && n < 1<<20 {
		f.Errorf("limits.max_store_bytes", "must be 0 (no limit) or at least 1048576, got %d", n)
	}
	if c.Ack.GlobalPerHour < 1 {
		f.Errorf("ack.global_per_hour", "must be at least 1, got %d", c.Ack.GlobalPerHour)
	}
	positive("flood.window", c.Flood.Window)
	if c.Flood.Window.Duration > 24*time.Hour {
		f.Errorf("flood.window", "must be at most 24h (the store keeps counts for a day), got %s", c.Flood.Window)
	}
	for _, v := range []struct {
		key string
		n   int
	}{{"flood.cases_per_sender", c.Flood.CasesPerSender}, {"flood.cases_per_domain", c.Flood.CasesPerDomain},
		{"flood.notify_per_sender", c.Flood.NotifyPerSender}, {"flood.notify_per_domain", c.Flood.NotifyPerDomain}} {
		if v.n < 1 {
			f.Errorf(v.key, "must be at least 1, got %d", v.n)
		}
	}
	if c.Flood.CasesPerDomain < c.Flood.CasesPerSender {
		f.Errorf("flood.cases_per_domain", "must be at least flood.cases_per_sender (%d), got %d", c.Flood.CasesPerSender, c.Flood.CasesPerDomain)
	}
	if c.Flood.NotifyPerDomain < c.Flood.NotifyPerSender {
		f.Errorf("flood.notify_per_domain", "must be at least flood.notify_per_sender (%d), got %d", c.Flood.NotifyPerSender, c.Flood.NotifyPerDomain)
	}
	validateSecret(f, "keys.passphrase", c.Keys.Passphrase, false)
	if c.TeamMail.Lead != "" && !isAddress(c.TeamMail.Lead) {
		f.Errorf("team_mail.lead", "not an email address: %q", c.TeamMail.Lead)
	}
	if c.TeamMail.Internal != "" && !isAddress(c.TeamMail.Internal) {
		f.Errorf("team_mail.internal_address", "not an email address: %q", c.TeamMail.Internal)
	}
	positive("team_mail.max_age", c.TeamMail.MaxAge)
	positive("remind.escalate_every", c.Remind.EscalateEvery)
	positive("remind.catch_up_after", c.Remind.CatchUpAfter)
	for i, d := range append(append([]Duration{}, c.Remind.LeadTimes...), c.Remind.DisclosureLead...) {
		if d.Duration <= 0 {
			f.Errorf("remind", "durations must be positive, got %s (entry %d)", d, i)
		}
	}
	positive("health.outbox_stale", c.Health.OutboxStale)
	positive("health.alarm_after", c.Health.AlarmAfter)
	positive("health.selftest_timeout", c.Health.SelftestTimeout)
	if c.Health.SelftestInterval.Duration < 0 {
		f.Errorf("health.selftest_interval", "must be 0 (never) or positive, got %s", c.Health.SelftestInterval)
	} else if c.Health.SelftestInterval.Duration > 0 && c.Health.SelftestInterval.Duration <= c.Health.SelftestTimeout.Duration {
		f.Errorf("health.selftest_interval", "must be longer than health.selftest_timeout (%s), got %s", c.Health.SelftestTimeout, c.Health.SelftestInterval)
	}
	if c.Remind.DigestAt != "" {
		if _, err := time.Parse("15:04", c.Remind.DigestAt); err != nil {
			f.Errorf("remind.digest_at", "want a time like \"09:00\", got %q", c.Remind.DigestAt)
		}
	}
	c.validateSpam(f)
	var members []team.Member
	for _, m := range c.Team {
		members = append(members, team.Member{Name: m.Name, Address: m.Address})
	}
	if len(c.Team) >= 2 {
		for _, e := range c.Duty.Validate(members) {
			f.Errorf("duty."+e.Key, "%s", e.Msg)
		}
	} else if len(c.Team) == 1 {
		f.Errorf("team", "two members are on duty at any time: list at least two, or none")
	}
	seen := map[string]bool{}
	for i, m := range c.Team {
		key := fmt.Sprintf("team[%d]", i)
		if m.Name == "" {
			f.Errorf(key+".name", "required")
		}
		switch a := strings.ToLower(m.Address); {
		case !isAddress(m.Address):
			f.Errorf(key+".address", "not an email address: %q", m.Address)
		case seen[a]:
			f.Errorf(key+".address", "%s is listed twice", m.Address)
		case a == strings.ToLower(c.Address):
			f.Errorf(key+".address", "a team member cannot be the security mailbox itself")
		default:
			seen[a] = true
		}
	}
}

func (c *Config) validateSpam(f *tomlfile.File) {
	seen := map[string]bool{}
	for _, src := range c.Spam.Trust {
		switch {
		case !slices.Contains(spam.Sources, src):
			f.Errorf("spam.trust", "unknown verdict %q: want some of %s", src, strings.Join(spam.Sources, ", "))
		case seen[src]:
			f.Errorf("spam.trust", "%q is listed twice", src)
		case src == spam.DMARC && c.TeamMail.TrustedAuthServID == "":
			f.Errorf("spam.trust", "\"dmarc\" needs team_mail.trusted_authserv_id: the MTA whose topmost Authentication-Results field is read")
		}
		seen[src] = true
	}
	fl := c.Spam.Filter
	switch fl.Kind {
	case "", spam.KindRspamd, spam.KindSpamd:
	default:
		f.Errorf("spam.filter.kind", "must be \"\", %q or %q, got %q", spam.KindRspamd, spam.KindSpamd, fl.Kind)
	}
	if fl.Address != "" {
		host, port, err := net.SplitHostPort(fl.Address)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			f.Errorf("spam.filter.address", "must be host:port such as 127.0.0.1:11333, got %q", fl.Address)
		}
	}
	if fl.Timeout.Duration <= 0 {
		f.Errorf("spam.filter.timeout", "must be positive, got %s", fl.Timeout)
	}
	if fl.MaxBytes < 1<<10 {
		f.Errorf("spam.filter.max_bytes", "must be at least 1024, got %d", fl.MaxBytes)
	}
	if fl.MinScore < 0 || math.IsNaN(fl.MinScore) || math.IsInf(fl.MinScore, 0) {
		f.Errorf("spam.filter.min_score", "must be 0 (rspamd's reject action, spamd's %g) or a positive score, got %g", spam.DefaultSpamdMinScore, fl.MinScore)
	}
}

func validateServer(f *tomlfile.File, name string, s Server) {
	if s.Host == "" {
		f.Errorf(name+".host", "required")
	}
	if s.Port < 1 || s.Port > 65535 {
		f.Errorf(name+".port", "must be 1 to 65535, got %d", s.Port)
	}
	switch s.TLS {
	case "implicit", "starttls":
	case "none":
		if s.Host != "" && !isLoopback(s.Host) {
			f.Errorf(name+".tls", "\"none\" is allowed only for a loopback IP address, use implicit or starttls: %s", notLoopback(s.Host))
		}
	default:
		f.Errorf(name+".tls", "must be implicit, starttls or none, got %q", s.TLS)
	}
	switch s.Auth {
	case "plain", "login", "xoauth2":
	default:
		f.Errorf(name+".auth", "must be plain, login or xoauth2, got %q", s.Auth)
	}
	if s.Username == "" {
		f.Errorf(name+".username", "required")
	}
	validateSecret(f, name+".password", s.Password, true)
}

func validateSecret(f *tomlfile.File, key string, s Secret, required bool) {
	n := 0
	for _, set := range []bool{s.File != "", s.Credential != "", len(s.Command) > 0} {
		if set {
			n++
		}
	}
	switch {
	case n == 0 && required:
		f.Errorf(key, "required: set one of file, credential or command")
	case n > 1:
		f.Errorf(key, "set only one of file, credential or command")
	}
	if strings.ContainsAny(s.Credential, "/\\") || s.Credential == ".." {
		f.Errorf(key+".credential", "must be a plain credential name, got %q", s.Credential)
	}
}

// resolve makes relative paths relative to the configuration file.
func (c *Config) resolve() {
	dir := filepath.Dir(c.File)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Store)
	abs(&c.Policy)
	abs(&c.Templates)
	abs(&c.Control)
	abs(&c.SecurityTxt)
	abs(&c.Keys.Private)
	abs(&c.Keys.Passphrase.File)
	abs(&c.IMAP.Password.File)
	abs(&c.SMTP.Password.File)
	for i := range c.Team {
		abs(&c.Team[i].Key)
	}
	c.TeamMail.Lead = strings.ToLower(c.TeamMail.Lead)
	c.TeamMail.Internal = strings.ToLower(c.TeamMail.Internal)
	if c.Control == "" {
		c.Control = c.Store + ".sock"
	}
	if c.MsgIDDomain == "" {
		c.MsgIDDomain = Domain(c.Address)
	}
	if c.SMTP.Helo == "" {
		c.SMTP.Helo = c.MsgIDDomain
	}
	// The deprecated trust_spam_flag trusts SpamAssassin's fields.
	if c.TrustSpamFlag && !slices.Contains(c.Spam.Trust, spam.SpamAssassin) {
		c.Spam.Trust = append(c.Spam.Trust, spam.SpamAssassin)
	}
	if c.Spam.Filter.Address == "" {
		switch c.Spam.Filter.Kind {
		case spam.KindRspamd:
			c.Spam.Filter.Address = spam.DefaultRspamdAddress
		case spam.KindSpamd:
			c.Spam.Filter.Address = spam.DefaultSpamdAddress
		}
	}
}

// Domain is the part of an address after the last @, lowercased.
func Domain(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

func isAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// isLoopback reports whether host is a loopback IP literal (127.0.0.0/8,
// ::1). A name such as "localhost" is not: the resolver (/etc/hosts, DNS,
// a container's setup) may send it elsewhere, in plaintext.
func isLoopback(host string) bool {
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// notLoopback says why host is not a loopback IP literal.
func notLoopback(host string) string {
	if strings.EqualFold(host, "localhost") {
		return "use 127.0.0.1 or ::1 rather than \"localhost\": a name may resolve elsewhere"
	}
	return fmt.Sprintf("%q is not a loopback IP address (127.0.0.1 or ::1)", host)
}

func validPrefix(p string) bool {
	if p == "" || len(p) > 10 {
		return false
	}
	for _, r := range p {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
