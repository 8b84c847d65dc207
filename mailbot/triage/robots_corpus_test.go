package triage

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// corpusLabel says what a corpus file is: "robot" (must never get an
// acknowledgement), "human" (must never be silenced), "spam" (spam input
// with no MTA verdict: counted, judged by the spam hold, not here) or ""
// (malformed/: broken MIME from test suites, counted only).
func corpusLabel(rel string) string {
	switch {
	case strings.HasPrefix(rel, "automated/spam-ham/") && strings.Contains(rel, "/spam/"):
		return "spam"
	case slices.Contains(humanInSpamHam, rel):
		return "human"
	case strings.HasPrefix(rel, "automated/"):
		return "robot"
	case strings.HasPrefix(rel, "valid/"), strings.HasPrefix(rel, "human/"):
		return "human"
	}
	return ""
}

// TestCorpusRobotsAndHumans is the measurement of issue 18: over every
// message in testdata/mail (the shared corpus copies and the real samples
// added with their licences), no robot gets ClassReport (it would be
// answered) and no person's mail gets anything else (it would be
// silenced). The counts are printed with -v.
func TestCorpusRobotsAndHumans(t *testing.T) {
	var robots, humans, spam, other, answered, silenced int
	var spamAnswered, refused int
	otherClasses := map[Class]int{}
	for _, sub := range []string{"automated", "valid", "human", "malformed"} {
		for _, name := range corpusFiles(t, sub) {
			r := rel(name)
			m, err := parseCorpusFile(t, name)
			if err != nil {
				// Refused by parse: kept aside with a reason, never
				// answered, never classified.
				refused++
				continue
			}
			v := Classify(m, self)
			switch corpusLabel(r) {
			case "robot":
				robots++
				if v.Class == ClassReport {
					answered++
					t.Errorf("robot answered: Classify(%s) = %+v, want automated or bounce", r, v)
				}
			case "human":
				humans++
				if v.Class != ClassReport {
					silenced++
					t.Errorf("human silenced: Classify(%s) = %+v, want %s", r, v, ClassReport)
				}
			case "spam":
				spam++
				if v.Class == ClassReport {
					spamAnswered++
				}
			default:
				other++
				otherClasses[v.Class]++
			}
		}
	}
	var oc []string
	for c, n := range otherClasses {
		oc = append(oc, fmt.Sprintf("%s=%d", c, n))
	}
	sort.Strings(oc)
	t.Logf("robots: %d, answered %d (target 0); humans: %d, silenced %d (target 0); spam without verdict: %d, classed as report %d; malformed: %d (%s); refused by parse: %d",
		robots, answered, humans, silenced, spam, spamAnswered, other, strings.Join(oc, " "), refused)
	if robots < 73 || humans < 28 {
		t.Errorf("corpus: %d robots and %d humans, want the whole corpus (73+ and 28+)", robots, humans)
	}
}
