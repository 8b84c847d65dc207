// Package spam decides whether a message is spam, so that the daemon can hold
// its acknowledgement (issue 18): an acknowledgement to spam goes to a forged
// or harvested address, backscatter that gets the organisation's mail server
// listed. It owns two ways to a Verdict and nothing else:
//
//   - FromHeaders reads the verdicts the receiving MTA's filters wrote into
//     the header: SpamAssassin's X-Spam-Flag and X-Spam-Status, rspamd's
//     X-Rspamd-Action, X-Spam-Action and X-Spamd-Result, Microsoft 365's SCL
//     in X-MS-Exchange-Organization-SCL and X-Forefront-Antispam-Report, and
//     dmarc=fail (RFC 7489) in the topmost Authentication-Results field of
//     the trusted server (RFC 8601 section 5, read by mailbot/team). Only the
//     sources the administrator names in Trust count: configured, never
//     guessed.
//   - Filter asks a real filter over the network: rspamd's HTTP API
//     (/checkv2) or SpamAssassin's spamd (the SPAMC/1.5 protocol), bounded
//     by a context and a size cap, failing open to "not spam" with the error
//     returned for the caller to log. It holds where the filter would
//     refuse mail, not where it would file it as junk (Filter.MinScore).
//
// Why a header counts only from a trusted MTA: every header field of a
// message is written by whoever sent it, and a spammer writes
// "X-Spam-Flag: NO", "X-Spam-Status: No, score=-5.0" or
// "X-MS-Exchange-Organization-SCL: -1" as easily as a Subject. A filter's
// field means something only when the receiving MTA removes every incoming
// copy and writes its own (SpamAssassin deletes all X-Spam-* fields when it
// rewrites a message, rspamd's milter_headers routines remove the fields
// they write, Exchange Online strips X-MS-Exchange-Organization-* fields
// from mail arriving from the Internet). Where the MTA does not, the field
// is worthless either way: a "no" is the spammer's, and a "yes" may be a
// stale mark from some other site's filter on a genuine report forwarded
// through it. So the administrator lists in Trust exactly the verdicts the
// MTA in front of the mailbox writes and strips.
//
// Should a trusted field occur more than once (the MTA did not strip after
// all), any copy that says spam makes the message spam: a forged "spam"
// only holds the forger's own mail for the team to release, while a forged
// "not spam" must never hide the MTA's verdict.
package spam

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"

	"mailbot/mailbot/team"
)

// Sources, as the administrator names them in [spam] trust.
const (
	SpamAssassin = "spamassassin" // X-Spam-Flag, X-Spam-Status
	Rspamd       = "rspamd"       // X-Rspamd-Action, X-Spam-Action, X-Spamd-Result
	M365         = "m365"         // X-MS-Exchange-Organization-SCL, X-Forefront-Antispam-Report
	DMARC        = "dmarc"        // dmarc=fail in the trusted Authentication-Results
)

// Sources lists every source FromHeaders knows, in the order it reads them.
var Sources = []string{SpamAssassin, Rspamd, M365, DMARC}

// Verdict says whether a message is spam, which source said so and why, in
// words fit for a case event ("X-Spam-Flag: YES").
type Verdict struct {
	Spam   bool
	Source string // one of Sources, or a Filter kind; "" when no source spoke
	Reason string
}

// Trust is what the receiving MTA writes and strips.
type Trust struct {
	// Sources are the verdicts the MTA writes into every message after
	// removing any incoming copy: names from Sources.
	Sources []string
	// AuthServID is the authserv-id of the MTA whose topmost
	// Authentication-Results field is read for DMARC (RFC 8601 section 2.2):
	// config team_mail.trusted_authserv_id.
	AuthServID string
}

// maxValue bounds a header value quoted in a Reason.
const maxValue = 60

// FromHeaders returns the first spam verdict of a trusted source, in the
// order of Sources; else the first verdict that says "not spam"; else a
// Verdict with no Source saying that no trusted source spoke.
func FromHeaders(h textproto.Header, t Trust) Verdict {
	var ham firstHam
	for _, src := range Sources {
		if !trusts(t, src) {
			continue
		}
		var v Verdict
		var ok bool
		switch src {
		case SpamAssassin:
			v, ok = spamAssassin(h)
		case Rspamd:
			v, ok = rspamd(h)
		case M365:
			v, ok = m365(h)
		case DMARC:
			v, ok = dmarc(h, t.AuthServID)
		}
		if !ok {
			continue
		}
		v.Source = src
		if ham.add(v) {
			return v
		}
	}
	if v, ok := ham.result(); ok {
		return v
	}
	if len(t.Sources) == 0 {
		return Verdict{Reason: "no trusted spam verdict configured"}
	}
	return Verdict{Reason: "no verdict from " + strings.Join(t.Sources, ", ")}
}

// firstHam keeps the first "not spam" verdict while the search for a spam
// one goes on (any copy, any trusted source that says spam wins).
type firstHam struct{ v *Verdict }

