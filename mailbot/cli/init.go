package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mailbot/mailbot/config"
	"mailbot/policy"
	"mailbot/policy/tomlfile"

	"mailbot/mailbot/pgp"
)

func init() {
	register(command{"init", "--dir D --address A --imap-host H --smtp-host H ...", "write a starter config, policy and bot key", cmdInit})
}

// starterPolicy is a working policy in the spirit of the seed policies: one
// business day to confirm, three to assess, 90 days to disclosure.
func starterPolicy(org, address, lang, country, region, tz string) string {
	regionLine := ""
	if region != "" {
		regionLine = fmt.Sprintf("region = %q\n", region)
	}
	return fmt.Sprintf(`# Disclosure policy run by mailbot. Edit it, then publish what it says with
#   mailbot publish policy   and   mailbot publish security-txt
organisation = %q
security_address = %q
languages = [%q]
revision = "1"
policy_url = ""
pseudonymous = true
anonymous = true
plaintext_replies = true

[calendar]
time_zone = %q
work_days = ["mon", "tue", "wed", "thu", "fri"]
working_hours = "09:00-17:00"
country = %q
%s
[[commitments]]
name = "confirm"
title = { en = "Confirmation that a person has read your report", de = "Bestätigung, dass ein Mensch Ihre Meldung gelesen hat", nl = "Bevestiging dat een mens je melding heeft gelezen" }
start = "report.received"
stop = ["team.replied"]
duration = "1bd"
remind = ["on-duty"]

[[commitments]]
name = "assess"
title = { en = "Our assessment and an expected resolution date", de = "Unsere Bewertung und ein voraussichtliches Lösungsdatum", nl = "Onze beoordeling en een verwachte oplossingsdatum" }
start = "report.received"
stop = ["assessment.sent", "status.rejected", "status.duplicate", "status.spam"]
duration = "3bd"
remind = ["on-duty", "assignee"]
pause_on_reporter = true

[disclosure]
days = 90
extendable = true
max_extension_days = 90

[[fields]]
name = "description"
[[fields]]
name = "steps"
[[fields]]
name = "impact"
[[fields]]
name = "affected"

# Reports on these are welcome but out of scope. A report that contains a
# match term is flagged to the team ("may be out of scope"); the team answers
# it with "out-of-scope N" (N counts from 1) or as any other report.
[scope]
out = [
  { text = { en = "Missing e-mail authentication records (SPF, DKIM, DMARC)", de = "Fehlende E-Mail-Authentifizierung (SPF, DKIM, DMARC)", nl = "Ontbrekende e-mailauthenticatie (SPF, DKIM, DMARC)" }, match = ["SPF", "DKIM", "DMARC"] },
  { text = { en = "Missing security headers or clickjacking on pages without sensitive actions", de = "Fehlende Security-Header oder Clickjacking auf Seiten ohne sensible Aktionen", nl = "Ontbrekende security headers of clickjacking op pagina's zonder gevoelige acties" }, match = ["security headers", "security header", "X-Frame-Options", "HSTS", "clickjacking"] },
  { text = { en = "Support for old TLS versions or weak cipher suites", de = "Unterstützung alter TLS-Versionen oder schwacher Cipher-Suites", nl = "Ondersteuning van oude TLS-versies of zwakke cipher suites" }, match = ["TLS 1.0", "TLSv1.0", "TLS 1.1", "TLSv1.1", "weak cipher", "weak ciphers", "Sweet32"] },
  { text = { en = "Denial of service and volumetric attacks", de = "Denial of Service und volumetrische Angriffe", nl = "Denial of service en volumetrische aanvallen" }, match = ["denial of service", "DoS", "DDoS"] },
]

[rewards]
kind = "none"

[credit]
hall_of_fame = true
`, org, address, lang, tz, country, regionLine)
}

