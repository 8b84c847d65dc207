// Package tomlfile decodes one TOML file strictly and reports every problem as
// "file:line: key: what", the form admins see from `mailbot check`.
//
// It owns nothing but the mapping from keys to lines: config and policy files
// both use it, so their errors read alike. Keys are written dotted; a table
// from an array of tables carries its index, counted from zero:
// "team.members[1].address".
package tomlfile

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Error is one problem in a file.
type Error struct {
	File string
	Line int // 0 when the key is not in the file (a missing required key)
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one pass, in line order.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// File is a decoded file that still knows where each key was written, so that
// a Validate step after decoding can name the line of a bad value.
type File struct {
	Name  string
	lines map[string]int
	errs  Errors
}

// Decode parses data (read from the file called name) into v, refusing unknown
// keys and values of the wrong type. The returned File is usable even when err
// is not nil; err is an Errors.
func Decode(name string, data []byte, v any) (*File, error) {
	f := &File{Name: name, lines: keyLines(data)}
	dec := toml.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var strict *toml.StrictMissingError
	var de *toml.DecodeError
	switch {
	case err == nil:
	case errors.As(err, &strict):
		for i := range strict.Errors {
			e := &strict.Errors[i]
			line, _ := e.Position()
			f.errs = append(f.errs, &Error{File: name, Line: line, Key: strings.Join(e.Key(), "."), Msg: "unknown key"})
		}
	case errors.As(err, &de):
		line, _ := de.Position()
		f.errs = append(f.errs, &Error{File: name, Line: line, Key: strings.Join(de.Key(), "."), Msg: strings.TrimPrefix(de.Error(), "toml: ")})
	default:
		f.errs = append(f.errs, &Error{File: name, Msg: err.Error()})
	}
	return f, f.Err()
}

// Line is the line where key was written, or of the nearest enclosing table
// that was, or 0.
func (f *File) Line(key string) int {
	for k := key; k != ""; {
		if l, ok := f.lines[k]; ok {
			return l
		}
		if l, ok := f.lines[k+"[0]"]; ok { // an array of tables: its first table
			return l
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// Has reports whether key was written in the file.
func (f *File) Has(key string) bool {
	_, ok := f.lines[key]
	return ok
}

// Errorf records a problem with key.
func (f *File) Errorf(key, format string, args ...any) {
	f.errs = append(f.errs, &Error{File: f.Name, Line: f.Line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Add records a problem that is already an error, under key.
func (f *File) Add(key string, err error) {
	if err != nil {
		f.Errorf(key, "%v", err)
	}
}

// Err returns every problem recorded so far, sorted by line, or nil.
func (f *File) Err() error {
	if len(f.errs) == 0 {
		return nil
	}
	sort.SliceStable(f.errs, func(i, j int) bool { return f.errs[i].Line < f.errs[j].Line })
	return f.errs
}

// keyLines maps every key and table written in data to its line. A document
// that does not parse gives what was read before the error; Decode reports
// the error itself.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	arrays := map[string]int{} // array-of-tables path -> count so far
	var p unstable.Parser
	p.Reset(data)
	prefix := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			path := joinKey(e.Key())
			if e.Kind == unstable.ArrayTable {
				n := arrays[path]
				arrays[path] = n + 1
				path = fmt.Sprintf("%s[%d]", path, n)
			}
			prefix = path
			if r := keyRange(e); r != nil {
				lines[path] = p.Shape(*r).Start.Line
			}
		case unstable.KeyValue:
			key := joinKey(e.Key())
			if prefix != "" {
				key = prefix + "." + key
			}
			if r := keyRange(e); r != nil {
				lines[key] = p.Shape(*r).Start.Line
			}
			// The elements of an array written over several lines:
			// "scope.out[2]" is the line of the third element.
			if v := e.Value(); v != nil && v.Kind == unstable.Array {
				i := 0
				for it := v.Children(); it.Next(); {
					n := it.Node()
					if n.Kind == unstable.Comment {
						continue
					}
					if n.Raw.Length > 0 {
						lines[fmt.Sprintf("%s[%d]", key, i)] = p.Shape(n.Raw).Start.Line
					}
					i++
				}
			}
		}
	}
	return lines
}

func joinKey(it unstable.Iterator) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}

// keyRange is the range of the first key part of a table or key-value node.
func keyRange(e *unstable.Node) *unstable.Range {
	it := e.Key()
	if it.Next() {
		r := it.Node().Raw
		return &r
	}
	return nil
}