// add reports whether v is spam; else it keeps v if it is the first.
func (f *firstHam) add(v Verdict) bool {
	if v.Spam {
		return true
	}
	if f.v == nil {
		f.v = &v
	}
	return false
}

// result is the kept verdict, ok false when there is none.
func (f *firstHam) result() (Verdict, bool) {
	if f.v == nil {
		return Verdict{}, false
	}
	return *f.v, true
}

func trusts(t Trust, src string) bool {
	for _, s := range t.Sources {
		if strings.EqualFold(strings.TrimSpace(s), src) {
			return true
		}
	}
	return false
}

// values returns every value of key, unfolded (RFC 5322 section 2.2.3).
func values(h textproto.Header, key string) []string {
	var out []string
	for f := h.FieldsByKey(key); f.Next(); {
		out = append(out, strings.Join(strings.Fields(f.Value()), " "))
	}
	return out
}

// spamAssassin reads SpamAssassin's fields, as its default configuration
// writes them (10_default_prefs.cf):
//
//	X-Spam-Flag: YES                                  (spam only)
//	X-Spam-Status: Yes, score=14.0 required=5.0 tests=BAYES_99,... autolearn=spam version=4.0.1
//
// QUIRK: SpamAssassin 2.x wrote "hits=" for "score=".
func spamAssassin(h textproto.Header) (Verdict, bool) {
	flags, statuses := values(h, "X-Spam-Flag"), values(h, "X-Spam-Status")
	for _, v := range flags {
		if strings.EqualFold(v, "yes") {
			return Verdict{Spam: true, Reason: "X-Spam-Flag: YES"}, true
		}
	}
	var ham firstHam
	for _, v := range statuses {
		word, _, _ := strings.Cut(v, ",")
		score, okS := tagNumber(v, "score", "hits")
		required, okR := tagNumber(v, "required")
		spam := strings.EqualFold(strings.TrimSpace(word), "yes")
		known := spam || strings.EqualFold(strings.TrimSpace(word), "no")
		if !known && okS && okR {
			spam, known = score >= required, true
		}
		if !known {
			continue
		}
		r := "X-Spam-Status: " + map[bool]string{true: "Yes", false: "No"}[spam]
		if okS && okR {
			r += fmt.Sprintf(", score=%g required=%g", score, required)
		}
		if v := (Verdict{Spam: spam, Reason: r}); ham.add(v) {
			return v, true
		}
	}
	for _, v := range flags {
		ham.add(Verdict{Reason: "X-Spam-Flag: " + quoteValue(v)})
	}
	return ham.result()
}

// tagNumber finds the first of names as "name=NUMBER" in s.
func tagNumber(s string, names ...string) (float64, bool) {
	for _, tok := range strings.Fields(s) {
		k, v, ok := strings.Cut(tok, "=")
		if !ok {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(k, n) {
				f, err := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
				if err == nil && !isNaNOrInf(f) {
					return f, true
				}
			}
		}
	}
	return 0, false
}

func isNaNOrInf(f float64) bool { return f != f || f > 1e300 || f < -1e300 }

// spamActions are rspamd's actions that mean spam (rspamd.com/doc/faq.html,
// "What are rspamd actions"): "no action", "greylist" and "soft reject"
// (a temporary deferral, also used by rate limits) do not.
var spamActions = map[string]bool{
	"reject":          true,
	"discard":         true,
	"add header":      true,
	"rewrite subject": true,
	"quarantine":      true,
}

var hamActions = map[string]bool{"no action": true, "greylist": true, "soft reject": true}

// rspamd reads rspamd's fields as its milter_headers module writes them
// (rspamd 3.4, /usr/share/rspamd/plugins/milter_headers.lua):
//
//	X-Rspamd-Action: add header
//	X-Spamd-Result: default: False [7.20 / 15.00]; R_SPF_FAIL(1.00)[-all]; ...
//
// rspamc --mime (rspamd's client as a pipe filter) writes the action as
// "X-Spam-Action: reject". In
// X-Spamd-Result "True" means the action is "reject" and the bracket holds
// the score and the reject threshold: a message between the "add header"
// and "reject" thresholds reads False there, so trust X-Rspamd-Action when
// the MTA writes it.
func rspamd(h textproto.Header) (Verdict, bool) {
	var ham firstHam
	for _, key := range []string{"X-Rspamd-Action", "X-Spam-Action"} {
		for _, v := range values(h, key) {
			a := strings.ToLower(v)
			if !spamActions[a] && !hamActions[a] {
				continue
			}
			if v := (Verdict{Spam: spamActions[a], Reason: key + ": " + a}); ham.add(v) {
				return v, true
			}
		}
	}
	for _, v := range values(h, "X-Spamd-Result") {
		spam, score, required, ok := spamdResult(v)
		if !ok {
			continue
		}
		r := fmt.Sprintf("X-Spamd-Result: %s [%.2f / %.2f]", map[bool]string{true: "True", false: "False"}[spam], score, required)
		if v := (Verdict{Spam: spam, Reason: r}); ham.add(v) {
			return v, true
		}
	}
	return ham.result()
}