func cmdInit(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "init")
	dir := fs.String("dir", "", "folder to write mailbot.toml, policy.toml and the bot key into (required)")
	address := fs.String("address", "", "the security mailbox address, e.g. security@example.org (required)")
	name := fs.String("name", "Security Team", "display name on the bot's mail")
	org := fs.String("org", "", "organisation name in the policy (default: the address's domain)")
	imapHost := fs.String("imap-host", "", "IMAP server host (required)")
	imapPort := fs.Int("imap-port", 993, "IMAP server port")
	imapTLS := fs.String("imap-tls", "implicit", "IMAP TLS: implicit, starttls or none (loopback only)")
	imapUser := fs.String("imap-user", "", "IMAP user name (default: the address)")
	smtpHost := fs.String("smtp-host", "", "SMTP submission server host (required)")
	smtpPort := fs.Int("smtp-port", 587, "SMTP submission port")
	smtpTLS := fs.String("smtp-tls", "starttls", "SMTP TLS: implicit, starttls or none (loopback only)")
	smtpUser := fs.String("smtp-user", "", "SMTP user name (default: the IMAP user)")
	auth := fs.String("auth", "plain", "SASL mechanism for both: plain, login or xoauth2")
	credential := fs.String("password-credential", "", "read the password from this systemd credential instead of the file D/password")
	lang := fs.String("lang", "en", "policy language: en, de or nl")
	country := fs.String("country", "DE", "country for public holidays (ISO 3166-1, e.g. DE, NL, US)")
	region := fs.String("region", "", "region for public holidays (e.g. BY)")
	tz := fs.String("timezone", "Europe/Berlin", "the team's time zone (IANA)")
	rsa := fs.Bool("rsa", false, "make an RSA-4096 bot key instead of Ed25519/Curve25519")
	system := fs.Bool("system", false, "write the layout the shipped systemd unit runs: --dir /etc/mailbot readable by --group, the store in --state-dir, passwords by LoadCredential")
	stateDir := fs.String("state-dir", "/var/lib/mailbot", "with --system: the unit's StateDirectory, where the store lives")
	group := fs.String("group", "mailbot", "with --system: the group the service runs as (made by systemd-sysusers)")
	owner := fs.String("user", "mailbot", "with --system: the user the service runs as; it owns the bot's private key (0600)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	store := "mailbot.db"
	var gid, uid = -1, -1
	if *system {
		if *dir == "" {
			*dir = "/etc/mailbot"
		}
		if *credential == "" {
			*credential = "imap-password"
		}
		store = filepath.Join(*stateDir, "mailbot.db")
		var err error
		if gid, err = systemGroup(*group); err != nil {
			return fail(env, "init", ExitFailure, err)
		}
		if uid, err = systemUser(*owner); err != nil {
			return fail(env, "init", ExitFailure, err)
		}
	}
	var missing []string
	for flag, v := range map[string]string{"--dir": *dir, "--address": *address, "--imap-host": *imapHost, "--smtp-host": *smtpHost} {
		if v == "" {
			missing = append(missing, flag)
		}
	}
	if len(missing) > 0 {
		return fail(env, "init", ExitUsage, fmt.Errorf("missing %v", missing))
	}
	if *imapUser == "" {
		*imapUser = *address
	}
	if *smtpUser == "" {
		*smtpUser = *imapUser
	}
	if *org == "" {
		*org = domainOf(*address)
	}
	password := `{ file = "password" }`
	if *credential != "" {
		password = fmt.Sprintf("{ credential = %q }", *credential)
	}
	cfg := fmt.Sprintf(`# mailbot configuration, written by mailbot init. See README.md.
address = %q
name = %q
store = %q
policy = "policy.toml"
case_prefix = "SEC"

[imap]
host = %q
port = %d
tls = %q
username = %q
auth = %q
password = %s
mailbox = "INBOX"
mode = "idle"
after = "seen"

[smtp]
host = %q
port = %d
tls = %q
username = %q
auth = %q
password = %s

[keys]
private = "bot-key.asc"

# [[team]]
# name = "Ann Example"
# address = "ann@example.org"
# key = "ann.asc"
`, *address, *name, store, *imapHost, *imapPort, *imapTLS, *imapUser, *auth, password,
		*smtpHost, *smtpPort, *smtpTLS, *smtpUser, *auth, password)

	// What init writes must pass check: refuse bad flags before writing.
	starter := starterPolicy(*org, *address, *lang, *country, *region, *tz)
	var bad []error
	if _, err := config.Parse(filepath.Join(*dir, "mailbot.toml"), []byte(cfg)); err != nil {
		var te tomlfile.Errors
		if errors.As(err, &te) {
			// Secrets are written by the admin after init: ignore only that.
			for _, e := range te {
				if !strings.HasSuffix(e.Key, ".password") {
					bad = append(bad, e)
				}
			}
		} else {
			bad = append(bad, err)
		}
	}
	if _, err := policy.Parse(filepath.Join(*dir, "policy.toml"), []byte(starter)); err != nil {
		bad = append(bad, err)
	}
	if len(bad) > 0 {
		return fail(env, "init", ExitUsage, fmt.Errorf("the flags make an invalid configuration, nothing written:\n%w", errors.Join(bad...)))
	}
	if err := os.MkdirAll(*dir, 0o750); err != nil {
		return fail(env, "init", ExitFailure, err)
	}
	// --system: the service's group reads everything init writes but the
	// private key, which is the service user's alone (0600: `mailbot check`
	// refuses a key that group or others can read).
	policyMode := os.FileMode(0o644)
	if *system {
		policyMode = 0o640
		if err := chown(*dir, 0, gid, 0o750); err != nil {
			return fail(env, "init", ExitFailure, err)
		}
	}
	algo := pgp.Ed25519
	if *rsa {
		algo = pgp.RSA4096
	}
	keys, err := pgp.Generate(*name, *address, algo, time.Now())
	if err != nil {
		return fail(env, "init", ExitFailure, err)
	}
	files := []struct {
		name string
		mode os.FileMode
		data func() ([]byte, error)
	}{
		{"mailbot.toml", 0o640, func() ([]byte, error) { return []byte(cfg), nil }},
		{"policy.toml", policyMode, func() ([]byte, error) { return []byte(starter), nil }},
		{"bot-key.asc", 0o600, func() ([]byte, error) {
			var b bytes.Buffer
			err := keys.WritePrivate(&b, nil)
			return b.Bytes(), err
		}},
		{"bot-key.pub.asc", 0o644, func() ([]byte, error) {
			var b bytes.Buffer
			err := keys.WritePublic(&b)
			return b.Bytes(), err
		}},
	}
	// Never overwrite: an admin's edits are worth more than a starter file.
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(*dir, f.name)); err == nil {
			return fail(env, "init", ExitFailure, fmt.Errorf("%s exists: not overwriting anything", filepath.Join(*dir, f.name)))
		} else if !errors.Is(err, os.ErrNotExist) {
			return fail(env, "init", ExitFailure, err)
		}
	}
	for _, f := range files {
		data, err := f.data()
		if err != nil {
			return fail(env, "init", ExitFailure, err)
		}
		path := filepath.Join(*dir, f.name)
		if err := os.WriteFile(path, data, f.mode); err != nil {
			return fail(env, "init", ExitFailure, err)
		}
		if *system {
			owner := 0
			if f.name == "bot-key.asc" {
				owner = uid
			}
			if err := chown(path, owner, gid, f.mode); err != nil {
				return fail(env, "init", ExitFailure, err)
			}
		}
	}
	fmt.Fprintf(env.Stdout, "wrote %s: mailbot.toml, policy.toml, bot-key.asc (fingerprint %s)\n", *dir, keys.Fingerprint())
	if *system {
		fmt.Fprintf(env.Stdout, "next: put the mailbox password in %s (mode 0600, root:root; the unit hands it over as the credential %q), then run\n"+
			"  runuser -u mailbot -- env CREDENTIALS_DIRECTORY=... mailbot check --config %s   or   systemctl enable --now mailbot\n",
			filepath.Join(*dir, "password"), *credential, filepath.Join(*dir, "mailbot.toml"))
	} else if *credential == "" {
		fmt.Fprintf(env.Stdout, "next: put the mailbox password in %s (mode 0600), then run\n  mailbot check --config %s\n",
			filepath.Join(*dir, "password"), filepath.Join(*dir, "mailbot.toml"))
	} else {
		fmt.Fprintf(env.Stdout, "next: mailbot check --config %s\n", filepath.Join(*dir, "mailbot.toml"))
	}
	return ExitOK
}

