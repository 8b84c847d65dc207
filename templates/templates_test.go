package templates

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the .expected golden files")

// TestGolden renders testdata/<name>.<lang>.in (a JSON Data) and compares it
// with <name>.<lang>.expected ("Subject: ..." line, blank line, body).
func TestGolden(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	ins, _ := filepath.Glob("testdata/*.in")
	if want := len(Names)*len(Languages) + len(TeamNames); len(ins) < want {
		t.Fatalf("found %d golden inputs, want one per reporter template and language and one per team template (%d)", len(ins), want)
	}
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			parts := strings.Split(strings.TrimSuffix(filepath.Base(in), ".in"), ".")
			name, lang := parts[0], parts[1]
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var d Data
			if err := json.Unmarshal(raw, &d); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			subj, body, err := s.Render(name, []string{lang}, d)
			if err != nil {
				t.Fatalf("Render() = %v", err)
			}
			got := "Subject: " + subj + "\n\n" + body
			exp := strings.TrimSuffix(in, ".in") + ".expected"
			if *update {
				if err := os.WriteFile(exp, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(exp)
			if err != nil {
				t.Fatalf("%v (run go test ./templates -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Render(%s, %s) =\n%s\nwant\n%s", name, lang, got, want)
			}
		})
	}
}

// TestEveryLanguageHasEveryTemplate: every reporter template is in every
// language itself (not by falling back to English) and renders there with
// every field set; every team template is in English (the team's mail is
// rendered in English: outmail.Queue.ToMember) and renders, notify and
// notice in each kind the intake sends, the held notice included (issue
// 18). What a reporter gets after not-spam is the acknowledgement, a
// reporter template.
func TestEveryLanguageHasEveryTemplate(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	if got, want := len(s.List()), len(Names)*len(Languages)+len(TeamNames); got < want {
		t.Errorf("Load() has %d templates (%v), want %d", got, s.List(), want)
	}
	d := fullData(t)
	render := func(name, lang string, d Data) string {
		t.Helper()
		if s.t[lang+"/"+name] == nil {
			t.Errorf("no %s/%s.tmpl", lang, name)
			return ""
		}
		subj, body, err := s.Render(name, []string{lang}, d)
		if err != nil || strings.TrimSpace(subj) == "" || strings.TrimSpace(body) == "" {
			t.Errorf("Render(%s, %s) = %q, %q, %v; want a subject and a body", name, lang, subj, body, err)
		}
		return body
	}
	for _, lang := range Languages {
		for _, name := range Names {
			render(name, lang, d)
		}
	}
	for _, name := range TeamNames {
		render(name, Languages[0], d)
	}
	for _, name := range []string{"notify", "notice"} {
		for _, kind := range []string{"new report", "follow-up", "suspected spam"} {
			held := d
			held.Kind = kind
			body := render(name, Languages[0], held)
			if got := strings.Contains(body, d.SpamReason); got != (kind == "suspected spam") {
				t.Errorf("Render(%s, kind %q) shows the spam reason: %v, want %v:\n%s", name, kind, got, !got, body)
			}
		}
	}
}

// fullData is a Data with every field set, from the golden inputs.
func fullData(t *testing.T) Data {
	t.Helper()
	var d Data
	for _, in := range []string{"testdata/confirm.en.in", "testdata/out-of-scope.en.in", "testdata/notify.en.hints.in", "testdata/notify.en.held.in"} {
		raw, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &d); err != nil { // fields absent from in keep their value
			t.Fatalf("%s: %v", in, err)
		}
	}
	if d.SpamReason == "" || len(d.ScopeHints) == 0 || d.OutOfScope.Text == "" {
		t.Fatalf("fullData() = %+v, want the held reason, scope hints and an out-of-scope entry", d)
	}
	return d
}

func TestOverrideAndFallback(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "de"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := `{{define "subject"}}Moin {{.CaseRef}}{{end}}{{define "body"}}Kurz.{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "de", "ack.tmpl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatalf("Load(dir) = %v", err)
	}
	subj, body, err := s.Render("ack", []string{"de"}, Data{CaseRef: "SEC-2026-0001"})
	if err != nil || subj != "Moin SEC-2026-0001" || body != "Kurz.\n" {
		t.Errorf("Render(override) = %q, %q, %v; want the override", subj, body, err)
	}
	subj, _, err = s.Render("ack", []string{"fr", "xx"}, Data{CaseRef: "X-1", Subject: "Hi"})
	if err != nil || subj != "[X-1] Received: Hi" {
		t.Errorf("Render(unknown language) = %q, %v; want the English fallback", subj, err)
	}
	if _, _, err := s.Render("nope", nil, Data{}); err == nil {
		t.Errorf("Render(nope) = nil error, want ErrNoTemplate")
	}
}

func TestBadOverrideIsRefused(t *testing.T) {
	for name, src := range map[string]string{
		"syntax":        `{{define "subject"}}{{.CaseRef}{{end}}`,
		"no body":       `{{define "subject"}}x{{end}}`,
		"unknown field": `{{define "subject"}}x{{end}}{{define "body"}}{{.Nope}}{{end}}`,
	} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "en"), 0o755)
		os.WriteFile(filepath.Join(dir, "en", "ack.tmpl"), []byte(src), 0o644)
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "en/ack.tmpl") {
			t.Errorf("Load(%s) = %v, want an error naming en/ack.tmpl", name, err)
		}
	}
}

func TestDates(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := time.Date(2026, 3, 3, 9, 30, 0, 0, berlin)
	for lang, want := range map[string]string{
		"en": "Tuesday, 3 March 2026, 09:30 CET",
		"de": "Dienstag, 3. März 2026, um 09:30 CET",
		"nl": "dinsdag 3 maart 2026 om 09:30 CET",
		"fr": "Tuesday, 3 March 2026, 09:30 CET",
	} {
		if got := DateTime(lang, at); got != want {
			t.Errorf("DateTime(%s) = %q, want %q", lang, got, want)
		}
	}
}
