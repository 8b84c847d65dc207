package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// unit is a parsed systemd unit file: section -> key -> values in order
// (a key may repeat; an empty assignment resets the list, as in systemd).
type unit map[string]map[string][]string

// parseUnit reads the subset of systemd.syntax(7) that unit files use:
// [Section] headers, Key=Value lines, comments (# or ;) and lines continued
// with a trailing backslash.
func parseUnit(data []byte) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	var cont strings.Builder
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont.WriteString(strings.TrimSuffix(line, "\\"))
			cont.WriteByte(' ')
			continue
		}
		if cont.Len() > 0 {
			cont.WriteString(line)
			line = cont.String()
			cont.Reset()
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("line %d: bad section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: assignment outside a section", n)
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("line %d: want Key=Value, got %q", n, line)
		}
		if v == "" {
			u[section][k] = []string{} // reset, but present
			continue
		}
		u[section][k] = append(u[section][k], v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cont.Len() > 0 {
		return nil, fmt.Errorf("line %d: continuation at end of file", n)
	}
	return u, nil
}

func loadUnit(t *testing.T, name string) unit {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("ReadFile(%s) = %v", name, err)
	}
	u, err := parseUnit(data)
	if err != nil {
		t.Fatalf("parseUnit(%s) = %v", name, err)
	}
	return u
}

func TestUnitDirectives(t *testing.T) {
	// Directives every unit must carry, with the exact value (or "*": any
	// value; "": present and empty).
	common := []struct{ section, key, want string }{
		{"Service", "Type", "notify"},
		{"Service", "WatchdogSec", "*"},
		{"Service", "User", "mailbot"},
		{"Service", "Group", "mailbot"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"},
		{"Service", "SystemCallFilter", "@system-service"},
		{"Service", "CapabilityBoundingSet", ""},
		{"Service", "Restart", "on-failure"},
		{"Service", "RestartPreventExitStatus", "2"},
		{"Service", "ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Install", "WantedBy", "multi-user.target"},
	}
	for _, tc := range []struct {
		file  string
		extra []struct{ section, key, want string }
	}{
		{"mailbot.service", []struct{ section, key, want string }{
			{"Service", "ExecStart", "/usr/bin/mailbot run --config /etc/mailbot/mailbot.toml"},
			{"Service", "StateDirectory", "mailbot"},
			{"Service", "LoadCredential", "imap-password:/etc/mailbot/password"},
		}},
		{"mailbot@.service", []struct{ section, key, want string }{
			{"Service", "ExecStart", "/usr/bin/mailbot run --config /etc/mailbot/%i.toml"},
			{"Service", "StateDirectory", "mailbot/%i"},
			{"Service", "LoadCredential", "imap-password:/etc/mailbot/%i.password"},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			u := loadUnit(t, tc.file)
			for _, d := range append(slices.Clone(common), tc.extra...) {
				vals, ok := u[d.section][d.key]
				switch {
				case !ok:
					t.Errorf("[%s] %s missing", d.section, d.key)
				case d.want == "*":
					if len(vals) == 0 {
						t.Errorf("[%s] %s is empty", d.section, d.key)
					}
				case d.want == "":
					if len(vals) != 0 {
						t.Errorf("[%s] %s = %q, want empty (no capabilities)", d.section, d.key, vals)
					}
				case !slices.Contains(vals, d.want):
					t.Errorf("[%s] %s = %q, want %q among them", d.section, d.key, vals, d.want)
				}
			}
			if wd := u["Service"]["WatchdogSec"]; len(wd) == 1 {
				if d, err := time.ParseDuration(strings.TrimSuffix(wd[0], "in")); err != nil || d < time.Minute {
					t.Errorf("WatchdogSec = %q, want a duration of a minute or more", wd[0])
				}
			}
		})
	}
}

// TestUnitsAgree: the template differs from the plain unit only where the
// instance name goes.
func TestUnitsAgree(t *testing.T) {
	plain, tmpl := loadUnit(t, "mailbot.service"), loadUnit(t, "mailbot@.service")
	for section, keys := range plain {
		for k, v := range keys {
			tv := tmpl[section][k]
			if slices.Equal(v, tv) {
				continue
			}
			if !strings.Contains(strings.Join(tv, " "), "%i") {
				t.Errorf("[%s] %s = %q in the template, %q in the plain unit, and no %%i", section, k, tv, v)
			}
		}
	}
	for section, keys := range tmpl {
		for k := range keys {
			if _, ok := plain[section][k]; !ok {
				t.Errorf("[%s] %s only in the template", section, k)
			}
		}
	}
}

// requireSystemdAnalyze is set by the e2e build, which installs systemd.
var requireSystemdAnalyze = false

// TestSystemdAnalyzeVerify runs systemd-analyze verify on both units when it
// is installed (apt-get install systemd; it works without systemd as PID 1).
// The directive tests above run either way. Only our units are judged:
// verify also loads what they name (network-online.target,
// multi-user.target and what those pull in), and a machine with any broken
// unrelated unit must not fail this test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if requireSystemdAnalyze {
			t.Fatalf("systemd-analyze not installed: run make e2e (it installs systemd)")
		}
		t.Skipf("systemd-analyze not installed (apt-get install systemd); TestUnitDirectives checked the directives; make e2e runs this for real")
	}
	// Broken units that ours pull in, on a unit path searched before the
	// system's: what a machine with unrelated trouble shows verify.
	broken := t.TempDir()
	for name, text := range map[string]string{
		"network-online.target": "[Unit]\nDescription=broken\nFrobnicate=yes\n[Service]\nExecStart=/nonexistent\n",
		"multi-user.target":     "[Unit]\nDescription=broken\nWants=unrelated.service\nBadKey=2\n",
		"unrelated.service":     "[Unit]\nBogusKey=1\n[Service]\nExecStart=/nonexistent\n",
	} {
		if err := os.WriteFile(filepath.Join(broken, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		unitPath string // SYSTEMD_UNIT_PATH; "" keeps the machine's
		edit     func([]byte) []byte
		wantBad  bool
	}{
		{"shipped units", "", nil, false},
		{"unrelated units broken", broken + ":", nil, false},
		{"our unit broken", "", func(b []byte) []byte {
			return bytes.Replace(b, []byte("[Service]\n"), []byte("[Service]\nNoSuchDirective=1\n"), 1)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := verifyUnits(t, tool, tc.unitPath, tc.edit)
			bad := len(lines) > 0 || err != nil
			if bad != tc.wantBad {
				t.Errorf("systemd-analyze verify: err %v, lines about our units:\n%s\nwant a problem: %v", err, strings.Join(lines, "\n"), tc.wantBad)
			}
		})
	}
}

// verifyUnits runs systemd-analyze verify on copies of both units (edited
// by edit when set) and returns the lines of its output about them, and its
// error. --recursive-errors=no makes the exit status depend on our units
// alone.
func verifyUnits(t *testing.T, tool, unitPath string, edit func([]byte) []byte) ([]string, error) {
	t.Helper()
	dir := t.TempDir()
	// verify checks that ExecStart's binary exists: point it at a stub.
	stub := filepath.Join(dir, "mailbot")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var files []string
	for src, dst := range map[string]string{"mailbot.service": "mailbot.service", "mailbot@.service": "mailbot@verify.service"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.ReplaceAll(data, []byte("/usr/bin/mailbot"), []byte(stub))
		if edit != nil {
			data = edit(data)
		}
		p := filepath.Join(dir, dst)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	slices.Sort(files)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append([]string{"verify", "--recursive-errors=no"}, files...)...)
	if unitPath != "" {
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+unitPath)
	}
	out, err := cmd.CombinedOutput()
	var ours []string
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if aboutUnits(line, files) {
			ours = append(ours, line)
		}
	}
	return ours, err
}

