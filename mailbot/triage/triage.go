// Package triage decides what kind of mail a parsed message is (a new
// report from a person, automated mail, a bounce, or the bot's own mail
// coming back) and holds the pure threading helpers: thread ids from
// In-Reply-To/References (RFC 5322 section 3.6.4), case tags in subjects,
// and sanitising untrusted text bound for a header field.
//
// It implements the "do not answer machines" rules of RFC 3834 section 2
// and 5 (Auto-Submitted), RFC 2369/2919 (list fields), RFC 6522/3464/8098/
// 5965 (reports), the role mailboxes of RFC 5321 section 4.5.1 and RFC
// 2142, VERP return paths, and the de facto markers used by Exchange,
// Gmail, feedback loops, challenge-response systems and common
// autoresponders (robots.go). It is pure: no I/O, no store; the daemon looks up
// the ids ThreadIDs and SubjectTag return and decides ClassFollowUp.
package triage

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"mailbot/mailbot/parse"
)

// Class is the kind of a message.
type Class string

const (
	ClassReport    Class = "report"    // new report from a person
	ClassFollowUp  Class = "follow-up" // decided by threading, not by Classify
	ClassAutomated Class = "automated" // auto-replies, lists, bulk, spam-flagged, robots
	ClassBounce    Class = "bounce"    // DSN / delivery failure (a kind of automated)
	ClassOwn       Class = "own"       // mail from the bot itself (loop)
)

// Self describes the bot, to recognise its own mail.
type Self struct {
	Addresses   []string // the bot's mailbox address(es)
	MsgIDDomain string   // domain of Message-IDs the bot generates
	// OwnMessageID, when set, tells the bot's own Message-IDs from others in
	// MsgIDDomain: colleagues on the same domain are not the bot.
	OwnMessageID func(id string) bool
	LoopHeader   string // e.g. "X-Mailbot-Loop", value = mailbox address; set on all the bot's mail
}

// Verdict is the class and a short reason, fit for a log line or a case note.
type Verdict struct {
	Class  Class
	Reason string
}

// maxReasonValue bounds a header value quoted in a Reason.
const maxReasonValue = 40

// Classify decides the class of m. Rules are tried in this order and the
// first that matches gives the Reason:
//
//  1. own mail: Message-ID in MsgIDDomain, the loop header with our
//     address, From one of our addresses;
//  2. bounces: a DSN report (RFC 3464), message/delivery-status at the top,
//     From/Sender MAILER-DAEMON in any spelling (mailer_daemon);
//  3. machine reports: MDN (RFC 8098), ARF (RFC 5965), other multipart/report,
//     also when only the top-level Content-Type is left of it;
//  4. header markers: Auto-Submitted other than "no" (RFC 3834 section 5),
//     Precedence bulk/list/junk/auto_reply, List-Id/List-Unsubscribe (RFC
//     2919/2369), X-Auto-Response-Suppress (Exchange), Feedback-ID (Gmail),
//     X-Autoreply and similar, null Return-Path;
//  5. feedback loops that attach the original, challenge-response requests
//     (robots.go);
//  6. From/Sender postmaster, no-reply, bounce addresses in their common
//     spellings; Return-Path MAILER-DAEMON or VERP-encoding our address;
//     no usable From;
//  7. heuristic, last resort: subject prefixes of bounces and auto-replies,
//     English and localised, followed by a separator.
//
// Anything else is a report: a spam verdict (X-Spam-Flag and the like) is
// not a class but mailbot/spam's, which holds the acknowledgement and keeps
// the case for the team to release. A follow-up is decided by the caller from
// ThreadIDs and SubjectTag.
func Classify(m *parse.Message, self Self) Verdict {
	if m == nil {
		return Verdict{ClassAutomated, "no message"}
	}
	if v, ok := own(m, self); ok {
		return v
	}
	if r := m.Report; r != nil && r.Type == "delivery-status" {
		return Verdict{ClassBounce, "delivery status report (RFC 3464)"}
	}
	if m.ContentType == "message/delivery-status" {
		return Verdict{ClassBounce, "Content-Type: message/delivery-status (RFC 3464)"}
	}
	if senderRole(m, roleMailerDaemon) != roleNone {
		return Verdict{ClassBounce, "From: MAILER-DAEMON"}
	}
	if r := m.Report; r != nil {
		switch r.Type {
		case "disposition-notification":
			return Verdict{ClassAutomated, "disposition notification (RFC 8098)"}
		case "feedback-report":
			return Verdict{ClassAutomated, "feedback report (RFC 5965)"}
		default:
			return Verdict{ClassAutomated, "multipart/report (RFC 6522)"}
		}
	}
	switch m.ContentType {
	case "message/feedback-report", "message/disposition-notification",
		"message/global-disposition-notification":
		// QUIRK: a report part as the top-level media type, outside any
		// multipart/report (RFC 5965 section 2, RFC 8098 section 3).
		// A multipart/report without a usable boundary still has
		// m.Report: parse keeps its report-type (RFC 6522 section 3).
		return Verdict{ClassAutomated, "Content-Type: " + m.ContentType + " (RFC 6522)"}
	}
	if v, ok := headerMarkers(m); ok {
		return v
	}
	for _, rule := range []func(*parse.Message) (Verdict, bool){feedbackLoop, challenge} {
		if v, ok := rule(m); ok {
			return v
		}
	}
	switch senderRole(m, rolePostmaster, roleNoReply, roleBounce) {
	case rolePostmaster:
		return Verdict{ClassAutomated, "From: postmaster"}
	case roleNoReply:
		return Verdict{ClassAutomated, "From: a no-reply address"}
	case roleBounce:
		return Verdict{ClassBounce, "From: a bounce address"}
	}
	if v, ok := returnPathRobot(m, self); ok {
		return v
	}
	if len(m.From) == 0 {
		if strings.TrimSpace(m.Header.Get("From")) != "" {
			// parse refused it: a control byte, a space or another byte
			// no address has. Kept, never answered.
			return Verdict{ClassAutomated, "From: not a valid address"}
		}
		return Verdict{ClassAutomated, "no usable From"}
	}
	if v, ok := subjectHeuristic(m.Subject); ok {
		return v
	}
	return Verdict{ClassReport, "no automation markers"}
}