// spamdResult parses "default: True [12.40 / 15.00]; SYMBOL(1.0)[...]"; a
// score at or over the threshold is spam whatever the word says.
func spamdResult(v string) (spam bool, score, required float64, ok bool) {
	head, _, _ := strings.Cut(v, ";")
	_, head, found := strings.Cut(head, ":") // the metric name, "default"
	if !found {
		return false, 0, 0, false
	}
	word, nums, found := strings.Cut(strings.TrimSpace(head), "[")
	nums, _, closed := strings.Cut(nums, "]")
	if !found || !closed {
		return false, 0, 0, false
	}
	s, r, found := strings.Cut(nums, "/")
	if !found {
		return false, 0, 0, false
	}
	score, err1 := strconv.ParseFloat(strings.TrimSpace(s), 64)
	required, err2 := strconv.ParseFloat(strings.TrimSpace(r), 64)
	if err1 != nil || err2 != nil || isNaNOrInf(score) || isNaNOrInf(required) {
		return false, 0, 0, false
	}
	word = strings.TrimSpace(word)
	switch {
	case strings.EqualFold(word, "true"):
		spam = true
	case strings.EqualFold(word, "false"):
	default:
		return false, 0, 0, false
	}
	return spam || score >= required, score, required, true
}

// sclSpam is the lowest spam confidence level Microsoft 365 calls spam:
// 5 and 6 are spam, 7 to 9 high confidence spam, -1 skipped filtering
// (https://learn.microsoft.com/en-us/defender-office-365/anti-spam-spam-confidence-level-scl-about).
const sclSpam = 5

// m365 reads Microsoft 365's spam confidence level:
//
//	X-MS-Exchange-Organization-SCL: 5     ([MS-OXCMAIL] 2.1.3.2.24: -1 to 10)
//	X-Forefront-Antispam-Report: CIP:192.0.2.1;CTRY:;LANG:en;SCL:5;SRV:;IPV:NLI;SFV:SPM;...
//
// (https://learn.microsoft.com/en-us/defender-office-365/message-headers-eop-mdo).
// SFV:SPM (the spam filter marked it) is spam too; SCL:-1 is a sender or
// rule the organisation trusts, so not spam.
func m365(h textproto.Header) (Verdict, bool) {
	var ham firstHam
	for _, v := range values(h, "X-MS-Exchange-Organization-SCL") {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			if v := sclVerdict("X-MS-Exchange-Organization-SCL: ", n); ham.add(v) {
				return v, true
			}
		}
	}
	for _, v := range values(h, "X-Forefront-Antispam-Report") {
		for _, kv := range strings.Split(v, ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(kv), ":")
			switch {
			case strings.EqualFold(k, "SCL"):
				if n, err := strconv.Atoi(strings.TrimSpace(val)); err == nil {
					if v := sclVerdict("X-Forefront-Antispam-Report: SCL:", n); ham.add(v) {
						return v, true
					}
				}
			case strings.EqualFold(k, "SFV") && strings.EqualFold(strings.TrimSpace(val), "SPM"):
				return Verdict{Spam: true, Reason: "X-Forefront-Antispam-Report: SFV:SPM"}, true
			}
		}
	}
	return ham.result()
}

func sclVerdict(prefix string, n int) Verdict {
	switch {
	case n >= sclSpam:
		return Verdict{Spam: true, Reason: prefix + strconv.Itoa(n)}
	case n == -1:
		return Verdict{Reason: prefix + "-1 (filtering skipped: a trusted sender)"}
	}
	return Verdict{Reason: prefix + strconv.Itoa(n)}
}

// dmarc reads dmarc=fail from the topmost Authentication-Results field of
// the trusted server (team.TrustedResults, RFC 8601 section 5), e.g. as
// OpenDMARC writes it:
//
//	Authentication-Results: mx.example.org; dmarc=fail (p=reject dis=none) header.from=example.com
//
// The From of such mail is not the sender's (RFC 7489 section 6.6.2): an
// acknowledgement would go to a forged address. A dmarc=pass, none or a
// temperror is not a spam verdict.
func dmarc(h textproto.Header, authServID string) (Verdict, bool) {
	results, found, err := team.TrustedResults(h, authServID)
	if !found {
		return Verdict{}, false
	}
	if err != nil {
		return Verdict{Reason: "Authentication-Results of " + authServID + " does not parse"}, true
	}
	for _, r := range results {
		if d, ok := r.(*authres.DMARCResult); ok {
			v := Verdict{Spam: d.Value == authres.ResultFail,
				Reason: fmt.Sprintf("Authentication-Results of %s: dmarc=%s", authServID, quoteValue(string(d.Value)))}
			if d.From != "" {
				v.Reason += " header.from=" + strings.TrimSpace(quoteValue(d.From))
			}
			return v, true
		}
	}
	return Verdict{}, false
}

// quoteValue shortens an untrusted value for a Reason and escapes what is
// not printable ASCII.
func quoteValue(v string) string {
	if len(v) > maxValue {
		v = v[:maxValue] + "..."
	}
	q := strconv.QuoteToASCII(v)
	return q[1 : len(q)-1]
}
