package team

import (
	"os"
	"strings"
	"testing"
)

// The README's command list is the golden file of Help("en"): the bot's
// answer to "help" and the documentation cannot drift apart.
func TestHelpIsTheREADMECommandList(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const intro = "Commands (the bot answers `help` with this text):\n\n```\n"
	_, block, ok := strings.Cut(string(readme), intro)
	if !ok {
		t.Fatalf("README.md has no %q block", strings.TrimSpace(intro))
	}
	block, _, _ = strings.Cut(block, "```\n")
	if got := Help("en"); got != block {
		t.Errorf("Help(en) =\n%s\nwant the README's command list\n%s", got, block)
	}
}