func own(m *parse.Message, self Self) (Verdict, bool) {
	if d := strings.TrimSpace(self.MsgIDDomain); d != "" && m.MessageID != "" {
		if i := strings.LastIndexByte(m.MessageID, '@'); i >= 0 && strings.EqualFold(m.MessageID[i+1:], d) &&
			(self.OwnMessageID == nil || self.OwnMessageID(m.MessageID)) {
			return Verdict{ClassOwn, "Message-ID in our domain"}, true
		}
	}
	if self.LoopHeader != "" {
		for _, v := range m.Header.Values(self.LoopHeader) {
			if isSelf(strings.Trim(strings.TrimSpace(v), "<>"), self) {
				return Verdict{ClassOwn, "loop header " + Sanitize(self.LoopHeader, maxReasonValue)}, true
			}
		}
	}
	for _, a := range m.From {
		if isSelf(a.Address, self) {
			return Verdict{ClassOwn, "From: our address"}, true
		}
	}
	return Verdict{}, false
}

func isSelf(addr string, self Self) bool {
	for _, s := range self.Addresses {
		if s != "" && strings.EqualFold(strings.TrimSpace(s), addr) {
			return true
		}
	}
	return false
}

func senders(m *parse.Message) []parse.Address {
	l := append([]parse.Address(nil), m.From...)
	if m.Sender != nil {
		l = append(l, *m.Sender)
	}
	return l
}

func localPart(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i]
	}
	return addr
}

// autoReplyFields are de facto markers of auto-replies (vacation, Zimbra,
// OTRS, various CRMs). Present with any value but "no" means automated.
var autoReplyFields = []string{
	"X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Autoreply-From",
	"X-Mail-Autoreply", "X-Autogenerated", "X-Auto-Response",
}

func headerMarkers(m *parse.Message) (Verdict, bool) {
	h := &m.Header
	// RFC 3834 section 5: any value other than "no" marks automatic mail.
	if h.Has("Auto-Submitted") {
		v := keyword(h.Get("Auto-Submitted"))
		if v != "no" {
			return Verdict{ClassAutomated, "Auto-Submitted: " + Sanitize(v, maxReasonValue) + " (RFC 3834)"}, true
		}
	}
	switch p := keyword(h.Get("Precedence")); p {
	case "bulk", "list", "junk", "auto_reply": // auto_reply: Microsoft and others, as sisimai's rfc3834 reads it
		return Verdict{ClassAutomated, "Precedence: " + p}, true
	}
	if h.Has("List-Id") {
		return Verdict{ClassAutomated, "List-Id (RFC 2919)"}, true
	}
	if h.Has("List-Unsubscribe") {
		return Verdict{ClassAutomated, "List-Unsubscribe (RFC 2369)"}, true
	}
	if h.Has("X-Auto-Response-Suppress") {
		return Verdict{ClassAutomated, "X-Auto-Response-Suppress"}, true
	}
	if h.Has("Feedback-Id") {
		return Verdict{ClassAutomated, "Feedback-ID"}, true
	}
	for _, f := range autoReplyFields {
		if h.Has(f) && keyword(h.Get(f)) != "no" {
			return Verdict{ClassAutomated, f}, true
		}
	}
	// RFC 5321 section 4.5.5: the null reverse-path of notifications,
	// which RFC 3834 section 3.3 also asks of auto-replies.
	for _, v := range h.Values("Return-Path") {
		if strings.Join(strings.Fields(v), "") == "<>" {
			return Verdict{ClassAutomated, "Return-Path: <>"}, true
		}
	}
	return Verdict{}, false
}