// aboutUnits reports whether a line of verify's output is about one of the
// unit files: it starts with the file's path or its unit name
// ("/tmp/x/mailbot.service:20: Unknown key ...", "mailbot.service: Command ...").
func aboutUnits(line string, files []string) bool {
	for _, f := range files {
		if strings.HasPrefix(line, f+":") || strings.HasPrefix(line, filepath.Base(f)+":") {
			return true
		}
	}
	return false
}

func TestParseUnit(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     unit
		wantErr  bool
	}{
		{"basic", "[A]\nK=v\n# c\n; c\nK=w\n", unit{"A": {"K": {"v", "w"}}}, false},
		{"empty resets", "[A]\nK=v\nK=\n", unit{"A": {"K": {}}}, false},
		{"continuation", "[A]\nK=a \\\n  b\n", unit{"A": {"K": {"a  b"}}}, false},
		{"spaces", "[A]\n  K = v w  \n", unit{"A": {"K": {"v w"}}}, false},
		{"outside section", "K=v\n", nil, true},
		{"bad header", "[A\n", nil, true},
		{"no equals", "[A]\nK\n", nil, true},
		{"dangling continuation", "[A]\nK=v\\\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseUnit([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseUnit() error = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("parseUnit() = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzParseUnit(f *testing.F) {
	for _, name := range []string{"mailbot.service", "mailbot@.service"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[A]\nK=a \\\n b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := parseUnit(data)
		if err != nil {
			return
		}
		for s, keys := range u {
			for k := range keys {
				if s == "" || k == "" || strings.ContainsAny(k, "=\n") {
					t.Fatalf("parseUnit() produced section %q key %q", s, k)
				}
			}
		}
	})
}
