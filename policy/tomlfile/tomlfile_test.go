package tomlfile

import (
	"errors"
	"strings"
	"testing"
)

type member struct {
	Name    string `toml:"name"`
	Address string `toml:"address"`
	Tags    []any  `toml:"tags"`
}

type doc struct {
	Address string `toml:"address"`
	IMAP    struct {
		Host string `toml:"host"`
		Port int    `toml:"port"`
	} `toml:"imap"`
	Members []member `toml:"members"`
}

const sample = `address = "security@example.org"

[imap]
host = "imap.example.org"
port = 993

[[members]]
name = "Ann"
address = "ann@example.org"

[[members]]
name = "Bob"
address = "bob"
tags = [
  "one", # a comment
  { two = 2 },
  [3],
]
`

func TestLines(t *testing.T) {
	var d doc
	f, err := Decode("c.toml", []byte(sample), &d)
	if err != nil {
		t.Fatalf("Decode() = %v, want nil", err)
	}
	for key, want := range map[string]int{
		"address":             1,
		"imap":                3,
		"imap.host":           4,
		"imap.port":           5,
		"members[0].name":     8,
		"members[1].address":  13,
		"members[1].nickname": 11, // falls back to the table
		"nowhere":             0,
		"members[1].tags[0]":  15, // an array over several lines: each element's line
		"members[1].tags[1]":  16,
		"members[1].tags[2]":  14, // a nested array has no position: the array's key
		"members[1].tags[3]":  14, // no such element: the array's key
	} {
		if got := f.Line(key); got != want {
			t.Errorf("Line(%q) = %d, want %d", key, got, want)
		}
	}
	f.Errorf("members[1].address", "not an address: %q", d.Members[1].Address)
	f.Errorf("imap.port", "bad")
	err = f.Err()
	want := "c.toml:5: imap.port: bad\nc.toml:13: members[1].address: not an address: \"bob\""
	if err == nil || err.Error() != want {
		t.Fatalf("Err() = %v, want %v", err, want)
	}
	var one *Error
	if !errors.As(err, &one) {
		t.Fatalf("errors.As(*Error) failed on %T", err)
	}
}

func TestUnknownKeysAllReported(t *testing.T) {
	var d doc
	_, err := Decode("c.toml", []byte("adress = 1\n[imap]\nhots = \"x\"\n"), &d)
	if err == nil {
		t.Fatal("Decode() = nil, want unknown key errors")
	}
	got := err.Error()
	for _, want := range []string{"c.toml:1: adress: unknown key", "c.toml:3: imap.hots: unknown key"} {
		if !strings.Contains(got, want) {
			t.Errorf("Decode() = %q, want it to contain %q", got, want)
		}
	}
}

func TestTypeAndSyntaxErrors(t *testing.T) {
	var d doc
	_, err := Decode("c.toml", []byte("[imap]\nport = \"x\"\n"), &d)
	if err == nil || !strings.HasPrefix(err.Error(), "c.toml:2: imap.port: ") {
		t.Errorf("Decode(type) = %v, want c.toml:2: imap.port: ...", err)
	}
	_, err = Decode("c.toml", []byte("a = \n"), &d)
	if err == nil || !strings.HasPrefix(err.Error(), "c.toml:1: ") {
		t.Errorf("Decode(syntax) = %v, want c.toml:1: ...", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("[[members]]\n[[members]]\nname=1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		file, _ := Decode("f.toml", data, &d)
		file.Line("members[0].name")
	})
}