// systemUser and systemGroup look up the service's user and group. Run as
// root, they must exist (systemd-sysusers makes them at install); otherwise
// -1: the files are left to the caller and the admin must change them.
func systemUser(name string) (int, error) {
	return systemID("user", "uid", name, func(name string) (string, error) {
		u, err := user.Lookup(name)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
}

func systemGroup(name string) (int, error) {
	return systemID("group", "gid", name, func(name string) (string, error) {
		g, err := user.LookupGroup(name)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
}

func systemID(kind, idName, name string, lookup func(string) (string, error)) (int, error) {
	id, err := lookup(name)
	if err != nil {
		if os.Geteuid() == 0 {
			return -1, fmt.Errorf("%s %q: %w (run `systemd-sysusers`: make install ships /usr/lib/sysusers.d/mailbot.conf)", kind, name, err)
		}
		return -1, nil
	}
	n, err := strconv.Atoi(id)
	if err != nil {
		return -1, fmt.Errorf("%s %q: %s %q: %w", kind, name, idName, id, err)
	}
	return n, nil
}

// chown gives path to uid:gid (root only; -1 leaves a part as it is) and
// sets its mode.
func chown(path string, uid, gid int, mode os.FileMode) error {
	if os.Geteuid() == 0 && (uid >= 0 || gid >= 0) {
		if err := os.Chown(path, uid, gid); err != nil {
			return err
		}
	}
	return os.Chmod(path, mode)
}

func domainOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == '@' {
			return addr[i+1:]
		}
	}
	return addr
}
