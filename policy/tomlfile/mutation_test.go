package tomlfile

// Tests that make `make mutate` (gremlins) notice when an error loses its
// form or errors of one line change their order.

import (
	"strings"
	"testing"
)

func TestErrorWithoutLine(t *testing.T) {
	for _, tt := range []struct {
		err  Error
		want string
	}{
		{Error{File: "c.toml", Line: 0, Key: "address", Msg: "missing address"}, "c.toml: address: missing address"},
		{Error{File: "c.toml", Line: 1, Key: "address", Msg: "invalid"}, "c.toml:1: address: invalid"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestErrSameLineKeepsOrder: errors are sorted by line, and those of one
// line stay in the order they were found.
func TestErrSameLineKeepsOrder(t *testing.T) {
	var d doc
	f, err := Decode("c.toml", []byte(sample), &d)
	if err != nil {
		t.Fatal(err)
	}
	f.Errorf("members[1].address", "first")
	f.Errorf("address", "on line 1")
	f.Errorf("members[1].address", "second")
	f.Errorf("members[1].address", "third")
	want := []string{
		"c.toml:1: address: on line 1",
		"c.toml:13: members[1].address: first",
		"c.toml:13: members[1].address: second",
		"c.toml:13: members[1].address: third",
	}
	if got := strings.Split(f.Err().Error(), "\n"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Err() = %q, want %q", got, want)
	}
}
