package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSysusers: mailbot.sysusers makes the user and group the units run as
// (User=mailbot, Group=mailbot), with its home in the StateDirectory. It
// runs systemd-sysusers against a scratch root, never the machine's /etc.
func TestSysusers(t *testing.T) {
	tool, err := exec.LookPath("systemd-sysusers")
	if err != nil {
		if requireSystemdAnalyze {
			t.Fatalf("systemd-sysusers not installed: run make e2e (it installs systemd)")
		}
		t.Skipf("systemd-sysusers not installed (apt-get install systemd); make e2e runs this for real")
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf, err := filepath.Abs("mailbot.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "--root="+root, conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers = %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	group, err := os.ReadFile(filepath.Join(root, "etc/group"))
	if err != nil {
		t.Fatal(err)
	}
	var user []string
	for _, line := range strings.Split(string(passwd), "\n") {
		if strings.HasPrefix(line, "mailbot:") {
			user = strings.Split(line, ":")
		}
	}
	if len(user) != 7 || user[5] != "/var/lib/mailbot" || !strings.Contains(string(group), "\nmailbot:") && !strings.HasPrefix(string(group), "mailbot:") {
		t.Fatalf("passwd entry %q, group file %q: want user and group mailbot with home /var/lib/mailbot", user, group)
	}
	for _, unit := range []string{"mailbot.service", "mailbot@.service"} {
		u := loadUnit(t, unit)
		if got := u["Service"]["User"]; len(got) != 1 || got[0] != user[0] {
			t.Errorf("%s User = %q, want %q (from mailbot.sysusers)", unit, got, user[0])
		}
	}
}
