package cli_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/cli"
	"mailbot/policy"
)

func TestPublishSecurityTxt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	r := mustRun(t, cli.ExitOK, nil, "publish", "security-txt", "--config", f.cfg)
	if err := policy.ValidateSecurityTxt([]byte(r.stdout), time.Now()); err != nil {
		t.Errorf("ValidateSecurityTxt(publish security-txt) = %v, want nil\n%s", err, r.stdout)
	}
	for _, want := range []string{
		"Contact: mailto:security@example.org\n",
		"Encryption: openpgp4fpr:" + f.keys.Fingerprint() + "\n",
		"Policy: https://example.org/security/policy\n",
		"Canonical: https://example.org/.well-known/security.txt\n",
		"Preferred-Languages: en, de\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("publish security-txt lacks %q:\n%s", want, r.stdout)
		}
	}

	// --expires close ahead: valid but expiring soon, which check warns about.
	out := filepath.Join(f.dir, "security.txt")
	mustRun(t, cli.ExitOK, nil, "publish", "security-txt", "--config", f.cfg, "--expires", "240h", "--out", out)
	if err := policy.ValidateSecurityTxt(readFile(t, out), time.Now()); !errors.Is(err, policy.ErrExpiresSoon) {
		t.Errorf("ValidateSecurityTxt(--expires 240h) = %v, want %v", err, policy.ErrExpiresSoon)
	}

	// More than a year: refused, nothing printed.
	r = mustRun(t, cli.ExitFailure, nil, "publish", "security-txt", "--config", f.cfg, "--expires", "9000h")
	if r.stdout != "" || !strings.Contains(r.stderr, "within a year") {
		t.Errorf("publish --expires 9000h: stdout %q stderr %q, want a refusal", r.stdout, r.stderr)
	}
}

func TestPublishPolicyMarkdown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	tests := []struct {
		lang    string
		heading string // the first line
		want    string // a line only this language has
	}{
		{"", "# ", "Bestätigung"}, // the policy's first language (en): no German
		{"en", "# ", "security@example.org"},
		{"de", "# ", "Bestätigung, dass ein Mensch Ihre Meldung gelesen hat"},
	}
	for _, tt := range tests {
		t.Run("lang="+tt.lang, func(t *testing.T) {
			args := []string{"publish", "policy", "--config", f.cfg}
			if tt.lang != "" {
				args = append(args, "--lang", tt.lang)
			}
			r := mustRun(t, cli.ExitOK, nil, args...)
			if !strings.HasPrefix(r.stdout, tt.heading) || !strings.Contains(r.stdout, "\n## ") {
				t.Errorf("publish policy --lang %q = %q..., want Markdown with # and ## headings", tt.lang, firstLine(r.stdout))
			}
			if !strings.Contains(r.stdout, "Example") {
				t.Errorf("publish policy --lang %q does not name the organisation", tt.lang)
			}
			has := strings.Contains(r.stdout, tt.want)
			if tt.lang == "" {
				if has {
					t.Errorf("publish policy (default) has German text %q, want the first language, en", tt.want)
				}
			} else if !has {
				t.Errorf("publish policy --lang %s lacks %q:\n%s", tt.lang, tt.want, r.stdout)
			}
		})
	}
	de := mustRun(t, cli.ExitOK, nil, "publish", "policy", "--config", f.cfg, "--lang", "de").stdout
	en := mustRun(t, cli.ExitOK, nil, "publish", "policy", "--config", f.cfg, "--lang", "en").stdout
	if firstLine(de) == firstLine(en) {
		t.Errorf("publish policy title is %q in both en and de", firstLine(de))
	}
	r := mustRun(t, cli.ExitFailure, nil, "publish", "policy", "--config", f.cfg, "--lang", "xx")
	if r.stdout != "" {
		t.Errorf("publish policy --lang xx printed %q, want nothing", r.stdout)
	}
}

func TestPublishUsage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{top: `log_level = "loud"`})
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"nothing", []string{"publish"}, cli.ExitUsage},
		{"unknown", []string{"publish", "humans-txt"}, cli.ExitUsage},
		{"no config", []string{"publish", "policy"}, cli.ExitUsage},
		{"bad config", []string{"publish", "policy", "--config", f.cfg}, cli.ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, tt.code, nil, tt.args...)
			if r.stdout != "" {
				t.Errorf("Run(%q) stdout = %q, want nothing", tt.args, r.stdout)
			}
		})
	}
}