// keyword returns the first word of a field value, lowercased, without
// comments or parameters: "auto-generated (failure)" -> "auto-generated".
func keyword(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, " \t(;"); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(v)
}

// Subject prefixes: a heuristic only, tried after every header marker.
// Matched case-insensitively at the start of the subject and only when a
// separator or the end follows (subjectPrefix): a person's "Out of office
// hours, the login page..." is not an auto-reply.
var (
	bounceSubjects = []string{
		"undeliverable mail", "undeliverable message", "undelivered mail returned to sender", "undelivered mail",
		"delivery status notification", "delivery notification", "delivery failure",
		"mail delivery failed", "returned mail", "failure notice", "mail system error",
		"nondeliverable",
	}
	autoSubjects = []string{
		"auto:", "auto reply", "auto-reply", "autoreply", "autoresponse", "auto response",
		"out of office", "out of the office", "abwesenheitsnotiz",
	}
)

func subjectHeuristic(subject string) (Verdict, bool) {
	for _, list := range [][]string{bounceSubjects, localBounceSubjects} {
		if p, ok := subjectPrefix(subject, list); ok {
			return Verdict{ClassBounce, fmt.Sprintf("subject %q (heuristic)", p)}, true
		}
	}
	for _, list := range [][]string{autoSubjects, localAutoSubjects} {
		if p, ok := subjectPrefix(subject, list); ok {
			return Verdict{ClassAutomated, fmt.Sprintf("subject %q (heuristic)", p)}, true
		}
	}
	return Verdict{}, false
}

// ThreadIDs returns the ids a message refers to, most specific first:
// In-Reply-To, then References newest first, without duplicates.
func ThreadIDs(m *parse.Message) []string {
	if m == nil {
		return nil
	}
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, id := range m.InReplyTo {
		add(id)
	}
	for i := len(m.References) - 1; i >= 0; i-- {
		add(m.References[i])
	}
	return ids
}

// maxRefLen bounds the part of a tag after the prefix.
const maxRefLen = 40

// SubjectTag finds the first "[PREFIX-...]" tag in subject, such as
// "[SEC-2026-0001]" for prefix "SEC". The prefix matches case-insensitively
// and comes back as configured; the rest must be letters, digits and
// hyphens. An empty prefix never matches.
func SubjectTag(subject, prefix string) (ref string, ok bool) {
	if prefix == "" {
		return "", false
	}
	sm := tagRE(prefix).FindStringSubmatch(subject)
	if sm == nil {
		return "", false
	}
	return prefix + "-" + sm[2], true
}

// tagREs caches the case-tag regexp of each prefix: compiling it cost most
// of the time of threading a message.
var tagREs sync.Map // prefix -> *regexp.Regexp

func tagRE(prefix string) *regexp.Regexp {
	if re, ok := tagREs.Load(prefix); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(`(?i)\[(` + regexp.QuoteMeta(prefix) + `)-([0-9A-Za-z][0-9A-Za-z-]{0,` + fmt.Sprint(maxRefLen-1) + `})\]`)
	tagREs.Store(prefix, re)
	return re
}

// maxSubject bounds a subject TagSubject returns, in runes.
const maxSubject = 200

// TagSubject returns subject, sanitised, with "[ref] " in front unless the
// tag is already there. The result is at most maxSubject runes; the tag is
// never cut.
func TagSubject(subject, ref string) string {
	ref = Sanitize(ref, maxRefLen+20)
	s := Sanitize(subject, maxSubject)
	if ref == "" {
		return s
	}
	tag := "[" + ref + "]"
	if strings.Contains(strings.ToLower(s), strings.ToLower(tag)) {
		return s
	}
	if s == "" {
		return tag
	}
	return tag + " " + Sanitize(s, maxSubject-utf8.RuneCountInString(tag)-1)
}

// Sanitize makes untrusted text safe for a header field value: it drops
// CR, LF, NUL and every other control character, line and paragraph
// separators, every format character (Unicode category Cf: bidirectional
// overrides, zero-width spaces and joiners, BOM) and invalid UTF-8; turns white space
// runs into one space; trims; and cuts at max runes (never inside a rune).
// max <= 0 gives "".
func Sanitize(s string, max int) string {
	if max <= 0 {
		return ""
	}
	var b strings.Builder
	n := 0
	space := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			continue
		case unicode.IsSpace(r) && r != '\u2028' && r != '\u2029' && r != '\u0085' && r != '\r' && r != '\n':
			space = true
			continue
		case r == '\r' || r == '\n' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			// A line break is a word break: keep the words apart.
			space = true
			continue
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			// Format characters (Cf) are invisible: bidi overrides that
			// reverse what a reader sees (U+202E), zero-width spaces and
			// joiners (U+200B, U+2060, U+FEFF) that split a word so it
			// escapes a filter. All go, ZWJ in emoji sequences included.
			continue
		}
		if space && n > 0 {
			if n+1 >= max {
				break
			}
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= max {
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}
