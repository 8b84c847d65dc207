package triage

// Tests that make `make mutate` (gremlins) notice when a bound or check of
// this package moves by one. Equivalent survivors are listed, with the
// reason, in tools/mutate/EQUIVALENT.md.

import (
	"strings"
	"testing"
)

func TestSubjectTagLength(t *testing.T) {
	ref40 := strings.Repeat("A", maxRefLen)
	if ref, ok := SubjectTag("Re: [SEC-"+ref40+"] x", "SEC"); !ok || ref != "SEC-"+ref40 {
		t.Errorf("SubjectTag(tag of %d characters) = %q, %v, want it found", maxRefLen, ref, ok)
	}
	if ref, ok := SubjectTag("Re: [SEC-"+ref40+"B] x", "SEC"); ok {
		t.Errorf("SubjectTag(tag of %d characters) = %q, want none", maxRefLen+1, ref)
	}
}

func TestTagSubjectKeepsLongRef(t *testing.T) {
	ref := "SEC-" + strings.Repeat("1", maxRefLen) // the longest SubjectTag finds
	if got, want := TagSubject("x", ref), "["+ref+"] x"; got != want {
		t.Errorf("TagSubject(x, %q) = %q, want %q", ref, got, want)
	}
}

func TestSanitizeCounts(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"  abc", 3, "abc"},            // leading space costs nothing
		{"a b c d e", 5, "a b c"},      // a space counts as one
		{"ab  cd", 4, "ab c"},          // a run of spaces counts as one
		{"a\u202eb\u202ac", 10, "abc"}, // bidi overrides, both ends of the range
		{"a\u2066b\u2069c", 10, "abc"},
		{"abc", 0, ""},
		{"abc", -1, ""},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in, tt.max); got != tt.want {
			t.Errorf("Sanitize(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

// Loop safety errs on the side of "own": a Message-ID in our domain with an
// empty left-hand side is still ours.
func TestClassifyOwnEmptyLocalPart(t *testing.T) {
	m := parseString(t, "From: x@example.net\r\nMessage-ID: <@mailbot.example.org>\r\n\r\nx\r\n")
	if got := Classify(m, self); got.Class != ClassOwn {
		t.Errorf("Classify(Message-ID <@mailbot.example.org>) = %+v, want %s", got, ClassOwn)
	}
}

// Without a MsgIDDomain no Message-ID makes a mail our own, not even one
// with an empty domain.
func TestClassifyOwnNeedsMsgIDDomain(t *testing.T) {
	m := parseString(t, "From: x@example.net\r\n\r\nx\r\n")
	m.MessageID = "abc@"
	if got := Classify(m, Self{Addresses: self.Addresses}); got.Class == ClassOwn {
		t.Errorf("Classify(Message-ID abc@, no MsgIDDomain) = %+v, want not own", got)
	}
}
