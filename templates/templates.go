// Package templates owns the text of every mail the bot writes, in each
// language it speaks, and renders it from typed data. It holds no network or
// database code.
//
// Each template is a file <lang>/<name>.tmpl holding two text/template
// definitions, "subject" and "body". The files are embedded in the binary; a
// folder given in the configuration overrides any of them file by file, so an
// organisation can reword a mail without rebuilding. Rendering never puts
// raw text into headers: the caller sanitises the subject it gets back.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"
)

//go:embed en/*.tmpl de/*.tmpl nl/*.tmpl
var embedded embed.FS

// ErrNoTemplate is returned for a name or language that has no template.
var ErrNoTemplate = errors.New("templates: no such template")

// Languages are the languages with embedded templates; the first is the fallback.
var Languages = []string{"en", "de", "nl"}

// Names are the templates for reporters: every language must define them.
var Names = []string{"ack", "wrong-key", "damaged"}

// TeamNames are the templates for the team: English is required, other
// languages optional (a team reads the language it works in).
var TeamNames = []string{}

// Deadline is one promise with the date it falls due.
type Deadline struct {
	Name  string    // the commitment's name in the policy
	Title string    // what is promised, in the policy's words
	Due   time.Time // already in the policy's time zone
}

// Data is everything a template may show. Strings taken from incoming mail
// are already sanitised by the caller; templates print them as text only.
type Data struct {
	Organisation string
	Address      string // the security mailbox
	CaseRef      string
	Subject      string
	ReporterName string
	Received     time.Time
	Deadlines    []Deadline
	Disclosure   time.Time // zero when the policy sets no window
	Missing      []string  // report fields the report seems to lack
	Fingerprint  string    // the bot's OpenPGP fingerprint, "" without a key
	PolicyURL    string
	KeyIDs       []string // wrong-key: the key ids the report was encrypted to
	Encrypted    bool     // the reply is sent encrypted

	// Team workflow (issue 5).
	Kind        string    // notify: "new report", "follow-up"; status: the new status
	Reporter    string    // the reporter's address (team mail only)
	Member      string    // the team member concerned (name)
	Text        string    // a report's text for the team, or a relayed reply for the reporter
	Attachments []string  // "name (type, size)" for the team
	Lines       []string  // confirmations of commands
	Errors      []string  // commands that were wrong, with why
	Severity    string    // "critical (CVSS 9.8)"
	Expected    time.Time // expected resolution date
	Help        string    // the command reference

	// Researcher keys (issue 15): fingerprints of the key mail is encrypted
	// to and of a new one waiting for the team.
	OldKey string
	NewKey string

	// Scope hints (issue 18, names_scope.go): for the team, the entries of
	// the policy's out-of-scope list the report seems to be about and the
	// words asking for a reward the policy does not offer; for the reporter,
	// the entry the team answered with.
	ScopeHints  []ScopeHint
	RewardWords []string
	SpamReason  string // notify, notice of a case held as suspected spam: the verdict's source and reason
	OutOfScope  ScopeHint
}

// Set is a loaded set of templates.
type Set struct {
	t map[string]*template.Template // "lang/name"
}

// Load parses the embedded templates, then the files in dir (if not empty)
// over them. Every template of every language must parse and define
// "subject" and "body"; the error lists all that do not.
func Load(dir string) (*Set, error) {
	s := &Set{t: map[string]*template.Template{}}
	var errs []error
	load := func(fsys fs.FS, origin string) {
		for _, lang := range Languages {
			for _, name := range append(append([]string{}, Names...), TeamNames...) {
				file := lang + "/" + name + ".tmpl"
				src, err := fs.ReadFile(fsys, file)
				optional := origin != "embedded" || (lang != Languages[0] && !slices.Contains(Names, name))
				if errors.Is(err, fs.ErrNotExist) && optional {
					continue
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", path.Join(origin, file), err))
					continue
				}
				t, err := parse(file, string(src))
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", path.Join(origin, file), err))
					continue
				}
				s.t[lang+"/"+name] = t
			}
		}
	}
	load(embedded, "embedded")
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		load(os.DirFS(dir), dir)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func parse(name, src string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs(name[:2])).Parse(src)
	if err != nil {
		return nil, err
	}
	for _, def := range []string{"subject", "body"} {
		if t.Lookup(def) == nil {
			return nil, fmt.Errorf("templates: %s does not define %q", name, def)
		}
	}
	// A dry run with empty data finds references to fields that do not exist.
	for _, def := range []string{"subject", "body"} {
		if err := t.ExecuteTemplate(&bytes.Buffer{}, def, Data{}); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Has reports whether lang has templates.
func Has(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// Render renders the template name in the first of langs that has it
// (falling back to English) and returns the subject and the body. The body
// ends in exactly one newline.
func (s *Set) Render(name string, langs []string, d Data) (subject, body string, err error) {
	var t *template.Template
	for _, l := range append(langs, Languages[0]) {
		if t = s.t[l+"/"+name]; t != nil {
			break
		}
	}
	if t == nil {
		return "", "", fmt.Errorf("%w: %q", ErrNoTemplate, name)
	}
	var sb, bb bytes.Buffer
	if err := t.ExecuteTemplate(&sb, "subject", d); err != nil {
		return "", "", fmt.Errorf("templates: %s subject: %w", name, err)
	}
	if err := t.ExecuteTemplate(&bb, "body", d); err != nil {
		return "", "", fmt.Errorf("templates: %s body: %w", name, err)
	}
	subject = strings.Join(strings.Fields(sb.String()), " ")
	body = strings.TrimSpace(bb.String()) + "\n"
	return subject, body, nil
}

// List names every template as "lang/name", sorted.
func (s *Set) List() []string {
	var out []string
	for k := range s.t {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
